//! Projects: lookups by id (primary key) and the paged list for discovery.
//!
//! `project` may be the host system's table (the spec's migration 0005 runs after it
//! exists), and of it metrics-api requires only `id uuid PRIMARY KEY`. So rows are read
//! with `SELECT *` and decoded by name: `name` and `created_at` are used when the table
//! has them (a missing or differently typed `name` reads as null, a missing `created_at`
//! as the Unix epoch), and any other column is ignored.

use chrono::{DateTime, Utc};
use entity::project::Model as Project;
use sea_orm::{ConnectionTrait, DbErr, QueryResult};
use uuid::Uuid;

use super::sql::Sql;

fn decode(row: &QueryResult) -> Result<Project, DbErr> {
    Ok(Project {
        id: row.try_get("", "id")?,
        name: row.try_get::<Option<String>>("", "name").ok().flatten(),
        created_at: row.try_get::<DateTime<Utc>>("", "created_at").unwrap_or(DateTime::UNIX_EPOCH),
    })
}

/// The projects among `ids` that exist, in no particular order.
pub async fn by_ids(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Vec<Project>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT * FROM project WHERE ").in_list("id", ids);
    db.query_all_raw(sql.build()).await?.iter().map(decode).collect()
}

/// The ids among `ids` that `project` holds (reads the primary key only).
pub async fn existing_ids(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Vec<Uuid>, DbErr> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(super::sql::MAX_KEYS_PER_STATEMENT) {
        let mut sql = Sql::new(db.get_database_backend());
        sql.push("SELECT id FROM project WHERE ").in_list("id", chunk);
        for r in db.query_all_raw(sql.build()).await? {
            out.push(r.try_get("", "id")?);
        }
    }
    Ok(out)
}

/// Up to `limit` projects ordered by id, after `after` (a keyset on the primary key),
/// among `only` when given (the projects a token allows).
pub async fn list(
    db: &impl ConnectionTrait,
    after: Option<Uuid>,
    limit: u64,
    only: Option<&[Uuid]>,
) -> Result<Vec<Project>, DbErr> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT * FROM project WHERE 1 = 1");
    if let Some(ids) = only {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        sql.push(" AND ").in_list("id", ids);
    }
    if let Some(a) = after {
        sql.push(" AND id > ").bind(a);
    }
    sql.push(" ORDER BY id LIMIT ").bind(i64::try_from(limit).unwrap_or(i64::MAX));
    db.query_all_raw(sql.build()).await?.iter().map(decode).collect()
}
