//! Every statement the read API runs stays on the spec's indexes (PostgreSQL).
//!
//! A generated dataset big enough for the planner to prefer an index on its own (a
//! million trend points, half a million drilldown rows), the dashboard queries through
//! HTTP with every statement recorded, then `EXPLAIN` of each recorded statement with its
//! own parameters: no sequential scan of a metrics table, and the expected index by name.

use std::collections::BTreeSet;

use crate::common::TestApp;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};

/// The dataset, generated server-side (`generate_series`), with ids from `md5`.
const DATASET: &[&str] = &[
    "INSERT INTO project (id, name) SELECT md5('p' || i)::uuid, 'project ' || i FROM generate_series(1, 250) i",
    "INSERT INTO metrics_trend_point (id, project_id, metric_key, time_grain, time_bucket, dimensions, value_numeric, computed_at)
     SELECT md5('t' || p || '-' || m || '-' || h)::uuid, md5('p' || p)::uuid, 'metric_' || m, 'hour',
            timestamptz '2026-01-01' + h * interval '1 hour',
            CASE WHEN h % 2 = 0 THEN '{}'::jsonb ELSE jsonb_build_object('team', 'team_' || (h % 3)) END,
            (p * m + h) % 97, now()
     FROM generate_series(1, 250) p, generate_series(1, 4) m, generate_series(0, 999) h",
    "INSERT INTO metrics_trend_point (id, project_id, metric_key, time_grain, time_bucket, dimensions, value_numeric, computed_at)
     SELECT md5('td' || p || '-' || m || '-' || d)::uuid, md5('p' || p)::uuid, 'metric_' || m, 'day',
            timestamptz '2026-01-01' + d * interval '1 day', '{}'::jsonb, d, now()
     FROM generate_series(1, 250) p, generate_series(1, 4) m, generate_series(0, 89) d",
    "INSERT INTO metrics_breakdown_point (id, project_id, metric_key, time_grain, time_bucket, dimension_key, dimension_value, value_numeric, computed_at)
     SELECT md5('b' || p || '-' || d || '-' || s)::uuid, md5('p' || p)::uuid, 'wip', 'day', timestamptz '2026-01-01' + d * interval '1 day',
            'state', 'state_' || s, s, now()
     FROM generate_series(1, 250) p, generate_series(0, 89) d, generate_series(1, 4) s",
    "INSERT INTO metrics_drilldown (id, project_id, metric_key, entity_type, entity_id, reference_id, time_bucket, payload, computed_at)
     SELECT md5('d' || p || '-' || e)::uuid, md5('p' || p)::uuid, 'cycle', 'task',
            CASE WHEN e % 10 = 0 THEN NULL ELSE md5('e' || e)::uuid END,
            CASE WHEN e % 10 = 0 THEN 'ref-' || e END,
            timestamptz '2026-01-01' + (e % 90) * interval '1 day', '{}'::jsonb, now()
     FROM generate_series(1, 250) p, generate_series(1, 2000) e",
    "INSERT INTO metrics_summary (id, project_id, captured_at, scope, payload)
     SELECT md5('s' || p || '-' || d)::uuid, md5('p' || p)::uuid, timestamptz '2026-01-01 06:00' + d * interval '1 day', NULL, '{}'::jsonb
     FROM generate_series(1, 250) p, generate_series(0, 179) d",
    "ANALYZE",
];

