// The dashboard at `/`: every panel drawn from the public GraphQL API, with the
// documents of clients/typescript/src/operations/web-dashboard.graphql (inlined in the
// page's config). No framework, no build step: plain DOM, and uPlot (window.uPlot) for
// the charts. src/web/dashboard.rs says why the page looks the way it does.
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("dashboard-config").textContent);
  var $ = function (id) {
    return document.getElementById(id);
  };
  var DAY = 86400;
  var PAGE_SIZE = 10;
  var COLORS = ["#2563eb", "#16a34a", "#f59e0b", "#db2777", "#7c3aed", "#0891b2", "#dc2626", "#65a30d"];

  // What is on screen; the URL fragment keeps it across reloads and links.
  var state = {
    project: null,
    metric: "tasks_completed",
    grain: "DAY",
    range: 30,
    fill: "ZERO",
    breakdown: "wip|state",
    drilldown: "task_cycle_time|task",
    order: "TIME_BUCKET_DESC",
    // Cursors of the pages before the current one (`after` of each), for "previous".
    cursors: [],
    after: null,
  };
  var charts = {};
  // Whether the page has drawn once (the request line says "First paint" until then).
  var painted = false;
  var lastTrend = null;
  var lastSeries = null;

  // ---- State in the URL fragment --------------------------------------------------

  function readHash() {
    var p = new URLSearchParams(location.hash.slice(1));
    if (p.get("project")) state.project = p.get("project");
    ["metric", "grain", "fill", "breakdown", "drilldown", "order"].forEach(function (k) {
      if (p.get(k)) state[k] = p.get(k);
    });
    if (p.get("range")) state.range = Number(p.get("range")) || state.range;
  }

  function writeHash() {
    var p = new URLSearchParams();
    if (state.project) p.set("project", state.project);
    ["metric", "grain", "range", "fill", "breakdown", "drilldown", "order"].forEach(function (k) {
      p.set(k, String(state[k]));
    });
    history.replaceState(null, "", "#" + p.toString());
  }

  // ---- Talking to the API -----------------------------------------------------------

  function token() {
    try {
      return sessionStorage.getItem(config.tokenKey) || "";
    } catch (e) {
      return "";
    }
  }

  // The document of one operation: the operation and the fragments it reaches, cut
  // from the operations file by the server (src/web/dashboard.rs says why).
  function documentOf(operationName) {
    return config.operations[operationName];
  }

  // One GraphQL request. Resolves to { data, errors, ms, bytes } or rejects with an
  // Error whose `kind` is "unreachable", "http" or "request" (no data at all).
  function gql(operationName, variables) {
    var headers = { "content-type": "application/json", accept: "application/graphql-response+json, application/json" };
    var t = token();
    if (t) headers.authorization = "Bearer " + t;
    var body = JSON.stringify({ query: documentOf(operationName), operationName: operationName, variables: variables });
    var started = performance.now();
    return fetch(config.endpoint, { method: "POST", headers: headers, body: body })
      .catch(function () {
        var e = new Error("The server at " + location.host + " cannot be reached. Is metrics-api running?");
        e.kind = "unreachable";
        throw e;
      })
      .then(function (resp) {
        return resp.text().then(function (text) {
          var ms = performance.now() - started;
          var json = null;
          try {
            json = JSON.parse(text);
          } catch (e) {
            // Not GraphQL: a proxy's error page, say.
          }
          var errors = (json && json.errors) || [];
          if (resp.status === 401) {
            var auth = new Error(
              "The server wants a bearer token (" + messages(errors) + "). Paste one in the token field above."
            );
            auth.kind = "http";
            throw auth;
          }
          if (!json || json.data == null) {
            var e = new Error(
              errors.length ? messages(errors) : "HTTP " + resp.status + " from " + config.endpoint
            );
            e.kind = "request";
            throw e;
          }
          return { data: json.data, errors: errors, ms: ms, bytes: text.length };
        });
      });
  }
  function messages(errors) {
    return errors
      .map(function (e) {
        var code = e.extensions && e.extensions.code ? " [" + e.extensions.code + "]" : "";
        return e.message + code;
      })
      .join("; ");
  }

  // The errors whose path goes through `field` (e.g. "trend"), for one panel.
  function errorsAt(errors, fields) {
    return errors.filter(function (e) {
      return (e.path || []).some(function (p) {
        return fields.indexOf(p) >= 0;
      });
    });
  }

  function graphiqlLink(operationName, variables) {
    var p = new URLSearchParams();
    p.set("query", documentOf(operationName));
    p.set("operationName", operationName);
    p.set("variables", JSON.stringify(variables, null, 2));
    return config.graphiql + "#" + p.toString();
  }

  function showRequest(label, r, operationName, variables) {
    var el = $("request");
    el.textContent = "";
    var text = document.createElement("span");
    text.textContent =
      label + ": 1 GraphQL request (" + operationName + "), " + r.ms.toFixed(0) + " ms, " + formatBytes(r.bytes);
    var a = document.createElement("a");
    a.href = graphiqlLink(operationName, variables);
    a.id = "graphiql-link";
    a.textContent = "Open this query in GraphiQL";
    el.appendChild(text);
    el.appendChild(document.createTextNode(" · "));
    el.appendChild(a);
  }

  function formatBytes(n) {
    return n < 1024 ? n + " B" : (n / 1024).toFixed(1) + " kB";
  }

  // ---- Banners and panel errors -----------------------------------------------------

  function banner(message, kind) {
    var b = $("banner");
    if (!message) {
      b.hidden = true;
      b.textContent = "";
      return;
    }
    b.hidden = false;
    b.className = "banner " + (kind || "error");
    b.textContent = message;
  }

  function panelError(panelId, errors) {
    var el = $(panelId).querySelector(".panel-error");
    if (!errors || !errors.length) {
      el.hidden = true;
      el.textContent = "";
      return false;
    }
    el.hidden = false;
    el.textContent = "This panel failed: " + messages(errors);
    return true;
  }

  function emptyNote(container, message) {
    destroyChart(container.id);
    container.textContent = "";
    var p = document.createElement("p");
    p.className = "empty";
    p.textContent = message;
    container.appendChild(p);
  }

  // ---- Dates --------------------------------------------------------------------------

  // The range ends at the start of today (UTC): the last complete day.
  function window_() {
    var to = new Date();
    to.setUTCHours(0, 0, 0, 0);
    var from = new Date(to.getTime() - state.range * DAY * 1000);
    return { from: from.toISOString(), to: to.toISOString() };
  }

  function secs(iso) {
    return Date.parse(iso) / 1000;
  }

  function day(iso) {
    return iso ? iso.slice(0, 10) : "—";
  }

  function dateTime(iso) {
    return iso ? iso.slice(0, 16).replace("T", " ") + " UTC" : "—";
  }

  // ---- Variables of each operation --------------------------------------------------

  function trendVars() {
    var w = window_();
    return { metricKey: state.metric, grain: state.grain, from: w.from, to: w.to, fill: state.fill };
  }

  function drilldownVars() {
    var d = state.drilldown.split("|");
    return { drilldownMetric: d[0], entityType: d[1], first: PAGE_SIZE, orderBy: state.order, after: state.after };
  }

  function pageVars() {
    var b = state.breakdown.split("|");
    var v = Object.assign({}, trendVars(), drilldownVars(), {
      id: state.project || "00000000-0000-0000-0000-000000000000",
      hasId: !!state.project,
      breakdownMetric: b[0],
      dimensionKey: b[1],
      // Breakdowns are computed per day.
      breakdownGrain: "DAY",
    });
    return v;
  }

  // ---- Live refresh ---------------------------------------------------------------------
  // A graphql-ws (graphql-transport-ws) subscription to the shown project on the same
  // origin: after each committed write to it, or a RESYNC, the tiles are reloaded with
  // DashboardPage (one request), a little later so a burst of batches costs one reload.
  // Without WebSocket support, or when the server refuses, the page stays as it is.
  var live = { socket: null, project: null, timer: null };

  function follow(projectId) {
    if (live.project === projectId && live.socket) return;
    unfollow();
    if (typeof WebSocket !== "function") return;
    live.project = projectId;
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var ws;
    try {
      ws = new WebSocket(scheme + location.host + config.endpoint, "graphql-transport-ws");
    } catch (e) {
      return;
    }
    live.socket = ws;
    ws.onopen = function () {
      var t = token();
      ws.send(JSON.stringify({ type: "connection_init", payload: t ? { Authorization: "Bearer " + t } : {} }));
    };
    ws.onmessage = function (m) {
      var msg;
      try {
        msg = JSON.parse(m.data);
      } catch (e) {
        return;
      }
      if (msg.type === "connection_ack") {
        ws.send(JSON.stringify({
          id: "live",
          type: "subscribe",
          payload: { query: documentOf("DashboardLive"), operationName: "DashboardLive", variables: { projectIds: [projectId] } },
        }));
      } else if (msg.type === "ping") {
        ws.send(JSON.stringify({ type: "pong" }));
      } else if (msg.type === "next") {
        var ev = msg.payload && msg.payload.data && msg.payload.data.metricsUpdated;
        if (ev && (ev.kind === "UPDATED" || ev.kind === "RESYNC") && live.project === state.project) {
          clearTimeout(live.timer);
          live.timer = setTimeout(loadPage, 300);
        }
      }
    };
    ws.onclose = function () {
      if (live.socket === ws) live.socket = null;
      $("live").textContent = "";
    };
    ws.onerror = function () {};
    $("live").textContent = "live";
  }

  function unfollow() {
    clearTimeout(live.timer);
    if (live.socket) {
      var ws = live.socket;
      live.socket = null;
      ws.onclose = null;
      ws.close();
    }
    live.project = null;
    var el = $("live");
    if (el) el.textContent = "";
  }

  // ---- Loading ------------------------------------------------------------------------

  // The whole dashboard of the chosen project (or the first one): ONE request.
  function loadPage() {
    state.cursors = [];
    state.after = null;
    var vars = pageVars();
    writeHash();
    return gql("DashboardPage", vars).then(
      function (r) {
        showRequest(painted ? "Dashboard" : "First paint", r, "DashboardPage", vars);
        painted = true;
        var d = r.data;
        fillPicker(d.projectList);
        fillMetrics(d.metricCatalog);
        var project = vars.hasId ? d.project : d.firstProject && d.firstProject.edges[0] && d.firstProject.edges[0].node;
        var pageErrors = r.errors.filter(function (e) {
          var path = e.path || [];
          return path.length <= 1 || ["trend", "summary", "breakdown", "breakdownSeries", "drilldown"].every(function (f) {
            return path.indexOf(f) < 0;
          });
        });
        if (!project) {
          clearPanels();
          if (pageErrors.length) banner("The project could not be read: " + messages(pageErrors));
          else if (vars.hasId) banner("Unknown project " + vars.id + ": no such project, or your token does not allow it. Pick one above.");
          else banner("No project yet: load data (serve --demo) or ingest some.", "info");
          return;
        }
        banner(pageErrors.length ? "Some fields failed: " + messages(pageErrors) : null);
        state.project = project.id;
        $("project").value = project.id;
        writeHash();
        follow(project.id);
        drawSummary(project.summary, errorsAt(r.errors, ["summary"]));
        drawTrend(project.trend, errorsAt(r.errors, ["trend"]));
        drawBreakdown(project.breakdown, errorsAt(r.errors, ["breakdown"]));
        drawSeries(project.breakdownSeries, errorsAt(r.errors, ["breakdownSeries"]));
        drawDrilldown(project.drilldown, errorsAt(r.errors, ["drilldown"]));
      },
      failed
    );
  }

  function loadTrend() {
    writeHash();
    var vars = Object.assign({ id: state.project }, trendVars());
    return gql("DashboardTrend", vars).then(function (r) {
      showRequest("Trend", r, "DashboardTrend", vars);
      if (!r.data.project) return loadPage();
      drawTrend(r.data.project.trend, errorsAt(r.errors, ["trend"]));
    }, failed);
  }

  function loadDrilldown() {
    writeHash();
    var vars = Object.assign({ id: state.project }, drilldownVars());
    return gql("DashboardDrilldown", vars).then(function (r) {
      showRequest("Drilldown page", r, "DashboardDrilldown", vars);
      if (!r.data.project) return loadPage();
      drawDrilldown(r.data.project.drilldown, errorsAt(r.errors, ["drilldown"]));
    }, failed);
  }

  function failed(e) {
    $("request").textContent = e.kind === "unreachable" ? "Server unreachable" : "Request failed";
    banner(e.message);
  }

  function clearPanels() {
    $("cards").textContent = "";
    $("summary-meta").textContent = "";
    emptyNote($("trend-chart"), "No project selected.");
    $("trend-note").textContent = "";
    $("breakdown-chart").textContent = "";
    emptyNote($("series-chart"), "No project selected.");
    $("drilldown-table").querySelector("thead").textContent = "";
    $("drilldown-table").querySelector("tbody").textContent = "";
    $("page-info").textContent = "";
    $("next-page").disabled = true;
    $("prev-page").disabled = true;
  }

  // ---- Controls -----------------------------------------------------------------------

  function fillPicker(list) {
    var select = $("project");
    select.textContent = "";
    list.edges.forEach(function (e) {
      var o = document.createElement("option");
      o.value = e.node.id;
      o.textContent = e.node.name || e.node.id;
      select.appendChild(o);
    });
    if (state.project && !list.edges.some(function (e) { return e.node.id === state.project; })) {
      var o = document.createElement("option");
      o.value = state.project;
      o.textContent = state.project;
      select.appendChild(o);
    }
    select.value = state.project || "";
  }

  function fillMetrics(catalog) {
    var select = $("metric");
    select.textContent = "";
    var keys = catalog.map(function (m) { return m.key; });
    if (keys.indexOf(state.metric) < 0) keys.push(state.metric);
    keys.forEach(function (key) {
      var m = catalog.find(function (c) { return c.key === key; });
      var o = document.createElement("option");
      o.value = key;
      o.textContent = m ? key + " (" + m.unit + ")" : key + " (not in the catalog)";
      if (m) o.title = m.description;
      select.appendChild(o);
    });
    select.value = state.metric;
    $("grain").value = state.grain;
    $("range").value = String(state.range);
    $("fill").value = state.fill;
    $("breakdown").value = state.breakdown;
    $("drilldown").value = state.drilldown;
    $("order").value = state.order;
    limitGrains();
  }

  // Hourly buckets over months would exceed the API's complexity limit: hours go up to
  // 30 days.
  function limitGrains() {
    var hour = $("grain").querySelector('option[value="HOUR"]');
    hour.disabled = state.range > 30;
    if (hour.disabled && state.grain === "HOUR") {
      state.grain = "DAY";
      $("grain").value = "DAY";
    }
  }

  function wire() {
    $("project").addEventListener("change", function (e) {
      state.project = e.target.value;
      loadPage();
    });
    $("metric").addEventListener("change", function (e) {
      state.metric = e.target.value;
      loadTrend();
    });
    $("grain").addEventListener("change", function (e) {
      state.grain = e.target.value;
      loadTrend();
    });
    $("fill").addEventListener("change", function (e) {
      state.fill = e.target.value;
      loadTrend();
    });
    $("range").addEventListener("change", function (e) {
      state.range = Number(e.target.value);
      limitGrains();
      // The range also bounds the stacked breakdown: the whole page is asked again.
      loadPage();
    });
    $("breakdown").addEventListener("change", function (e) {
      state.breakdown = e.target.value;
      loadPage();
    });
    $("drilldown").addEventListener("change", function (e) {
      state.drilldown = e.target.value;
      state.cursors = [];
      state.after = null;
      loadDrilldown();
    });
    $("order").addEventListener("change", function (e) {
      state.order = e.target.value;
      state.cursors = [];
      state.after = null;
      loadDrilldown();
    });
    $("next-page").addEventListener("click", function () {
      var next = $("next-page").dataset.cursor;
      if (!next) return;
      state.cursors.push(state.after);
      state.after = next;
      loadDrilldown();
    });
    $("prev-page").addEventListener("click", function () {
      if (!state.cursors.length) return;
      state.after = state.cursors.pop();
      loadDrilldown();
    });
    $("token-form").addEventListener("submit", function (e) {
      e.preventDefault();
      try {
        sessionStorage.setItem(config.tokenKey, $("token").value.trim());
      } catch (err) {
        banner("This browser does not allow session storage: the token cannot be kept.");
      }
      $("token").value = "";
      updateTokenField();
      loadPage();
    });
    $("token-clear").addEventListener("click", function () {
      try {
        sessionStorage.removeItem(config.tokenKey);
      } catch (err) {
        // Nothing stored.
      }
      updateTokenField();
      loadPage();
    });
    var resize;
    window.addEventListener("resize", function () {
      clearTimeout(resize);
      resize = setTimeout(function () {
        if (lastTrend) drawTrend(lastTrend, []);
        if (lastSeries) drawSeries(lastSeries, []);
      }, 150);
    });
  }

  function updateTokenField() {
    $("token").placeholder = token() ? "a token is set for this tab" : "only when auth is on";
  }

  // ---- Panels -------------------------------------------------------------------------

  // Every numeric leaf of the summary payload becomes a card: `tasks.open`, ...
  function drawSummary(summary, errors) {
    var cards = $("cards");
    cards.textContent = "";
    if (panelError("summary-panel", errors)) return;
    if (!summary) {
      $("summary-meta").textContent = "";
      cards.innerHTML = '<p class="empty">No summary snapshot yet.</p>';
      return;
    }
    $("summary-meta").textContent = "captured " + dateTime(summary.capturedAt) + " · contract " + summary.version;
    leaves(summary.payload, "").forEach(function (leaf) {
      var card = document.createElement("div");
      card.className = "card";
      var label = document.createElement("div");
      label.className = "card-label";
      label.textContent = leaf[0].replace(/_/g, " ");
      var value = document.createElement("div");
      value.className = "card-value";
      value.textContent = formatValue(leaf[0], leaf[1]);
      card.appendChild(label);
      card.appendChild(value);
      cards.appendChild(card);
    });
  }

  function leaves(value, prefix) {
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      return Object.keys(value).reduce(function (out, k) {
        return out.concat(leaves(value[k], prefix ? prefix + " · " + k : k));
      }, []);
    }
    return typeof value === "number" || typeof value === "string" ? [[prefix, value]] : [];
  }

  function formatValue(label, v) {
    if (v == null) return "—";
    if (typeof v !== "number") return String(v);
    if (/rate|share|ratio/.test(label) && v <= 1) return (v * 100).toFixed(1) + " %";
    return Number.isInteger(v) ? v.toLocaleString("en") : v.toFixed(1);
  }

  function destroyChart(id) {
    if (charts[id]) {
      charts[id].destroy();
      delete charts[id];
    }
  }

  function chartWidth(el) {
    return Math.max(280, el.clientWidth || el.parentNode.clientWidth - 32);
  }

  var utc = function (ts) {
    return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC");
  };

  function drawTrend(trend, errors) {
    var el = $("trend-chart");
    var note = $("trend-note");
    note.textContent = "";
    if (panelError("trend-panel", errors) || !trend) {
      lastTrend = null;
      emptyNote(el, "No trend to draw.");
      return;
    }
    lastTrend = trend;
    if (!trend.points.length) {
      emptyNote(el, "No stored point of " + trend.metricKey + " in this range (gaps left out).");
      return;
    }
    var xs = trend.points.map(function (p) { return secs(p.bucket); });
    var values = trend.points.map(function (p) { return p.value; });
    var byBucket = {};
    ((trend.comparison && trend.comparison.points) || []).forEach(function (p) {
      byBucket[secs(p.alignedBucket)] = p.value;
    });
    var previous = xs.map(function (x) { return x in byBucket ? byBucket[x] : null; });
    var filled = trend.points.filter(function (p) { return p.filled; }).map(function (p) { return secs(p.bucket); });
    var step = xs.length > 1 ? xs[1] - xs[0] : DAY;
    var fullFrom = trend.fullResolutionFrom ? secs(trend.fullResolutionFrom) : null;

    var parts = [];
    if (filled.length === trend.points.length) {
      parts.push("Every bucket is filled: no stored point of " + trend.metricKey + " in this range.");
    } else if (filled.length) {
      parts.push(filled.length + " filled bucket" + (filled.length > 1 ? "s" : "") + " (shaded)");
    } else {
      parts.push("no filled bucket");
    }
    var earlier = (trend.comparison && trend.comparison.points) || [];
    var earlierFilled = earlier.filter(function (p) { return p.filled; }).length;
    if (earlier.length && earlierFilled === earlier.length) {
      parts.push("previous period: no stored point (every bucket filled)");
    } else if (earlierFilled) {
      parts.push("previous period: " + earlierFilled + " filled");
    }
    if (fullFrom) parts.push("full resolution from " + day(trend.fullResolutionFrom) + " (dashed line)");
    parts.push("last computed " + dateTime(trend.lastComputedAt));
    note.textContent = parts.join(" · ");

    var opts = {
      width: chartWidth(el),
      height: 260,
      tzDate: utc,
      cursor: { points: { size: 6 } },
      scales: { y: { range: function (u, min, max) { return [Math.min(0, min), max > 0 ? max * 1.1 : 1]; } } },
      series: [
        {},
        { label: trend.metricKey, stroke: COLORS[0], width: 2, points: { show: xs.length <= 60 } },
        { label: "previous period", stroke: "#94a3b8", width: 1.5, dash: [6, 4], points: { show: false } },
      ],
      axes: [{ stroke: "#475569" }, { stroke: "#475569", size: 56 }],
      hooks: {
        drawClear: [
          function (u) {
            // Filled buckets: shaded columns behind the lines.
            var ctx = u.ctx;
            ctx.save();
            ctx.fillStyle = "rgba(245, 158, 11, 0.18)";
            filled.forEach(function (x) {
              var left = u.valToPos(x, "x", true);
              var right = u.valToPos(x + step, "x", true);
              ctx.fillRect(left, u.bbox.top, Math.max(2, right - left), u.bbox.height);
            });
            ctx.restore();
          },
        ],
        draw: [
          function (u) {
            if (fullFrom == null || fullFrom < u.scales.x.min || fullFrom > u.scales.x.max) return;
            var ctx = u.ctx;
            var x = u.valToPos(fullFrom, "x", true);
            ctx.save();
            ctx.strokeStyle = "#7c3aed";
            ctx.setLineDash([4, 4]);
            ctx.lineWidth = 1.5 * devicePixelRatio;
            ctx.beginPath();
            ctx.moveTo(x, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
            ctx.fillStyle = "#7c3aed";
            ctx.textAlign = "left";
            ctx.textBaseline = "top";
            ctx.font = 11 * devicePixelRatio + "px system-ui, sans-serif";
            ctx.fillText("full resolution →", x + 4 * devicePixelRatio, u.bbox.top + 4 * devicePixelRatio);
            ctx.restore();
          },
        ],
      },
    };
    destroyChart(el.id);
    el.textContent = "";
    charts[el.id] = new uPlot(opts, [xs, values, previous], el);
  }

  function drawBreakdown(breakdown, errors) {
    var el = $("breakdown-chart");
    el.textContent = "";
    if (panelError("breakdown-panel", errors) || !breakdown) return;
    if (!breakdown.items.length) {
      el.innerHTML = '<p class="empty"></p>';
      el.firstChild.textContent = "No " + breakdown.metricKey + " rows by " + breakdown.dimensionKey + ".";
      return;
    }
    var head = document.createElement("p");
    head.className = "meta";
    head.textContent =
      breakdown.metricKey + " by " + breakdown.dimensionKey + " on " + day(breakdown.bucket) + " · total " + formatValue("", breakdown.total);
    el.appendChild(head);
    breakdown.items.forEach(function (item, i) {
      var row = document.createElement("div");
      row.className = "bar-row";
      var label = document.createElement("span");
      label.className = "bar-label";
      label.textContent = item.dimensionValue;
      var track = document.createElement("span");
      track.className = "bar-track";
      var bar = document.createElement("span");
      bar.className = "bar";
      bar.style.width = ((item.share || 0) * 100).toFixed(1) + "%";
      bar.style.background = COLORS[i % COLORS.length];
      track.appendChild(bar);
      var value = document.createElement("span");
      value.className = "bar-value";
      value.textContent =
        formatValue("", item.value) + " · " + (item.share == null ? "—" : (item.share * 100).toFixed(1) + " %");
      row.appendChild(label);
      row.appendChild(track);
      row.appendChild(value);
      el.appendChild(row);
    });
  }

  // The stacked chart: each category drawn as the running sum of the ones before it,
  // the widest first so the narrower ones paint over it.
  function drawSeries(series, errors) {
    var el = $("series-chart");
    if (errors.length || !series) {
      lastSeries = null;
      emptyNote(el, errors.length ? "This chart failed: " + messages(errors) : "No series.");
      return;
    }
    lastSeries = series;
    if (!series.length) {
      emptyNote(el, "No breakdown rows in this range.");
      return;
    }
    var categories = [];
    series.forEach(function (b) {
      b.items.forEach(function (i) {
        if (categories.indexOf(i.dimensionValue) < 0) categories.push(i.dimensionValue);
      });
    });
    categories.sort();
    var xs = series.map(function (b) { return secs(b.bucket); });
    var raw = categories.map(function (c) {
      return series.map(function (b) {
        var item = b.items.find(function (i) { return i.dimensionValue === c; });
        return item && item.value != null ? item.value : 0;
      });
    });
    var stacked = raw.map(function (_, k) {
      return xs.map(function (_, j) {
        var sum = 0;
        for (var i = 0; i <= k; i++) sum += raw[i][j];
        return sum;
      });
    });
    var order = categories.map(function (_, k) { return categories.length - 1 - k; });
    var opts = {
      width: chartWidth(el),
      height: 220,
      tzDate: utc,
      series: [{}].concat(
        order.map(function (k) {
          return {
            label: categories[k],
            stroke: COLORS[k % COLORS.length],
            fill: COLORS[k % COLORS.length] + "cc",
            width: 1,
            points: { show: false },
            value: function (u, v, si, idx) {
              return idx == null ? "—" : formatValue("", raw[k][idx]);
            },
          };
        })
      ),
      scales: { y: { range: function (u, min, max) { return [0, max * 1.05 || 1]; } } },
      axes: [{ stroke: "#475569" }, { stroke: "#475569", size: 56 }],
    };
    destroyChart(el.id);
    el.textContent = "";
    charts[el.id] = new uPlot(opts, [xs].concat(order.map(function (k) { return stacked[k]; })), el);
  }

  function drawDrilldown(conn, errors) {
    var table = $("drilldown-table");
    var thead = table.querySelector("thead");
    var tbody = table.querySelector("tbody");
    thead.textContent = "";
    tbody.textContent = "";
    $("prev-page").disabled = state.cursors.length === 0;
    var next = $("next-page");
    if (panelError("drilldown-panel", errors) || !conn) {
      next.disabled = true;
      $("page-info").textContent = "";
      return;
    }
    next.disabled = !conn.pageInfo.hasNextPage;
    next.dataset.cursor = conn.pageInfo.endCursor || "";
    var first = state.cursors.length * PAGE_SIZE + 1;
    $("page-info").textContent = conn.edges.length
      ? "rows " + first + "–" + (first + conn.edges.length - 1) + (conn.pageInfo.hasNextPage ? "" : " (last page)")
      : "no rows";
    var keys = [];
    conn.edges.forEach(function (e) {
      Object.keys(e.node.payload || {}).forEach(function (k) {
        if (keys.indexOf(k) < 0) keys.push(k);
      });
    });
    var columns = ["entity", "bucket"].concat(keys);
    var tr = document.createElement("tr");
    columns.forEach(function (c) {
      var th = document.createElement("th");
      th.textContent = c.replace(/_/g, " ");
      tr.appendChild(th);
    });
    thead.appendChild(tr);
    conn.edges.forEach(function (e) {
      var n = e.node;
      var row = document.createElement("tr");
      var cells = [n.entityId ? n.entityId.slice(0, 8) + "…" : n.referenceId, day(n.timeBucket)].concat(
        keys.map(function (k) {
          var v = (n.payload || {})[k];
          return v == null ? "" : typeof v === "object" ? JSON.stringify(v) : typeof v === "number" ? formatValue(k, v) : String(v);
        })
      );
      cells.forEach(function (text, i) {
        var td = document.createElement("td");
        td.textContent = text;
        if (i === 0 && n.entityId) td.title = n.entityId;
        row.appendChild(td);
      });
      tbody.appendChild(row);
    });
  }

  readHash();
  wire();
  updateTokenField();
  loadPage();
})();
