//! One GraphQL request through the HTTP layer, as a short sequence of named steps:
//!
//! 1. [`Operation::prepare`]: resolve persisted queries and give each request its parsed
//!    document (the executor reuses it), learn the operation's name and whether it
//!    mutates, check the document limits;
//! 2. [`authenticate`]: the bearer token, when auth is on;
//! 3. [`check_batch`]: the batch size limit;
//! 4. [`run_within_timeout`]: execute with per-request loaders, then name limit errors
//!    and give every error a code; then shape each response by its document
//!    (`graphql::shape`: request order, null propagation, bad input said one way);
//! 5. [`answer`]: request ids on errors, cache headers and ETag;
//! 6. log and count (statements, duration, outcome).
//!
//! Every step before execution answers on its own (`Err(Response)`) without running SQL.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{BatchRequest, BatchResponse, ServerError};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use sea_orm::DatabaseConnection;
use tracing::Instrument;

use super::cache::{set_cache_headers, with_etag};
use super::handlers::{error_response, respond};
use super::AppState;
use crate::auth::{authenticate as check_token, Principal};
use crate::error::ErrorCode;
use crate::graphql::limits;
use crate::graphql::shape::{shape_response, Executed};

/// What the HTTP layer reads of a request's documents before executing them.
struct Operation {
    /// Whether any operation of the batch is a mutation (never cached).
    mutation: bool,
    /// The label for logs and metrics.
    label: String,
    /// Per request of the batch: its answer when it was refused before execution (an
    /// unknown persisted query, a document over a limit, a mutation over `GET`).
    refused: Vec<Option<ServerError>>,
    /// Per request of the batch: its document and variables, to shape its response by
    /// after execution (`graphql::shape`); `None` for a text that does not parse.
    executed: Vec<Option<Executed>>,
}

impl Operation {
    /// Gives each request its parsed document (persisted queries resolved, parsed once
    /// per distinct text, see `graphql::documents`), then reads the operation's name,
    /// whether it mutates, and checks the document limits (tokens before parsing, the
    /// rest on the document). A `GET` must not run a mutation, even one reached through a
    /// persisted query's hash.
    fn prepare(state: &AppState, batch: &mut BatchRequest, method: &Method) -> Self {
        let limits = state.config.schema.query_limits;
        let (mut mutation, mut name, mut refused, mut executed) = (false, None, Vec::new(), Vec::new());
        for r in batch.iter_mut() {
            let given = r.operation_name.clone();
            let prepared = limits::check_tokens(&r.query, &limits).and_then(|()| state.documents.prepare(r));
            executed.push(prepared.as_ref().ok().and_then(Option::clone).map(|document| Executed {
                document,
                variables: r.variables.clone(),
                operation_name: r.operation_name.clone(),
            }));
            let checked = prepared.and_then(|_| match r.parsed_query() {
                Ok(doc) => {
                    let mutates = doc_is_mutation(doc);
                    mutation |= mutates;
                    if name.is_none() {
                        name = given.or_else(|| doc_operation_name(doc));
                    }
                    limits::check_document(doc, &limits)?;
                    if mutates && method == Method::GET {
                        return Err(ErrorCode::BadRequest.server_error("mutations must use POST"));
                    }
                    Ok(())
                }
                // Not a document: the executor reports the syntax error.
                Err(_) => Ok(()),
            });
            refused.push(checked.err());
        }
        Operation { mutation, label: crate::observe::operation_label(name.as_deref()), refused, executed }
    }
}

