//! The partitioned layout (`migrate --partitioned`, PostgreSQL): conversion up and down
//! with rows and catalog kept, each partition with the spec's indexes, the natural-key
//! guarantee, and retention dropping whole expired months with the same report and the
//! same rows left as on the plain layout. (The read, write and retention suites also run
//! on this layout: `both_backends!` makes a `postgres_partitioned` case of each test.)

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use entity::sea_orm_active_enums::TimeGrain;
use metrics_api::catalog::Catalog;
use metrics_api::identity::EntityRef;
use metrics_api::retention::{self, Options, Policy, Report};
use migration::layout::{self, Layout};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

use crate::common::fixtures::{self, pid, t};
use crate::common::TestApp;

/// A Monday. Horizons: trend full resolution from 2026-03-02, breakdown 2026-03-03,
/// drilldown 2026-05-02.
const NOW: &str = "2026-06-01T00:00:00Z";

async fn run(app: &TestApp) -> Report {
    let opts = Options { now: t(NOW), project: None, dry_run: false };
    retention::run(&app.db, &Catalog::default(), &Policy::default(), opts).await.expect("retention run")
}

/// Every row of the four tables as text, in id order.
async fn dump(app: &TestApp) -> Vec<String> {
    let mut out = Vec::new();
    for table in ["metrics_summary", "metrics_trend_point", "metrics_breakdown_point", "metrics_drilldown"] {
        let sql = format!("SELECT CAST(t AS text) AS r FROM {table} t ORDER BY id");
        for row in app.db.query_all_raw(Statement::from_string(app.db_backend(), sql)).await.unwrap() {
            out.push(format!("{table}: {}", row.try_get::<String>("", "r").unwrap()));
        }
    }
    out
}

/// Names of the tables that exist among `names`.
async fn existing(app: &TestApp, names: &[&str]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for n in names {
        let sql = format!("SELECT COUNT(*) AS n FROM pg_class WHERE oid = to_regclass('{n}')");
        if app.count(&sql).await == 1 {
            out.insert((*n).to_owned());
        }
    }
    out
}

/// Two projects: hour points three times a day from 2026-01-05 to 2026-04-20 (two weeks
/// straddle a month end past the horizon), a few day points, daily breakdowns and
/// drilldowns from January to May, and undated snapshot rows.
async fn load(app: &TestApp) {
    for p in [pid(1), pid(2)] {
        fixtures::project(&app.db, p, "p").await;
        let mut rows = Vec::new();
        let mut day = t("2026-01-05T00:00:00Z");
        while day < t("2026-04-21T00:00:00Z") {
            for h in [0, 8, 16] {
                let v = (day.timestamp() / 3600 + h) % 17;
                rows.push(fixtures::trend_row(
                    p,
                    "tasks_completed",
                    TimeGrain::Hour,
                    day + Duration::hours(h),
                    json!({}),
                    Some(v as f64),
                ));
            }
            if day.timestamp() % (86400 * 9) == 0 {
                rows.push(fixtures::trend_row(
                    p,
                    "tasks_completed",
                    TimeGrain::Day,
                    day,
                    json!({"team": "a"}),
                    Some(3.0),
                ));
            }
            day += Duration::days(1);
        }
        fixtures::trends(&app.db, rows).await;
        let mut day = t("2026-01-02T00:00:00Z");
        let mut drilldowns = Vec::new();
        let mut i = 0;
        while day < t("2026-05-20T00:00:00Z") {
            let bucket = day.to_rfc3339();
            fixtures::breakdown(&app.db, p, "wip", Some(TimeGrain::Day), Some(&bucket), "state", "open", 1.0).await;
            drilldowns.push(fixtures::drilldown_row(
                p,
                "cycle",
                "task",
                EntityRef::Reference(format!("r{i}")),
                Some(day),
            ));
            day += Duration::days(3);
            i += 1;
        }
        drilldowns.push(fixtures::drilldown_row(p, "cycle", "task", EntityRef::Reference("undated".into()), None));
        fixtures::drilldowns(&app.db, drilldowns).await;
        fixtures::breakdown(&app.db, p, "snap", None, None, "state", "open", 1.0).await;
    }
}

