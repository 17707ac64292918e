//! The command line. Every option can also come from the environment (named on each
//! field); `.env.example` lists them all.
//!
//! Defaults live once, in the domain types (`QueryLimits`, `ServerConfig`,
//! `SchemaConfig`, `BatchLimits`, `PoolSettings`): clap reads them from there, and each
//! group of arguments has one conversion into its settings (below, at the end).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::auth::AuthConfig;
use crate::catalog::Catalog;
use crate::db::{PoolSettings, DEFAULT_DATABASE_URL};
use crate::graphql::limits::QueryLimits;
use crate::graphql::SchemaConfig;
use crate::http::ServerConfig;
use crate::ingest::BatchLimits;
use crate::live::LiveLimits;
use crate::replicas::ReplicaSettings;
use crate::retention::Policy;
use crate::store::ReadShape;

/// Defaults as clap wants them, read from the domain types (computed once per parse).
fn server_default() -> ServerConfig {
    ServerConfig::default()
}

fn limits_default() -> QueryLimits {
    QueryLimits::default()
}

fn live_default() -> LiveLimits {
    LiveLimits::default()
}

/// A duration as clap shows and parses it (`10s`, `2s`).
fn human(d: Duration) -> humantime::Duration {
    d.into()
}

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
    // Boxed: by far the largest variant (clippy::large_enum_variant).
    Serve(Box<ServeArgs>),
    /// Apply, revert or list database migrations.
    Migrate {
        #[command(subcommand)]
        action: Option<MigrateAction>,
        #[command(flatten)]
        layout: LayoutArgs,
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

/// The storage layout `migrate` converts the tables to after migrating (PostgreSQL; see
/// `migration::layout`). Without one, the tables keep the layout they have.
#[derive(Debug, Args, Clone, Copy, Default)]
pub struct LayoutArgs {
    /// Convert the read-model tables to this layout after migrating: `plain` (the spec's
    /// tables), `partitioned` (monthly partitions, retention drops expired ones) or
    /// `citus` (distributed by project_id; run against the Citus coordinator).
    #[arg(long, value_enum, global = true, conflicts_with_all = ["partitioned", "citus"])]
    pub layout: Option<LayoutName>,
    /// Short for `--layout partitioned`.
    #[arg(long, global = true, conflicts_with = "citus")]
    pub partitioned: bool,
    /// Short for `--layout citus`.
    #[arg(long, global = true)]
    pub citus: bool,
}

impl LayoutArgs {
    /// The layout asked for, if any.
    pub fn target(&self) -> Option<migration::layout::Layout> {
        use migration::layout::Layout;
        match (self.layout, self.partitioned, self.citus) {
            (Some(name), _, _) => Some(name.into()),
            (None, true, _) => Some(Layout::Partitioned),
            (None, _, true) => Some(Layout::Citus),
            _ => None,
        }
    }
}

/// The layouts by name, for `--layout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LayoutName {
    Plain,
    Partitioned,
    Citus,
}

impl From<LayoutName> for migration::layout::Layout {
    fn from(n: LayoutName) -> Self {
        match n {
            LayoutName::Plain => Self::Plain,
            LayoutName::Partitioned => Self::Partitioned,
            LayoutName::Citus => Self::Citus,
        }
    }
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

    /// Do not serve the dashboard page at `/` (GraphiQL stays at `/graphql`): for
    /// deployments that expose only the API.
    #[arg(long, env = "NO_DASHBOARD")]
    pub no_dashboard: bool,

    /// Largest request body accepted on /graphql, in bytes (default 16 MiB): bounds the
    /// memory a single mutation can take.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = server_default().max_body_bytes)]
    pub max_body_bytes: usize,

    /// Run the retention job in the background every this long (`1h`, the default:
    /// the spec's rules hold without a scheduler), at start and then on the period;
    /// `off` turns it off. Each run is logged and its counts exported on /metrics;
    /// on PostgreSQL one server at a time runs it.
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

    #[command(flatten)]
    pub live: LiveArgs,

    /// Origins allowed to call the API from a browser (CORS), comma-separated; none by
    /// default.
    #[arg(long = "cors-origin", env = "CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// `max-age` (seconds) of cacheable query answers; 0 sends `no-store`.
    #[arg(long, env = "CACHE_MAX_AGE", default_value_t = server_default().cache_max_age)]
    pub cache_max_age: u64,

    /// Entries of the automatic persisted query cache (LRU).
    #[arg(long, env = "APQ_CAPACITY", default_value_t = SchemaConfig::default().apq_capacity)]
    pub apq_capacity: usize,

