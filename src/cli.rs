//! What each subcommand does. `main` parses the command line and calls [`run`]; errors
//! come back as one line for the terminal.

use migration::{Migrator, MigratorTrait};
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;

use crate::auth::AuthConfig;
use crate::catalog::Catalog;
pub use crate::config::LogFormat;
use crate::config::{AuthArgs, Cli, Command, IngestArgs, MigrateAction, ServeArgs};
use crate::db::{self, PoolSettings, StatementCounter};
use crate::graphql::limits::QueryLimits;
use crate::retention;
use crate::server::{self, AppState};

/// An error a subcommand reports, as one line.
pub type CliError = Box<dyn std::error::Error + Send + Sync>;

/// Logs to stderr, filtered by `RUST_LOG` (default `info`, quiet SQL); one JSON object a
/// line with `json` (for log pipelines), human-readable text otherwise.
pub fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Runs one subcommand.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Schema => {
            print!("{}", crate::graphql::sdl());
            Ok(())
        }
        Command::Migrate { action } => {
            let (db, _) = connect(&cli.database_url).await?;
            migrate(&db, action.unwrap_or(MigrateAction::Up)).await
        }
        Command::SeedDemo => {
            let (db, _) = connect(&cli.database_url).await?;
            migrate_up(&db).await?;
            report_seed(crate::demo::seed(&db, chrono::Utc::now()).await?);
            Ok(())
        }
        Command::Serve(args) => {
            serve(&cli.database_url, Catalog::load(cli.catalog.as_deref())?, cli.project_registration, args).await
        }
        Command::Token(args) => {
            let auth = auth_config(&args.auth)?.ok_or("`token` needs --jwt-secret (or JWT_SECRET)")?;
            let projects = crate::auth::parse_projects(&args.projects)?;
            let token = auth
                .mint(projects, &args.scope, args.ttl.into())
                .ok_or("tokens can only be minted with an HS256 secret (--jwt-secret)")?;
            println!("{token}");
            Ok(())
        }
        Command::Retention(args) => {
            let (db, _) = connect(&cli.database_url).await?;
            let catalog = Catalog::load(cli.catalog.as_deref())?;
            let opts = retention::Options {
                now: args.now.unwrap_or_else(chrono::Utc::now),
                project: args.project,
                dry_run: args.dry_run,
            };
            let report = retention::run(&db, &catalog, &retention::Policy::default(), opts)
                .await
                .map_err(|e| format!("retention failed: {e}"))?;
            print!("{}", retention_report(&report, &opts));
            Ok(())
        }
        Command::Ingest(args) => {
            let (db, _) = connect(&cli.database_url).await?;
            migrate_up(&db).await?;
            ingest_files(&db, &args, cli.project_registration).await
        }
    }
}

async fn connect(url: &str) -> Result<(DatabaseConnection, StatementCounter), CliError> {
    Ok(db::connect(url, &PoolSettings::default()).await?)
}

fn report_seed(outcome: crate::demo::SeedOutcome) {
    match outcome {
        crate::demo::SeedOutcome::Seeded { rows } => println!("demo data loaded: {rows} rows"),
        crate::demo::SeedOutcome::AlreadyHasData => println!("demo data skipped: the database already holds projects"),
    }
}

/// Records the migrations of a database installed from the SQL file as applied (see
/// `migration::adopt`); a database whose objects differ is an error naming them.
async fn adopt(db: &DatabaseConnection) -> Result<(), CliError> {
    match migration::adopt::adopt_sql_install(db).await.map_err(|e| format!("migration failed: {e}"))? {
        migration::adopt::Adoption::Recorded(names) => {
            tracing::info!(migrations = ?names, "database installed from the SQL file: recorded as applied")
        }
        migration::adopt::Adoption::NotNeeded => {}
    }
    Ok(())
}

/// Recognises an SQL-file install, then applies pending migrations.
async fn migrate_up(db: &DatabaseConnection) -> Result<(), CliError> {
    adopt(db).await?;
    Migrator::up(db, None).await.map_err(|e| format!("migration failed: {e}"))?;
    Ok(())
}

async fn migrate(db: &DatabaseConnection, action: MigrateAction) -> Result<(), CliError> {
    match action {
        MigrateAction::Up => {
            adopt(db).await?;
            let pending = Migrator::get_pending_migrations(db).await?.len();
            Migrator::up(db, None).await.map_err(|e| format!("migration failed: {e}"))?;
            println!("applied {pending} migration(s); the database is up to date");
        }
        MigrateAction::Down => {
            let applied = Migrator::get_applied_migrations(db).await?;
            match applied.last() {
                Some(last) => {
                    let name = last.name().to_owned();
                    Migrator::down(db, Some(1)).await.map_err(|e| format!("revert failed: {e}"))?;
                    println!("reverted {name}");
                }
                None => println!("nothing to revert: no migration is applied"),
            }
        }
        MigrateAction::Status => {
            for m in Migrator::get_migration_with_status(db).await? {
                let status = match m.status() {
                    migration::MigrationStatus::Applied => "applied",
                    migration::MigrationStatus::Pending => "pending",
                };
                println!("{status:8} {}", m.name());
            }
        }
    }
    Ok(())
}

/// The token checks of `--jwt-secret` / `--jwt-public-key`, or `None` (auth off).
pub fn auth_config(args: &AuthArgs) -> Result<Option<AuthConfig>, CliError> {
    let (iss, aud) = (args.jwt_issuer.clone(), args.jwt_audience.clone());
    Ok(match (&args.jwt_secret, &args.jwt_public_key) {
        (Some(secret), _) => Some(AuthConfig::hs256(secret.as_bytes(), iss, aud)?),
        (None, Some(path)) => Some(AuthConfig::public_key(path, iss, aud)?),
        (None, None) => None,
    })
}

