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

    /// What a write does with an unknown project id: `auto` registers it (a standalone
    /// database), `strict` refuses the batch (a host database whose system owns
    /// `project`). Used by `serve` and `ingest`.
    #[arg(long, env = "PROJECT_REGISTRATION", value_enum, default_value = "auto", global = true)]
    pub project_registration: crate::ingest::ProjectRegistration,

    /// Log format: `text` for people, `json` (one object a line) for log pipelines.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text", global = true)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
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
    /// Mint a bearer token with the configured HS256 secret (development and tests).
    Token(TokenArgs),
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

    /// Run the retention job in the background every this long (`1h`, the default:
    /// the spec's rules hold without a scheduler), or `off`. Each run is logged and its
    /// counts exported on /metrics; on PostgreSQL one server at a time runs it.
    #[arg(long, env = "RETENTION_EVERY", default_value = "1h", value_parser = parse_every)]
    pub retention_every: Every,

    #[command(flatten)]
    pub auth: AuthArgs,

    /// Serve without authentication on a non-loopback address (otherwise refused when no
    /// JWT key is configured).
    #[arg(long, env = "ALLOW_UNAUTHENTICATED")]
    pub allow_unauthenticated: bool,

    #[command(flatten)]
    pub limits: LimitArgs,

    /// Origins allowed to call the API from a browser (CORS), comma-separated; none by
    /// default.
    #[arg(long = "cors-origin", env = "CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// `max-age` (seconds) of cacheable query answers; 0 sends `no-store`.
    #[arg(long, env = "CACHE_MAX_AGE", default_value_t = 60)]
    pub cache_max_age: u64,

    /// Entries of the automatic persisted query cache (LRU).
    #[arg(long, env = "APQ_CAPACITY", default_value_t = 4096)]
    pub apq_capacity: usize,

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

/// How bearer tokens are checked.
#[derive(Debug, Args, Clone, Default)]
pub struct AuthArgs {
    /// HS256 shared secret (at least 32 bytes); turns auth on.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// RS256 or ES256 public key (PEM file); turns auth on.
    #[arg(long, env = "JWT_PUBLIC_KEY", conflicts_with = "jwt_secret")]
    pub jwt_public_key: Option<std::path::PathBuf>,

    /// Required `iss` claim, when set.
    #[arg(long, env = "JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// Required `aud` claim, when set.
    #[arg(long, env = "JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
}

/// What one request may ask for (see `src/graphql/limits.rs` for why each default).
#[derive(Debug, Args, Clone)]
pub struct LimitArgs {
    /// Maximum query depth.
    #[arg(long, env = "MAX_DEPTH", default_value_t = 20)]
    pub max_depth: usize,
    /// Maximum query complexity (lists weigh their page size, trends their buckets).
    #[arg(long, env = "MAX_COMPLEXITY", default_value_t = 50_000)]
    pub max_complexity: usize,
    /// Maximum aliased fields in one operation.
    #[arg(long, env = "MAX_ALIASES", default_value_t = 256)]
    pub max_aliases: usize,
    /// Maximum root fields in one operation.
    #[arg(long, env = "MAX_ROOT_FIELDS", default_value_t = 50)]
    pub max_root_fields: usize,
    /// Maximum requests in one batched request.
    #[arg(long, env = "MAX_BATCH", default_value_t = 10)]
    pub max_batch: usize,
    /// Request timeout; also PostgreSQL's `statement_timeout`.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "10s")]
    pub request_timeout: humantime::Duration,
    /// How long a request waits for a database connection before `SERVICE_UNAVAILABLE`.
    #[arg(long, env = "DB_ACQUIRE_TIMEOUT", default_value = "2s")]
    pub db_acquire_timeout: humantime::Duration,
    /// Refuse introspection (`__schema`, `__type`).
    #[arg(long, env = "NO_INTROSPECTION")]
    pub no_introspection: bool,
}

#[derive(Debug, Args, Clone)]
pub struct TokenArgs {
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Projects the token allows: `*` or comma-separated UUIDs.
    #[arg(long)]
    pub projects: String,
    /// Space-separated scopes: `metrics:read`, `metrics:write`.
    #[arg(long, default_value = "metrics:read")]
    pub scope: String,
    /// Lifetime of the token.
    #[arg(long, default_value = "1h")]
    pub ttl: humantime::Duration,
}

/// A period, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Every(pub Option<std::time::Duration>);

fn parse_every(s: &str) -> Result<Every, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(Every(None));
    }
    let d: std::time::Duration =
        s.parse::<humantime::Duration>().map_err(|e| format!("expected a period such as `1h`, or `off`: {e}"))?.into();
    if d.is_zero() {
        return Err("the period must be longer than 0; use `off` to turn retention off".into());
    }
    Ok(Every(Some(d)))
}
