//! The citus layout on a real cluster (`common::citus`: a coordinator and two workers of
//! our own, on free ports): the migrations and `layout::apply(Citus)` on the coordinator,
//! then the API over the coordinator, compared with the same data on plain PostgreSQL:
//! the dashboard's operations answer the same JSON, the same batch sent twice (GraphQL
//! and NDJSON) changes nothing, retention leaves the same rows and a second run does
//! nothing (the scheduled run's advisory lock works on the coordinator), live
//! subscriptions fire. And where a project's rows are: on one worker, which
//! is the only one a one-project dashboard reaches.
//!
//! Skipped with a notice when Citus is not installed, unless `REQUIRE_CITUS=1`.

use chrono::{DateTime, Duration, Utc};
use entity::sea_orm_active_enums::TimeGrain;
use metrics_api::catalog::Catalog;
use metrics_api::http::ServerConfig;
use metrics_api::retention::schedule::{run_once, Tick, ADVISORY_LOCK_KEY};
use metrics_api::retention::{self, Options, Policy};
use metrics_api::store::ReadShape;
use metrics_api::web::dashboard;
use migration::layout::{self, Layout};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use serde_json::{json, Value};

use crate::common::citus::CitusCluster;
use crate::common::TestApp;
use crate::live::WsClient;

const TABLES: [&str; 4] = ["metrics_summary", "metrics_trend_point", "metrics_breakdown_point", "metrics_drilldown"];

/// The demo projects (`metrics_api::demo::PROJECTS`): Atlas, Borealis, Cygnus.
fn demo_projects() -> Vec<String> {
    metrics_api::demo::PROJECTS.iter().map(|(id, _)| uuid::Uuid::from_u128(*id).to_string()).collect()
}

/// The `now` both databases are seeded at and the reads are asked at.
fn now() -> DateTime<Utc> {
    metrics_api::buckets::truncate(TimeGrain::Day, Utc::now())
}

/// A migrated coordinator converted to the citus layout, and a server over it.
async fn citus_app(cluster: &CitusCluster) -> TestApp {
    convert(cluster).await;
    TestApp::postgres_at(&cluster.coordinator_url(), ServerConfig::default()).await
}

/// Migrates the coordinator and converts it to the citus layout.
async fn convert(cluster: &CitusCluster) {
    let db = Database::connect(cluster.coordinator_url()).await.expect("connect to the coordinator");
    Migrator::up(&db, None).await.expect("migrations on the coordinator");
    layout::apply(&db, Layout::Citus).await.expect("citus layout");
    assert_eq!(layout::current(&db).await.unwrap(), Layout::Citus);
    db.close().await.ok();
}

async fn strings(db: &DatabaseConnection, sql: &str) -> Vec<String> {
    let rows = db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql.to_owned())).await.expect(sql);
    rows.iter().map(|r| r.try_get::<Option<String>>("", "s").expect("column s").unwrap_or_default()).collect()
}

/// Every row of the four tables as text, in id order, without the write times
/// (`computed_at`, `created_at`: the server's clock at the write).
async fn dump(db: &DatabaseConnection) -> Vec<String> {
    let mut out = Vec::new();
    for (table, cols) in [
        ("metrics_summary", "id, project_id, captured_at, version, scope, payload"),
        (
            "metrics_trend_point",
            "id, project_id, metric_key, time_grain, time_bucket, dimensions, value_numeric, value_json",
        ),
        (
            "metrics_breakdown_point",
            "id, project_id, metric_key, time_grain, time_bucket, dimension_key, dimension_value, value_numeric, value_json",
        ),
        ("metrics_drilldown", "id, project_id, metric_key, entity_type, entity_id, reference_id, time_bucket, payload"),
    ] {
        let sql = format!("SELECT '{table}: ' || CAST(ROW({cols}) AS text) AS s FROM {table} ORDER BY id");
        out.extend(strings(db, &sql).await);
    }
    out
}

