//! Retention and downsampling (spec section 5) on both backends, at a fixed `now`:
//! each rule at its boundary, folded values per aggregation, stored week points kept,
//! dry runs, idempotency, interrupted runs, and retention-aware reads.

use crate::common::fixtures::{self, pid, t};
use crate::common::TestApp;
use chrono::{DateTime, Duration, Utc};
use entity::sea_orm_active_enums::TimeGrain;
use metrics_api::catalog::Catalog;
use metrics_api::identity::EntityRef;
use metrics_api::retention::{self, Options, Policy, Report};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};

/// A Monday: 90 days earlier is Tuesday 2026-03-03, whose ISO week starts 2026-03-02.
const NOW: &str = "2026-06-01T00:00:00Z";

fn now() -> DateTime<Utc> {
    t(NOW)
}

async fn run(app: &TestApp, catalog: &Catalog, project: Option<uuid::Uuid>, dry_run: bool) -> Report {
    retention::run(&app.db, catalog, &Policy::default(), Options { now: now(), project, dry_run })
        .await
        .expect("retention run")
}

/// Every row of the four tables, as comparable text.
async fn dump(app: &TestApp) -> Vec<String> {
    let mut out = Vec::new();
    for (table, cols) in [
        ("metrics_summary", "id, captured_at, scope, payload"),
        ("metrics_trend_point", "id, metric_key, time_bucket, dimensions, value_numeric, value_json"),
        ("metrics_breakdown_point", "id, time_bucket, value_numeric"),
        ("metrics_drilldown", "id, time_bucket, payload"),
    ] {
        let sql = match app.backend {
            crate::common::Backend::Postgres => {
                format!("SELECT CAST(ROW({cols}) AS text) AS r FROM {table} ORDER BY id")
            }
            // SQLite keeps UUIDs as blobs: hex them to text.
            crate::common::Backend::Sqlite => {
                format!(
                    "SELECT {} AS r FROM {table} ORDER BY id",
                    cols.replacen("id", "hex(id)", 1).replace(", ", " || '|' || ")
                )
            }
        };
        for row in app.db.query_all_raw(Statement::from_string(app.db_backend(), sql)).await.unwrap() {
            let r: Option<String> = row.try_get("", "r").unwrap();
            out.push(format!("{table}: {}", r.unwrap_or_default()));
        }
    }
    out
}

fn ago(d: i64, secs: i64) -> String {
    (now() - Duration::days(d) + Duration::seconds(secs)).to_rfc3339()
}

