//! Test harness: a real server on 127.0.0.1:0 over a fresh database per test, on SQLite
//! (a temporary file) and PostgreSQL (a database cloned from a migrated template, or from
//! that template converted to the partitioned layout).
//!
//! PostgreSQL tests read `TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). When no server answers they print one
//! line and pass, unless `REQUIRE_POSTGRES=1`, which makes them fail.

pub mod citus;
pub mod cluster;
pub mod fixtures;
pub mod serve;
pub mod served;
pub mod tokens;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};

use metrics_api::db::{self, PoolSettings, StatementCounter};
use metrics_api::http::{build_router, run, AppState, ServerConfig};
use metrics_api::store::ReadShape;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use serde_json::{json, Value};
use tokio::sync::{oneshot, Mutex, OnceCell};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running server over its own database.
pub struct TestApp {
    pub backend: Backend,
    pub db: DatabaseConnection,
    pub statements: StatementCounter,
    pub url: String,
    pub client: reqwest::Client,
    /// The database URL the server uses.
    pub database_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    cleanup: Cleanup,
}

enum Cleanup {
    File(PathBuf),
    Database(String),
    /// A database the test made and removes itself (a Citus coordinator's).
    Nothing,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);
static SKIP_NOTICE: AtomicBool = AtomicBool::new(false);
static TEMPLATE: OnceCell<Option<String>> = OnceCell::const_new();
static TEMPLATE_PARTITIONED: OnceCell<Option<String>> = OnceCell::const_new();
static CLONE_LOCK: Mutex<()> = Mutex::const_new(());

fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The URL of database `name` on the admin URL's server.
pub fn database_url(name: &str) -> String {
    let admin = admin_url();
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap_or(admin);
    format!("{base}/{name}")
}

