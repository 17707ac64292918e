//! The Citus precondition, checked on the API's real statements (PostgreSQL): with the
//! four metrics tables distributed by `project_id` and `project` a reference table, a
//! statement is routed to one shard only when it filters on (or, for an `INSERT`,
//! supplies) `project_id`. A realistic workload (every mutation, every read shape with
//! second pages, retention over all projects and over one) runs through the API with
//! every statement recorded; each is classified, and the statements that reach the
//! metrics tables without `project_id` are listed: they must be exactly the known
//! cross-project ones, described in `docs/SCALING.md`. A new statement that would fan out
//! to every shard fails this test until it is looked at.

use std::collections::BTreeSet;

use crate::common::fixtures::{pid, t};
use crate::common::TestApp;
use metrics_api::catalog::Catalog;
use metrics_api::retention::{self, Options, Policy};
use serde_json::{json, Value};

const METRICS_TABLES: [&str; 4] =
    ["metrics_summary", "metrics_trend_point", "metrics_breakdown_point", "metrics_drilldown"];

/// The statements that span projects, by a fragment of their text (see
/// `docs/SCALING.md`, "Statements that span projects"): listings of the `project` table
/// (`projectList`, and retention's walk over every project), served by any node from its
/// copy of the reference table.
/// (`store::project::list` reads `SELECT *`, since `project` may be the host's table.)
const CROSS_PROJECT: &[&str] = &["FROM project WHERE 1 = 1 ORDER BY", "FROM project WHERE 1 = 1 AND id > $1 ORDER BY"];

const WRITES: &str = r#"mutation($s: [SummaryInput!]!, $t: [TrendPointInput!]!, $b: [BreakdownPointInput!]!, $d: [DrilldownInput!]!, $p: UUID!) {
    recordSummaries(rows: $s) { inserted }
    upsertTrendPoints(points: $t) { inserted }
    upsertBreakdownPoints(points: $b) { inserted }
    upsertDrilldowns(rows: $d) { inserted }
    setProjectName(id: $p, name: "renamed") { name }
}"#;

const READS: &str = r#"query($ids: [UUID!]!, $id: UUID!) {
    projectList(first: 1) { edges { node { id name } } pageInfo { endCursor } }
    project(id: $id) { name summary { payload } }
    projects(ids: $ids) {
        summary(at: "2026-03-20T00:00:00Z") { id }
        summaries(first: 1) { edges { node { id } } pageInfo { endCursor } }
        daily: trend(metricKey: "done", grain: DAY, from: "2026-03-01T00:00:00Z", to: "2026-03-15T00:00:00Z", fill: ZERO) { points { value } }
        hourly: trend(metricKey: "done", grain: HOUR, from: "2026-03-01T00:00:00Z", to: "2026-03-03T00:00:00Z", compareTo: PREVIOUS_PERIOD) { points { value } }
        teams: trendsMatching(metricKey: "done", grain: DAY, from: "2026-03-01T00:00:00Z", to: "2026-03-15T00:00:00Z", dimensions: {team: "a"}) { dimensions }
        latest: breakdown(metricKey: "wip", dimensionKey: "state", grain: DAY) { total }
        at: breakdown(metricKey: "wip", dimensionKey: "state", grain: DAY, bucket: "2026-03-02T00:00:00Z") { total }
        stacked: breakdownSeries(metricKey: "wip", dimensionKey: "state", grain: DAY, from: "2026-03-01T00:00:00Z", to: "2026-03-15T00:00:00Z") { total }
        byEntity: drilldown(metricKey: "cycle", entityType: "task", first: 1) { pageInfo { endCursor } }
        newest: drilldown(metricKey: "cycle", entityType: "task", first: 1, orderBy: TIME_BUCKET_DESC) { pageInfo { endCursor } }
    }
}"#;

const SECOND_PAGES: &str = r#"query($id: UUID!, $l: String, $s: String, $e: String, $n: String) {
    projectList(first: 1, after: $l) { edges { node { id } } }
    project(id: $id) {
        summaries(first: 1, after: $s) { edges { node { id } } }
        byEntity: drilldown(metricKey: "cycle", entityType: "task", first: 1, after: $e) { pageInfo { endCursor } }
        newest: drilldown(metricKey: "cycle", entityType: "task", first: 1, orderBy: TIME_BUCKET_DESC, after: $n) { pageInfo { endCursor } }
    }
}"#;