async fn each_rule_at_its_boundary(app: &TestApp) {
    let p = pid(1);
    fixtures::project(&app.db, p, "a").await;
    // Summaries: 180 days, then one per UTC day past 30 days.
    fixtures::summary(&app.db, p, &ago(180, -1), None, json!({ "n": 1 })).await; // 180d+1s: gone
    fixtures::summary(&app.db, p, &ago(180, 0), None, json!({ "n": 2 })).await; // exactly 180d: kept
                                                                                // 180d-1s, the same UTC day as n=2 but another scope: its own daily series.
    fixtures::summary(&app.db, p, &ago(180, 1), Some(json!({"phase": "x"})), json!({ "n": 3 })).await;
    fixtures::summary(&app.db, p, "2026-05-01T12:00:00Z", None, json!({ "n": 4 })).await; // 30d+12h: not the latest of its day
    fixtures::summary(&app.db, p, &ago(30, -1), None, json!({ "n": 5 })).await; // 23:59:59, latest of 05-01
    fixtures::summary(&app.db, p, "2026-05-01T06:00:00Z", Some(json!({"phase": "b"})), json!({ "n": 6 })).await; // alone in its scope
    fixtures::summary(&app.db, p, &ago(30, 0), None, json!({ "n": 7 })).await; // exactly 30 days: inside
    fixtures::summary(&app.db, p, &ago(30, 1), None, json!({ "n": 8 })).await; // newer, same day
    fixtures::summary(&app.db, p, "2026-04-10T01:00:00Z", None, json!({ "n": 9 })).await;
    fixtures::summary(&app.db, p, "2026-04-10T23:00:00Z", None, json!({ "n": 10 })).await;

    // Breakdowns: 90 days from the bucket's end, or by computed_at without one (the
    // latest run of a snapshot stays whatever its age).
    for (bucket, v) in [(ago(90, -7200), 1.0), (ago(90, -3600), 2.0)] {
        fixtures::breakdown(&app.db, p, "wip", Some(TimeGrain::Hour), Some(&bucket), "state", "open", v).await;
    }
    for (secs, v) in [(-1, 1.0), (0, 2.0), (1, 3.0)] {
        let computed = ago(90, secs);
        fixtures::breakdown(&app.db, p, "snap", None, None, "state", &format!("v{v}"), v).await;
        let mut sql = metrics_api::store::sql::Sql::new(app.db_backend());
        sql.push("UPDATE metrics_breakdown_point SET computed_at = ").bind_time(t(&computed));
        sql.push(" WHERE dimension_value = ").bind(format!("v{v}"));
        app.db.execute_raw(sql.build()).await.unwrap();
    }
    // Drilldowns: 30 days, by bucket or computed_at.
    let mut rows = Vec::new();
    for (i, secs) in [-1i64, 0, 1].iter().enumerate() {
        rows.push(fixtures::drilldown_row(
            p,
            "cycle",
            "task",
            EntityRef::Reference(format!("b{i}")),
            Some(t(&ago(30, *secs))),
        ));
        let mut undated = fixtures::drilldown_row(p, "cycle", "task", EntityRef::Reference(format!("c{i}")), None);
        undated.computed_at = sea_orm::ActiveValue::Set(t(&ago(30, *secs)));
        rows.push(undated);
    }
    fixtures::drilldowns(&app.db, rows).await;
    // Trend: hour points either side of the first full-resolution week (2026-03-02).
    fixtures::trend(&app.db, p, "tasks_completed", TimeGrain::Hour, "2026-03-01T23:00:00Z", json!({}), 5.0).await;
    fixtures::trend(&app.db, p, "tasks_completed", TimeGrain::Hour, "2026-03-02T00:00:00Z", json!({}), 6.0).await;

    let report = run(app, &Catalog::default(), None, false).await;
    assert_eq!(report.summary.deleted, 3, "[{:?}] {report:?}", app.backend);
    assert_eq!(report.breakdown.deleted, 2, "{report:?}");
    assert_eq!(report.drilldown.deleted, 2, "{report:?}");
    assert_eq!(report.trend.folded, 1, "{report:?}");
    assert_eq!(report.trend.deleted, 0, "{report:?}");
    assert_eq!(report.trend.created, 1, "{report:?}");

    let d = app
        .data(
            r#"query($p: UUID!, $s: JSON) { project(id: $p) { summaries(first: 50, scope: $s) { edges { node { payload } } } } }"#,
            json!({ "p": p }),
        )
        .await;
    let kept: Vec<i64> = d["project"]["summaries"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["payload"]["n"].as_i64().unwrap())
        .collect();
    assert_eq!(kept, vec![8, 7, 5, 10, 2], "[{:?}]", app.backend);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM metrics_summary").await, 7, "the scoped snapshots stay");
    let vals: Vec<f64> = app
        .db
        .query_all_raw(Statement::from_string(
            app.db_backend(),
            "SELECT value_numeric FROM metrics_breakdown_point ORDER BY value_numeric".to_owned(),
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get("", "value_numeric").unwrap())
        .collect();
    assert_eq!(vals, vec![2.0, 2.0, 3.0], "bucket ending at 90d kept; computed 90d and 90d-1s kept");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM metrics_drilldown").await, 4);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM metrics_trend_point WHERE value_numeric = 6").await,
        1,
        "the full-resolution week stays"
    );
}

/// Day values 1..=7 in the week of 2026-02-16, hour values in the week of 2026-02-09.
async fn fold_fixture(app: &TestApp, p: uuid::Uuid) {
    let mut rows = Vec::new();
    for metric in ["tasks_completed", "task_cycle_time", "wip", "custom_min", "mystery"] {
        for d in 0..7 {
            let b = t("2026-02-16T00:00:00Z") + Duration::days(d);
            rows.push(fixtures::trend_row(p, metric, TimeGrain::Day, b, json!({"team": "a"}), Some((d + 1) as f64)));
            // Hour points of the same week: day points win, these must not count twice.
            rows.push(fixtures::trend_row(
                p,
                metric,
                TimeGrain::Hour,
                b + Duration::hours(3),
                json!({"team": "a"}),
                Some(100.0),
            ));
        }
        for h in 0..5 {
            let b = t("2026-02-09T00:00:00Z") + Duration::hours(h * 30);
            rows.push(fixtures::trend_row(p, metric, TimeGrain::Hour, b, json!({}), Some(h as f64 * 2.0)));
        }
    }
    fixtures::trends(&app.db, rows).await;
}

