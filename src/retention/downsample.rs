//! Downsampling: hour and day trend points of whole weeks past the horizon folded into
//! week points (the arithmetic is in [`super::fold`]; this is the reading and writing).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use entity::sea_orm_active_enums::TimeGrain;
use sea_orm::{ConnectionTrait, DbBackend, DbErr};
use serde_json::Value;
use uuid::Uuid;

use super::{exec, fold, Policy};
use crate::buckets;
use crate::catalog::{Aggregation, Catalog};
use crate::identity;
use crate::ingest::rows::TrendRow;
use crate::store::sql::Sql;

/// What folding did in one project.
#[derive(Default)]
pub struct FoldReport {
    pub folded: u64,
    /// Week points written: created, and updated (folded before this run).
    pub weeks: crate::ingest::upsert::WeekWrites,
    pub deleted: u64,
    pub unknown: BTreeSet<String>,
}

/// One hour or day point past the horizon.
struct FinePoint {
    id: Uuid,
    grain: TimeGrain,
    bucket: DateTime<Utc>,
    value: Option<f64>,
}

/// Where the fine points come from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// The trend table: points past the horizon, locked, deleted once folded.
    /// `partitioned`: the table is partitioned by month (the deletes then name the
    /// points' buckets, so that only their months are searched).
    Table { partitioned: bool },
    /// One expired `_fine` partition, locked whole by the caller and dropped after every
    /// project's points in it are folded: nothing is deleted row by row.
    Partition(&'a str),
}

/// (metric key, canonical dimensions, week start): one week point.
type SeriesWeek = (String, String, DateTime<Utc>);

/// Folds the hour and day points of whole weeks past the horizon into week points (see
/// [`fold`]): merged into the week's stored contributions when it was folded before,
/// then deleted. Fine points of a week a compute job wrote itself are deleted unfolded.
pub async fn downsample(
    db: &impl ConnectionTrait,
    project: Uuid,
    now: DateTime<Utc>,
    policy: &Policy,
    catalog: &Catalog,
    source: Source<'_>,
) -> Result<FoldReport, DbErr> {
    let b = db.get_database_backend();
    crate::ingest::upsert::lock_for_writing(db).await?;
    let cut = policy.full_resolution_from(now);
    let mut sql = Sql::new(b);
    sql.push(&format!(
        "SELECT id, metric_key, dimensions, {}, time_bucket, value_numeric FROM {} WHERE project_id = ",
        sql.grain_col("time_grain"),
        match source {
            Source::Table { .. } => "metrics_trend_point",
            Source::Partition(leaf) => leaf,
        }
    ));
    sql.bind(project).push(" AND time_grain IN (").bind_grain(TimeGrain::Hour).push(", ").bind_grain(TimeGrain::Day);
    sql.push(") AND time_bucket < ").bind_time(cut).push(" ORDER BY id");
    if b == DbBackend::Postgres && matches!(source, Source::Table { .. }) {
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
        let ids = points.iter().map(|p| (p.id, p.bucket));
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
    report.weeks = writes;
    match source {
        Source::Table { partitioned } => {
            report.folded = delete_points(db, project, folded_ids, partitioned).await?;
            report.deleted = delete_points(db, project, superseded_ids, partitioned).await?;
        }
        Source::Partition(_) => {
            report.folded = folded_ids.len() as u64;
            report.deleted = superseded_ids.len() as u64;
        }
    }
    Ok(report)
}

/// Ids per `IN (...)` list of the fold's reads and deletes: under both backends' bind
/// parameter limits, and few statements for a project's backlog.
const IDS_PER_STATEMENT: usize = 5000;

/// The stored week points of `metrics` at `weeks`, by natural key: their id and
/// `value_json` (locked on PostgreSQL). Read through the series index.
async fn stored_weeks(
    db: &impl ConnectionTrait,
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

/// Deletes hour and day points by id (exactly the rows read, never one written since):
/// the primary key finds each one.
///
/// On the partitioned layout `id` is in no partition key, so an id alone is looked up in
/// every month's key index. There the statement also lists the points' buckets and fine
/// grains: `time_bucket IN (...)` prunes the search to the months the points are in, and
/// both stay conditions of the key index `(id, time_bucket, time_grain)`. It deletes the
/// same rows: an id hashes the natural key, bucket included. (Bounding by a bucket range
/// instead made the planner leave the key index and measured slower: `docs/PERFORMANCE.md`.)
async fn delete_points(
    db: &impl ConnectionTrait,
    project: Uuid,
    mut points: Vec<(Uuid, DateTime<Utc>)>,
    partitioned: bool,
) -> Result<u64, DbErr> {
    if partitioned {
        // Few months per statement.
        points.sort_by_key(|&(id, bucket)| (bucket, id));
    }
    let mut n = 0;
    for chunk in points.chunks(IDS_PER_STATEMENT) {
        let ids: Vec<Uuid> = chunk.iter().map(|(id, _)| *id).collect();
        let mut sql = Sql::new(db.get_database_backend());
        sql.push("DELETE FROM metrics_trend_point WHERE project_id = ").bind(project).push(" AND ").in_list("id", &ids);
        if partitioned {
            let mut buckets: Vec<DateTime<Utc>> = chunk.iter().map(|(_, b)| *b).collect();
            buckets.dedup();
            sql.push(" AND ").in_list("time_bucket", &buckets);
            sql.push(" AND time_grain IN (")
                .bind_grain(TimeGrain::Hour)
                .push(", ")
                .bind_grain(TimeGrain::Day)
                .push(")");
        }
        n += exec(db, sql).await?;
    }
    Ok(n)
}
