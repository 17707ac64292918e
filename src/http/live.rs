//! `GET /graphql` with `Upgrade: websocket`: subscriptions over the graphql-ws protocol
//! (`graphql-transport-ws`; the legacy `graphql-ws` subprotocol is accepted too).
//!
//! async-graphql runs the protocol; this module adds what a long-lived socket needs:
//! - auth: the bearer token in `connection_init`'s payload (`{"Authorization": "Bearer
//!   ..."}` or `{"token": "..."}`; the upgrade request's `Authorization` header as a
//!   fallback), checked like a request's; a bad one closes with 4403, and so does the
//!   token's expiry (checked at each keep-alive);
//! - limits: connections per instance (1013 "try again later" beyond it), subscriptions
//!   per connection (an error on that subscription), `connection_init` within a time
//!   (4408);
//! - slow consumers: a subscription more than its buffer behind, or a socket write that
//!   waits longer than the send timeout, closes the connection (4008) instead of buffering
//!   without bound;
//! - keep-alives: a WebSocket ping on every idle period; a peer silent for three periods
//!   (not even a pong) is dropped.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_graphql::futures_util::stream::BoxStream;
use async_graphql::http::{WebSocketProtocols, WsMessage, ALL_WEBSOCKET_PROTOCOLS};
use async_graphql::parser::types::OperationType;
use async_graphql::{Data, Executor};
use async_graphql_axum::GraphQLBatchRequest;
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{FromRequest, FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};

use super::AppState;
use crate::auth::authenticate_until;
use crate::error::ErrorCode;
use crate::graphql::documents::Documents;
use crate::graphql::limits::{self, QueryLimits};
use crate::graphql::{codes, AppSchema};
use crate::live::Connection;

/// Close codes this server sends (graphql-ws's own where one fits).
pub mod close {
    /// The instance serves its maximum of connections (WebSocket "try again later").
    pub const TOO_MANY_CONNECTIONS: u16 = 1013;
    /// A subscription fell behind its buffer, or a write to the socket timed out:
    /// reconnect, and refetch (as after `RESYNC`).
    pub const SLOW_CONSUMER: u16 = 4008;
    /// The token in `connection_init` is missing or invalid (graphql-ws "Forbidden"), or
    /// it expired while the connection was open.
    pub const FORBIDDEN: u16 = 4403;
    /// No `connection_init` in time (graphql-ws).
    pub const INIT_TIMEOUT: u16 = 4408;
}

/// Whether a request asks for a WebSocket upgrade.
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.get(header::UPGRADE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// `GET /graphql`: a WebSocket upgrade for subscriptions, else a query or GraphiQL.
pub async fn graphql_get(State(state): State<AppState>, req: Request) -> Response {
    if is_upgrade(req.headers()) {
        return upgrade(state, req).await;
    }
    let headers = req.headers().clone();
    let batch = GraphQLBatchRequest::from_request(req, &state).await;
    super::handlers::graphql_get(State(state), headers, batch).await
}

async fn upgrade(state: AppState, req: Request) -> Response {
    let (mut parts, _) = req.into_parts();
    let protocol = parts
        .headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').find_map(|p| WebSocketProtocols::from_str(p.trim()).ok()));
    let Some(protocol) = protocol else {
        let message = "WebSocket subscriptions need the `graphql-transport-ws` subprotocol (graphql-ws)";
        return (StatusCode::BAD_REQUEST, message).into_response();
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(u) => u,
        Err(rejection) => return rejection.into_response(),
    };
    let authorization = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve(state, socket, protocol, authorization))
        .into_response()
}

/// Runs the operations of a WebSocket: subscriptions only (queries and mutations go over
/// HTTP, through the request pipeline with its loaders and timeout), with the same
/// persisted queries, document limits and error codes as HTTP requests.
#[derive(Clone)]
struct LiveExecutor {
    schema: AppSchema,
    documents: Arc<Documents>,
    limits: QueryLimits,
}

impl LiveExecutor {
    /// `Err`: the answer, without executing.
    fn check(&self, request: &mut async_graphql::Request) -> Result<(), async_graphql::ServerError> {
        self.documents.prepare(request)?;
        let Ok(doc) = request.parsed_query() else { return Ok(()) };
        limits::check_document(doc, &self.limits)?;
        if doc.operations.iter().any(|(_, op)| op.node.ty != OperationType::Subscription) {
            let message = "only subscriptions are served over WebSocket; send queries and mutations over HTTP";
            return Err(ErrorCode::BadRequest.server_error(message));
        }
        Ok(())
    }
}

impl Executor for LiveExecutor {
    async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        // Not used by the WebSocket protocol (it streams); answer as a stream would.
        self.execute_stream(request, None).next().await.unwrap_or_default()
    }

    fn execute_stream(
        &self,
        mut request: async_graphql::Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, async_graphql::Response> {
        if let Err(e) = self.check(&mut request) {
            return futures_util::stream::once(std::future::ready(async_graphql::Response::from_errors(vec![e])))
                .boxed();
        }
        let (query, limits) = (request.query.clone(), self.limits);
        self.schema
            .execute_stream_with_session_data(request, session_data.unwrap_or_default())
            .map(move |mut r| {
                limits::name_limit_errors(&mut r.errors, &limits);
                codes::assign(&mut r.errors, &query);
                r
            })
            .boxed()
    }
}

/// The `Authorization` value of a `connection_init` payload.
fn authorization(payload: &serde_json::Value) -> Option<String> {
    let field = |k: &str| payload.get(k).and_then(|v| v.as_str());
    if let Some(a) = field("Authorization").or_else(|| field("authorization")) {
        return Some(a.to_owned());
    }
    field("token").map(|t| format!("Bearer {t}"))
}

