//! Security and resilience: project-scoped tokens, query limits, timeouts, CORS, and a
//! catalogue of hostile requests against one live server.

use std::sync::Arc;
use std::time::Duration;

use crate::common::fixtures::{self, pid};
use crate::common::tokens::hs256 as tokens_hs256;
use crate::common::{Backend, TestApp};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use metrics_api::auth::{AllProjects, AuthConfig, Claims, ProjectsClaim};
use metrics_api::graphql::limits::QueryLimits;
use metrics_api::graphql::SchemaConfig;
use metrics_api::http::ServerConfig;
use serde_json::{json, Value};
use uuid::Uuid;

const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";
const ISSUER: &str = "metrics-tests";
const AUDIENCE: &str = "dashboards";

fn auth() -> AuthConfig {
    AuthConfig::hs256(SECRET, Some(ISSUER.into()), Some(AUDIENCE.into())).unwrap()
}

pub(crate) fn secured() -> ServerConfig {
    ServerConfig { auth: Some(Arc::new(auth())), ..ServerConfig::default() }
}

fn token(projects: &[Uuid], scope: &str) -> String {
    auth().mint(ProjectsClaim::List(projects.to_vec()), scope, Duration::from_secs(600)).unwrap()
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn claims(projects: Value, scope: &str) -> Value {
    json!({ "exp": now() + 600, "iss": ISSUER, "aud": AUDIENCE, "projects": projects, "scope": scope })
}

async fn post(app: &TestApp, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = app.client.post(format!("{}/graphql", app.url)).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or_default()
}

pub(crate) async fn tokens_are_scoped_to_projects(app: &TestApp) {
    let (a, b) = (pid(1), pid(2));
    fixtures::project(&app.db, a, "A").await;
    fixtures::project(&app.db, b, "B").await;
    fixtures::summary(&app.db, b, "2026-03-01T00:00:00Z", None, json!({"secret": true})).await;
    let read_a = token(&[a], "metrics:read");

    let (status, body) = post(app, None, json!({ "query": "{ metricCatalog { key } }" })).await;
    assert_eq!((status, code(&body)), (401, "UNAUTHENTICATED"), "{body}");

    let q = "query($id: UUID!) { project(id: $id) { id name summary { payload } } }";
    let (status, body) = post(app, Some(&read_a), json!({ "query": q, "variables": { "id": a } })).await;
    assert_eq!((status, body["data"]["project"]["name"].as_str()), (200, Some("A")), "{body}");
    for other in [b, Uuid::from_u128(404)] {
        let (_, body) = post(app, Some(&read_a), json!({ "query": q, "variables": { "id": other } })).await;
        assert!(body["data"]["project"].is_null(), "{body}");
        assert_eq!(code(&body), "FORBIDDEN", "the same answer whether the project exists or not: {body}");
        assert_eq!(body["errors"][0]["path"], json!(["project"]));
        assert!(!body.to_string().contains("secret"));
    }
    let (_, body) = post(
        app,
        Some(&read_a),
        json!({ "query": "query($ids: [UUID!]!) { projects(ids: $ids) { id } projectList { edges { node { id } } } }", "variables": { "ids": [b, a] } }),
    )
    .await;
    assert_eq!(body["data"]["projects"], json!([null, { "id": a }]), "{body}");
    assert_eq!(body["data"]["projectList"]["edges"], json!([{ "node": { "id": a } }]));

    // Writing needs metrics:write, and every row's project must be allowed.
    let m = "mutation($p: [TrendPointInput!]!) { upsertTrendPoints(points: $p) { inserted } }";
    let row = |p: Uuid| json!({ "projectId": p, "metricKey": "m", "grain": "DAY", "bucket": "2026-03-01T00:00:00Z", "value": 1 });
    let (_, body) = post(app, Some(&read_a), json!({ "query": m, "variables": { "p": [row(a)] } })).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let write_a = token(&[a], "metrics:read metrics:write");
    let (_, body) = post(app, Some(&write_a), json!({ "query": m, "variables": { "p": [row(a), row(b)] } })).await;
    assert_eq!((code(&body), &body["errors"][0]["extensions"]["row"]), ("FORBIDDEN", &json!(1)), "{body}");
    let (_, body) = post(app, Some(&write_a), json!({ "query": m, "variables": { "p": [row(a)] } })).await;
    assert_eq!(body["data"]["upsertTrendPoints"]["inserted"], 1, "{body}");
    // A token without metrics:read reads nothing.
    let write_only = token(&[a], "metrics:write");
    let (_, body) = post(app, Some(&write_only), json!({ "query": q, "variables": { "id": a } })).await;
    assert_eq!(code(&body), "FORBIDDEN");
    // "*" allows every project.
    let all = auth().mint(ProjectsClaim::All(AllProjects::Star), "metrics:read", Duration::from_secs(60)).unwrap();
    let (_, body) = post(app, Some(&all), json!({ "query": q, "variables": { "id": b } })).await;
    assert_eq!(body["data"]["project"]["summary"]["payload"], json!({"secret": true}));
}

async fn bad_tokens_get_401(app: &TestApp) {
    let a = pid(1);
    let q = json!({ "query": "{ metricCatalog { key } }" });
    let p = json!([a]);
    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims(p.clone(), "metrics:read").to_string())
    );
    let cases: Vec<(&str, String)> = vec![
        ("garbage", "not.a.token".into()),
        (
            "expired",
            tokens_hs256(
                json!({ "exp": now() - 120, "iss": ISSUER, "aud": AUDIENCE, "projects": p, "scope": "metrics:read" }),
                SECRET,
            ),
        ),
        (
            "not yet valid",
            tokens_hs256(
                json!({ "exp": now() + 600, "nbf": now() + 300, "iss": ISSUER, "aud": AUDIENCE, "projects": p, "scope": "metrics:read" }),
                SECRET,
            ),
        ),
        ("other key", tokens_hs256(claims(p.clone(), "metrics:read"), b"another-secret-another-secret-another")),
        (
            "wrong issuer",
            tokens_hs256(
                json!({ "exp": now() + 600, "iss": "evil", "aud": AUDIENCE, "projects": p, "scope": "metrics:read" }),
                SECRET,
            ),
        ),
        (
            "wrong audience",
            tokens_hs256(
                json!({ "exp": now() + 600, "iss": ISSUER, "aud": "evil", "projects": p, "scope": "metrics:read" }),
                SECRET,
            ),
        ),
        (
            "no exp",
            tokens_hs256(json!({ "iss": ISSUER, "aud": AUDIENCE, "projects": p, "scope": "metrics:read" }), SECRET),
        ),
        ("bad projects claim", tokens_hs256(claims(json!(["not-a-uuid"]), "metrics:read"), SECRET)),
        ("alg none", alg_none),
    ];
    for (what, t) in cases {
        let (status, body) = post(app, Some(&t), q.clone()).await;
        assert_eq!((status, code(&body)), (401, "UNAUTHENTICATED"), "{what}: {body}");
    }
    let r = app
        .client
        .post(format!("{}/graphql", app.url))
        .header("authorization", "Basic eDp5")
        .json(&q)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    // The GraphiQL page needs no token (it holds no data).
    let r = app.client.get(format!("{}/graphql", app.url)).header("accept", "text/html").send().await.unwrap();
    assert_eq!(r.status(), 200);
}