async fn serve(
    url: &str,
    catalog: Catalog,
    registration: crate::ingest::ProjectRegistration,
    args: ServeArgs,
) -> Result<(), CliError> {
    let auth = auth_config(&args.auth)?;
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
    let l = &args.limits;
    let settings = PoolSettings {
        acquire_timeout: l.db_acquire_timeout.into(),
        statement_timeout: Some(l.request_timeout.into()),
        ..PoolSettings::default()
    };
    let (db, counter) = db::connect(url, &settings).await?;
    if args.no_migrate {
        // Only bookkeeping: an SQL-file install is recognised, no object is changed.
        adopt(&db).await?;
    } else {
        migrate_up(&db).await?;
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
    tracing::info!(%addr, database = %db::redact(url), "serving GraphQL on http://{addr}/graphql");
    let catalog = std::sync::Arc::new(catalog);
    if let Some(every) = args.retention_every.0 {
        tokio::spawn(retention::schedule::every(db.clone(), catalog.clone(), retention::Policy::default(), every));
    }
    let config = server::ServerConfig {
        batch_limits: crate::ingest::BatchLimits { max_rows: args.max_batch_rows, registration },
        max_body_bytes: args.max_body_bytes,
        catalog,
        policy: retention::Policy::default(),
        auth: auth.map(std::sync::Arc::new),
        query_limits: QueryLimits {
            max_depth: l.max_depth,
            max_complexity: l.max_complexity,
            max_aliases: l.max_aliases,
            max_root_fields: l.max_root_fields,
            max_batch: l.max_batch,
            timeout: l.request_timeout.into(),
            introspection: !l.no_introspection,
        },
        cors_origins: args.cors_origins.clone(),
        cache_max_age: args.cache_max_age,
        apq_capacity: args.apq_capacity,
    };
    crate::observe::prometheus();
    let router = server::build_router(AppState::with_config(db, counter, config));
    server::run(listener, router, server::shutdown_signal()).await?;
    Ok(())
}

/// `metrics-api ingest`: streams each file, with a progress bar on a terminal, and prints
/// one summary line. On a bad line it stops, saying how far it got.
async fn ingest_files(
    db: &DatabaseConnection,
    args: &IngestArgs,
    registration: crate::ingest::ProjectRegistration,
) -> Result<(), CliError> {
    use indicatif::{ProgressBar, ProgressStyle};
    use tokio::io::BufReader;

    let started = std::time::Instant::now();
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {human_pos} rows ({per_sec}) {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let mut total = crate::ingest::UpsertCounts::default();
    let mut rows = 0u64;
    let batch_size = args.batch_size.max(1);
    for file in &args.files {
        bar.set_message(file.clone());
        let base = rows;
        let on_rows = |n: u64| bar.set_position(base + n);
        let result = if file == "-" {
            let stdin = BufReader::new(tokio::io::stdin());
            crate::ingest::ndjson::ingest(db, "<stdin>", stdin, batch_size, registration, on_rows).await
        } else {
            let f = tokio::fs::File::open(file).await.map_err(|e| format!("{file}: cannot open: {e}"))?;
            let reader = BufReader::with_capacity(1 << 16, f);
            crate::ingest::ndjson::ingest(db, file, reader, batch_size, registration, on_rows).await
        };
        match result {
            Ok(p) => {
                rows += p.rows;
                total += p.counts;
            }
            Err((err, p)) => {
                bar.finish_and_clear();
                rows += p.rows;
                total += p.counts;
                println!("{}", summary_line(rows, total, started.elapsed()));
                return Err(format!(
                    "stopped at {err}; {} rows of {file} committed (through line {}); fix the line and run again: re-running is safe",
                    p.rows, p.committed_through_line
                )
                .into());
            }
        }
    }
    bar.finish_and_clear();
    println!("{}", summary_line(rows, total, started.elapsed()));
    Ok(())
}

fn summary_line(rows: u64, c: crate::ingest::UpsertCounts, elapsed: std::time::Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-9);
    format!(
        "ingested {rows} rows (inserted {}, updated {}, refreshed {}, unchanged {}) in {:.1} s ({:.0} rows/s)",
        c.inserted,
        c.updated,
        c.refreshed,
        c.unchanged,
        secs,
        rows as f64 / secs
    )
}

/// The text `metrics-api retention` prints.
pub fn retention_report(r: &retention::Report, opts: &retention::Options) -> String {
    let mut out = format!(
        "retention as of {} over {} project(s){}\n",
        opts.now.to_rfc3339(),
        r.projects,
        if opts.dry_run { " (dry run: nothing was changed)" } else { "" }
    );
    out += &format!("summary:   deleted {}\n", r.summary.deleted);
    out += &format!(
        "trend:     folded {} hour/day rows into week points ({} new, {} updated); deleted {} (their week was written by a compute job)\n",
        r.trend.folded, r.trend.created, r.trend.updated, r.trend.deleted
    );
    out += &format!("breakdown: deleted {}\n", r.breakdown.deleted);
    out += &format!("drilldown: deleted {}\n", r.drilldown.deleted);
    if !r.unknown_metrics.is_empty() {
        let keys: Vec<&str> = r.unknown_metrics.iter().map(String::as_str).collect();
        out += &format!("unknown metric keys (folded with avg): {}\n", keys.join(", "));
    }
    out
}
