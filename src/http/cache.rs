//! HTTP caching of query answers: `Cache-Control` from the configured max-age and the
//! fields' cache hints, and a weak `ETag` with `304 Not Modified` for `GET`s.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::ServerConfig;

/// `Cache-Control` of a query answer: metrics are recomputed on a schedule, so answers
/// may be cached for the configured max-age, or less when a field's cache hint says so
/// (`hint`: async-graphql's merged hint, 0 none, -1 no-cache);
/// `private` when auth is on, since answers depend on the token. Everything else:
/// `no-store`.
pub(super) fn set_cache_headers(resp: &mut Response, config: &ServerConfig, cacheable: bool, hint: i32) {
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
pub(super) async fn with_etag(headers: &HeaderMap, resp: Response) -> Response {
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