async fn auth_cases(backend: Backend) {
    if let Some(app) = TestApp::on(backend, secured()).await {
        tokens_are_scoped_to_projects(&app).await;
        app.finish().await;
    }
    if let Some(app) = TestApp::on(backend, secured()).await {
        bad_tokens_get_401(&app).await;
        app.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es256_public_key_tokens() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let config = AuthConfig::public_key(std::path::Path::new(&format!("{dir}/es256-public.pem")), None, None).unwrap();
    let app = TestApp::sqlite_with(ServerConfig { auth: Some(Arc::new(config)), ..ServerConfig::default() }).await;
    let private = std::fs::read(format!("{dir}/es256-private.pem")).unwrap();
    let c = Claims {
        exp: now() + 60,
        nbf: None,
        iat: None,
        iss: None,
        aud: None,
        sub: None,
        projects: ProjectsClaim::All(AllProjects::Star),
        scope: "metrics:read".into(),
    };
    let t = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
        &c,
        &jsonwebtoken::EncodingKey::from_ec_pem(&private).unwrap(),
    )
    .unwrap();
    let (status, body) = post(&app, Some(&t), json!({ "query": "{ metricCatalog { key } }" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["metricCatalog"].as_array().unwrap().len(), 5);
    // An HS256 token (signed with the public key's bytes as a secret) is refused.
    let hs = tokens_hs256(
        json!({ "exp": now() + 60, "projects": "*", "scope": "metrics:read" }),
        &std::fs::read(format!("{dir}/es256-public.pem")).unwrap(),
    );
    assert_eq!(post(&app, Some(&hs), json!({ "query": "{ metricCatalog { key } }" })).await.0, 401);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_command_and_unauthenticated_bind() {
    let bin = env!("CARGO_BIN_EXE_metrics-api");
    let out = std::process::Command::new(bin)
        .args(["token", "--projects", &pid(1).to_string(), "--scope", "metrics:read", "--ttl", "5m"])
        .env("JWT_SECRET", std::str::from_utf8(SECRET).unwrap())
        .env("JWT_ISSUER", ISSUER)
        .env("JWT_AUDIENCE", AUDIENCE)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let t = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let who = auth().verify(&t).unwrap();
    assert!(who.read && !who.write && who.can_access(pid(1)) && !who.can_access(pid(2)));

    let file = std::env::temp_dir().join(format!("metrics-bind-{}.db", std::process::id()));
    let url = format!("sqlite://{}", file.display());
    let out = std::process::Command::new(bin)
        .args(["serve", "--bind", "0.0.0.0:0"])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to serve without authentication"));
    let mut child = std::process::Command::new(bin)
        .args(["serve", "--bind", "0.0.0.0:0", "--allow-unauthenticated"])
        .env("DATABASE_URL", &url)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(child.try_wait().unwrap().is_none(), "it serves with --allow-unauthenticated");
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("authentication is off"), "a warning is logged");
    let _ = std::fs::remove_file(file);
}

fn limited() -> ServerConfig {
    ServerConfig {
        schema: SchemaConfig {
            query_limits: QueryLimits {
                max_depth: 5,
                max_complexity: 2_000,
                max_aliases: 20,
                max_root_fields: 5,
                max_batch: 3,
                ..QueryLimits::default()
            },
            ..SchemaConfig::default()
        },
        ..ServerConfig::default()
    }
}

async fn limits_refuse_before_sql(app: &TestApp) {
    let p = pid(1);
    fixtures::project(&app.db, p, "a").await;
    // Depth 7: projectList > edges > node > trend > comparison > points > bucket.
    let deep = r#"{ projectList { edges { node { trend(metricKey: "m", grain: DAY, from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z") { comparison { points { bucket } } } } } } }"#.to_owned();
    let aliases: String = (0..21).map(|i| format!("a{i}: key ")).collect();
    let roots: String = (0..6).map(|_| "metricCatalog { key } ".to_string()).collect::<Vec<_>>().join("");
    let complex = format!(
        r#"{{ project(id: "{p}") {{ trend(metricKey: "m", grain: HOUR, from: "2026-01-01T00:00:00Z", to: "2026-03-01T00:00:00Z") {{ points {{ value }} }} }} }}"#
    );
    let cases: Vec<(String, &str)> = vec![
        (deep, "max_depth"),
        (format!("{{ metricCatalog {{ {aliases} }} }}"), "max_aliases"),
        (format!("{{ {roots} }}"), "max_root_fields"),
        (complex, "max_complexity"),
    ];
    for (q, limit) in cases {
        let (body, statements) = app.count_statements(app.gql(&q, json!({}))).await;
        assert_eq!(code(&body), "LIMIT_EXCEEDED", "{limit}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["limit"], limit, "{body}");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains(limit), "{body}");
        assert_eq!(statements, 0, "{limit}: no SQL ran");
    }
    let batch: Vec<Value> = (0..4).map(|_| json!({ "query": "{ __typename }" })).collect();
    let r = app.client.post(format!("{}/graphql", app.url)).json(&batch).send().await.unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["limit"], "max_batch", "{body}");
    // Within the limits, the same shapes work.
    let ok = format!(
        r#"{{ project(id: "{p}") {{ trend(metricKey: "m", grain: DAY, from: "2026-01-01T00:00:00Z", to: "2026-03-01T00:00:00Z") {{ points {{ value }} }} }} }}"#
    );
    app.data(&ok, json!({})).await;
}

async fn timeouts_answer_timeout(backend: Backend) {
    let config = ServerConfig {
        schema: SchemaConfig {
            query_limits: QueryLimits { timeout: Duration::ZERO, ..QueryLimits::default() },
            ..SchemaConfig::default()
        },
        ..ServerConfig::default()
    };
    let Some(app) = TestApp::on(backend, config).await else { return };
    fixtures::project(&app.db, pid(1), "a").await;
    let body = app.gql("{ projectList { edges { node { id summary { id } } } } }", json!({})).await;
    assert_eq!(code(&body), "TIMEOUT", "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("0 ms"));
    app.finish().await;
}

/// A statement blocked by a lock: the request times out, and the pool stays usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_statement_times_out_and_the_pool_recovers() {
    use sea_orm::{ConnectionTrait, Database, TransactionTrait};
    let config = ServerConfig {
        schema: SchemaConfig {
            query_limits: QueryLimits { timeout: Duration::from_millis(500), ..QueryLimits::default() },
            ..SchemaConfig::default()
        },
        ..ServerConfig::default()
    };
    let Some(app) = TestApp::postgres_with(config).await else { return };
    let p = pid(1);
    fixtures::project(&app.db, p, "a").await;
    fixtures::summary(&app.db, p, "2026-03-01T00:00:00Z", None, json!({"n": 1})).await;
    let locker = Database::connect(&app.database_url).await.unwrap();
    let txn = locker.begin().await.unwrap();
    txn.execute_unprepared("LOCK TABLE metrics_summary IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let q = format!(r#"{{ project(id: "{p}") {{ summary {{ payload }} }} }}"#);
    for _ in 0..3 {
        let body = app.gql(&q, json!({})).await;
        assert_eq!(code(&body), "TIMEOUT", "{body}");
    }
    txn.rollback().await.unwrap();
    let d = app.data(&q, json!({})).await;
    assert_eq!(d["project"]["summary"]["payload"], json!({"n": 1}), "connections came back clean");
    locker.close().await.ok();
    app.finish().await;
}

async fn introspection_off_and_cors(backend: Backend) {
    let config = ServerConfig {
        schema: SchemaConfig {
            query_limits: QueryLimits { introspection: false, ..QueryLimits::default() },
            ..SchemaConfig::default()
        },
        cors_origins: vec!["https://dash.example".into()],
        ..ServerConfig::default()
    };
    let Some(app) = TestApp::on(backend, config).await else { return };
    let body = app.gql("{ __schema { types { name } } __type(name: \"Project\") { name } }", json!({})).await;
    assert!(!body.to_string().contains("Project"), "introspection is off: {body}");
    assert!(body["data"]["__schema"].is_null() || body["errors"].is_array(), "{body}");
    // Ordinary queries still work.
    app.data("{ metricCatalog { key } }", json!({})).await;
    let pre = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.url))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type,authorization")
            .send()
    };
    let r = pre("https://dash.example").await.unwrap();
    assert_eq!(
        r.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap()),
        Some("https://dash.example")
    );
    let r = pre("https://evil.example").await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    app.finish().await;
}