/// Gives the loaded months their partitions, as a server's retention does when the rows
/// arrive (they land in the default partition first: the test template was converted
/// in another month).
async fn partition_loaded_months(app: &TestApp) {
    let created = retention::partitions::ensure_months(&app.db, t("2026-01-01T00:00:00Z")).await.unwrap();
    assert!(created > 0);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM metrics_trend_point_default").await, 0, "moved out of the default");
    let created = retention::partitions::ensure_months(&app.db, t("2026-05-01T00:00:00Z")).await.unwrap();
    assert!(created > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_drops_expired_months_and_matches_the_plain_layout() {
    let Some(plain) = TestApp::postgres().await else { return };
    let part = TestApp::postgres_partitioned().await.expect("postgres");
    load(&plain).await;
    load(&part).await;
    partition_loaded_months(&part).await;
    assert_eq!(dump(&plain).await, dump(&part).await, "the same rows before");
    let january = ["metrics_trend_point_2026_01_fine", "metrics_breakdown_point_2026_01", "metrics_drilldown_2026_01"];
    assert_eq!(existing(&part, &january).await.len(), 3);

    let (a, b) = (run(&plain).await, run(&part).await);
    assert_eq!(a, b, "the same report on both layouts");
    assert!(
        a.trend.folded > 300 && a.trend.created > 10 && a.breakdown.deleted > 10 && a.drilldown.deleted > 40,
        "{a:?}"
    );
    assert_eq!(dump(&plain).await, dump(&part).await, "the same rows after");

    // Whole months went as partitions: trend January and February (their hour points folded
    // first), breakdown January (February's last week ends after its horizon), drilldown
    // January to April. The months inside the horizons stay.
    let gone = [
        "metrics_trend_point_2026_01_fine",
        "metrics_trend_point_2026_02_fine",
        "metrics_breakdown_point_2026_01",
        "metrics_drilldown_2026_01",
        "metrics_drilldown_2026_04",
    ];
    assert!(existing(&part, &gone).await.is_empty(), "dropped: {:?}", existing(&part, &gone).await);
    let kept = [
        "metrics_trend_point_2026_01_coarse",
        "metrics_trend_point_2026_03_fine",
        "metrics_breakdown_point_2026_02",
        "metrics_drilldown_2026_05",
    ];
    assert_eq!(existing(&part, &kept).await.len(), kept.len());

    // A second run has nothing to do on either.
    let (a, b) = (run(&plain).await, run(&part).await);
    assert_eq!(a, b);
    assert_eq!((a.folded(), a.deleted()), (0, 0), "{a:?}");

    // A late hour point of a dropped month lands in that month's `_coarse` partition and
    // is folded at the next run, as on the plain layout.
    for app in [&plain, &part] {
        let row = fixtures::trend_row(
            pid(1),
            "tasks_completed",
            TimeGrain::Hour,
            t("2026-01-20T05:00:00Z"),
            json!({}),
            Some(40.0),
        );
        fixtures::trends(&app.db, vec![row]).await;
    }
    assert_eq!(
        part.count("SELECT COUNT(*) AS n FROM metrics_trend_point_2026_01_coarse WHERE time_grain = 'hour'").await,
        1
    );
    let (a, b) = (run(&plain).await, run(&part).await);
    assert_eq!(a, b);
    assert_eq!((a.trend.folded, a.trend.updated), (1, 1), "{a:?}");
    assert_eq!(dump(&plain).await, dump(&part).await);
    plain.finish().await;
    part.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_reports_the_drops_and_keeps_every_partition() {
    let Some(part) = TestApp::postgres_partitioned().await else { return };
    load(&part).await;
    partition_loaded_months(&part).await;
    let before = dump(&part).await;
    let opts = |dry_run| Options { now: t(NOW), project: None, dry_run };
    let dry = retention::run(&part.db, &Catalog::default(), &Policy::default(), opts(true)).await.unwrap();
    assert_eq!(dump(&part).await, before, "nothing changed");
    assert_eq!(existing(&part, &["metrics_trend_point_2026_01_fine"]).await.len(), 1);
    let real = run(&part).await;
    assert_eq!(dry, real, "the dry run reported what the run did");
    part.finish().await;
}

/// Up converts rows and all; down restores the plain tables with the catalog of a fresh
/// migration (same columns, keys, foreign keys and indexes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_up_and_down_keep_rows_and_catalog() {
    let Some(app) = TestApp::postgres().await else { return };
    let Some(fresh) = TestApp::postgres().await else { return };
    load(&app).await;
    let rows = dump(&app).await;
    let catalog = catalog(&app).await;
    assert_eq!(catalog, self::catalog(&fresh).await);

    layout::apply(&app.db, Layout::Partitioned).await.expect("up");
    assert_eq!(layout::current(&app.db).await.unwrap(), Layout::Partitioned);
    assert_eq!(dump(&app).await, rows);
    // The loaded months became partitions: nothing waits in the default partitions but
    // the undated rows.
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM metrics_trend_point_default").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM metrics_drilldown_default").await, 2);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM metrics_drilldown_2026_03").await, 2 * 10);
    layout::apply(&app.db, Layout::Partitioned).await.expect("up again is a no-op");

    layout::apply(&app.db, Layout::Plain).await.expect("down");
    assert_eq!(layout::current(&app.db).await.unwrap(), Layout::Plain);
    assert_eq!(dump(&app).await, rows);
    assert_eq!(self::catalog(&app).await, catalog);
    app.finish().await;
    fresh.finish().await;
}

