//! Database connections: URL checks, pool settings and the statement counter.
//!
//! One place decides how to open either backend, so the binary, the tests and the demo
//! loader all get the same settings: SQLite files are created when missing and run in WAL
//! mode (readers do not block the writer); both backends fail fast when the pool cannot
//! hand out a connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};

/// Why a database could not be opened, in one line a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("malformed database URL {url:?}: {reason}")]
    Malformed { url: String, reason: String },
    #[error("cannot reach the database at {url}: {reason}")]
    Unreachable { url: String, reason: String },
}

/// The default database: an SQLite file in the working directory, created if missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://metrics.db?mode=rwc";

/// Counts every SQL statement run through a connection. Tests assert "one statement per
/// field shape" with it; it is cheap enough to stay on in production.
#[derive(Debug, Clone, Default)]
pub struct StatementCounter(Arc<AtomicU64>);

impl StatementCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn bump(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Checks the URL's scheme and, for SQLite, makes sure a missing file is created.
pub fn normalize_url(url: &str) -> Result<String, ConnectError> {
    let malformed = |reason: &str| ConnectError::Malformed { url: redact(url), reason: reason.to_owned() };
    let (scheme, rest) = url.split_once(':').ok_or_else(|| malformed("expected postgres://... or sqlite://..."))?;
    match scheme {
        "postgres" | "postgresql" => {
            let rest =
                rest.strip_prefix("//").ok_or_else(|| malformed("expected postgres://user@host:port/database"))?;
            if rest.is_empty() || rest.starts_with('/') {
                return Err(malformed("no host given"));
            }
            Ok(url.to_owned())
        }
        "sqlite" => {
            if rest.trim_start_matches('/').is_empty() {
                return Err(malformed("no file name given"));
            }
            if rest.contains(":memory:") || rest.contains("mode=") {
                Ok(url.to_owned())
            } else if rest.contains('?') {
                Ok(format!("{url}&mode=rwc"))
            } else {
                Ok(format!("{url}?mode=rwc"))
            }
        }
        _ => Err(malformed("unsupported scheme; use postgres:// or sqlite://")),
    }
}

/// Hides a password in a URL shown in messages or logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Pool settings shared by every caller.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// How long a request waits for a connection before failing with
    /// `SERVICE_UNAVAILABLE`: short, so a dead database fails requests fast.
    pub acquire_timeout: Duration,
    /// PostgreSQL `statement_timeout`: the server cancels a statement running longer.
    pub statement_timeout: Option<Duration>,
    /// Open no connection until one is needed: a read replica that is down at start
    /// must not stop the server (see [`crate::replicas`]).
    pub lazy: bool,
    /// On a Citus coordinator, the connections one statement may open to each worker
    /// (`citus.max_adaptive_executor_pool_size`, set on each of the pool's connections;
    /// `None` leaves the database's setting). See [`CITUS_EXECUTOR_POOL`].
    pub citus_executor_pool: Option<u32>,
}

/// One connection per worker per statement: the API runs many small statements at once,
/// and Citus's default (up to 16 per worker, opened for each multi-shard statement) made
/// the workers fork a backend for most shard tasks. Measured on the dashboard mix
/// (docs/PERFORMANCE.md, "Citus"): a 50-project dashboard at concurrency 16 went from 3
/// to 9 requests per second. Statements still run on every worker they reach at once.
pub const CITUS_EXECUTOR_POOL: u32 = 1;

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(2),
            statement_timeout: None,
            lazy: false,
            citus_executor_pool: Some(CITUS_EXECUTOR_POOL),
        }
    }
}

/// Opens a pool and installs the statement counter.
pub async fn connect(
    url: &str,
    settings: &PoolSettings,
) -> Result<(DatabaseConnection, StatementCounter), ConnectError> {
    let url = normalize_url(url)?;
    let mut opts = ConnectOptions::new(url.clone());
    opts.max_connections(settings.max_connections)
        .min_connections(0)
        .acquire_timeout(settings.acquire_timeout)
        .connect_timeout(settings.acquire_timeout)
        .connect_lazy(settings.lazy)
        // No ping before each acquire: every statement of a request acquires a
        // connection, and a round trip per statement cost PostgreSQL more CPU than the
        // statements themselves on small reads (docs/PERFORMANCE.md). A dead connection
        // fails its statement instead, which maps to SERVICE_UNAVAILABLE like a failed
        // ping would, and sqlx drops it from the pool.
        .test_before_acquire(false)
        .sqlx_logging(false);
    if let Some(t) = settings.statement_timeout {
        let ms = t.as_millis().to_string();
        opts.map_sqlx_postgres_opts(move |o| o.options([("statement_timeout", ms.clone())]));
    }
    if let Some(n) = settings.citus_executor_pool {
        opts.map_sqlx_postgres_pool_opts(move |pool| pool.after_connect(move |conn, _| citus_session(conn, n)));
    }
    let mut conn = Database::connect(opts).await.map_err(|e| classify(&url, e))?;
    if conn.get_database_backend() == DbBackend::Sqlite && !settings.lazy {
        conn.execute_unprepared("PRAGMA journal_mode=WAL").await.map_err(|e| classify(&url, e))?;
    }
    let counter = StatementCounter::default();
    let c = counter.clone();
    conn.set_metric_callback(move |_| {
        c.bump();
        crate::observe::statement_ran();
    });
    Ok((conn, counter))
}

/// Sets the Citus executor's pool size on a new connection, where the database has the
/// Citus extension (a statement on connect only; elsewhere it sets nothing).
fn citus_session(
    conn: &mut sea_orm::sqlx::PgConnection,
    pool_size: u32,
) -> futures_util::future::BoxFuture<'_, Result<(), sea_orm::sqlx::Error>> {
    Box::pin(async move {
        sea_orm::sqlx::query(
            "SELECT set_config('citus.max_adaptive_executor_pool_size', $1, false) \
             FROM pg_extension WHERE extname = 'citus'",
        )
        .bind(pool_size.to_string())
        .execute(conn)
        .await
        .map(|_| ())
    })
}

fn classify(url: &str, err: sea_orm::DbErr) -> ConnectError {
    let reason = err.to_string();
    if crate::error::upstream::is_malformed_url(&reason) {
        ConnectError::Malformed { url: redact(url), reason }
    } else {
        ConnectError::Unreachable { url: redact(url), reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_create_missing_files() {
        assert_eq!(normalize_url("sqlite://x.db").unwrap(), "sqlite://x.db?mode=rwc");
        assert_eq!(normalize_url("sqlite://x.db?cache=shared").unwrap(), "sqlite://x.db?cache=shared&mode=rwc");
        assert_eq!(normalize_url("sqlite://x.db?mode=ro").unwrap(), "sqlite://x.db?mode=ro");
    }

    #[test]
    fn malformed_urls_are_named() {
        for bad in ["", "metrics.db", "mysql://h/db", "postgres:/h", "postgres:///db", "sqlite://"] {
            let err = normalize_url(bad).unwrap_err();
            assert!(matches!(err, ConnectError::Malformed { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
