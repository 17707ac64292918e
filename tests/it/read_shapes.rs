//! The two statement shapes of batched per-project reads (`store::per_project`): a server
//! with `UNION ALL` branches (one PostgreSQL's and SQLite's) and one with the windowed
//! statement (Citus's) over the same database answer every per-project field alike, with
//! the same number of statements. The Citus tests check the windowed shape on a real
//! coordinator; these check it against the branches on every backend, with the edge
//! cases the demo data lacks: ties, rows without a bucket or entity, scopes, cursors, and
//! one project paged twice in a request.

use entity::metrics_breakdown_point;
use entity::sea_orm_active_enums::TimeGrain;
use metrics_api::http::ServerConfig;
use metrics_api::store::ReadShape;
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::common::TestApp;

const P: [&str; 3] = [
    "00000000-0000-4000-8000-00000000aa01",
    "00000000-0000-4000-8000-00000000aa02",
    "00000000-0000-4000-8000-00000000aa03",
];

const WRITE: &str = r#"mutation($s: [SummaryInput!]!, $b: [BreakdownPointInput!]!, $d: [DrilldownInput!]!) {
    recordSummaries(rows: $s) { inserted }
    upsertBreakdownPoints(points: $b) { inserted }
    upsertDrilldowns(rows: $d) { inserted }
}"#;

/// Rows for three projects: the third has none, the second fewer than a page.
fn rows() -> Value {
    let mut s = Vec::new();
    let mut b = Vec::new();
    let mut d = Vec::new();
    for (n, p) in P[..2].iter().enumerate() {
        let days = if n == 0 { 9 } else { 3 };
        for day in 1..=days {
            let at = format!("2026-03-{day:02}T00:00:00Z");
            s.push(json!({ "projectId": p, "capturedAt": at, "payload": { "day": day } }));
            s.push(json!({ "projectId": p, "capturedAt": at, "scope": { "team": "a" }, "payload": { "team": day } }));
            for state in ["open", "done", "blocked"] {
                b.push(json!({ "projectId": p, "metricKey": "wip", "grain": "DAY", "bucket": at,
                               "dimensionKey": "state", "dimensionValue": state, "value": day }));
            }
            // Two drilldown rows per day share an entity (ties settled by id), in two
            // hours of the day.
            for i in 0..2 {
                d.push(json!({ "projectId": p, "metricKey": "cycle", "entityType": "task",
                               "entityId": format!("00000000-0000-4000-8000-0000000{n}{day:02}00"),
                               "timeBucket": format!("2026-03-{day:02}T0{i}:00:00Z"), "payload": { "day": day, "i": i } }));
            }
        }
        // Snapshot-only breakdown rows, and drilldown rows without a bucket or an entity.
        for state in ["open", "done"] {
            b.push(json!({ "projectId": p, "metricKey": "wip", "dimensionKey": "state", "dimensionValue": state, "value": 1 }));
        }
        for i in 0..3 {
            d.push(json!({ "projectId": p, "metricKey": "cycle", "entityType": "task",
                           "referenceId": format!("loose-{i}"), "payload": { "loose": i } }));
        }
    }
    json!({ "s": s, "b": b, "d": d })
}

/// Every per-project field, for all three projects (one of them twice under aliases).
const READ: &str = r#"query($ids: [UUID!]!, $sAfter: String, $dAfter: String, $tAfter: String) { projects(ids: $ids) {
    id
    summary { capturedAt payload }
    scoped: summary(scope: { team: "a" }, at: "2026-03-02T12:00:00Z") { capturedAt payload }
    summaries(first: 4, after: $sAfter) { edges { cursor node { capturedAt payload } } pageInfo { hasNextPage endCursor } }
    ranged: summaries(first: 2, from: "2026-03-02T00:00:00Z", to: "2026-03-06T00:00:00Z", scope: { team: "a" }) { edges { node { capturedAt } } }
    breakdown(metricKey: "wip", dimensionKey: "state", grain: DAY) { bucket total items { dimensionValue value } }
    snapshot: breakdown(metricKey: "wip", dimensionKey: "state") { bucket items { dimensionValue value } }
    byEntity: drilldown(metricKey: "cycle", entityType: "task", first: 5, after: $dAfter) { edges { cursor node { id referenceId } } pageInfo { hasNextPage } }
    again: drilldown(metricKey: "cycle", entityType: "task", first: 5) { edges { node { id referenceId } } }
    recent: drilldown(metricKey: "cycle", entityType: "task", first: 7, orderBy: TIME_BUCKET_DESC, after: $tAfter) { edges { cursor node { id referenceId } } }
    all: drilldown(metricKey: "cycle", entityType: "task", first: 100, orderBy: TIME_BUCKET_DESC) { edges { node { id referenceId } } }
} }"#;