/// The variables the dashboard page sends (see `tests/it/web.rs`), at [`now`].
fn page_vars(id: Option<&str>, metric: &str, after: Option<&str>) -> Value {
    let to = now();
    let from = to - Duration::days(30);
    json!({
        "id": id.unwrap_or("00000000-0000-0000-0000-000000000000"),
        "hasId": id.is_some(),
        "metricKey": metric, "grain": "DAY", "fill": "ZERO",
        "from": from.to_rfc3339(), "to": to.to_rfc3339(),
        "breakdownMetric": "wip", "dimensionKey": "state", "breakdownGrain": "DAY",
        "drilldownMetric": "task_cycle_time", "entityType": "task",
        "first": 10, "orderBy": "TIME_BUCKET_DESC", "after": after,
    })
}

/// The dashboard's reads: the page's operations (first paint, each project, another
/// metric, the next drilldown page), the TypeScript client's all-projects dashboard, and
/// a multi-project batch (the dataloaders' `IN (...)` and `UNION ALL` statements).
fn dashboard_requests() -> Vec<(String, Value)> {
    let page = dashboard::documents(dashboard::OPERATIONS);
    let mut out = vec![(page["DashboardPage"].clone(), page_vars(None, "tasks_completed", None))];
    for p in demo_projects() {
        out.push((page["DashboardPage"].clone(), page_vars(Some(&p), "tasks_completed", None)));
        let mut trend = page_vars(Some(&p), "task_cycle_time", None);
        trend
            .as_object_mut()
            .unwrap()
            .retain(|k, _| ["id", "metricKey", "grain", "from", "to", "fill"].contains(&k.as_str()));
        out.push((page["DashboardTrend"].clone(), trend));
    }
    let to = now();
    let range = json!({ "from": (to - Duration::days(30)).to_rfc3339(), "to": to.to_rfc3339() });
    out.push((include_str!("../../clients/typescript/src/operations/dashboard.graphql").to_owned(), range.clone()));
    let batch = r#"query($ids: [UUID!]!, $from: DateTime!, $to: DateTime!) { projects(ids: $ids) {
        id name summary { capturedAt payload }
        hourly: trend(metricKey: "tasks_completed", grain: HOUR, from: $from, to: $to) { points { bucket value } }
        teams: trendsMatching(metricKey: "tasks_completed", grain: DAY, from: $from, to: $to, dimensions: {}) { dimensions points { value } }
        breakdown(metricKey: "wip", dimensionKey: "state", grain: DAY) { bucket total items { dimensionValue value share } }
        breakdownSeries(metricKey: "wip", dimensionKey: "state", grain: DAY, from: $from, to: $to) { bucket total }
        drilldown(metricKey: "task_cycle_time", entityType: "task", first: 20) { edges { cursor node { id payload } } }
    } }"#;
    let mut vars = range;
    vars["ids"] = json!(demo_projects());
    out.push((batch.to_owned(), vars));
    out
}

/// Both servers answer `query` with the same JSON; returns it.
async fn same_answer(plain: &TestApp, citus: &TestApp, query: &str, vars: Value) -> Value {
    let a = plain.gql(query, vars.clone()).await;
    let b = citus.gql(query, vars.clone()).await;
    assert!(a.get("errors").is_none(), "plain PostgreSQL: {a:#}");
    assert_eq!(a, b, "the coordinator answers otherwise than plain PostgreSQL for {vars}");
    a
}

