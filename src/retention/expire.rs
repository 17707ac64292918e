//! The row-by-row expiry rules of summary, breakdown and drilldown rows (see the module
//! documentation of [`crate::retention`]): each a `DELETE` scoped to one project, on the
//! project's index prefix.

use chrono::{DateTime, Utc};
use entity::sea_orm_active_enums::TimeGrain;
use sea_orm::{ConnectionTrait, DbBackend, DbErr};
use uuid::Uuid;

use super::{exec, Policy};
use crate::buckets;
use crate::store::sql::Sql;

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
pub async fn summaries(
    db: &impl ConnectionTrait,
    project: Uuid,
    now: DateTime<Utc>,
    policy: &Policy,
) -> Result<u64, DbErr> {
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
pub async fn expire_breakdowns(db: &impl ConnectionTrait, project: Uuid, cut: DateTime<Utc>) -> Result<u64, DbErr> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("DELETE FROM metrics_breakdown_point WHERE project_id = ").bind(project).push(" AND (");
    push_expired_bucket(&mut sql, cut);
    sql.push(" OR (time_bucket IS NULL AND computed_at < ").bind_time(cut);
    sql.push(" AND computed_at < (SELECT MAX(l.computed_at) FROM metrics_breakdown_point l WHERE l.project_id = ");
    sql.bind(project).push(
        " AND l.metric_key = metrics_breakdown_point.metric_key \
         AND l.time_grain IS NULL AND l.time_bucket IS NULL \
         AND l.dimension_key = metrics_breakdown_point.dimension_key)))",
    );
    exec(db, sql).await
}

/// `(time_grain = 'hour' AND time_bucket < ...) OR ...`: a breakdown row whose bucket
/// ends before `cut` (shared with the whole-partition check of [`super::partitions`]).
pub fn push_expired_bucket(sql: &mut Sql, cut: DateTime<Utc>) {
    for (i, g) in [TimeGrain::Hour, TimeGrain::Day, TimeGrain::Week, TimeGrain::Month].into_iter().enumerate() {
        if i > 0 {
            sql.push(" OR ");
        }
        sql.push("(time_grain = ").bind_grain(g).push(" AND time_bucket < ").bind_time(ends_before(g, cut));
        sql.push(")");
    }
}

/// Drilldown rows: a bucket (an instant: drilldowns have no grain) before `cut` goes; a
/// row without a bucket goes when computed before `cut`, unless it belongs to the most
/// recent run of its metric and entity type.
pub async fn expire_drilldowns(db: &impl ConnectionTrait, project: Uuid, cut: DateTime<Utc>) -> Result<u64, DbErr> {
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
