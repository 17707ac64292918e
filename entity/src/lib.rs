//! SeaORM entities for the metrics read model.
//!
//! One module per table of the spec (`metrics-read-model-storage-strategy.md`, section 4),
//! plus `project`, the foreign-key target every metrics row hangs off. Column types and
//! nullability follow the spec; the migration crate creates the tables these describe.
//!
//! # Layout
//! - [`project`]: the project a metrics row belongs to (FK target, `ON DELETE CASCADE`).
//! - [`metrics_summary`]: contract-aligned summary snapshots.
//! - [`metrics_trend_point`]: time-series points for trend charts.
//! - [`metrics_breakdown_point`]: categorical breakdowns (state, gate type, ...).
//! - [`metrics_drilldown`]: entity-level drilldown rows.
//! - [`sea_orm_active_enums`]: the `metrics_time_grain` enum.

pub mod metrics_breakdown_point;
pub mod metrics_drilldown;
pub mod metrics_summary;
pub mod metrics_trend_point;
pub mod prelude;
pub mod project;
pub mod sea_orm_active_enums;
