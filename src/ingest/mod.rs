//! The write side: deterministic, idempotent, all-or-nothing upserts from compute jobs.
//!
//! The store-level API ([`record_summaries`], [`upsert_trend_points`],
//! [`upsert_breakdown_points`], [`upsert_drilldowns`]) takes a batch of plain Rust rows
//! (no GraphQL types: compute jobs written in Rust call it directly), validates every row,
//! and writes the batch in one transaction. The GraphQL mutations and the NDJSON command
//! are thin layers over it.
//!
//! # Semantics
//! - A batch is one transaction: every row lands or none. An invalid row rejects the batch
//!   with its index and the reason, before anything is written.
//! - Rows are upserted by their deterministic id (a UUIDv5 of the natural key): sending a
//!   batch twice changes nothing (`unchanged`), a new value for a stored key updates the
//!   value and `computed_at` (`updated`), the same value with a newer `computed_at` moves
//!   only `computed_at` (`refreshed`: the row is current, retention ages it from then).
//!   A row without `computed_at` is computed at the time of the write, so re-sending it
//!   later refreshes it. Unknown projects are registered, or refused in strict
//!   registration ([`ProjectRegistration`]).
//! - Bulk SQL: multi-row `INSERT ... ON CONFLICT (id) DO UPDATE ... WHERE` the row changed,
//!   chunked under the backend's bind-parameter limit, rows ordered by id so concurrent
//!   writers lock in the same order and cannot deadlock.
//!
//! # Layout
//! - [`rows`]: the input rows and their validation (pure).
//! - [`upsert`]: the SQL.
//! - [`ndjson`]: streaming NDJSON files into batches.

pub mod ndjson;
pub mod rows;
pub mod upsert;

use sea_orm::{DatabaseConnection, DbErr};

pub use rows::{BreakdownPointInput, DrilldownInput, RowError, SummaryInput, TrendPointInput};

/// What a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpsertCounts {
    /// Rows whose natural key was new.
    pub inserted: u64,
    /// Stored rows whose value changed.
    pub updated: u64,
    /// Stored rows sent again with the same value and a newer `computed_at`: only
    /// `computed_at` moved (the row was computed again; retention ages it from then).
    pub refreshed: u64,
    /// Stored rows sent again with the same value and no newer `computed_at`: left as
    /// they were.
    pub unchanged: u64,
}

impl UpsertCounts {
    pub fn total(&self) -> u64 {
        self.inserted + self.updated + self.refreshed + self.unchanged
    }
}

impl std::ops::AddAssign for UpsertCounts {
    fn add_assign(&mut self, o: Self) {
        self.inserted += o.inserted;
        self.updated += o.updated;
        self.refreshed += o.refreshed;
        self.unchanged += o.unchanged;
    }
}

/// Why a batch was not written.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A row is invalid; nothing of the batch was written.
    #[error("{0}")]
    InvalidRow(RowError),
    /// The batch holds more rows than allowed.
    #[error("the batch holds {rows} rows; at most {limit} are allowed per call")]
    TooManyRows { rows: usize, limit: usize },
    /// The database failed; the transaction was rolled back.
    #[error("database error: {0}")]
    Database(#[from] DbErr),
}

/// What a write does with a project id the `project` table does not hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ProjectRegistration {
    /// Register it (`INSERT INTO project (id)`; every other column takes its default). For
    /// a standalone database whose `project` table belongs to metrics-api.
    #[default]
    Auto,
    /// Refuse the batch: `BAD_USER_INPUT` naming the row and `projectId`, nothing written.
    /// For a host database whose system owns `project`: a mistyped id is an error, not a
    /// new project.
    Strict,
}

/// How big a batch may be, and how its projects are checked.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    /// Rows per call: bounds the transaction and the request's memory.
    pub max_rows: usize,
    /// Unknown project ids: registered or refused.
    pub registration: ProjectRegistration,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits { max_rows: 10_000, registration: ProjectRegistration::Auto }
    }
}

fn check_size(rows: usize, limits: BatchLimits) -> Result<(), IngestError> {
    if rows > limits.max_rows {
        return Err(IngestError::TooManyRows { rows, limit: limits.max_rows });
    }
    Ok(())
}

/// Records summary snapshots (one per project, capture time and scope); a snapshot sent
/// again with the same payload and version is unchanged.
pub async fn record_summaries(
    db: &DatabaseConnection,
    batch: Vec<SummaryInput>,
    limits: BatchLimits,
) -> Result<UpsertCounts, IngestError> {
    check_size(batch.len(), limits)?;
    let rows = rows::prepare(batch, rows::SummaryInput::into_row)?;
    upsert::write(db, upsert::Batch { summaries: rows, ..Default::default() }, limits.registration).await
}

/// Upserts trend points by (project, metric, grain, bucket, dimensions).
pub async fn upsert_trend_points(
    db: &DatabaseConnection,
    batch: Vec<TrendPointInput>,
    limits: BatchLimits,
) -> Result<UpsertCounts, IngestError> {
    check_size(batch.len(), limits)?;
    let rows = rows::prepare(batch, rows::TrendPointInput::into_row)?;
    upsert::write(db, upsert::Batch { trends: rows, ..Default::default() }, limits.registration).await
}

/// Upserts breakdown points by (project, metric, grain, bucket, dimension key and value).
pub async fn upsert_breakdown_points(
    db: &DatabaseConnection,
    batch: Vec<BreakdownPointInput>,
    limits: BatchLimits,
) -> Result<UpsertCounts, IngestError> {
    check_size(batch.len(), limits)?;
    let rows = rows::prepare(batch, rows::BreakdownPointInput::into_row)?;
    upsert::write(db, upsert::Batch { breakdowns: rows, ..Default::default() }, limits.registration).await
}

/// Upserts drilldown rows by (project, metric, entity type, entity, bucket).
pub async fn upsert_drilldowns(
    db: &DatabaseConnection,
    batch: Vec<DrilldownInput>,
    limits: BatchLimits,
) -> Result<UpsertCounts, IngestError> {
    check_size(batch.len(), limits)?;
    let rows = rows::prepare(batch, rows::DrilldownInput::into_row)?;
    upsert::write(db, upsert::Batch { drilldowns: rows, ..Default::default() }, limits.registration).await
}

/// Names a project (registering it when unknown).
pub async fn set_project_name(
    db: &DatabaseConnection,
    id: uuid::Uuid,
    name: Option<String>,
) -> Result<(), IngestError> {
    upsert::set_project_name(db, id, name).await
}
