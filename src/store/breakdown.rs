//! Breakdown rows: one bucket (the latest that has rows, or snapshot-only rows) or every
//! bucket of a range.
//!
//! The series index `idx_metrics_breakdown_point_series (project_id, metric_key,
//! time_grain, time_bucket DESC)` serves both: the latest bucket is the first entry of the
//! project's (metric, grain) range, a bucket range is a range scan.

use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use entity::metrics_breakdown_point::{self, Model as BreakdownPoint};
use entity::sea_orm_active_enums::TimeGrain;
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

use super::per_project::{self, Key, PerProject, ReadShape, Take};
use super::rows::query_all;
use super::sql::Sql;

/// `AND metric_key = m AND <grain> AND dimension_key = k`: one series of a project.
fn push_series(sql: &mut Sql, metric_key: &str, grain: Option<TimeGrain>, dimension_key: &str) {
    sql.push(" AND metric_key = ").bind(metric_key);
    match grain {
        Some(g) => sql.push(" AND time_grain = ").bind_grain(g),
        None => sql.push(" AND time_grain IS NULL AND time_bucket IS NULL"),
    };
    sql.push(" AND dimension_key = ").bind(dimension_key);
}

/// For each project, the rows of one bucket: with a grain, the latest bucket that has
/// rows for this metric and dimension key; without, the snapshot-only rows (no grain, no
/// bucket). Rows are ordered by dimension value.
pub async fn latest(
    db: &impl ConnectionTrait,
    shape: ReadShape,
    projects: &[Uuid],
    metric_key: &str,
    dimension_key: &str,
    grain: Option<TimeGrain>,
) -> Result<Vec<Vec<BreakdownPoint>>, DbErr> {
    let read = PerProject::<metrics_breakdown_point::Entity> {
        keys: projects.iter().map(|&project_id| Key { project_id, after: None }).collect(),
        filter: Box::new(move |sql| push_series(sql, metric_key, grain, dimension_key)),
        // Total: a bucket has one row per dimension value (the natural key).
        order: "dimension_value",
        take: if grain.is_some() { Take::Greatest("time_bucket") } else { Take::All },
        entity: PhantomData,
    };
    per_project::read(db, shape, &read).await
}

/// Rows of the given projects at `grain` with a bucket in `[from, to)`, ordered by
/// bucket then dimension value.
pub async fn range(
    db: &impl ConnectionTrait,
    projects: &[Uuid],
    metric_key: &str,
    dimension_key: &str,
    grain: TimeGrain,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<BreakdownPoint>, DbErr> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.select_all::<metrics_breakdown_point::Entity>();
    sql.push(" WHERE ")
        .in_list("project_id", projects)
        .push(" AND metric_key = ")
        .bind(metric_key)
        .push(" AND time_grain = ")
        .bind_grain(grain)
        .push(" AND time_bucket >= ")
        .bind_time(from)
        .push(" AND time_bucket < ")
        .bind_time(to)
        .push(" AND dimension_key = ")
        .bind(dimension_key)
        .push(" ORDER BY time_bucket, dimension_value");
    query_all(db, sql.build()).await
}