pub fn require_postgres() -> bool {
    std::env::var("REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

impl TestApp {
    /// A server over a new, migrated SQLite file.
    pub async fn sqlite() -> TestApp {
        Self::sqlite_with(ServerConfig::default()).await
    }

    /// A server with the given settings over a new, migrated SQLite file.
    pub async fn sqlite_with(config: ServerConfig) -> TestApp {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("metrics-api-test-{}-{n}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let url = format!("sqlite://{}", path.display());
        let (db, statements) = db::connect(&url, &PoolSettings::default()).await.expect("open sqlite");
        Migrator::up(&db, None).await.expect("migrate sqlite");
        Self::start(Backend::Sqlite, db, statements, url, Cleanup::File(path), config).await
    }

    /// A server over a new PostgreSQL database cloned from the migrated template; `None`
    /// (after a notice) when no PostgreSQL answers and `REQUIRE_POSTGRES` is not set.
    pub async fn postgres() -> Option<TestApp> {
        Self::postgres_with(ServerConfig::default()).await
    }

    /// A server with the given settings over a new PostgreSQL database.
    pub async fn postgres_with(config: ServerConfig) -> Option<TestApp> {
        let name = Self::fresh_postgres_database().await?;
        let url = database_url(&name);
        let (db, statements) = db::connect(&url, &PoolSettings::default()).await.expect("open postgres");
        Some(Self::start(Backend::Postgres, db, statements, url, Cleanup::Database(name), config).await)
    }

    /// A server over a new PostgreSQL database in the partitioned layout
    /// (`migration::layout::partitioned`), cloned from a converted template.
    pub async fn postgres_partitioned() -> Option<TestApp> {
        let template = TEMPLATE_PARTITIONED.get_or_init(create_partitioned_template).await.clone()?;
        let name = clone_database(&template).await;
        let url = database_url(&name);
        let (db, statements) = db::connect(&url, &PoolSettings::default()).await.expect("open postgres");
        Some(
            Self::start(Backend::Postgres, db, statements, url, Cleanup::Database(name), ServerConfig::default()).await,
        )
    }

    /// A server with the given settings on `backend` (`None`: PostgreSQL skipped).
    pub async fn on(backend: Backend, config: ServerConfig) -> Option<TestApp> {
        match backend {
            Backend::Sqlite => Some(Self::sqlite_with(config).await),
            Backend::Postgres => Self::postgres_with(config).await,
        }
    }

    /// A server over a new PostgreSQL database reached through `proxy` (host:port), with
    /// the given pool settings: for fault tests that cut the connection.
    pub async fn postgres_via(proxy: std::net::SocketAddr, pool: PoolSettings) -> Option<TestApp> {
        let name = Self::fresh_postgres_database().await?;
        let direct = database_url(&name);
        let url = {
            let (scheme_user, rest) = direct.split_once('@').expect("user@host in TEST_DATABASE_URL");
            let path = rest.split_once('/').map(|(_, p)| p).unwrap_or_default();
            format!("{scheme_user}@{proxy}/{path}")
        };
        let (db, statements) = db::connect(&url, &pool).await.expect("open postgres through the proxy");
        Some(
            Self::start(Backend::Postgres, db, statements, url, Cleanup::Database(name), ServerConfig::default()).await,
        )
    }

    /// A server with the given settings over the PostgreSQL database at `url`, as it is
    /// (migrated or not): for servers over a database the test built itself, such as a
    /// Citus coordinator. `finish` leaves the database in place.
    /// The read shape is the layout's, as `serve --read-shape auto` picks it, whatever
    /// `config` says (a test that forces a shape uses [`TestApp::recording_at`] or
    /// [`TestApp::beside`]).
    pub async fn postgres_at(url: &str, config: ServerConfig) -> TestApp {
        let (db, statements) = db::connect(url, &PoolSettings::default()).await.expect("open postgres");
        let read_shape = ReadShape::detect(&db).await.expect("read the layout");
        let config = ServerConfig { read_shape, ..config };
        Self::start(Backend::Postgres, db, statements, url.to_owned(), Cleanup::Nothing, config).await
    }

    /// A second server with the given settings over this one's database (its own pool
    /// and statement counter); `finish` leaves the database to the first.
    pub async fn beside(&self, config: ServerConfig) -> TestApp {
        let (db, statements) = db::connect(&self.database_url, &PoolSettings::default()).await.expect("open database");
        Self::start(self.backend, db, statements, self.database_url.clone(), Cleanup::Nothing, config).await
    }

    /// Like [`TestApp::postgres`], with every statement the server runs recorded (for
    /// `EXPLAIN` checks); the statement counter stays at zero.
    pub async fn postgres_recording() -> Option<(TestApp, Arc<StdMutex<Vec<Statement>>>)> {
        let name = Self::fresh_postgres_database().await?;
        Some(Self::recording(&database_url(&name), Cleanup::Database(name), None).await)
    }

    /// Like [`TestApp::postgres_at`], with every statement the server runs recorded, and
    /// the given read shape (`None`: the layout's).
    pub async fn recording_at(url: &str, shape: Option<ReadShape>) -> (TestApp, Arc<StdMutex<Vec<Statement>>>) {
        Self::recording(url, Cleanup::Nothing, shape).await
    }

    async fn recording(
        url: &str,
        cleanup: Cleanup,
        shape: Option<ReadShape>,
    ) -> (TestApp, Arc<StdMutex<Vec<Statement>>>) {
        let (mut db, statements) = db::connect(url, &PoolSettings::default()).await.expect("open postgres");
        let read_shape = match shape {
            Some(shape) => shape,
            None => ReadShape::detect(&db).await.expect("read the layout"),
        };
        let log = Arc::new(StdMutex::new(Vec::new()));
        let sink = log.clone();
        db.set_metric_callback(move |info| sink.lock().unwrap().push(info.statement.clone()));
        // EXPLAIN checks run one large query on purpose: no complexity cap.
        let limits = metrics_api::graphql::limits::QueryLimits { max_complexity: usize::MAX, ..Default::default() };
        let schema = metrics_api::graphql::SchemaConfig { query_limits: limits, ..Default::default() };
        let config = ServerConfig { schema, read_shape, ..ServerConfig::default() };
        let app = Self::start(Backend::Postgres, db, statements, url.to_owned(), cleanup, config).await;
        (app, log)
    }

    /// Creates an empty, migrated PostgreSQL database and returns its name.
    pub async fn fresh_postgres_database() -> Option<String> {
        let template = TEMPLATE.get_or_init(create_template).await.clone()?;
        Some(clone_database(&template).await)
    }
}

/// Removes a SQLite database file with its WAL and shared-memory files.
pub fn remove_sqlite(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// A new database cloned from `template`; returns its name.
async fn clone_database(template: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = format!("metrics_test_{}_{n}", std::process::id());
    let admin = Database::connect(admin_url()).await.expect("admin connection");
    {
        // CREATE DATABASE ... TEMPLATE fails while another clone reads the template.
        let _guard = CLONE_LOCK.lock().await;
        admin.execute_unprepared(&format!("CREATE DATABASE {name} TEMPLATE {template}")).await.expect("clone template");
    }
    admin.close().await.ok();
    name
}

impl TestApp {
    async fn start(
        backend: Backend,
        db: DatabaseConnection,
        statements: StatementCounter,
        database_url: String,
        cleanup: Cleanup,
        config: ServerConfig,
    ) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let router = build_router(AppState::with_config(db.clone(), statements.clone(), config));
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(run(listener, router, async {
            let _ = rx.await;
        }));
        TestApp {
            backend,
            db,
            statements,
            url: format!("http://{addr}"),
            client: reqwest::Client::builder().no_proxy().build().expect("client"),
            database_url,
            shutdown: Some(tx),
            cleanup,
        }
    }

    pub fn db_backend(&self) -> DbBackend {
        match self.backend {
            Backend::Sqlite => DbBackend::Sqlite,
            Backend::Postgres => DbBackend::Postgres,
        }
    }

    /// POSTs a GraphQL request and returns the whole JSON response.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        post_graphql(&self.client, &self.url, query, variables).await
    }

    /// Runs a query that must succeed and returns its `data`.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let body = self.gql(query, variables).await;
        assert!(body.get("errors").is_none(), "[{:?}] unexpected errors: {body:#}", self.backend);
        body["data"].clone()
    }

    /// Runs a query that must fail and returns its first error's code and message.
    pub async fn error(&self, query: &str, variables: Value) -> (String, String) {
        let body = self.gql(query, variables).await;
        let err = &body["errors"][0];
        assert!(!err.is_null(), "[{:?}] expected an error: {body:#}", self.backend);
        (
            err["extensions"]["code"].as_str().unwrap_or_default().to_owned(),
            err["message"].as_str().unwrap_or_default().to_owned(),
        )
    }

    /// The `n` column of a one-row query (`SELECT COUNT(*) AS n ...`), straight from the
    /// server's database.
    pub async fn count(&self, sql: &str) -> i64 {
        let stmt = Statement::from_string(self.db_backend(), sql.to_owned());
        let row = self.db.query_one_raw(stmt).await.expect("count query").expect("one row");
        row.try_get("", "n").expect("column n")
    }

    /// The number of rows of `table`.
    pub async fn count_rows(&self, table: &str) -> i64 {
        self.count(&format!("SELECT COUNT(*) AS n FROM {table}")).await
    }

    /// How many SQL statements `f` ran through the server's connection.
    pub async fn count_statements<F: std::future::Future>(&self, f: F) -> (F::Output, u64) {
        let before = self.statements.get();
        let out = f.await;
        (out, self.statements.get() - before)
    }

    /// Stops the server and removes the database.
    pub async fn finish(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.db.clone().close().await.ok();
        match &self.cleanup {
            Cleanup::File(path) => remove_sqlite(path),
            Cleanup::Database(name) => drop_database(name).await,
            Cleanup::Nothing => {}
        }
    }
}

/// POSTs a GraphQL request to the server at `base` and returns the whole JSON response.
pub async fn post_graphql(client: &reqwest::Client, base: &str, query: &str, variables: Value) -> Value {
    let resp = client
        .post(format!("{base}/graphql"))
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap_or_else(|e| panic!("request to {base}: {e:?}"));
    assert!(resp.status().is_success(), "HTTP {}", resp.status());
    resp.json().await.expect("json body")
}

/// A number unique in this test process (file and database names).
pub fn next_id() -> u64 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

pub async fn drop_database(name: &str) {
    if let Ok(admin) = Database::connect(admin_url()).await {
        let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
        admin.close().await.ok();
    }
}

/// Creates this process's migrated template database, after dropping databases left by
/// test processes that no longer run. `None` when PostgreSQL does not answer.
async fn create_template() -> Option<String> {
    let admin = match db::connect(&admin_url(), &PoolSettings::default()).await {
        Ok((admin, _)) => admin,
        Err(e) => {
            if require_postgres() {
                panic!("REQUIRE_POSTGRES=1 but PostgreSQL is not reachable: {e}");
            }
            if !SKIP_NOTICE.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "PostgreSQL suite skipped: {e} (set TEST_DATABASE_URL, or REQUIRE_POSTGRES=1 to fail instead)"
                );
            }
            return None;
        }
    };
    let stale = admin
        .query_all_raw(sea_orm::Statement::from_string(
            DbBackend::Postgres,
            "SELECT datname FROM pg_database WHERE datname LIKE 'metrics_test_%' OR datname LIKE 'metrics_tpl_%'",
        ))
        .await
        .expect("list databases");
    for row in stale {
        let name: String = row.try_get("", "datname").expect("datname");
        let pid = name.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| p != std::process::id() && !std::path::Path::new(&format!("/proc/{p}")).exists()) {
            let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
        }
    }
    let name = format!("metrics_tpl_{}", std::process::id());
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.expect("drop old template");
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create template");
    admin.close().await.ok();
    let tpl = Database::connect(database_url(&name)).await.expect("connect template");
    Migrator::up(&tpl, None).await.expect("migrate template");
    tpl.close().await.ok();
    Some(name)
}