/// Both servers answer alike, the windowed one with `more` statements than the branches
/// (one per group that pages a project twice); returns the answer.
async fn alike(branches: &TestApp, windowed: &TestApp, vars: Value, more: u64) -> Value {
    let (a, n) = branches.count_statements(branches.data(READ, vars.clone())).await;
    let (b, m) = windowed.count_statements(windowed.data(READ, vars.clone())).await;
    assert_eq!(a, b, "the windowed statements answer otherwise for {vars}");
    assert_eq!(m, n + more, "statements for {vars}");
    a
}

async fn both_shapes_answer_alike(app: &TestApp) {
    let written = app.data(WRITE, rows()).await;
    assert!(written["upsertDrilldowns"]["inserted"].as_u64().unwrap() > 0, "{written}");
    // A row a SQL writer left without a bucket at a grain (the API refuses to write one):
    // the newest bucket is the newest non-null one, in both shapes and on both backends
    // (PostgreSQL sorts NULL first in DESC, SQLite last).
    let stray = metrics_breakdown_point::ActiveModel {
        id: Set(Uuid::from_u128(0xbad)),
        project_id: Set(P[0].parse().unwrap()),
        metric_key: Set("wip".into()),
        time_grain: Set(Some(TimeGrain::Day)),
        time_bucket: Set(None),
        dimension_key: Set("state".into()),
        dimension_value: Set("stray".into()),
        value_numeric: Set(Some(1.0)),
        value_json: Set(None),
        computed_at: Set(chrono::Utc::now()),
    };
    stray.insert(&app.db).await.expect("a row without a bucket");
    let windowed = app.beside(ServerConfig { read_shape: ReadShape::Windowed, ..ServerConfig::default() }).await;

    let first = alike(app, &windowed, json!({ "ids": P }), 0).await;
    let p0 = &first["projects"][0];
    assert_eq!(p0["summary"]["payload"], json!({ "day": 9 }), "{p0:#}");
    assert_eq!(p0["scoped"]["payload"], json!({ "team": 2 }), "{p0:#}");
    assert_eq!(p0["ranged"]["edges"].as_array().unwrap().len(), 2, "{p0:#}");
    assert_eq!(p0["breakdown"]["bucket"], "2026-03-09T00:00:00Z", "{p0:#}");
    assert_eq!(p0["breakdown"]["items"].as_array().unwrap().len(), 3, "{p0:#}");
    assert_eq!(p0["snapshot"]["items"].as_array().unwrap().len(), 2, "{p0:#}");
    assert_eq!(p0["all"]["edges"].as_array().unwrap().len(), 21, "{p0:#}");
    assert!(first["projects"][2]["summary"].is_null(), "the third project has no rows");

    // Second pages: every project after the first's cursor (the others have no such
    // rows after it, or read from their own position), and the unpaged alias beside it:
    // one project paged at two positions in one request.
    let cursor = |v: &Value| v["edges"].as_array().unwrap().last().unwrap()["cursor"].clone();
    let vars = json!({ "ids": P, "sAfter": cursor(&p0["summaries"]), "dAfter": cursor(&p0["byEntity"]),
                       "tAfter": cursor(&p0["recent"]) });
    // `byEntity` and `again` are one group (same filter and size) holding each project
    // twice: the windowed shape takes two statements for it.
    let second = alike(app, &windowed, vars, 1).await;
    let s0 = &second["projects"][0];
    assert_eq!(s0["summaries"]["edges"][0]["node"]["payload"], json!({ "day": 5 }), "{s0:#}");
    assert_ne!(s0["byEntity"]["edges"], p0["byEntity"]["edges"], "a second page");
    assert_eq!(s0["again"], p0["again"], "the unpaged alias is still the first page");

    // The same project three times in one batch of ids.
    alike(app, &windowed, json!({ "ids": [P[0], P[1], P[0]] }), 0).await;
    windowed.finish().await;
}

crate::both_backends!(both_shapes_answer_alike);
