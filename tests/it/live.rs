//! Subscriptions (`metricsUpdated` over graphql-ws) through the real router, on both
//! backends: exactly one event per committed batch (mutation and NDJSON ingest), none for
//! a rejected or unchanged batch, project scoping, and the limits. PostgreSQL also: two
//! `serve` processes on one database, and a database restart under a live subscription
//! (a throwaway cluster, never the machine's main one).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::common::fixtures::pid;
use crate::common::{Backend, TestApp};
use metrics_api::auth::{AuthConfig, ProjectsClaim};
use metrics_api::http::ServerConfig;

const SUBSCRIPTION: &str = "subscription($p: [UUID!]!, $m: [String!], $s: [MetricShape!]) {
  metricsUpdated(projectIds: $p, metricKeys: $m, shapes: $s) {
    kind changes { projectId shape metricKey grain buckets computedAt }
  }
}";

const UPSERT_TRENDS: &str = "mutation($points: [TrendPointInput!]!) {
  upsertTrendPoints(points: $points) { inserted updated unchanged }
}";

/// How long a test waits for an event that must come; and for one that must not.
const MUST_COME: Duration = Duration::from_secs(20);
const MUST_NOT_COME: Duration = Duration::from_millis(700);

/// A graphql-ws client over tokio-tungstenite.
pub struct WsClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// How a connection attempt ended: acknowledged, or closed with a code and reason.
pub enum Init {
    Ack(Box<WsClient>),
    Closed(u16, String),
}

impl WsClient {
    /// Opens `/graphql` of `http_url` with the graphql-ws subprotocol.
    pub async fn open(http_url: &str) -> WsClient {
        let url = format!("{}/graphql", http_url.replacen("http://", "ws://", 1));
        let mut req = url.into_client_request().unwrap();
        req.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
        let (ws, resp) = tokio_tungstenite::connect_async(req).await.expect("websocket upgrade");
        assert_eq!(resp.headers()["sec-websocket-protocol"], "graphql-transport-ws");
        WsClient { ws }
    }

    /// Like [`WsClient::open`] and `connection_init`, over a socket with a receive buffer
    /// of a few kilobytes: a client that stops reading soon blocks the server's writes.
    pub async fn connect_narrow(http_url: &str, payload: Value) -> WsClient {
        let url = format!("{}/graphql", http_url.replacen("http://", "ws://", 1));
        let mut req = url.into_client_request().unwrap();
        req.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let stream = socket.connect(http_url.trim_start_matches("http://").parse().unwrap()).await.unwrap();
        let (ws, _) = tokio_tungstenite::client_async(req, MaybeTlsStream::Plain(stream)).await.expect("upgrade");
        match Self::handshake(WsClient { ws }, payload).await {
            Init::Ack(c) => *c,
            Init::Closed(code, reason) => panic!("connection closed: {code} {reason}"),
        }
    }

    /// Opens a connection and sends `connection_init` with `payload`.
    pub async fn init(http_url: &str, payload: Value) -> Init {
        Self::handshake(Self::open(http_url).await, payload).await
    }

    async fn handshake(mut client: WsClient, payload: Value) -> Init {
        let init = json!({ "type": "connection_init", "payload": payload }).to_string();
        client.ws.send(Message::text(init)).await.unwrap();
        match client.read(MUST_COME).await {
            Some(Ok(m)) if m["type"] == "connection_ack" => Init::Ack(Box::new(client)),
            Some(Err((code, reason))) => Init::Closed(code, reason),
            other => panic!("expected connection_ack or a close, got {other:?}"),
        }
    }

    /// Like [`WsClient::init`], for a connection that must be acknowledged.
    pub async fn connect(http_url: &str, payload: Value) -> WsClient {
        match Self::init(http_url, payload).await {
            Init::Ack(c) => *c,
            Init::Closed(code, reason) => panic!("connection closed: {code} {reason}"),
        }
    }