async fn folded_values_follow_the_catalog(app: &TestApp) {
    let p = pid(1);
    fixtures::project(&app.db, p, "a").await;
    fold_fixture(app, p).await;
    // A week point a compute job already wrote is authoritative.
    fixtures::trend(&app.db, p, "tasks_completed", TimeGrain::Week, "2026-02-09T00:00:00Z", json!({}), 999.0).await;
    let mut catalog = Catalog::default();
    catalog.merge_toml("[metrics.custom_min]\naggregation = \"min\"\nunit = \"x\"\n").unwrap();

    let report = run(app, &catalog, None, false).await;
    assert_eq!(report.unknown_metrics.iter().collect::<Vec<_>>(), vec!["mystery"]);
    assert_eq!(report.trend.folded, 5 * (7 + 7 + 5) - 5);
    assert_eq!(report.trend.deleted, 5, "the hour points of the week a compute job wrote");
    assert_eq!(report.trend.created, 5 * 2 - 1, "one week point was already stored");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM metrics_trend_point WHERE time_grain <> 'week'").await, 0);

    let q = r#"query($p: UUID!, $m: String!, $d: JSON) { project(id: $p) {
        trend(metricKey: $m, grain: WEEK, from: "2026-02-09T00:00:00Z", to: "2026-02-23T00:00:00Z", dimensions: $d) {
            points { bucket value valueJson downsampledFrom grain } } } }"#;
    let week = |m: &'static str, d: Value| async move {
        app.data(q, json!({ "p": p, "m": m, "d": d })).await["project"]["trend"]["points"][0].clone()
    };
    // Week of 02-16, from day points 1..=7.
    let sum = week("tasks_completed", json!({"team": "a"})).await;
    assert_eq!(sum["value"], json!(28.0));
    assert_eq!(sum["downsampledFrom"], "DAY");
    assert_eq!(sum["grain"], "WEEK");
    let vj = &sum["valueJson"];
    assert_eq!(
        (vj["count"].as_i64(), vj["sum"].as_f64(), vj["min"].as_f64(), vj["max"].as_f64(), vj["avg"].as_f64()),
        (Some(7), Some(28.0), Some(1.0), Some(7.0), Some(4.0))
    );
    assert_eq!(vj["downsampled_from"], "day");
    assert_eq!(week("task_cycle_time", json!({"team": "a"})).await["value"], json!(4.0));
    assert_eq!(week("wip", json!({"team": "a"})).await["value"], json!(7.0), "last: the latest bucket's value");
    assert_eq!(week("custom_min", json!({"team": "a"})).await["value"], json!(1.0));
    assert_eq!(week("mystery", json!({"team": "a"})).await["value"], json!(4.0), "unknown keys fold with avg");
    // Week of 02-09 from hour points 0,2,4,6,8: sum 20, but a stored week point wins.
    let kept = week("tasks_completed", json!({})).await;
    assert_eq!(kept["value"], json!(999.0));
    assert!(kept["downsampledFrom"].is_null());
    let hours = week("wip", json!({})).await;
    assert_eq!((hours["value"].as_f64(), hours["downsampledFrom"].as_str()), (Some(8.0), Some("HOUR")));
    assert_eq!(week("task_cycle_time", json!({})).await["value"], json!(4.0));
}

async fn dry_run_reports_the_same_and_changes_nothing(app: &TestApp) {
    let p = pid(1);
    fixtures::project(&app.db, p, "a").await;
    fold_fixture(app, p).await;
    fixtures::summary(&app.db, p, "2025-01-01T00:00:00Z", None, json!({})).await;
    let before = dump(app).await;
    let dry = run(app, &Catalog::default(), None, true).await;
    assert_eq!(dump(app).await, before, "a dry run changes nothing");
    assert!(dry.trend.folded > 0 && dry.summary.deleted == 1);
    let real = run(app, &Catalog::default(), None, false).await;
    assert_eq!(dry, real, "the dry run reports what the run does");
    let after = dump(app).await;
    let again = run(app, &Catalog::default(), None, false).await;
    assert_eq!(again, Report { projects: 1, ..Default::default() }, "a second run finds nothing to do");
    assert_eq!(dump(app).await, after);
}

