//! Retention and compaction (spec section 5) as an idempotent job.
//!
//! Rules, for a run at `now`:
//! - summary snapshots: deleted after 180 days; older than 30 days, one per project, scope
//!   and UTC day is kept (the latest of that day);
//! - trend points: hour and day points are folded into week points once their whole ISO
//!   week is older than 90 days, and then removed. Folding is exact whenever the points
//!   arrive: a week point keeps every value it was folded from, and a late or corrected
//!   point is merged into it at the next run (see [`fold`]). A week point a compute job
//!   wrote is authoritative: kept as it is, the fine points of its week deleted. Week
//!   and month points stay;
//! - breakdown points: deleted once their bucket's end is older than 90 days; drilldown
//!   rows once their bucket is older than 30 days. Rows without a bucket age by
//!   `computed_at`, except the most recent run of their series (its latest
//!   `computed_at`), which stays as long as it is the most recent: a current snapshot is
//!   never deleted. A compute job's re-send with a newer `computed_at` refreshes it.
//!
//! Why whole weeks: a week that straddles the horizon still has points inside the full-
//! resolution window; folding half of it would show a week point from half the data. So
//! full resolution is kept for at least 90 days, folding happens by whole weeks.
//!
//! The report tells folded rows (their values live on in a week point) from deleted ones.
//!
//! Safety: each project and table is one transaction, so a crash leaves every project
//! before or after a step and a re-run finishes the job; a second run finds nothing to
//! do. The fold deletes exactly the fine rows it read (locked on PostgreSQL; SQLite's
//! write lock is taken first), so a point written during a run is folded by the next.
//! Only rows past the horizons are touched. `--dry-run` runs the same transactions and
//! rolls them back, so it reports exactly what a run would do.

pub mod fold;
pub mod schedule;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use entity::sea_orm_active_enums::TimeGrain;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, TransactionTrait};
use serde_json::Value;
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
    /// Rows deleted without being kept anywhere: expired, or (trend) hour and day points
    /// of a week whose week point a compute job wrote.
    pub deleted: u64,
    /// Hour and day rows folded into week points: their values live on in the week
    /// point's contributions; the rows themselves are removed.
    pub folded: u64,
    /// Week points written by folding for the first time.
    pub created: u64,
    /// Week points folded again with late or corrected points.
    pub updated: u64,
}

impl Report {
    /// Rows folded, over every table.
    pub fn folded(&self) -> u64 {
        self.trend.folded
    }

    /// Rows deleted, over every table.
    pub fn deleted(&self) -> u64 {
        self.summary.deleted + self.trend.deleted + self.breakdown.deleted + self.drilldown.deleted
    }
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
        report.trend.folded += folded.folded;
        report.trend.created += folded.created;
        report.trend.updated += folded.updated;
        report.trend.deleted += folded.deleted;
        report.unknown_metrics.extend(folded.unknown);
        finish(txn, opts.dry_run).await?;

        let txn = db.begin().await?;
        report.breakdown.deleted += expire_breakdowns(&txn, p, now - policy.breakdown_keep).await?;
        finish(txn, opts.dry_run).await?;

        let txn = db.begin().await?;
        report.drilldown.deleted += expire_drilldowns(&txn, p, now - policy.drilldown_keep).await?;
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

/// Breakdown points: a bucket whose end is older than `cut` goes (buckets age from their
/// end: a week bucket is kept until its last day is past the horizon); a snapshot-only row
/// (no bucket) goes when computed before `cut`, unless it belongs to the most recent run
/// of its metric and dimension key (the rows sharing their latest `computed_at`): a
/// current snapshot stays, whatever its age.
async fn expire_breakdowns(db: &DatabaseTransaction, project: Uuid, cut: DateTime<Utc>) -> Result<u64, DbErr> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("DELETE FROM metrics_breakdown_point WHERE project_id = ").bind(project).push(" AND (");
    for (i, g) in [TimeGrain::Hour, TimeGrain::Day, TimeGrain::Week, TimeGrain::Month].into_iter().enumerate() {
        if i > 0 {
            sql.push(" OR ");
        }
        sql.push("(time_grain = ").bind_grain(g).push(" AND time_bucket < ").bind_time(ends_before(g, cut));
        sql.push(")");
    }
    sql.push(" OR (time_bucket IS NULL AND computed_at < ").bind_time(cut);
    sql.push(" AND computed_at < (SELECT MAX(l.computed_at) FROM metrics_breakdown_point l WHERE l.project_id = ");
    sql.bind(project).push(
        " AND l.metric_key = metrics_breakdown_point.metric_key \
         AND l.time_grain IS NULL AND l.time_bucket IS NULL \
         AND l.dimension_key = metrics_breakdown_point.dimension_key)))",
    );
    exec(db, sql).await
}

