//! What operators and frontend tooling rely on: persisted queries, HTTP caching,
//! compression, Prometheus metrics, request ids and JSON logs.

use std::time::Duration;

use crate::common::fixtures::{self, pid};
use crate::common::TestApp;
use metrics_api::http::ServerConfig;
use serde_json::{json, Value};

pub(crate) fn sha256_hex(s: &str) -> String {
    // A small SHA-256 (FIPS 180-4) so the test computes APQ hashes like a client does.
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
        0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
        0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
        0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
        0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
        0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
        0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] =
        [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    let mut msg = s.as_bytes().to_vec();
    let bits = (msg.len() as u64) * 8;
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 64];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([chunk[4 * i], chunk[4 * i + 1], chunk[4 * i + 2], chunk[4 * i + 3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
        }
        let mut v = h;
        for i in 0..64 {
            let s1 = v[4].rotate_right(6) ^ v[4].rotate_right(11) ^ v[4].rotate_right(25);
            let ch = (v[4] & v[5]) ^ (!v[4] & v[6]);
            let t1 = v[7].wrapping_add(s1).wrapping_add(ch).wrapping_add(K[i]).wrapping_add(w[i]);
            let s0 = v[0].rotate_right(2) ^ v[0].rotate_right(13) ^ v[0].rotate_right(22);
            let maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
            let t2 = s0.wrapping_add(maj);
            v = [t1.wrapping_add(t2), v[0], v[1], v[2], v[3].wrapping_add(t1), v[4], v[5], v[6]];
        }
        for (a, b) in h.iter_mut().zip(v) {
            *a = a.wrapping_add(b);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}

#[test]
fn sha256_matches_a_known_vector() {
    assert_eq!(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/// POSTs a GraphQL body and returns the decoded answer.
async fn post(app: &TestApp, body: Value) -> Value {
    app.client.post(format!("{}/graphql", app.url)).json(&body).send().await.unwrap().json().await.unwrap()
}

async fn get(app: &TestApp, query: &[(&str, String)], headers: &[(&str, &str)]) -> reqwest::Response {
    let mut r = app.client.get(format!("{}/graphql", app.url)).query(query);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.send().await.unwrap()
}

async fn persisted_queries_round_trip(app: &TestApp) {
    let q = "query Catalog { metricCatalog { key } }";
    let ext = json!({ "persistedQuery": { "version": 1, "sha256Hash": sha256_hex(q) } }).to_string();
    let miss: Value = get(app, &[("extensions", ext.clone())], &[]).await.json().await.unwrap();
    assert_eq!(miss["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND", "{miss}");
    let reg: Value = post(app, json!({ "query": q, "extensions": serde_json::from_str::<Value>(&ext).unwrap() })).await;
    assert_eq!(reg["data"]["metricCatalog"].as_array().unwrap().len(), 5);
    let hit = get(app, &[("extensions", ext)], &[]).await;
    assert!(
        hit.headers().get("cache-control").is_some_and(|v| v.to_str().unwrap().contains("max-age")),
        "a GET by hash is cacheable"
    );
    let hit: Value = hit.json().await.unwrap();
    assert_eq!(hit, reg, "the hash alone runs the registered query");
}

/// A persisted query meets the same limits as a query sent as text, and a GET by hash
/// never runs a mutation.
async fn persisted_queries_cannot_bypass_limits(app: &TestApp) {
    let aliases: String = (0..300).map(|i| format!("a{i}: key ")).collect();
    let bomb = format!("query Bomb {{ metricCatalog {{ {aliases} }} }}");
    let ext = json!({ "persistedQuery": { "version": 1, "sha256Hash": sha256_hex(&bomb) } });
    let body: Value = post(app, json!({ "query": bomb, "extensions": ext })).await;
    assert_eq!(body["errors"][0]["extensions"]["limit"], "max_aliases", "{body}");
    let by_hash: Value = get(app, &[("extensions", ext.to_string())], &[]).await.json().await.unwrap();
    let code = by_hash["errors"][0]["extensions"]["code"].as_str().unwrap_or_default().to_owned();
    assert!(code == "LIMIT_EXCEEDED" || code == "PERSISTED_QUERY_NOT_FOUND", "{by_hash}");
    assert!(by_hash["data"].is_null());

    let p = pid(9);
    let m = format!(r#"mutation Rename {{ setProjectName(id: "{p}", name: "first") {{ name }} }}"#);
    let ext = json!({ "persistedQuery": { "version": 1, "sha256Hash": sha256_hex(&m) } });
    let posted: Value = post(app, json!({ "query": m, "extensions": ext })).await;
    assert_eq!(posted["data"]["setProjectName"]["name"], "first", "{posted}");
    let via_get: Value = get(app, &[("extensions", ext.to_string())], &[]).await.json().await.unwrap();
    assert_eq!(via_get["errors"][0]["extensions"]["code"], "BAD_REQUEST", "{via_get}");
    assert!(via_get["data"].is_null());
}

async fn caching_headers_and_etags(app: &TestApp) {
    let p = pid(1);
    fixtures::project(&app.db, p, "a").await;
    fixtures::summary(&app.db, p, "2026-03-01T00:00:00Z", None, json!({"n": 1})).await;
    let catalog = "{ metricCatalog { key } }".to_owned();
    let r = get(app, &[("query", catalog.clone())], &[]).await;
    assert_eq!(r.headers()["cache-control"], "public, max-age=600", "the configured max-age");
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let r = get(app, &[("query", catalog.clone())], &[("if-none-match", &etag)]).await;
    assert_eq!(r.status(), 304);
    assert!(r.text().await.unwrap().is_empty());
    let r = get(app, &[("query", catalog.clone())], &[("if-none-match", "W/\"other\"")]).await;
    assert_eq!(r.status(), 200);
    // A field's cache hint lowers the max-age: summaries are hinted at 300 s.
    let summary = format!(r#"{{ project(id: "{p}") {{ summary {{ payload }} }} }}"#);
    let r = get(app, &[("query", summary)], &[]).await;
    assert_eq!(r.headers()["cache-control"], "public, max-age=300");
    // Errors and mutations are never cached.
    let r = get(app, &[("query", "{ nope }".to_owned())], &[]).await;
    assert_eq!(r.headers()["cache-control"], "no-store");
    let r = app
        .client
        .post(format!("{}/graphql", app.url))
        .json(&json!({ "query": format!(r#"mutation {{ setProjectName(id: "{p}", name: "b") {{ id }} }}"#) }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
}

async fn responses_are_compressed(app: &TestApp) {
    let raw = reqwest::Client::builder().no_proxy().no_gzip().no_brotli().build().unwrap();
    let url = format!("{}/graphql?query=%7BmetricCatalog%7Bkey%20unit%20description%7D%7D", app.url);
    for encoding in ["gzip", "br"] {
        let r = raw.get(&url).header("accept-encoding", encoding).send().await.unwrap();
        assert_eq!(r.headers()["content-encoding"], encoding);
        let bytes = r.bytes().await.unwrap();
        assert!(serde_json::from_slice::<Value>(&bytes).is_err(), "{encoding}: the body is compressed");
    }
    // A client that decodes gets the JSON back.
    let decoded: Value = app.client.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(decoded["data"]["metricCatalog"].as_array().unwrap().len(), 5);
}

async fn metrics_and_request_ids(app: &TestApp) {
    let op = format!("OpsProbe{}", std::process::id());
    let r = app
        .client
        .post(format!("{}/graphql", app.url))
        .header("x-request-id", "req-42")
        .json(&json!({ "query": format!("query {op} {{ nope }}") }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "req-42", "the request id is echoed");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["requestId"], "req-42");
    let r = app
        .client
        .post(format!("{}/graphql", app.url))
        .json(&json!({ "query": format!("query {op} {{ metricCatalog {{ key }} }}") }))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("x-request-id").is_some(), "a request id is made when none is sent");

    let text = app.client.get(format!("{}/metrics", app.url)).send().await.unwrap().text().await.unwrap();
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (name, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {line}"));
        let v: f64 = value.parse().unwrap_or_else(|_| panic!("not a number: {line}"));
        samples.push((name.to_owned(), v));
    }
    let count = |needle: &str| samples.iter().filter(|(n, _)| n.contains(needle)).map(|(_, v)| *v).sum::<f64>();
    assert!(count(&format!("metrics_api_requests_total{{operation=\"{op}\",outcome=\"ok\"}}")) >= 1.0, "{text}");
    assert!(count(&format!("metrics_api_requests_total{{operation=\"{op}\",outcome=\"error\"}}")) >= 1.0, "{text}");
    assert!(count("metrics_api_request_duration_seconds_count") >= 2.0);
    assert!(count("metrics_api_sql_statements_total") >= 0.0);
    assert!(text.contains("metrics_api_db_pool_connections{state=\"idle\"}"), "{text}");
}

async fn suite(app: &TestApp) {
    persisted_queries_round_trip(app).await;
    persisted_queries_cannot_bypass_limits(app).await;
    caching_headers_and_etags(app).await;
    responses_are_compressed(app).await;
    metrics_and_request_ids(app).await;
}

fn config() -> ServerConfig {
    ServerConfig { cache_max_age: 600, ..ServerConfig::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_sqlite() {
    let app = TestApp::sqlite_with(config()).await;
    suite(&app).await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_postgres() {
    if let Some(app) = TestApp::postgres_with(config()).await {
        suite(&app).await;
        app.finish().await;
    }
}

/// Cache scope is private when auth is on: answers depend on the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_cache_with_auth() {
    let auth = metrics_api::auth::AuthConfig::hs256(b"ops-secret-ops-secret-ops-secret-ops", None, None).unwrap();
    let token = auth
        .mint(
            metrics_api::auth::ProjectsClaim::All(metrics_api::auth::AllProjects::Star),
            "metrics:read",
            Duration::from_secs(60),
        )
        .unwrap();
    let app = TestApp::sqlite_with(ServerConfig { auth: Some(std::sync::Arc::new(auth)), ..config() }).await;
    let r = app
        .client
        .get(format!("{}/graphql?query=%7BmetricCatalog%7Bkey%7D%7D", app.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["cache-control"], "private, max-age=600");
    app.finish().await;
}

/// `--log-format json`: one JSON object a line, the request span's fields included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs() {
    let file = std::env::temp_dir().join(format!("metrics-logs-{}.db", std::process::id()));
    let port = 19000 + (std::process::id() % 1000) as u16;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_metrics-api"))
        .args(["--log-format", "json", "serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", format!("sqlite://{}", file.display()))
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut up = false;
    for _ in 0..100 {
        if client.get(format!("http://127.0.0.1:{port}/readyz")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up);
    client
        .post(format!("http://127.0.0.1:{port}/graphql"))
        .json(&json!({ "query": "query LogProbe { metricCatalog { key } }" }))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}"))).collect();
    let served = lines.iter().find(|l| l["fields"]["message"] == "request served").expect("a request log line");
    assert_eq!(served["span"]["operation"], "LogProbe", "{served}");
    assert!(served["span"]["request_id"].as_str().is_some_and(|r| !r.is_empty() && r != "-"), "{served}");
    let _ = std::fs::remove_file(file);
}