    /// Rows per mutation call: bounds a write transaction (split bigger batches).
    #[arg(long, env = "MAX_BATCH_ROWS", default_value_t = BatchLimits::default().max_rows)]
    pub max_batch_rows: usize,

    /// Read replicas, comma-separated URLs: read-only GraphQL requests read from a
    /// healthy one; writes and their reads use the primary. None by default.
    #[arg(long = "database-read-url", env = "DATABASE_READ_URL", value_delimiter = ',', hide_env_values = true)]
    pub database_read_urls: Vec<String>,

    /// A replica whose replay lags more than this is skipped (reads go elsewhere).
    #[arg(long, env = "REPLICA_MAX_LAG", default_value_t = human(ReplicaSettings::default().max_lag))]
    pub replica_max_lag: humantime::Duration,

    /// How often each replica's health and lag are checked (in the background).
    #[arg(long, env = "REPLICA_CHECK_EVERY", default_value_t = human(ReplicaSettings::default().check_every))]
    pub replica_check_every: humantime::Duration,

    /// The statement shape of batched per-project reads: `auto` (the default) picks
    /// `windowed` on a Citus coordinator and `branches` elsewhere. Both return the same
    /// rows; the other shape is for measuring.
    #[arg(long, env = "READ_SHAPE", value_enum, default_value = "auto")]
    pub read_shape: ReadShapeArg,

    #[command(flatten)]
    pub writes: WriteArgs,
}

/// `serve --read-shape`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReadShapeArg {
    /// From the database's layout.
    Auto,
    /// One `UNION ALL` branch per project.
    Branches,
    /// One statement over `project_id IN (...)`, ranked per project.
    Windowed,
}

#[derive(Debug, Args, Clone)]
pub struct IngestArgs {
    /// NDJSON files to read, in order; `-` reads standard input.
    #[arg(required = true)]
    pub files: Vec<String>,

    /// Rows per transaction.
    #[arg(long, env = "INGEST_BATCH_SIZE", default_value_t = crate::ingest::ndjson::DEFAULT_BATCH_SIZE)]
    pub batch_size: usize,

    #[command(flatten)]
    pub writes: WriteArgs,
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
    #[arg(long, env = "MAX_DEPTH", default_value_t = limits_default().max_depth)]
    pub max_depth: usize,
    /// Maximum query complexity (lists weigh their page size, trends their buckets).
    #[arg(long, env = "MAX_COMPLEXITY", default_value_t = limits_default().max_complexity)]
    pub max_complexity: usize,
    /// Maximum aliased fields in one operation.
    #[arg(long, env = "MAX_ALIASES", default_value_t = limits_default().max_aliases)]
    pub max_aliases: usize,
    /// Maximum root fields in one operation.
    #[arg(long, env = "MAX_ROOT_FIELDS", default_value_t = limits_default().max_root_fields)]
    pub max_root_fields: usize,
    /// Maximum lexical tokens in one document (counted before parsing).
    #[arg(long, env = "MAX_TOKENS", default_value_t = limits_default().max_tokens)]
    pub max_tokens: usize,
    /// Maximum directives in one document.
    #[arg(long, env = "MAX_DIRECTIVES", default_value_t = limits_default().max_directives)]
    pub max_directives: usize,
    /// Maximum requests in one batched request.
    #[arg(long, env = "MAX_BATCH", default_value_t = limits_default().max_batch)]
    pub max_batch: usize,
    /// Request timeout; also PostgreSQL's `statement_timeout`.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value_t = human(limits_default().timeout))]
    pub request_timeout: humantime::Duration,
    /// How long a request waits for a database connection before `SERVICE_UNAVAILABLE`.
    #[arg(long, env = "DB_ACQUIRE_TIMEOUT", default_value_t = human(PoolSettings::default().acquire_timeout))]
    pub db_acquire_timeout: humantime::Duration,
    /// On a Citus coordinator: the connections one statement may open to each worker
    /// (`citus.max_adaptive_executor_pool_size` on the server's sessions); 0 leaves the
    /// database's setting (Citus's default is 16).
    #[arg(long, env = "CITUS_EXECUTOR_POOL", default_value_t = crate::db::CITUS_EXECUTOR_POOL)]
    pub citus_executor_pool: u32,
    /// Refuse introspection (`__schema`, `__type`).
    #[arg(long, env = "NO_INTROSPECTION")]
    pub no_introspection: bool,
}