/// A run stopped after some projects, completed later, ends where one full run ends.
async fn interrupted_run_then_completed_equals_one_run(app: &TestApp) {
    let other = match app.backend {
        crate::common::Backend::Sqlite => TestApp::sqlite().await,
        crate::common::Backend::Postgres => TestApp::postgres().await.unwrap(),
    };
    for a in [app, &other] {
        for n in 1..=3 {
            fixtures::project(&a.db, pid(n), "p").await;
            fold_fixture(a, pid(n)).await;
            fixtures::summary(&a.db, pid(n), "2025-01-01T00:00:00Z", None, json!({})).await;
        }
    }
    run(app, &Catalog::default(), Some(pid(2)), false).await;
    run(app, &Catalog::default(), None, false).await;
    run(&other, &Catalog::default(), None, false).await;
    assert_eq!(dump(app).await, dump(&other).await);
    other.finish().await;
}

async fn reads_know_the_retention_horizon(app: &TestApp) {
    let p = pid(1);
    fixtures::project(&app.db, p, "a").await;
    let today = metrics_api::buckets::truncate(TimeGrain::Day, Utc::now());
    let mut rows = Vec::new();
    for d in 1..=130 {
        rows.push(fixtures::trend_row(
            p,
            "tasks_completed",
            TimeGrain::Day,
            today - Duration::days(d),
            json!({}),
            Some(1.0),
        ));
    }
    fixtures::trends(&app.db, rows).await;
    retention::run(
        &app.db,
        &Catalog::default(),
        &Policy::default(),
        Options { now: Utc::now(), project: None, dry_run: false },
    )
    .await
    .unwrap();
    let horizon = Policy::default().full_resolution_from(Utc::now());
    let q = r#"query($p: UUID!, $from: DateTime!, $to: DateTime!, $inc: Boolean!) { project(id: $p) {
        trend(metricKey: "tasks_completed", grain: DAY, from: $from, to: $to, includeDownsampled: $inc) {
            fullResolutionFrom points { bucket value grain downsampledFrom } } } }"#;
    let vars = |inc: bool| json!({ "p": p, "from": (today - Duration::days(120)).to_rfc3339(), "to": today.to_rfc3339(), "inc": inc });
    let plain = app.data(q, vars(false)).await["project"]["trend"].clone();
    assert_eq!(plain["fullResolutionFrom"], json!(crate::common::fixtures::wire(horizon)));
    let pts = plain["points"].as_array().unwrap();
    assert!(pts.iter().all(|p| p["grain"] == "DAY" && t(p["bucket"].as_str().unwrap()) >= horizon));
    let with = app.data(q, vars(true)).await["project"]["trend"].clone();
    let pts = with["points"].as_array().unwrap();
    let weeks: Vec<&Value> = pts.iter().filter(|p| p["grain"] == "WEEK").collect();
    assert!(!weeks.is_empty());
    assert!(weeks.iter().all(|p| p["downsampledFrom"] == "DAY" && t(p["bucket"].as_str().unwrap()) < horizon));
    assert_eq!(pts.len() - weeks.len(), plain["points"].as_array().unwrap().len(), "the recent part is unchanged");
    // A range within the horizon says nothing.
    let recent =
        json!({ "p": p, "from": (today - Duration::days(10)).to_rfc3339(), "to": today.to_rfc3339(), "inc": false });
    assert!(app.data(q, recent).await["project"]["trend"]["fullResolutionFrom"].is_null());
    // The catalog is discoverable.
    let d = app.data("{ metricCatalog { key aggregation unit description } }", json!({})).await;
    let keys: Vec<&str> = d["metricCatalog"].as_array().unwrap().iter().map(|m| m["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["gate_pass_rate", "integration_success_rate", "task_cycle_time", "tasks_completed", "wip"]);
    assert_eq!(d["metricCatalog"][3]["aggregation"], "SUM");
}

async fn cli_prints_each_table(app: &TestApp) {
    let p = pid(1);
    fixtures::project(&app.db, p, "a").await;
    fold_fixture(app, p).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_metrics-api"))
        .args(["retention", "--dry-run", "--now", NOW])
        .env("DATABASE_URL", &app.database_url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("dry run"), "{text}");
    assert!(
        text.contains("trend:     folded 95 hour/day rows into week points (10 new, 0 updated); deleted 0"),
        "{text}"
    );
    assert!(text.contains("unknown metric keys (folded with avg): custom_min, mystery"), "{text}");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM metrics_trend_point WHERE time_grain <> 'week'").await, 95);
}

both_backends!(
    each_rule_at_its_boundary,
    folded_values_follow_the_catalog,
    dry_run_reports_the_same_and_changes_nothing,
    interrupted_run_then_completed_equals_one_run,
    reads_know_the_retention_horizon,
    cli_prints_each_table,
);

// ---- Issue 12: nothing lost. Each numbered observation of the issue, through the HTTP
// write API and the retention job.

const UPSERT_TRENDS: &str =
    "mutation($p: [TrendPointInput!]!) { upsertTrendPoints(points: $p) { inserted updated refreshed unchanged } }";

fn trend_input(p: uuid::Uuid, grain: &str, bucket: &str, value: Option<f64>) -> Value {
    json!({ "projectId": p, "metricKey": "tasks_completed", "grain": grain, "bucket": t(bucket).to_rfc3339(),
            "value": value, "computedAt": "2026-01-20T00:00:00Z" })
}

async fn write_trends(app: &TestApp, rows: Vec<Value>) -> Value {
    app.data(UPSERT_TRENDS, json!({ "p": rows })).await["upsertTrendPoints"].clone()
}

/// The week point of `tasks_completed` (no dimensions) starting `week`, read through
/// GraphQL: (value, valueJson).
async fn week_point(app: &TestApp, p: uuid::Uuid, week: &str) -> (Option<f64>, Value) {
    let q = r#"query($p: UUID!, $from: DateTime!, $to: DateTime!) { project(id: $p) {
        trend(metricKey: "tasks_completed", grain: WEEK, from: $from, to: $to) { points { bucket value valueJson } } } }"#;
    let to = (t(week) + Duration::weeks(1)).to_rfc3339();
    let d = app.data(q, json!({ "p": p, "from": t(week).to_rfc3339(), "to": to })).await;
    let pt = &d["project"]["trend"]["points"][0];
    (pt["value"].as_f64(), pt["valueJson"].clone())
}