    /// The next protocol message (pings answered, skipped), a close as `Err`, or `None`
    /// after `wait`.
    async fn read(&mut self, wait: Duration) -> Option<Result<Value, (u16, String)>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.ws.next()).await.ok()?;
            match frame {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if v["type"] == "ping" {
                        self.ws.send(Message::text(json!({ "type": "pong" }).to_string())).await.unwrap();
                        continue;
                    }
                    return Some(Ok(v));
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) =
                        frame.map(|f| (u16::from(f.code), f.reason.to_string())).unwrap_or((1005, String::new()));
                    return Some(Err((code, reason)));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("websocket error: {e}"),
                None => return Some(Err((1006, "closed without a frame".into()))),
            }
        }
    }

    /// Starts subscription `id`.
    pub async fn subscribe(&mut self, id: &str, variables: Value) {
        let msg =
            json!({ "id": id, "type": "subscribe", "payload": { "query": SUBSCRIPTION, "variables": variables } });
        self.ws.send(Message::text(msg.to_string())).await.unwrap();
    }

    /// Sends `query` (any operation) as subscription `id`.
    pub async fn send_raw(&mut self, id: &str, query: &str) {
        let msg = json!({ "id": id, "type": "subscribe", "payload": { "query": query } });
        self.ws.send(Message::text(msg.to_string())).await.unwrap();
    }

    /// Subscribes to `projects` and waits for `SUBSCRIBED`: from then on no update is missed.
    pub async fn subscribe_live(&mut self, id: &str, variables: Value) {
        self.subscribe(id, variables).await;
        let first = self.next_payload(id).await;
        assert_eq!(first["data"]["metricsUpdated"]["kind"], "SUBSCRIBED", "{first:#}");
    }

    /// The payload of the next `next` message of subscription `id`.
    pub async fn next_payload(&mut self, id: &str) -> Value {
        match self.read(MUST_COME).await {
            Some(Ok(m)) if m["type"] == "next" && m["id"] == id => m["payload"].clone(),
            other => panic!("expected an event of {id}, got {other:?}"),
        }
    }

    /// The error payload of a refused subscription `id`, which then completes.
    pub async fn refusal(&mut self, id: &str) -> Value {
        let payload = self.next_payload(id).await;
        assert!(payload["errors"].is_array(), "expected a refusal: {payload:#}");
        match self.read(MUST_COME).await {
            Some(Ok(m)) if m["type"] == "complete" && m["id"] == id => payload,
            other => panic!("expected {id} to complete, got {other:?}"),
        }
    }

    /// The next event of subscription `id`: `(kind, changes)`.
    pub async fn next_event(&mut self, id: &str) -> (String, Vec<Value>) {
        let p = self.next_payload(id).await;
        assert!(p.get("errors").is_none(), "subscription error: {p:#}");
        let u = &p["data"]["metricsUpdated"];
        (u["kind"].as_str().unwrap().to_owned(), u["changes"].as_array().unwrap().clone())
    }

    /// Asserts nothing arrives for a while.
    pub async fn expect_silence(&mut self) {
        if let Some(m) = self.read(MUST_NOT_COME).await {
            panic!("expected nothing, got {m:?}");
        }
    }

    /// Waits for the server to close the connection.
    pub async fn expect_close(&mut self) -> (u16, String) {
        loop {
            match self.read(MUST_COME).await {
                Some(Err(close)) => return close,
                Some(Ok(_)) => continue,
                None => panic!("the connection stayed open"),
            }
        }
    }
}

fn point(p: uuid::Uuid, metric: &str, day: u32, value: f64) -> Value {
    json!({ "projectId": p, "metricKey": metric, "grain": "DAY",
            "bucket": format!("2024-03-{day:02}T00:00:00Z"), "value": value,
            "computedAt": "2024-04-01T00:00:00Z" })
}