/// Executes a GraphQL request: the steps of the module doc. Every statement the request
/// runs is counted (see [`crate::observe`]).
pub async fn execute(state: &AppState, headers: &HeaderMap, mut batch: BatchRequest, method: Method) -> Response {
    let request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned();
    let started = std::time::Instant::now();
    let mut operation = Operation::prepare(state, &mut batch, &method);
    let span = tracing::info_span!(
        "graphql",
        request_id = %request_id,
        operation = %operation.label,
        statements = tracing::field::Empty,
        duration_ms = tracing::field::Empty,
        outcome = tracing::field::Empty,
    );
    let statements = Arc::new(AtomicU64::new(0));
    let outcome = crate::observe::REQUEST_STATEMENTS
        .scope(
            statements.clone(),
            checked(state, headers, batch, operation.mutation, &mut operation.refused, started)
                .instrument(span.clone()),
        )
        .await;
    let outcome = outcome.map(|mut response| {
        // Request order, null propagation, wire forms, bad input said one way.
        for (r, executed) in responses_mut(&mut response).into_iter().zip(&operation.executed) {
            if let Some(executed) = executed {
                shape_response(r, executed);
            }
        }
        response
    });
    let (resp, outcome) = answer(state, headers, outcome, &request_id, &operation, &method).await;
    let n = statements.load(Ordering::Relaxed);
    let elapsed = started.elapsed();
    span.record("statements", n);
    span.record("duration_ms", elapsed.as_secs_f64() * 1000.0);
    span.record("outcome", outcome);
    span.in_scope(|| tracing::info!(status = resp.status().as_u16(), "request served"));
    crate::observe::record_request(&operation.label, outcome, elapsed.as_secs_f64(), n);
    resp
}

/// A refusal before or instead of execution: the HTTP status and the one error.
struct Refusal {
    status: StatusCode,
    /// Boxed: refusals are rare, and a small `Err` keeps the happy path's results small.
    error: Box<async_graphql::ServerError>,
}

impl Refusal {
    fn new(status: StatusCode, error: async_graphql::ServerError) -> Self {
        Refusal { status, error: Box::new(error) }
    }

