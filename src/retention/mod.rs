//! Retention and compaction (spec section 5) as a set-based, idempotent job.
//!
//! Rules, for a run at `now`:
//! - summary snapshots: deleted after 180 days; older than 30 days, one per project, scope
//!   and UTC day is kept (the latest of that day);
//! - trend points: hour and day points are folded into week points once their whole ISO
//!   week is older than 90 days, and then deleted; a week point already stored (written by
//!   a compute job, or by an earlier run) is kept as it is. Week and month points stay;
//! - breakdown points: deleted after 90 days; drilldown rows after 30 days. Rows without a
//!   bucket age by `computed_at`.
//!
//! Why whole weeks: a week that straddles the horizon still has points inside the full-
//! resolution window; folding half of it would write a week point from half the data, and
//! the rest would later be deleted against it. So full resolution is kept for at least 90
//! days, folding happens by whole weeks.
//!
//! Safety: every step is a set-based statement (the only rows that pass through Rust are
//! the folded week points, one per series and week). Each project and table is one
//! transaction, so a crash leaves every project before or after a step and a re-run
//! finishes the job; a second run finds nothing to do. Only rows past the horizons are
//! touched, never the recent ones compute jobs are writing. `--dry-run` runs the same
//! transactions and rolls them back, so it reports exactly what a run would do.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use entity::sea_orm_active_enums::TimeGrain;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, TransactionTrait};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::buckets;
use crate::catalog::{Aggregation, Catalog};
use crate::identity::{self, normalize_time};
use crate::ingest::rows::TrendRow;
use crate::store::sql::Sql;

/// How long each kind of row is kept.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub summary_keep: Duration,
    pub summary_daily_after: Duration,
    pub trend_full_resolution: Duration,
    pub breakdown_keep: Duration,
    pub drilldown_keep: Duration,
}

impl Default for Policy {
    /// The spec's section 5.
    fn default() -> Self {
        Policy {
            summary_keep: Duration::days(180),
            summary_daily_after: Duration::days(30),
            trend_full_resolution: Duration::days(90),
            breakdown_keep: Duration::days(90),
            drilldown_keep: Duration::days(30),
        }
    }
}

impl Policy {
    /// The first bucket of hour and day points that is never folded at `now`: the start of
    /// the ISO week holding `now - 90 days`.
    pub fn full_resolution_from(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        buckets::truncate(TimeGrain::Week, now - self.trend_full_resolution)
    }
}

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub now: DateTime<Utc>,
    /// Only this project.
    pub project: Option<Uuid>,
    /// Report, then roll every change back.
    pub dry_run: bool,
}

/// What a run did to one table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableReport {
    /// Rows deleted.
    pub deleted: u64,
    /// Hour and day rows folded into week points (and deleted).
    pub downsampled: u64,
    /// Week points written by folding.
    pub created: u64,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub projects: u64,
    pub summary: TableReport,
    pub trend: TableReport,
    pub breakdown: TableReport,
    pub drilldown: TableReport,
    /// Metric keys folded with the default `avg` because the catalog does not know them.
    pub unknown_metrics: BTreeSet<String>,
}

/// Runs the rules over every project (or one).
pub async fn run(db: &DatabaseConnection, catalog: &Catalog, policy: &Policy, opts: Options) -> Result<Report, DbErr> {
    let now = normalize_time(opts.now);
    let projects = match opts.project {
        Some(p) => vec![p],
        None => crate::store::project::list(db, None, u64::MAX >> 1, None).await?.into_iter().map(|p| p.id).collect(),
    };
    let mut report = Report { projects: projects.len() as u64, ..Default::default() };
    for p in projects {
        let txn = db.begin().await?;
        report.summary.deleted += summaries(&txn, p, now, policy).await?;
        finish(txn, opts.dry_run).await?;

        let txn = db.begin().await?;
        let folded = downsample(&txn, p, now, policy, catalog).await?;
        report.trend.downsampled += folded.downsampled;
        report.trend.created += folded.created;
        report.trend.deleted += folded.deleted;
        report.unknown_metrics.extend(folded.unknown);
        finish(txn, opts.dry_run).await?;

        let txn = db.begin().await?;
        report.breakdown.deleted += expire(&txn, "metrics_breakdown_point", p, now - policy.breakdown_keep).await?;
        finish(txn, opts.dry_run).await?;

        let txn = db.begin().await?;
        report.drilldown.deleted += expire(&txn, "metrics_drilldown", p, now - policy.drilldown_keep).await?;
        finish(txn, opts.dry_run).await?;
    }
    Ok(report)
}

