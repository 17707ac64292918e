//! The HTTP layer: the axum router, GraphiQL, health checks and graceful shutdown.
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
use axum::response::{Html, IntoResponse, Response};
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
use std::sync::Arc;
use tower_http::cors::{AllowOrigin, CorsLayer};

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
    /// The GraphiQL page, with its example query, rendered once at start.
    pub graphiql: String,
}

impl AppState {
    pub fn new(db: DatabaseConnection, statements: StatementCounter) -> Self {
        Self::with_config(db, statements, ServerConfig::default())
    }

    pub fn with_config(db: DatabaseConnection, statements: StatementCounter, config: ServerConfig) -> Self {
        AppState {
            schema: build_schema(db.clone(), &config),
            config,
            db,
            statements,
            graphiql: graphiql_page(&crate::demo::example_query(chrono::Utc::now())),
        }
    }
}

/// The router, without a listener: tests and the binary serve the same one.
pub fn build_router(state: AppState) -> Router {
    let body_limit = RequestBodyLimitLayer::new(state.config.max_body_bytes);
    let cors = cors_layer(&state.config.cors_origins);
    let router = Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post).layer(body_limit))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state);
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
        Ok(r) if wants_html && r.0.iter().all(|q| q.query.is_empty()) => {
            return Html(state.graphiql.clone()).into_response();
        }
        Err(_) if wants_html => return Html(state.graphiql.clone()).into_response(),
        Ok(r) => r,
        Err(rejection) => return rejection.into_response(),
    };
    if req.0.iter().all(|r| r.query.is_empty()) {
        return (StatusCode::BAD_REQUEST, "missing `query` parameter").into_response();
    }
    if req.0.iter().any(|r| is_mutation(&r.query)) {
        // GraphQL over HTTP: GET must not change state (caches and prefetchers replay it).
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST")], "mutations must use POST").into_response();
    }
    execute(&state, &headers, req.0).await
}

async fn graphql_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    req: Result<GraphQLBatchRequest, async_graphql_axum::rejection::GraphQLRejection>,
) -> Response {
    match req {
        Ok(req) => execute(&state, &headers, req.0).await,
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

/// Authenticates, checks the limits that need no execution, then executes within the
/// request timeout.
async fn execute(state: &AppState, headers: &HeaderMap, batch: BatchRequest) -> Response {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let who = match authenticate(state.config.auth.as_deref(), authorization) {
        Ok(p) => p,
        Err(e) => {
            let mut r = error_response(headers, StatusCode::UNAUTHORIZED, coded(e.to_string(), "UNAUTHENTICATED"));
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
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
            return error_response(headers, StatusCode::OK, e);
        }
    }
    for r in batch.iter() {
        if let Err(e) = limits::check_document(&r.query, &limits) {
            return error_response(headers, StatusCode::OK, e);
        }
    }
    let queries: Vec<String> = batch.iter().map(|r| r.query.clone()).collect();
    let run = crate::graphql::execute(&state.schema, &state.db, batch, &who);
    match tokio::time::timeout(limits.timeout, run).await {
        Ok(mut response) => {
            let responses: Vec<&mut async_graphql::Response> = match &mut response {
                BatchResponse::Single(r) => vec![r],
                BatchResponse::Batch(rs) => rs.iter_mut().collect(),
            };
            for (r, query) in responses.into_iter().zip(queries.iter()) {
                limits::name_limit_errors(&mut r.errors, &limits);
                crate::graphql::codes::assign(&mut r.errors, query);
            }
            respond(headers, response)
        }
        Err(_) => {
            // Dropping the execution drops its queries: sqlx closes a connection whose
            // query was cut off instead of returning it to the pool mid-statement.
            tracing::warn!(timeout_ms = limits.timeout.as_millis() as u64, "request timed out");
            let message =
                format!("the request took longer than the limit of {} ms; narrow it", limits.timeout.as_millis());
            error_response(headers, StatusCode::OK, coded(message, "TIMEOUT"))
        }
    }
}

/// Whether a query document holds a mutation operation.
fn is_mutation(query: &str) -> bool {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    let Ok(doc) = async_graphql::parser::parse_query(query) else { return false };
    match doc.operations {
        DocumentOperations::Single(op) => op.node.ty == OperationType::Mutation,
        DocumentOperations::Multiple(ops) => ops.values().any(|op| op.node.ty == OperationType::Mutation),
    }
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

/// GraphiQL, opened on a ready example dashboard query.
fn graphiql_page(example: &str) -> String {
    let page = async_graphql::http::GraphiQLSource::build().endpoint("/graphql").title("metrics-api GraphiQL").finish();
    let default_query = serde_json::to_string(example).unwrap_or_else(|_| "\"\"".into());
    page.replacen(
        "defaultEditorToolsVisibility: true,",
        &format!("defaultEditorToolsVisibility: true,\n          defaultQuery: {default_query},"),
        1,
    )
}
