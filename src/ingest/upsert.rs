//! The SQL of the write side: one transaction per batch; per table, chunks of a
//! multi-row `INSERT ... ON CONFLICT (id) DO UPDATE ... WHERE <changed> RETURNING id`.
//!
//! Counting without per-row round trips: the `RETURNING` of the upsert lists the rows
//! inserted or actually updated (the `WHERE` skips unchanged ones); PostgreSQL tells
//! inserted from updated with `xmax = 0`, SQLite by counting the stored keys of the chunk
//! first. Both backends support all of it (SQLite since 3.35).

use chrono::Utc;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, TransactionTrait};
use uuid::Uuid;

use super::rows::{BreakdownRow, DrilldownRow, Row, SummaryRow, TrendRow};
use super::{IngestError, UpsertCounts};
use crate::identity::normalize_time;
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

/// How one table is written.
struct Table<R> {
    name: &'static str,
    columns: &'static [&'static str],
    /// Columns compared to decide whether a stored row changed.
    compared: &'static [&'static str],
    /// Columns set when it did.
    updated: &'static [&'static str],
    /// Appends one row's values, in `columns` order, as `(v1, v2, ...)`.
    push: fn(&mut Sql, &R),
}

fn opt_json(sql: &mut Sql, v: &Option<serde_json::Value>) {
    match v {
        Some(v) => {
            sql.bind_json(v);
        }
        None if sql.backend() == DbBackend::Postgres => {
            sql.push("CAST(NULL AS jsonb)");
        }
        None => {
            sql.push("NULL");
        }
    }
}

fn opt_grain(sql: &mut Sql, g: Option<entity::sea_orm_active_enums::TimeGrain>) {
    match g {
        Some(g) => {
            sql.bind_grain(g);
        }
        None => {
            sql.push("NULL");
        }
    }
}

const SUMMARY: Table<SummaryRow> = Table {
    name: "metrics_summary",
    columns: &["id", "project_id", "captured_at", "version", "scope", "payload", "created_at"],
    compared: &["version", "payload"],
    updated: &["version", "payload"],
    push: |sql, r| {
        sql.push("(").bind(r.id).push(", ").bind(r.project_id).push(", ").bind_time(r.captured_at).push(", ");
        sql.bind(r.version.as_str()).push(", ");
        opt_json(sql, &r.scope);
        sql.push(", ").bind_json(&r.payload).push(", ").bind_time(r.created_at).push(")");
    },
};

const TREND: Table<TrendRow> = Table {
    name: "metrics_trend_point",
    columns: &[
        "id",
        "project_id",
        "metric_key",
        "time_grain",
        "time_bucket",
        "dimensions",
        "value_numeric",
        "value_json",
        "computed_at",
    ],
    compared: &["value_numeric", "value_json"],
    updated: &["value_numeric", "value_json", "computed_at"],
    push: |sql, r| {
        sql.push("(").bind(r.id).push(", ").bind(r.project_id).push(", ").bind(r.metric_key.as_str()).push(", ");
        sql.bind_grain(r.grain).push(", ").bind_time(r.time_bucket).push(", ").bind_json(&r.dimensions).push(", ");
        sql.bind(r.value_numeric).push(", ");
        opt_json(sql, &r.value_json);
        sql.push(", ").bind_time(r.computed_at).push(")");
    },
};

const BREAKDOWN: Table<BreakdownRow> = Table {
    name: "metrics_breakdown_point",
    columns: &[
        "id",
        "project_id",
        "metric_key",
        "time_grain",
        "time_bucket",
        "dimension_key",
        "dimension_value",
        "value_numeric",
        "value_json",
        "computed_at",
    ],
    compared: &["value_numeric", "value_json"],
    updated: &["value_numeric", "value_json", "computed_at"],
    push: |sql, r| {
        sql.push("(").bind(r.id).push(", ").bind(r.project_id).push(", ").bind(r.metric_key.as_str()).push(", ");
        opt_grain(sql, r.grain);
        sql.push(", ").bind(r.time_bucket).push(", ").bind(r.dimension_key.as_str()).push(", ");
        sql.bind(r.dimension_value.as_str()).push(", ").bind(r.value_numeric).push(", ");
        opt_json(sql, &r.value_json);
        sql.push(", ").bind_time(r.computed_at).push(")");
    },
};