/// Subscriptions over WebSocket (see `src/live/mod.rs` for why each default).
#[derive(Debug, Args, Clone)]
pub struct LiveArgs {
    /// WebSocket connections one instance serves; more are closed with 1013.
    #[arg(long, env = "WS_MAX_CONNECTIONS", default_value_t = live_default().max_connections)]
    pub ws_max_connections: usize,
    /// Subscriptions one WebSocket connection may run at once.
    #[arg(long, env = "WS_MAX_SUBSCRIPTIONS", default_value_t = live_default().max_subscriptions)]
    pub ws_max_subscriptions: usize,
    /// Events buffered per subscription; a subscriber further behind is closed (4008).
    #[arg(long, env = "WS_BUFFER", default_value_t = live_default().buffer)]
    pub ws_buffer: usize,
    /// WebSocket ping period of an idle connection; silent for three periods: dropped.
    #[arg(long, env = "WS_KEEPALIVE", default_value_t = human(live_default().keepalive))]
    pub ws_keepalive: humantime::Duration,
    /// How long a write to a client socket may wait before the client is dropped as a
    /// slow consumer.
    #[arg(long, env = "WS_SEND_TIMEOUT", default_value_t = human(live_default().send_timeout))]
    pub ws_send_timeout: humantime::Duration,
    /// Time allowed between the upgrade and `connection_init` (then closed with 4408).
    #[arg(long, env = "WS_INIT_TIMEOUT", default_value_t = human(live_default().init_timeout))]
    pub ws_init_timeout: humantime::Duration,
}

impl LiveArgs {
    /// The subscription limits these arguments set.
    pub fn live_limits(&self) -> LiveLimits {
        LiveLimits {
            max_connections: self.ws_max_connections,
            max_subscriptions: self.ws_max_subscriptions,
            buffer: self.ws_buffer,
            keepalive: self.ws_keepalive.into(),
            send_timeout: self.ws_send_timeout.into(),
            init_timeout: self.ws_init_timeout.into(),
        }
    }
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

impl LimitArgs {
    /// The query limits these arguments set.
    pub fn query_limits(&self) -> QueryLimits {
        QueryLimits {
            max_depth: self.max_depth,
            max_complexity: self.max_complexity,
            max_aliases: self.max_aliases,
            max_root_fields: self.max_root_fields,
            max_tokens: self.max_tokens,
            max_directives: self.max_directives,
            max_batch: self.max_batch,
            timeout: self.request_timeout.into(),
            introspection: !self.no_introspection,
        }
    }

    /// The pool of a server: requests wait at most `db_acquire_timeout` for a
    /// connection, and PostgreSQL cancels a statement at the request timeout.
    pub fn pool_settings(&self) -> PoolSettings {
        PoolSettings {
            acquire_timeout: self.db_acquire_timeout.into(),
            statement_timeout: Some(self.request_timeout.into()),
            citus_executor_pool: (self.citus_executor_pool > 0).then_some(self.citus_executor_pool),
            ..PoolSettings::default()
        }
    }
}

impl AuthArgs {
    /// The token checks of `--jwt-secret` / `--jwt-public-key`, or `None` (auth off).
    pub fn auth_config(&self) -> Result<Option<AuthConfig>, crate::auth::KeyError> {
        let (iss, aud) = (self.jwt_issuer.clone(), self.jwt_audience.clone());
        Ok(match (&self.jwt_secret, &self.jwt_public_key) {
            (Some(secret), _) => Some(AuthConfig::hs256(secret.as_bytes(), iss, aud)?),
            (None, Some(path)) => Some(AuthConfig::public_key(path, iss, aud)?),
            (None, None) => None,
        })
    }
}

impl ServeArgs {
    /// How replicas are judged.
    pub fn replica_settings(&self) -> ReplicaSettings {
        ReplicaSettings { max_lag: self.replica_max_lag.into(), check_every: self.replica_check_every.into() }
    }

