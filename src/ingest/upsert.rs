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

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use entity::sea_orm_active_enums::TimeGrain;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, TransactionTrait};
use uuid::Uuid;

use super::rows::{BreakdownRow, DrilldownRow, Row, RowError, SummaryRow, TrendRow};
use super::{IngestError, ProjectRegistration, UpsertCounts};
use crate::store::layout::{conflict_targets, ConflictTargets};
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

/// One bound value of a row, in the form its column takes on each backend.
enum Cell<'a> {
    Value(sea_orm::Value),
    Time(DateTime<Utc>),
    Json(&'a serde_json::Value),
    OptJson(Option<&'a serde_json::Value>),
    Grain(Option<TimeGrain>),
}

impl Cell<'_> {
    fn push(&self, sql: &mut Sql) {
        match self {
            Cell::Value(v) => {
                sql.bind(v.clone());
            }
            Cell::Time(t) => {
                sql.bind_time(*t);
            }
            Cell::Json(v) | Cell::OptJson(Some(v)) => {
                sql.bind_json(v);
            }
            Cell::OptJson(None) if sql.backend() == DbBackend::Postgres => {
                sql.push("CAST(NULL AS jsonb)");
            }
            Cell::Grain(Some(g)) => {
                sql.bind_grain(*g);
            }
            Cell::OptJson(None) | Cell::Grain(None) => {
                sql.push("NULL");
            }
        }
    }
}

fn v<'a>(x: impl Into<sea_orm::Value>) -> Cell<'a> {
    Cell::Value(x.into())
}

/// A row as (column, value) pairs: the column list of the `INSERT` is read from the same
/// pairs as the values, so the two cannot fall out of order.
type Cells<'a> = Vec<(&'static str, Cell<'a>)>;

/// How one table is written.
struct Table<R> {
    name: &'static str,
    /// Columns compared to decide whether a stored row changed.
    compared: &'static [&'static str],
    /// Columns set when it did.
    updated: &'static [&'static str],
    /// The compute time: a re-send with a newer one refreshes the stored row even when
    /// its value is unchanged (`None`: the table has none).
    computed_at: Option<&'static str>,
    cells: for<'a> fn(&'a R) -> Cells<'a>,
}

const SUMMARY: Table<SummaryRow> = Table {
    name: "metrics_summary",
    compared: &["version", "payload"],
    updated: &["version", "payload"],
    computed_at: None,
    cells: |r| {
        vec![
            ("id", v(r.id)),
            ("project_id", v(r.project_id)),
            ("captured_at", Cell::Time(r.captured_at)),
            ("version", v(r.version.as_str())),
            ("scope", Cell::OptJson(r.scope.as_ref())),
            ("payload", Cell::Json(&r.payload)),
            ("created_at", Cell::Time(r.created_at)),
        ]
    },
};

const TREND: Table<TrendRow> = Table {
    name: "metrics_trend_point",
    compared: &["value_numeric", "value_json"],
    updated: &["value_numeric", "value_json", "computed_at"],
    computed_at: Some("computed_at"),
    cells: |r| {
        vec![
            ("id", v(r.id)),
            ("project_id", v(r.project_id)),
            ("metric_key", v(r.metric_key.as_str())),
            ("time_grain", Cell::Grain(Some(r.grain))),
            ("time_bucket", Cell::Time(r.time_bucket)),
            ("dimensions", Cell::Json(&r.dimensions)),
            ("value_numeric", v(r.value_numeric)),
            ("value_json", Cell::OptJson(r.value_json.as_ref())),
            ("computed_at", Cell::Time(r.computed_at)),
        ]
    },
};

const BREAKDOWN: Table<BreakdownRow> = Table {
    name: "metrics_breakdown_point",
    compared: &["value_numeric", "value_json"],
    updated: &["value_numeric", "value_json", "computed_at"],
    computed_at: Some("computed_at"),
    cells: |r| {
        vec![
            ("id", v(r.id)),
            ("project_id", v(r.project_id)),
            ("metric_key", v(r.metric_key.as_str())),
            ("time_grain", Cell::Grain(r.grain)),
            ("time_bucket", v(r.time_bucket)),
            ("dimension_key", v(r.dimension_key.as_str())),
            ("dimension_value", v(r.dimension_value.as_str())),
            ("value_numeric", v(r.value_numeric)),
            ("value_json", Cell::OptJson(r.value_json.as_ref())),
            ("computed_at", Cell::Time(r.computed_at)),
        ]
    },
};