/// Writes trend points through the API and returns the counts.
async fn upsert(app: &TestApp, points: Vec<Value>) -> Value {
    app.data(UPSERT_TRENDS, json!({ "points": points })).await["upsertTrendPoints"].clone()
}

/// Writes one NDJSON file of two trend rows of `metric` for `project`: through the
/// `ingest` command on PostgreSQL (another process: the notification crosses processes),
/// through the same library call in this process on SQLite (whose broadcast is
/// in-process).
async fn ingest_ndjson(app: &TestApp, project: uuid::Uuid, metric: &str) {
    let lines: String = (10..12)
        .map(|d| {
            json!({ "kind": "trend", "project_id": project, "metric_key": metric, "time_grain": "day",
                    "time_bucket": format!("2024-03-{d}T00:00:00Z"), "value_numeric": d,
                    "computed_at": "2024-04-02T00:00:00Z" })
            .to_string()
                + "\n"
        })
        .collect();
    match app.backend {
        Backend::Postgres => {
            // Unique per call: the PostgreSQL cases of both layouts run at the same time.
            let n = crate::common::next_id();
            let path = std::env::temp_dir().join(format!("metrics-live-{}-{project}-{n}.ndjson", std::process::id()));
            std::fs::write(&path, &lines).unwrap();
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_metrics-api"))
                .args(["ingest", path.to_str().unwrap()])
                .env("DATABASE_URL", &app.database_url)
                .output()
                .unwrap();
            let _ = std::fs::remove_file(&path);
            assert!(out.status.success(), "ingest: {}", String::from_utf8_lossy(&out.stderr));
        }
        Backend::Sqlite => {
            let reader = tokio::io::BufReader::new(lines.as_bytes());
            metrics_api::ingest::ndjson::ingest(&app.db, "live.ndjson", reader, 100, Default::default(), |_| {})
                .await
                .expect("ingest");
        }
    }
}

/// One event per committed batch, from a mutation and from an NDJSON ingest; nothing for
/// a rejected batch, an unchanged one, or another project; filters by metric and shape.
async fn each_committed_batch_is_announced_once(app: &TestApp) {
    let (a, b) = (pid(1), pid(2));
    let mut ws = WsClient::connect(&app.url, json!({})).await;
    ws.subscribe_live("all", json!({ "p": [a] })).await;
    let mut only_m2 = WsClient::connect(&app.url, json!({})).await;
    only_m2.subscribe_live("m2", json!({ "p": [a, b], "m": ["m2"], "s": ["TREND"] })).await;

    // A mutation: one event, its buckets sorted, the latest computedAt.
    let counts = upsert(app, vec![point(a, "m1", 3, 1.0), point(a, "m1", 1, 2.0)]).await;
    assert_eq!(counts["inserted"], 2);
    let (kind, changes) = ws.next_event("all").await;
    assert_eq!(kind, "UPDATED");
    assert_eq!(
        changes,
        vec![json!({ "projectId": a, "shape": "TREND", "metricKey": "m1", "grain": "DAY",
                     "buckets": ["2024-03-01T00:00:00Z", "2024-03-03T00:00:00Z"],
                     "computedAt": "2024-04-01T00:00:00Z" })]
    );

    // Rejected (a bucket not at a day's start): the batch is refused, nothing is told.
    let mut bad = point(a, "m1", 5, 1.0);
    bad["bucket"] = json!("2024-03-05T12:00:00Z");
    let (code, _) = app.error(UPSERT_TRENDS, json!({ "points": [point(a, "m1", 4, 1.0), bad] })).await;
    assert_eq!(code, "BAD_USER_INPUT");
    // Unchanged (sent again with the stored values): nothing to refetch.
    assert_eq!(upsert(app, vec![point(a, "m1", 3, 1.0)]).await["unchanged"], 1);
    // Another project, and a summary of it: not this subscription's.
    upsert(app, vec![point(b, "m1", 3, 1.0)]).await;

    // NDJSON ingest: the same write path.
    ingest_ndjson(app, a, "m2").await;
    let (kind, changes) = ws.next_event("all").await;
    assert_eq!(kind, "UPDATED", "the first event after the mutation is the ingest's");
    assert_eq!(changes.len(), 1);
    assert_eq!((changes[0]["metricKey"].as_str(), changes[0]["buckets"].as_array().unwrap().len()), (Some("m2"), 2));
    ws.expect_silence().await;

    // The filtered subscriber heard only m2 (not m1 of a or b).
    let (kind, changes) = only_m2.next_event("m2").await;
    assert_eq!((kind.as_str(), changes[0]["metricKey"].as_str()), ("UPDATED", Some("m2")));
    only_m2.expect_silence().await;
}

