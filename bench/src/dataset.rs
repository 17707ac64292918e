//! `metrics-bench generate`: a deterministic dataset for N projects (default 500), loaded
//! server-side with `generate_series` (no row-by-row inserts), secondary indexes dropped
//! during the load and rebuilt after it, then `ANALYZE`d.
//!
//! Per project: 10 metrics of hourly trend points over 90 days (2,160 each, 10.8M at the
//! default scale), day/week/month rollups, two metrics with per-team daily series, daily
//! breakdowns by state over 200 days (1M), 2,000 drilldown rows (1M) and daily summaries for
//! 180 days. Data ends at the UTC day the load runs on (the anchor).
//!
//! `metrics-bench retention` copies the dataset and times `metrics-api retention` on the
//! copy with `--now` 30 days after the anchor, so a third of the hourly points are past
//! the 90-day horizon.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

use crate::server::{drop_database, fresh_database, url_of};

pub const DB: &str = "metrics_bench";

pub async fn exec(db: &DatabaseConnection, sql: &str) {
    db.execute_unprepared(sql).await.unwrap_or_else(|e| panic!("{e}: {sql}"));
}

pub async fn scalar_i64(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db.query_one_raw(Statement::from_string(DbBackend::Postgres, sql.to_owned())).await.unwrap().unwrap();
    row.try_get("", "n").unwrap()
}

/// The anchor of a generated dataset: the day after its last daily point.
pub async fn anchor(db: &DatabaseConnection) -> DateTime<Utc> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT max(time_bucket) AS t FROM metrics_trend_point WHERE time_grain = 'day'".to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    let t: DateTime<Utc> = row.try_get("", "t").expect("a generated dataset");
    t + Duration::days(1)
}

/// Generates the dataset into a fresh database `name` (`metrics_bench` for the other
/// benchmarks).
pub async fn generate(admin_url: &str, name: &str, projects: usize) {
    let started = Instant::now();
    let db = fresh_database(admin_url, name).await;
    let anchor = metrics_api::buckets::truncate(entity::sea_orm_active_enums::TimeGrain::Day, Utc::now());
    let a = format!("timestamptz '{}'", anchor.to_rfc3339());
    // Secondary indexes slow a bulk load several times over: keep their definitions, drop
    // them, rebuild after.
    let defs: Vec<(String, String)> = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND indexname LIKE 'idx_%'"
                .to_owned(),
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| (r.try_get("", "indexname").unwrap(), r.try_get("", "indexdef").unwrap()))
        .collect();
    for (name, _) in &defs {
        exec(&db, &format!("DROP INDEX {name}")).await;
    }
    let n = projects;
    exec(&db, &format!("INSERT INTO project (id, name, created_at) SELECT md5('bp' || p)::uuid, 'bench project ' || p, {a} - interval '200 days' FROM generate_series(1, {n}) p")).await;
    for m in 1..=10 {
        // Hourly, 90 days.
        exec(&db, &format!(
            "INSERT INTO metrics_trend_point (id, project_id, metric_key, time_grain, time_bucket, dimensions, value_numeric, computed_at)
             SELECT md5('bh-{m}-' || p || '-' || h)::uuid, md5('bp' || p)::uuid, 'metric_{m}', 'hour', {a} - interval '90 days' + h * interval '1 hour',
                    '{{}}'::jsonb, ((p * 7 + {m} * 13 + h) % 100)::float8, {a}
             FROM generate_series(1, {n}) p, generate_series(0, 2159) h"
        ))
        .await;
        // Day, week and month rollups.
        for (grain, step, count) in [("day", "1 day", 90), ("week", "7 days", 13), ("month", "1 month", 3)] {
            let start = match grain {
                "week" => format!("date_trunc('week', {a} - interval '91 days')"),
                "month" => format!("date_trunc('month', {a} - interval '90 days')"),
                _ => format!("{a} - interval '90 days'"),
            };
            exec(&db, &format!(
                "INSERT INTO metrics_trend_point (id, project_id, metric_key, time_grain, time_bucket, dimensions, value_numeric, computed_at)
                 SELECT md5('b{grain}-{m}-' || p || '-' || d)::uuid, md5('bp' || p)::uuid, 'metric_{m}', '{grain}', {start} + d * interval '{step}',
                        '{{}}'::jsonb, ((p + {m} + d) % 50)::float8, {a}
                 FROM generate_series(1, {n}) p, generate_series(0, {count} - 1) d"
            ))
            .await;
        }
    }
    // Per-team daily series of two metrics.
    exec(&db, &format!(
        "INSERT INTO metrics_trend_point (id, project_id, metric_key, time_grain, time_bucket, dimensions, value_numeric, computed_at)
         SELECT md5('bteam-' || m || '-' || p || '-' || t || '-' || d)::uuid, md5('bp' || p)::uuid, 'metric_' || m, 'day', {a} - interval '90 days' + d * interval '1 day',
                jsonb_build_object('team', 'team_' || t), ((p + d + t) % 20)::float8, {a}
         FROM generate_series(1, {n}) p, generate_series(1, 2) m, generate_series(1, 2) t, generate_series(0, 89) d"
    ))
    .await;
    exec(&db, &format!(
        "INSERT INTO metrics_breakdown_point (id, project_id, metric_key, time_grain, time_bucket, dimension_key, dimension_value, value_numeric, computed_at)
         SELECT md5('bb-' || k || '-' || p || '-' || d || '-' || s)::uuid, md5('bp' || p)::uuid, k, 'day', {a} - interval '200 days' + d * interval '1 day',
                'state', 'state_' || s, ((p + d * s) % 30)::float8, {a}
         FROM generate_series(1, {n}) p, unnest(ARRAY['wip', 'gate_decisions']) k, generate_series(0, 199) d, generate_series(1, 5) s"
    ))
    .await;
    exec(&db, &format!(
        "INSERT INTO metrics_drilldown (id, project_id, metric_key, entity_type, entity_id, reference_id, time_bucket, payload, computed_at)
         SELECT md5('bd-' || p || '-' || e)::uuid, md5('bp' || p)::uuid, 'task_cycle_time', 'task', md5('be-' || e)::uuid, NULL,
                {a} - (e % 120) * interval '1 day', jsonb_build_object('title', 'Task ' || e, 'hours', e % 97), {a}
         FROM generate_series(1, {n}) p, generate_series(1, 2000) e"
    ))
    .await;
    exec(&db, &format!(
        "INSERT INTO metrics_summary (id, project_id, captured_at, scope, payload, created_at)
         SELECT md5('bs-' || p || '-' || d)::uuid, md5('bp' || p)::uuid, {a} - interval '180 days' + d * interval '1 day' + interval '6 hours', NULL,
                jsonb_build_object('open', (p + d) % 40, 'done', d), {a}
         FROM generate_series(1, {n}) p, generate_series(0, 179) d"
    ))
    .await;
    let loaded = started.elapsed();
    for (_, def) in &defs {
        exec(&db, def).await;
    }
    exec(&db, "ANALYZE").await;
    let total = started.elapsed();
    println!("| table | rows |\n|---|---|");
    for t in ["project", "metrics_trend_point", "metrics_breakdown_point", "metrics_drilldown", "metrics_summary"] {
        println!("| {t} | {} |", scalar_i64(&db, &format!("SELECT COUNT(*) AS n FROM {t}")).await);
    }
    println!(
        "\nloaded {n} projects in {:.1} s (rows), {:.1} s with index rebuild and ANALYZE; anchor {}",
        loaded.as_secs_f64(),
        total.as_secs_f64(),
        anchor.to_rfc3339()
    );
    db.close().await.ok();
}