/// Two days of rows of every kind for project `p`.
fn rows(p: uuid::Uuid) -> Value {
    let days = ["2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z"];
    json!({
        "s": days.iter().map(|d| json!({ "projectId": p, "capturedAt": d, "payload": {"n": 1} })).collect::<Vec<_>>(),
        "t": days.iter().flat_map(|d| [
            json!({ "projectId": p, "metricKey": "done", "grain": "DAY", "bucket": d, "dimensions": {"team": "a"}, "value": 1.0 }),
            json!({ "projectId": p, "metricKey": "done", "grain": "HOUR", "bucket": d, "value": 2.0 }),
        ]).collect::<Vec<_>>(),
        "b": days.iter().map(|d| json!({ "projectId": p, "metricKey": "wip", "grain": "DAY", "bucket": d, "dimensionKey": "state", "dimensionValue": "open", "value": 3.0 })).collect::<Vec<_>>(),
        "d": (0..3).map(|i| json!({ "projectId": p, "metricKey": "cycle", "entityType": "task", "referenceId": format!("t-{i}"), "timeBucket": days[i % 2], "payload": {"i": i} })).collect::<Vec<_>>(),
        "p": p,
    })
}

/// How a statement fares on a cluster sharded by `project_id`.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Routing {
    /// Touches no metrics table (only `project`, a reference table, or none): runs on
    /// any node against its local copy.
    Reference,
    /// Every scan of a metrics table filters on one `project_id` (or, for an `INSERT`,
    /// supplies it): routed to that project's shard.
    OneProject,
    /// Every scan filters on `project_id`, over several projects (`IN (...)` lists, or
    /// `UNION ALL` branches of one project each): runs on those projects' shards only.
    SomeProjects,
    /// A scan of a metrics table without a `project_id` filter: runs on every shard.
    AllShards,
}

/// Occurrences of `needle` in `haystack`.
fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

fn routing(sql: &str) -> Routing {
    let sql = sql.replace('"', "");
    if !METRICS_TABLES.iter().any(|t| sql.contains(t)) {
        return Routing::Reference;
    }
    if sql.starts_with("INSERT INTO metrics_") {
        let columns = sql.split_once(')').map_or("", |(c, _)| c);
        return if columns.contains("project_id") { Routing::OneProject } else { Routing::AllShards };
    }
    let scans = count(&sql, "FROM metrics_") + count(&sql, "JOIN metrics_") + count(&sql, "UPDATE metrics_");
    let one = count(&sql, "project_id = $");
    let several = count(&sql, "project_id IN (") + count(&sql, "project_id = ANY");
    // A correlated subquery on the outer row's project: the same shard (co-located).
    let correlated = count(&sql, ".project_id = s.project_id");
    if one + several + correlated < scans {
        Routing::AllShards
    } else if several > 0 || sql.contains("UNION ALL") {
        Routing::SomeProjects
    } else {
        Routing::OneProject
    }
}