/// Observation 1: late and corrected points of an already folded week are folded in.
async fn late_and_corrected_points_refold_their_week(app: &TestApp) {
    let p = pid(1);
    let days: Vec<Value> = (0..7)
        .map(|d| trend_input(p, "DAY", &format!("2026-01-{:02}T00:00:00Z", 5 + d), Some((d + 1) as f64)))
        .collect();
    let hours: Vec<Value> =
        (0..3).map(|h| trend_input(p, "HOUR", &format!("2026-01-12T{h:02}:00:00Z"), Some(1.0))).collect();
    write_trends(app, [days, hours].concat()).await;
    let first = run(app, &Catalog::default(), None, false).await;
    assert_eq!((first.trend.folded, first.trend.created, first.trend.deleted), (10, 2, 0), "[{:?}]", app.backend);
    assert_eq!(week_point(app, p, "2026-01-05T00:00:00Z").await.0, Some(28.0));
    assert_eq!(week_point(app, p, "2026-01-12T00:00:00Z").await.0, Some(3.0));

    // A corrected day point, a late hour point of an hour-only week, and a late hour point
    // of a day that has its day point (which wins).
    let late = vec![
        trend_input(p, "DAY", "2026-01-07T00:00:00Z", Some(100.0)),
        trend_input(p, "HOUR", "2026-01-13T05:00:00Z", Some(2.0)),
        trend_input(p, "HOUR", "2026-01-08T05:00:00Z", Some(50.0)),
    ];
    assert_eq!(write_trends(app, late).await["inserted"], 3);
    let second = run(app, &Catalog::default(), None, false).await;
    assert_eq!(
        (second.trend.folded, second.trend.created, second.trend.updated, second.trend.deleted),
        (3, 0, 2, 0),
        "[{:?}] {second:?}",
        app.backend
    );
    let (value, vj) = week_point(app, p, "2026-01-05T00:00:00Z").await;
    assert_eq!(value, Some(28.0 - 3.0 + 100.0), "[{:?}] the correction replaced the 3: {vj}", app.backend);
    assert_eq!(vj["count"], 7);
    assert_eq!(week_point(app, p, "2026-01-12T00:00:00Z").await.0, Some(5.0));
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM metrics_trend_point WHERE time_grain <> 'week'").await, 0);
    // The same correction sent again: folded again, the same value.
    write_trends(app, vec![trend_input(p, "DAY", "2026-01-07T00:00:00Z", Some(100.0))]).await;
    run(app, &Catalog::default(), None, false).await;
    assert_eq!(week_point(app, p, "2026-01-05T00:00:00Z").await.0, Some(125.0));
}