/// Times `metrics-api retention` on a copy of the dataset, `after_days` after it ends, on
/// the plain or the partitioned layout; prints the rows left per table, so runs on the two
/// layouts can be compared.
pub async fn retention(admin_url: &str, bin: &str, partitioned: bool, after_days: i64) {
    let copy = "metrics_bench_retention";
    drop_database(admin_url, copy).await;
    let admin = Database::connect(admin_url).await.unwrap();
    exec(&admin, &format!("CREATE DATABASE {copy} TEMPLATE {DB}")).await;
    admin.close().await.ok();
    let url = url_of(admin_url, copy);
    let db = Database::connect(&url).await.unwrap();
    let now = anchor(&db).await + Duration::days(after_days);
    let trend_rows = scalar_i64(&db, "SELECT COUNT(*) AS n FROM metrics_trend_point").await;
    let metrics_api = |args: &[&str]| {
        let started = Instant::now();
        let out = std::process::Command::new(bin).args(args).env("DATABASE_URL", &url).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        print!("{}", String::from_utf8_lossy(&out.stdout));
        started.elapsed()
    };
    if partitioned {
        let took = metrics_api(&["migrate", "--partitioned"]);
        exec(&db, "ANALYZE").await;
        println!("converted to the partitioned layout in {:.1} s", took.as_secs_f64());
    }
    let took = metrics_api(&["retention", "--now", &now.to_rfc3339()]);
    println!(
        "retention ({} layout, {after_days} days after the data) over {trend_rows} trend points (and the other tables) in {:.1} s: {:.0} trend rows/s",
        if partitioned { "partitioned" } else { "plain" },
        took.as_secs_f64(),
        trend_rows as f64 / took.as_secs_f64()
    );
    for table in ["metrics_summary", "metrics_trend_point", "metrics_breakdown_point", "metrics_drilldown"] {
        let n = scalar_i64(&db, &format!("SELECT COUNT(*) AS n FROM {table}")).await;
        println!("rows left in {table}: {n}");
    }
    db.close().await.ok();
    drop_database(admin_url, copy).await;
}
