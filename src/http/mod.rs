//! The HTTP layer: a thin shell around the GraphQL schema.
//!
//! - this file: the settings of the HTTP layer, the shared state, the router (routes,
//!   body limit, CORS, request ids, compression), `run` and graceful shutdown;
//! - [`handlers`]: `GET`/`POST /graphql` and content negotiation, `GET /schema.graphql`;
//! - [`pipeline`]: one request's steps (authenticate, check the batch, execute within
//!   the timeout, tag errors, cache headers, log and count);
//! - [`cache`]: `Cache-Control`, `ETag` and `304`;
//! - [`live`]: the WebSocket upgrade of `GET /graphql` (subscriptions);
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`.
//!
//! The browser pages (the dashboard at `/`, GraphiQL, their assets) are
//! [`crate::web`]'s: the router merges its routes.
//!
//! The schema's own settings (limits, catalog, write limits) live in
//! [`crate::graphql::SchemaConfig`]; this layer only adds what HTTP needs.

pub mod cache;
pub mod handlers;
pub mod live;
pub mod ops;
pub mod pipeline;

use std::future::Future;
use std::sync::Arc;

use axum::http::{header, HeaderValue, Method};
use axum::routing::get;
use axum::Router;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::auth::AuthConfig;
use crate::db::StatementCounter;
use crate::graphql::documents::Documents;
use crate::graphql::{build_schema, AppSchema, SchemaConfig};
use crate::live::{Hub, LiveLimits};
use crate::replicas::Replicas;

/// Settings of the HTTP layer, around the schema's own.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// What the schema needs: query limits, write limits, catalog, retention policy.
    pub schema: SchemaConfig,
    /// Largest request body accepted on `/graphql`; larger ones get 413. It bounds the
    /// memory a single mutation can take.
    pub max_body_bytes: usize,
    /// Token checks; `None`: auth is off.
    pub auth: Option<Arc<AuthConfig>>,
    /// Origins browsers may call from (CORS); none by default.
    pub cors_origins: Vec<String>,
    /// `max-age` of cacheable query answers, in seconds (0: `no-store`).
    pub cache_max_age: u64,
    /// Subscriptions: connections, subscriptions per connection, buffers, keep-alives.
    pub live: LiveLimits,
    /// Serve the dashboard at `/` (`serve --no-dashboard` turns it off).
    pub dashboard: bool,
    /// The statement shape of batched per-project reads: `serve` picks it from the
    /// database's layout ([`crate::store::ReadShape::detect`]); branches by default.
    pub read_shape: crate::store::ReadShape,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            schema: SchemaConfig::default(),
            max_body_bytes: 16 * 1024 * 1024,
            auth: None,
            cors_origins: Vec::new(),
            cache_max_age: 60,
            live: LiveLimits::default(),
            dashboard: true,
            read_shape: crate::store::ReadShape::Branches,
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub config: ServerConfig,
    pub db: DatabaseConnection,
    /// Counts SQL statements (tests assert batching with it).
    pub statements: StatementCounter,
    /// Parsed documents and persisted queries of this instance.
    pub documents: Arc<Documents>,
    /// This instance's live updates (subscriptions).
    pub live: Hub,
    /// Read replicas (none by default: every read uses `db`, the primary).
    pub replicas: Replicas,
}

impl AppState {
    pub fn new(db: DatabaseConnection, statements: StatementCounter) -> Self {
        Self::with_config(db, statements, ServerConfig::default())
    }

    pub fn with_config(db: DatabaseConnection, statements: StatementCounter, config: ServerConfig) -> Self {
        let documents = Arc::new(Documents::new(config.schema.apq_capacity));
        let live = Hub::start(&db, config.live);
        AppState {
            schema: build_schema(db.clone(), &config.schema),
            config,
            db,
            statements,
            documents,
            live,
            replicas: Replicas::default(),
        }
    }

    /// Read-only requests read from `replicas` (see [`crate::replicas`]).
    pub fn with_replicas(self, replicas: Replicas) -> Self {
        AppState { replicas, ..self }
    }
}

/// The router, without a listener: tests and the binary serve the same one.
pub fn build_router(state: AppState) -> Router {
    // Install the metrics recorder before anything records.
    crate::observe::prometheus();
    let body_limit = RequestBodyLimitLayer::new(state.config.max_body_bytes);
    let cors = cors_layer(&state.config.cors_origins);
    let router = Router::new()
        .route("/graphql", get(live::graphql_get).post(handlers::graphql_post).layer(body_limit))
        .route("/schema.graphql", get(handlers::schema_sdl))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .merge(crate::web::routes(state.config.dashboard))
        .with_state(state)
        // Request ids: kept from the client's `x-request-id`, else a new UUID; echoed back.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        // Fastest levels: metric JSON compresses well at any level, and on a dashboard's
        // critical path the CPU time matters more than the last bytes.
        .layer(CompressionLayer::new().gzip(true).br(true).quality(CompressionLevel::Fastest));
    match cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// CORS for the configured origins (none: no CORS headers, browsers on other origins are
/// refused by their own policy).
fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let list: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(list))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, header::ACCEPT])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets in-flight requests
/// finish.
pub async fn run(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received, draining requests");
}