async fn limits_case(backend: Backend) {
    if let Some(app) = TestApp::on(backend, limited()).await {
        limits_refuse_before_sql(&app).await;
        app.finish().await;
    }
}

/// A TCP proxy between the server and PostgreSQL that the test can cut and restore.
struct Proxy {
    addr: std::net::SocketAddr,
    up: Arc<std::sync::atomic::AtomicBool>,
    generation: Arc<std::sync::atomic::AtomicU64>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let generation = Arc::new(AtomicU64::new(0));
        let (up2, gen2) = (up.clone(), generation.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else { break };
                if !up2.load(Ordering::SeqCst) {
                    drop(client); // refused while cut
                    continue;
                }
                let (target, up3, gen3) = (target.clone(), up2.clone(), gen2.clone());
                let born = gen3.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&target).await else { return };
                    let copy = tokio::io::copy_bidirectional(&mut client, &mut server);
                    tokio::pin!(copy);
                    // Poll the copy, and drop both sockets when the proxy is cut.
                    loop {
                        tokio::select! {
                            _ = &mut copy => break,
                            _ = tokio::time::sleep(Duration::from_millis(20)) => {
                                if !up3.load(Ordering::SeqCst) || gen3.load(Ordering::SeqCst) != born {
                                    break;
                                }
                            }
                        }
                    }
                });
            }
        });
        Proxy { addr, up, generation }
    }

    fn cut(&self) {
        use std::sync::atomic::Ordering;
        self.up.store(false, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

fn pg_target() -> String {
    let url =
        std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let host = url.split_once('@').map(|(_, r)| r).unwrap_or("127.0.0.1:5432");
    host.split('/').next().unwrap_or("127.0.0.1:5432").to_owned()
}

/// Rows of `metrics_trend_point`, read directly (not through the proxy).
async fn trend_rows(db: &sea_orm::DatabaseConnection) -> i64 {
    use sea_orm::ConnectionTrait;
    let sql = "SELECT COUNT(*) AS n FROM metrics_trend_point";
    let row =
        db.query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, sql)).await.unwrap().unwrap();
    row.try_get("", "n").unwrap()
}

