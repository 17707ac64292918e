//! The Citus layout: the four read-model tables distributed by `project_id` and
//! co-located, `project` a reference table. Run against the Citus coordinator; the API
//! then runs unchanged against the coordinator.
//!
//! Why `project_id`: every index of the spec leads with it, every read filters on it and
//! every write carries it, so each one-project statement is routed to the single shard
//! (and worker) that holds the project, and co-location keeps a project's rows of all four
//! tables on the same worker. `project` is small and joined by everything: a reference
//! table, copied to every node, so the foreign keys of the distributed tables stay
//! enforced on the workers.
//!
//! Keys: Citus requires the distribution column in every primary key and unique
//! constraint of a distributed table. [`up`] turns each primary key `(id)` into
//! `(project_id, id)`; because the id is a hash of the natural key, which contains
//! `project_id`, it is exactly as strict as `(id)`. Only this layout changes the key (the
//! plain layout keeps the spec's `PRIMARY KEY (id)`): on one PostgreSQL the narrower key is
//! the spec's, and the write side reads its `ON CONFLICT` target from the catalog
//! (`metrics_api::store::layout`), so it follows without a code change. The natural-key
//! unique indexes lead with `project_id` already; Citus accepts them as they are,
//! `md5(..)` expressions and `NULLS NOT DISTINCT` included, and creates them on every
//! shard, so the natural-key guarantee holds per shard, which is per project, which is
//! the whole guarantee.
//!
//! A host system's `project` with foreign keys from its own tables: making `project` a
//! reference table turns those tables into Citus local tables (they stay on the
//! coordinator; Citus does so itself, `citus.enable_local_reference_table_foreign_keys`).
//!
//! The row-id SQL functions of migration m20260401 are marked as distributed objects (and
//! the `uuid-ossp` extension they call is created on the workers when Citus does not
//! know it already: [`uuid_ossp_on_workers`]), so Citus creates them on every worker:
//! `INSERT .. SELECT metrics_trend_point_id(..) FROM <distributed table>` runs on the
//! workers, where they must exist.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};

use super::TABLES;
use crate::m20260401_000001_guard_natural_keys::ID_FUNCTION_SIGNATURES;

/// The table the others are co-located with.
const COLOCATE_WITH: &str = "metrics_summary";

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

/// How Citus holds `table`: `None` for a plain PostgreSQL table, else the partition
/// method of `pg_dist_partition` (`h` distributed, `n` reference or Citus local table).
async fn citus_kind(db: &impl ConnectionTrait, table: &str) -> Result<Option<String>, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT partmethod::text AS m, repmodel::text AS r FROM pg_dist_partition WHERE logicalrelid = to_regclass($1)",
            [table.into()],
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let method: String = row.try_get("", "m")?;
    let repmodel: String = row.try_get("", "r")?;
    // A reference table is method `n` with replication model `t`; a Citus local table is
    // method `n` with model `s`.
    Ok(Some(if method == "n" && repmodel == "t" { "reference".into() } else { method }))
}

/// Fails with an operator-readable error unless this database is a Citus coordinator.
async fn require_coordinator(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL AS has_citus",
        ))
        .await?;
    let has_citus = row.map(|r| r.try_get::<bool>("", "has_citus")).transpose()?.unwrap_or(false);
    if !has_citus {
        return Err(DbErr::Custom(
            "the citus layout needs the Citus extension in this database (CREATE EXTENSION citus), \
             run against the coordinator"
                .into(),
        ));
    }
    let row =
        db.query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT citus_is_coordinator() AS c")).await?;
    if !row.map(|r| r.try_get::<bool>("", "c")).transpose()?.unwrap_or(false) {
        return Err(DbErr::Custom(
            "this database is not a Citus coordinator: run the citus layout against the coordinator \
             (after citus_set_coordinator_host and citus_add_node)"
                .into(),
        ));
    }
    Ok(())
}

