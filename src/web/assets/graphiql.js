// Mounts GraphiQL (vendored UMD bundle, window.GraphiQL) on #graphiql. See
// src/web/graphiql.rs for what the page is given and why.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("graphiql-config").textContent);
  var scheme = location.protocol === "https:" ? "wss://" : "ws://";
  function storedToken() {
    try {
      return sessionStorage.getItem(config.tokenKey);
    } catch (e) {
      return null; // Storage disabled: no token to carry over.
    }
  }
  var token = storedToken();
  // The websocket URL is only dialled when a subscription operation runs. A WebSocket
  // cannot send HTTP headers: GraphiQL puts the headers of its editor into
  // connection_init's payload, on top of these (the dashboard's token), and the server
  // reads `Authorization` from there.
  var fetcher = GraphiQL.createFetcher({
    url: config.endpoint,
    subscriptionUrl: scheme + location.host + config.endpoint,
    wsConnectionParams: token ? { Authorization: "Bearer " + token } : undefined,
  });
  var props = {
    fetcher: fetcher,
    defaultQuery: config.defaultQuery,
    defaultEditorToolsVisibility: true,
    // A token pasted into the headers stays in this tab only.
    shouldPersistHeaders: false,
  };
  // "Open in GraphiQL" links from the dashboard: #query=…&variables=…&operationName=…
  var params = new URLSearchParams(location.hash.slice(1));
  if (params.has("query")) props.query = params.get("query");
  if (params.has("variables")) props.variables = params.get("variables");
  if (params.has("operationName")) props.operationName = params.get("operationName");
  if (token) props.headers = JSON.stringify({ Authorization: "Bearer " + token }, null, 2);
  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(GraphiQL, props));
})();