    /// The server settings these arguments set, with the loaded catalog and token checks.
    pub fn server_config(&self, catalog: Arc<Catalog>, auth: Option<AuthConfig>) -> ServerConfig {
        ServerConfig {
            schema: SchemaConfig {
                query_limits: self.limits.query_limits(),
                batch_limits: BatchLimits {
                    max_rows: self.max_batch_rows,
                    registration: self.writes.project_registration,
                },
                catalog,
                policy: Policy::default(),
                apq_capacity: self.apq_capacity,
            },
            max_body_bytes: self.max_body_bytes,
            auth: auth.map(Arc::new),
            cors_origins: self.cors_origins.clone(),
            cache_max_age: self.cache_max_age,
            live: self.live.live_limits(),
            dashboard: !self.no_dashboard,
            // `auto` is settled by `serve` once connected (it needs the catalog).
            read_shape: match self.read_shape {
                ReadShapeArg::Windowed => ReadShape::Windowed,
                ReadShapeArg::Auto | ReadShapeArg::Branches => ReadShape::Branches,
            },
        }
    }
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

/// How writes treat project ids (`serve` and `ingest`).
#[derive(Debug, Args, Clone)]
pub struct WriteArgs {
    /// What a write does with an unknown project id: `auto` registers it (a standalone
    /// database), `strict` refuses the batch (a host database whose system owns
    /// `project`: a mistyped id is an error, not a new project).
    #[arg(long, env = "PROJECT_REGISTRATION", value_enum, default_value_t = BatchLimits::default().registration)]
    pub project_registration: crate::ingest::ProjectRegistration,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With no flag and no environment, the parsed settings are the domain defaults.
    #[test]
    fn defaults_come_from_the_domain_types() {
        let cli = Cli::try_parse_from(["metrics-api", "serve"]).expect("parses");
        let Command::Serve(args) = cli.command else { panic!("serve") };
        let parsed = args.server_config(Arc::new(Catalog::default()), None);
        let default = ServerConfig::default();
        assert_eq!(parsed.max_body_bytes, default.max_body_bytes);
        assert_eq!(parsed.cache_max_age, default.cache_max_age);
        assert_eq!(parsed.dashboard, default.dashboard);
        assert_eq!(parsed.schema.apq_capacity, default.schema.apq_capacity);
        assert_eq!(parsed.schema.batch_limits.max_rows, default.schema.batch_limits.max_rows);
        let (l, d) = (parsed.schema.query_limits, QueryLimits::default());
        assert_eq!(
            (l.max_depth, l.max_complexity, l.max_aliases, l.max_root_fields, l.max_batch, l.timeout, l.introspection),
            (d.max_depth, d.max_complexity, d.max_aliases, d.max_root_fields, d.max_batch, d.timeout, d.introspection)
        );
        assert_eq!((l.max_tokens, l.max_directives), (d.max_tokens, d.max_directives));
        assert_eq!(args.limits.pool_settings().acquire_timeout, PoolSettings::default().acquire_timeout);
        let (w, d) = (parsed.live, LiveLimits::default());
        assert_eq!(
            (w.max_connections, w.max_subscriptions, w.buffer, w.keepalive, w.send_timeout, w.init_timeout),
            (d.max_connections, d.max_subscriptions, d.buffer, d.keepalive, d.send_timeout, d.init_timeout)
        );
        let (r, d) = (args.replica_settings(), ReplicaSettings::default());
        assert_eq!((r.max_lag, r.check_every), (d.max_lag, d.check_every));
        assert!(args.database_read_urls.is_empty());
    }

    #[test]
    fn read_urls_split_on_commas() {
        let cli = Cli::try_parse_from([
            "metrics-api",
            "serve",
            "--database-read-url",
            "postgres://r1/db,postgres://r2/db",
            "--replica-max-lag",
            "3s",
        ])
        .expect("parses");
        let Command::Serve(args) = cli.command else { panic!("serve") };
        assert_eq!(args.database_read_urls, ["postgres://r1/db", "postgres://r2/db"]);
        assert_eq!(args.replica_settings().max_lag, Duration::from_secs(3));
    }

    #[test]
    fn retention_runs_hourly_unless_turned_off() {
        let every = |args: &[&str]| {
            let cli = Cli::try_parse_from([&["metrics-api", "serve"], args].concat()).map_err(|e| e.to_string())?;
            let Command::Serve(a) = cli.command else { panic!("serve") };
            Ok::<_, String>(a.retention_every.0)
        };
        assert_eq!(every(&[]), Ok(Some(Duration::from_secs(3600))));
        assert_eq!(every(&["--retention-every", "30m"]), Ok(Some(Duration::from_secs(1800))));
        assert_eq!(every(&["--retention-every", "off"]), Ok(None));
        assert!(every(&["--retention-every", "0s"]).unwrap_err().contains("use `off`"));
    }

    #[test]
    fn flags_override_the_defaults() {
        let cli = Cli::try_parse_from(["metrics-api", "serve", "--max-depth", "7", "--request-timeout", "3s"])
            .expect("parses");
        let Command::Serve(args) = cli.command else { panic!("serve") };
        let l = args.limits.query_limits();
        assert_eq!((l.max_depth, l.timeout), (7, Duration::from_secs(3)));
        assert_eq!(args.limits.pool_settings().statement_timeout, Some(Duration::from_secs(3)));
    }

    #[test]
    fn no_dashboard_turns_the_page_off() {
        let cli = Cli::try_parse_from(["metrics-api", "serve", "--no-dashboard"]).expect("parses");
        let Command::Serve(args) = cli.command else { panic!("serve") };
        assert!(!args.server_config(Arc::new(Catalog::default()), None).dashboard);
    }
}
