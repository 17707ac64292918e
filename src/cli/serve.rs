//! `metrics-api serve`: checks the auth setup, opens the pool, migrates, loads the demo
//! data when asked, starts the retention schedule (`retention::schedule`: one instance at
//! a time), opens the read replicas, then serves HTTP until a signal and drains the
//! requests in flight.

use tokio::net::TcpListener;

use super::args::{ReadShapeArg, ServeArgs};
use super::CliError;
use crate::catalog::Catalog;
use crate::db;
use crate::http::{self, AppState};
use crate::replicas::Replicas;
use crate::retention;
use crate::store::ReadShape;

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
    if args.no_migrate {
        // Only bookkeeping: an SQL-file install is recognised, no object is changed.
        super::admin::adopt(&db).await?;
    } else {
        super::admin::migrate_up(&db).await?;
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
    // The metrics recorder first: the schedule's first run starts at once, and counts
    // recorded before the recorder is installed are lost.
    crate::observe::prometheus();
    let catalog = std::sync::Arc::new(catalog);
    if let Some(every) = args.retention_every.0 {
        tokio::spawn(retention::schedule::every(db.clone(), catalog.clone(), retention::Policy::default(), every));
    }
    let mut config = args.server_config(catalog, auth);
    if args.read_shape == ReadShapeArg::Auto {
        config.read_shape = ReadShape::detect(&db).await?;
    }
    tracing::info!(read_shape = config.read_shape.name(), "per-project reads");
    let replicas =
        Replicas::connect(&args.database_read_urls, &args.limits.pool_settings(), args.replica_settings()).await?;
    replicas.check().await;
    replicas.spawn_checks();
    let router = http::build_router(AppState::with_config(db, counter, config).with_replicas(replicas));
    http::run(listener, router, http::shutdown_signal()).await?;
    Ok(())
}
