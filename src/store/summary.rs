//! Summary snapshots: the latest per project, and the newest-first history.
//!
//! Both shapes are one `UNION ALL` branch per project, each an index range scan on
//! `idx_metrics_summary_project_captured (project_id, captured_at DESC)` stopped by its
//! `LIMIT`.

use chrono::{DateTime, Utc};
use entity::metrics_summary::{self, Model as Summary};
use sea_orm::{ConnectionTrait, DbErr};
use serde_json::Value as Json;
use uuid::Uuid;

use super::rows::query_per_key;
use super::sql::Sql;
use super::TimeRange;

/// `scope IS NULL` for the project-wide snapshot, else JSON equality.
fn push_scope(sql: &mut Sql, scope: Option<&Json>) {
    match scope {
        None => sql.push(" AND scope IS NULL"),
        Some(s) => sql.push(" AND scope = ").bind_json(s),
    };
}

/// For each project, the latest snapshot captured at or before `at` whose scope equals
/// `scope` (`None`: the project-wide snapshot).
pub async fn latest(
    db: &impl ConnectionTrait,
    projects: &[Uuid],
    at: DateTime<Utc>,
    scope: Option<&Json>,
) -> Result<Vec<Option<Summary>>, DbErr> {
    let rows = query_per_key::<Summary>(db, projects.len(), |sql, i| {
        sql.select_all::<metrics_summary::Entity>()
            .push(" WHERE project_id = ")
            .bind(projects[i])
            .push(" AND captured_at <= ")
            .bind_time(at);
        push_scope(sql, scope);
        sql.push(" ORDER BY captured_at DESC LIMIT 1");
    })
    .await?;
    Ok(rows.into_iter().map(|r| r.into_iter().next()).collect())
}

/// Position in the newest-first history: the last row of the previous page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SummaryCursor {
    pub captured_at: DateTime<Utc>,
    pub id: Uuid,
}

/// One page request of a project's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageRequest {
    pub project_id: Uuid,
    pub after: Option<SummaryCursor>,
}

/// For each request, up to `limit` snapshots newest first (`captured_at DESC, id DESC`),
/// after the request's cursor, in `range`, with the given scope. Callers ask for one row
/// more than the page to learn whether another page follows.
pub async fn history(
    db: &impl ConnectionTrait,
    requests: &[PageRequest],
    range: TimeRange,
    scope: Option<&Json>,
    limit: u64,
) -> Result<Vec<Vec<Summary>>, DbErr> {
    query_per_key::<Summary>(db, requests.len(), |sql, i| {
        let r = requests[i];
        sql.select_all::<metrics_summary::Entity>().push(" WHERE project_id = ").bind(r.project_id);
        range.push_filter(sql, "captured_at");
        push_scope(sql, scope);
        if let Some(c) = r.after {
            // `captured_at <= c` is the index condition; the OR settles ties on id.
            sql.push(" AND captured_at <= ")
                .bind_time(c.captured_at)
                .push(" AND (captured_at < ")
                .bind_time(c.captured_at)
                .push(" OR id < ")
                .bind(c.id)
                .push(")");
        }
        sql.push(" ORDER BY captured_at DESC, id DESC LIMIT ").bind(limit as i64);
    })
    .await
}
