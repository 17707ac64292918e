//! Several API instances on one PostgreSQL database (PostgreSQL only: an SQLite file is
//! served by one process): two `serve` processes, requests and writes alternating
//! between them. Nothing kept in memory may change an answer (cursors, ETags, writes
//! seen by the other instance); persisted queries are per instance, and a client that
//! gets `PERSISTED_QUERY_NOT_FOUND` resends the text, as the protocol says. Retention
//! runs on one instance at a time (an advisory lock), and a stopped instance drains the
//! requests in flight.

use std::time::Duration;

use crate::common::fixtures::{pid, t};
use crate::common::serve::Served;
use crate::common::TestApp;
use sea_orm::sqlx::{Connection, PgConnection};
use serde_json::{json, Value};

const UPSERT: &str = "mutation($p: [TrendPointInput!]!) { upsertTrendPoints(points: $p) { inserted updated } }";

const READ: &str = r#"query($p: UUID!) { project(id: $p) { trend(metricKey: "done", grain: HOUR,
    from: "2026-03-01T00:00:00Z", to: "2026-03-02T00:00:00Z") { points { value } } } }"#;

const PAGE: &str = "query($after: String) { projectList(first: 2, after: $after) { edges { node { id } } pageInfo { endCursor hasNextPage } } }";

/// An hourly point `hour` hours after 2026-03-01.
fn point(p: uuid::Uuid, hour: i64, value: f64) -> Value {
    let bucket = (t("2026-03-01T00:00:00Z") + chrono::Duration::hours(hour)).to_rfc3339();
    json!({ "projectId": p, "metricKey": "done", "grain": "HOUR", "bucket": bucket, "value": value })
}

fn values(data: &Value) -> Vec<f64> {
    data["project"]["trend"]["points"].as_array().unwrap().iter().filter_map(|p| p["value"].as_f64()).collect()
}

/// The session lock that keeps every instance's retention loop waiting.
async fn hold_retention_lock(url: &str) -> PgConnection {
    let mut conn = PgConnection::connect(url).await.expect("lock session");
    sea_orm::sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(metrics_api::advisory::RETENTION)
        .execute(&mut conn)
        .await
        .expect("take the retention lock");
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_one_database() {
    let Some(app) = TestApp::postgres().await else { return };
    let lock = hold_retention_lock(&app.database_url).await;
    let args = ["--retention-every", "300ms"];
    let a = Served::start(&app.database_url, &args).await;
    let mut b = Served::start(&app.database_url, &args).await;

    // Writes on one instance are read on the other, turn by turn.
    let p = pid(1);
    for i in 0..6 {
        let (writer, reader) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let written = writer.data(UPSERT, json!({ "p": [point(p, 0, i as f64)] })).await;
        assert_eq!(written["upsertTrendPoints"][if i == 0 { "inserted" } else { "updated" }], 1);
        assert_eq!(values(&reader.data(READ, json!({ "p": p })).await), vec![i as f64], "turn {i}");
    }

    // A listing paged across instances: cursors carry their state.
    for n in 2..=5 {
        a.data(UPSERT, json!({ "p": [point(pid(n), 0, 1.0)] })).await;
    }
    let (mut ids, mut after, mut turn) = (Vec::new(), Value::Null, 0);
    loop {
        let api = if turn % 2 == 0 { &a } else { &b };
        let page = api.data(PAGE, json!({ "after": after })).await;
        let list = &page["projectList"];
        ids.extend(list["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].as_str().unwrap().to_owned()));
        if list["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = list["pageInfo"]["endCursor"].clone();
        turn += 1;
    }
    let want: Vec<String> = (1..=5).map(|n| pid(n).to_string()).collect();
    assert_eq!(ids, want, "every project once, in order, across instances");

    // ETags depend on the answer only: one instance's tag validates on the other.
    let url = |api: &Served| format!("{}/graphql?query=%7BmetricCatalog%7Bkey%7D%7D", api.url);
    let first = a.client.get(url(&a)).send().await.unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let again = b.client.get(url(&b)).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);

    // Persisted queries are per instance: B has not seen A's, and learns it on resend.
    let q = "query Catalog { metricCatalog { key } }";
    let ext = json!({ "persistedQuery": { "version": 1, "sha256Hash": crate::operations::sha256_hex(q) } });
    let send = |api: &Served, body: Value| {
        let r = api.client.post(format!("{}/graphql", api.url)).json(&body).send();
        async { r.await.unwrap().json::<Value>().await.unwrap() }
    };
    assert!(send(&a, json!({ "query": q, "extensions": ext })).await["errors"].is_null());
    assert!(send(&a, json!({ "extensions": ext })).await["errors"].is_null());
    let miss = send(&b, json!({ "extensions": ext })).await;
    assert_eq!(miss["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND", "{miss}");
    assert!(send(&b, json!({ "query": q, "extensions": ext })).await["errors"].is_null());
    assert!(send(&b, json!({ "extensions": ext })).await["errors"].is_null());

    // Retention: while another session holds the lock, neither instance runs it; once
    // released, one does.
    for api in [&a, &b] {
        assert!(api.log().contains("retention skipped: another instance is running it"), "{}", api.log());
        assert!(!api.log().contains("retention run finished"), "{}", api.log());
    }
    lock.close().await.expect("release the lock");
    let mut ran = false;
    for _ in 0..100 {
        ran = a.log().contains("retention run finished") || b.log().contains("retention run finished");
        if ran {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ran, "a retention run after the lock is released:\n{}\n{}", a.log(), b.log());
    // Taken again (after the run in progress, if any): the rows below stay as written.
    let _lock = hold_retention_lock(&app.database_url).await;

    // Stopping B while it writes 10,000 rows: the request completes before it exits.
    let q = pid(9);
    let rows: Vec<Value> = (0..10_000).map(|h| point(q, h, h as f64)).collect();
    let big = {
        let (client, url) = (b.client.clone(), b.url.clone());
        tokio::spawn(async move { crate::common::post_graphql(&client, &url, UPSERT, json!({ "p": rows })).await })
    };
    // In flight for sure: its transaction is writing (a sleep would race on a busy machine).
    let writing = "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database()
        AND query LIKE 'INSERT INTO metrics_trend_point%' AND state <> 'idle'";
    for _ in 0..2000 {
        if app.count(writing).await > 0 || big.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    b.terminate();
    let answer = big.await.expect("the write's answer");
    assert_eq!(answer["data"]["upsertTrendPoints"]["inserted"], 10_000, "{answer}");
    assert!(b.exit_status(Duration::from_secs(30)).await.success(), "a clean exit on SIGTERM");
    let log = b.log();
    let (signal, served) = (log.find("draining requests"), log.rfind("request served"));
    assert!(signal.is_some() && served > signal, "the write was answered after the signal, while draining:\n{log}");
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) AS n FROM metrics_trend_point WHERE project_id = '{q}'")).await,
        10_000
    );
    // A keeps serving, and reads what B wrote.
    let first_day: Vec<f64> = (0..24).map(f64::from).collect();
    assert_eq!(values(&a.data(READ, json!({ "p": q })).await), first_day);

    drop(a);
    drop(b);
    app.finish().await;
}
