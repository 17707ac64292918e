//! The write side on both backends: idempotent upserts, updates, all-or-nothing batches,
//! validation with row indexes, limits, concurrent writers, consistent reads, NDJSON.

use std::io::Write;

use crate::common::fixtures::pid;
use crate::common::TestApp;
use metrics_api::ingest::{self, BatchLimits, TrendPointInput};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};

const UPSERT_TRENDS: &str =
    "mutation($p: [TrendPointInput!]!) { upsertTrendPoints(points: $p) { inserted updated refreshed unchanged } }";

/// The compute time of the rows of the first run.
const COMPUTED: &str = "2026-04-01T00:00:00Z";

fn point(p: uuid::Uuid, day: u32, value: f64) -> Value {
    json!({ "projectId": p, "metricKey": "done", "grain": "DAY", "bucket": format!("2026-03-{day:02}T00:00:00Z"),
            "dimensions": {"team": "a", "area": "x"}, "value": value, "valueJson": {"v": value}, "computedAt": COMPUTED })
}

/// `point`, computed again at `computed`.
fn recomputed(p: uuid::Uuid, day: u32, value: f64, computed: &str) -> Value {
    let mut v = point(p, day, value);
    v["computedAt"] = json!(computed);
    v
}

const READ: &str = r#"query($p: UUID!) { project(id: $p) { name trend(metricKey: "done", grain: DAY,
    from: "2026-03-01T00:00:00Z", to: "2026-04-01T00:00:00Z", dimensions: {area: "x", team: "a"}) { points { bucket value valueJson computedAt } } } }"#;

async fn same_batch_twice_changes_nothing_and_new_values_update(app: &TestApp) {
    let p = pid(1);
    let batch: Vec<Value> = (1..=5).map(|d| point(p, d, d as f64)).collect();
    let first = app.data(UPSERT_TRENDS, json!({ "p": batch })).await;
    assert_eq!(first["upsertTrendPoints"], json!({"inserted": 5, "updated": 0, "refreshed": 0, "unchanged": 0}));
    let before = app.data(READ, json!({ "p": p })).await;
    assert_eq!(before["project"]["trend"]["points"].as_array().unwrap().len(), 5, "an unknown project is registered");
    // Dimension keys in another order name the same series: still unchanged.
    let again: Vec<Value> = (1..=5)
        .map(|d| {
            let mut v = point(p, d, d as f64);
            v["dimensions"] = json!({"area": "x", "team": "a"});
            v
        })
        .collect();
    let second = app.data(UPSERT_TRENDS, json!({ "p": again })).await;
    assert_eq!(second["upsertTrendPoints"], json!({"inserted": 0, "updated": 0, "refreshed": 0, "unchanged": 5}));
    assert_eq!(app.count_rows("metrics_trend_point").await, 5);
    let after = app.data(READ, json!({ "p": p })).await;
    assert_eq!(before, after, "computedAt and values untouched by a replay");

    // A new value, the same value computed again, the same row again, a new key.
    let later = "2026-04-02T00:00:00Z";
    let changed = vec![
        recomputed(p, 2, 20.0, later),
        recomputed(p, 3, 3.0, later),
        point(p, 4, 4.0),
        recomputed(p, 9, 9.0, later),
    ];
    let third = app.data(UPSERT_TRENDS, json!({ "p": changed })).await;
    assert_eq!(third["upsertTrendPoints"], json!({"inserted": 1, "updated": 1, "refreshed": 1, "unchanged": 1}));
    let now = app.data(READ, json!({ "p": p })).await;
    let pts = now["project"]["trend"]["points"].as_array().unwrap();
    assert_eq!(pts.len(), 6);
    assert_eq!(pts[1]["value"], json!(20.0));
    assert_eq!(pts[1]["valueJson"], json!({"v": 20.0}));
    assert_eq!(pts[1]["computedAt"], json!(later), "an update moves computedAt");
    assert_eq!(
        (&pts[2]["value"], &pts[2]["computedAt"]),
        (&json!(3.0), &json!(later)),
        "a refresh moves only computedAt"
    );
    assert_eq!(pts[3]["computedAt"], before["project"]["trend"]["points"][3]["computedAt"]);
    // An older computedAt with the same value refreshes nothing.
    let older = app.data(UPSERT_TRENDS, json!({ "p": [point(p, 3, 3.0)] })).await;
    assert_eq!(older["upsertTrendPoints"], json!({"inserted": 0, "updated": 0, "refreshed": 0, "unchanged": 1}));
    // Without computedAt a row is computed at the time of the write: a re-send refreshes.
    let mut undated = point(p, 5, 5.0);
    undated.as_object_mut().unwrap().remove("computedAt");
    let d = app.data(UPSERT_TRENDS, json!({ "p": [undated] })).await;
    assert_eq!(d["upsertTrendPoints"], json!({"inserted": 0, "updated": 0, "refreshed": 1, "unchanged": 0}));

    // Names, the other tables.
    let d = app
        .data(r#"mutation($p: UUID!) { setProjectName(id: $p, name: "Atlas") { id name } }"#, json!({ "p": p }))
        .await;
    assert_eq!(d["setProjectName"]["name"], "Atlas");
    let other = r#"mutation($p: UUID!) {
        recordSummaries(rows: [{projectId: $p, capturedAt: "2026-03-01T06:00:00+02:00", scope: {phase: "b"}, payload: {open: 3}}]) { inserted }
        upsertBreakdownPoints(points: [{projectId: $p, metricKey: "wip", grain: DAY, bucket: "2026-03-01T00:00:00Z", dimensionKey: "state", dimensionValue: "open", value: 2},
                                       {projectId: $p, metricKey: "wip", dimensionKey: "state", dimensionValue: "open", value: 1}]) { inserted }
        upsertDrilldowns(rows: [{projectId: $p, metricKey: "cycle", entityType: "task", referenceId: "T-1", payload: {h: 1}},
                                {projectId: $p, metricKey: "cycle", entityType: "task", entityId: "00000000-0000-4000-8000-000000000001", timeBucket: "2026-03-01T00:00:00Z", payload: {h: 2}}]) { inserted }
    }"#;
    let d = app.data(other, json!({ "p": p })).await;
    assert_eq!(
        d,
        json!({"recordSummaries": {"inserted": 1}, "upsertBreakdownPoints": {"inserted": 2}, "upsertDrilldowns": {"inserted": 2}})
    );
    let d = app.data(other, json!({ "p": p })).await;
    assert_eq!(d["upsertDrilldowns"]["inserted"], 0);
    let read = r#"query($p: UUID!) { project(id: $p) { name summary(scope: {phase: "b"}) { capturedAt payload }
        breakdown(metricKey: "wip", dimensionKey: "state") { total }
        drilldown(metricKey: "cycle", entityType: "task") { edges { node { referenceId payload } } } } }"#;
    let d = app.data(read, json!({ "p": p })).await;
    assert_eq!(d["project"]["name"], "Atlas");
    assert_eq!(d["project"]["summary"]["payload"], json!({"open": 3}));
    assert_eq!(d["project"]["breakdown"]["total"], json!(1.0));
    assert_eq!(d["project"]["drilldown"]["edges"].as_array().unwrap().len(), 2);
}

