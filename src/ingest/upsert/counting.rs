//! The upsert statements of one table's rows, and how they count what each row did
//! (inserted, updated, refreshed, unchanged) without a round trip per row.

use std::collections::HashSet;

use sea_orm::{ConnectionTrait, DbBackend, DbErr};
use uuid::Uuid;

use super::tables::{insert_values, per_chunk, Table};
use crate::ingest::rows::Row;
use crate::ingest::UpsertCounts;
use crate::store::layout::ConflictTargets;
use crate::store::sql::Sql;

/// The ids among `chunk` already stored in `table`.
pub(super) async fn stored_ids<R: Row>(
    db: &impl ConnectionTrait,
    table: &str,
    chunk: &[R],
) -> Result<HashSet<Uuid>, DbErr> {
    let mut q = Sql::new(db.get_database_backend());
    q.push(&format!("SELECT id FROM {table} WHERE "));
    let mut projects: Vec<Uuid> = chunk.iter().map(Row::project_id).collect();
    projects.sort();
    projects.dedup();
    // The project filter keeps the statement on the rows' shards (docs/SCALING.md).
    q.in_list("project_id", &projects).push(" AND ");
    let ids: Vec<Uuid> = chunk.iter().map(Row::id).collect();
    q.in_list("id", &ids);
    let rows = db.query_all_raw(q.build()).await?;
    rows.iter().map(|r| r.try_get::<Uuid>("", "id")).collect()
}

/// Upserts one table's rows, counting what each row did.
///
/// Two statements per chunk, both `INSERT ... ON CONFLICT (id) DO UPDATE ... WHERE`: the
/// first writes rows whose value changed (or that are new), the second, over the rows
/// the first left alone, moves `computed_at` of rows sent again with a newer one
/// (`refreshed`). Rows neither touched are `unchanged`. On a first load every row is new
/// and the second statement has no rows; on a replay of the same batch it changes none.
pub(super) async fn upsert<R: Row>(
    db: &impl ConnectionTrait,
    targets: &ConflictTargets,
    table: &Table<R>,
    rows: &[R],
) -> Result<UpsertCounts, DbErr> {
    let backend = db.get_database_backend();
    let target = targets.of(table.name);
    let mut counts = UpsertCounts::default();
    for chunk in rows.chunks(per_chunk(backend, table, rows)) {
        // Which rows this statement inserted and which it changed, exactly, under
        // concurrent writers too. PostgreSQL's `xmax = 0` in RETURNING tells them apart in
        // one statement; where RETURNING cannot read system columns (a partitioned table)
        // or has none (SQLite), new rows go first with `DO NOTHING`, then the others.
        let (inserted, written_ids) = match targets.returns_xmax(table.name) {
            true => {
                let written = write_changed(db, target, table, chunk.iter(), "id, (xmax = 0) AS inserted").await?;
                let inserted = written.iter().filter(|r| r.try_get::<bool>("", "inserted").unwrap_or(false)).count();
                (inserted as u64, ids(&written))
            }
            false => {
                let mut sql = insert_values(backend, table, chunk);
                sql.push(&format!(" ON CONFLICT ({target}) DO NOTHING RETURNING id"));
                let mut written = ids(&db.query_all_raw(sql.build()).await?);
                let inserted = written.len() as u64;
                let rest: Vec<&R> = chunk.iter().filter(|r| !written.contains(&r.id())).collect();
                if !rest.is_empty() {
                    written.extend(ids(&write_changed(db, target, table, rest.into_iter(), "id").await?));
                }
                (inserted, written)
            }
        };
        let refreshed = match table.computed_at {
            Some(col) => {
                let rest: Vec<&R> = chunk.iter().filter(|r| !written_ids.contains(&r.id())).collect();
                refresh(db, target, table, col, &rest).await?
            }
            None => 0,
        };
        let n = chunk.len() as u64;
        let written = written_ids.len() as u64;
        counts += UpsertCounts {
            inserted,
            updated: written.saturating_sub(inserted),
            refreshed,
            unchanged: n.saturating_sub(written + refreshed),
        };
    }
    Ok(counts)
}

/// `INSERT ... ON CONFLICT DO UPDATE ... WHERE <a compared column changed> RETURNING`:
/// writes new rows and changed ones, and returns exactly those.
async fn write_changed<'r, R: Row + 'r>(
    db: &impl ConnectionTrait,
    target: &str,
    table: &Table<R>,
    rows: impl Iterator<Item = &'r R>,
    returning: &str,
) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
    let backend = db.get_database_backend();
    let distinct = match backend {
        DbBackend::Postgres => "IS DISTINCT FROM",
        _ => "IS NOT",
    };
    let mut sql = insert_values(backend, table, rows);
    let set: Vec<String> = table.updated.iter().map(|c| format!("{c} = excluded.{c}")).collect();
    let changed: Vec<String> =
        table.compared.iter().map(|c| format!("{}.{c} {distinct} excluded.{c}", table.name)).collect();
    sql.push(&format!(
        " ON CONFLICT ({target}) DO UPDATE SET {} WHERE {} RETURNING {returning}",
        set.join(", "),
        changed.join(" OR ")
    ));
    db.query_all_raw(sql.build()).await
}

fn ids(rows: &[sea_orm::QueryResult]) -> HashSet<Uuid> {
    rows.iter().filter_map(|r| r.try_get::<Uuid>("", "id").ok()).collect()
}

/// Moves `computed_at` forward on stored rows sent again with a newer one; returns how
/// many moved.
async fn refresh<R: Row>(
    db: &impl ConnectionTrait,
    target: &str,
    table: &Table<R>,
    col: &str,
    rows: &[&R],
) -> Result<u64, DbErr> {
    if rows.is_empty() {
        return Ok(0);
    }
    let mut sql = insert_values(db.get_database_backend(), table, rows.iter().copied());
    sql.push(&format!(
        " ON CONFLICT ({target}) DO UPDATE SET {col} = excluded.{col} WHERE {t}.{col} < excluded.{col}",
        t = table.name
    ));
    Ok(db.execute_raw(sql.build()).await?.rows_affected())
}