const SECRET: &[u8] = b"live-test-secret-live-test-secret!!";

fn auth() -> AuthConfig {
    AuthConfig::hs256(SECRET, None, None).unwrap()
}

fn token(projects: ProjectsClaim, scope: &str) -> String {
    auth().mint(projects, scope, Duration::from_secs(600)).unwrap()
}

/// A token for project A hears nothing about B and is refused a subscription to B; a
/// missing, bad or expiring token is closed with 4403.
async fn subscriptions_are_scoped_by_the_token(backend: Backend) {
    let mut config = ServerConfig { auth: Some(std::sync::Arc::new(auth())), ..ServerConfig::default() };
    config.live.keepalive = Duration::from_millis(300);
    let Some(app) = TestApp::on(backend, config).await else { return };
    let (a, b) = (pid(1), pid(2));
    let reader = token(ProjectsClaim::List(vec![a]), "metrics:read");
    let writer = token(metrics_api::auth::parse_projects("*").unwrap(), "metrics:read metrics:write");

    for payload in [json!({}), json!({ "token": "not-a-token" }), json!({ "Authorization": "Basic x" })] {
        match WsClient::init(&app.url, payload.clone()).await {
            Init::Closed(code, reason) => assert_eq!(code, 4403, "{payload}: {reason}"),
            Init::Ack(_) => panic!("{payload}: acknowledged without a valid token"),
        }
    }

    let mut ws = WsClient::connect(&app.url, json!({ "Authorization": format!("Bearer {reader}") })).await;
    ws.subscribe("b", json!({ "p": [a, b] })).await;
    let refused = ws.refusal("b").await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "FORBIDDEN", "{refused:#}");
    assert!(refused["errors"][0]["message"].as_str().unwrap().contains(&b.to_string()));

    // `{"token": ...}` works too.
    let mut ws = WsClient::connect(&app.url, json!({ "token": reader })).await;
    ws.subscribe_live("a", json!({ "p": [a] })).await;
    let write = |p: uuid::Uuid, day: u32| {
        let body = json!({ "query": UPSERT_TRENDS, "variables": { "points": [point(p, "m", day, 1.0)] } });
        let req = app.client.post(format!("{}/graphql", app.url)).bearer_auth(&writer).json(&body);
        async move {
            let r: Value = req.send().await.unwrap().json().await.unwrap();
            assert!(r.get("errors").is_none(), "{r:#}");
        }
    };
    write(b, 1).await;
    write(a, 2).await;
    let (_, changes) = ws.next_event("a").await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["projectId"], json!(a));
    ws.expect_silence().await;

    // A connection ends when its token expires (checked at each keep-alive).
    let short = auth().mint(ProjectsClaim::List(vec![a]), "metrics:read", Duration::from_secs(2)).unwrap();
    let mut ws = WsClient::connect(&app.url, json!({ "token": short })).await;
    ws.subscribe_live("a", json!({ "p": [a] })).await;
    let (code, reason) = ws.expect_close().await;
    assert_eq!(code, 4403);
    assert!(reason.contains("expired"), "{reason}");
    app.finish().await;
}

