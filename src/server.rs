//! The HTTP layer: the axum router, health checks and graceful shutdown (the browser
//! pages and their assets are [`crate::web`]'s).
//!
//! `POST /graphql` executes JSON requests (single or batched); `GET /graphql` serves
//! GraphiQL to browsers (`Accept: text/html`) and executes the query string otherwise
//! (GraphQL over HTTP). Responses are `application/graphql-response+json` when the client
//! accepts it, else `application/json`.

use std::future::Future;

use async_graphql::{BatchRequest, BatchResponse};
use async_graphql_axum::GraphQLBatchRequest;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use migration::MigratorTrait;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;

use tower_http::limit::RequestBodyLimitLayer;

use crate::auth::{authenticate, AuthConfig};
use crate::catalog::Catalog;
use crate::db::StatementCounter;
use crate::graphql::limits::{self, QueryLimits};
use crate::graphql::{build_schema, AppSchema};
use crate::ingest::BatchLimits;
use crate::retention::Policy;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tracing::Instrument;

/// Settings of the HTTP, write and retention-aware read layers.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Rows per mutation call.
    pub batch_limits: BatchLimits,
    /// Largest request body accepted on `/graphql`; larger ones get 413.
    pub max_body_bytes: usize,
    /// The metric catalog served as `metricCatalog`.
    pub catalog: Arc<Catalog>,
    /// The retention policy, so reads can tell where full resolution starts.
    pub policy: Policy,
    /// Token checks; `None`: auth is off.
    pub auth: Option<Arc<AuthConfig>>,
    /// Depth, complexity, aliases, batch size, timeout, introspection.
    pub query_limits: QueryLimits,
    /// Origins browsers may call from (CORS); none by default.
    pub cors_origins: Vec<String>,
    /// `max-age` of cacheable query answers, in seconds (0: `no-store`).
    pub cache_max_age: u64,
    /// Entries of the automatic persisted query cache.
    pub apq_capacity: usize,
    /// Serve the dashboard at `/` (`serve --no-dashboard` turns it off).
    pub dashboard: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            batch_limits: BatchLimits::default(),
            max_body_bytes: 16 * 1024 * 1024,
            catalog: Arc::new(Catalog::default()),
            policy: Policy::default(),
            auth: None,
            query_limits: QueryLimits::default(),
            cors_origins: Vec::new(),
            cache_max_age: 60,
            apq_capacity: 4096,
            dashboard: true,
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
}

impl AppState {
    pub fn new(db: DatabaseConnection, statements: StatementCounter) -> Self {
        Self::with_config(db, statements, ServerConfig::default())
    }

    pub fn with_config(db: DatabaseConnection, statements: StatementCounter, config: ServerConfig) -> Self {
        AppState { schema: build_schema(db.clone(), &config), config, db, statements }
    }
}

/// The router, without a listener: tests and the binary serve the same one.
pub fn build_router(state: AppState) -> Router {
    // Install the metrics recorder before anything records.
    crate::observe::prometheus();
    let body_limit = RequestBodyLimitLayer::new(state.config.max_body_bytes);
    let cors = cors_layer(&state.config.cors_origins);
    let router = Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post).layer(body_limit))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_endpoint))
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

fn accepts(headers: &HeaderMap, mime: &str) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|part| part.trim().starts_with(mime)))
}

async fn graphql_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    req: Result<GraphQLBatchRequest, async_graphql_axum::rejection::GraphQLRejection>,
) -> Response {
    let wants_html = accepts(&headers, "text/html");
    let req = match req {
        // The IDE page itself carries no data: it is served without a token.
        Ok(r) if wants_html && r.0.iter().all(|q| q.query.is_empty() && q.extensions.is_empty()) => {
            return crate::web::graphiql::page(chrono::Utc::now());
        }
        Err(_) if wants_html => return crate::web::graphiql::page(chrono::Utc::now()),
        Ok(r) => r,
        Err(rejection) => return rejection.into_response(),
    };
    // A persisted query's hash (`extensions`) stands in for the query text.
    if req.0.iter().all(|r| r.query.is_empty() && r.extensions.is_empty()) {
        return (StatusCode::BAD_REQUEST, "missing `query` parameter").into_response();
    }
    if req.0.iter().any(|r| is_mutation(&r.query)) {
        // GraphQL over HTTP: GET must not change state (caches and prefetchers replay it).
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST")], "mutations must use POST").into_response();
    }
    execute(&state, &headers, req.0, Method::GET).await
}

