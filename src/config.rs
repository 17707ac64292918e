//! The command line. Every option can also come from the environment (named on each
//! field); `.env.example` lists them all.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};

use crate::db::DEFAULT_DATABASE_URL;

/// metrics-api: a GraphQL API serving a metrics read model to dashboards.
#[derive(Debug, Parser)]
#[command(name = "metrics-api", version, about)]
pub struct Cli {
    /// Database URL: `postgres://user@host:port/db` or `sqlite://file.db`. The default is
    /// an SQLite file in the working directory, created when missing.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    pub database_url: String,

    /// Metric catalog (TOML): aggregation, unit and description per metric key, on top of
    /// the built-in defaults. Used by `retention` and served as `metricCatalog`.
    #[arg(long, env = "METRICS_CATALOG", global = true)]
    pub catalog: Option<std::path::PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the GraphQL server.
    Serve(ServeArgs),
    /// Apply, revert or list database migrations.
    Migrate {
        #[command(subcommand)]
        action: Option<MigrateAction>,
    },
    /// Print the GraphQL SDL (the content of `schema.graphql`) to stdout.
    Schema,
    /// Load the deterministic demo dataset when the database holds no project.
    SeedDemo,
    /// Upsert rows from NDJSON files (one row a line, with a `kind` field).
    Ingest(IngestArgs),
    /// Apply the retention rules: expire old rows, fold old hour/day trend points into weeks.
    Retention(RetentionArgs),
}

#[derive(Debug, Subcommand, Clone, Copy, PartialEq, Eq)]
pub enum MigrateAction {
    /// Apply every pending migration (the default).
    Up,
    /// Revert the last applied migration.
    Down,
    /// List migrations and whether each is applied.
    Status,
}

#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "BIND_ADDR", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Do not run pending migrations at start (for deployments that migrate separately).
    #[arg(long, env = "NO_MIGRATE")]
    pub no_migrate: bool,

    /// Load the demo dataset at start when the database holds no project.
    #[arg(long, env = "DEMO")]
    pub demo: bool,

    /// Largest request body accepted on /graphql, in bytes (default 16 MiB): bounds the
    /// memory a single mutation can take.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Run the retention job in the background every this long (e.g. `1h`); off when
    /// absent. Each run is logged.
    #[arg(long, env = "RETENTION_EVERY")]
    pub retention_every: Option<humantime::Duration>,

    /// Rows per mutation call: bounds a write transaction (split bigger batches).
    #[arg(long, env = "MAX_BATCH_ROWS", default_value_t = 10_000)]
    pub max_batch_rows: usize,
}

#[derive(Debug, Args, Clone)]
pub struct IngestArgs {
    /// NDJSON files to read, in order; `-` reads standard input.
    #[arg(required = true)]
    pub files: Vec<String>,

    /// Rows per transaction.
    #[arg(long, env = "INGEST_BATCH_SIZE", default_value_t = 1000)]
    pub batch_size: usize,
}

#[derive(Debug, Args, Clone)]
pub struct RetentionArgs {
    /// Report what a run would do, and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// The instant the run ages rows from (RFC 3339); now when absent.
    #[arg(long)]
    pub now: Option<chrono::DateTime<chrono::Utc>>,

    /// Only this project.
    #[arg(long)]
    pub project: Option<uuid::Uuid>,
}