/// Subscriptions per connection and connections per instance are limited, with a coded
/// error and a close code; bad arguments name the argument.
async fn subscription_limits(backend: Backend) {
    let mut config = ServerConfig::default();
    config.live.max_subscriptions = 1;
    config.live.max_connections = 1;
    let Some(app) = TestApp::on(backend, config).await else { return };
    let mut ws = WsClient::connect(&app.url, json!({})).await;
    ws.subscribe("bad", json!({ "p": [] })).await;
    let bad = ws.refusal("bad").await;
    assert_eq!(bad["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert!(bad["errors"][0]["message"].as_str().unwrap().contains("projectIds"), "{bad:#}");

    // Queries and mutations go over HTTP (with their loaders and timeout), not here.
    ws.send_raw("q", "{ __typename }").await;
    let q = ws.refusal("q").await;
    assert_eq!(q["errors"][0]["extensions"]["code"], "BAD_REQUEST", "{q:#}");
    assert!(q["errors"][0]["message"].as_str().unwrap().contains("HTTP"), "{q:#}");
    // The document limits of HTTP requests apply.
    let aliases: String = (0..300).map(|i| format!(" k{i}: kind")).collect();
    let many = format!("subscription {{ metricsUpdated(projectIds: [\"{}\"]) {{{aliases} }} }}", pid(1));
    ws.send_raw("aliases", &many).await;
    let refused = ws.refusal("aliases").await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "LIMIT_EXCEEDED", "{refused:#}");

    ws.subscribe_live("one", json!({ "p": [pid(1)] })).await;
    ws.subscribe("two", json!({ "p": [pid(1)] })).await;
    let refused = ws.refusal("two").await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "LIMIT_EXCEEDED", "{refused:#}");

    match WsClient::init(&app.url, json!({})).await {
        Init::Closed(code, reason) => {
            assert_eq!(code, 1013);
            assert!(reason.contains("max_ws_connections"), "{reason}");
        }
        Init::Ack(_) => panic!("a second connection was accepted over the limit of one"),
    }
    let metrics = app.client.get(format!("{}/metrics", app.url)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"metrics_api_ws_closed_total{reason="too_many_connections"}"#), "{metrics}");
    assert!(metrics.contains("metrics_api_ws_connections"), "{metrics}");
    // The first connection still works.
    upsert(&app, vec![point(pid(1), "m", 1, 1.0)]).await;
    assert_eq!(ws.next_event("one").await.0, "UPDATED");
    // A subscription over HTTP is refused (WebSocket only).
    let (code, message) = app
        .error(&format!("subscription {{ metricsUpdated(projectIds: [\"{}\"]) {{ kind }} }}", pid(1)), json!({}))
        .await;
    assert_eq!(code, "GRAPHQL_VALIDATION_FAILED");
    assert!(message.contains("Subscriptions are not supported"), "{message}");
    app.finish().await;
}

/// A connection without `connection_init` in time is closed with 4408; a subscriber that
/// falls more than its buffer behind is closed with 4008 instead of buffering.
async fn silent_and_slow_clients_are_closed(backend: Backend) {
    let mut config = ServerConfig::default();
    config.live.init_timeout = Duration::from_millis(300);
    config.live.buffer = 1;
    let Some(app) = TestApp::on(backend, config).await else { return };
    let mut silent = WsClient::open(&app.url).await;
    assert_eq!(silent.expect_close().await.0, 4408);

    let mut ws = WsClient::connect(&app.url, json!({})).await;
    ws.subscribe_live("s", json!({ "p": [pid(1)] })).await;
    // One batch whose changes take several notifications (over 7.8 kB): more events at
    // once than a buffer of one holds.
    let long_key = "k".repeat(200);
    let points: Vec<Value> = (0..3000)
        .map(|h| {
            let bucket = chrono::DateTime::from_timestamp(1_704_067_200 + h * 3600, 0).unwrap();
            json!({ "projectId": pid(1), "metricKey": long_key, "grain": "HOUR", "bucket": bucket.to_rfc3339(), "value": 1.0 })
        })
        .collect();
    assert_eq!(upsert(&app, points).await["inserted"], 3000);
    let (code, reason) = ws.expect_close().await;
    assert_eq!(code, 4008, "{reason}");
    assert!(reason.contains("slow consumer"), "{reason}");
    app.finish().await;
}

/// A subscriber that goes silent (reads nothing, so it answers no WebSocket ping) is
/// dropped after three keep-alive periods; one that keeps reading stays and hears writes.
async fn a_silent_peer_is_dropped(backend: Backend) {
    let mut config = ServerConfig::default();
    config.live.keepalive = Duration::from_millis(200);
    let Some(app) = TestApp::on(backend, config).await else { return };
    let mut silent = WsClient::connect(&app.url, json!({})).await;
    silent.subscribe_live("s", json!({ "p": [pid(1)] })).await;
    let mut awake = WsClient::connect(&app.url, json!({})).await;
    awake.subscribe_live("s", json!({ "p": [pid(1)] })).await;
    // Over seven periods `awake` reads (its pings answered as it reads); `silent` does not.
    let until = tokio::time::Instant::now() + Duration::from_millis(1400);
    while tokio::time::Instant::now() < until {
        assert!(awake.read(Duration::from_millis(100)).await.is_none(), "nothing but pings to read");
    }
    // Behind the pings the server sent before it gave up, `silent`'s stream ends.
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(frame)) = silent.ws.next().await {
            assert!(matches!(frame, Message::Ping(_)), "{frame:?}");
        }
    })
    .await;
    assert!(ended.is_ok(), "the silent connection stayed open");
    assert_eq!(upsert(&app, vec![point(pid(1), "m", 1, 1.0)]).await["inserted"], 1);
    let (kind, _) = awake.next_event("s").await;
    assert_eq!(kind, "UPDATED");
    app.finish().await;
}