/// Node types, relations and index names of a JSON plan, recursively.
fn walk(plan: &Value, out: &mut Vec<(String, String, String)>) {
    out.push((
        plan["Node Type"].as_str().unwrap_or_default().to_owned(),
        plan["Relation Name"].as_str().unwrap_or_default().to_owned(),
        plan["Index Name"].as_str().unwrap_or_default().to_owned(),
    ));
    for child in plan["Plans"].as_array().into_iter().flatten() {
        walk(child, out);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_statements_use_the_spec_indexes() {
    let Some((app, log)) = TestApp::postgres_recording().await else { return };
    for sql in DATASET {
        app.db.execute_unprepared(sql).await.expect(sql);
    }
    dashboard_plans(&app, &log).await;
    app.finish().await;
}

/// The same on the partitioned layout: every partition read through its copy of the
/// spec's index, and a trend range reads only the partitions of its months.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_reads_use_the_spec_indexes_and_prune_months() {
    let Some((app, log)) = TestApp::postgres_recording().await else { return };
    migration::layout::apply(&app.db, migration::layout::Layout::Partitioned).await.expect("partition");
    // The dataset's months (January to April 2026) get their partitions before the load.
    let created = metrics_api::retention::partitions::ensure_months(&app.db, t("2026-01-15T00:00:00Z")).await.unwrap();
    assert!(created >= 4 * 3, "months January to April of three tables: {created}");
    log.lock().unwrap().clear();
    for sql in DATASET {
        app.db.execute_unprepared(sql).await.expect(sql);
    }
    dashboard_plans(&app, &log).await;

    log.lock().unwrap().clear();
    let q = r#"query($p: UUID!) { project(id: $p) {
        trend(metricKey: "metric_1", grain: HOUR, from: "2026-01-10T00:00:00Z", to: "2026-02-09T00:00:00Z") { points { value } } } }"#;
    let d = app.data(q, json!({ "p": md5_uuid("p1") })).await;
    // Every other hour has the series without dimensions.
    assert_eq!(d["project"]["trend"]["points"].as_array().unwrap().len(), 30 * 12);
    let statements: Vec<Statement> = log.lock().unwrap().clone();
    let trend: Vec<&Statement> = statements.iter().filter(|s| s.sql.contains("metrics_trend_point")).collect();
    assert_eq!(trend.len(), 1, "{statements:?}");
    let mut scanned = BTreeSet::new();
    for (_, relation, _) in plan_nodes(&app, trend[0]).await {
        if relation.starts_with("metrics_") {
            scanned.insert(relation);
        }
    }
    let want: BTreeSet<String> =
        ["metrics_trend_point_2026_01_fine", "metrics_trend_point_2026_02_fine"].map(String::from).into();
    assert_eq!(scanned, want, "only the hour-and-day partitions of January and February:\n{}", trend[0].sql);
    app.finish().await;
}

/// The plan of a recorded statement, explained with its own parameters.
async fn plan_nodes(app: &TestApp, stmt: &Statement) -> Vec<(String, String, String)> {
    let explain = Statement { sql: format!("EXPLAIN (FORMAT JSON) {}", stmt.sql), ..stmt.clone() };
    let row = app.db.query_one_raw(explain).await.expect("explain").expect("plan");
    let plan: Value = row.try_get("", "QUERY PLAN").expect("plan json");
    let mut nodes = Vec::new();
    walk(&plan[0]["Plan"], &mut nodes);
    nodes
}

fn t(s: &str) -> chrono::DateTime<chrono::Utc> {
    crate::common::fixtures::t(s)
}

