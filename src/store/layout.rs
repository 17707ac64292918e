//! The write side's `ON CONFLICT` targets, read from the catalog.
//!
//! An upsert's conflict target must name the columns of a unique index exactly, and they
//! differ by storage layout (`migration::layout`): `(id)` on the plain tables,
//! `(id, time_bucket, ...)` on partitioned ones (PostgreSQL wants the partition key in
//! every unique constraint), `(project_id, id)` on Citus (the distribution column). Each
//! write transaction reads them once, so one binary writes to every layout, including a
//! database converted while the server runs. The cost is one catalog query per batch, on
//! the write path only.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

/// The narrowest unique index of each read-model table that contains `id`, as an
/// `ON CONFLICT` column list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictTargets {
    postgres: bool,
    targets: Vec<Target>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    table: String,
    columns: String,
    /// A partitioned table: `RETURNING` cannot read system columns such as `xmax`.
    partitioned: bool,
}

impl ConflictTargets {
    /// The target of `table`: `id` unless the catalog said otherwise.
    pub fn of(&self, table: &str) -> &str {
        self.find(table).map_or("id", |t| t.columns.as_str())
    }

    /// Whether an upsert into `table` can tell inserted rows from updated ones by
    /// `RETURNING (xmax = 0)` (PostgreSQL, not on a partitioned table).
    pub fn returns_xmax(&self, table: &str) -> bool {
        self.postgres && !self.find(table).is_some_and(|t| t.partitioned)
    }

    fn find(&self, table: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.table == table)
    }
}

/// Reads the targets (SQLite has one layout: `id` everywhere).
pub async fn conflict_targets(db: &impl ConnectionTrait) -> Result<ConflictTargets, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(ConflictTargets { postgres: false, targets: Vec::new() });
    }
    // Plain-column unique indexes (no expression, no predicate) that contain `id`, the
    // fewest columns first: the primary key, or the row-id constraint of a layout.
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT c.relname::text AS tbl, string_agg(a.attname::text, ', ' ORDER BY a.attname) AS cols, \
                    count(*) AS n, c.relkind = 'p' AS partitioned \
             FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indrelid \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
             WHERE i.indrelid IN (to_regclass('metrics_summary'), to_regclass('metrics_trend_point'), \
                                  to_regclass('metrics_breakdown_point'), to_regclass('metrics_drilldown')) \
               AND i.indisunique AND i.indisvalid AND i.indexprs IS NULL AND i.indpred IS NULL \
             GROUP BY c.relname, c.relkind, i.indexrelid \
             HAVING bool_or(a.attname = 'id') \
             ORDER BY n, cols",
        ))
        .await?;
    let mut targets: Vec<Target> = Vec::new();
    for r in rows {
        let table: String = r.try_get("", "tbl")?;
        if !targets.iter().any(|t| t.table == table) {
            targets.push(Target { table, columns: r.try_get("", "cols")?, partitioned: r.try_get("", "partitioned")? });
        }
    }
    Ok(ConflictTargets { postgres: true, targets })
}