async fn a_bad_row_rejects_the_whole_batch_with_its_index(app: &TestApp) {
    let p = pid(1);
    let good = || point(p, 1, 1.0);
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({ "projectId": p, "metricKey": "done", "grain": "DAY", "bucket": "2026-03-01T12:00:00Z", "value": 1 }),
            "bucket",
        ),
        (
            json!({ "projectId": p, "metricKey": "done", "grain": "WEEK", "bucket": "2026-03-04T00:00:00Z", "value": 1 }),
            "bucket",
        ),
        (
            json!({ "projectId": p, "metricKey": "done", "grain": "MONTH", "bucket": "2026-03-02T00:00:00Z", "value": 1 }),
            "bucket",
        ),
        (
            json!({ "projectId": p, "metricKey": "", "grain": "DAY", "bucket": "2026-03-01T00:00:00Z", "value": 1 }),
            "metricKey",
        ),
        (
            json!({ "projectId": p, "metricKey": "x".repeat(201), "grain": "DAY", "bucket": "2026-03-01T00:00:00Z" }),
            "metricKey",
        ),
        (
            json!({ "projectId": p, "metricKey": "done", "grain": "DAY", "bucket": "2026-03-01T00:00:00Z", "dimensions": [1] }),
            "dimensions",
        ),
        (good(), "natural key"),
    ];
    for (bad, field) in cases {
        let batch = vec![good(), point(p, 2, 2.0), bad];
        let body = app.gql(UPSERT_TRENDS, json!({ "p": batch })).await;
        let err = &body["errors"][0];
        assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT", "{body}");
        assert_eq!(err["extensions"]["row"], 2, "{body}");
        assert_eq!(err["extensions"]["field"], field, "{body}");
        assert!(err["message"].as_str().unwrap().contains("row 2"), "{body}");
        assert_eq!(app.count_rows("metrics_trend_point").await, 0, "nothing of a rejected batch is written");
        assert_eq!(app.count_rows("project").await, 0, "not even the project");
    }
    let drill = r#"mutation($r: [DrilldownInput!]!) { upsertDrilldowns(rows: $r) { inserted } }"#;
    for (row, field) in [
        (json!({"projectId": p, "metricKey": "m", "entityType": "task", "payload": {}}), "entityId"),
        (
            json!({"projectId": p, "metricKey": "m", "entityType": "task", "referenceId": "r", "entityId": p, "payload": {}}),
            "entityId",
        ),
        (
            json!({"projectId": p, "metricKey": "m", "entityType": "task", "referenceId": "r", "payload": [1]}),
            "payload",
        ),
    ] {
        let body = app.gql(drill, json!({ "r": [row] })).await;
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
        assert_eq!(body["errors"][0]["extensions"]["row"], 0, "{body}");
    }
    let bd = r#"mutation($r: [BreakdownPointInput!]!) { upsertBreakdownPoints(points: $r) { inserted } }"#;
    let body = app.gql(bd, json!({ "r": [{"projectId": p, "metricKey": "m", "grain": "DAY", "dimensionKey": "k", "dimensionValue": "v"}] })).await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "bucket", "{body}");
    let sm = r#"mutation($r: [SummaryInput!]!) { recordSummaries(rows: $r) { inserted } }"#;
    let body = app
        .gql(sm, json!({ "r": [{"projectId": p, "capturedAt": "2026-03-01T00:00:00Z", "payload": {}, "scope": "x"}] }))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "scope", "{body}");
    // A value GraphQL cannot carry is refused by the schema itself.
    let body = app.gql(UPSERT_TRENDS, json!({ "p": [{"projectId": "not-a-uuid", "metricKey": "m", "grain": "DAY", "bucket": "2026-03-01T00:00:00Z"}] })).await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("UUID"), "{body}");
    for table in ["metrics_summary", "metrics_breakdown_point", "metrics_drilldown", "project"] {
        assert_eq!(app.count_rows(table).await, 0, "{table}");
    }
}