/// A batch of every kind for the three demo projects, on days the demo does not cover.
fn batch() -> Value {
    let days: Vec<String> = (1..=4).map(|d| format!("2024-02-{d:02}T00:00:00Z")).collect();
    let ps = demo_projects();
    json!({
        "s": ps.iter().flat_map(|p| days.iter().map(move |d| json!({ "projectId": p, "capturedAt": d, "payload": {"n": 1} }))).collect::<Vec<_>>(),
        "t": ps.iter().flat_map(|p| days.iter().map(move |d| json!({ "projectId": p, "metricKey": "ci", "grain": "DAY", "bucket": d, "dimensions": {"team": "a"}, "value": 1.5, "computedAt": "2024-03-01T00:00:00Z" }))).collect::<Vec<_>>(),
        "b": ps.iter().flat_map(|p| days.iter().map(move |d| json!({ "projectId": p, "metricKey": "ci", "grain": "DAY", "bucket": d, "dimensionKey": "state", "dimensionValue": "open", "value": 3.0, "computedAt": "2024-03-01T00:00:00Z" }))).collect::<Vec<_>>(),
        "d": ps.iter().flat_map(|p| (0..4).map(move |i| json!({ "projectId": p, "metricKey": "ci", "entityType": "task", "referenceId": format!("t-{i}"), "timeBucket": format!("2024-02-0{}T00:00:00Z", i + 1), "payload": {"i": i}, "computedAt": "2024-03-01T00:00:00Z" }))).collect::<Vec<_>>(),
    })
}

const WRITE: &str = r#"mutation($s: [SummaryInput!]!, $t: [TrendPointInput!]!, $b: [BreakdownPointInput!]!, $d: [DrilldownInput!]!) {
    recordSummaries(rows: $s) { inserted updated refreshed unchanged }
    upsertTrendPoints(points: $t) { inserted updated refreshed unchanged }
    upsertBreakdownPoints(points: $b) { inserted updated refreshed unchanged }
    upsertDrilldowns(rows: $d) { inserted updated refreshed unchanged }
}"#;