const DRILLDOWN: Table<DrilldownRow> = Table {
    name: "metrics_drilldown",
    compared: &["payload"],
    updated: &["payload", "computed_at"],
    computed_at: Some("computed_at"),
    cells: |r| {
        vec![
            ("id", v(r.id)),
            ("project_id", v(r.project_id)),
            ("metric_key", v(r.metric_key.as_str())),
            ("entity_type", v(r.entity_type.as_str())),
            ("entity_id", v(r.entity_id)),
            ("reference_id", v(r.reference_id.clone())),
            ("time_bucket", v(r.time_bucket)),
            ("payload", Cell::Json(&r.payload)),
            ("computed_at", Cell::Time(r.computed_at)),
        ]
    },
};

/// Bind parameters per statement: under PostgreSQL's 65,535 and SQLite's 32,766.
fn max_params(backend: DbBackend) -> usize {
    match backend {
        DbBackend::Postgres => 60_000,
        _ => 30_000,
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

/// `INSERT INTO table (columns) VALUES (...), (...)` for a chunk of rows; the columns are
/// those of the first row's cells (every row's cells come from the same function).
fn insert_values<'r, R: 'r>(backend: DbBackend, table: &Table<R>, chunk: impl IntoIterator<Item = &'r R>) -> Sql {
    let mut sql = Sql::new(backend);
    for (i, r) in chunk.into_iter().enumerate() {
        let cells = (table.cells)(r);
        if i == 0 {
            let columns: Vec<&str> = cells.iter().map(|(c, _)| *c).collect();
            sql.push(&format!("INSERT INTO {} ({}) VALUES ", table.name, columns.join(", ")));
        } else {
            sql.push(", ");
        }
        sql.push("(");
        for (j, (_, cell)) in cells.iter().enumerate() {
            if j > 0 {
                sql.push(", ");
            }
            cell.push(&mut sql);
        }
        sql.push(")");
    }
    sql
}

/// Rows per statement: the backend's bind-parameter limit over the columns of a row.
fn per_chunk<R>(backend: DbBackend, table: &Table<R>, rows: &[R]) -> usize {
    let columns = rows.first().map_or(1, |r| (table.cells)(r).len());
    (max_params(backend) / columns).max(1)
}

/// What [`write_folded_weeks`] did: the ids of the week points it created and updated.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WeekWrites {
    pub created: HashSet<Uuid>,
    pub updated: HashSet<Uuid>,
}

/// Writes the retention job's folded week points: new ones are inserted, stored folded
/// ones replaced. A stored week point a compute job wrote (its `value_json` has no
/// `contributions`) is never overwritten, even if it appeared since the job read it.
pub async fn write_folded_weeks(db: &impl ConnectionTrait, rows: &[TrendRow]) -> Result<WeekWrites, DbErr> {
    let backend = db.get_database_backend();
    let is_fold = match backend {
        DbBackend::Postgres => "(metrics_trend_point.value_json -> 'contributions') IS NOT NULL",
        _ => "json_extract(metrics_trend_point.value_json, '$.contributions') IS NOT NULL",
    };
    let target = conflict_targets(db).await?;
    let target = target.of(TREND.name);
    let mut out = WeekWrites::default();
    for chunk in rows.chunks(per_chunk(backend, &TREND, rows)) {
        let existing = stored_ids(db, TREND.name, chunk).await?;
        let mut sql = insert_values(backend, &TREND, chunk);
        sql.push(&format!(
            " ON CONFLICT ({target}) DO UPDATE SET value_numeric = excluded.value_numeric, value_json = excluded.value_json, \
             computed_at = excluded.computed_at WHERE {is_fold} RETURNING id"
        ));
        let written = db.query_all_raw(sql.build()).await?;
        for r in written {
            let id: Uuid = r.try_get("", "id")?;
            if existing.contains(&id) {
                out.updated.insert(id);
            } else {
                out.created.insert(id);
            }
        }
    }
    Ok(out)
}

/// The ids among `chunk` already stored in `table`.
async fn stored_ids<R: Row>(db: &impl ConnectionTrait, table: &str, chunk: &[R]) -> Result<HashSet<Uuid>, DbErr> {
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
async fn upsert<R: Row>(
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