/// Indexes, constraints and columns of the four tables, as definitions.
async fn catalog(app: &TestApp) -> Vec<String> {
    let sql = "SELECT s FROM ( \
        SELECT 'index ' || indexdef AS s FROM pg_indexes WHERE tablename LIKE 'metrics_%' \
        UNION ALL SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) \
            FROM pg_constraint WHERE conrelid::regclass::text LIKE 'metrics_%' \
        UNION ALL SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || \
            COALESCE(column_default, '') || ' ' || ordinal_position FROM information_schema.columns WHERE table_name LIKE 'metrics_%' \
        ) x ORDER BY s";
    let rows = app.db.query_all_raw(Statement::from_string(app.db_backend(), sql.to_owned())).await.unwrap();
    rows.iter().map(|r| r.try_get::<String>("", "s").unwrap()).collect()
}

/// Every partition carries each index of its table, named after it; the natural-key
/// index refuses a second row for a stored key whatever its id, and the upsert's
/// conflict target is the layout's row-id constraint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_carry_the_spec_indexes_and_the_natural_key() {
    let Some(app) = TestApp::postgres_partitioned().await else { return };
    let sql = "WITH RECURSIVE parts AS ( \
            SELECT inhrelid AS rel, inhparent AS root FROM pg_inherits WHERE inhparent IN \
              ('metrics_trend_point'::regclass, 'metrics_breakdown_point'::regclass, 'metrics_drilldown'::regclass) \
            UNION ALL SELECT i.inhrelid, parts.root FROM pg_inherits i JOIN parts ON i.inhparent = parts.rel) \
        SELECT COUNT(*) AS n FROM parts JOIN pg_class c ON c.oid = parts.rel \
        WHERE c.relkind = 'r' AND (SELECT COUNT(*) FROM pg_index WHERE indrelid = parts.rel) \
                                <> (SELECT COUNT(*) FROM pg_index WHERE indrelid = parts.root)";
    assert_eq!(app.count(sql).await, 0, "a leaf partition lacks an index of its table");
    let leaves = "SELECT COUNT(*) AS n FROM pg_class WHERE relname LIKE 'uq_metrics_trend_point_natural_key_%_fine'";
    assert!(app.count(leaves).await >= 4, "named copies of the natural-key index");

    let targets = metrics_api::store::layout::conflict_targets(&app.db).await.unwrap();
    assert_eq!(targets.of("metrics_trend_point"), "id, time_bucket, time_grain");
    assert_eq!(targets.of("metrics_drilldown"), "id, time_bucket");
    assert_eq!(targets.of("metrics_summary"), "id");
    assert!(!targets.returns_xmax("metrics_trend_point") && targets.returns_xmax("metrics_summary"));

    let p = pid(7);
    fixtures::project(&app.db, p, "p").await;
    let now: DateTime<Utc> = Utc::now();
    let row = fixtures::trend_row(
        p,
        "m",
        TimeGrain::Hour,
        metrics_api::buckets::truncate(TimeGrain::Hour, now),
        json!({}),
        Some(1.0),
    );
    fixtures::trends(&app.db, vec![row]).await;
    let dup = format!(
        "INSERT INTO metrics_trend_point (id, project_id, metric_key, time_grain, time_bucket, dimensions, value_numeric) \
         SELECT gen_random_uuid(), project_id, metric_key, time_grain, time_bucket, dimensions, 2 FROM metrics_trend_point \
         WHERE project_id = '{p}'"
    );
    let err = app.db.execute_unprepared(&dup).await.expect_err("a second row for the natural key");
    assert!(err.to_string().contains("uq_metrics_trend_point_natural_key_"), "{err}");
    app.finish().await;
}

/// SQLite has one layout: asking for another is a clear error, and nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_refuses_the_partitioned_layout() {
    let app = TestApp::sqlite().await;
    let err = layout::apply(&app.db, Layout::Partitioned).await.expect_err("refused");
    assert!(err.to_string().contains("needs PostgreSQL"), "{err}");
    assert_eq!(layout::current(&app.db).await.unwrap(), Layout::Plain);
    app.finish().await;
}
