//! Decoding rows of batched statements: each row carries `key_idx`, the position of the
//! key (project and cursor) whose branch produced it.

use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Statement};

/// Runs a statement whose rows are `key_idx` plus the columns of `M`, and returns them
/// grouped by key position (`out[i]` are the rows of key `i`, in statement order).
pub async fn query_tagged<M: FromQueryResult>(
    db: &impl ConnectionTrait,
    stmt: Statement,
    keys: usize,
) -> Result<Vec<Vec<M>>, DbErr> {
    let mut out: Vec<Vec<M>> = (0..keys).map(|_| Vec::new()).collect();
    for row in db.query_all_raw(stmt).await? {
        let idx: i64 = row.try_get("", "key_idx")?;
        let slot = usize::try_from(idx)
            .ok()
            .and_then(|i| out.get_mut(i))
            .ok_or_else(|| DbErr::Custom(format!("row tagged with unknown key {idx}")))?;
        slot.push(M::from_query_result(&row, "")?);
    }
    Ok(out)
}

/// Runs a plain statement and decodes every row as `M`.
pub async fn query_all<M: FromQueryResult>(db: &impl ConnectionTrait, stmt: Statement) -> Result<Vec<M>, DbErr> {
    db.query_all_raw(stmt).await?.iter().map(|row| M::from_query_result(row, "")).collect()
}

use super::sql::{Sql, MAX_KEYS_PER_STATEMENT};
use sea_orm::DbBackend;

/// One statement for many keys, each key its own `UNION ALL` branch with its own
/// `ORDER BY ... LIMIT`: every branch is an index range scan for one project, and the
/// planner never has to guess a join order. `branch` writes the inner `SELECT` for key `i`
/// (the columns of `M`, without `key_idx`).
///
/// Keys are split into chunks of [`MAX_KEYS_PER_STATEMENT`] (SQLite's compound-select
/// cap); below that, the statement count does not depend on the number of keys.
pub async fn query_per_key<M: FromQueryResult>(
    db: &impl ConnectionTrait,
    keys: usize,
    branch: impl Fn(&mut Sql, usize),
) -> Result<Vec<Vec<M>>, DbErr> {
    let backend: DbBackend = db.get_database_backend();
    let mut out: Vec<Vec<M>> = Vec::with_capacity(keys);
    let mut start = 0;
    while start < keys {
        let end = (start + MAX_KEYS_PER_STATEMENT).min(keys);
        let mut sql = Sql::new(backend);
        for i in start..end {
            if i > start {
                sql.push(" UNION ALL ");
            }
            // BIGINT: PostgreSQL types a bare literal as int4, which does not decode as i64.
            sql.push(&format!("SELECT CAST({} AS BIGINT) AS key_idx, b{i}.* FROM (", i - start));
            branch(&mut sql, i);
            sql.push(&format!(") AS b{i}"));
        }
        out.extend(query_tagged::<M>(db, sql.build(), end - start).await?);
        start = end;
    }
    Ok(out)
}