const DRILLDOWN: Table<DrilldownRow> = Table {
    name: "metrics_drilldown",
    columns: &[
        "id",
        "project_id",
        "metric_key",
        "entity_type",
        "entity_id",
        "reference_id",
        "time_bucket",
        "payload",
        "computed_at",
    ],
    compared: &["payload"],
    updated: &["payload", "computed_at"],
    push: |sql, r| {
        sql.push("(").bind(r.id).push(", ").bind(r.project_id).push(", ").bind(r.metric_key.as_str()).push(", ");
        sql.bind(r.entity_type.as_str()).push(", ").bind(r.entity_id).push(", ").bind(r.reference_id.clone());
        sql.push(", ").bind(r.time_bucket).push(", ").bind_json(&r.payload).push(", ").bind_time(r.computed_at);
        sql.push(")");
    },
};

/// Bind parameters per statement: under PostgreSQL's 65,535 and SQLite's 32,766.
fn max_params(backend: DbBackend) -> usize {
    match backend {
        DbBackend::Postgres => 60_000,
        _ => 30_000,
    }
}

/// Writes a batch in one transaction.
pub async fn write(db: &DatabaseConnection, batch: Batch) -> Result<UpsertCounts, IngestError> {
    if batch.is_empty() {
        return Ok(UpsertCounts::default());
    }
    let txn = db.begin().await?;
    let mut projects: Vec<Uuid> = batch
        .summaries
        .iter()
        .map(Row::project_id)
        .chain(batch.trends.iter().map(Row::project_id))
        .chain(batch.breakdowns.iter().map(Row::project_id))
        .chain(batch.drilldowns.iter().map(Row::project_id))
        .collect();
    projects.sort();
    projects.dedup();
    // A write first: SQLite then holds the write lock before any read of this
    // transaction, so two writers queue instead of failing to upgrade a read lock.
    register_projects(&txn, &projects).await?;
    let mut counts = UpsertCounts::default();
    counts += upsert(&txn, &SUMMARY, &batch.summaries).await?;
    counts += upsert(&txn, &TREND, &batch.trends).await?;
    counts += upsert(&txn, &BREAKDOWN, &batch.breakdowns).await?;
    counts += upsert(&txn, &DRILLDOWN, &batch.drilldowns).await?;
    // Live updates (see `crate::live`): notified in the transaction, so only a commit tells.
    let live = crate::live::Pending::of(&batch, &counts);
    live.notify(&txn).await?;
    txn.commit().await?;
    live.committed(db);
    crate::observe::record_ingest("metrics_summary", batch.summaries.len() as u64);
    crate::observe::record_ingest("metrics_trend_point", batch.trends.len() as u64);
    crate::observe::record_ingest("metrics_breakdown_point", batch.breakdowns.len() as u64);
    crate::observe::record_ingest("metrics_drilldown", batch.drilldowns.len() as u64);
    Ok(counts)
}

async fn register_projects(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<(), DbErr> {
    let now = normalize_time(Utc::now());
    for chunk in ids.chunks(max_params(db.get_database_backend()) / 2) {
        let mut sql = Sql::new(db.get_database_backend());
        sql.push("INSERT INTO project (id, created_at) VALUES ");
        for (i, id) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(").bind(*id).push(", ").bind_time(now).push(")");
        }
        sql.push(" ON CONFLICT (id) DO NOTHING");
        db.execute_raw(sql.build()).await?;
    }
    Ok(())
}

