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
//!
//! Each operation is sent as its own document, with only the fragments it reaches
//! ([`documents`]), as Apollo or urql send theirs. The whole file in one request is
//! valid GraphQL, but async-graphql 7.2.1 checks every fragment of a document against
//! the chosen operation's variables, so a fragment only another operation spreads fails
//! with "Variable … is not defined".

use std::collections::BTreeMap;
use std::sync::LazyLock;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

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
        "operations": documents(OPERATIONS),
    });
    TEMPLATE
        .replace("{{uplot_css}}", &escape_html(&url(assets::UPLOT_CSS)))
        .replace("{{dashboard_css}}", &escape_html(&url(assets::DASHBOARD_CSS)))
        .replace("{{uplot_js}}", &escape_html(&url(assets::UPLOT_JS)))
        .replace("{{dashboard_js}}", &escape_html(&url(assets::DASHBOARD_JS)))
        .replace("{{config}}", &script_json(&config))
}

/// Each operation of `text` as a document of its own: the operation's text, then the
/// text of every fragment it reaches (directly or through other fragments), in the
/// order they are written. Definitions are cut from the text at the lines where the
/// parser says they start, so comments and layout are kept as written. Panics on text
/// that does not parse: `OPERATIONS` is fixed at build time and tested below.
pub fn documents(text: &str) -> BTreeMap<String, String> {
    let doc = async_graphql::parser::parse_query(text).expect("the dashboard's operations parse");
    // Where each definition starts (line numbers are 1-based), in text order.
    let mut starts: Vec<(usize, String)> = doc
        .operations
        .iter()
        .filter_map(|(name, op)| name.map(|n| (op.pos.line, n.to_string())))
        .chain(doc.fragments.iter().map(|(name, f)| (f.pos.line, name.to_string())))
        .collect();
    starts.sort();
    let lines: Vec<&str> = text.lines().collect();
    let mut texts = BTreeMap::new();
    for (i, (line, name)) in starts.iter().enumerate() {
        let end = starts.get(i + 1).map_or(lines.len(), |(next, _)| next - 1);
        let mut body: Vec<&str> = lines[line - 1..end].to_vec();
        // Comments and blank lines before the next definition belong to it.
        while body.last().is_some_and(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
            body.pop();
        }
        texts.insert(name.clone(), body.join("\n"));
    }
    let order: Vec<&String> = starts.iter().map(|(_, n)| n).collect();
    doc.operations
        .iter()
        .filter_map(|(name, op)| name.map(|n| (n.to_string(), &op.node.selection_set.node)))
        .map(|(name, set)| {
            let mut reached = Vec::new();
            spreads(&doc, set, &mut reached);
            let parts: Vec<&str> = std::iter::once(&name)
                .chain(order.iter().copied().filter(|n| reached.contains(n)))
                .map(|n| texts[n].as_str())
                .collect();
            (name, parts.join("\n\n"))
        })
        .collect()
}

/// Adds to `reached` every fragment `set` spreads, transitively.
fn spreads(doc: &ExecutableDocument, set: &SelectionSet, reached: &mut Vec<String>) {
    for item in &set.items {
        match &item.node {
            Selection::Field(f) => spreads(doc, &f.node.selection_set.node, reached),
            Selection::InlineFragment(f) => spreads(doc, &f.node.selection_set.node, reached),
            Selection::FragmentSpread(s) => {
                let name = s.node.fragment_name.node.to_string();
                if !reached.contains(&name) {
                    reached.push(name.clone());
                    if let Some(f) = doc.fragments.get(s.node.fragment_name.node.as_str()) {
                        spreads(doc, &f.node.selection_set.node, reached);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_carries_its_operations_and_fills_every_placeholder() {
        let page = render();
        assert!(!page.contains("{{"));
        for op in ["query DashboardPage", "query DashboardTrend", "query DashboardDrilldown"] {
            assert!(OPERATIONS.contains(op), "{op}");
            assert!(page.contains(op), "{op}");
        }
    }

    #[test]
    fn each_operation_carries_exactly_the_fragments_it_reaches() {
        let docs = documents(OPERATIONS);
        assert_eq!(
            docs.keys().collect::<Vec<_>>(),
            ["DashboardDrilldown", "DashboardLive", "DashboardPage", "DashboardTrend"]
        );
        let fragments = |name: &str| -> Vec<String> {
            let doc = async_graphql::parser::parse_query(&docs[name]).unwrap();
            assert_eq!(doc.operations.iter().count(), 1, "{name}: one operation");
            let mut f: Vec<String> = doc.fragments.keys().map(|k| k.to_string()).collect();
            f.sort();
            f
        };
        assert_eq!(fragments("DashboardTrend"), ["DashboardTrendPanel"]);
        assert!(fragments("DashboardLive").is_empty());
        assert_eq!(fragments("DashboardDrilldown"), ["DashboardDrilldownPanel"]);
        assert_eq!(
            fragments("DashboardPage"),
            ["DashboardDrilldownPanel", "DashboardProject", "DashboardTrendPanel"],
            "through DashboardProject"
        );
        assert!(!docs["DashboardTrend"].contains("breakdown"), "{}", docs["DashboardTrend"]);
    }
}