/// `metrics-api ingest FILE` against `url`; its stdout.
fn ingest_ndjson(url: &str, path: &std::path::Path) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_metrics-api"))
        .args(["ingest", path.to_str().unwrap()])
        .env("DATABASE_URL", url)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_on_the_coordinator_answers_like_plain_postgresql() {
    let Some(cluster) = CitusCluster::start().await else { return };
    let Some(plain) = TestApp::postgres().await else { return };
    let citus = citus_app(&cluster).await;

    // The keys: (project_id, id) on every table, and the write side's conflict target
    // follows from the catalog (the coordinator's shell tables carry the indexes).
    for table in TABLES {
        let pk = strings(
            &citus.db,
            &format!("SELECT pg_get_constraintdef(oid) AS s FROM pg_constraint WHERE conname = '{table}_pkey'"),
        )
        .await;
        assert_eq!(pk, ["PRIMARY KEY (project_id, id)"], "{table}");
    }
    let none: Vec<String> = Vec::new();
    assert_eq!(crate::sharding::unique_without_project(&citus.db).await, none, "every unique index has project_id");
    let targets = metrics_api::store::layout::conflict_targets(&citus.db).await.unwrap();
    for table in TABLES {
        assert_eq!(targets.of(table), "id, project_id", "{table}");
    }

    for app in [&plain, &citus] {
        metrics_api::demo::seed(&app.db, now()).await.expect("demo data");
    }
    assert_eq!(dump(&citus.db).await, dump(&plain.db).await, "the demo data");

    // Reads.
    for (query, vars) in dashboard_requests() {
        same_answer(&plain, &citus, &query, vars).await;
    }
    let page = dashboard::documents(dashboard::OPERATIONS);
    let borealis = &demo_projects()[1];
    let first =
        same_answer(&plain, &citus, &page["DashboardPage"], page_vars(Some(borealis), "tasks_completed", None)).await;
    let after = first["data"]["project"]["drilldown"]["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
    let next = json!({ "id": borealis, "drilldownMetric": "task_cycle_time", "entityType": "task",
                       "first": 10, "orderBy": "TIME_BUCKET_DESC", "after": after });
    let second = same_answer(&plain, &citus, &page["DashboardDrilldown"], next).await;
    assert_eq!(second["data"]["project"]["drilldown"]["edges"].as_array().unwrap().len(), 10);

    // A live subscriber on the coordinator hears a write (LISTEN/NOTIFY on the coordinator).
    let mut ws = WsClient::connect(&citus.url, json!({})).await;
    ws.subscribe_live("s", json!({ "p": [borealis] })).await;

    // The same batch twice, through GraphQL: inserted, then unchanged, rows equal.
    let n = 12;
    let written = same_answer(&plain, &citus, WRITE, batch()).await;
    for (field, rows) in [("recordSummaries", n), ("upsertTrendPoints", n), ("upsertBreakdownPoints", n)] {
        assert_eq!(written["data"][field]["inserted"], rows, "{written:#}");
    }
    assert_eq!(written["data"]["upsertDrilldowns"]["inserted"], n);
    let (kind, _) = ws.next_event("s").await;
    assert_eq!(kind, "UPDATED");
    let once = dump(&citus.db).await;
    let again = same_answer(&plain, &citus, WRITE, batch()).await;
    for field in ["recordSummaries", "upsertTrendPoints", "upsertBreakdownPoints", "upsertDrilldowns"] {
        let want = json!({ "inserted": 0, "updated": 0, "refreshed": 0, "unchanged": n });
        assert_eq!(again["data"][field], want, "{field}");
    }
    assert_eq!(dump(&citus.db).await, once, "the second batch changed rows");

    // The same through NDJSON (`metrics-api ingest`), twice.
    let path = std::env::temp_dir().join(format!("metrics-citus-{}.ndjson", std::process::id()));
    let lines: Vec<String> = demo_projects()
        .iter()
        .flat_map(|p| {
            (1..=5).map(move |d| {
                json!({ "kind": "trend", "project_id": p, "metric_key": "nd", "time_grain": "day",
                        "time_bucket": format!("2024-01-{d:02}T00:00:00Z"), "value_numeric": d, "computed_at": "2024-03-01T00:00:00Z" })
                .to_string()
            })
        })
        .collect();
    std::fs::write(&path, lines.join("\n")).unwrap();
    for url in [&plain.database_url, &citus.database_url] {
        let out = ingest_ndjson(url, &path);
        assert!(out.contains("ingested 15 rows (inserted 15, updated 0, refreshed 0, unchanged 0)"), "{out}");
    }
    let once = dump(&citus.db).await;
    let out = ingest_ndjson(&citus.database_url, &path);
    assert!(out.contains("ingested 15 rows (inserted 0, updated 0, refreshed 0, unchanged 15)"), "{out}");
    assert_eq!(dump(&citus.db).await, once, "the second NDJSON run changed rows");
    let _ = std::fs::remove_file(&path);
    assert_eq!(dump(&citus.db).await, dump(&plain.db).await, "after the writes");

    // Retention 60 days on: the same rows stay, and a second run changes nothing.
    let later = now() + Duration::days(60);
    let catalog = Catalog::default();
    for app in [&plain, &citus] {
        let report = retention::run(
            &app.db,
            &catalog,
            &Policy::default(),
            Options { now: later, project: None, dry_run: false },
        )
        .await
        .expect("retention");
        assert!(report.folded() > 0 && report.deleted() > 0, "retention had work: {report:?}");
    }
    let kept = dump(&citus.db).await;
    assert_eq!(kept, dump(&plain.db).await, "retention left other rows than on plain PostgreSQL");
    let report =
        retention::run(&citus.db, &catalog, &Policy::default(), Options { now: later, project: None, dry_run: false })
            .await
            .expect("retention again");
    assert_eq!((report.folded(), report.deleted()), (0, 0), "{report:?}");
    assert_eq!(dump(&citus.db).await, kept);
    // The scheduled run's advisory lock lives on the coordinator: another holder makes it
    // skip, and once released it runs (now, before `later`: nothing left to do).
    let holder = citus.db.begin().await.unwrap();
    holder.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY})")).await.unwrap();
    let tick = run_once(&citus.db, &catalog, &Policy::default()).await.expect("scheduled retention");
    assert!(matches!(tick, Tick::Skipped), "{tick:?}");
    holder.rollback().await.unwrap();
    let tick = run_once(&citus.db, &catalog, &Policy::default()).await.expect("scheduled retention");
    assert!(matches!(tick, Tick::Ran(..)), "{tick:?}");
    assert_eq!(dump(&citus.db).await, kept);
    for (query, vars) in dashboard_requests() {
        same_answer(&plain, &citus, &query, vars).await;
    }

    // And back to plain tables on the coordinator, rows included.
    layout::apply(&citus.db, Layout::Plain).await.expect("back to plain");
    assert_eq!(layout::current(&citus.db).await.unwrap(), Layout::Plain);
    assert_eq!(dump(&citus.db).await, kept);
    plain.finish().await;
    citus.finish().await;
}