/// Names a project, registering it when unknown.
pub async fn set_project_name(db: &DatabaseConnection, id: Uuid, name: Option<String>) -> Result<(), IngestError> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("INSERT INTO project (id, name, created_at) VALUES (")
        .bind(id)
        .push(", ")
        .bind(name)
        .push(", ")
        .bind_time(normalize_time(Utc::now()))
        .push(") ON CONFLICT (id) DO UPDATE SET name = excluded.name");
    db.execute_raw(sql.build()).await?;
    Ok(())
}

/// `INSERT INTO table (columns) VALUES (...), (...)` for a chunk of rows.
fn insert_values<R>(backend: DbBackend, table: &Table<R>, chunk: &[R]) -> Sql {
    let mut sql = Sql::new(backend);
    sql.push(&format!("INSERT INTO {} ({}) VALUES ", table.name, table.columns.join(", ")));
    for (i, r) in chunk.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        (table.push)(&mut sql, r);
    }
    sql
}

/// Inserts trend rows whose id is not stored yet, leaving stored ones as they are (the
/// retention job's week points never overwrite a compute job's). Returns the rows
/// inserted.
pub async fn insert_trend_rows_if_absent(db: &impl ConnectionTrait, rows: &[TrendRow]) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let mut inserted = 0;
    for chunk in rows.chunks((max_params(backend) / TREND.columns.len()).max(1)) {
        let mut sql = insert_values(backend, &TREND, chunk);
        sql.push(" ON CONFLICT (id) DO NOTHING");
        inserted += db.execute_raw(sql.build()).await?.rows_affected();
    }
    Ok(inserted)
}

async fn upsert<R: Row>(db: &impl ConnectionTrait, table: &Table<R>, rows: &[R]) -> Result<UpsertCounts, DbErr> {
    let backend = db.get_database_backend();
    let mut counts = UpsertCounts::default();
    let distinct = match backend {
        DbBackend::Postgres => "IS DISTINCT FROM",
        _ => "IS NOT",
    };
    let per_chunk = (max_params(backend) / table.columns.len()).max(1);
    for chunk in rows.chunks(per_chunk) {
        // SQLite: writers are serialised by the write lock this transaction already holds,
        // so counting the stored keys first is exact. PostgreSQL: `xmax = 0` in RETURNING
        // tells an inserted row from an updated one, exact under concurrent writers.
        let existing = match backend {
            DbBackend::Postgres => None,
            _ => {
                let mut q = Sql::new(backend);
                q.push(&format!("SELECT COUNT(*) AS n FROM {} WHERE ", table.name));
                let ids: Vec<Uuid> = chunk.iter().map(Row::id).collect();
                q.in_list("id", &ids);
                let row = db.query_one_raw(q.build()).await?;
                Some(row.map(|r| r.try_get::<i64>("", "n")).transpose()?.unwrap_or(0) as u64)
            }
        };

        let mut sql = insert_values(backend, table, chunk);
        let set: Vec<String> = table.updated.iter().map(|c| format!("{c} = excluded.{c}")).collect();
        let changed: Vec<String> =
            table.compared.iter().map(|c| format!("{}.{c} {distinct} excluded.{c}", table.name)).collect();
        let returning = match backend {
            DbBackend::Postgres => "(xmax = 0) AS inserted",
            _ => "id",
        };
        sql.push(&format!(
            " ON CONFLICT (id) DO UPDATE SET {} WHERE {} RETURNING {returning}",
            set.join(", "),
            changed.join(" OR ")
        ));
        let written = db.query_all_raw(sql.build()).await?;
        let n = chunk.len() as u64;
        let inserted = match existing {
            Some(existing) => n.saturating_sub(existing),
            None => written.iter().filter(|r| r.try_get::<bool>("", "inserted").unwrap_or(false)).count() as u64,
        };
        let written = written.len() as u64;
        counts +=
            UpsertCounts { inserted, updated: written.saturating_sub(inserted), unchanged: n.saturating_sub(written) };
    }
    Ok(counts)
}
