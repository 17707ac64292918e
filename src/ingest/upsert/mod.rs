//! The SQL of the write side: one transaction per batch; per table, chunks of a
//! multi-row `INSERT ... ON CONFLICT (id) DO UPDATE ... WHERE <changed> RETURNING id`
//! (the conflict target is the layout's row-id constraint, read by
//! [`crate::store::layout`]: `(id)` on the plain tables),
//! then the same over the rows it left alone to refresh a newer `computed_at`.
//!
//! Counting without per-row round trips: the `RETURNING` of the upsert lists the rows
//! inserted or actually updated (the `WHERE` skips unchanged ones); PostgreSQL tells
//! inserted from updated with `xmax = 0`; SQLite and partitioned tables (whose RETURNING
//! cannot read `xmax`) insert new rows first with `DO NOTHING RETURNING id`, then upsert
//! the others. Both backends support all of it (SQLite since 3.35).
//!
//! Each table is described once, as a function from a row to its (column, value) pairs:
//! the `INSERT`'s column list and its values come from the same pairs.
//!
//! # Layout
//! - this module: the batch's transaction, project registration, retries;
//! - [`tables`]: each table's columns and the multi-row `INSERT`;
//! - [`counting`]: the upsert statements and their counts;
//! - [`weeks`]: the retention job's folded week points.

mod counting;
mod tables;
mod weeks;

pub use weeks::{write_folded_weeks, WeekWrites};

use std::collections::HashSet;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, TransactionTrait};
use uuid::Uuid;

use self::counting::upsert;
use self::tables::{max_params, BREAKDOWN, DRILLDOWN, SUMMARY, TREND};
use super::rows::{BreakdownRow, DrilldownRow, Row, RowError, SummaryRow, TrendRow};
use super::{IngestError, ProjectRegistration, UpsertCounts};
use crate::store::layout::conflict_targets;
use crate::store::sql::Sql;

