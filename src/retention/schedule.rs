//! `serve`'s retention schedule: the spec's rules hold without an external scheduler.
//!
//! Every period (an hour by default) the server runs the job, logs its report and exports
//! its counts on `/metrics`. When several servers share one PostgreSQL database, a
//! transaction-scoped advisory lock lets one of them run at a time; the others skip that
//! tick (the next run does whatever is left). SQLite is one process's embedded database:
//! its write lock already serialises runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait};

use super::{run, Options, Policy, Report};
use crate::catalog::Catalog;

/// The advisory lock key of the retention job ([`crate::advisory::RETENTION`]; a session
/// lock on it, taken elsewhere, also keeps the schedule waiting).
pub const ADVISORY_LOCK_KEY: i64 = crate::advisory::RETENTION;

/// What a scheduled tick did.
#[derive(Debug)]
pub enum Tick {
    Ran(Report, Duration),
    /// Another server holds the lock.
    Skipped,
}

/// Runs the job once unless another server is running it (PostgreSQL advisory lock held
/// by a transaction for the whole run, released by its end).
pub async fn run_once(db: &DatabaseConnection, catalog: &Catalog, policy: &Policy) -> Result<Tick, DbErr> {
    let lock = match db.get_database_backend() {
        DbBackend::Postgres => {
            let txn = db.begin().await?;
            let row = txn
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT pg_try_advisory_xact_lock($1) AS locked",
                    [ADVISORY_LOCK_KEY.into()],
                ))
                .await?;
            if !row.map(|r| r.try_get::<bool>("", "locked")).transpose()?.unwrap_or(false) {
                txn.rollback().await?;
                return Ok(Tick::Skipped);
            }
            Some(txn)
        }
        _ => None,
    };
    let started = Instant::now();
    let opts = Options { now: chrono::Utc::now(), project: None, dry_run: false };
    let result = run(db, catalog, policy, opts).await;
    if let Some(txn) = lock {
        txn.rollback().await?;
    }
    Ok(Tick::Ran(result?, started.elapsed()))
}

/// Runs the job at start and then every `every`, logging each run. A failed run is
/// logged and retried at the next tick (every step is idempotent).
pub async fn every(db: DatabaseConnection, catalog: Arc<Catalog>, policy: Policy, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match run_once(&db, &catalog, &policy).await {
            Ok(Tick::Ran(r, elapsed)) => {
                crate::observe::record_retention_run(r.folded(), r.deleted(), elapsed);
                tracing::info!(
                    projects = r.projects,
                    summary_deleted = r.summary.deleted,
                    trend_folded = r.trend.folded,
                    trend_week_points_created = r.trend.created,
                    trend_week_points_updated = r.trend.updated,
                    trend_deleted = r.trend.deleted,
                    breakdown_deleted = r.breakdown.deleted,
                    drilldown_deleted = r.drilldown.deleted,
                    unknown_metrics = ?r.unknown_metrics,
                    elapsed_ms = elapsed.as_millis() as u64,
                    "retention run finished"
                )
            }
            Ok(Tick::Skipped) => {
                crate::observe::record_retention("skipped");
                tracing::info!("retention skipped: another instance is running it")
            }
            Err(e) => {
                crate::observe::record_retention("error");
                tracing::error!(error = %e, "retention run failed; retrying at the next tick")
            }
        }
    }
}