/// `(shard id, worker port)` of `table`'s shard for project `p`.
async fn placement(db: &DatabaseConnection, table: &str, p: &str) -> (i64, i32) {
    let sql = format!(
        "SELECT s.shardid AS shard, n.nodeport AS port FROM pg_dist_shard s \
         JOIN pg_dist_placement pl ON pl.shardid = s.shardid JOIN pg_dist_node n ON n.groupid = pl.groupid \
         WHERE s.shardid = get_shard_id_for_distribution_column('{table}', '{p}'::uuid)"
    );
    let rows = db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql)).await.unwrap();
    assert_eq!(rows.len(), 1, "one placement of {table}'s shard for {p}");
    (rows[0].try_get("", "shard").unwrap(), rows[0].try_get("", "port").unwrap())
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db.query_one_raw(Statement::from_string(DbBackend::Postgres, sql.to_owned())).await.expect(sql);
    row.expect("a row").try_get("", "n").expect("column n")
}

/// The statements a worker logged since byte `from` of its log that read a metrics shard.
fn shard_statements(cluster: &CitusCluster, worker: usize, from: usize) -> Vec<String> {
    let log = cluster.log(worker);
    log.get(from..)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("statement:") || l.contains("execute"))
        .filter(|l| TABLES.iter().any(|t| l.contains(&format!("{t}_"))))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_lives_on_one_worker_which_alone_serves_its_dashboard() {
    let Some(cluster) = CitusCluster::start().await else { return };
    let citus = citus_app(&cluster).await;
    metrics_api::demo::seed(&citus.db, now()).await.expect("demo data");
    let workers = [cluster.ports[1], cluster.ports[2]];
    let mut used = std::collections::BTreeSet::new();

    for p in demo_projects() {
        // Co-located: the project's shards of all four tables are on one worker.
        let mut shards = Vec::new();
        for table in TABLES {
            shards.push((table, placement(&citus.db, table, &p).await));
        }
        let port = shards[0].1 .1;
        assert!(shards.iter().all(|(_, (_, w))| *w == port), "{p}: {shards:?}");
        let (worker, other) = if port as u16 == workers[0] { (1, 2) } else { (2, 1) };
        used.insert(worker);

        // Its rows are on that worker, in its shard tables, and on no other node.
        let on_worker = Database::connect(cluster.worker_url(worker)).await.unwrap();
        let on_other = Database::connect(cluster.worker_url(other)).await.unwrap();
        for (table, (shard, _)) in &shards {
            let total = count(&citus.db, &format!("SELECT COUNT(*) AS n FROM {table} WHERE project_id = '{p}'")).await;
            let there =
                count(&on_worker, &format!("SELECT COUNT(*) AS n FROM {table}_{shard} WHERE project_id = '{p}'")).await;
            assert!(total > 0 && there == total, "{table} of {p}: {there} of {total} rows on worker {worker}");
            let elsewhere =
                count(&on_other, &format!("SELECT COUNT(*) AS n FROM pg_class WHERE relname = '{table}_{shard}'"))
                    .await;
            assert_eq!(elsewhere, 0, "shard {shard} exists on worker {other} too");
        }

        // EXPLAIN on the coordinator: the one-project trend read is one task, routed to
        // that worker.
        let sql = format!(
            "EXPLAIN (FORMAT TEXT) SELECT * FROM metrics_trend_point WHERE project_id = '{p}' \
             AND metric_key = 'tasks_completed' AND time_grain = 'day' ORDER BY time_bucket DESC LIMIT 30"
        );
        let rows = citus.db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql)).await.unwrap();
        let explain: String = rows.iter().map(|r| r.try_get::<String>("", "QUERY PLAN").unwrap() + "\n").collect();
        assert!(explain.contains("Task Count: 1"), "{explain}");
        assert!(explain.contains(&format!("port={port}")), "{explain}");

        // The worker logs every statement; a one-project dashboard reaches its worker only.
        for w in [&on_worker, &on_other] {
            w.execute_unprepared("ALTER SYSTEM SET log_statement = 'all'").await.unwrap();
            w.execute_unprepared("SELECT pg_reload_conf()").await.unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let marks = [cluster.log(worker).len(), cluster.log(other).len()];
        let page = dashboard::documents(dashboard::OPERATIONS);
        let d = citus.data(&page["DashboardPage"], page_vars(Some(&p), "tasks_completed", None)).await;
        assert_eq!(d["project"]["trend"]["points"].as_array().unwrap().len(), 30);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let here = shard_statements(&cluster, worker, marks[0]);
        let there = shard_statements(&cluster, other, marks[1]);
        assert!(here.len() >= 4, "the dashboard's reads ran on worker {worker}: {here:#?}");
        assert!(there.is_empty(), "worker {other} was reached for project {p}: {there:#?}");
        on_worker.close().await.ok();
        on_other.close().await.ok();
    }
    assert_eq!(used.len(), 2, "the three demo projects spread over both workers");
    citus.finish().await;
}

