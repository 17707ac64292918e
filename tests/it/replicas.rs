//! Read replicas for real (PostgreSQL only: replication is PostgreSQL's): a primary and a
//! streaming replica built by the test ([`crate::common::cluster`]), the `serve` binary
//! with `--database-read-url`. Writes go to the primary; reads run on the replica (its
//! statement log says so) until it stops, then on the primary, then on the replica again
//! once it is back. A replica paused behind the primary by more than `--replica-max-lag`
//! is skipped too.
//!
//! The routing rules themselves (read-only requests to the read URL, a request holding a
//! mutation to the primary, a persisted mutation too) run on both backends in
//! `routing_*`, with a second database standing in for the replica.

use std::time::Duration;

use crate::common::cluster::Cluster;
use crate::common::fixtures::pid;
use crate::common::serve::Served;
use crate::common::{Backend, TestApp};
use metrics_api::db::{self, PoolSettings};
use metrics_api::http::{build_router, run, AppState, ServerConfig};
use metrics_api::replicas::{ReplicaSettings, Replicas};
use serde_json::{json, Value};

const UPSERT: &str = "mutation($p: [TrendPointInput!]!) { upsertTrendPoints(points: $p) { inserted updated } }";

const READ: &str = r#"query($p: UUID!) { project(id: $p) { trend(metricKey: "done", grain: DAY,
    from: "2026-03-01T00:00:00Z", to: "2026-04-01T00:00:00Z") { points { bucket value } } } }"#;

fn points(p: uuid::Uuid, value: f64) -> Value {
    json!([{ "projectId": p, "metricKey": "done", "grain": "DAY", "bucket": "2026-03-02T00:00:00Z", "value": value }])
}

/// The value the API reads for `p` (null before the first write is visible).
async fn read_value(api: &Served, p: uuid::Uuid) -> Value {
    let data = api.data(READ, json!({ "p": p })).await;
    data["project"]["trend"]["points"]
        .as_array()
        .and_then(|a| a.first())
        .map(|pt| pt["value"].clone())
        .unwrap_or(Value::Null)
}

