//! GraphiQL, the IDE page served on `GET /graphql` to browsers.

/// GraphiQL, opened on a ready example dashboard query.
fn render(example: &str) -> String {
    let page = async_graphql::http::GraphiQLSource::build().endpoint("/graphql").title("metrics-api GraphiQL").finish();
    let default_query = serde_json::to_string(example).unwrap_or_else(|_| "\"\"".into());
    page.replacen(
        "defaultEditorToolsVisibility: true,",
        &format!("defaultEditorToolsVisibility: true,\n          defaultQuery: {default_query},"),
        1,
    )
}

/// The page, opened on the example dashboard query with dates around now (rendered per
/// request, so a long-running server does not offer stale dates).
pub fn page() -> String {
    render(&crate::demo::example_query(chrono::Utc::now()))
}

#[cfg(test)]
mod tests {
    /// The page is async-graphql's, with the example query spliced in: fails when an
    /// upgrade changes the anchor the splice relies on.
    #[test]
    fn the_example_query_is_spliced_in() {
        let page = super::render("{ example }");
        assert!(page.contains(r#"defaultQuery: "{ example }","#), "the GraphiQL anchor moved");
    }
}
