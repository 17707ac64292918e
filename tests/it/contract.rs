//! The GraphQL contract (issue 13), one test per point, on both backends through the real
//! router: request-order responses and stable ETags, null propagation, optional variables
//! for arguments with defaults, one shape for bad input and request errors, the served
//! SDL, `DateTime` with `Z`, stored point counts and no negative zero, token and directive
//! limits, and logs without colour codes off a terminal.

use crate::common::fixtures::{breakdown, pid, project, summary, trend};
use crate::common::TestApp;
use entity::sea_orm_active_enums::TimeGrain;
use metrics_api::graphql::limits::QueryLimits;
use metrics_api::graphql::SchemaConfig;
use metrics_api::http::ServerConfig;
use serde_json::{json, Value};

/// One project with a trend series, a breakdown and a summary.
async fn seed(app: &TestApp) -> uuid::Uuid {
    let p = pid(1);
    project(&app.db, p, "Atlas").await;
    for (day, v) in [("2026-03-01", 3.0), ("2026-03-02", 5.0), ("2026-03-04", 7.0)] {
        trend(&app.db, p, "tasks_completed", TimeGrain::Day, &format!("{day}T00:00:00Z"), json!({}), v).await;
    }
    breakdown(&app.db, p, "wip", None, None, "state", "open", 4.0).await;
    breakdown(&app.db, p, "wip", None, None, "state", "done", 6.0).await;
    summary(&app.db, p, "2026-03-03T06:00:00Z", None, json!({"open": 4})).await;
    p
}

/// The keys of the object at `path` of a response body, in the body's order (a
/// `serde_json::Value` would sort them; async-graphql's `Value` keeps them).
fn keys(body: &[u8], path: &[&str]) -> Vec<String> {
    let mut v: async_graphql::Value = serde_json::from_slice(body).expect("json");
    for p in path {
        let async_graphql::Value::Object(mut o) = v else { panic!("no object at {p}") };
        v = o.shift_remove(*p).unwrap_or_else(|| panic!("no key {p}"));
    }
    let async_graphql::Value::Object(o) = v else { panic!("not an object at {path:?}") };
    o.keys().map(|k| k.to_string()).collect()
}

async fn post_raw(app: &TestApp, body: Value, accept: &str) -> (reqwest::StatusCode, String) {
    let r = app.client.post(format!("{}/graphql", app.url)).header("accept", accept).json(&body).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

/// Point 1: the same request gives the same bytes, in the request's field order, and so
/// one ETag; `If-None-Match` with it is a 304 every time.
async fn identical_requests_give_identical_bytes_and_one_etag(app: &TestApp) {
    let p = seed(app).await;
    let query = format!(
        r#"{{ project(id: "{p}") {{ name summary {{ capturedAt payload }}
            a: trend(metricKey: "tasks_completed", grain: DAY, from: "2026-03-01T00:00:00Z", to: "2026-03-05T00:00:00Z", fill: ZERO) {{ points {{ bucket value filled }} storedPoints }}
            b: breakdown(metricKey: "wip", dimensionKey: "state") {{ total items {{ dimensionValue share }} }}
            c: trends(metricKeys: ["tasks_completed", "other"], grain: DAY, from: "2026-03-01T00:00:00Z", to: "2026-03-03T00:00:00Z") {{ metricKey }}
            id createdAt }} projectList {{ edges {{ node {{ id name }} cursor }} }} }}"#
    );
    let url = format!("{}/graphql", app.url);
    let mut bodies = std::collections::BTreeSet::new();
    let mut etags = std::collections::BTreeSet::new();
    for _ in 0..50 {
        let r = app.client.get(&url).query(&[("query", &query)]).send().await.unwrap();
        assert_eq!(r.status(), 200);
        etags.insert(r.headers()["etag"].to_str().unwrap().to_owned());
        bodies.insert(r.bytes().await.unwrap().to_vec());
    }
    assert_eq!(bodies.len(), 1, "[{:?}] 50 identical requests gave {} bodies", app.backend, bodies.len());
    assert_eq!(etags.len(), 1, "[{:?}] 50 identical requests gave {} ETags", app.backend, etags.len());
    let body = bodies.first().unwrap();
    assert_eq!(keys(body, &["data"]), ["project", "projectList"]);
    assert_eq!(keys(body, &["data", "project"]), ["name", "summary", "a", "b", "c", "id", "createdAt"]);
    assert_eq!(keys(body, &["data", "project", "a"]), ["points", "storedPoints"]);
    let etag = etags.first().unwrap();
    for _ in 0..10 {
        let r = app.client.get(&url).query(&[("query", &query)]).header("if-none-match", etag).send().await.unwrap();
        assert_eq!(r.status(), 304, "[{:?}] a matching If-None-Match is a 304", app.backend);
    }
}

