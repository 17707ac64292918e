//! The dashboard at `GET /`: the reference client of the API, drawn from its public
//! GraphQL surface only.
//!
//! The page is static HTML with its GraphQL documents inlined: they are
//! `clients/typescript/src/operations/web-dashboard.graphql`, which CI's codegen
//! validates against `schema.graphql`, so a schema change that breaks the page fails CI.
//! `assets/dashboard.js` does the rest in the browser: the first paint of a project is
//! one request (`DashboardPage`), later controls ask only for what they change
//! (`DashboardTrend`, `DashboardDrilldown`). Nothing in the page depends on the clock
//! (the browser picks the dates), so it is rendered once.

use std::sync::LazyLock;

use axum::response::Response;
use serde_json::json;

use super::assets::{self, url};
use super::graphiql::TOKEN_KEY;
use super::{escape_html, html_page, script_json};

/// The page's GraphQL documents, as CI validates them.
pub const OPERATIONS: &str = include_str!("../../clients/typescript/src/operations/web-dashboard.graphql");

const TEMPLATE: &str = include_str!("assets/dashboard.html");

static PAGE: LazyLock<String> = LazyLock::new(render);

/// `GET /`.
pub async fn page() -> Response {
    html_page(PAGE.clone())
}

/// The dashboard's HTML.
pub fn render() -> String {
    let config = json!({
        "endpoint": "/graphql",
        "graphiql": "/graphql",
        "tokenKey": TOKEN_KEY,
        "operations": OPERATIONS,
    });
    TEMPLATE
        .replace("{{uplot_css}}", &escape_html(&url(assets::UPLOT_CSS)))
        .replace("{{dashboard_css}}", &escape_html(&url(assets::DASHBOARD_CSS)))
        .replace("{{uplot_js}}", &escape_html(&url(assets::UPLOT_JS)))
        .replace("{{dashboard_js}}", &escape_html(&url(assets::DASHBOARD_JS)))
        .replace("{{config}}", &script_json(&config))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_carries_its_operations_and_fills_every_placeholder() {
        let page = super::render();
        assert!(!page.contains("{{"));
        for op in ["query DashboardPage", "query DashboardTrend", "query DashboardDrilldown"] {
            assert!(super::OPERATIONS.contains(op), "{op}");
            assert!(page.contains(op), "{op}");
        }
    }
}
