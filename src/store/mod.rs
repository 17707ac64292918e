//! The store: every SQL statement of the read and write paths, with no GraphQL types.
//!
//! Each function is one access pattern of the spec, batched over projects: the loaders
//! call it once per group of keys that share their arguments, so a request costs one
//! statement per field shape. Every statement is written to stay on the spec's indexes
//! (see the comment on each).
//!
//! # Layout
//! - [`sql`]: the SQL text builder and the dialect differences.
//! - [`project`]: projects by id and the paged list.
//! - [`summary`]: latest snapshot per project, snapshot history pages.
//! - [`trend`]: trend points over a range.
//! - [`breakdown`]: breakdown rows for the latest bucket or a range.
//! - [`drilldown`]: keyset pages of drilldown rows.
//! - [`per_project`]: batched per-project reads, in the statement shape of the layout
//!   (`UNION ALL` branches on one PostgreSQL and SQLite, one windowed statement on Citus).
//! - [`layout`]: the write side's conflict targets, read from the catalog per layout.
//! - [`rows`]: decoding tagged rows of batched statements.

pub mod breakdown;
pub mod drilldown;
pub mod layout;
pub mod per_project;
pub mod project;
pub mod rows;
pub mod sql;
pub mod summary;
pub mod trend;

pub use per_project::ReadShape;
pub use sea_orm::DatabaseConnection;

/// A range of time, half-open `[from, to)`; either end may be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TimeRange {
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    pub to: Option<chrono::DateTime<chrono::Utc>>,
}

impl TimeRange {
    /// Appends `AND col >= from AND col < to` for the ends that are set.
    pub fn push_filter(&self, sql: &mut sql::Sql, col: &str) {
        if let Some(from) = self.from {
            sql.push(" AND ").push(col).push(" >= ").bind_time(from);
        }
        if let Some(to) = self.to {
            sql.push(" AND ").push(col).push(" < ").bind_time(to);
        }
    }
}