/// A subscriber whose socket takes no more (it stopped reading, and the buffers between
/// are full) is dropped after the send timeout, without waiting for its subscription's
/// buffer to fill.
async fn a_client_that_stops_reading_is_dropped_at_the_send_timeout(backend: Backend) {
    let mut config = ServerConfig::default();
    config.live.send_timeout = Duration::from_millis(300);
    config.live.buffer = 100_000;
    let Some(app) = TestApp::on(backend, config).await else { return };
    let mut ws = WsClient::connect_narrow(&app.url, json!({})).await;
    ws.subscribe_live("s", json!({ "p": [pid(1)] })).await;
    // Events for more than the socket buffers between hold (up to 4 MiB on Linux): each
    // point its own metric with a 200-character key, so each is its own change.
    for batch in 0..8 {
        let points: Vec<Value> = (0..3000)
            .map(|n| {
                let key = format!("{batch}-{n:04}-{}", "k".repeat(190));
                json!({ "projectId": pid(1), "metricKey": key, "grain": "DAY", "bucket": "2024-01-01T00:00:00Z", "value": 1.0 })
            })
            .collect();
        assert_eq!(upsert(&app, points).await["inserted"], 3000);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Reading again finds what the buffers held, then the end, without a close frame: the
    // server gave up on the write (a slow-consumer close would be 4008).
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.ws.next().await {
                Some(Ok(Message::Close(frame))) => panic!("closed with a frame: {frame:?}"),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => break,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the connection stayed open");
    app.finish().await;
}

both_backends!(each_committed_batch_is_announced_once);
each_backend!(
    subscriptions_are_scoped_by_the_token,
    subscription_limits,
    silent_and_slow_clients_are_closed,
    a_silent_peer_is_dropped,
    a_client_that_stops_reading_is_dropped_at_the_send_timeout
);