/// The database goes away: requests fail fast with SERVICE_UNAVAILABLE, /readyz says 503,
/// and the server serves again without a restart when the database is back. A mutation
/// cut off mid-way leaves nothing behind, and its retry lands once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_fails_fast_and_recovers() {
    let proxy = Proxy::start(pg_target()).await;
    let pool = metrics_api::db::PoolSettings { acquire_timeout: Duration::from_secs(2), ..Default::default() };
    let Some(app) = TestApp::postgres_via(proxy.addr, pool).await else { return };
    let p = pid(1);
    let q = "{ projectList { edges { node { id } } } }";
    app.data(q, json!({})).await;

    proxy.cut();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let body = app.gql(q, json!({})).await;
    assert_eq!(code(&body), "SERVICE_UNAVAILABLE", "{body}");
    assert!(started.elapsed() < Duration::from_secs(6), "fails fast: {:?}", started.elapsed());
    assert!(!body.to_string().to_lowercase().contains("connection refused"), "no internals: {body}");
    assert_eq!(app.client.get(format!("{}/readyz", app.url)).send().await.unwrap().status(), 503);

    proxy.restore();
    let mut back = false;
    for _ in 0..50 {
        if app.client.get(format!("{}/readyz", app.url)).send().await.unwrap().status() == 200 {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "ready again without a restart");
    app.data(q, json!({})).await;

    // A big mutation, cut while it runs.
    let rows: Vec<Value> = (0..5000)
        .map(|h| json!({ "projectId": p, "metricKey": "m", "grain": "HOUR", "bucket": (fixtures::t("2026-01-01T00:00:00Z") + chrono::Duration::hours(h)).to_rfc3339(), "value": h }))
        .collect();
    let m = "mutation($p: [TrendPointInput!]!) { upsertTrendPoints(points: $p) { inserted updated unchanged } }";
    let send = app.gql(m, json!({ "p": rows }));
    let cut = async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        proxy.cut();
    };
    let (body, ()) = tokio::join!(send, cut);
    proxy.restore();
    let direct =
        sea_orm::Database::connect(app.database_url.replace(&proxy.addr.to_string(), &pg_target())).await.unwrap();
    let n = trend_rows(&direct).await;
    if body.get("errors").is_some() {
        // Cut before the commit: nothing. Cut between the commit and the answer: all of it.
        assert!(n == 0 || n == 5000, "a cut-off batch is never half-written: {n} rows: {body}");
    } else {
        assert_eq!(n, 5000, "the batch landed whole before the cut");
    }
    // The retry lands once.
    let mut retried = None;
    for _ in 0..50 {
        let body = app.gql(m, json!({ "p": rows })).await;
        if body.get("errors").is_none() {
            retried = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let retried = retried.expect("the retry succeeds once the database is back");
    let c = &retried["data"]["upsertTrendPoints"];
    assert_eq!(c["inserted"].as_i64().unwrap() + c["unchanged"].as_i64().unwrap(), 5000);
    assert_eq!(trend_rows(&direct).await, 5000);
    direct.close().await.ok();
    app.finish().await;
}

each_backend!(auth_cases, timeouts_answer_timeout, introspection_off_and_cors, limits_case);