/// The migrated template converted to the partitioned layout.
async fn create_partitioned_template() -> Option<String> {
    let plain = TEMPLATE.get_or_init(create_template).await.clone()?;
    let name = format!("{plain}_partitioned");
    let admin = Database::connect(admin_url()).await.expect("admin connection");
    {
        let _guard = CLONE_LOCK.lock().await;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name} TEMPLATE {plain}"))
            .await
            .expect("clone the template");
    }
    admin.close().await.ok();
    let db = Database::connect(database_url(&name)).await.expect("connect template");
    migration::layout::apply(&db, migration::layout::Layout::Partitioned).await.expect("partition the template");
    db.close().await.ok();
    Some(name)
}

/// Runs an async test body on each backend, each with a fresh database:
/// `both_backends!(name);` for `async fn name(app: &TestApp)`, as `name::sqlite`,
/// `name::postgres` and `name::postgres_partitioned` (the partitioned layout).
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let app = $crate::common::TestApp::sqlite().await;
                    super::$name(&app).await;
                    app.finish().await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = $crate::common::TestApp::postgres().await {
                        super::$name(&app).await;
                        app.finish().await;
                    }
                }

                /// The same on the partitioned layout (`migrate --partitioned`).
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_partitioned() {
                    if let Some(app) = $crate::common::TestApp::postgres_partitioned().await {
                        super::$name(&app).await;
                        app.finish().await;
                    }
                }
            }
        )*
    };
}

/// Runs `async fn name(backend: Backend)` once per backend, for tests that build their own
/// servers: `each_backend!(name);` makes `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! each_backend {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::common::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::common::Backend::Postgres).await;
                }
            }
        )*
    };
}