async fn limits_and_get_are_enforced(app: &TestApp) {
    let p = pid(1);
    let rows: Vec<Value> = (0..10_001).map(|i| point(p, 1 + (i % 28) as u32, i as f64)).collect();
    let body = app.gql(UPSERT_TRENDS, json!({ "p": rows })).await;
    let err = &body["errors"][0];
    assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT");
    assert!(err["message"].as_str().unwrap().contains("`points` holds 10001 rows"), "{err}");

    let huge = "x".repeat(17 * 1024 * 1024);
    let r = app
        .client
        .post(format!("{}/graphql", app.url))
        .header("content-type", "application/json")
        .body(json!({ "query": "{ __typename }", "variables": { "pad": huge } }).to_string())
        .send()
        .await;
    // The server answers 413 from the Content-Length and closes the connection; a client
    // still writing the body may see the close (a broken pipe) before the answer.
    match r {
        Ok(r) => assert_eq!(r.status(), 413, "a body over 16 MiB"),
        Err(e) => assert!(e.is_request(), "refused while sending: {e}"),
    }

    let q = "mutation { setProjectName(id: \"00000000-0000-4000-8000-000000000001\", name: \"x\") { id } }";
    let r = app.client.get(format!("{}/graphql", app.url)).query(&[("query", q)]).send().await.unwrap();
    assert_eq!(r.status(), 405, "no mutation over GET");
    assert_eq!(app.count_rows("project").await, 0);
}