/// Point 2: a failing field is `null`, with its error at its path, and its siblings stay;
/// the per-project analytic fields are nullable, so the null stops there.
async fn a_failing_field_is_null_and_its_siblings_stay(app: &TestApp) {
    let p = seed(app).await;
    let q = format!(
        r#"{{ project(id: "{p}") {{ name
            good: trend(metricKey: "tasks_completed", grain: DAY, from: "2026-03-01T00:00:00Z", to: "2026-03-03T00:00:00Z") {{ points {{ value }} }}
            bad: trend(metricKey: "tasks_completed", grain: DAY, from: "2026-03-03T00:00:00Z", to: "2026-03-01T00:00:00Z") {{ points {{ value }} }}
            worse: breakdown(metricKey: "wip", dimensionKey: "state", bucket: "2026-03-01T00:00:00Z") {{ total }}
            id }} }}"#
    );
    let (status, text) = post_raw(app, json!({"query": q}), "application/json").await;
    assert_eq!(status, 200);
    assert_eq!(keys(text.as_bytes(), &["data", "project"]), ["name", "good", "bad", "worse", "id"], "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    let project = &body["data"]["project"];
    assert_eq!(project["bad"], Value::Null);
    assert_eq!(project["worse"], Value::Null);
    assert_eq!(project["good"]["points"].as_array().map(Vec::len), Some(2));
    assert_eq!(project["name"], "Atlas");
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{body}");
    assert_eq!(errors[0]["path"], json!(["project", "bad"]));
    assert_eq!(errors[1]["path"], json!(["project", "worse"]));
    assert!(errors.iter().all(|e| e["extensions"]["code"] == "BAD_USER_INPUT"), "{body}");
}

/// Point 3: every argument with a default takes an optional variable: omitted and null
/// mean the default, a value is used.
async fn optional_variables_for_arguments_with_defaults(app: &TestApp) {
    let p = seed(app).await;
    project(&app.db, pid(2), "Borealis").await;
    let q = format!(
        r#"query($first: Int, $fill: GapFill, $order: DrilldownOrder, $ds: Boolean) {{
            project(id: "{p}") {{
              trend(metricKey: "tasks_completed", grain: DAY, from: "2026-03-01T00:00:00Z", to: "2026-03-05T00:00:00Z", fill: $fill, includeDownsampled: $ds) {{ fill points {{ filled }} }}
              trends(metricKeys: ["tasks_completed"], grain: DAY, from: "2026-03-01T00:00:00Z", to: "2026-03-05T00:00:00Z", fill: $fill, includeDownsampled: $ds) {{ fill }}
              trendsMatching(metricKey: "tasks_completed", grain: DAY, from: "2026-03-01T00:00:00Z", to: "2026-03-05T00:00:00Z", dimensions: {{}}, fill: $fill, includeDownsampled: $ds) {{ fill }}
              drilldown(metricKey: "m", entityType: "task", first: $first, orderBy: $order) {{ edges {{ cursor }} }}
              summaries(first: $first) {{ edges {{ cursor }} }}
            }}
            projectList(first: $first) {{ edges {{ cursor }} }} }}"#
    );
    for vars in [json!({}), json!({"first": null, "fill": null, "order": null, "ds": null})] {
        let d = app.data(&q, vars.clone()).await;
        assert_eq!(d["project"]["trend"]["fill"], "NONE", "{vars}: the default fill");
        assert_eq!(d["project"]["trend"]["points"].as_array().map(Vec::len), Some(3), "{vars}: stored points only");
        assert_eq!(d["project"]["trends"][0]["fill"], "NONE");
        assert_eq!(d["project"]["trendsMatching"][0]["fill"], "NONE");
        assert_eq!(d["projectList"]["edges"].as_array().map(Vec::len), Some(2), "{vars}: the default page");
        assert_eq!(d["project"]["summaries"]["edges"].as_array().map(Vec::len), Some(1));
    }
    let set = json!({"first": 1, "fill": "ZERO", "order": "TIME_BUCKET_DESC", "ds": true});
    let d = app.data(&q, set).await;
    assert_eq!(d["project"]["trend"]["fill"], "ZERO");
    assert_eq!(d["project"]["trends"][0]["fill"], "ZERO");
    assert_eq!(d["projectList"]["edges"].as_array().map(Vec::len), Some(1));
    // A bad value for one of them is still refused, naming it.
    let (code, message) = app.error(&q, json!({"first": "ten"})).await;
    assert_eq!(code, "BAD_USER_INPUT");
    assert!(message.contains("$first") && message.contains("integer"), "{message}");
}