/// Converts the plain tables (rows included) to the Citus layout, in one transaction.
pub async fn up(db: &DatabaseConnection) -> Result<(), DbErr> {
    require_coordinator(db).await?;
    match citus_kind(db, "project").await?.as_deref() {
        None | Some("reference") => {}
        Some(other) => {
            return Err(DbErr::Custom(format!(
                "`project` is already a Citus table of method `{other}`; the citus layout needs it as a \
                 reference table (undistribute it first)"
            )))
        }
    }
    uuid_ossp_on_workers(db).await?;
    let txn = db.begin().await?;
    for table in TABLES {
        txn.execute_unprepared(&format!(
            "ALTER TABLE {table} DROP CONSTRAINT {table}_pkey, ADD CONSTRAINT {table}_pkey PRIMARY KEY (project_id, id)"
        ))
        .await?;
    }
    if citus_kind(&txn, "project").await?.is_none() {
        txn.execute_unprepared("SELECT create_reference_table('project')").await?;
    }
    for table in TABLES {
        let colocate = if table == COLOCATE_WITH { "default".to_owned() } else { COLOCATE_WITH.to_owned() };
        txn.execute_unprepared(&format!(
            "SELECT create_distributed_table('{table}', 'project_id', colocate_with => '{colocate}')"
        ))
        .await?;
    }
    // Callees first: a worker checks an SQL function's body when it creates it, so
    // `metrics_trend_point_id` needs `metrics_id_field` there already (the signatures are
    // listed callers first, the order to drop them in).
    for function in ID_FUNCTION_SIGNATURES.iter().rev() {
        txn.execute_unprepared(&format!("SELECT create_distributed_function('{function}')")).await?;
    }
    // The coordinator's tables are now shells; their old rows only take disk space.
    for table in TABLES.iter().chain(["project"].iter()) {
        txn.execute_unprepared(&format!("SELECT truncate_local_data_after_distributing_table('{table}')")).await?;
    }
    txn.commit().await
}

/// Creates `uuid-ossp` on every worker when Citus does not know it as a distributed
/// object: the id functions call `uuid_generate_v5`, but an SQL function's body records
/// no dependency, so distributing them does not take the extension along, and a worker
/// refuses to create a function whose body calls a missing one. A worker refuses DDL
/// that does not come from the coordinator unless propagation is off for the command.
/// (An extension created
/// after `CREATE EXTENSION citus` is distributed already, and new workers get it.)
async fn uuid_ossp_on_workers(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT EXISTS (SELECT 1 FROM pg_dist_object o JOIN pg_extension e ON e.oid = o.objid \
             WHERE o.classid = 'pg_extension'::regclass AND e.extname = 'uuid-ossp') AS d",
        ))
        .await?;
    if row.map(|r| r.try_get::<bool>("", "d")).transpose()?.unwrap_or(false) {
        return Ok(());
    }
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT nodename::text AS node, nodeport AS port, success, result \
             FROM run_command_on_workers($$SET citus.enable_ddl_propagation = off; CREATE EXTENSION IF NOT EXISTS \"uuid-ossp\"$$)",
        ))
        .await?;
    for r in rows {
        if !r.try_get::<bool>("", "success")? {
            let (node, port): (String, i32) = (r.try_get("", "node")?, r.try_get("", "port")?);
            let result: String = r.try_get("", "result")?;
            return Err(DbErr::Custom(format!(
                "cannot create the uuid-ossp extension on worker {node}:{port} (the row-id functions need it): {result}"
            )));
        }
    }
    Ok(())
}

/// Converts back to plain tables on the coordinator (rows included), with the primary
/// keys on `id`, in one transaction. `project` becomes a plain table again too, and so
/// does any host table linked to it by a foreign key (Citus undistributes a table with
/// everything its foreign keys connect it to).
pub async fn down(db: &DatabaseConnection) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    // undistribute_table re-creates the table, which loses its comment: the mark that
    // `project` was created by the migrations (and may be dropped by them).
    let row = txn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT obj_description(to_regclass('project'), 'pg_class') AS c",
        ))
        .await?;
    let comment: Option<String> = row.map(|r| r.try_get("", "c")).transpose()?.flatten();
    txn.execute_unprepared("SELECT undistribute_table('project', cascade_via_foreign_keys => true)").await?;
    if let Some(comment) = comment {
        txn.execute_unprepared(&format!("COMMENT ON TABLE project IS '{}'", comment.replace('\'', "''"))).await?;
    }
    for table in TABLES {
        txn.execute_unprepared(&format!(
            "ALTER TABLE {table} DROP CONSTRAINT {table}_pkey, ADD CONSTRAINT {table}_pkey PRIMARY KEY (id)"
        ))
        .await?;
    }
    txn.commit().await
}
