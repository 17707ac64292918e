//! Trend points over a range, for many projects and metric keys in one statement.
//!
//! `project_id IN (..) AND metric_key IN (..) AND time_grain = g AND time_bucket in
//! [from, to)` is a set of range scans on `idx_metrics_trend_point_series (project_id,
//! metric_key, time_grain, time_bucket DESC)`.

use chrono::{DateTime, Utc};
use entity::metrics_trend_point::{self, Model as TrendPoint};
use entity::sea_orm_active_enums::TimeGrain;
use sea_orm::{ConnectionTrait, DbBackend, DbErr};
use serde_json::Value as Json;
use uuid::Uuid;

use super::rows::query_all;
use super::sql::Sql;
use crate::json::contains;

/// Which series of a metric to read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DimensionFilter {
    /// The one series whose dimensions equal this object (`{}`: the plain series).
    Exact(Json),
    /// Every series whose dimensions contain this object (PostgreSQL `@>`).
    Contains(Json),
}

impl DimensionFilter {
    /// Whether a stored series' dimensions pass the filter. Applied in Rust after the
    /// fetch on both backends, so they agree exactly (SQLite has no `@>`).
    pub fn matches(&self, dims: &Json) -> bool {
        match self {
            DimensionFilter::Exact(d) => d == dims,
            DimensionFilter::Contains(d) => contains(dims, d),
        }
    }
}

/// The points of the given projects and metric keys at `grain` with a bucket in
/// `[from, to)` whose dimensions pass `filter`, in bucket order.
pub async fn points(
    db: &impl ConnectionTrait,
    projects: &[Uuid],
    metric_keys: &[String],
    grain: TimeGrain,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    filter: &DimensionFilter,
) -> Result<Vec<TrendPoint>, DbErr> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.select_all::<metrics_trend_point::Entity>().push(" WHERE ");
    sql.in_list("project_id", projects)
        .push(" AND ")
        .in_list("metric_key", metric_keys)
        .push(" AND time_grain = ")
        .bind_grain(grain)
        .push(" AND time_bucket >= ")
        .bind_time(from)
        .push(" AND time_bucket < ")
        .bind_time(to);
    match (filter, sql.backend()) {
        (DimensionFilter::Exact(d), _) => {
            sql.push(" AND dimensions = ").bind_json(d);
        }
        (DimensionFilter::Contains(d), DbBackend::Postgres) => {
            sql.push(" AND dimensions @> ").bind_json(d);
        }
        // SQLite: the indexed range is fetched and filtered in Rust below.
        (DimensionFilter::Contains(_), _) => {}
    }
    sql.push(" ORDER BY time_bucket");
    let mut rows: Vec<TrendPoint> = query_all(db, sql.build()).await?;
    rows.retain(|p| filter.matches(&p.dimensions));
    Ok(rows)
}