async fn finish(txn: DatabaseTransaction, dry_run: bool) -> Result<(), DbErr> {
    if dry_run {
        txn.rollback().await
    } else {
        txn.commit().await
    }
}

async fn exec(db: &impl ConnectionTrait, sql: Sql) -> Result<u64, DbErr> {
    Ok(db.execute_raw(sql.build()).await?.rows_affected())
}

/// The UTC day of a timestamp column, comparable across rows.
fn utc_day(backend: DbBackend, col: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("date_trunc('day', {col} AT TIME ZONE 'UTC')"),
        // Stored as RFC 3339 text in UTC: the first ten characters are the UTC date.
        _ => format!("substr({col}, 1, 10)"),
    }
}

fn null_safe_eq(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "IS NOT DISTINCT FROM",
        _ => "IS",
    }
}

/// Summary snapshots: delete past 180 days, then keep the latest of each UTC day past 30.
async fn summaries(db: &DatabaseTransaction, project: Uuid, now: DateTime<Utc>, policy: &Policy) -> Result<u64, DbErr> {
    let b = db.get_database_backend();
    let mut sql = Sql::new(b);
    sql.push("DELETE FROM metrics_summary WHERE project_id = ").bind(project);
    sql.push(" AND captured_at < ").bind_time(now - policy.summary_keep);
    let mut deleted = exec(db, sql).await?;

    let mut sql = Sql::new(b);
    let (day_s, day_s2) = (utc_day(b, "s.captured_at"), utc_day(b, "s2.captured_at"));
    let eq = null_safe_eq(b);
    sql.push("DELETE FROM metrics_summary AS s WHERE s.project_id = ").bind(project);
    sql.push(" AND s.captured_at < ").bind_time(now - policy.summary_daily_after);
    sql.push(&format!(
        " AND EXISTS (SELECT 1 FROM metrics_summary s2 WHERE s2.project_id = s.project_id AND s2.scope {eq} s.scope \
         AND {day_s2} = {day_s} AND (s2.captured_at > s.captured_at OR (s2.captured_at = s.captured_at AND s2.id > s.id)))"
    ));
    deleted += exec(db, sql).await?;
    Ok(deleted)
}

/// Breakdown and drilldown rows: bucket (or, without one, `computed_at`) before `cut`.
async fn expire(db: &DatabaseTransaction, table: &str, project: Uuid, cut: DateTime<Utc>) -> Result<u64, DbErr> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push(&format!("DELETE FROM {table} WHERE project_id = ")).bind(project);
    sql.push(" AND (time_bucket < ").bind_time(cut);
    sql.push(" OR (time_bucket IS NULL AND computed_at < ").bind_time(cut).push("))");
    exec(db, sql).await
}

/// Statistics of the finer points of one series in one week, at one grain.
#[derive(Debug, Clone)]
struct WeekStats {
    count: i64,
    sum: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    avg: Option<f64>,
    last: Option<f64>,
}

/// (metric key, canonical dimensions, week start): one folded week point.
type SeriesWeek = (String, String, DateTime<Utc>);

#[derive(Default)]
struct Folded {
    downsampled: u64,
    created: u64,
    deleted: u64,
    unknown: BTreeSet<String>,
}

/// The ISO week start of a bucket column, as a timestamp of the backend's stored form.
fn week_of(backend: DbBackend, col: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("(date_trunc('week', {col} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"),
        // Monday on or before the day, in the text form timestamps are stored in.
        _ => format!("strftime('%Y-%m-%dT00:00:00+00:00', {col}, '-6 days', 'weekday 1')"),
    }
}