/// Runs the dashboard queries over the loaded dataset and explains every statement they
/// ran: no sequential scan of a metrics table, and each spec index used (on a partitioned
/// table, through its copies on the partitions, named `<index>_<partition>`).
async fn dashboard_plans(app: &TestApp, log: &std::sync::Arc<std::sync::Mutex<Vec<Statement>>>) {
    let ids: Vec<Value> = (1..=50).map(|i| json!(format!("{:x}", md5_uuid(&format!("p{i}"))))).collect();
    let from = "2026-01-10T00:00:00Z";
    let to = "2026-02-09T00:00:00Z";
    let q = format!(
        r#"query($ids: [UUID!]!) {{ projects(ids: $ids) {{
        summary(at: "2026-03-01T00:00:00Z") {{ id }}
        summaries(first: 5) {{ edges {{ node {{ id }} }} }}
        daily: trend(metricKey: "metric_1", grain: DAY, from: "{from}", to: "{to}", fill: ZERO) {{ points {{ value }} }}
        hourly: trend(metricKey: "metric_2", grain: HOUR, from: "{from}", to: "{to}", compareTo: PREVIOUS_PERIOD) {{ points {{ value }} }}
        teams: trendsMatching(metricKey: "metric_3", grain: HOUR, from: "{from}", to: "{to}", dimensions: {{team: "team_1"}}) {{ dimensions }}
        breakdown(metricKey: "wip", dimensionKey: "state", grain: DAY) {{ total }}
        stacked: breakdownSeries(metricKey: "wip", dimensionKey: "state", grain: DAY, from: "{from}", to: "{to}") {{ total }}
        byEntity: drilldown(metricKey: "cycle", entityType: "task", first: 50) {{ pageInfo {{ endCursor }} }}
        newest: drilldown(metricKey: "cycle", entityType: "task", first: 50, orderBy: TIME_BUCKET_DESC) {{ pageInfo {{ endCursor }} }}
    }} }}"#
    );
    let d = app.data(&q, json!({ "ids": ids })).await;
    let first = &d["projects"][0];
    assert!(!first["summary"].is_null(), "the dataset is visible: {first}");
    assert_eq!(first["daily"]["points"].as_array().unwrap().len(), 30);
    // Second pages, so the keyset conditions are explained too.
    let cursor_q = r#"query($ids: [UUID!]!, $a: String, $b: String) { projects(ids: $ids) {
        byEntity: drilldown(metricKey: "cycle", entityType: "task", first: 50, after: $a) { pageInfo { endCursor } }
        newest: drilldown(metricKey: "cycle", entityType: "task", first: 50, orderBy: TIME_BUCKET_DESC, after: $b) { pageInfo { endCursor } } } }"#;
    app.data(
        cursor_q,
        json!({ "ids": [ids[0]], "a": first["byEntity"]["pageInfo"]["endCursor"], "b": first["newest"]["pageInfo"]["endCursor"] }),
    )
    .await;

    let statements: Vec<Statement> = log.lock().unwrap().clone();
    let mut used = BTreeSet::new();
    let mut explained = 0;
    for stmt in statements.iter().filter(|s| s.sql.contains("metrics_")) {
        let explain = Statement { sql: format!("EXPLAIN (FORMAT JSON) {}", stmt.sql), ..stmt.clone() };
        let row = app.db.query_one_raw(explain).await.expect("explain").expect("plan");
        let plan: Value = row.try_get("", "QUERY PLAN").expect("plan json");
        let mut nodes = Vec::new();
        walk(&plan[0]["Plan"], &mut nodes);
        for (node, relation, index) in &nodes {
            // An empty partition (a default, or a month's `_coarse` without week points in
            // this dataset) is scanned sequentially: there is nothing to read.
            let empty = || async { app.count_rows(relation).await == 0 };
            assert!(
                !(node == "Seq Scan" && relation.starts_with("metrics_") && !empty().await),
                "sequential scan of {relation} in:\n{}\n{plan:#}",
                stmt.sql
            );
            if !index.is_empty() {
                used.insert(index.clone());
            }
        }
        explained += 1;
    }
    assert!(explained >= 9, "explained {explained} statements");
    for index in [
        "idx_metrics_summary_project_captured",
        "idx_metrics_trend_point_series",
        "idx_metrics_breakdown_point_series",
        "idx_metrics_drilldown_entity",
        "idx_metrics_drilldown_recent",
    ] {
        assert!(
            used.iter().any(|u| u == index || u.strip_prefix(index).is_some_and(|rest| rest.starts_with("_20"))),
            "{index} not used; used: {used:?}"
        );
    }
}

/// `md5(text)::uuid` as PostgreSQL computes it.
fn md5_uuid(s: &str) -> uuid::Uuid {
    uuid::Uuid::from_bytes(md5(s.as_bytes()))
}

/// A small MD5 (RFC 1321) so the test can name the generated project ids.
fn md5(input: &[u8]) -> [u8; 16] {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14,
        20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6,
        10, 15, 21,
    ];
    let k: Vec<u32> = (0..64).map(|i| ((i as f64 + 1.0).sin().abs() * 4294967296.0) as u32).collect();
    let (mut a0, mut b0, mut c0, mut d0) = (0x67452301u32, 0xefcdab89u32, 0x98badcfeu32, 0x10325476u32);
    let mut msg = input.to_vec();
    let bits = (input.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_le_bytes());
    for chunk in msg.chunks(64) {
        let m: Vec<u32> = chunk.chunks(4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]])).collect();
        let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(S[i]));
        }
        a0 = a0.wrapping_add(a);
        b0 = b0.wrapping_add(b);
        c0 = c0.wrapping_add(c);
        d0 = d0.wrapping_add(d);
    }
    let mut out = [0u8; 16];
    for (i, v) in [a0, b0, c0, d0].iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
    }
    out
}
