//! The static files of the browser pages, compiled into the binary, served under
//! `/assets/`.
//!
//! Vendored files live under `vendor/<package>@<version>/`: a new version is a new URL,
//! so they are served as immutable for a year. The project's own files (`app/`) change
//! with the binary: pages link them with `?v=<hash of their content>` ([`url`]), and only
//! a request naming the current hash is cached long; any other gets `no-cache`.

use std::sync::LazyLock;

use axum::extract::{Path, RawQuery};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// One file served under `/assets/`.
pub struct Asset {
    /// The path after `/assets/`.
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

macro_rules! asset {
    ($path:expr, $file:literal, $ty:expr) => {
        Asset { path: $path, content_type: $ty, body: include_bytes!(concat!("assets/", $file)) }
    };
}

/// GraphiQL's UMD bundle (it includes graphql-ws for subscriptions) and stylesheet.
pub const GRAPHIQL_JS: &str = "vendor/graphiql@3.9.0/graphiql.min.js";
pub const GRAPHIQL_CSS: &str = "vendor/graphiql@3.9.0/graphiql.min.css";
/// React 18: the last major with UMD production builds, which GraphiQL 3's bundle expects
/// as `window.React` / `window.ReactDOM`.
pub const REACT_JS: &str = "vendor/react@18.3.1/react.production.min.js";
pub const REACT_DOM_JS: &str = "vendor/react-dom@18.3.1/react-dom.production.min.js";
/// uPlot: 50 kB of canvas charts, no dependencies.
pub const UPLOT_JS: &str = "vendor/uplot@1.6.32/uPlot.iife.min.js";
pub const UPLOT_CSS: &str = "vendor/uplot@1.6.32/uPlot.min.css";

pub const GRAPHIQL_INIT_JS: &str = "app/graphiql.js";
pub const DASHBOARD_JS: &str = "app/dashboard.js";
pub const DASHBOARD_CSS: &str = "app/dashboard.css";

/// Every file under `/assets/`.
pub static ASSETS: &[Asset] = &[
    asset!(GRAPHIQL_JS, "vendor/graphiql.min.js", JS),
    asset!(GRAPHIQL_CSS, "vendor/graphiql.min.css", CSS),
    asset!(REACT_JS, "vendor/react.production.min.js", JS),
    asset!(REACT_DOM_JS, "vendor/react-dom.production.min.js", JS),
    asset!(UPLOT_JS, "vendor/uPlot.iife.min.js", JS),
    asset!(UPLOT_CSS, "vendor/uPlot.min.css", CSS),
    asset!("vendor/MANIFEST.json", "vendor/MANIFEST.json", JSON),
    asset!("vendor/licenses/graphiql.LICENSE", "vendor/licenses/graphiql.LICENSE", TEXT),
    asset!("vendor/licenses/react.LICENSE", "vendor/licenses/react.LICENSE", TEXT),
    asset!("vendor/licenses/react-dom.LICENSE", "vendor/licenses/react-dom.LICENSE", TEXT),
    asset!("vendor/licenses/uplot.LICENSE", "vendor/licenses/uplot.LICENSE", TEXT),
    asset!(GRAPHIQL_INIT_JS, "graphiql.js", JS),
    asset!(DASHBOARD_JS, "dashboard.js", JS),
    asset!(DASHBOARD_CSS, "dashboard.css", CSS),
];

/// A year: the longest `max-age` caches honour.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// A hash of the project's own files, so their URLs change when they do.
static APP_VERSION: LazyLock<String> = LazyLock::new(|| {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for a in ASSETS.iter().filter(|a| a.path.starts_with("app/")) {
        a.path.hash(&mut h);
        a.body.hash(&mut h);
    }
    format!("{:016x}", h.finish())
});

/// The URL a page links `path` with (one of the constants above).
pub fn url(path: &str) -> String {
    if path.starts_with("app/") {
        format!("/assets/{path}?v={}", *APP_VERSION)
    } else {
        format!("/assets/{path}")
    }
}

/// The asset at `path`, if any.
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// `GET /assets/{*path}`.
pub async fn serve(Path(path): Path<String>, RawQuery(query): RawQuery) -> Response {
    let Some(asset) = find(&path) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let current = query.as_deref() == Some(&format!("v={}", *APP_VERSION));
    let cache = if path.starts_with("vendor/") || current { IMMUTABLE } else { "no-cache" };
    let mut resp = asset.body.into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}