/// The rows of one transaction, by table.
#[derive(Debug, Default)]
pub struct Batch {
    pub summaries: Vec<SummaryRow>,
    pub trends: Vec<TrendRow>,
    pub breakdowns: Vec<BreakdownRow>,
    pub drilldowns: Vec<DrilldownRow>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.summaries.len() + self.trends.len() + self.breakdowns.len() + self.drilldowns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Writes a batch in one transaction. In strict registration, a row of an unknown project
/// rejects the batch (its index counts rows in table order: summaries, trends, breakdowns,
/// drilldowns, each as given).
pub async fn write(
    db: &DatabaseConnection,
    mut batch: Batch,
    registration: ProjectRegistration,
) -> Result<UpsertCounts, IngestError> {
    // PostgreSQL: `ON CONFLICT (id)` waits for a concurrent insert of the same id, but the
    // natural-key index is not its arbiter, so a writer that loses the race by a hair gets
    // a unique violation there instead. The batch was rolled back whole; run it again
    // (the other writer's row is committed now, and the retry updates it).
    let mut retries = 0;
    loop {
        match write_once(db, &mut batch, registration).await {
            Err(IngestError::Database(e)) if retries < 3 && crate::error::upstream::is_natural_key_race(&e) => {
                retries += 1;
                tracing::debug!(retries, "concurrent insert of the same natural key; retrying the batch");
            }
            other => return other,
        }
    }
}

async fn write_once(
    db: &DatabaseConnection,
    batch: &mut Batch,
    registration: ProjectRegistration,
) -> Result<UpsertCounts, IngestError> {
    if batch.is_empty() {
        return Ok(UpsertCounts::default());
    }
    let txn = db.begin().await?;
    let given: Vec<Uuid> = batch
        .summaries
        .iter()
        .map(Row::project_id)
        .chain(batch.trends.iter().map(Row::project_id))
        .chain(batch.breakdowns.iter().map(Row::project_id))
        .chain(batch.drilldowns.iter().map(Row::project_id))
        .collect();
    let mut projects = given.clone();
    projects.sort();
    projects.dedup();
    // A write first: SQLite then holds the write lock before any read of this
    // transaction, so two writers queue instead of failing to upgrade a read lock.
    match registration {
        ProjectRegistration::Auto => {
            if let Err(e) = register_projects(&txn, &projects).await {
                return Err(refused_registration(db, txn, &given, e).await);
            }
        }
        ProjectRegistration::Strict => {
            lock_for_writing(&txn).await?;
            let known: HashSet<Uuid> =
                crate::store::project::existing_ids(&txn, &projects).await?.into_iter().collect();
            if let Some((index, p)) = given.iter().enumerate().find(|(_, p)| !known.contains(p)) {
                return Err(IngestError::InvalidRow(RowError {
                    index,
                    field: "project_id",
                    reason: format!(
                        "{p} is not a registered project (project registration is strict: register it in the `project` table first); nothing was written"
                    ),
                }));
            }
        }
    }
    // Rows in id order: concurrent writers lock in the same order and cannot deadlock.
    batch.summaries.sort_by_key(Row::id);
    batch.trends.sort_by_key(Row::id);
    batch.breakdowns.sort_by_key(Row::id);
    batch.drilldowns.sort_by_key(Row::id);
    let targets = conflict_targets(&txn).await?;
    let mut counts = UpsertCounts::default();
    counts += upsert(&txn, &targets, &SUMMARY, &batch.summaries).await?;
    counts += upsert(&txn, &targets, &TREND, &batch.trends).await?;
    counts += upsert(&txn, &targets, &BREAKDOWN, &batch.breakdowns).await?;
    counts += upsert(&txn, &targets, &DRILLDOWN, &batch.drilldowns).await?;
    // Live updates (see `crate::live`): notified in the transaction, so only a commit tells.
    let live = crate::live::Pending::of(batch, &counts);
    live.notify(&txn).await?;
    txn.commit().await?;
    live.committed(db);
    crate::observe::record_ingest("metrics_summary", batch.summaries.len() as u64);
    crate::observe::record_ingest("metrics_trend_point", batch.trends.len() as u64);
    crate::observe::record_ingest("metrics_breakdown_point", batch.breakdowns.len() as u64);
    crate::observe::record_ingest("metrics_drilldown", batch.drilldowns.len() as u64);
    Ok(counts)
}

/// Why registering projects failed: a host `project` whose other NOT NULL columns lack
/// defaults cannot take `INSERT INTO project (id)`. Named on the first row of a project
/// not yet registered (read after the rollback), instead of a bare database error.
async fn refused_registration(
    db: &DatabaseConnection,
    txn: sea_orm::DatabaseTransaction,
    given: &[Uuid],
    err: DbErr,
) -> IngestError {
    if !crate::error::upstream::is_not_null_violation(&err) {
        return err.into();
    }
    tracing::warn!(error = %err, "auto registration of projects refused by the project table");
    let _ = txn.rollback().await;
    let mut unique = given.to_vec();
    unique.sort();
    unique.dedup();
    let known: HashSet<Uuid> = match crate::store::project::existing_ids(db, &unique).await {
        Ok(ids) => ids.into_iter().collect(),
        Err(e) => return e.into(),
    };
    match given.iter().enumerate().find(|(_, p)| !known.contains(p)) {
        Some((index, p)) => IngestError::InvalidRow(RowError {
            index,
            field: "project_id",
            reason: format!(
                "{p} is not a registered project and cannot be registered: the `project` table has a NOT NULL column \
                 without a default; register projects in the host system and use strict project registration; \
                 nothing was written"
            ),
        }),
        None => err.into(),
    }
}

/// Takes SQLite's write lock at the start of a transaction (a write that changes nothing),
/// so that a transaction reading before it writes cannot fail to upgrade its read lock.
/// PostgreSQL locks rows, not the database: nothing to do.
pub async fn lock_for_writing(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    if db.get_database_backend() == DbBackend::Sqlite {
        db.execute_unprepared("UPDATE project SET id = id WHERE 0 = 1").await?;
    }
    Ok(())
}

/// Registers unknown projects by id alone: every other column of `project` takes its
/// default (a host table whose other NOT NULL columns have no default refuses this; use
/// strict registration there).
async fn register_projects(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<(), DbErr> {
    for chunk in ids.chunks(max_params(db.get_database_backend())) {
        let mut sql = Sql::new(db.get_database_backend());
        sql.push("INSERT INTO project (id) VALUES ");
        for (i, id) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(").bind(*id).push(")");
        }
        sql.push(" ON CONFLICT (id) DO NOTHING");
        db.execute_raw(sql.build()).await?;
    }
    Ok(())
}

/// Names a project, registering it when unknown.
pub async fn set_project_name(db: &DatabaseConnection, id: Uuid, name: Option<String>) -> Result<(), IngestError> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("INSERT INTO project (id, name) VALUES (")
        .bind(id)
        .push(", ")
        .bind(name)
        .push(") ON CONFLICT (id) DO UPDATE SET name = excluded.name");
    db.execute_raw(sql.build()).await?;
    Ok(())
}