#[test]
fn statements_are_classified() {
    assert_eq!(routing(r#"SELECT "id" FROM "project" WHERE "id" > $1"#), Routing::Reference);
    assert_eq!(
        routing("SELECT * FROM metrics_summary WHERE project_id = $1 AND captured_at < $2"),
        Routing::OneProject
    );
    assert_eq!(routing("SELECT * FROM metrics_trend_point WHERE project_id IN ($1, $2)"), Routing::SomeProjects);
    assert_eq!(
        routing("SELECT * FROM (SELECT * FROM metrics_drilldown WHERE project_id = $1) b0 UNION ALL SELECT * FROM (SELECT * FROM metrics_drilldown WHERE project_id = $2) b1"),
        Routing::SomeProjects
    );
    assert_eq!(routing(r#"INSERT INTO "metrics_drilldown" ("id", "project_id") VALUES ($1, $2)"#), Routing::OneProject);
    assert_eq!(routing("SELECT DISTINCT project_id FROM metrics_trend_point"), Routing::AllShards);
    assert_eq!(
        routing("SELECT * FROM metrics_breakdown_point WHERE project_id = $1 AND time_bucket = (SELECT MAX(time_bucket) FROM metrics_breakdown_point)"),
        Routing::AllShards,
        "a subquery without the filter spans every shard"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_statement_filters_on_project_id() {
    let Some((app, log)) = TestApp::postgres_recording().await else { return };
    let (a, b) = (pid(1), pid(2));
    for p in [a, b] {
        app.data(WRITES, rows(p)).await;
    }
    let first = app.data(READS, json!({ "ids": [a, b], "id": a })).await;
    let pa = &first["projects"][0];
    assert_eq!(pa["daily"]["points"].as_array().unwrap().len(), 14, "the writes are read: {first}");
    app.data(
        SECOND_PAGES,
        json!({ "id": a, "l": first["projectList"]["pageInfo"]["endCursor"], "s": pa["summaries"]["pageInfo"]["endCursor"],
                "e": pa["byEntity"]["pageInfo"]["endCursor"], "n": pa["newest"]["pageInfo"]["endCursor"] }),
    )
    .await;
    // Retention a year later: everything expires or folds, over all projects and one.
    let catalog = Catalog::default();
    for project in [Some(a), None] {
        let opts = Options { now: t("2027-03-01T00:00:00Z"), project, dry_run: false };
        retention::run(&app.db, &catalog, &Policy::default(), opts).await.expect("retention");
    }

    let statements: Vec<String> = log.lock().unwrap().iter().map(|s| s.sql.clone()).collect();
    assert!(statements.len() > 20, "a realistic workload: {} statements", statements.len());
    let mut by_routing: std::collections::BTreeMap<Routing, BTreeSet<String>> = Default::default();
    for sql in &statements {
        by_routing.entry(routing(sql)).or_default().insert(sql.clone());
    }
    for (r, set) in &by_routing {
        eprintln!("{r:?}: {} distinct statements", set.len());
        for s in set {
            eprintln!("  {s}");
        }
    }
    assert!(by_routing.get(&Routing::OneProject).is_some_and(|s| s.len() >= 10), "{by_routing:#?}");
    assert!(by_routing.get(&Routing::SomeProjects).is_some_and(|s| s.len() >= 5), "{by_routing:#?}");
    let spanning: Vec<&String> = by_routing.get(&Routing::AllShards).into_iter().flatten().collect();
    assert!(spanning.is_empty(), "statements that would reach every shard (see docs/SCALING.md): {spanning:#?}");
    let reference = by_routing.get(&Routing::Reference).expect("project statements");
    for known in CROSS_PROJECT {
        assert!(reference.iter().any(|s| s.contains(known)), "{known} no longer runs: update the list and SCALING.md");
    }
    app.finish().await;
}

/// Citus requires every primary key and unique constraint of a distributed table to
/// include the distribution column. On the plain layout (the default) the primary keys
/// are the spec's, on `id` alone: ids derive from the natural key (project included) but
/// PostgreSQL cannot know them to be per project, so these four are exactly the unique
/// indexes without `project_id`. The citus layout (`migration::layout::citus`) turns them
/// into `(project_id, id)` and has none: checked on a real coordinator in
/// `tests/it/citus.rs`. Any other unique index without `project_id` fails here.
const UNIQUE_WITHOUT_PROJECT_ON_PLAIN: &[&str] =
    &["metrics_breakdown_point_pkey", "metrics_drilldown_pkey", "metrics_summary_pkey", "metrics_trend_point_pkey"];

/// The unique indexes of the four tables that do not contain `project_id`, by name.
pub(crate) async fn unique_without_project(db: &impl sea_orm::ConnectionTrait) -> Vec<String> {
    let tables = METRICS_TABLES.map(|t| format!("'{t}'")).join(", ");
    let sql = format!(
        "SELECT i.relname AS name, bool_or(a.attname = 'project_id') AS has_project
         FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(x.indkey)
         WHERE x.indisunique AND t.relname IN ({tables}) GROUP BY i.relname ORDER BY i.relname"
    );
    let rows =
        db.query_all_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, sql)).await.expect("indexes");
    rows.iter()
        .filter(|r| !r.try_get::<bool>("", "has_project").expect("has_project"))
        .map(|r| r.try_get::<String>("", "name").expect("name"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_constraints_and_the_distribution_column() {
    let Some(app) = TestApp::postgres().await else { return };
    assert_eq!(
        unique_without_project(&app.db).await,
        UNIQUE_WITHOUT_PROJECT_ON_PLAIN,
        "unique indexes without project_id changed on the plain layout: update docs/SCALING.md"
    );
    app.finish().await;
}
