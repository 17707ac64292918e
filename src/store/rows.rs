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