/// Drilldown rows: a bucket (an instant: drilldowns have no grain) before `cut` goes; a
/// row without a bucket goes when computed before `cut`, unless it belongs to the most
/// recent run of its metric and entity type.
async fn expire_drilldowns(db: &DatabaseTransaction, project: Uuid, cut: DateTime<Utc>) -> Result<u64, DbErr> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("DELETE FROM metrics_drilldown WHERE project_id = ").bind(project);
    sql.push(" AND (time_bucket < ").bind_time(cut);
    sql.push(" OR (time_bucket IS NULL AND computed_at < ").bind_time(cut);
    sql.push(" AND computed_at < (SELECT MAX(l.computed_at) FROM metrics_drilldown l WHERE l.project_id = ");
    sql.bind(project).push(
        " AND l.metric_key = metrics_drilldown.metric_key \
         AND l.entity_type = metrics_drilldown.entity_type AND l.time_bucket IS NULL)))",
    );
    exec(db, sql).await
}

/// The first bucket start of `grain` whose bucket does not end before `cut`: buckets
/// starting earlier end before `cut`.
fn ends_before(grain: TimeGrain, cut: DateTime<Utc>) -> DateTime<Utc> {
    buckets::ceil(grain, cut).and_then(|c| buckets::shift(grain, c, -1)).unwrap_or(cut)
}

/// What folding did in one project.
#[derive(Default)]
struct FoldReport {
    folded: u64,
    created: u64,
    updated: u64,
    deleted: u64,
    unknown: BTreeSet<String>,
}

/// One hour or day point past the horizon.
struct FinePoint {
    id: Uuid,
    grain: TimeGrain,
    bucket: DateTime<Utc>,
    value: Option<f64>,
}

/// (metric key, canonical dimensions, week start): one week point.
type SeriesWeek = (String, String, DateTime<Utc>);

/// Folds the hour and day points of whole weeks past the horizon into week points (see
/// [`fold`]): merged into the week's stored contributions when it was folded before,
/// then deleted. Fine points of a week a compute job wrote itself are deleted unfolded.
async fn downsample(
    db: &DatabaseTransaction,
    project: Uuid,
    now: DateTime<Utc>,
    policy: &Policy,
    catalog: &Catalog,
) -> Result<FoldReport, DbErr> {
    let b = db.get_database_backend();
    crate::ingest::upsert::lock_for_writing(db).await?;
    let cut = policy.full_resolution_from(now);
    let mut sql = Sql::new(b);
    sql.push(&format!(
        "SELECT id, metric_key, dimensions, {}, time_bucket, value_numeric FROM metrics_trend_point WHERE project_id = ",
        sql.grain_col("time_grain")
    ));
    sql.bind(project).push(" AND time_grain IN (").bind_grain(TimeGrain::Hour).push(", ").bind_grain(TimeGrain::Day);
    sql.push(") AND time_bucket < ").bind_time(cut).push(" ORDER BY id");
    if b == DbBackend::Postgres {
        // Locked: a concurrent correction of one of these rows waits for this run, then
        // lands as a new fine row that the next run folds.
        sql.push(" FOR UPDATE");
    }
    let mut groups: BTreeMap<SeriesWeek, (Value, Vec<FinePoint>)> = BTreeMap::new();
    for r in db.query_all_raw(sql.build()).await? {
        let metric: String = r.try_get("", "metric_key")?;
        let dims: Value = r.try_get("", "dimensions")?;
        let bucket: DateTime<Utc> = r.try_get("", "time_bucket")?;
        let point = FinePoint {
            id: r.try_get("", "id")?,
            grain: TimeGrain::parse(&r.try_get::<String>("", "time_grain")?).unwrap_or(TimeGrain::Hour),
            bucket,
            value: r.try_get("", "value_numeric")?,
        };
        let key = (metric, identity::canonical_json(&dims), buckets::truncate(TimeGrain::Week, bucket));
        groups.entry(key).or_insert_with(|| (dims, Vec::new())).1.push(point);
    }
    let mut report = FoldReport::default();
    if groups.is_empty() {
        return Ok(report);
    }

    let week_id = |(metric, _, wk): &SeriesWeek, dims: &Value| {
        identity::trend_point_id(project, metric, TimeGrain::Week, *wk, &identity::canonicalize(dims))
    };
    let metrics: BTreeSet<&str> = groups.keys().map(|(m, _, _)| m.as_str()).collect();
    let weeks: BTreeSet<DateTime<Utc>> = groups.keys().map(|(_, _, w)| *w).collect();
    let stored = stored_weeks(db, project, &metrics, &weeks).await?;

    let mut week_rows = Vec::new();
    let mut folded_ids = Vec::new();
    let mut superseded_ids = Vec::new();
    for (key, (dims, points)) in groups {
        let ids = points.iter().map(|p| p.id);
        // A stored week point keeps its id, derived or not (an SQL writer may have chosen
        // another): the natural-key index would refuse a second row for the week.
        let (id, mut contributions) = match stored.get(&key) {
            None => (week_id(&key, &dims), fold::Contributions::default()),
            Some((id, v)) => match fold::stored_contributions(v.as_ref()) {
                Some(c) => (*id, c),
                None => {
                    // A compute job's week point: authoritative, the fine points go.
                    superseded_ids.extend(ids);
                    continue;
                }
            },
        };
        folded_ids.extend(ids);
        for p in &points {
            contributions.put(p.grain, p.bucket, p.value);
        }
        let (metric, _, wk) = key;
        let aggregation = catalog.aggregation(&metric).unwrap_or_else(|| {
            report.unknown.insert(metric.clone());
            Aggregation::Avg
        });
        let folded = fold::fold(&contributions, aggregation);
        week_rows.push(TrendRow {
            id,
            project_id: project,
            metric_key: metric,
            grain: TimeGrain::Week,
            time_bucket: wk,
            dimensions: identity::canonicalize(&dims),
            value_numeric: folded.value,
            value_json: Some(folded.value_json),
            computed_at: now,
        });
    }
    week_rows.sort_by_key(|r| r.id);
    let writes = crate::ingest::upsert::write_folded_weeks(db, &week_rows).await?;
    report.created = writes.created;
    report.updated = writes.updated;
    report.folded = delete_ids(db, project, &folded_ids).await?;
    report.deleted = delete_ids(db, project, &superseded_ids).await?;
    Ok(report)
}