    /// The GraphQL-shaped answer; a 401 also names the scheme (`WWW-Authenticate`).
    fn into_response(self, headers: &HeaderMap) -> Response {
        let mut r = error_response(headers, self.status, *self.error);
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

/// Steps 2 to 4. `Err` is an answer given without executing.
async fn checked(
    state: &AppState,
    headers: &HeaderMap,
    batch: BatchRequest,
    mutation: bool,
    refused: &mut [Option<ServerError>],
    started: std::time::Instant,
) -> Result<BatchResponse, Response> {
    let run = async {
        let who = authenticate(state, headers)?;
        check_batch(state, &batch)?;
        // Where the batch reads: a replica when nothing in it writes (persisted queries
        // are resolved by now, so a mutation sent by hash counts), else the primary.
        let read = state.replicas.for_request(&state.db, mutation);
        run_within_timeout(state, batch, refused, &who, &read, started + state.config.schema.query_limits.timeout).await
    };
    run.await.map_err(|refusal| refusal.into_response(headers))
}

/// The caller's rights from the bearer token (full rights when auth is off); a bad or
/// missing token is a 401.
fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, Refusal> {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    check_token(state.config.auth.as_deref(), authorization)
        .map_err(|e| Refusal::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthenticated.server_error(e.to_string())))
}

/// Refuses a batch of more requests than `max_batch`.
fn check_batch(state: &AppState, batch: &BatchRequest) -> Result<(), Refusal> {
    let max = state.config.schema.query_limits.max_batch;
    match batch {
        BatchRequest::Batch(rs) if rs.len() > max => {
            let message = format!("the batch holds {} requests; the limit (max_batch) is {max}", rs.len());
            Err(Refusal::new(StatusCode::OK, limits::exceeded("max_batch", max, message)))
        }
        _ => Ok(()),
    }
}

/// Executes before the request's deadline (its arrival plus the request timeout), then
/// names limit errors and gives every error a code. A request whose time is up before
/// execution starts is not executed at all (tokio's timeout polls its future once before
/// looking at the clock). Dropping the execution at the deadline drops its queries: sqlx
/// closes a connection whose query was cut off instead of returning it to the pool
/// mid-statement.
async fn run_within_timeout(
    state: &AppState,
    batch: BatchRequest,
    refused: &mut [Option<ServerError>],
    who: &Principal,
    read: &DatabaseConnection,
    deadline: std::time::Instant,
) -> Result<BatchResponse, Refusal> {
    let limits = state.config.schema.query_limits;
    let timed_out = || {
        tracing::warn!(timeout_ms = limits.timeout.as_millis() as u64, "request timed out");
        let message = format!("the request took longer than the limit of {} ms; narrow it", limits.timeout.as_millis());
        Refusal::new(StatusCode::OK, ErrorCode::Timeout.server_error(message))
    };
    if std::time::Instant::now() >= deadline {
        return Err(timed_out());
    }
    let queries: Vec<String> = batch.iter().map(|r| r.query.clone()).collect();
    let exec = execute_admitted(state, batch, refused, who, read);
    let Ok(mut response) = tokio::time::timeout_at(deadline.into(), exec).await else {
        return Err(timed_out());
    };
    for (r, query) in responses_mut(&mut response).into_iter().zip(queries.iter()) {
        limits::name_limit_errors(&mut r.errors, &limits);
        crate::graphql::codes::assign(&mut r.errors, query);
    }
    Ok(response)
}

/// Executes the requests that were not refused, reading from `read`, and answers the
/// refused ones with their error, in the batch's order.
async fn execute_admitted(
    state: &AppState,
    batch: BatchRequest,
    refused: &mut [Option<ServerError>],
    who: &Principal,
    read: &DatabaseConnection,
) -> BatchResponse {
    let refusal = |e: &mut Option<ServerError>| e.take().map(|e| async_graphql::Response::from_errors(vec![e]));
    match batch {
        BatchRequest::Single(r) => match refused.first_mut().and_then(refusal) {
            Some(answer) => BatchResponse::Single(answer),
            None => {
                crate::graphql::execute(&state.schema, read, state.config.read_shape, BatchRequest::Single(r), who)
                    .await
            }
        },
        BatchRequest::Batch(rs) => {
            let admitted: Vec<_> =
                rs.into_iter().zip(refused.iter()).filter(|(_, e)| e.is_none()).map(|(r, _)| r).collect();
            let executed = match crate::graphql::execute(
                &state.schema,
                read,
                state.config.read_shape,
                BatchRequest::Batch(admitted),
                who,
            )
            .await
            {
                BatchResponse::Batch(rs) => rs,
                BatchResponse::Single(r) => vec![r],
            };
            let mut executed = executed.into_iter();
            let answers =
                refused.iter_mut().map(|e| refusal(e).or_else(|| executed.next()).unwrap_or_default()).collect();
            BatchResponse::Batch(answers)
        }
    }
}

fn responses_mut(response: &mut BatchResponse) -> Vec<&mut async_graphql::Response> {
    match response {
        BatchResponse::Single(r) => vec![r],
        BatchResponse::Batch(rs) => rs.iter_mut().collect(),
    }
}

/// Step 5: the HTTP answer and its outcome label (`ok`, `error`, `refused`). Request ids
/// go on every error, so a client's report can be found in the logs; only a fully
/// successful query is cacheable (batches are not: their parts may differ in freshness).
async fn answer(
    state: &AppState,
    headers: &HeaderMap,
    outcome: Result<BatchResponse, Response>,
    request_id: &str,
    operation: &Operation,
    method: &Method,
) -> (Response, &'static str) {
    let (mut resp, label) = match outcome {
        Ok(mut response) => {
            let responses = responses_mut(&mut response);
            let ok = responses.iter().all(|r| r.is_ok());
            for r in responses {
                tag_request_id(&mut r.errors, request_id);
            }
            let hint = match &response {
                BatchResponse::Single(r) => r.cache_control.max_age,
                BatchResponse::Batch(_) => -1,
            };
            let mut resp = respond(headers, response);
            let cacheable = ok && !operation.mutation && hint != -1;
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
    (resp, label)
}

/// Puts the request id on every error, so a client's report can be found in the logs.
fn tag_request_id(errors: &mut [async_graphql::ServerError], request_id: &str) {
    for e in errors {
        e.extensions.get_or_insert_with(Default::default).set("requestId", request_id);
    }
}

/// The name of a document's only operation.
fn doc_operation_name(doc: &ExecutableDocument) -> Option<String> {
    match &doc.operations {
        // A named operation is kept under its name, even alone.
        DocumentOperations::Multiple(ops) if ops.len() == 1 => ops.keys().next().map(|n| n.to_string()),
        _ => None,
    }
}

fn doc_is_mutation(doc: &ExecutableDocument) -> bool {
    doc.operations.iter().any(|(_, op)| op.node.ty == OperationType::Mutation)
}

/// Whether a query text holds a mutation operation.
pub(super) fn is_mutation(query: &str) -> bool {
    async_graphql::parser::parse_query(query).is_ok_and(|doc| doc_is_mutation(&doc))
}
