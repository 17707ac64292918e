//! `metrics-api serve`: checks the auth setup, opens the pool, migrates, loads the demo
//! data when asked, starts the retention loop (one instance at a time, see
//! [`crate::advisory`]), opens the read replicas, then serves HTTP until a signal and
//! drains the requests in flight.

use migration::{Migrator, MigratorTrait};
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;

use super::args::ServeArgs;
use super::CliError;
use crate::catalog::Catalog;
use crate::db;
use crate::http::{self, AppState};
use crate::replicas::Replicas;
use crate::retention;

pub async fn serve(url: &str, catalog: Catalog, args: ServeArgs) -> Result<(), CliError> {
    let auth = args.auth.auth_config()?;
    if auth.is_none() {
        if !args.bind.ip().is_loopback() && !args.allow_unauthenticated {
            return Err(format!(
                "refusing to serve without authentication on {}: configure --jwt-secret or --jwt-public-key, or pass --allow-unauthenticated",
                args.bind
            )
            .into());
        }
        tracing::warn!("authentication is off: every request can read and write every project");
    }
    let (db, counter) = db::connect(url, &args.limits.pool_settings()).await?;
    if !args.no_migrate {
        Migrator::up(&db, None).await.map_err(|e| format!("migration failed: {e}"))?;
    }
    if args.demo {
        match crate::demo::seed(&db, chrono::Utc::now()).await? {
            crate::demo::SeedOutcome::Seeded { rows } => tracing::info!(rows, "demo data loaded"),
            crate::demo::SeedOutcome::AlreadyHasData => {
                tracing::info!("demo data skipped: the database already holds projects")
            }
        }
    }
    let listener = TcpListener::bind(args.bind).await.map_err(|e| format!("cannot listen on {}: {e}", args.bind))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, database = %db::redact(url), "serving GraphQL on http://{addr}/graphql (GraphiQL in a browser)");
    if !args.no_dashboard {
        tracing::info!(%addr, "serving the dashboard on http://{addr}/");
    }
    let catalog = std::sync::Arc::new(catalog);
    if let Some(every) = args.retention_every {
        tokio::spawn(retention_loop(db.clone(), catalog.clone(), every.into()));
    }
    let config = args.server_config(catalog, auth);
    crate::observe::prometheus();
    let replicas =
        Replicas::connect(&args.database_read_urls, &args.limits.pool_settings(), args.replica_settings()).await?;
    replicas.check().await;
    replicas.spawn_checks();
    let router = http::build_router(AppState::with_config(db, counter, config).with_replicas(replicas));
    http::run(listener, router, http::shutdown_signal()).await?;
    Ok(())
}

/// `serve --retention-every`: runs the job on a fixed period, logging each run. A failed
/// run is logged and retried at the next tick (every step is idempotent).
async fn retention_loop(db: DatabaseConnection, catalog: std::sync::Arc<Catalog>, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // Several instances may share the database: one runs the job, the others skip.
        let _held = match crate::advisory::try_lock(&db, crate::advisory::RETENTION).await {
            Ok(Some(held)) => held,
            Ok(None) => {
                tracing::info!("retention skipped: another instance is running it");
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "retention skipped: cannot take its lock; retrying at the next tick");
                continue;
            }
        };
        let opts = retention::Options { now: chrono::Utc::now(), project: None, dry_run: false };
        let started = std::time::Instant::now();
        match retention::run(&db, &catalog, &retention::Policy::default(), opts).await {
            Ok(r) => {
                crate::observe::record_retention("ok");
                tracing::info!(
                    projects = r.projects,
                    summary_deleted = r.summary.deleted,
                    trend_downsampled = r.trend.downsampled,
                    trend_week_points = r.trend.created,
                    breakdown_deleted = r.breakdown.deleted,
                    drilldown_deleted = r.drilldown.deleted,
                    unknown_metrics = ?r.unknown_metrics,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "retention run finished"
                )
            }
            Err(e) => {
                crate::observe::record_retention("error");
                tracing::error!(error = %e, "retention run failed; retrying at the next tick")
            }
        }
    }
}
