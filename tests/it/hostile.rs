//! A catalogue of hostile and malformed requests against one live server: each gets its
//! expected HTTP status and error code, and afterwards the server still answers and the
//! data is unchanged.

use std::sync::Arc;
use std::time::Duration;

use crate::common::fixtures::{self, pid};
use crate::common::tokens::hs256 as tokens_hs256;
use crate::common::{Backend, TestApp};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use entity::sea_orm_active_enums::TimeGrain;
use metrics_api::auth::{AuthConfig, ProjectsClaim};
use metrics_api::http::ServerConfig;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};

const SECRET: &[u8] = b"hostile-secret-hostile-secret-hostile";

/// How a case sends its request.
enum Body {
    /// A GraphQL query with variables, as JSON.
    Gql(String, Value),
    /// Raw bytes with a content type.
    Raw(&'static str, Vec<u8>),
    /// A GET with a query string.
    Get(String),
}

struct Case {
    name: String,
    token: Option<String>,
    body: Body,
    status: u16,
    code: &'static str,
}

fn gql(name: &str, token: &Option<String>, q: impl Into<String>, vars: Value, status: u16, code: &'static str) -> Case {
    Case { name: name.into(), token: token.clone(), body: Body::Gql(q.into(), vars), status, code }
}

fn cases(a: uuid::Uuid, b: uuid::Uuid) -> Vec<Case> {
    let auth = AuthConfig::hs256(SECRET, None, None).unwrap();
    let rw =
        Some(auth.mint(ProjectsClaim::List(vec![a]), "metrics:read metrics:write", Duration::from_secs(600)).unwrap());
    let ro = Some(auth.mint(ProjectsClaim::List(vec![a]), "metrics:read", Duration::from_secs(600)).unwrap());
    let now = jsonwebtoken::get_current_timestamp();
    let p = json!([a]);
    let project = |field: &str| format!(r#"{{ project(id: "{a}") {{ {field} }} }}"#);
    let deep = format!("{{ {} __typename {} }}", "projectList { edges { node { ".repeat(34), "} } } ".repeat(34));
    let aliases: String = (0..1000).map(|i| format!("a{i}: metricCatalog {{ key }} ")).collect();
    let trend = |args: &str| project(&format!(r#"trend(metricKey: "m", grain: DAY, {args}) {{ points {{ value }} }}"#));
    let mut c = vec![
        // Transport.
        Case {
            name: "invalid JSON".into(),
            token: rw.clone(),
            body: Body::Raw("application/json", b"{\"query\": ".to_vec()),
            status: 400,
            code: "BAD_REQUEST",
        },
        Case {
            name: "empty body".into(),
            token: rw.clone(),
            body: Body::Raw("application/json", Vec::new()),
            status: 400,
            code: "BAD_REQUEST",
        },
        Case {
            name: "invalid UTF-8".into(),
            token: rw.clone(),
            body: Body::Raw("application/json", b"{\"query\": \"\xff\xfe\"}".to_vec()),
            status: 400,
            code: "BAD_REQUEST",
        },
        Case {
            name: "JSON that is not a request".into(),
            token: rw.clone(),
            body: Body::Raw("application/json", b"[1, 2]".to_vec()),
            status: 400,
            code: "BAD_REQUEST",
        },
        Case {
            name: "NaN in variables".into(),
            token: rw.clone(),
            body: Body::Raw(
                "application/json",
                b"{\"query\": \"{ __typename }\", \"variables\": {\"v\": NaN}}".to_vec(),
            ),
            status: 400,
            code: "BAD_REQUEST",
        },
        Case {
            name: "wrong content type".into(),
            token: rw.clone(),
            body: Body::Raw("text/plain", b"hello".to_vec()),
            status: 400,
            code: "BAD_REQUEST",
        },
        Case {
            name: "20 MiB body".into(),
            token: rw.clone(),
            body: Body::Raw("application/json", vec![b' '; 20 * 1024 * 1024]),
            status: 413,
            code: "",
        },
        Case {
            name: "GET without query".into(),
            token: rw.clone(),
            body: Body::Get(String::new()),
            status: 400,
            code: "",
        },
        Case {
            name: "mutation over GET".into(),
            token: rw.clone(),
            body: Body::Get("query=mutation%20%7B%20setProjectName(id%3A%20%22x%22)%20%7B%20id%20%7D%20%7D".into()),
            status: 405,
            code: "",
        },
        // Documents.
        gql("syntax error", &rw, "{ project(id: ", json!({}), 200, "GRAPHQL_PARSE_FAILED"),
        gql("empty query", &rw, "", json!({}), 200, "GRAPHQL_PARSE_FAILED"),
        gql("depth 100", &rw, deep, json!({}), 200, "LIMIT_EXCEEDED"),
        gql("alias bomb", &rw, format!("{{ {aliases} }}"), json!({}), 200, "LIMIT_EXCEEDED"),
        gql(
            "fragment cycle",
            &rw,
            "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
            json!({}),
            200,
            "GRAPHQL_VALIDATION_FAILED",
        ),
        gql("unknown field", &rw, "{ nope }", json!({}), 200, "GRAPHQL_VALIDATION_FAILED"),
        gql("unknown argument", &rw, project("id(x: 1)"), json!({}), 200, "GRAPHQL_VALIDATION_FAILED"),
        gql("undeclared variable", &rw, "{ project(id: $x) { id } }", json!({}), 200, "GRAPHQL_VALIDATION_FAILED"),
        gql(
            "variable of the wrong type",
            &rw,
            "query($x: Int!) { project(id: $x) { id } }",
            json!({"x": 1}),
            200,
            "BAD_USER_INPUT",
        ),
        gql(
            "variable value of the wrong type",
            &rw,
            "query($x: UUID!) { project(id: $x) { id } }",
            json!({"x": 12}),
            200,
            "BAD_USER_INPUT",
        ),
        gql("missing variable", &rw, "query($x: UUID!) { project(id: $x) { id } }", json!({}), 200, "BAD_USER_INPUT"),
        gql("non-UUID id literal", &rw, r#"{ project(id: "abc") { id } }"#, json!({}), 200, "BAD_USER_INPUT"),
        gql("non-UUID in ids", &rw, r#"{ projects(ids: ["x"]) { id } }"#, json!({}), 200, "GRAPHQL_VALIDATION_FAILED"),
        Case {
            name: "unknown operation name".into(),
            token: rw.clone(),
            body: Body::Raw(
                "application/json",
                br#"{"query": "query A { __typename }", "operationName": "B"}"#.to_vec(),
            ),
            status: 200,
            code: "GRAPHQL_VALIDATION_FAILED",
        },
        gql("two anonymous operations", &rw, "{ __typename } { __typename }", json!({}), 200, "GRAPHQL_PARSE_FAILED"),
        gql("subscription", &rw, "subscription { x }", json!({}), 200, "GRAPHQL_VALIDATION_FAILED"),
        gql(
            "NaN literal",
            &rw,
            trend(r#"from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z", fill: NaN"#),
            json!({}),
            200,
            "GRAPHQL_VALIDATION_FAILED",
        ),
        gql(
            "infinite float",
            &rw,
            format!(
                r#"mutation {{ upsertTrendPoints(points: [{{projectId: "{a}", metricKey: "m", grain: DAY, bucket: "2026-01-01T00:00:00Z", value: 1e999}}]) {{ inserted }} }}"#
            ),
            json!({}),
            200,
            "",
        ),
        gql(
            "date out of range",
            &rw,
            trend(r#"from: "+999999-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z""#),
            json!({}),
            200,
            "GRAPHQL_VALIDATION_FAILED",
        ),
        gql(
            "date that is not a date",
            &rw,
            trend(r#"from: "yesterday", to: "2026-01-02T00:00:00Z""#),
            json!({}),
            200,
            "GRAPHQL_VALIDATION_FAILED",
        ),
        gql(
            "month 13",
            &rw,
            trend(r#"from: "2026-13-01T00:00:00Z", to: "2026-01-02T00:00:00Z""#),
            json!({}),
            200,
            "GRAPHQL_VALIDATION_FAILED",
        ),
        gql(
            "a million buckets",
            &rw,
            project(
                r#"trend(metricKey: "m", grain: HOUR, from: "1900-01-01T00:00:00Z", to: "2026-01-01T00:00:00Z") { from }"#,
            ),
            json!({}),
            200,
            "BAD_USER_INPUT",
        ),
        gql(
            "from after to",
            &rw,
            trend(r#"from: "2026-02-01T00:00:00Z", to: "2026-01-01T00:00:00Z""#),
            json!({}),
            200,
            "BAD_USER_INPUT",
        ),
        gql(
            "negative first",
            &rw,
            project(r#"drilldown(metricKey: "m", entityType: "t", first: -5) { pageInfo { hasNextPage } }"#),
            json!({}),
            200,
            "BAD_USER_INPUT",
        ),
        gql(
            "huge first",
            &rw,
            project(r#"summaries(first: 2147483647) { pageInfo { hasNextPage } }"#),
            json!({}),
            200,
            "BAD_USER_INPUT",
        ),
        gql(
            "first beyond Int",
            &rw,
            project(r#"summaries(first: 99999999999) { pageInfo { hasNextPage } }"#),
            json!({}),
            200,
            "GRAPHQL_VALIDATION_FAILED",
        ),
        gql(
            "forged cursor",
            &rw,
            project(r#"drilldown(metricKey: "m", entityType: "t", after: "eyJhIjoxfQ") { pageInfo { hasNextPage } }"#),
            json!({}),
            200,
            "BAD_USER_INPUT",
        ),
        gql(
            "cursor of another list",
            &rw,
            project(&format!(
                r#"summaries(after: "{}") {{ pageInfo {{ hasNextPage }} }}"#,
                URL_SAFE_NO_PAD.encode(format!(r#"["p","{a}"]"#))
            )),
            json!({}),
            200,
            "BAD_USER_INPUT",
        ),
        gql(
            "dimensions not an object",
            &rw,
            trend(r#"from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z", dimensions: "team""#),
            json!({}),
            200,
            "BAD_USER_INPUT",
        ),
        gql("scope not an object", &rw, project("summary(scope: [1, 2]) { id }"), json!({}), 200, "BAD_USER_INPUT"),
        gql(
            "empty metric key",
            &rw,
            trend(r#"from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z""#)
                .replace(r#"metricKey: "m""#, r#"metricKey: """#),
            json!({}),
            200,
            "BAD_USER_INPUT",
        ),
        gql(
            "metric key of 10 kB",
            &rw,
            trend(r#"from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z""#)
                .replace(r#"metricKey: "m""#, &format!(r#"metricKey: "{}""#, "k".repeat(10_000))),
            json!({}),
            200,
            "BAD_USER_INPUT",
        ),
        gql(
            "bucket not on a grain start",
            &rw,
            project(
                r#"breakdown(metricKey: "m", dimensionKey: "k", grain: WEEK, bucket: "2026-01-01T00:00:00Z") { total }"#,
            ),
            json!({}),
            200,
            "BAD_USER_INPUT",
        ),
        gql(
            "too many ids",
            &rw,
            "query($ids: [UUID!]!) { projects(ids: $ids) { id } }",
            json!({ "ids": (0..501).map(uuid::Uuid::from_u128).collect::<Vec<_>>() }),
            200,
            "BAD_USER_INPUT",
        ),
        gql(
            "unaligned bucket in a write",
            &rw,
            format!(
                r#"mutation {{ upsertTrendPoints(points: [{{projectId: "{a}", metricKey: "m", grain: DAY, bucket: "2026-01-01T05:00:00Z"}}]) {{ inserted }} }}"#
            ),
            json!({}),
            200,
            "BAD_USER_INPUT",
        ),
        gql(
            "drilldown row with two keys",
            &rw,
            format!(
                r#"mutation {{ upsertDrilldowns(rows: [{{projectId: "{a}", metricKey: "m", entityType: "t", entityId: "{a}", referenceId: "r", payload: {{}}}}]) {{ inserted }} }}"#
            ),
            json!({}),
            200,
            "BAD_USER_INPUT",
        ),
        // Tokens.
        gql("no token", &None, "{ __typename }", json!({}), 401, "UNAUTHENTICATED"),
        gql("garbage token", &Some("abc".into()), "{ __typename }", json!({}), 401, "UNAUTHENTICATED"),
        gql(
            "expired token",
            &Some(tokens_hs256(json!({ "exp": now - 100, "projects": p, "scope": "metrics:read" }), SECRET)),
            "{ __typename }",
            json!({}),
            401,
            "UNAUTHENTICATED",
        ),
        gql(
            "token from the future",
            &Some(tokens_hs256(
                json!({ "exp": now + 600, "nbf": now + 300, "projects": p, "scope": "metrics:read" }),
                SECRET,
            )),
            "{ __typename }",
            json!({}),
            401,
            "UNAUTHENTICATED",
        ),
        gql(
            "token signed with another key",
            &Some(tokens_hs256(
                json!({ "exp": now + 600, "projects": p, "scope": "metrics:read" }),
                b"other-secret-other-secret-other-secret",
            )),
            "{ __typename }",
            json!({}),
            401,
            "UNAUTHENTICATED",
        ),
        gql(
            "alg none",
            &Some(format!(
                "{}.{}.",
                URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
                URL_SAFE_NO_PAD.encode(
                    json!({ "exp": now + 600, "projects": "*", "scope": "metrics:read metrics:write" }).to_string()
                )
            )),
            "{ __typename }",
            json!({}),
            401,
            "UNAUTHENTICATED",
        ),
        gql(
            "token for another project",
            &rw,
            format!(r#"{{ project(id: "{b}") {{ id }} }}"#),
            json!({}),
            200,
            "FORBIDDEN",
        ),
        gql(
            "write for another project",
            &rw,
            format!(r#"mutation {{ setProjectName(id: "{b}", name: "mine") {{ id }} }}"#),
            json!({}),
            200,
            "FORBIDDEN",
        ),
        gql(
            "mutation without write scope",
            &ro,
            format!(r#"mutation {{ setProjectName(id: "{a}", name: "x") {{ id }} }}"#),
            json!({}),
            200,
            "FORBIDDEN",
        ),
        gql(
            "project list of another token",
            &ro,
            "{ projects(ids: [\"00000000-0000-0000-0000-000000000000\"]) { id } }",
            json!({}),
            200,
            "",
        ),
    ];
    // A batch of eleven.
    c.push(Case {
        name: "batch over the limit".into(),
        token: rw.clone(),
        body: Body::Raw(
            "application/json",
            serde_json::to_vec(&(0..11).map(|_| json!({ "query": "{ __typename }" })).collect::<Vec<_>>()).unwrap(),
        ),
        status: 200,
        code: "LIMIT_EXCEEDED",
    });
    c
}

async fn snapshot(app: &TestApp) -> Vec<i64> {
    let mut out = Vec::new();
    for table in ["project", "metrics_summary", "metrics_trend_point", "metrics_breakdown_point", "metrics_drilldown"] {
        let row = app
            .db
            .query_one_raw(Statement::from_string(app.db_backend(), format!("SELECT COUNT(*) AS n FROM {table}")))
            .await
            .unwrap()
            .unwrap();
        out.push(row.try_get("", "n").unwrap());
    }
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            app.db_backend(),
            "SELECT name FROM project ORDER BY name LIMIT 1".to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    let name: Option<String> = row.try_get("", "name").unwrap();
    out.push(name.map_or(0, |n| n.len() as i64));
    out
}

async fn catalogue(backend: Backend) {
    let config = ServerConfig {
        auth: Some(Arc::new(AuthConfig::hs256(SECRET, None, None).unwrap())),
        ..ServerConfig::default()
    };
    let Some(app) = TestApp::on(backend, config).await else { return };
    let (a, b) = (pid(1), pid(2));
    fixtures::project(&app.db, a, "A").await;
    fixtures::project(&app.db, b, "B").await;
    fixtures::trend(&app.db, a, "m", TimeGrain::Day, "2026-01-01T00:00:00Z", json!({}), 1.0).await;
    fixtures::summary(&app.db, b, "2026-01-01T00:00:00Z", None, json!({})).await;
    let before = snapshot(&app).await;
    let cases = cases(a, b);
    assert!(cases.len() >= 50, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let url = format!("{}/graphql", app.url);
        let req = match &case.body {
            Body::Gql(q, v) => app.client.post(&url).json(&json!({ "query": q, "variables": v })),
            Body::Raw(ct, bytes) => app.client.post(&url).header("content-type", *ct).body(bytes.clone()),
            Body::Get(qs) => app.client.get(format!("{url}?{qs}")),
        };
        let req = match &case.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = match req.send().await {
            Ok(r) => r,
            // A 413 may close the connection while the client is still sending.
            Err(e) if case.status == 413 && e.is_request() => continue,
            Err(e) => panic!("{}: {e}", case.name),
        };
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let first = if body.is_array() { &body[0] } else { &body };
        let code = first["errors"][0]["extensions"]["code"].as_str().unwrap_or_default();
        let leaked = ["sqlx", "SELECT", "sea_orm", "panicked"].iter().any(|w| text.contains(w));
        if status != case.status || (!case.code.is_empty() && code != case.code) || leaked || status >= 500 {
            failures.push(format!(
                "{}: got {status} {code:?}, want {} {:?}: {}",
                case.name,
                case.status,
                case.code,
                &text[..text.len().min(300)]
            ));
        }
    }
    assert!(failures.is_empty(), "[{backend:?}] {} of {} cases:\n{}", failures.len(), cases.len(), failures.join("\n"));
    // Still up, nothing changed.
    assert_eq!(app.client.get(format!("{}/healthz", app.url)).send().await.unwrap().status(), 200);
    assert_eq!(snapshot(&app).await, before, "the data is unchanged");
    app.finish().await;
}

each_backend!(catalogue);
