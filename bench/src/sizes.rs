//! `metrics-bench sizes`: what each table costs per row and per project, for
//! `docs/SCALING.md`.
//!
//! Generates the benchmark dataset for a few projects into its own database
//! (`metrics_bench_sizes`, so the big `metrics_bench` is left alone), measures each table
//! (rows, heap, indexes and TOAST from `pg_total_relation_size`), the rate at which the
//! dataset adds rows per project per day (rows over the days the table's time column
//! spans), and projects the steady-state size under the default retention policy at
//! 1k/10k/100k projects.

use sea_orm::{ConnectionTrait, Database};

use crate::dataset::{generate, scalar_i64};
use crate::server::{drop_database, url_of};

const DB: &str = "metrics_bench_sizes";

/// One measured slice of a table: a table, or one grain of the trend table.
struct Slice {
    label: &'static str,
    table: &'static str,
    /// `WHERE` condition selecting the slice (`TRUE`: the whole table).
    filter: &'static str,
    /// The time column the rows spread over.
    time: &'static str,
    /// The width of one bucket, in days: a slice of N buckets spans N widths.
    step_days: f64,
    /// Days the default retention policy keeps (spec section 5); week and month trend
    /// points are never expired: projected over one year.
    keep_days: f64,
}

const SLICES: &[Slice] = &[
    Slice {
        label: "metrics_trend_point (hour)",
        table: "metrics_trend_point",
        filter: "time_grain = 'hour'",
        time: "time_bucket",
        step_days: 1.0 / 24.0,
        keep_days: 90.0,
    },
    Slice {
        label: "metrics_trend_point (day)",
        table: "metrics_trend_point",
        filter: "time_grain = 'day'",
        time: "time_bucket",
        step_days: 1.0,
        keep_days: 90.0,
    },
    Slice {
        label: "metrics_trend_point (week, 1 year)",
        table: "metrics_trend_point",
        filter: "time_grain = 'week'",
        time: "time_bucket",
        step_days: 7.0,
        keep_days: 365.0,
    },
    Slice {
        label: "metrics_trend_point (month, 1 year)",
        table: "metrics_trend_point",
        filter: "time_grain = 'month'",
        time: "time_bucket",
        step_days: 365.25 / 12.0,
        keep_days: 365.0,
    },
    Slice {
        label: "metrics_breakdown_point",
        table: "metrics_breakdown_point",
        filter: "TRUE",
        time: "time_bucket",
        step_days: 1.0,
        keep_days: 90.0,
    },
    Slice {
        label: "metrics_drilldown",
        table: "metrics_drilldown",
        filter: "TRUE",
        time: "time_bucket",
        step_days: 1.0,
        keep_days: 30.0,
    },
    Slice {
        label: "metrics_summary",
        table: "metrics_summary",
        filter: "TRUE",
        time: "captured_at",
        step_days: 1.0,
        keep_days: 180.0,
    },
];

const TABLES: &[&str] =
    &["project", "metrics_trend_point", "metrics_breakdown_point", "metrics_drilldown", "metrics_summary"];

fn mib(bytes: f64) -> String {
    let gib = bytes / (1u64 << 30) as f64;
    if gib >= 1.0 {
        format!("{gib:.1} GiB")
    } else {
        format!("{:.0} MiB", bytes / (1u64 << 20) as f64)
    }
}

pub async fn run(admin_url: &str, projects: usize) {
    generate(admin_url, DB, projects).await;
    let db = Database::connect(url_of(admin_url, DB)).await.expect("connect");
    db.execute_unprepared("VACUUM ANALYZE").await.expect("vacuum");
    let q = |sql: String| {
        let db = &db;
        async move { scalar_i64(db, &sql).await }
    };

    println!("\n| table | rows | heap+TOAST B/row | indexes B/row | total B/row |\n|---|---|---|---|---|");
    let mut per_row = std::collections::HashMap::new();
    for t in TABLES {
        let rows = q(format!("SELECT COUNT(*) AS n FROM {t}")).await as f64;
        let total = q(format!("SELECT pg_total_relation_size('{t}') AS n")).await as f64;
        let indexes = q(format!("SELECT pg_indexes_size('{t}') AS n")).await as f64;
        per_row.insert(*t, total / rows);
        println!("| {t} | {rows} | {:.0} | {:.0} | {:.0} |", (total - indexes) / rows, indexes / rows, total / rows);
    }

    println!("\n| slice | rows per project per day | kept (days) | rows per project kept | bytes per project kept |\n|---|---|---|---|---|");
    let mut bytes_per_project = 0.0;
    let mut rows_per_project = 0.0;
    for s in SLICES {
        let rows = q(format!("SELECT COUNT(*) AS n FROM {} WHERE {}", s.table, s.filter)).await as f64;
        let span = q(format!(
            "SELECT EXTRACT(EPOCH FROM MAX({t}) - MIN({t}))::bigint AS n FROM {} WHERE {} AND {t} IS NOT NULL",
            s.table,
            s.filter,
            t = s.time
        ))
        .await as f64
            / 86400.0
            + s.step_days;
        let rate = rows / projects as f64 / span;
        let kept = rate * s.keep_days;
        let bytes = kept * per_row[s.table];
        rows_per_project += kept;
        bytes_per_project += bytes;
        println!("| {} | {rate:.2} | {} | {kept:.0} | {:.0} KiB |", s.label, s.keep_days, bytes / 1024.0);
    }
    println!("\nper project kept: {rows_per_project:.0} rows, {:.1} MiB", bytes_per_project / (1u64 << 20) as f64);
    println!("\n| projects | rows | size |\n|---|---|---|");
    for n in [1_000.0, 10_000.0, 100_000.0] {
        println!("| {n:.0} | {:.2e} | {} |", rows_per_project * n, mib(bytes_per_project * n));
    }
    db.close().await.ok();
    drop_database(admin_url, DB).await;
}