/// Point 5: every bad argument or variable value is `BAD_USER_INPUT` naming the variable
/// (or argument) and the format, whichever phase of the executor noticed it.
async fn bad_values_are_bad_user_input_naming_variable_and_format(app: &TestApp) {
    let p = seed(app).await;
    let trend = "query($from: DateTime!) { project(id: \"ID\") { trend(metricKey: \"x\", grain: DAY, from: $from, to: \"2026-03-02T00:00:00Z\") { fill } } }".replace("ID", &p.to_string());
    let cases = [
        (trend.clone(), json!({"from": "yesterday"}), ["$from", "`from`", "RFC 3339", "\"yesterday\""]),
        (
            "query($id: UUID!) { project(id: $id) { name } }".into(),
            json!({"id": "nope"}),
            ["$id", "`id`", "UUID", "\"nope\""],
        ),
        (
            trend.replace("grain: DAY", "grain: $g").replace("$from: DateTime!", "$from: DateTime!, $g: TimeGrain!"),
            json!({"from": "2026-03-01T00:00:00Z", "g": "DAYS"}),
            ["$g", "`grain`", "HOUR, DAY, WEEK, MONTH", "\"DAYS\""],
        ),
        (
            format!("{{ project(id: \"{p}\") {{ trend(metricKey: \"x\", grain: DAY, from: \"2026-03-01\", to: \"2026-03-02T00:00:00Z\") {{ fill }} }} }}"),
            json!({}),
            ["argument `from`", "`trend`", "RFC 3339", "\"2026-03-01\""],
        ),
    ];
    for (q, vars, needles) in cases {
        let body = app.gql(&q, vars.clone()).await;
        let errors = body["errors"].as_array().expect("errors");
        assert_eq!(errors.len(), 1, "one error per bad value: {body}");
        assert_eq!(errors[0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
        let message = errors[0]["message"].as_str().unwrap();
        for n in needles {
            assert!(message.contains(n), "{vars}: {message:?} lacks {n:?}");
        }
    }
    // An unknown field: "Did you mean".
    let (code, message) = app.error("{ projectList { edgs { cursor } } }", json!({})).await;
    assert_eq!(code, "GRAPHQL_VALIDATION_FAILED");
    assert!(message.contains("Did you mean \"edges\"?"), "{message}");
}

/// Point 5, request errors: a missing `query` said as such, a body that is not JSON
/// without a bogus location, the request id on every request-level error, no `data` when
/// nothing was executed, and a POST without a content type refused.
async fn request_errors_are_said_plainly(app: &TestApp) {
    for accept in ["application/json", "application/graphql-response+json"] {
        let (status, text) = post_raw(app, json!({"quer": "{ __typename }"}), accept).await;
        assert_eq!(status, 400, "{accept}: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert!(body.get("data").is_none(), "no data entry: {text}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_REQUEST");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("no `query`"), "{text}");
        assert!(body["errors"][0]["extensions"]["requestId"].is_string(), "{text}");

        let (status, text) = post_raw(app, json!({"query": "{ nope }"}), accept).await;
        let body: Value = serde_json::from_str(&text).unwrap();
        assert!(body.get("data").is_none(), "{accept}: a validation failure has no data entry: {text}");
        let expected = if accept == "application/json" { 200 } else { 400 };
        assert_eq!(status, expected, "{text}");
    }
    let r = app
        .client
        .post(format!("{}/graphql", app.url))
        .header("content-type", "application/json")
        .header("x-request-id", "req-42")
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_REQUEST");
    assert_eq!(body["errors"][0]["extensions"]["requestId"], "req-42", "{body}");
    assert!(body["errors"][0].get("locations").is_none(), "no 0:0 location: {body}");
    assert!(body.get("data").is_none(), "{body}");
    // A refusal before execution (the batch limit) carries the request id too.
    let batch: Vec<Value> = (0..11).map(|_| json!({"query": "{ __typename }"})).collect();
    let (_, text) = post_raw(app, Value::from(batch), "application/json").await;
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["errors"][0]["extensions"]["limit"], "max_batch", "{text}");
    assert!(body["errors"][0]["extensions"]["requestId"].is_string(), "{text}");
    // A POST body that does not say it is JSON (none, or `text/plain` as a browser form
    // or a "simple" CORS request sends it) is refused, even when it is JSON.
    let json = r#"{"query":"{ __typename }"}"#;
    let r = app.client.post(format!("{}/graphql", app.url)).body(json).send().await.unwrap();
    assert_eq!(r.status(), 415);
    let r = app
        .client
        .post(format!("{}/graphql", app.url))
        .header("content-type", "text/plain")
        .body(json)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = app
        .client
        .post(format!("{}/graphql", app.url))
        .header("content-type", "Application/JSON; charset=utf-8")
        .body(json)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// Point 7: `GET /schema.graphql` serves the committed SDL, which has real scalar
/// descriptions and the scalars' `@specifiedBy`, as introspection shows them.
async fn the_served_sdl_is_the_committed_one(app: &TestApp) {
    let r = app.client.get(format!("{}/schema.graphql", app.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let served = r.text().await.unwrap();
    assert_eq!(served, metrics_api::graphql::sdl());
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    assert_eq!(served, committed, "schema.graphql is stale: run `cargo run -- schema > schema.graphql`");
    assert!(served.contains(r#"scalar DateTime @specifiedBy(url: "https://datatracker.ietf.org/doc/html/rfc3339")"#));
    assert!(!served.contains("Implement the"), "no library boilerplate in descriptions");
    let d = app.data(r#"{ __type(name: "DateTime") { description specifiedByURL } }"#, json!({})).await;
    assert!(d["__type"]["description"].as_str().unwrap().starts_with("An instant, as an RFC 3339"), "{d}");
}

/// Point 8: `DateTime` comes out in UTC with `Z`; any offset goes in.
async fn datetime_output_ends_in_z(app: &TestApp) {
    let p = seed(app).await;
    let q = format!(
        r#"{{ project(id: "{p}") {{ createdAt summary {{ capturedAt }}
            trend(metricKey: "tasks_completed", grain: DAY, from: "2026-03-01T02:00:00+02:00", to: "2026-03-03T00:00:00Z") {{ from to lastComputedAt points {{ bucket computedAt }} }} }} }}"#
    );
    let d = app.data(&q, json!({})).await;
    let t = &d["project"]["trend"];
    assert_eq!(t["from"], "2026-03-01T00:00:00Z", "+02:00 in, the same instant in UTC out");
    assert_eq!(t["points"][0]["bucket"], "2026-03-01T00:00:00Z");
    assert_eq!(t["points"][0]["computedAt"], "2026-03-01T00:01:00Z");
    assert_eq!(d["project"]["createdAt"], "2026-01-01T00:00:00Z");
    assert_eq!(d["project"]["summary"]["capturedAt"], "2026-03-03T06:00:00Z");
    assert!(!d.to_string().contains("+00:00"), "{d}");
}

/// Point 9: `storedPoints` tells "no such series" from a series of zeros; no negative
/// zero anywhere (a breakdown of nothing sums to `0.0`, not `-0.0`).
async fn stored_points_tell_no_such_series_from_zeros(app: &TestApp) {
    let p = seed(app).await;
    let q = format!(
        r#"{{ project(id: "{p}") {{
            typo: trend(metricKey: "tasks_complete", grain: DAY, from: "2026-03-01T00:00:00Z", to: "2026-03-05T00:00:00Z", fill: ZERO) {{ storedPoints points {{ value filled }} }}
            real: trend(metricKey: "tasks_completed", grain: DAY, from: "2026-03-01T00:00:00Z", to: "2026-03-05T00:00:00Z", fill: ZERO) {{ storedPoints }}
            none: breakdown(metricKey: "nope", dimensionKey: "state") {{ total items {{ value }} }} }} }}"#
    );
    let (status, text) = post_raw(app, json!({"query": q}), "application/json").await;
    assert_eq!(status, 200);
    let d: Value = serde_json::from_str(&text).unwrap();
    let d = &d["data"]["project"];
    assert_eq!(d["typo"]["storedPoints"], 0, "{d}");
    assert!(d["typo"]["points"].as_array().unwrap().iter().all(|p| p["value"] == 0.0 && p["filled"] == true));
    assert_eq!(d["real"]["storedPoints"], 3);
    assert_eq!(d["none"]["items"], json!([]));
    assert!(text.contains(r#""total":0.0"#), "{text}");
    assert!(!text.contains("-0"), "no negative zero: {text}");
}

/// Point 10: tokens and directives per document are limited, each with its own code.
async fn token_and_directive_limits(app: &TestApp) {
    let skips = "@skip(if: false) ".repeat(60);
    let body = app.gql(&format!("{{ __typename {skips} }}"), json!({})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "LIMIT_EXCEEDED", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["limit"], "max_directives", "{body}");
    // 2,000 of them (the issue's document) stop at the token count, before parsing.
    let skips = "@skip(if: false) ".repeat(2000);
    let started = std::time::Instant::now();
    let body = app.gql(&format!("{{ __typename {skips} }}"), json!({})).await;
    assert_eq!(body["errors"][0]["extensions"]["limit"], "max_tokens", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["max"], 10_000);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    let long: String = (0..4000).map(|i| format!("a{i}: __typename ")).collect();
    let body = app.gql(&format!("{{ {long} }}"), json!({})).await;
    assert_eq!(body["errors"][0]["extensions"]["limit"], "max_tokens", "{body}");
}

both_backends!(
    identical_requests_give_identical_bytes_and_one_etag,
    a_failing_field_is_null_and_its_siblings_stay,
    optional_variables_for_arguments_with_defaults,
    bad_values_are_bad_user_input_naming_variable_and_format,
    request_errors_are_said_plainly,
    the_served_sdl_is_the_committed_one,
    datetime_output_ends_in_z,
    stored_points_tell_no_such_series_from_zeros,
    token_and_directive_limits,
);

/// Point 10: the limits are configurable like the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_and_directive_limits_are_configurable() {
    let limits = QueryLimits { max_tokens: 500, max_directives: 100, ..QueryLimits::default() };
    let config =
        ServerConfig { schema: SchemaConfig { query_limits: limits, ..Default::default() }, ..Default::default() };
    let app = TestApp::sqlite_with(config).await;
    let skips = "@skip(if: false) ".repeat(60);
    app.data(&format!("{{ __typename {skips} }}"), json!({})).await;
    let skips = "@skip(if: false) ".repeat(80);
    let body = app.gql(&format!("{{ __typename {skips} }}"), json!({})).await;
    assert_eq!(body["errors"][0]["extensions"]["limit"], "max_tokens", "80 x 7 tokens: {body}");
    assert_eq!(body["errors"][0]["extensions"]["max"], 500);
    // With introspection off, the SDL is not served either.
    app.finish().await;
    let limits = QueryLimits { introspection: false, ..QueryLimits::default() };
    let config =
        ServerConfig { schema: SchemaConfig { query_limits: limits, ..Default::default() }, ..Default::default() };
    let app = TestApp::sqlite_with(config).await;
    let r = app.client.get(format!("{}/schema.graphql", app.url)).send().await.unwrap();
    assert_eq!(r.status(), 404);
    app.finish().await;
}

/// Point 11: the server's log has no colour codes when stderr is not a terminal.
#[test]
fn logs_have_no_colour_codes_off_a_terminal() {
    use std::io::BufRead;
    let dir = std::env::temp_dir().join(format!("metrics-api-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_metrics-api"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("DATABASE_URL", format!("sqlite://{}/log.db?mode=rwc", dir.display()))
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the binary");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The start-up warning (auth is off) is the line to look at.
    let mut seen = Vec::new();
    while let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(20)) {
        let done = line.contains("authentication is off");
        seen.push(line);
        if done {
            break;
        }
    }
    child.kill().ok();
    child.wait().ok();
    std::fs::remove_dir_all(&dir).ok();
    assert!(seen.iter().any(|l| l.contains("WARN")), "the server logged: {seen:?}");
    assert!(seen.iter().all(|l| !l.contains('\u{1b}')), "escape codes in a piped log: {seen:?}");
}