/// Polls `/readyz` until the replica's status is `want` (checks run every 200 ms).
async fn wait_replica(api: &Served, want: &str) -> Value {
    for _ in 0..150 {
        let body = api.get_json("/readyz").await;
        if body["databases"]["replicas"][0]["status"] == want {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the replica never became {want}: {}", api.get_json("/readyz").await);
}

/// The value of a Prometheus counter without labels (0 when absent).
async fn counter(api: &Served, name: &str) -> f64 {
    let text = api.get_text("/metrics").await;
    text.lines().find_map(|l| l.strip_prefix(&format!("{name} ")).and_then(|v| v.trim().parse().ok())).unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_follow_the_healthy_replica() {
    let Some(cluster) = Cluster::start() else { return };
    let api = Served::start(
        &cluster.primary_url(),
        &["--database-read-url", &cluster.replica_url(), "--replica-check-every", "200ms", "--replica-max-lag", "1s"],
    )
    .await;
    let ready = wait_replica(&api, "healthy").await;
    assert_eq!(ready["databases"]["primary"], "up", "{ready}");
    assert!(ready["databases"]["replicas"][0]["url"].as_str().unwrap().contains(&cluster.replica_port.to_string()));

    // A write through the API lands on the primary, and streams to the replica.
    let p = pid(1);
    let written = api.data(UPSERT, json!({ "p": points(p, 1.0) })).await;
    assert_eq!(written["upsertTrendPoints"]["inserted"], 1);
    assert_eq!(cluster.logged("replica", "INSERT INTO"), 0, "writes never go to the replica");
    let (on_replica, on_primary) =
        (cluster.logged("replica", "metrics_trend_point"), cluster.logged("primary", "metrics_trend_point"));
    let mut seen = Value::Null;
    for _ in 0..50 {
        seen = read_value(&api, p).await;
        if seen == json!(1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen, json!(1.0), "the write reaches the replica's reads");
    assert!(cluster.logged("replica", "metrics_trend_point") > on_replica, "the read ran on the replica");
    assert_eq!(cluster.logged("primary", "metrics_trend_point"), on_primary, "no read ran on the primary");

    // The replica stops: reads answer from the primary, counted as fallbacks.
    cluster.stop_replica();
    let down = wait_replica(&api, "down").await;
    assert_eq!(down["status"], "ready", "a replica down leaves the service ready: {down}");
    let fallbacks = counter(&api, "metrics_api_replica_fallback_total").await;
    let on_primary = cluster.logged("primary", "metrics_trend_point");
    assert_eq!(read_value(&api, p).await, json!(1.0));
    assert!(cluster.logged("primary", "metrics_trend_point") > on_primary, "the read ran on the primary");
    assert!(counter(&api, "metrics_api_replica_fallback_total").await > fallbacks, "the fallback is counted");
    assert!(api.log().contains("replica down; skipped"), "the change is logged:\n{}", api.log());

    // Back again: reads return to it.
    cluster.start_replica();
    wait_replica(&api, "healthy").await;
    let (on_replica, on_primary) =
        (cluster.logged("replica", "metrics_trend_point"), cluster.logged("primary", "metrics_trend_point"));
    assert_eq!(read_value(&api, p).await, json!(1.0));
    assert!(cluster.logged("replica", "metrics_trend_point") > on_replica, "reads are back on the replica");
    assert_eq!(cluster.logged("primary", "metrics_trend_point"), on_primary);

    // Replay paused while the primary moves on: the replica lags past 1 s and is skipped;
    // reads then see the new value from the primary.
    let replica = sea_orm::Database::connect(cluster.replica_url()).await.expect("replica connection");
    use sea_orm::ConnectionTrait;
    replica.execute_unprepared("SELECT pg_wal_replay_pause()").await.expect("pause replay");
    api.data(UPSERT, json!({ "p": points(p, 2.0) })).await;
    let lagging = wait_replica(&api, "lagging").await;
    assert!(lagging["databases"]["replicas"][0]["lag_seconds"].as_f64().unwrap() > 1.0, "{lagging}");
    assert_eq!(read_value(&api, p).await, json!(2.0), "a lagging replica's stale rows are not served");
    replica.execute_unprepared("SELECT pg_wal_replay_resume()").await.expect("resume replay");
    wait_replica(&api, "healthy").await;
    assert_eq!(read_value(&api, p).await, json!(2.0));
    replica.close().await.ok();
}

/// A server whose "replica" is a second, separate database: what a read returns says
/// where it ran. `None`: PostgreSQL skipped.
async fn routed(backend: Backend) -> Option<(TestApp, TestApp, String)> {
    let primary = TestApp::on(backend, ServerConfig::default()).await?;
    let standin = TestApp::on(backend, ServerConfig::default()).await?;
    let replicas = Replicas::connect(
        std::slice::from_ref(&standin.database_url),
        &PoolSettings::default(),
        ReplicaSettings::default(),
    )
    .await
    .expect("open the read database");
    replicas.check().await;
    let (db, counter) = db::connect(&primary.database_url, &PoolSettings::default()).await.expect("primary");
    let state = AppState::with_config(db, counter, ServerConfig::default()).with_replicas(replicas);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(run(listener, build_router(state), std::future::pending()));
    Some((primary, standin, url))
}

/// Read-only requests read the read database; a request holding a mutation writes to
/// and reads from the primary, whether sent as text or as a persisted query's hash.
async fn routing_by_operation(backend: Backend) {
    let Some((primary, standin, url)) = routed(backend).await else { return };
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let gql = |q: &'static str, v: Value| crate::common::post_graphql(&client, &url, q, v);
    let (p, name) = (pid(7), "project seven");
    crate::common::fixtures::project(&primary.db, p, "on the primary").await;
    crate::common::fixtures::project(&standin.db, p, "on the read database").await;

    let read = gql("query($p: UUID!) { project(id: $p) { name } }", json!({ "p": p })).await;
    assert_eq!(read["data"]["project"]["name"], "on the read database", "{read}");
    let list = gql("{ projectList { edges { node { name } } } }", json!({})).await;
    assert_eq!(list["data"]["projectList"]["edges"][0]["node"]["name"], "on the read database", "{list}");

    // The mutation's own result is read back from the primary.
    const RENAME: &str = "mutation($p: UUID!, $n: String!) { setProjectName(id: $p, name: $n) { name } }";
    let renamed = gql(RENAME, json!({ "p": p, "n": name })).await;
    assert_eq!(renamed["data"]["setProjectName"]["name"], name, "{renamed}");
    assert_eq!(primary.count(&format!("SELECT COUNT(*) AS n FROM project WHERE name = '{name}'")).await, 1);
    assert_eq!(standin.count(&format!("SELECT COUNT(*) AS n FROM project WHERE name = '{name}'")).await, 0);

    // Sent as a persisted query: known as a mutation only once resolved, still primary.
    let hash = crate::operations::sha256_hex(RENAME);
    let ext = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let body = json!({ "query": RENAME, "variables": { "p": p, "n": "again" }, "extensions": ext });
    let r: Value = client.post(format!("{url}/graphql")).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(r["data"]["setProjectName"]["name"], "again", "{r}");
    let by_hash = json!({ "variables": { "p": p, "n": "by hash" }, "extensions": ext });
    let r: Value = client.post(format!("{url}/graphql")).json(&by_hash).send().await.unwrap().json().await.unwrap();
    assert_eq!(r["data"]["setProjectName"]["name"], "by hash", "the result is read from the primary: {r}");

    primary.finish().await;
    standin.finish().await;
}

each_backend!(routing_by_operation);