/// Ids per `IN (...)` list of the fold's reads and deletes: under both backends' bind
/// parameter limits, and few statements for a project's backlog.
const IDS_PER_STATEMENT: usize = 5000;

/// The stored week points of `metrics` at `weeks`, by natural key: their id and
/// `value_json` (locked on PostgreSQL). Read through the series index.
async fn stored_weeks(
    db: &DatabaseTransaction,
    project: Uuid,
    metrics: &BTreeSet<&str>,
    weeks: &BTreeSet<DateTime<Utc>>,
) -> Result<BTreeMap<SeriesWeek, (Uuid, Option<Value>)>, DbErr> {
    let b = db.get_database_backend();
    let metrics: Vec<String> = metrics.iter().map(|m| (*m).to_owned()).collect();
    let weeks: Vec<DateTime<Utc>> = weeks.iter().copied().collect();
    let mut out = BTreeMap::new();
    for weeks in weeks.chunks(IDS_PER_STATEMENT) {
        let mut sql = Sql::new(b);
        sql.push(
            "SELECT id, metric_key, dimensions, time_bucket, value_json FROM metrics_trend_point WHERE project_id = ",
        );
        sql.bind(project).push(" AND ").in_list("metric_key", &metrics);
        sql.push(" AND time_grain = ").bind_grain(TimeGrain::Week).push(" AND ").in_list("time_bucket", weeks);
        if b == DbBackend::Postgres {
            sql.push(" FOR UPDATE");
        }
        for r in db.query_all_raw(sql.build()).await? {
            let dims: Value = r.try_get("", "dimensions")?;
            let key = (r.try_get("", "metric_key")?, identity::canonical_json(&dims), r.try_get("", "time_bucket")?);
            out.insert(key, (r.try_get("", "id")?, r.try_get("", "value_json")?));
        }
    }
    Ok(out)
}

/// Deletes trend rows by id (exactly the rows read, never one written since).
async fn delete_ids(db: &DatabaseTransaction, project: Uuid, ids: &[Uuid]) -> Result<u64, DbErr> {
    let mut n = 0;
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        let mut sql = Sql::new(db.get_database_backend());
        sql.push("DELETE FROM metrics_trend_point WHERE project_id = ")
            .bind(project)
            .push(" AND ")
            .in_list("id", chunk);
        n += exec(db, sql).await?;
    }
    Ok(n)
}