/// Observation 2 (and the fold's `count` ignoring nulls): per day, day points when
/// present, else that day's hour points.
async fn a_mixed_week_folds_hours_and_days(app: &TestApp) {
    let p = pid(1);
    let mut rows = Vec::new();
    for d in 0..3 {
        for h in [1, 2] {
            rows.push(trend_input(p, "HOUR", &format!("2026-01-{:02}T{h:02}:00:00Z", 5 + d), Some(3.0)));
        }
    }
    rows.push(trend_input(p, "HOUR", "2026-01-06T09:00:00Z", None));
    for d in 3..7 {
        rows.push(trend_input(p, "DAY", &format!("2026-01-{:02}T00:00:00Z", 5 + d), Some(5.0)));
    }
    write_trends(app, rows).await;
    run(app, &Catalog::default(), None, false).await;
    let (value, vj) = week_point(app, p, "2026-01-05T00:00:00Z").await;
    assert_eq!(value, Some(38.0), "[{:?}] {vj}", app.backend);
    assert_eq!(vj["count"], 10, "the null hour point does not count: {vj}");
    assert_eq!(vj["downsampled_from"], "hour");
}

/// Observation 3: a current snapshot stays while current; rows its job stopped sending
/// age out. A re-send with a newer computedAt refreshes an unchanged row.
async fn current_snapshots_stay_while_current(app: &TestApp) {
    let p = pid(1);
    let bd = r#"mutation($r: [BreakdownPointInput!]!) { upsertBreakdownPoints(points: $r) { inserted updated refreshed unchanged } }"#;
    let dd =
        r#"mutation($r: [DrilldownInput!]!) { upsertDrilldowns(rows: $r) { inserted updated refreshed unchanged } }"#;
    let snapshot = |state: &str, v: f64, at: &str| json!({"projectId": p, "metricKey": "wip", "dimensionKey": "state", "dimensionValue": state, "value": v, "computedAt": at});
    let drill = |r: &str, at: &str| json!({"projectId": p, "metricKey": "cycle", "entityType": "task", "referenceId": r, "payload": {"h": 1}, "computedAt": at});
    // An old run holding a state the job no longer sends, then the latest run, both
    // computed long before the horizons.
    let (old, latest) = ("2025-09-01T00:00:00Z", "2025-12-01T00:00:00Z");
    app.data(bd, json!({ "r": [snapshot("gone", 9.0, old)] })).await;
    app.data(bd, json!({ "r": [snapshot("open", 2.0, latest), snapshot("done", 3.0, latest)] })).await;
    app.data(dd, json!({ "r": [drill("T-0", old)] })).await;
    app.data(dd, json!({ "r": [drill("T-1", latest), drill("T-2", latest)] })).await;

    let report = run(app, &Catalog::default(), None, false).await;
    assert_eq!((report.breakdown.deleted, report.drilldown.deleted), (1, 1), "[{:?}] {report:?}", app.backend);
    let read = r#"query($p: UUID!) { project(id: $p) { breakdown(metricKey: "wip", dimensionKey: "state") { total items { value } }
        drilldown(metricKey: "cycle", entityType: "task") { edges { node { referenceId } } } } }"#;
    let d = app.data(read, json!({ "p": p })).await;
    assert_eq!(d["project"]["breakdown"]["total"], json!(5.0), "[{:?}] {d}", app.backend);
    assert_eq!(d["project"]["drilldown"]["edges"].as_array().unwrap().len(), 2, "{d}");

    // The job sends the same values again, computed later: refreshed, not unchanged.
    let again = app.data(bd, json!({ "r": [snapshot("open", 2.0, "2026-05-30T00:00:00Z")] })).await;
    assert_eq!(again["upsertBreakdownPoints"], json!({"inserted": 0, "updated": 0, "refreshed": 1, "unchanged": 0}));
    let same = app.data(bd, json!({ "r": [snapshot("open", 2.0, "2026-05-30T00:00:00Z")] })).await;
    assert_eq!(same["upsertBreakdownPoints"]["unchanged"], 1, "the same batch twice is unchanged");
    // Now `done` is no longer part of the latest run, and older than 90 days: it goes.
    let report = run(app, &Catalog::default(), None, false).await;
    assert_eq!(report.breakdown.deleted, 1, "[{:?}] {report:?}", app.backend);
    let d = app.data(read, json!({ "p": p })).await;
    assert_eq!(d["project"]["breakdown"]["total"], json!(2.0));
}