/// Hour and day points of whole weeks past the horizon: one week point per series and
/// week (day points preferred where both grains exist), then the finer rows deleted.
async fn downsample(
    db: &DatabaseTransaction,
    project: Uuid,
    now: DateTime<Utc>,
    policy: &Policy,
    catalog: &Catalog,
) -> Result<Folded, DbErr> {
    let b = db.get_database_backend();
    let cut = policy.full_resolution_from(now);
    let week = week_of(b, "time_bucket");
    let grain_text = match b {
        DbBackend::Postgres => "CAST(time_grain AS text)",
        _ => "time_grain",
    };
    let mut sql = Sql::new(b);
    // `last`: the value of the latest bucket of each group, by a window over the same
    // partition (both backends have window functions; neither needs a correlated query).
    sql.push(&format!(
        "SELECT metric_key, dimensions, grain, wk, COUNT(*) AS n, SUM(value_numeric) AS s, MIN(value_numeric) AS mn, \
         MAX(value_numeric) AS mx, AVG(value_numeric) AS av, MAX(last_v) AS last_v FROM (\
         SELECT metric_key, dimensions, {grain_text} AS grain, {week} AS wk, value_numeric, \
         FIRST_VALUE(value_numeric) OVER (PARTITION BY metric_key, dimensions, time_grain, {week} ORDER BY time_bucket DESC) AS last_v \
         FROM metrics_trend_point WHERE project_id = "
    ));
    sql.bind(project).push(" AND time_grain IN (").bind_grain(TimeGrain::Hour).push(", ").bind_grain(TimeGrain::Day);
    sql.push(") AND time_bucket < ").bind_time(cut);
    sql.push(") AS fine GROUP BY metric_key, dimensions, grain, wk");
    let rows = db.query_all_raw(sql.build()).await?;

    // (metric, dimensions, week) -> stats per grain; day wins over hour.
    let mut groups: BTreeMap<SeriesWeek, (TimeGrain, Value, WeekStats)> = BTreeMap::new();
    let mut folded = Folded::default();
    for r in rows {
        let metric: String = r.try_get("", "metric_key")?;
        let dims: Value = r.try_get("", "dimensions")?;
        let grain = TimeGrain::parse(&r.try_get::<String>("", "grain")?).unwrap_or(TimeGrain::Hour);
        let wk: DateTime<Utc> = r.try_get("", "wk")?;
        let stats = WeekStats {
            count: r.try_get("", "n")?,
            sum: r.try_get("", "s")?,
            min: r.try_get("", "mn")?,
            max: r.try_get("", "mx")?,
            avg: r.try_get("", "av")?,
            last: r.try_get("", "last_v")?,
        };
        let key = (metric, identity::canonical_json(&dims), wk);
        match groups.get(&key) {
            Some((TimeGrain::Day, _, _)) => {}
            _ => {
                groups.insert(key, (grain, dims, stats));
            }
        }
    }
    let mut week_rows = Vec::with_capacity(groups.len());
    for ((metric, _, wk), (grain, dims, stats)) in groups {
        let aggregation = catalog.aggregation(&metric).unwrap_or_else(|| {
            folded.unknown.insert(metric.clone());
            Aggregation::Avg
        });
        let value = match aggregation {
            Aggregation::Sum => stats.sum,
            Aggregation::Avg => stats.avg,
            Aggregation::Min => stats.min,
            Aggregation::Max => stats.max,
            Aggregation::Last => stats.last,
        };
        let dims = identity::canonicalize(&dims);
        week_rows.push(TrendRow {
            id: identity::trend_point_id(project, &metric, TimeGrain::Week, wk, &dims),
            project_id: project,
            metric_key: metric,
            grain: TimeGrain::Week,
            time_bucket: wk,
            dimensions: dims,
            value_numeric: value,
            value_json: Some(json!({
                "downsampled_from": grain.as_str(),
                "aggregation": aggregation.as_str(),
                "count": stats.count,
                "sum": stats.sum,
                "min": stats.min,
                "max": stats.max,
                "avg": stats.avg,
            })),
            computed_at: now,
        });
    }
    week_rows.sort_by_key(|r| r.id);
    folded.created = crate::ingest::upsert::insert_trend_rows_if_absent(db, &week_rows).await?;

    let mut sql = Sql::new(b);
    sql.push("DELETE FROM metrics_trend_point WHERE project_id = ").bind(project);
    sql.push(" AND time_grain IN (").bind_grain(TimeGrain::Hour).push(", ").bind_grain(TimeGrain::Day);
    sql.push(") AND time_bucket < ").bind_time(cut);
    folded.deleted = exec(db, sql).await?;
    folded.downsampled = folded.deleted;
    Ok(folded)
}