/// `EXPLAIN` of a recorded statement on the coordinator, as text.
async fn explain(db: &DatabaseConnection, stmt: &Statement) -> String {
    let explain = Statement { sql: format!("EXPLAIN (FORMAT TEXT) {}", stmt.sql), ..stmt.clone() };
    let rows = db.query_all_raw(explain).await.unwrap_or_else(|e| panic!("{e}: {}", stmt.sql));
    rows.iter().map(|r| r.try_get::<String>("", "QUERY PLAN").unwrap() + "\n").collect()
}

/// The multi-project batch of [`dashboard_requests`] (its last request).
fn multi_project_batch() -> (String, Value) {
    dashboard_requests().pop().expect("the batch")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_reads_are_one_statement_fanned_out_to_the_shards() {
    let Some(cluster) = CitusCluster::start().await else { return };
    convert(&cluster).await;
    let (citus, log) = TestApp::recording_at(&cluster.coordinator_url(), None).await;
    metrics_api::demo::seed(&citus.db, now()).await.expect("demo data");
    // The shards the three demo projects live on (the same shard index in every
    // co-located table).
    let mut shards = std::collections::BTreeSet::new();
    for p in demo_projects() {
        shards.insert(placement(&citus.db, "metrics_summary", &p).await.0);
    }
    // The server's sessions run one connection per worker per statement
    // (`db::CITUS_EXECUTOR_POOL`); a plain PostgreSQL's are left alone.
    let setting = "SELECT current_setting('citus.max_adaptive_executor_pool_size', true) AS s";
    assert_eq!(strings(&citus.db, setting).await, ["1"]);
    if let Some(plain) = TestApp::postgres().await {
        assert_eq!(strings(&plain.db, setting).await, [""], "no Citus setting without Citus");
        plain.finish().await;
    }
    let (query, vars) = multi_project_batch();
    let read = |table: &str, statements: &[Statement]| -> Statement {
        statements
            .iter()
            .find(|s| s.sql.contains(&format!("FROM {table} WHERE project_id")) && s.sql.contains("key_idx"))
            .unwrap_or_else(|| panic!("no per-project read of {table} in {statements:#?}"))
            .clone()
    };

    // The per-project reads (latest summary, latest breakdown bucket, drilldown page) are
    // each one distributed statement: one task per shard holding one of the projects,
    // which the adaptive executor runs in parallel; no subplan.
    let answer = citus.data(&query, vars.clone()).await;
    let windowed: Vec<Statement> = log.lock().unwrap().clone();
    let (branches, branches_log) = TestApp::recording_at(&cluster.coordinator_url(), Some(ReadShape::Branches)).await;
    assert_eq!(branches.data(&query, vars.clone()).await, answer, "both shapes answer alike");
    let unions: Vec<Statement> = branches_log.lock().unwrap().clone();
    for table in ["metrics_summary", "metrics_breakdown_point", "metrics_drilldown"] {
        let stmt = read(table, &windowed);
        assert!(!stmt.sql.contains("UNION ALL") && stmt.sql.contains("OVER (PARTITION BY project_id"), "{}", stmt.sql);
        let plan = explain(&citus.db, &stmt).await;
        assert!(plan.contains("Custom Scan (Citus Adaptive)"), "{table}: {plan}");
        assert!(plan.contains(&format!("Task Count: {}", shards.len())), "{table}, shards {shards:?}: {plan}");
        assert!(!plan.contains("Distributed Subplan"), "{table}: {plan}");

        // What it replaces: the `UNION ALL` branches are at least one subplan per project
        // (two for the latest breakdown: its bucket, then its rows), which the
        // coordinator runs one after the other.
        let stmt = read(table, &unions);
        assert!(stmt.sql.contains("UNION ALL"), "{}", stmt.sql);
        let plan = explain(&citus.db, &stmt).await;
        let want = if table == "metrics_breakdown_point" { 6 } else { 3 };
        assert_eq!(plan.matches("Distributed Subplan").count(), want, "{table}: {plan}");
    }
    branches.finish().await;

    // A second page: each project's cursor is a term of the same statement, which still
    // goes down whole, one task per shard.
    let after = answer["projects"][0]["drilldown"]["edges"][9]["cursor"].clone();
    let pages = r#"query($ids: [UUID!]!, $after: String) { projects(ids: $ids) {
        drilldown(metricKey: "task_cycle_time", entityType: "task", first: 5, after: $after) { edges { node { id } } } } }"#;
    log.lock().unwrap().clear();
    let page = citus.data(pages, json!({ "ids": vars["ids"], "after": after })).await;
    assert!(!page["projects"][0]["drilldown"]["edges"].as_array().unwrap().is_empty(), "{page:#}");
    let statements: Vec<Statement> = log.lock().unwrap().clone();
    let stmt = read("metrics_drilldown", &statements);
    assert!(stmt.sql.contains(" OR (project_id = "), "{}", stmt.sql);
    let plan = explain(&citus.db, &stmt).await;
    assert!(plan.contains(&format!("Task Count: {}", shards.len())) && !plan.contains("Distributed Subplan"), "{plan}");

    // Tokens scoped to projects hold on the coordinator as on one PostgreSQL: reads,
    // batched reads and writes of other projects refused (the same checks as
    // `security.rs`).
    let secured = TestApp::postgres_at(&cluster.coordinator_url(), crate::security::secured()).await;
    crate::security::tokens_are_scoped_to_projects(&secured).await;
    secured.finish().await;
    citus.finish().await;
}