fn close_frame(code: u16, reason: String) -> Message {
    Message::Close(Some(CloseFrame { code, reason: reason.into() }))
}

async fn serve(state: AppState, socket: WebSocket, protocol: WebSocketProtocols, header_auth: Option<String>) {
    let hub = state.live.clone();
    let limits = *hub.limits();
    let (mut sink, incoming) = socket.split();
    let Some(_slot) = hub.connect() else {
        let reason = format!(
            "too many connections: this instance serves at most {} (max_ws_connections); retry later",
            limits.max_connections
        );
        crate::observe::record_live_close("too_many_connections");
        let _ = tokio::time::timeout(limits.send_timeout, sink.send(close_frame(close::TOO_MANY_CONNECTIONS, reason)))
            .await;
        return;
    };
    let connection = Connection::new(limits.max_subscriptions);

    // Any frame from the peer (pongs included) shows it is alive.
    let last_seen = Arc::new(Mutex::new(Instant::now()));
    let seen = last_seen.clone();
    let input = incoming.take_while(|m| std::future::ready(m.is_ok())).filter_map(move |m| {
        *seen.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        std::future::ready(match m {
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => Some(m.into_data()),
            _ => None,
        })
    });

    let (initialised, refused) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let auth = state.config.auth.clone();
    let (init_ok, init_refused) = (initialised.clone(), refused.clone());
    // The token's `exp` (0: none): the connection ends there, checked at each keep-alive.
    let expires = Arc::new(AtomicU64::new(0));
    let init_expires = expires.clone();
    let on_init = move |payload: serde_json::Value| async move {
        let given = authorization(&payload).or(header_auth);
        match authenticate_until(auth.as_deref(), given.as_deref()) {
            Ok((principal, exp)) => {
                init_expires.store(exp.unwrap_or(0), Ordering::Release);
                init_ok.store(true, Ordering::Release);
                let mut data = Data::default();
                data.insert(principal);
                Ok(data)
            }
            Err(e) => {
                init_refused.store(true, Ordering::Release);
                Err(async_graphql::Error::new(e.to_string()))
            }
        }
    };
    let mut data = Data::default();
    data.insert(hub.clone());
    data.insert(connection.clone());
    let executor = LiveExecutor {
        schema: state.schema.clone(),
        documents: state.documents.clone(),
        limits: state.config.schema.query_limits,
    };
    let protocol_stream = async_graphql::http::WebSocket::new(executor, input, protocol)
        .connection_data(data)
        .on_connection_init(on_init);
    futures_util::pin_mut!(protocol_stream);

    let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + limits.keepalive, limits.keepalive);
    let init_deadline = tokio::time::sleep(limits.init_timeout);
    futures_util::pin_mut!(init_deadline);
    loop {
        let message = tokio::select! {
            m = protocol_stream.next() => match m {
                Some(WsMessage::Text(text)) => Message::Text(text.into()),
                Some(WsMessage::Close(code, reason)) => {
                    // async-graphql closes a refused `connection_init` with 1002.
                    let code = if refused.load(Ordering::Acquire) { close::FORBIDDEN } else { code };
                    if code == close::FORBIDDEN {
                        crate::observe::record_live_close("forbidden");
                    }
                    close_frame(code, reason)
                }
                None => break,
            },
            _ = connection.slow_consumer() => {
                let reason = format!(
                    "slow consumer: a subscription fell more than {} events behind; reconnect and refetch",
                    limits.buffer
                );
                crate::observe::record_live_close("slow_consumer");
                close_frame(close::SLOW_CONSUMER, reason)
            }
            _ = &mut init_deadline, if !initialised.load(Ordering::Acquire) => {
                crate::observe::record_live_close("init_timeout");
                close_frame(close::INIT_TIMEOUT, "Connection initialisation timeout".into())
            }
            _ = keepalive.tick() => {
                let silent = last_seen.lock().unwrap_or_else(|e| e.into_inner()).elapsed();
                if silent > limits.keepalive * 3 {
                    tracing::info!(silent_ms = silent.as_millis() as u64, "live updates: dropping a silent connection");
                    crate::observe::record_live_close("silent");
                    break;
                }
                let exp = expires.load(Ordering::Acquire);
                if exp != 0 && jsonwebtoken::get_current_timestamp() >= exp {
                    crate::observe::record_live_close("token_expired");
                    close_frame(close::FORBIDDEN, "the token expired; reconnect with a fresh one".into())
                } else {
                    Message::Ping(Bytes::new())
                }
            }
        };
        let closing = matches!(message, Message::Close(_));
        match tokio::time::timeout(limits.send_timeout, sink.send(message)).await {
            Ok(Ok(())) if !closing => {}
            Ok(_) => break,
            Err(_) => {
                tracing::warn!("live updates: a client did not read for the send timeout; dropping it (slow consumer)");
                crate::observe::record_live_close("send_timeout");
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_token_is_read_from_the_init_payload() {
        assert_eq!(authorization(&json!({ "Authorization": "Bearer a" })).as_deref(), Some("Bearer a"));
        assert_eq!(authorization(&json!({ "authorization": "Bearer b" })).as_deref(), Some("Bearer b"));
        assert_eq!(authorization(&json!({ "token": "c" })).as_deref(), Some("Bearer c"));
        assert_eq!(authorization(&json!({})), None);
        assert_eq!(authorization(&json!(null)), None);
    }
}