/// Observation 6: week and month breakdown buckets age from their end; an empty
/// breakdown totals +0.
async fn breakdown_buckets_age_from_their_end(app: &TestApp) {
    let p = pid(1);
    fixtures::project(&app.db, p, "a").await;
    // The cut is 2026-03-03T00:00Z. Week of 02-23 ends 03-02 (gone), week of 03-02 ends
    // 03-09 (kept); month of January ends 02-01 (gone), February ends 03-01 (gone), March
    // ends 04-01 (kept).
    for (g, bucket, v) in [
        (TimeGrain::Week, "2026-02-23T00:00:00Z", 1.0),
        (TimeGrain::Week, "2026-03-02T00:00:00Z", 2.0),
        (TimeGrain::Month, "2026-01-01T00:00:00Z", 4.0),
        (TimeGrain::Month, "2026-02-01T00:00:00Z", 8.0),
        (TimeGrain::Month, "2026-03-01T00:00:00Z", 16.0),
    ] {
        fixtures::breakdown(&app.db, p, "wip", Some(g), Some(bucket), "state", &format!("v{v}"), v).await;
    }
    let report = run(app, &Catalog::default(), None, false).await;
    assert_eq!(report.breakdown.deleted, 3, "[{:?}] {report:?}", app.backend);
    let left = app.count("SELECT CAST(SUM(value_numeric) AS BIGINT) AS n FROM metrics_breakdown_point").await;
    assert_eq!(left, 18);
    let body = app
        .gql(
            r#"query($p: UUID!) { project(id: $p) { breakdown(metricKey: "none", dimensionKey: "state") { total } } }"#,
            json!({ "p": p }),
        )
        .await;
    let total = body["data"]["project"]["breakdown"]["total"].as_f64().expect("a total");
    assert!(total == 0.0 && total.is_sign_positive(), "[{:?}] {body}", app.backend);
}

both_backends!(
    late_and_corrected_points_refold_their_week,
    a_mixed_week_folds_hours_and_days,
    current_snapshots_stay_while_current,
    breakdown_buckets_age_from_their_end,
);

/// `serve` runs retention on its period (here 1 s; `--retention-every off` turns it off)
/// and exposes rows folded, rows deleted, the last run's time and duration on /metrics.
async fn serve_runs_retention_on_its_period(app: &TestApp) {
    let p = pid(1);
    fixtures::project(&app.db, p, "a").await;
    fold_fixture(app, p).await;
    fixtures::summary(&app.db, p, "2025-01-01T00:00:00Z", None, json!({})).await;
    let fine = "SELECT COUNT(*) AS n FROM metrics_trend_point WHERE time_grain <> 'week'";
    {
        let _off = crate::common::served::serve(&app.database_url, &["--retention-every", "off"], &[]).await;
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        assert_eq!(app.count(fine).await, 95, "[{:?}] off: nothing runs", app.backend);
    }
    let served = crate::common::served::serve(&app.database_url, &["--retention-every", "1s"], &[]).await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = client.get(format!("{}/metrics", served.url)).send().await.unwrap().text().await.unwrap();
        if metrics.contains("metrics_api_retention_last_run_timestamp_seconds") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(app.count(fine).await, 0, "[{:?}] the scheduled run folded the old points", app.backend);
    let value = |name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{metrics}"))
    };
    assert_eq!(value("metrics_api_retention_rows_folded_total"), 95.0);
    assert_eq!(value("metrics_api_retention_rows_deleted_total"), 1.0, "the old summary");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!((now - value("metrics_api_retention_last_run_timestamp_seconds")).abs() < 60.0);
    assert!(value("metrics_api_retention_last_run_duration_seconds") >= 0.0);
}

