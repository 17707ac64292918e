//! `GET` and `POST /graphql`: turn an HTTP request into a GraphQL batch (or an answer
//! that never reaches the schema: GraphiQL, a malformed body, a mutation over GET), and a
//! GraphQL response into HTTP with the content type the client accepts.

use async_graphql::BatchResponse;
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
    // A persisted query's hash (`extensions`) stands in for the query text.
    if req.0.iter().all(|r| r.query.is_empty() && r.extensions.is_empty()) {
        return (StatusCode::BAD_REQUEST, "missing `query` parameter").into_response();
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
    match req {
        Ok(req) => pipeline::execute(&state, &headers, req.0, Method::POST).await,
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

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

/// A GraphQL error response with one error, outside execution (auth, limits, timeout).
pub(super) fn error_response(headers: &HeaderMap, status: StatusCode, error: async_graphql::ServerError) -> Response {
    let mut resp = async_graphql::Response::from_errors(vec![error]);
    resp.data = async_graphql::Value::Null;
    let mut r = respond(headers, BatchResponse::Single(resp));
    if status != StatusCode::OK {
        *r.status_mut() = status;
    }
    r
}

/// Serialises a response with the content type the client accepts. With
/// `application/graphql-response+json`, a request that failed before execution (no
/// `data`) is a 400, per GraphQL over HTTP; with `application/json` it is always a 200.
pub(super) fn respond(headers: &HeaderMap, response: BatchResponse) -> Response {
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
