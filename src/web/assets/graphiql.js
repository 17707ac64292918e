// Mounts GraphiQL (vendored UMD bundle, window.GraphiQL) on #graphiql. See
// src/web/graphiql.rs for what the page is given and why.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("graphiql-config").textContent);
  var scheme = location.protocol === "https:" ? "wss://" : "ws://";
  // The websocket URL is only dialled when a subscription operation runs.
  var fetcher = GraphiQL.createFetcher({
    url: config.endpoint,
    subscriptionUrl: scheme + location.host + config.endpoint,
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
  var token = null;
  try {
    token = sessionStorage.getItem(config.tokenKey);
  } catch (e) {
    // Storage disabled: no token to carry over.
  }
  if (token) props.headers = JSON.stringify({ Authorization: "Bearer " + token }, null, 2);
  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(GraphiQL, props));
})();