/// Several servers on one PostgreSQL database: one runs retention at a time (advisory
/// lock); the others skip the tick.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_at_a_time_runs_retention_on_postgres() {
    use metrics_api::retention::schedule::{run_once, Tick, ADVISORY_LOCK_KEY};
    use sea_orm::TransactionTrait;
    let Some(app) = TestApp::postgres().await else { return };
    let other = app.db.begin().await.unwrap();
    let lock = format!("SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY})");
    other.execute_unprepared(&lock).await.unwrap();
    let tick = run_once(&app.db, &Catalog::default(), &Policy::default()).await.unwrap();
    assert!(matches!(tick, Tick::Skipped), "{tick:?}");
    other.rollback().await.unwrap();
    let tick = run_once(&app.db, &Catalog::default(), &Policy::default()).await.unwrap();
    assert!(matches!(tick, Tick::Ran(..)), "{tick:?}");
    app.finish().await;
}

both_backends!(serve_runs_retention_on_its_period);

/// Week points written with SQL under ids of the writer's choosing: found by natural key.
/// A job's week point stays authoritative (its week's fine points are deleted, not
/// folded); a folded one is refolded under its own id. Neither run trips the natural-key
/// guard with a second row.
async fn stored_week_points_are_found_by_natural_key(app: &TestApp) {
    let p = pid(1);
    fixtures::project(&app.db, p, "a").await;
    let mut job_week =
        fixtures::trend_row(p, "tasks_completed", TimeGrain::Week, t("2026-02-09T00:00:00Z"), json!({}), Some(999.0));
    job_week.id = sea_orm::ActiveValue::Set(uuid::Uuid::from_u128(0xabc));
    let mut rows = vec![job_week];
    for d in 0..3 {
        let day = t("2026-02-09T00:00:00Z") + Duration::days(d);
        rows.push(fixtures::trend_row(p, "tasks_completed", TimeGrain::Day, day, json!({}), Some(1.0)));
        let day = t("2026-02-16T00:00:00Z") + Duration::days(d);
        rows.push(fixtures::trend_row(p, "tasks_completed", TimeGrain::Day, day, json!({}), Some(2.0)));
    }
    fixtures::trends(&app.db, rows).await;
    let report = run(app, &Catalog::default(), None, false).await;
    assert_eq!(
        (report.trend.folded, report.trend.deleted, report.trend.created),
        (3, 3, 1),
        "[{:?}] {report:?}",
        app.backend
    );
    // The folded week moves to an id of the writer's choosing; a late point refolds it there.
    let moved = uuid::Uuid::from_u128(0xdef);
    let mut sql = metrics_api::store::sql::Sql::new(app.db_backend());
    sql.push("UPDATE metrics_trend_point SET id = ").bind(moved).push(" WHERE time_grain = 'week' AND time_bucket = ");
    sql.bind_time(t("2026-02-16T00:00:00Z"));
    app.db.execute_raw(sql.build()).await.unwrap();
    fixtures::trend(&app.db, p, "tasks_completed", TimeGrain::Day, "2026-02-20T00:00:00Z", json!({}), 4.0).await;
    let report = run(app, &Catalog::default(), None, false).await;
    assert_eq!(
        (report.trend.folded, report.trend.updated, report.trend.created),
        (1, 1, 0),
        "[{:?}] {report:?}",
        app.backend
    );
    let weeks = app.count("SELECT COUNT(*) AS n FROM metrics_trend_point WHERE time_grain = 'week'").await;
    assert_eq!(weeks, 2);
    let mut sql = metrics_api::store::sql::Sql::new(app.db_backend());
    sql.push("SELECT value_numeric FROM metrics_trend_point WHERE id = ").bind(moved);
    let v: f64 = app.db.query_one_raw(sql.build()).await.unwrap().unwrap().try_get("", "value_numeric").unwrap();
    assert_eq!(v, 10.0, "[{:?}] 2 + 2 + 2 + 4, under the writer's id", app.backend);
}

both_backends!(stored_week_points_are_found_by_natural_key);
