//! GraphiQL, served from the binary to browsers that `GET /graphql` (`Accept: text/html`).
//!
//! The page is rendered per request so its default query (the demo dashboard,
//! [`crate::demo::example_query`]) covers the 30 days before the request, not before the
//! server started. `assets/graphiql.js` mounts GraphiQL with a fetcher for `/graphql`
//! (and a `graphql-ws` URL on the same path, opened only when a subscription runs), the
//! dashboard's bearer token as the initial headers when one is set, and a query,
//! variables and operation name from the URL fragment (`#query=…&variables=…`), which
//! is how the dashboard links "this query in GraphiQL". The fragment never reaches the
//! server, so the link cannot be mistaken for a GET that executes a query.

use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::json;

use super::assets::{self, url};
use super::{escape_html, html_page, script_json};

/// The session-storage key of the dashboard's bearer token, shared by both pages.
pub const TOKEN_KEY: &str = "metrics-api.token";

const TEMPLATE: &str = include_str!("assets/graphiql.html");

/// The GraphiQL response for a request made at `now`.
pub fn page(now: DateTime<Utc>) -> Response {
    html_page(render(now))
}

/// The GraphiQL page's HTML, opened on the demo dashboard query for `now`.
pub fn render(now: DateTime<Utc>) -> String {
    let config = json!({
        "endpoint": "/graphql",
        "defaultQuery": crate::demo::example_query(now),
        "tokenKey": TOKEN_KEY,
    });
    TEMPLATE
        .replace("{{graphiql_css}}", &escape_html(&url(assets::GRAPHIQL_CSS)))
        .replace("{{react_js}}", &escape_html(&url(assets::REACT_JS)))
        .replace("{{react_dom_js}}", &escape_html(&url(assets::REACT_DOM_JS)))
        .replace("{{graphiql_js}}", &escape_html(&url(assets::GRAPHIQL_JS)))
        .replace("{{init_js}}", &escape_html(&url(assets::GRAPHIQL_INIT_JS)))
        .replace("{{config}}", &script_json(&config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_query_follows_the_request_time() {
        let a = render("2026-03-10T12:00:00Z".parse().unwrap());
        let b = render("2026-04-20T12:00:00Z".parse().unwrap());
        assert!(a.contains("2026-02-08T00:00:00Z") && a.contains("2026-03-10T00:00:00Z"), "{a}");
        assert!(b.contains("2026-03-21T00:00:00Z") && b.contains("2026-04-20T00:00:00Z"));
        assert!(!a.contains("{{"), "every placeholder is filled");
    }
}
