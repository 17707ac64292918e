//! The HTTP transport on both backends: GraphiQL, GET and POST, content negotiation,
//! batches, health and readiness, and a database that goes away.

use crate::common::TestApp;
use serde_json::{json, Value};

async fn http_transport_graphiql_health_and_readiness(app: &TestApp) {
    let c = &app.client;
    let html = c.get(format!("{}/graphql", app.url)).header("accept", "text/html").send().await.unwrap();
    assert_eq!(html.status(), 200);
    assert!(html.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let page = html.text().await.unwrap();
    assert!(page.contains("graphiql") && page.contains("defaultQuery") && page.contains("query Dashboard"));
    // The example GraphiQL opens with runs as it is.
    let example = metrics_api::demo::example_query(chrono::Utc::now());
    app.data(&example, json!({})).await;

    // GET executes a query for non-browser clients; content type follows Accept.
    let url = format!("{}/graphql?query=%7BprojectList%7Bedges%7Bcursor%7D%7D%7D", app.url);
    let r = c.get(&url).header("accept", "application/graphql-response+json").send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/graphql-response+json");
    assert_eq!(r.json::<Value>().await.unwrap(), json!({ "data": { "projectList": { "edges": [] } } }));
    let r = c.get(&url).header("accept", "application/json").send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/json");
    // A query that does not parse: 400 under graphql-response+json, 200 under json.
    let bad = format!("{}/graphql?query=%7Bnope", app.url);
    let r = c.get(&bad).header("accept", "application/graphql-response+json").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = c.get(&bad).header("accept", "application/json").send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Batched requests.
    let r: Value = c
        .post(format!("{}/graphql", app.url))
        .json(&json!([{ "query": "{ projectList { edges { cursor } } }" }, { "query": "{ __typename }" }]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r[1]["data"]["__typename"], "Query");

    assert_eq!(c.get(format!("{}/healthz", app.url)).send().await.unwrap().status(), 200);
    assert_eq!(c.get(format!("{}/readyz", app.url)).send().await.unwrap().status(), 200);
    // A pending migration makes the service not ready.
    use migration::MigratorTrait;
    migration::Migrator::down(&app.db, Some(1)).await.unwrap();
    let r = c.get(format!("{}/readyz", app.url)).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "pending_migrations");
    migration::Migrator::up(&app.db, None).await.unwrap();
    // The database gone: 503, and the process stays up.
    app.db.clone().close().await.unwrap();
    let r = c.get(format!("{}/readyz", app.url)).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(c.get(format!("{}/healthz", app.url)).send().await.unwrap().status(), 200);
    let body = app.gql("{ projectList { edges { cursor } } }", json!({})).await;
    let code = body["errors"][0]["extensions"]["code"].as_str().unwrap();
    assert!(code == "SERVICE_UNAVAILABLE" || code == "INTERNAL_SERVER_ERROR", "{body}");
    assert!(!body.to_string().contains("PoolClosed") && !body.to_string().to_lowercase().contains("sqlx"), "{body}");
}

both_backends!(http_transport_graphiql_health_and_readiness);