async fn graphql_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    req: Result<GraphQLBatchRequest, async_graphql_axum::rejection::GraphQLRejection>,
) -> Response {
    match req {
        Ok(req) => execute(&state, &headers, req.0, Method::POST).await,
        Err(rejection) => {
            // Not a GraphQL request at all (bad JSON, bad UTF-8, a body cut off at the size
            // limit): still a GraphQL-shaped answer, with a code.
            let too_big = rejection.0.to_string().contains("length limit");
            let (status, code) = if too_big {
                (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE")
            } else {
                (StatusCode::BAD_REQUEST, "BAD_REQUEST")
            };
            let message = format!("invalid GraphQL request body: {}", first_line(&rejection.0.to_string()));
            error_response(&headers, status, coded(message, code))
        }
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

/// A GraphQL error response with one error, outside execution (auth, limits, timeout).
fn error_response(headers: &HeaderMap, status: StatusCode, error: async_graphql::ServerError) -> Response {
    let mut resp = async_graphql::Response::from_errors(vec![error]);
    resp.data = async_graphql::Value::Null;
    let mut r = respond(headers, BatchResponse::Single(resp));
    if status != StatusCode::OK {
        *r.status_mut() = status;
    }
    r
}

fn coded(message: String, code: &'static str) -> async_graphql::ServerError {
    use async_graphql::ErrorExtensions;
    let e = async_graphql::Error::new(message).extend_with(|_, ext| ext.set("code", code));
    e.into_server_error(async_graphql::Pos::default())
}

/// Executes a GraphQL request: authentication, limits, execution within the timeout,
/// then error codes, request id, metrics, and cache headers on the way out. Every
/// statement the request runs is counted (see [`crate::observe`]).
async fn execute(state: &AppState, headers: &HeaderMap, mut batch: BatchRequest, method: Method) -> Response {
    let request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned();
    // Parse each query once: the request keeps the document for the executor, and the
    // operation name and the mutation check read it here. The document limits are checked
    // by `limits::DocumentLimits` as the executor takes the document.
    let (mut mutation, mut name) = (false, None);
    for r in batch.iter_mut() {
        if method == Method::GET {
            r.data.insert(limits::ReadOnlyRequest);
        }
        let given = r.operation_name.clone();
        if let Ok(doc) = r.parsed_query() {
            mutation |= doc_is_mutation(doc);
            if name.is_none() {
                name = given.or_else(|| doc_operation_name(doc));
            }
        }
    }
    let operation = crate::observe::operation_label(name.as_deref());
    let span = tracing::info_span!(
        "graphql",
        request_id = %request_id,
        operation = %operation,
        statements = tracing::field::Empty,
        duration_ms = tracing::field::Empty,
        outcome = tracing::field::Empty,
    );
    let started = std::time::Instant::now();
    let statements = Arc::new(AtomicU64::new(0));
    let outcome = crate::observe::REQUEST_STATEMENTS
        .scope(statements.clone(), execute_checked(state, headers, batch).instrument(span.clone()))
        .await;
    let n = statements.load(Ordering::Relaxed);
    let (mut resp, label) = match outcome {
        Ok(mut response) => {
            let ok = match &mut response {
                BatchResponse::Single(r) => {
                    tag_request_id(&mut r.errors, &request_id);
                    r.is_ok()
                }
                BatchResponse::Batch(rs) => {
                    rs.iter_mut().for_each(|r| tag_request_id(&mut r.errors, &request_id));
                    rs.iter().all(|r| r.is_ok())
                }
            };
            // Batches are not cached: their parts may differ in freshness.
            let hint = match &response {
                BatchResponse::Single(r) => r.cache_control.max_age,
                BatchResponse::Batch(_) => -1,
            };
            let mut resp = respond(headers, response);
            let cacheable = ok && !mutation && hint != -1;
            set_cache_headers(&mut resp, &state.config, cacheable, hint);
            if cacheable && method == Method::GET {
                resp = with_etag(headers, resp).await;
            }
            (resp, if ok { "ok" } else { "error" })
        }
        Err(resp) => (resp, "refused"),
    };
    if label != "ok" {
        resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    let elapsed = started.elapsed();
    span.record("statements", n);
    span.record("duration_ms", elapsed.as_secs_f64() * 1000.0);
    span.record("outcome", label);
    span.in_scope(|| tracing::info!(status = resp.status().as_u16(), "request served"));
    crate::observe::record_request(&operation, label, elapsed.as_secs_f64(), n);
    resp
}

/// Authenticates, refuses a batch over its size limit, then executes within the request
/// timeout. `Err` is an answer given without executing.
async fn execute_checked(
    state: &AppState,
    headers: &HeaderMap,
    batch: BatchRequest,
) -> Result<BatchResponse, Response> {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let who = match authenticate(state.config.auth.as_deref(), authorization) {
        Ok(p) => p,
        Err(e) => {
            let mut r = error_response(headers, StatusCode::UNAUTHORIZED, coded(e.to_string(), "UNAUTHENTICATED"));
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return Err(r);
        }
    };
    let limits = state.config.query_limits;
    if let BatchRequest::Batch(rs) = &batch {
        if rs.len() > limits.max_batch {
            let e = limits::exceeded(
                "max_batch",
                limits.max_batch,
                format!("the batch holds {} requests; the limit (max_batch) is {}", rs.len(), limits.max_batch),
            );
            return Err(error_response(headers, StatusCode::OK, e));
        }
    }
    let queries: Vec<String> = batch.iter().map(|r| r.query.clone()).collect();
    let exec = crate::graphql::execute(&state.schema, &state.db, batch, &who);
    match tokio::time::timeout(limits.timeout, exec).await {
        Ok(mut response) => {
            let responses: Vec<&mut async_graphql::Response> = match &mut response {
                BatchResponse::Single(r) => vec![r],
                BatchResponse::Batch(rs) => rs.iter_mut().collect(),
            };
            for (r, query) in responses.into_iter().zip(queries.iter()) {
                limits::name_limit_errors(&mut r.errors, &limits);
                crate::graphql::codes::assign(&mut r.errors, query);
            }
            Ok(response)
        }
        Err(_) => {
            // Dropping the execution drops its queries: sqlx closes a connection whose
            // query was cut off instead of returning it to the pool mid-statement.
            tracing::warn!(timeout_ms = limits.timeout.as_millis() as u64, "request timed out");
            let message =
                format!("the request took longer than the limit of {} ms; narrow it", limits.timeout.as_millis());
            Err(error_response(headers, StatusCode::OK, coded(message, "TIMEOUT")))
        }
    }
}

/// Puts the request id on every error, so a client's report can be found in the logs.
fn tag_request_id(errors: &mut [async_graphql::ServerError], request_id: &str) {
    for e in errors {
        e.extensions.get_or_insert_with(Default::default).set("requestId", request_id);
    }
}

/// `Cache-Control` of a query answer: metrics are recomputed on a schedule, so answers
/// may be cached for the configured max-age, or less when a field's cache hint says so
/// (`hint`: async-graphql's merged hint, 0 none, -1 no-cache);
/// `private` when auth is on, since answers depend on the token. Everything else:
/// `no-store`.
fn set_cache_headers(resp: &mut Response, config: &ServerConfig, cacheable: bool, hint: i32) {
    let value = if cacheable && config.cache_max_age > 0 {
        let max_age = if hint > 0 { config.cache_max_age.min(hint as u64) } else { config.cache_max_age };
        let scope = if config.auth.is_some() { "private" } else { "public" };
        format!("{scope}, max-age={max_age}")
    } else {
        "no-store".to_owned()
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    resp.headers_mut().insert(header::VARY, HeaderValue::from_static("authorization, accept, accept-encoding"));
}

/// A weak `ETag` from the body, and `304 Not Modified` when the client's `If-None-Match`
/// already names it.
async fn with_etag(headers: &HeaderMap, resp: Response) -> Response {
    use std::hash::{Hash, Hasher};
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    let etag = format!("W/\"{:016x}-{:x}\"", h.finish(), bytes.len());
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        parts.headers.insert(header::ETAG, v);
    }
    if matches {
        parts.status = StatusCode::NOT_MODIFIED;
        parts.headers.remove(header::CONTENT_TYPE);
        return Response::from_parts(parts, axum::body::Body::empty());
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// `GET /metrics`: Prometheus text, with the pool gauges read at scrape time.
async fn metrics_endpoint(State(state): State<AppState>) -> Response {
    let (size, idle) = match state.db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            let pool = state.db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
        _ => {
            let pool = state.db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
    };
    metrics::gauge!("metrics_api_db_pool_connections", "state" => "in_use")
        .set(size.saturating_sub(idle as u32) as f64);
    metrics::gauge!("metrics_api_db_pool_connections", "state" => "idle").set(idle as f64);
    match crate::observe::prometheus() {
        Some(h) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], h.render()).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "metrics recorder unavailable").into_response(),
    }
}

/// The name of a document's only operation.
fn doc_operation_name(doc: &async_graphql::parser::types::ExecutableDocument) -> Option<String> {
    use async_graphql::parser::types::DocumentOperations;
    match &doc.operations {
        // A named operation is kept under its name, even alone.
        DocumentOperations::Multiple(ops) if ops.len() == 1 => ops.keys().next().map(|n| n.to_string()),
        _ => None,
    }
}

fn doc_is_mutation(doc: &async_graphql::parser::types::ExecutableDocument) -> bool {
    use async_graphql::parser::types::OperationType;
    doc.operations.iter().any(|(_, op)| op.node.ty == OperationType::Mutation)
}

/// Whether a query text holds a mutation operation.
fn is_mutation(query: &str) -> bool {
    async_graphql::parser::parse_query(query).is_ok_and(|doc| doc_is_mutation(&doc))
}

/// Serialises a response with the content type the client accepts. With
/// `application/graphql-response+json`, a request that failed before execution (no
/// `data`) is a 400, per GraphQL over HTTP; with `application/json` it is always a 200.
fn respond(headers: &HeaderMap, response: BatchResponse) -> Response {
    let graphql_json = accepts(headers, "application/graphql-response+json");
    let failed_before_execution = match &response {
        BatchResponse::Single(r) => r.is_err() && r.data == async_graphql::Value::Null,
        BatchResponse::Batch(_) => false,
    };
    let body = match serde_json::to_vec(&response) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise a response");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let (status, content_type) = if graphql_json {
        let status = if failed_before_execution { StatusCode::BAD_REQUEST } else { StatusCode::OK };
        (status, "application/graphql-response+json")
    } else {
        (StatusCode::OK, "application/json")
    };
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// Liveness: the process is up and serving HTTP.
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers and every migration is applied.
async fn readyz(State(state): State<AppState>) -> Response {
    let check = async {
        state.db.ping().await?;
        migration::Migrator::get_pending_migrations(&state.db).await
    };
    match check.await {
        Ok(pending) if pending.is_empty() => {
            (StatusCode::OK, Json(serde_json::json!({"status": "ready"}))).into_response()
        }
        Ok(pending) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "pending_migrations", "pending": pending.len()})),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({"status": "database_unavailable"})))
                .into_response()
        }
    }
}
