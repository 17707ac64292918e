//! Summary snapshots: the latest per project, and the newest-first history.
//!
//! Both are per-project reads ([`per_project`]) on
//! `idx_metrics_summary_project_captured (project_id, captured_at DESC)`: on one
//! PostgreSQL, one index range scan per project stopped by its `LIMIT`.

use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use entity::metrics_summary::{self, Model as Summary};
use sea_orm::{ConnectionTrait, DbErr};
use serde_json::Value as Json;
use uuid::Uuid;

use super::per_project::{self, Conditions, Key, PerProject, ReadShape, Take};
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
    shape: ReadShape,
    projects: &[Uuid],
    at: DateTime<Utc>,
    scope: Option<&Json>,
) -> Result<Vec<Option<Summary>>, DbErr> {
    let read = PerProject::<metrics_summary::Entity> {
        keys: projects.iter().map(|&project_id| Key { project_id, after: None }).collect(),
        filter: Box::new(move |sql| {
            sql.push(" AND captured_at <= ").bind_time(at);
            push_scope(sql, scope);
        }),
        // Total: a scope has one snapshot per instant (its natural key).
        order: "captured_at DESC",
        take: Take::First(1),
        entity: PhantomData,
    };
    let rows = per_project::read::<_, Summary>(db, shape, &read).await?;
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
    shape: ReadShape,
    requests: &[PageRequest],
    range: TimeRange,
    scope: Option<&Json>,
    limit: u64,
) -> Result<Vec<Vec<Summary>>, DbErr> {
    let after = |c: SummaryCursor| -> Conditions<'_> {
        Box::new(move |sql| {
            // `captured_at <= c` is the index condition; the OR settles ties on id.
            sql.push(" AND captured_at <= ")
                .bind_time(c.captured_at)
                .push(" AND (captured_at < ")
                .bind_time(c.captured_at)
                .push(" OR id < ")
                .bind(c.id)
                .push(")");
        })
    };
    let read = PerProject::<metrics_summary::Entity> {
        keys: requests.iter().map(|r| Key { project_id: r.project_id, after: r.after.map(after) }).collect(),
        filter: Box::new(move |sql| {
            range.push_filter(sql, "captured_at");
            push_scope(sql, scope);
        }),
        order: "captured_at DESC, id DESC",
        take: Take::First(limit),
        entity: PhantomData,
    };
    per_project::read(db, shape, &read).await
}
