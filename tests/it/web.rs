//! The browser pages through the real router: asset routes and their types and cache
//! headers, the vendored files against their manifest, no absolute URL in a served page,
//! `--no-dashboard`, and the dashboard's operations on demo data on both backends. (The
//! pages themselves run in a real browser in `tests/browser/`.)

use crate::common::TestApp;
use metrics_api::http::ServerConfig;
use metrics_api::web::{assets, dashboard};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

async fn get(app: &TestApp, path: &str, accept: &str) -> reqwest::Response {
    app.client.get(format!("{}{path}", app.url)).header("accept", accept).send().await.unwrap()
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers().get(name).map(|v| v.to_str().unwrap()).unwrap_or_default()
}

/// The `src` and `href` values of an HTML page.
fn links(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let end = rest.find('"').unwrap();
            out.push(rest[..end].replace("&amp;", "&"));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_are_served_with_their_types_and_cache_headers() {
    let app = TestApp::sqlite().await;
    for asset in assets::ASSETS {
        let r = get(&app, &format!("/assets/{}", asset.path), "*/*").await;
        assert_eq!(r.status(), 200, "{}", asset.path);
        let expected = match asset.path.rsplit('.').next().unwrap() {
            "js" => "text/javascript; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "json" => "application/json",
            "LICENSE" => "text/plain; charset=utf-8",
            other => panic!("no expected type for .{other}"),
        };
        assert_eq!(header(&r, "content-type"), expected, "{}", asset.path);
        assert_eq!(header(&r, "x-content-type-options"), "nosniff");
        let cache = header(&r, "cache-control").to_owned();
        if asset.path.starts_with("vendor/") {
            // Versioned URLs: cached for a year.
            assert_eq!(cache, "public, max-age=31536000, immutable", "{}", asset.path);
        } else {
            // The project's own files without the current hash: revalidated.
            assert_eq!(cache, "no-cache", "{}", asset.path);
        }
        assert_eq!(r.bytes().await.unwrap().as_ref(), asset.body, "{}", asset.path);
    }
    // Linked as the pages link them (with the hash of their content), own files are
    // cached long too; an old hash is not.
    let current = assets::url(assets::DASHBOARD_JS);
    assert!(current.contains("?v="), "{current}");
    let r = get(&app, &current, "*/*").await;
    assert_eq!(header(&r, "cache-control"), "public, max-age=31536000, immutable");
    let r = get(&app, "/assets/app/dashboard.js?v=0000000000000000", "*/*").await;
    assert_eq!(header(&r, "cache-control"), "no-cache");
    // Unknown paths, including one that would climb out of the folder on a file server
    // (assets are a table, not files).
    for path in ["/assets/nope.js", "/assets/vendor%2F..%2F..%2FCargo.toml", "/assets/"] {
        assert_eq!(get(&app, path, "*/*").await.status(), 404, "{path}");
    }
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vendored_files_match_their_manifest() {
    let app = TestApp::sqlite().await;
    let manifest: Vec<Value> = serde_json::from_str(include_str!("../../src/web/assets/vendor/MANIFEST.json")).unwrap();
    assert_eq!(manifest.len(), 6);
    for entry in &manifest {
        let (name, version, file) =
            (entry["name"].as_str().unwrap(), entry["version"].as_str().unwrap(), entry["file"].as_str().unwrap());
        assert_eq!(entry["license"], "MIT", "{name}");
        let path = format!("/assets/vendor/{name}@{version}/{file}");
        let r = get(&app, &path, "*/*").await;
        assert_eq!(r.status(), 200, "{path}: served under its package's version");
        let sha = format!("{:x}", Sha256::digest(r.bytes().await.unwrap()));
        assert_eq!(sha, entry["sha256"].as_str().unwrap(), "{path}: the file of {name}@{version} as published");
        let license = get(&app, &format!("/assets/vendor/{}", entry["licenseFile"].as_str().unwrap()), "*/*").await;
        assert_eq!(license.status(), 200);
        assert!(license.text().await.unwrap().contains("MIT License"), "{name}: licence text");
    }
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_served_page_names_an_absolute_url() {
    let app = TestApp::sqlite().await;
    for path in ["/", "/graphql"] {
        let r = get(&app, path, "text/html").await;
        assert_eq!(r.status(), 200, "{path}");
        assert!(header(&r, "content-type").starts_with("text/html"), "{path}");
        assert_eq!(header(&r, "content-security-policy"), metrics_api::web::CONTENT_SECURITY_POLICY);
        assert!(metrics_api::web::CONTENT_SECURITY_POLICY.starts_with("default-src 'self';"));
        assert_eq!(header(&r, "cache-control"), "no-cache", "{path}");
        let html = r.text().await.unwrap();
        assert!(!html.contains("http://") && !html.contains("https://"), "{path} names an absolute URL");
        let linked = links(&html);
        assert!(linked.len() >= 3, "{path}: {linked:?}");
        for link in linked {
            assert!(
                link.starts_with('/') && !link.starts_with("//") || link.starts_with("data:"),
                "{path} links {link}"
            );
            if link.starts_with("/assets/") {
                let asset = get(&app, &link, "*/*").await;
                assert_eq!(asset.status(), 200, "{link}");
                if link.starts_with("/assets/app/") {
                    let text = asset.text().await.unwrap();
                    assert!(!text.contains("http://") && !text.contains("https://"), "{link} names an absolute URL");
                }
            }
        }
    }
    // The vendored stylesheets pull nothing in (fonts and icons are data: URIs).
    for css in [assets::GRAPHIQL_CSS, assets::UPLOT_CSS] {
        let text = get(&app, &format!("/assets/{css}"), "*/*").await.text().await.unwrap();
        assert!(!text.contains("@import"), "{css}");
        assert!(!text.contains("url(http") && !text.contains("url(\"http") && !text.contains("url('http"), "{css}");
    }
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_opens_on_the_request_day() {
    let app = TestApp::sqlite().await;
    let html = get(&app, "/graphql", "text/html").await.text().await.unwrap();
    let today = chrono::Utc::now().format("%Y-%m-%dT00:00:00Z").to_string();
    assert!(html.contains(&today), "the default query ends today: {html}");
    for asset in [assets::GRAPHIQL_JS, assets::GRAPHIQL_CSS, assets::REACT_JS, assets::REACT_DOM_JS] {
        assert!(html.contains(&assets::url(asset)), "{asset}");
    }
    // React's production builds, not the development ones.
    assert!(assets::REACT_JS.ends_with(".production.min.js") && assets::REACT_DOM_JS.ends_with(".production.min.js"));
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_dashboard_leaves_only_the_api_and_graphiql() {
    let app = TestApp::sqlite_with(ServerConfig { dashboard: false, ..ServerConfig::default() }).await;
    assert_eq!(get(&app, "/", "text/html").await.status(), 404);
    assert_eq!(get(&app, "/graphql", "text/html").await.status(), 200, "GraphiQL stays");
    assert_eq!(get(&app, &format!("/assets/{}", assets::GRAPHIQL_JS), "*/*").await.status(), 200);
    app.finish().await;
    // The default serves it.
    let app = TestApp::sqlite().await;
    let r = get(&app, "/", "text/html").await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("query DashboardPage"));
    app.finish().await;
}

/// The variables the page sends for its first paint (see `assets/dashboard.js`).
fn page_vars(id: Option<&str>, after: Option<&str>) -> Value {
    let to = metrics_api::buckets::truncate(entity::sea_orm_active_enums::TimeGrain::Day, chrono::Utc::now());
    let from = to - chrono::Duration::days(30);
    json!({
        "id": id.unwrap_or("00000000-0000-0000-0000-000000000000"),
        "hasId": id.is_some(),
        "metricKey": "tasks_completed", "grain": "DAY", "fill": "ZERO",
        "from": from.to_rfc3339(), "to": to.to_rfc3339(),
        "breakdownMetric": "wip", "dimensionKey": "state", "breakdownGrain": "DAY",
        "drilldownMetric": "task_cycle_time", "entityType": "task",
        "first": 10, "orderBy": "TIME_BUCKET_DESC", "after": after,
    })
}

/// The page's operations, as it sends them, on the demo data.
async fn dashboard_operations_run_on_demo_data(app: &TestApp) {
    metrics_api::demo::seed(&app.db, chrono::Utc::now()).await.unwrap();
    let docs = dashboard::documents(dashboard::OPERATIONS);

    // First paint without a chosen project: the first one, whole, in one request.
    let d = app.data(&docs["DashboardPage"], page_vars(None, None)).await;
    assert!(d.get("project").is_none(), "skipped without an id");
    let names: Vec<&str> =
        d["projectList"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Atlas", "Borealis", "Cygnus"]);
    assert!(d["metricCatalog"].as_array().unwrap().iter().any(|m| m["key"] == "tasks_completed"));
    let atlas = &d["firstProject"]["edges"][0]["node"];
    assert_eq!(atlas["name"], "Atlas");
    assert!(atlas["summary"]["payload"].is_object());
    assert_eq!(atlas["trend"]["points"].as_array().unwrap().len(), 30);
    assert_eq!(atlas["trend"]["comparison"]["points"].as_array().unwrap().len(), 30);
    assert_eq!(atlas["breakdown"]["items"].as_array().unwrap().len(), 4);
    assert_eq!(atlas["breakdownSeries"].as_array().unwrap().len(), 30);
    assert_eq!(atlas["drilldown"]["edges"].as_array().unwrap().len(), 10);

    // A chosen project.
    let borealis = "01950000-0000-7000-8000-000000000002";
    let d = app.data(&docs["DashboardPage"], page_vars(Some(borealis), None)).await;
    assert!(d.get("firstProject").is_none(), "skipped with an id");
    assert_eq!(d["project"]["name"], "Borealis");
    let first_page = d["project"]["drilldown"].clone();

    // An unknown project: null, and the rest still answers.
    let d = app.data(&docs["DashboardPage"], page_vars(Some("00000000-0000-0000-0000-0000000000ff"), None)).await;
    assert!(d["project"].is_null());
    assert_eq!(d["projectList"]["edges"].as_array().unwrap().len(), 3);

    // Another metric: the trend alone.
    let mut vars = page_vars(Some(borealis), None);
    vars["metricKey"] = json!("task_cycle_time");
    let trend_vars: serde_json::Map<String, Value> = vars
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| ["id", "metricKey", "grain", "from", "to", "fill"].contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let d = app.data(&docs["DashboardTrend"], Value::Object(trend_vars)).await;
    assert_eq!(d["project"]["trend"]["metricKey"], "task_cycle_time");
    assert_eq!(d["project"]["trend"]["points"].as_array().unwrap().len(), 30);

    // The next drilldown page: other rows.
    let after = first_page["pageInfo"]["endCursor"].as_str().unwrap();
    let d = app
        .data(
            &docs["DashboardDrilldown"],
            json!({ "id": borealis, "drilldownMetric": "task_cycle_time", "entityType": "task",
                    "first": 10, "orderBy": "TIME_BUCKET_DESC", "after": after }),
        )
        .await;
    let ids = |c: &Value| -> Vec<String> {
        c["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].as_str().unwrap().to_owned()).collect()
    };
    let (one, two) = (ids(&first_page), ids(&d["project"]["drilldown"]));
    assert_eq!(two.len(), 10);
    assert!(one.iter().all(|id| !two.contains(id)), "pages do not overlap");
}

both_backends!(dashboard_operations_run_on_demo_data);