/// Hour and day points of project `p` past the full-resolution horizon at `at`.
async fn fine_points_past_horizon(db: &DatabaseConnection, p: &str, at: DateTime<Utc>) -> i64 {
    let from = Policy::default().full_resolution_from(at);
    let sql = format!(
        "SELECT COUNT(*) AS n FROM metrics_trend_point WHERE project_id = '{p}' \
         AND time_grain IN ('hour', 'day') AND time_bucket < '{}'",
        from.to_rfc3339()
    );
    count(db, &sql).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_works_on_projects_in_parallel() {
    let Some(cluster) = CitusCluster::start().await else { return };
    let citus = citus_app(&cluster).await;
    // Two at once per worker.
    let citus_layout = layout::current(&citus.db).await.unwrap();
    assert_eq!(retention::width::of(&citus.db, citus_layout).await.unwrap(), 2 * retention::width::PER_WORKER);
    metrics_api::demo::seed(&citus.db, now()).await.expect("demo data");
    let later = now() + Duration::days(60);
    let mut projects = demo_projects();
    projects.sort();
    for p in &projects {
        assert!(fine_points_past_horizon(&citus.db, p, later).await > 0, "{p} has points to fold");
    }

    // Another transaction holds the trend rows of the project a sequential run would
    // take first: its fold waits for them, the other projects' do not.
    let held = &projects[0];
    let holder = citus.db.begin().await.unwrap();
    holder
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT id FROM metrics_trend_point WHERE project_id = '{held}' FOR UPDATE"),
        ))
        .await
        .unwrap();
    let db = citus.db.clone();
    let run = tokio::spawn(async move {
        let opts = Options { now: later, project: None, dry_run: false };
        retention::run(&db, &Catalog::default(), &Policy::default(), opts).await
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    for p in &projects[1..] {
        while fine_points_past_horizon(&citus.db, p, later).await > 0 {
            assert!(std::time::Instant::now() < deadline, "{p} was not folded while {held} was held");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    assert!(!run.is_finished(), "the run waits for the held project");
    assert!(fine_points_past_horizon(&citus.db, held, later).await > 0);

    holder.rollback().await.unwrap();
    let report = run.await.unwrap().expect("retention");
    assert_eq!(report.projects, 3);
    assert!(report.folded() > 0, "{report:?}");
    assert_eq!(fine_points_past_horizon(&citus.db, held, later).await, 0, "the held project folded once released");
    citus.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_table_referencing_project_stays_on_the_coordinator() {
    let Some(cluster) = CitusCluster::start().await else { return };
    // A host system's own table with a foreign key to `project`, before the conversion.
    let db = Database::connect(cluster.coordinator_url()).await.expect("connect to the coordinator");
    Migrator::up(&db, None).await.expect("migrations on the coordinator");
    metrics_api::demo::seed(&db, now()).await.expect("demo data");
    let atlas = &demo_projects()[0];
    db.execute_unprepared(&format!(
        "CREATE TABLE host_team (id int PRIMARY KEY, project_id uuid NOT NULL REFERENCES project (id)); \
         INSERT INTO host_team VALUES (1, '{atlas}')"
    ))
    .await
    .unwrap();
    layout::apply(&db, Layout::Citus).await.expect("the conversion takes a host table along");

    // `project` is a reference table, the host table a Citus local table (method `n`,
    // replication model `s`) with its row and its foreign key.
    let kinds = strings(
        &db,
        "SELECT logicalrelid::text || ' ' || partmethod::text || repmodel::text AS s FROM pg_dist_partition \
         WHERE logicalrelid::text IN ('project', 'host_team') ORDER BY 1",
    )
    .await;
    assert_eq!(kinds, ["host_team ns", "project nt"]);
    assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM host_team").await, 1);
    let err = db.execute_unprepared("INSERT INTO host_team VALUES (2, gen_random_uuid())").await.unwrap_err();
    assert!(err.to_string().contains("foreign key"), "{err}");
    // Its one shard is placed on the coordinator (group 0); the workers hold at most a
    // shell of it (Citus syncs metadata to them).
    let groups = strings(
        &db,
        "SELECT pl.groupid::text AS s FROM pg_dist_placement pl JOIN pg_dist_shard sh USING (shardid) \
         WHERE sh.logicalrelid = 'host_team'::regclass",
    )
    .await;
    assert_eq!(groups, ["0"]);
    // The API serves the converted database as before.
    db.close().await.ok();
    let app = TestApp::postgres_at(&cluster.coordinator_url(), ServerConfig::default()).await;
    let d = app.data("query($id: UUID!) { project(id: $id) { name } }", json!({ "id": atlas })).await;
    assert!(d["project"]["name"].is_string(), "{d}");
    app.finish().await;
}
