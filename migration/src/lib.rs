//! SeaORM migrations for the metrics read model.
//!
//! The same migrations run on PostgreSQL (the production target: native enum type, JSONB,
//! GIN, TIMESTAMPTZ) and SQLite (the embedded default: a `CHECK` on the grain, JSON as
//! text, B-tree indexes only). Index names are stable so that operators, `EXPLAIN` checks
//! and later migrations can refer to them.
//!
//! # Layout
//! - [`m20260208_000001_create_read_model`]: the enum, `project` and the four spec tables
//!   with every index of the spec (`docs/db/migrations/0005_metrics_read_model.sql` is
//!   its plain-SQL twin for PostgreSQL).
//! - [`m20260301_000001_add_drilldown_recent_index`]: the index behind the newest-first
//!   drilldown order, which no spec index serves.
//! - [`m20260401_000001_guard_natural_keys`]: a unique index over each table's natural
//!   key, and (PostgreSQL) the row-id derivation as SQL functions.
//! - [`layout`]: the opt-in PostgreSQL layouts (partitioned, Citus) applied after the
//!   migrations, and the reading of the current one from the catalog.
//! - [`adopt`]: recognises a database installed from the SQL file and records its
//!   migrations as applied.

pub use sea_orm_migration::prelude::*;
pub use sea_orm_migration::MigrationStatus;

pub mod m20260208_000001_create_read_model;
pub mod m20260301_000001_add_drilldown_recent_index;
pub mod m20260401_000001_guard_natural_keys;

pub mod adopt;
pub mod layout;

/// Every index the migrations create, by table, in the spec's column order. Tests and
/// `EXPLAIN` checks refer to indexes through these names.
pub mod index_names {
    pub const SUMMARY_PROJECT_CAPTURED: &str = "idx_metrics_summary_project_captured";
    pub const TREND_SERIES: &str = "idx_metrics_trend_point_series";
    pub const TREND_DIMENSIONS_GIN: &str = "idx_metrics_trend_point_dimensions";
    pub const BREAKDOWN_SERIES: &str = "idx_metrics_breakdown_point_series";
    pub const BREAKDOWN_DIMENSION: &str = "idx_metrics_breakdown_point_dimension";
    pub const DRILLDOWN_ENTITY: &str = "idx_metrics_drilldown_entity";
    pub const DRILLDOWN_REFERENCE: &str = "idx_metrics_drilldown_reference";
    pub const DRILLDOWN_RECENT: &str = "idx_metrics_drilldown_recent";
    pub const SUMMARY_NATURAL_KEY: &str = "uq_metrics_summary_natural_key";
    pub const TREND_NATURAL_KEY: &str = "uq_metrics_trend_point_natural_key";
    pub const BREAKDOWN_NATURAL_KEY: &str = "uq_metrics_breakdown_point_natural_key";
    pub const DRILLDOWN_NATURAL_KEY: &str = "uq_metrics_drilldown_natural_key";
}

/// The migrator the binary and the tests run.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20260208_000001_create_read_model::Migration),
            Box::new(m20260301_000001_add_drilldown_recent_index::Migration),
            Box::new(m20260401_000001_guard_natural_keys::Migration),
        ]
    }
}
