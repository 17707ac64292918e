//! Storage layouts: how the four read-model tables are laid out on PostgreSQL.
//!
//! The migrations always create the spec's plain tables (the default, and the only layout
//! on SQLite). A layout is applied after them, on request (`metrics-api migrate
//! --partitioned` or `--citus`), and converts the tables in place, rows included, in one
//! transaction; `metrics-api migrate --layout plain` converts back. Nothing records the
//! layout beside the catalog itself: [`current`] reads it from there, so a database
//! converted by hand or restored from a dump is recognised the same way.
//!
//! What changes between layouts is the unique constraints, because PostgreSQL requires
//! the partition key in every unique constraint of a partitioned table and Citus requires
//! the distribution column in every unique constraint of a distributed table:
//!
//! | layout | primary key / row-id constraint | natural-key index |
//! |---|---|---|
//! | plain | `(id)` | as migrated (leads with `project_id`, includes `time_bucket`) |
//! | partitioned | `(id, time_bucket)` (+ `time_grain` on trend) | unchanged: already includes them |
//! | citus | `(project_id, id)` | unchanged: already leads with `project_id` |
//!
//! Row ids are a hash of the natural key, which includes `project_id` and `time_bucket`,
//! so a constraint on `id` plus those columns is exactly as strict as one on `id` alone;
//! the natural-key guarantee comes from the natural-key index, present on every layout.
//! The write side reads its `ON CONFLICT` target from the catalog
//! (`metrics_api::store::layout`), so the same binary writes to every layout.

pub mod citus;
pub mod partitioned;

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

/// The four read-model tables.
pub const TABLES: [&str; 4] =
    ["metrics_summary", "metrics_trend_point", "metrics_breakdown_point", "metrics_drilldown"];

/// How the read-model tables are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// The spec's tables, as migrated: the default on PostgreSQL and the only layout on
    /// SQLite.
    #[default]
    Plain,
    /// Trend, breakdown and drilldown range-partitioned by month of `time_bucket`
    /// (PostgreSQL): retention drops whole expired partitions.
    Partitioned,
    /// The four tables distributed by `project_id` and co-located, `project` a reference
    /// table (PostgreSQL with the Citus extension, run on the coordinator).
    Citus,
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::Plain => "plain",
            Layout::Partitioned => "partitioned",
            Layout::Citus => "citus",
        }
    }
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The layout the catalog shows: Citus when `metrics_trend_point` is a distributed table,
/// partitioned when it is a partitioned table, plain otherwise (and always on SQLite).
pub async fn current(db: &impl ConnectionTrait) -> Result<Layout, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(Layout::Plain);
    }
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT c.relkind::text AS kind, \
                    to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL AS has_citus \
             FROM pg_class c WHERE c.oid = to_regclass('metrics_trend_point')",
        ))
        .await?;
    let Some(row) = row else { return Ok(Layout::Plain) };
    let kind: String = row.try_get("", "kind")?;
    let has_citus: bool = row.try_get("", "has_citus")?;
    if has_citus && citus::is_distributed(db, "metrics_trend_point").await? {
        return Ok(Layout::Citus);
    }
    Ok(if kind == "p" { Layout::Partitioned } else { Layout::Plain })
}

/// Converts the read-model tables to `target` (a no-op when they are laid out so
/// already). Run after the migrations; converting between the two non-plain layouts goes
/// through plain.
pub async fn apply(db: &DatabaseConnection, target: Layout) -> Result<(), DbErr> {
    let now = current(db).await?;
    if now == target {
        return Ok(());
    }
    if target != Layout::Plain && db.get_database_backend() != DbBackend::Postgres {
        return Err(DbErr::Custom(format!(
            "the {target} layout needs PostgreSQL; SQLite keeps the plain layout (leave out --layout)"
        )));
    }
    match now {
        Layout::Plain => {}
        Layout::Partitioned => partitioned::down(db).await?,
        Layout::Citus => citus::down(db).await?,
    }
    match target {
        Layout::Plain => Ok(()),
        Layout::Partitioned => partitioned::up(db).await,
        Layout::Citus => citus::up(db).await,
    }
}
