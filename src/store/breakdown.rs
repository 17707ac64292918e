//! Breakdown rows: one bucket (the latest that has rows, or snapshot-only rows) or every
//! bucket of a range.
//!
//! The series index `idx_metrics_breakdown_point_series (project_id, metric_key,
//! time_grain, time_bucket DESC)` serves both: the latest bucket is the first entry of the
//! project's (metric, grain) range, a bucket range is a range scan.

use chrono::{DateTime, Utc};
use entity::metrics_breakdown_point::{self, Model as BreakdownPoint};
use entity::sea_orm_active_enums::TimeGrain;
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

use super::rows::{query_all, query_per_key};
use super::sql::Sql;

fn select(sql: &mut Sql) {
    sql.select_all::<metrics_breakdown_point::Entity>();
}

/// `project_id = p AND metric_key = m AND <grain> AND dimension_key = k`.
fn push_series(sql: &mut Sql, project: Uuid, metric_key: &str, grain: Option<TimeGrain>, dimension_key: &str) {
    sql.push(" WHERE project_id = ").bind(project).push(" AND metric_key = ").bind(metric_key);
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
    projects: &[Uuid],
    metric_key: &str,
    dimension_key: &str,
    grain: Option<TimeGrain>,
) -> Result<Vec<Vec<BreakdownPoint>>, DbErr> {
    query_per_key::<BreakdownPoint>(db, projects.len(), |sql, i| {
        select(sql);
        push_series(sql, projects[i], metric_key, grain, dimension_key);
        if grain.is_some() {
            // The latest bucket: the first index entry of this series, read backwards.
            sql.push(" AND time_bucket = (SELECT time_bucket FROM metrics_breakdown_point");
            push_series(sql, projects[i], metric_key, grain, dimension_key);
            sql.push(" ORDER BY time_bucket DESC LIMIT 1)");
        }
        sql.push(" ORDER BY dimension_value");
    })
    .await
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
    select(&mut sql);
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