/// Eight writers upsert overlapping batches at once: every key lands exactly once, with
/// its value, and the inserted counts add up to the number of keys.
async fn concurrent_writers_converge(app: &TestApp) {
    let p = pid(1);
    let value = |k: u32| (k * 7 % 13) as f64;
    let input = |k: u32| TrendPointInput {
        project_id: p,
        metric_key: format!("m{}", k % 5),
        time_grain: entity::sea_orm_active_enums::TimeGrain::Hour,
        time_bucket: crate::common::fixtures::t("2026-03-01T00:00:00Z") + chrono::Duration::hours(i64::from(k)),
        dimensions: None,
        value_numeric: Some(value(k)),
        value_json: None,
        computed_at: None,
    };
    let mut tasks = Vec::new();
    for w in 0..8u32 {
        let db = app.db.clone();
        // Writer w covers keys [w*100, w*100 + 300): each key is written by up to 3 writers,
        // in different orders (odd writers send theirs reversed).
        let mut keys: Vec<u32> = (w * 100..w * 100 + 300).collect();
        if w % 2 == 1 {
            keys.reverse();
        }
        let batch: Vec<TrendPointInput> = keys.into_iter().map(input).collect();
        tasks.push(tokio::spawn(async move { ingest::upsert_trend_points(&db, batch, BatchLimits::default()).await }));
    }
    let mut inserted = 0;
    for t in tasks {
        let counts = t.await.unwrap().expect("no writer fails");
        assert_eq!(counts.total(), 300);
        inserted += counts.inserted;
    }
    let keys = 700 + 300;
    assert_eq!(inserted, keys as u64, "every key inserted exactly once");
    assert_eq!(app.count_rows("metrics_trend_point").await, keys);
    let rows = app
        .db
        .query_all_raw(Statement::from_string(
            app.db_backend(),
            "SELECT metric_key, value_numeric FROM metrics_trend_point",
        ))
        .await
        .unwrap();
    let total: f64 = rows.iter().map(|r| r.try_get::<f64>("", "value_numeric").unwrap()).sum();
    let want: f64 = (0..keys as u32).map(value).sum();
    assert_eq!(total, want);
}

