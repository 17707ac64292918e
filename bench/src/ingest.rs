//! `metrics-bench ingest`: upserts N trend points three ways and compares them with a raw
//! multi-row `INSERT` of the same rows in the same run:
//! - raw: `INSERT INTO metrics_trend_point VALUES (...), (...)` in chunks, no conflict
//!   handling, one connection: the floor;
//! - api: `upsertTrendPoints` over HTTP against `metrics-api serve`, N rows a call;
//! - cli: `metrics-api ingest` of an NDJSON file;
//! - cli again, into a database without the natural-key unique indexes: their cost.
//!
//! Each way starts from an empty table in a fresh database.

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use entity::sea_orm_active_enums::TimeGrain;
use metrics_api::identity;
use metrics_api::store::sql::Sql;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::server::{drop_database, fresh_database, start_server, url_of};

const DB: &str = "metrics_bench_ingest";

/// Row `i` of the benchmark: 100 projects, 10 metrics, hourly buckets.
struct Point {
    project: Uuid,
    metric: String,
    bucket: DateTime<Utc>,
    value: f64,
}

fn point(i: usize) -> Point {
    let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
    Point {
        project: Uuid::from_u128(0xbe00_0000 + (i % 100) as u128),
        metric: format!("metric_{}", (i / 100) % 10),
        bucket: start + chrono::Duration::hours((i / 1000) as i64),
        value: (i % 97) as f64,
    }
}

async fn raw_insert(db: &DatabaseConnection, rows: usize) -> Duration {
    db.execute_unprepared(
        "INSERT INTO project (id) SELECT ('00000000-0000-0000-0000-0000' || lpad(to_hex(3187671040 + i), 8, '0'))::uuid FROM generate_series(0, 99) i",
    )
    .await
    .unwrap();
    let start = Instant::now();
    let per = 6000;
    let mut i = 0;
    while i < rows {
        let end = (i + per).min(rows);
        let mut sql = Sql::new(DbBackend::Postgres);
        sql.push("INSERT INTO metrics_trend_point (id, project_id, metric_key, time_grain, time_bucket, dimensions, value_numeric, value_json, computed_at) VALUES ");
        for j in i..end {
            let p = point(j);
            let dims = json!({});
            let id = identity::trend_point_id(p.project, &p.metric, TimeGrain::Hour, p.bucket, &dims);
            if j > i {
                sql.push(", ");
            }
            sql.push("(").bind(id).push(", ").bind(p.project).push(", ").bind(p.metric.as_str()).push(", ");
            sql.bind_grain(TimeGrain::Hour).push(", ").bind_time(p.bucket).push(", ").bind_json(&dims).push(", ");
            sql.bind(Some(p.value)).push(", CAST(NULL AS jsonb), ").bind_time(Utc::now()).push(")");
        }
        db.execute_raw(sql.build()).await.unwrap();
        i = end;
    }
    start.elapsed()
}

async fn api_ingest(bin: &str, url: &str, rows: usize, batch: usize) -> Duration {
    let server = start_server(bin, url, 18181, &[]).await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let q = "mutation($p: [TrendPointInput!]!) { upsertTrendPoints(points: $p) { inserted } }";
    // Bodies are built before the clock starts: the client's JSON encoding is not the API's.
    let bodies: Vec<String> = (0..rows)
        .step_by(batch)
        .map(|i| {
            let points: Vec<Value> = (i..(i + batch).min(rows))
                .map(|j| {
                    let p = point(j);
                    json!({ "projectId": p.project, "metricKey": p.metric, "grain": "HOUR", "bucket": p.bucket.to_rfc3339(), "value": p.value })
                })
                .collect();
            json!({ "query": q, "variables": { "p": points } }).to_string()
        })
        .collect();
    let start = Instant::now();
    for body in bodies {
        let r = client
            .post(format!("http://127.0.0.1:{}/graphql", server.port))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        assert!(v.get("errors").is_none(), "{v}");
    }
    start.elapsed()
}

fn cli_ingest(bin: &str, url: &str, rows: usize, batch: usize) -> Duration {
    let path = std::env::temp_dir().join("metrics-bench-ingest.ndjson");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..rows {
        let p = point(i);
        let line = json!({ "kind": "trend", "project_id": p.project, "metric_key": p.metric, "time_grain": "hour",
                           "time_bucket": p.bucket.to_rfc3339(), "value_numeric": p.value });
        writeln!(f, "{line}").unwrap();
    }
    f.flush().unwrap();
    drop(f);
    let start = Instant::now();
    let out = Command::new(bin)
        .args(["ingest", "--batch-size", &batch.to_string(), path.to_str().unwrap()])
        .env("DATABASE_URL", url)
        .output()
        .unwrap();
    let took = start.elapsed();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_file(path);
    took
}

fn report(name: &str, rows: usize, took: Duration, raw: Duration) {
    let rps = rows as f64 / took.as_secs_f64();
    println!(
        "| {name} | {rows} | {:.1} | {:.0} | {:.2}x |",
        took.as_secs_f64(),
        rps,
        took.as_secs_f64() / raw.as_secs_f64()
    );
}

/// Runs the three ways and prints the table.
pub async fn run(admin_url: &str, bin: &str, rows: usize, batch: usize) {
    let url = url_of(admin_url, DB);
    let db = fresh_database(admin_url, DB).await;
    let raw = raw_insert(&db, rows).await;
    db.close().await.ok();
    fresh_database(admin_url, DB).await.close().await.ok();
    let api = api_ingest(bin, &url, rows, batch).await;
    fresh_database(admin_url, DB).await.close().await.ok();
    let cli = cli_ingest(bin, &url, rows, batch);
    // The cost of the natural-key guard (issue 12): the same CLI ingest into a database
    // whose unique natural-key indexes were dropped after migrating.
    let db = fresh_database(admin_url, DB).await;
    for index in [
        migration::index_names::SUMMARY_NATURAL_KEY,
        migration::index_names::TREND_NATURAL_KEY,
        migration::index_names::BREAKDOWN_NATURAL_KEY,
        migration::index_names::DRILLDOWN_NATURAL_KEY,
    ] {
        db.execute_unprepared(&format!("DROP INDEX {index}")).await.unwrap();
    }
    db.close().await.ok();
    let unguarded = cli_ingest(bin, &url, rows, batch);
    println!("| way | rows | seconds | rows/s | time vs raw INSERT |");
    println!("|---|---|---|---|---|");
    report("raw multi-row INSERT (baseline)", rows, raw, raw);
    report("upsertTrendPoints over HTTP", rows, api, raw);
    report("metrics-api ingest (NDJSON)", rows, cli, raw);
    report("metrics-api ingest, natural-key indexes dropped", rows, unguarded, raw);
    println!(
        "\nnatural-key unique indexes: CLI ingest takes {:.2}x the time it takes without them",
        cli.as_secs_f64() / unguarded.as_secs_f64()
    );
    drop_database(admin_url, DB).await;
}
