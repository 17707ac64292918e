//! `GET` and `POST /graphql`: turn an HTTP request into a GraphQL batch (or an answer
//! that never reaches the schema: GraphiQL, a malformed body, a missing `query`, a
//! mutation over GET), and a GraphQL response into HTTP with the content type the client
//! accepts. `GET /schema.graphql`: the SDL the server serves.
//!
//! Request errors (nothing was executed) carry the request id like every other error,
//! have no `locations`, and their response has no `data` entry (GraphQL spec 7.1.2: "If an
//! error was raised before execution begins, the data entry should not be present").

use async_graphql::{BatchRequest, BatchResponse};
use async_graphql_axum::rejection::GraphQLRejection;
use async_graphql_axum::GraphQLBatchRequest;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::pipeline::{self, is_mutation};
use super::AppState;
use crate::error::{upstream, ErrorCode};

pub(super) fn accepts(headers: &HeaderMap, mime: &str) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|part| part.trim().starts_with(mime)))
}

pub async fn graphql_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    req: Result<GraphQLBatchRequest, GraphQLRejection>,
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
    if let Some(refusal) = missing_query(&headers, &req.0) {
        return refusal;
    }
    if req.0.iter().any(|r| is_mutation(&r.query)) {
        // GraphQL over HTTP: GET must not change state (caches and prefetchers replay it).
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST")], "mutations must use POST").into_response();
    }
    pipeline::execute(&state, &headers, req.0, Method::GET).await
}

pub async fn graphql_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    req: Result<GraphQLBatchRequest, GraphQLRejection>,
) -> Response {
    if !is_json(&headers) {
        // GraphQL over HTTP: the body is JSON and says so. Refusing `text/plain` also
        // keeps a cross-site form or "simple" CORS request from reaching the schema.
        let e = ErrorCode::BadRequest
            .server_error("the request body must be JSON sent with `Content-Type: application/json`");
        return error_response(&headers, StatusCode::UNSUPPORTED_MEDIA_TYPE, e);
    }
    match req {
        Ok(req) => match missing_query(&headers, &req.0) {
            Some(refusal) => refusal,
            None => pipeline::execute(&state, &headers, req.0, Method::POST).await,
        },
        Err(rejection) => {
            // Not a GraphQL request at all (bad JSON, bad UTF-8, a body cut off at the size
            // limit): still a GraphQL-shaped answer, with a code.
            let text = rejection.0.to_string();
            let (status, code) = if upstream::is_body_too_large(&text) {
                (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge)
            } else {
                (StatusCode::BAD_REQUEST, ErrorCode::BadRequest)
            };
            let message = format!("invalid GraphQL request body: {}", first_line(&text));
            error_response(&headers, status, code.server_error(message))
        }
    }
}

/// Whether the request's `Content-Type` is `application/json` (any parameters).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(v) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

/// A `400` when a request of the batch has neither a `query` nor a persisted query's
/// hash: a client that misspells the key (`"quer"`) hears so, instead of a parse error
/// about an empty document.
fn missing_query(headers: &HeaderMap, batch: &BatchRequest) -> Option<Response> {
    let missing = batch.iter().any(|r| r.query.trim().is_empty() && !r.extensions.contains_key("persistedQuery"));
    missing.then(|| {
        let e = ErrorCode::BadRequest.server_error(
            "the request has no `query`: send the GraphQL document as `query` (or a persisted query's hash in `extensions.persistedQuery`)",
        );
        error_response(headers, StatusCode::BAD_REQUEST, e)
    })
}

/// `GET /schema.graphql`: the SDL this server serves (the committed `schema.graphql`),
/// for codegen and schema registries. Not served when introspection is off: the SDL
/// would tell what introspection was turned off to hide.
pub async fn schema_sdl(State(state): State<AppState>) -> Response {
    static SDL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if !state.config.schema.query_limits.introspection {
        return (StatusCode::NOT_FOUND, "introspection is off").into_response();
    }
    let sdl = SDL.get_or_init(crate::graphql::sdl).clone();
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], sdl).into_response()
}

/// The request id the request-id layer put on the request (the client's, or a new one).
pub(super) fn request_id(headers: &HeaderMap) -> &str {
    headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-")
}

/// A GraphQL error response with one error, outside execution (auth, limits, timeout, a
/// malformed request): the request id on it, no `data`.
pub(super) fn error_response(
    headers: &HeaderMap,
    status: StatusCode,
    mut error: async_graphql::ServerError,
) -> Response {
    error.extensions.get_or_insert_with(Default::default).set("requestId", request_id(headers));
    let resp = async_graphql::Response::from_errors(vec![error]);
    let mut r = respond(headers, BatchResponse::Single(resp));
    if status != StatusCode::OK {
        *r.status_mut() = status;
    }
    r
}

/// Whether a response is a request error: nothing was executed (no `data`, and no error
/// at a field path; a null propagated up to `data` leaves its error's path).
fn is_request_error(r: &async_graphql::Response) -> bool {
    r.is_err() && r.data == async_graphql::Value::Null && r.errors.iter().all(|e| e.path.is_empty())
}

/// A response as it goes on the wire: async-graphql's field order (`data`, `extensions`,
/// `errors`), without `data` when it is a request error.
#[derive(serde::Serialize)]
struct Wire<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a async_graphql::Value>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    extensions: &'a std::collections::BTreeMap<String, async_graphql::Value>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [async_graphql::ServerError],
}

impl<'a> Wire<'a> {
    fn of(r: &'a async_graphql::Response) -> Self {
        Wire { data: (!is_request_error(r)).then_some(&r.data), extensions: &r.extensions, errors: &r.errors }
    }
}

/// Serialises a response with the content type the client accepts. With
/// `application/graphql-response+json`, a request that failed before execution (no
/// `data`) is a 400, per GraphQL over HTTP; with `application/json` it is always a 200.
pub(super) fn respond(headers: &HeaderMap, response: BatchResponse) -> Response {
    let graphql_json = accepts(headers, "application/graphql-response+json");
    let failed_before_execution = match &response {
        BatchResponse::Single(r) => is_request_error(r),
        BatchResponse::Batch(_) => false,
    };
    let body = match &response {
        BatchResponse::Single(r) => serde_json::to_vec(&Wire::of(r)),
        BatchResponse::Batch(rs) => serde_json::to_vec(&rs.iter().map(Wire::of).collect::<Vec<_>>()),
    };
    let body = match body {
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
