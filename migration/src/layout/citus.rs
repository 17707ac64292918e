//! The Citus layout (being built: issue 18).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

/// Whether `table` is a Citus distributed table (call only when Citus is installed).
pub async fn is_distributed(db: &impl ConnectionTrait, table: &str) -> Result<bool, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass($1) AND partmethod = 'h') AS d",
            [table.into()],
        ))
        .await?;
    Ok(row.map(|r| r.try_get::<bool>("", "d")).transpose()?.unwrap_or(false))
}

pub async fn up(_db: &DatabaseConnection) -> Result<(), DbErr> {
    Err(DbErr::Custom("the citus layout is not built yet".into()))
}

pub async fn down(_db: &DatabaseConnection) -> Result<(), DbErr> {
    Err(DbErr::Custom("the citus layout is not built yet".into()))
}