/// A reader during ingest sees a whole batch or none of it.
async fn reads_during_ingest_see_whole_batches(app: &TestApp) {
    let p = pid(1);
    let db = app.db.clone();
    let writer = tokio::spawn(async move {
        for v in 1..=15 {
            let batch: Vec<TrendPointInput> = (0..200)
                .map(|h| TrendPointInput {
                    project_id: p,
                    metric_key: "load".into(),
                    time_grain: entity::sea_orm_active_enums::TimeGrain::Hour,
                    time_bucket: crate::common::fixtures::t("2026-03-01T00:00:00Z") + chrono::Duration::hours(h),
                    dimensions: None,
                    value_numeric: Some(f64::from(v)),
                    value_json: None,
                    computed_at: None,
                })
                .collect();
            ingest::upsert_trend_points(&db, batch, BatchLimits::default()).await.unwrap();
        }
    });
    let q = r#"query($p: UUID!) { project(id: $p) { trend(metricKey: "load", grain: HOUR, from: "2026-03-01T00:00:00Z", to: "2026-03-10T00:00:00Z") { points { value } } } }"#;
    let mut reads = 0;
    while !writer.is_finished() || reads == 0 {
        let body = app.gql(q, json!({ "p": p })).await;
        if body["data"]["project"].is_null() {
            continue; // the project is not registered yet
        }
        let vals: Vec<f64> = body["data"]["project"]["trend"]["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["value"].as_f64().unwrap())
            .collect();
        assert!(vals.is_empty() || vals.len() == 200, "half a batch: {} points", vals.len());
        assert!(vals.windows(2).all(|w| w[0] == w[1]), "values of two batches mixed: {vals:?}");
        reads += 1;
    }
    writer.await.unwrap();
}

fn ndjson_line(p: uuid::Uuid, i: usize, bad: bool) -> String {
    let day = crate::common::fixtures::t("2024-01-01T00:00:00Z") + chrono::Duration::days(i as i64);
    let bucket = if bad { day + chrono::Duration::minutes(30) } else { day };
    json!({ "kind": "trend", "project_id": p, "metric_key": format!("m{}", i % 3), "time_grain": "day",
            "time_bucket": bucket.to_rfc3339(),
            "value_numeric": i, "computed_at": "2026-03-01T00:00:00Z" })
    .to_string()
}

fn write_file(path: &std::path::Path, lines: &[String]) {
    let mut f = std::fs::File::create(path).unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

fn run_ingest(url: &str, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_metrics-api"))
        .args(["ingest", "--batch-size", "100"])
        .args(args)
        .env("DATABASE_URL", url)
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

async fn dump(app: &TestApp) -> Vec<(String, f64, String)> {
    let rows = app
        .db
        .query_all_raw(Statement::from_string(
            app.db_backend(),
            "SELECT metric_key, value_numeric, computed_at FROM metrics_trend_point ORDER BY id",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.try_get("", "metric_key").unwrap(),
                r.try_get("", "value_numeric").unwrap(),
                r.try_get::<chrono::DateTime<chrono::Utc>>("", "computed_at").unwrap().to_rfc3339(),
            )
        })
        .collect()
}

/// NDJSON: a bad line 500 stops the run with its line number, the batches before it
/// stay, and a re-run after the fix ends in the same state as one clean run.
async fn ndjson_stops_at_a_bad_line_and_resumes(app: &TestApp) {
    let p = pid(1);
    let dir = std::env::temp_dir();
    // Unique per test case: the PostgreSQL cases of both layouts run at the same time.
    let tag = format!("{}-{:?}-{}", std::process::id(), app.backend, crate::common::next_id());
    let bad_path = dir.join(format!("metrics-ingest-bad-{tag}.ndjson"));
    let good_path = dir.join(format!("metrics-ingest-good-{tag}.ndjson"));
    let good: Vec<String> = (0..300)
        .map(|i| ndjson_line(p, i, false))
        .chain(std::iter::once(String::new()))
        .chain((300..900).map(|i| ndjson_line(p, i, false)))
        .collect();
    let mut bad = good.clone();
    bad[499] = ndjson_line(p, 498, true);
    write_file(&bad_path, &bad);
    write_file(&good_path, &good);

    let (ok, out, err) = run_ingest(&app.database_url, &[bad_path.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains(&format!("{}:500:", bad_path.display())) && err.contains("time_bucket"), "{err}");
    assert!(err.contains("through line 499"), "{err}");
    assert!(out.contains("ingested 498 rows"), "{out}");
    assert_eq!(app.count_rows("metrics_trend_point").await, 498, "lines 1 to 499 (one blank) are committed");

    let (ok, out, err) = run_ingest(&app.database_url, &[good_path.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("ingested 900 rows (inserted 402, updated 0, refreshed 0, unchanged 498)"), "{out}");
    let resumed = dump(app).await;
    assert_eq!(resumed.len(), 900);

    // The same file into a fresh database of the same backend: the same final state.
    let fresh = match app.backend {
        crate::common::Backend::Sqlite => TestApp::sqlite().await,
        crate::common::Backend::Postgres => TestApp::postgres().await.unwrap(),
    };
    let (ok, _, err) = run_ingest(&fresh.database_url, &[good_path.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(dump(&fresh).await, resumed);
    // Standard input works too.
    let (ok, _, _) = {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_metrics-api"))
            .args(["ingest", "-"])
            .env("DATABASE_URL", &fresh.database_url)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(good[..10].join("\n").as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(stdout.contains("unchanged 10"), "{stdout}");
        (out.status.success(), stdout, String::new())
    };
    assert!(ok);
    fresh.finish().await;
    let _ = std::fs::remove_file(bad_path);
    let _ = std::fs::remove_file(good_path);
}

both_backends!(
    same_batch_twice_changes_nothing_and_new_values_update,
    a_bad_row_rejects_the_whole_batch_with_its_index,
    limits_and_get_are_enforced,
    concurrent_writers_converge,
    reads_during_ingest_see_whole_batches,
    ndjson_stops_at_a_bad_line_and_resumes,
);

/// Strict project registration: an unknown project refuses the batch, naming the row and
/// `projectId`; nothing is written. A registered project is written as usual.
async fn strict_registration_refuses_unknown_projects(backend: crate::common::Backend) {
    use metrics_api::ingest::ProjectRegistration;
    let mut config = metrics_api::http::ServerConfig::default();
    config.schema.batch_limits.registration = ProjectRegistration::Strict;
    let Some(app) = TestApp::on(backend, config).await else { return };
    let (known, typo) = (pid(1), pid(2));
    crate::common::fixtures::project(&app.db, known, "host project").await;
    let body = app.gql(UPSERT_TRENDS, json!({ "p": [point(known, 1, 1.0), point(typo, 2, 2.0)] })).await;
    let err = &body["errors"][0];
    assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT", "[{backend:?}] {body}");
    assert_eq!((&err["extensions"]["row"], &err["extensions"]["field"]), (&json!(1), &json!("projectId")), "{body}");
    assert!(err["message"].as_str().unwrap().contains(&typo.to_string()), "{body}");
    assert_eq!(app.count_rows("metrics_trend_point").await, 0, "nothing of the batch is written");
    assert_eq!(app.count_rows("project").await, 1, "the typo is not registered");
    let d = app.data(UPSERT_TRENDS, json!({ "p": [point(known, 1, 1.0)] })).await;
    assert_eq!(d["upsertTrendPoints"]["inserted"], 1);

    // The NDJSON command, with the setting from the environment: the refused line named.
    let path = std::env::temp_dir().join(format!("metrics-strict-{}-{backend:?}.ndjson", std::process::id()));
    write_file(&path, &[ndjson_line(known, 0, false), ndjson_line(typo, 1, false)]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_metrics-api"))
        .args(["ingest", path.to_str().unwrap()])
        .env("DATABASE_URL", &app.database_url)
        .env("PROJECT_REGISTRATION", "strict")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains(&format!("{}:2:", path.display())) && err.contains("project_id"), "{err}");
    assert_eq!(app.count_rows("project").await, 1);
    let _ = std::fs::remove_file(path);
    app.finish().await;
}

/// The same natural key on two lines of one file: the last line wins, whatever
/// `--batch-size` (observation 6 of issue 12).
async fn ndjson_repeated_key_last_line_wins_whatever_the_batch_size(app: &TestApp) {
    let p = pid(1);
    let line = |v: f64| {
        json!({ "kind": "trend", "project_id": p, "metric_key": "m", "time_grain": "day",
                "time_bucket": "2026-03-01T00:00:00Z", "value_numeric": v, "computed_at": "2026-03-02T00:00:00Z" })
        .to_string()
    };
    let path = std::env::temp_dir().join(format!(
        "metrics-repeat-{}-{:?}-{}.ndjson",
        std::process::id(),
        app.backend,
        crate::common::next_id()
    ));
    write_file(&path, &[line(1.0), ndjson_line(p, 5, false), line(2.0)]);
    let mut states = Vec::new();
    for size in ["1", "2", "100"] {
        let fresh = match app.backend {
            crate::common::Backend::Sqlite => TestApp::sqlite().await,
            crate::common::Backend::Postgres => TestApp::postgres().await.unwrap(),
        };
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_metrics-api"))
            .args(["ingest", "--batch-size", size, path.to_str().unwrap()])
            .env("DATABASE_URL", &fresh.database_url)
            .output()
            .unwrap();
        assert!(out.status.success(), "--batch-size {size}: {}", String::from_utf8_lossy(&out.stderr));
        let rows: Vec<(String, f64, String)> =
            dump(&fresh).await.into_iter().map(|(m, v, _)| (m, v, String::new())).collect();
        states.push(rows);
        fresh.finish().await;
    }
    assert_eq!(states[0].len(), 2, "[{:?}] {:?}", app.backend, states[0]);
    assert!(states[0].iter().any(|(m, v, _)| m == "m" && *v == 2.0), "the last line wins: {:?}", states[0]);
    assert!(states.iter().all(|s| *s == states[0]), "{states:?}");
    let _ = std::fs::remove_file(path);
}

each_backend!(strict_registration_refuses_unknown_projects);
both_backends!(ndjson_repeated_key_last_line_wins_whatever_the_batch_size);

/// Auto registration into a host `project` with a NOT NULL column without a default: the
/// batch is refused with the row and `projectId` named, not an internal error.
async fn auto_registration_into_a_host_table_without_defaults(app: &TestApp) {
    let sql = match app.backend {
        crate::common::Backend::Postgres => "ALTER TABLE project ADD COLUMN owner text NOT NULL",
        // SQLite cannot add a NOT NULL column without a default: rebuild the table.
        crate::common::Backend::Sqlite => {
            "PRAGMA foreign_keys = OFF; DROP TABLE project; \
             CREATE TABLE project (id uuid_text NOT NULL PRIMARY KEY, name text, created_at timestamp_with_timezone_text NOT NULL DEFAULT CURRENT_TIMESTAMP, owner text NOT NULL)"
        }
    };
    app.db.execute_unprepared(sql).await.unwrap();
    let body = app.gql(UPSERT_TRENDS, json!({ "p": [point(pid(1), 1, 1.0)] })).await;
    let err = &body["errors"][0];
    assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT", "[{:?}] {body}", app.backend);
    assert_eq!((&err["extensions"]["row"], &err["extensions"]["field"]), (&json!(0), &json!("projectId")), "{body}");
    assert!(err["message"].as_str().unwrap().contains("strict project registration"), "{body}");
    assert_eq!(app.count_rows("metrics_trend_point").await, 0);
}

both_backends!(auto_registration_into_a_host_table_without_defaults);
