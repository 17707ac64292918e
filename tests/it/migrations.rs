//! The foundation: the migrated schema has the spec's columns, types and indexes on both
//! backends, constraints hold, migrations go down and up, and the hand-written SQL twin
//! matches the migration on PostgreSQL.

use std::collections::BTreeMap;

use crate::common::fixtures::{self, pid};
use crate::common::{Backend, TestApp};
use entity::sea_orm_active_enums::TimeGrain;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use serde_json::json;

/// (column, logical type, nullable) per table, as in the spec (and the `project` table).
fn spec() -> BTreeMap<&'static str, Vec<(&'static str, &'static str, bool)>> {
    BTreeMap::from([
        ("project", vec![("id", "uuid", false), ("name", "text", true), ("created_at", "timestamptz", false)]),
        (
            "metrics_summary",
            vec![
                ("id", "uuid", false),
                ("project_id", "uuid", false),
                ("captured_at", "timestamptz", false),
                ("version", "text", false),
                ("scope", "jsonb", true),
                ("payload", "jsonb", false),
                ("created_at", "timestamptz", false),
            ],
        ),
        (
            "metrics_trend_point",
            vec![
                ("id", "uuid", false),
                ("project_id", "uuid", false),
                ("metric_key", "text", false),
                ("time_grain", "grain", false),
                ("time_bucket", "timestamptz", false),
                ("dimensions", "jsonb", false),
                ("value_numeric", "double", true),
                ("value_json", "jsonb", true),
                ("computed_at", "timestamptz", false),
            ],
        ),
        (
            "metrics_breakdown_point",
            vec![
                ("id", "uuid", false),
                ("project_id", "uuid", false),
                ("metric_key", "text", false),
                ("time_grain", "grain", true),
                ("time_bucket", "timestamptz", true),
                ("dimension_key", "text", false),
                ("dimension_value", "text", false),
                ("value_numeric", "double", true),
                ("value_json", "jsonb", true),
                ("computed_at", "timestamptz", false),
            ],
        ),
        (
            "metrics_drilldown",
            vec![
                ("id", "uuid", false),
                ("project_id", "uuid", false),
                ("metric_key", "text", false),
                ("entity_type", "text", false),
                ("entity_id", "uuid", true),
                ("reference_id", "text", true),
                ("time_bucket", "timestamptz", true),
                ("payload", "jsonb", false),
                ("computed_at", "timestamptz", false),
            ],
        ),
    ])
}

/// The declared type each logical type has on a backend.
fn physical(backend: Backend, logical: &str) -> &'static str {
    match (backend, logical) {
        (Backend::Postgres, "uuid") => "uuid",
        (Backend::Postgres, "timestamptz") => "timestamp with time zone",
        (Backend::Postgres, "text") => "text",
        (Backend::Postgres, "jsonb") => "jsonb",
        (Backend::Postgres, "double") => "double precision",
        (Backend::Postgres, "grain") => "metrics_time_grain",
        (Backend::Sqlite, "uuid") => "uuid_text",
        (Backend::Sqlite, "timestamptz") => "timestamp_with_timezone_text",
        (Backend::Sqlite, "text") => "text",
        (Backend::Sqlite, "jsonb") => "jsonb_text",
        (Backend::Sqlite, "double") => "double",
        (Backend::Sqlite, "grain") => "text",
        _ => unreachable!("{logical}"),
    }
}

async fn rows(db: &impl ConnectionTrait, backend: DbBackend, sql: &str) -> Vec<sea_orm::QueryResult> {
    db.query_all_raw(Statement::from_string(backend, sql)).await.expect(sql)
}

/// (column, declared type, nullable, default) of a table, in column order.
async fn columns(app: &TestApp, table: &str) -> Vec<(String, String, bool, Option<String>)> {
    let b = app.db_backend();
    match app.backend {
        Backend::Postgres => rows(&app.db, b, &format!(
            "SELECT column_name, CASE WHEN data_type = 'USER-DEFINED' THEN udt_name ELSE data_type END AS ty, \
             is_nullable, column_default FROM information_schema.columns WHERE table_name = '{table}' ORDER BY ordinal_position"
        ))
        .await
        .iter()
        .map(|r| {
            (
                r.try_get::<String>("", "column_name").unwrap(),
                r.try_get::<String>("", "ty").unwrap(),
                r.try_get::<String>("", "is_nullable").unwrap() == "YES",
                r.try_get::<Option<String>>("", "column_default").unwrap(),
            )
        })
        .collect(),
        Backend::Sqlite => rows(&app.db, b, &format!("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info('{table}') ORDER BY cid"))
            .await
            .iter()
            .map(|r| {
                let pk: i32 = r.try_get("", "pk").unwrap();
                let notnull: i32 = r.try_get("", "notnull").unwrap();
                (
                    r.try_get::<String>("", "name").unwrap(),
                    // SQLite keeps a declared type as written; it compares types case-insensitively.
                    r.try_get::<String>("", "type").unwrap().to_lowercase(),
                    notnull == 0 && pk == 0,
                    r.try_get::<Option<String>>("", "dflt_value").unwrap(),
                )
            })
            .collect(),
    }
}

async fn table_has_spec_columns(app: &TestApp) {
    for (table, spec_cols) in spec() {
        let got = columns(app, table).await;
        let got_shape: Vec<(String, String, bool)> = got.iter().map(|c| (c.0.clone(), c.1.clone(), c.2)).collect();
        let want: Vec<(String, String, bool)> = spec_cols
            .iter()
            .map(|(c, ty, null)| (c.to_string(), physical(app.backend, ty).to_string(), *null))
            .collect();
        assert_eq!(got_shape, want, "[{:?}] columns of {table}", app.backend);
        let default = |col: &str| got.iter().find(|c| c.0 == col).and_then(|c| c.3.clone()).unwrap_or_default();
        if table == "metrics_summary" {
            assert!(default("version").contains("1.0"), "version default: {}", default("version"));
            assert!(default("created_at").to_uppercase().contains("CURRENT_TIMESTAMP"));
        }
        if table == "metrics_trend_point" {
            assert!(default("computed_at").to_uppercase().contains("CURRENT_TIMESTAMP"));
            assert!(default("dimensions").contains("{}"));
        }
    }
}

/// Each index as (name, table, [(column, descending)]), plus its method on PostgreSQL.
async fn indexes(app: &TestApp) -> BTreeMap<String, (String, Vec<(String, bool)>, String)> {
    let b = app.db_backend();
    let mut out = BTreeMap::new();
    match app.backend {
        Backend::Postgres => {
            let sql = "SELECT i.relname AS name, t.relname AS tbl, am.amname AS method, a.attname AS col, \
                       (ix.indoption[k.n - 1] & 1) = 1 AS descending, k.n \
                       FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class t ON t.oid = ix.indrelid \
                       JOIN pg_am am ON am.oid = i.relam \
                       CROSS JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY AS k(attnum, n) \
                       JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
                       WHERE i.relname LIKE 'idx_%' AND NOT t.relispartition ORDER BY i.relname, k.n";
            for r in rows(&app.db, b, sql).await {
                let name: String = r.try_get("", "name").unwrap();
                let entry = out.entry(name).or_insert_with(|| {
                    (r.try_get::<String>("", "tbl").unwrap(), Vec::new(), r.try_get::<String>("", "method").unwrap())
                });
                entry.1.push((r.try_get("", "col").unwrap(), r.try_get("", "descending").unwrap()));
            }
        }
        Backend::Sqlite => {
            for r in
                rows(&app.db, b, "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND name LIKE 'idx_%'")
                    .await
            {
                let name: String = r.try_get("", "name").unwrap();
                let table: String = r.try_get("", "tbl_name").unwrap();
                let cols = rows(
                    &app.db,
                    b,
                    &format!("SELECT name, \"desc\" FROM pragma_index_xinfo('{name}') WHERE key = 1 ORDER BY seqno"),
                )
                .await
                .iter()
                .map(|c| (c.try_get::<String>("", "name").unwrap(), c.try_get::<i32>("", "desc").unwrap() == 1))
                .collect();
                out.insert(name, (table, cols, "btree".to_owned()));
            }
        }
    }
    out
}

async fn every_spec_index_exists_in_order(app: &TestApp) {
    let got = indexes(app).await;
    let c = |s: &str| (s.to_owned(), false);
    let d = |s: &str| (s.to_owned(), true);
    let mut want = vec![
        ("idx_metrics_summary_project_captured", "metrics_summary", vec![c("project_id"), d("captured_at")], "btree"),
        (
            "idx_metrics_trend_point_series",
            "metrics_trend_point",
            vec![c("project_id"), c("metric_key"), c("time_grain"), d("time_bucket")],
            "btree",
        ),
        (
            "idx_metrics_breakdown_point_series",
            "metrics_breakdown_point",
            vec![c("project_id"), c("metric_key"), c("time_grain"), d("time_bucket")],
            "btree",
        ),
        (
            "idx_metrics_breakdown_point_dimension",
            "metrics_breakdown_point",
            vec![c("project_id"), c("dimension_key"), c("dimension_value")],
            "btree",
        ),
        (
            "idx_metrics_drilldown_entity",
            "metrics_drilldown",
            vec![c("project_id"), c("metric_key"), c("entity_type"), c("entity_id")],
            "btree",
        ),
        (
            "idx_metrics_drilldown_reference",
            "metrics_drilldown",
            vec![c("project_id"), c("metric_key"), c("reference_id")],
            "btree",
        ),
        (
            "idx_metrics_drilldown_recent",
            "metrics_drilldown",
            vec![c("project_id"), c("metric_key"), c("entity_type"), d("time_bucket"), c("id")],
            "btree",
        ),
    ];
    if app.backend == Backend::Postgres {
        want.push(("idx_metrics_trend_point_dimensions", "metrics_trend_point", vec![c("dimensions")], "gin"));
    }
    assert_eq!(got.len(), want.len(), "[{:?}] indexes: {got:?}", app.backend);
    for (name, table, cols, method) in want {
        let (t, cs, m) = got.get(name).unwrap_or_else(|| panic!("[{:?}] missing index {name}", app.backend));
        assert_eq!((t.as_str(), cs, m.as_str()), (table, &cols, method), "[{:?}] index {name}", app.backend);
    }
}

async fn invalid_grain_is_rejected_by_the_database(app: &TestApp) {
    let p = pid(1);
    fixtures::project(&app.db, p, "a").await;
    let sql = |grain: &str| {
        let cast = if app.backend == Backend::Postgres { "::metrics_time_grain" } else { "" };
        format!(
            "INSERT INTO metrics_trend_point (id, project_id, metric_key, time_grain, time_bucket, computed_at) \
             VALUES ({}, {}, 'm', '{grain}'{cast}, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')",
            uuid_literal(app, uuid::Uuid::new_v4()),
            uuid_literal(app, p)
        )
    };
    // A valid grain goes in by the same SQL, so the rejection below is about the grain.
    app.db.execute_unprepared(&sql("day")).await.expect("valid grain");
    assert!(app.db.execute_unprepared(&sql("minute")).await.is_err(), "[{:?}] accepted grain 'minute'", app.backend);
}

async fn deleting_a_project_cascades(app: &TestApp) {
    let (a, b) = (pid(1), pid(2));
    fixtures::project(&app.db, a, "a").await;
    fixtures::project(&app.db, b, "b").await;
    for p in [a, b] {
        fixtures::trend(&app.db, p, "m", TimeGrain::Day, "2026-01-01T00:00:00Z", json!({}), 1.0).await;
        fixtures::breakdown(&app.db, p, "m", None, None, "state", "open", 1.0).await;
        fixtures::drilldowns(
            &app.db,
            vec![fixtures::drilldown_row(
                p,
                "m",
                "task",
                metrics_api::identity::EntityRef::Reference("r".into()),
                None,
            )],
        )
        .await;
        fixtures::summary(&app.db, p, "2026-01-01T00:00:00Z", None, json!({})).await;
    }
    app.db.execute_unprepared(&format!("DELETE FROM project WHERE id = {}", uuid_literal(app, a))).await.unwrap();
    for table in ["metrics_summary", "metrics_trend_point", "metrics_breakdown_point", "metrics_drilldown"] {
        let left = rows(&app.db, app.db_backend(), &format!("SELECT COUNT(*) AS n FROM {table}")).await;
        let n: i64 = left[0].try_get("", "n").unwrap();
        assert_eq!(n, 1, "[{:?}] {table} keeps only project b's row", app.backend);
    }
}

/// SQLite stores UUIDs as 16-byte blobs (sqlx's encoding), PostgreSQL as `uuid`.
fn uuid_literal(app: &TestApp, id: uuid::Uuid) -> String {
    match app.backend {
        Backend::Postgres => format!("'{id}'"),
        Backend::Sqlite => format!("x'{}'", id.simple()),
    }
}

async fn down_then_up_and_up_twice(app: &TestApp) {
    let p = pid(7);
    fixtures::project(&app.db, p, "kept").await;
    // `up` on an up-to-date database changes nothing and keeps the data.
    Migrator::up(&app.db, None).await.expect("second up");
    assert!(Migrator::get_pending_migrations(&app.db).await.unwrap().is_empty());
    let n =
        rows(&app.db, app.db_backend(), "SELECT COUNT(*) AS n FROM project").await[0].try_get::<i64>("", "n").unwrap();
    assert_eq!(n, 1);

    Migrator::down(&app.db, None).await.expect("down");
    let tables = rows(&app.db, app.db_backend(), match app.backend {
        Backend::Postgres => "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'public' AND table_name LIKE 'metrics_%' OR table_name = 'project'",
        Backend::Sqlite => "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND (name LIKE 'metrics_%' OR name = 'project')",
    })
    .await[0]
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(tables, 0, "[{:?}] down leaves no table", app.backend);
    if app.backend == Backend::Postgres {
        let types =
            rows(&app.db, app.db_backend(), "SELECT COUNT(*) AS n FROM pg_type WHERE typname = 'metrics_time_grain'")
                .await[0]
                .try_get::<i64>("", "n")
                .unwrap();
        assert_eq!(types, 0, "down drops the enum type");
    }
    Migrator::up(&app.db, None).await.expect("up again");
    table_has_spec_columns(app).await;
    every_spec_index_exists_in_order(app).await;
}

both_backends!(
    table_has_spec_columns,
    every_spec_index_exists_in_order,
    invalid_grain_is_rejected_by_the_database,
    deleting_a_project_cascades,
    down_then_up_and_up_twice,
);

/// The catalog of a PostgreSQL database, as comparable text lines.
async fn catalog(url: &str) -> Vec<String> {
    let db = Database::connect(url).await.expect("connect");
    let queries = [
        "SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || udt_name || ' null=' || is_nullable \
         || ' default=' || coalesce(column_default, '-') AS line FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> 'seaql_migrations'",
        "SELECT 'constraint ' || conrelid::regclass::text || ' ' || contype::text || ' ' || pg_get_constraintdef(oid) AS line \
         FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> 'seaql_migrations'",
        "SELECT 'index ' || indexdef AS line FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'seaql_migrations'",
        "SELECT 'enum ' || t.typname || ' ' || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) AS line \
         FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname",
        "SELECT 'function ' || pg_get_functiondef(p.oid) AS line FROM pg_proc p \
         WHERE p.pronamespace = 'public'::regnamespace AND p.proname LIKE 'metrics_%'",
        "SELECT 'comment ' || c.relname || ' ' || coalesce(obj_description(c.oid, 'pg_class'), '-') AS line \
         FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND c.relname <> 'seaql_migrations'",
    ];
    let mut lines = Vec::new();
    for q in queries {
        for r in rows(&db, DbBackend::Postgres, q).await {
            lines.push(r.try_get::<String>("", "line").unwrap());
        }
    }
    db.close().await.ok();
    lines.sort();
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_twin_matches_the_migration_catalog() {
    let Some(migrated) = TestApp::postgres().await else { return };
    let Some(by_hand) = TestApp::fresh_postgres_database().await else { return };
    let by_hand_url = migrated.database_url.rsplit_once('/').unwrap().0.to_owned() + "/" + &by_hand;
    // Empty the clone, then apply the SQL file to it.
    let db = Database::connect(&by_hand_url).await.unwrap();
    Migrator::down(&db, None).await.unwrap();
    db.execute_unprepared("DROP TABLE seaql_migrations").await.unwrap();
    let sql =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/db/migrations/0005_metrics_read_model.sql"))
            .unwrap();
    db.execute_unprepared(&sql).await.expect("apply the SQL file");
    db.close().await.ok();

    let (a, b) = (catalog(&migrated.database_url).await, catalog(&by_hand_url).await);
    assert!(a.iter().any(|l| l.contains("USING gin (dimensions)")), "catalog query sees indexes: {a:#?}");
    assert_eq!(a, b, "docs/db/migrations/0005_metrics_read_model.sql drifted from the migrations");

    let admin =
        Database::connect(migrated.database_url.rsplit_once('/').unwrap().0.to_owned() + "/postgres").await.unwrap();
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {by_hand} WITH (FORCE)")).await.ok();
    migrated.finish().await;
}

/// A SQLite file path of this process for `tag`, none there yet, and its URL.
fn fresh_sqlite_file(tag: &str) -> (std::path::PathBuf, String) {
    let file = std::env::temp_dir().join(format!("metrics-api-{tag}-{}.db", std::process::id()));
    crate::common::remove_sqlite(&file);
    let url = format!("sqlite://{}", file.display());
    (file, url)
}

/// The binary: `migrate`, `migrate status`, `migrate down`, and one-line errors.
#[test]
fn migrate_cli_up_status_down_and_errors() {
    let bin = env!("CARGO_BIN_EXE_metrics-api");
    let (file, url) = fresh_sqlite_file("cli");
    let run = |args: &[&str], url: &str| {
        let out = std::process::Command::new(bin).args(args).env("DATABASE_URL", url).output().expect("run binary");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = run(&["migrate"], &url);
    assert!(ok, "{err}");
    assert!(out.contains("applied 3 migration(s)"), "{out}");
    assert!(file.exists(), "the SQLite file is created");
    let (_, out, _) = run(&["migrate", "status"], &url);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("layout   plain"), "{out}");
    assert!(lines.clone().all(|l| l.starts_with("applied")) && lines.count() == 3, "{out}");
    // SQLite has the plain layout only; a layout goes with `up`.
    let (ok, _, err) = run(&["migrate", "--partitioned"], &url);
    assert!(!ok && err.contains("needs PostgreSQL") && err.trim().lines().count() == 1, "{err}");
    let (ok, _, err) = run(&["migrate", "down", "--layout", "partitioned"], &url);
    assert!(!ok && err.contains("go with `migrate up`"), "{err}");
    let (ok, out, _) = run(&["migrate", "down"], &url);
    assert!(ok && out.contains("reverted m20260401_000001_guard_natural_keys"), "{out}");
    let (_, out, _) = run(&["migrate", "status"], &url);
    assert!(out.contains("pending  m20260401_000001_guard_natural_keys"), "{out}");

    let (ok, _, err) = run(&["migrate"], "mysql://x/y");
    assert!(!ok && err.trim().lines().count() == 1 && err.contains("malformed database URL"), "{err}");
    let (ok, _, err) = run(&["migrate"], "postgres://postgres@127.0.0.1:1/none");
    assert!(!ok && err.contains("cannot reach the database"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    crate::common::remove_sqlite(&file);
}

/// A reader that leaves (`metrics-api migrate | head -1`): the command still does its work
/// and exits as it would have, without a panic, whatever it prints.
#[test]
fn a_closed_stdout_neither_panics_nor_stops_the_command() {
    let bin = env!("CARGO_BIN_EXE_metrics-api");
    let (file, url) = fresh_sqlite_file("closed");
    let closed = || {
        // A pipe whose reading end is gone: every write to it fails with EPIPE.
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        writer
    };
    for args in [&["migrate"][..], &["migrate", "status"], &["schema"], &["seed-demo"]] {
        let out =
            std::process::Command::new(bin).args(args).env("DATABASE_URL", &url).stdout(closed()).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && !err.contains("panicked"), "{args:?}: {err}");
    }
    // The work was done: migrated and seeded.
    let out = std::process::Command::new(bin).args(["migrate", "status"]).env("DATABASE_URL", &url).output().unwrap();
    let status = String::from_utf8_lossy(&out.stdout);
    assert_eq!(status.lines().filter(|l| l.starts_with("applied")).count(), 3, "{status}");
    let out = std::process::Command::new(bin).args(["seed-demo"]).env("DATABASE_URL", &url).output().unwrap();
    let seeded = String::from_utf8_lossy(&out.stdout);
    assert!(seeded.contains("already holds projects"), "{seeded}");
    crate::common::remove_sqlite(&file);
}

// ---- Issue 12: installs into a host database, natural keys guarded, ids for SQL writers.

const SQL_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/db/migrations/0005_metrics_read_model.sql");

/// A host system's `project`: more columns than metrics-api needs, NOT NULL with defaults.
const HOST_PROJECT: &str = "CREATE TABLE project (id uuid PRIMARY KEY, name text NOT NULL DEFAULT '', \
     owner text NOT NULL DEFAULT 'host', created_at timestamptz NOT NULL DEFAULT now())";

/// An empty PostgreSQL database (no migration), its URL; `None` when PostgreSQL is skipped.
async fn empty_postgres(tag: &str) -> Option<(String, String)> {
    let probe = TestApp::fresh_postgres_database().await?;
    let admin_url =
        std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let base = admin_url.rsplit_once('/').unwrap().0.to_owned();
    let admin = Database::connect(&admin_url).await.unwrap();
    let name = format!("metrics_test_{}_{tag}", std::process::id());
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {probe} WITH (FORCE)")).await.unwrap();
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
    admin.close().await.ok();
    Some((name.clone(), format!("{base}/{name}")))
}

async fn drop_postgres(name: &str) {
    let admin_url =
        std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let admin = Database::connect(&admin_url).await.unwrap();
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.ok();
    admin.close().await.ok();
}

fn cli(args: &[&str], url: &str) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_metrics-api"))
        .args(args)
        .env("DATABASE_URL", url)
        .output()
        .expect("run binary");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// Observation 4: a host database with its own `project` takes the SQL file; the result
/// is recognised by `migrate` and served (`--no-migrate` too); writes register unknown
/// projects by id alone, taking the host's defaults.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_database_takes_the_sql_file_and_serves_it() {
    let Some((name, url)) = empty_postgres("sqlfile").await else { return };
    let db = Database::connect(&url).await.unwrap();
    db.execute_unprepared(HOST_PROJECT).await.unwrap();
    db.execute_unprepared(&format!("INSERT INTO project (id, name) VALUES ('{}', 'Host project')", pid(1)))
        .await
        .unwrap();
    db.execute_unprepared(&std::fs::read_to_string(SQL_FILE).unwrap()).await.expect("the SQL file over a host project");
    // Served without migrating: ready, reads the host's project, writes.
    {
        let served = crate::common::served::serve(&url, &["--no-migrate", "--retention-every", "off"], &[]).await;
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let ready = client.get(format!("{}/readyz", served.url)).send().await.unwrap();
        assert_eq!(ready.status(), 200, "{}", ready.text().await.unwrap());
        let d = crate::common::served::post(
            &served.url,
            "query($p: UUID!) { project(id: $p) { name } }",
            json!({ "p": pid(1) }),
        )
        .await;
        assert_eq!(d["data"]["project"]["name"], "Host project", "{d}");
        let w = crate::common::served::post(
            &served.url,
            r#"mutation($p: UUID!) { upsertTrendPoints(points: [{projectId: $p, metricKey: "m", grain: DAY, bucket: "2026-03-01T00:00:00Z", value: 1}]) { inserted } }"#,
            json!({ "p": pid(2) }),
        )
        .await;
        assert_eq!(w["data"]["upsertTrendPoints"]["inserted"], 1, "{w}");
    }
    let owner = rows(&db, DbBackend::Postgres, &format!("SELECT owner FROM project WHERE id = '{}'", pid(2))).await;
    assert_eq!(owner[0].try_get::<String>("", "owner").unwrap(), "host", "registered by id, host defaults");
    let (ok, out, err) = cli(&["migrate"], &url);
    assert!(ok && out.contains("applied 0 migration(s)"), "{out}{err}");
    let (_, out, _) = cli(&["migrate", "status"], &url);
    assert_eq!(out.lines().filter(|l| l.starts_with("applied")).count(), 3, "{out}");
    // `down` all the way leaves the host's table.
    for _ in 0..3 {
        let (ok, _, err) = cli(&["migrate", "down"], &url);
        assert!(ok, "{err}");
    }
    let left = rows(&db, DbBackend::Postgres, "SELECT COUNT(*) AS n FROM project").await;
    assert_eq!(left[0].try_get::<i64>("", "n").unwrap(), 2, "the host's project table and rows stay");
    db.close().await.ok();
    drop_postgres(&name).await;
}

/// The migration itself into a host database; an older SQL-file install (without the
/// natural-key guards) is completed; a differing install is refused, naming the difference.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_database_takes_the_migration_and_mismatches_are_named() {
    let Some((name, url)) = empty_postgres("migrate").await else { return };
    let db = Database::connect(&url).await.unwrap();
    db.execute_unprepared(HOST_PROJECT).await.unwrap();
    let (ok, out, err) = cli(&["migrate"], &url);
    assert!(ok && out.contains("applied 3 migration(s)"), "{out}{err}");
    let cols = rows(
        &db,
        DbBackend::Postgres,
        "SELECT COUNT(*) AS n FROM information_schema.columns WHERE table_name = 'project'",
    )
    .await;
    assert_eq!(cols[0].try_get::<i64>("", "n").unwrap(), 4, "the host's table is kept as it is");

    // An install from an older SQL file: the guards are missing; migrate adds them.
    db.execute_unprepared("DELETE FROM seaql_migrations").await.unwrap();
    for f in migration::m20260401_000001_guard_natural_keys::ID_FUNCTION_SIGNATURES {
        db.execute_unprepared(&format!("DROP FUNCTION {f}")).await.unwrap();
    }
    db.execute_unprepared("DROP INDEX uq_metrics_summary_natural_key, uq_metrics_trend_point_natural_key, uq_metrics_breakdown_point_natural_key, uq_metrics_drilldown_natural_key").await.unwrap();
    let (ok, out, err) = cli(&["migrate"], &url);
    assert!(ok && out.contains("applied 1 migration(s)"), "{out}{err}");

    // A differing install: a clear error naming the difference, nothing recorded.
    db.execute_unprepared("DELETE FROM seaql_migrations").await.unwrap();
    db.execute_unprepared("ALTER TABLE metrics_trend_point ALTER COLUMN value_numeric TYPE real").await.unwrap();
    let (ok, _, err) = cli(&["migrate"], &url);
    assert!(!ok, "a mismatch is refused");
    assert!(
        err.contains("column metrics_trend_point.value_numeric is `real null`, expected `double precision null`"),
        "{err}"
    );
    let n = rows(&db, DbBackend::Postgres, "SELECT COUNT(*) AS n FROM seaql_migrations").await;
    assert_eq!(n[0].try_get::<i64>("", "n").unwrap(), 0);
    db.close().await.ok();
    drop_postgres(&name).await;
}

/// A `project` whose id is not a uuid primary key is refused with a clear message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_table_without_a_uuid_key_is_named() {
    let Some((name, url)) = empty_postgres("badhost").await else { return };
    let db = Database::connect(&url).await.unwrap();
    db.execute_unprepared("CREATE TABLE project (id bigint PRIMARY KEY)").await.unwrap();
    let (ok, _, err) = cli(&["migrate"], &url);
    assert!(!ok && err.contains("needs `id uuid` as its primary key") && err.contains("of type bigint"), "{err}");
    let e = db.execute_unprepared(&std::fs::read_to_string(SQL_FILE).unwrap()).await.unwrap_err();
    assert!(e.to_string().contains("needs \"id uuid\" as its primary key"), "{e}");
    db.close().await.ok();
    drop_postgres(&name).await;
}

/// Observation 5: a second row for a stored natural key is refused by the database,
/// whatever its id, on every table (absent grain, bucket, scope or entity included).
async fn natural_keys_are_unique_in_the_database(app: &TestApp) {
    let p = pid(1);
    fixtures::project(&app.db, p, "a").await;
    fixtures::trend(&app.db, p, "m", TimeGrain::Day, "2026-03-01T00:00:00Z", json!({"team": "a"}), 1.0).await;
    fixtures::breakdown(&app.db, p, "wip", None, None, "state", "open", 1.0).await;
    fixtures::drilldowns(
        &app.db,
        vec![fixtures::drilldown_row(p, "c", "task", metrics_api::identity::EntityRef::Reference("T-1".into()), None)],
    )
    .await;
    fixtures::summary(&app.db, p, "2026-03-01T00:00:00Z", None, json!({})).await;
    let other = uuid::Uuid::from_u128(0xdead_beef);
    let (pl, ol) = (uuid_literal(app, p), uuid_literal(app, other));
    let (grain, jsonb) = match app.backend {
        Backend::Postgres => ("'day'::metrics_time_grain", "::jsonb"),
        Backend::Sqlite => ("'day'", ""),
    };
    let t = "'2026-03-01T00:00:00+00:00'";
    for sql in [
        format!("INSERT INTO metrics_trend_point (id, project_id, metric_key, time_grain, time_bucket, dimensions, computed_at) \
                 VALUES ({ol}, {pl}, 'm', {grain}, {t}, '{{\"team\":\"a\"}}'{jsonb}, {t})"),
        format!("INSERT INTO metrics_breakdown_point (id, project_id, metric_key, dimension_key, dimension_value, computed_at) \
                 VALUES ({ol}, {pl}, 'wip', 'state', 'open', {t})"),
        format!("INSERT INTO metrics_drilldown (id, project_id, metric_key, entity_type, reference_id, payload, computed_at) \
                 VALUES ({ol}, {pl}, 'c', 'task', 'T-1', '{{}}'{jsonb}, {t})"),
        format!("INSERT INTO metrics_summary (id, project_id, captured_at, payload, created_at) VALUES ({ol}, {pl}, {t}, '{{}}'{jsonb}, {t})"),
    ] {
        let e = app.db.execute_unprepared(&sql).await.expect_err(&format!("[{:?}] accepted: {sql}", app.backend));
        assert!(e.to_string().to_lowercase().contains("unique"), "[{:?}] {e}", app.backend);
        if app.backend == Backend::Postgres {
            assert!(metrics_api::error::upstream::is_natural_key_race(&e), "the write path's retry recognises {e}");
        }
    }
    // Another key is accepted: the indexes guard the key, nothing more.
    let sql = format!("INSERT INTO metrics_breakdown_point (id, project_id, metric_key, dimension_key, dimension_value, computed_at) \
                       VALUES ({ol}, {pl}, 'wip', 'state', 'closed', {t})");
    app.db.execute_unprepared(&sql).await.unwrap();
}

both_backends!(natural_keys_are_unique_in_the_database);

/// A small deterministic generator (xorshift) for random rows.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }

    fn text(&mut self) -> String {
        let parts = ["a", "Zé", "\"", "\\", "\n", "\t", "\u{1}", "\u{7f}", "日本", "/", " ", "x y", "{}", "😀", "<"];
        (0..1 + self.next() % 5).map(|_| self.pick(&parts)).collect()
    }

    fn json(&mut self, depth: u32) -> serde_json::Value {
        match self.next() % if depth == 0 { 5 } else { 7 } {
            0 => json!(null),
            1 => json!(self.next() % 2 == 0),
            2 => json!((self.next() % 2001) as i64 - 1000),
            3 | 4 => json!(self.text()),
            5 => serde_json::Value::Array((0..self.next() % 3).map(|_| self.json(depth - 1)).collect()),
            _ => serde_json::Value::Object((0..self.next() % 4).map(|_| (self.text(), self.json(depth - 1))).collect()),
        }
    }

    fn time(&mut self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_micros((self.next() % 4_000_000_000_000_000) as i64).unwrap()
    }
}

/// The id functions the migration creates equal `src/identity.rs` on random rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_id_functions_equal_the_rust_derivation() {
    use metrics_api::identity::{self, EntityRef};
    use metrics_api::store::sql::Sql;
    let Some(app) = TestApp::postgres().await else { return };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..300 {
        let p = uuid::Uuid::from_u128(u128::from(rng.next()) << 64 | u128::from(rng.next()));
        let metric = rng.text();
        let grain = [TimeGrain::Hour, TimeGrain::Day, TimeGrain::Week, TimeGrain::Month][(rng.next() % 4) as usize];
        let (t1, t2) = (rng.time(), rng.time());
        let dims = serde_json::Value::Object((0..rng.next() % 4).map(|_| (rng.text(), rng.json(2))).collect());
        let (k, v) = (rng.text(), rng.text());
        let scope = (rng.next() % 2 == 0).then(|| rng.json(2));
        let entity = if rng.next() % 2 == 0 {
            EntityRef::Id(uuid::Uuid::from_u128(u128::from(rng.next())))
        } else {
            EntityRef::Reference(rng.text())
        };
        let snapshot = rng.next() % 2 == 0;
        let (g, b) = if snapshot { (None, None) } else { (Some(grain), Some(t2)) };

        let mut sql = Sql::new(DbBackend::Postgres);
        sql.push("SELECT metrics_trend_point_id(")
            .bind(p)
            .push(", ")
            .bind(metric.as_str())
            .push(", ")
            .bind_grain(grain);
        sql.push(", ")
            .bind_time(t1)
            .push(", ")
            .bind_json(&dims)
            .push(") AS trend, metrics_breakdown_point_id(")
            .bind(p);
        sql.push(", ")
            .bind(metric.as_str())
            .push(", CAST(")
            .bind(g.map(|g| g.as_str()))
            .push(" AS metrics_time_grain), ");
        sql.bind(b).push(", ").bind(k.as_str()).push(", ").bind(v.as_str()).push(") AS breakdown, metrics_summary_id(");
        sql.bind(p).push(", ").bind_time(t1).push(", ");
        match &scope {
            Some(s) => sql.bind_json(s),
            None => sql.push("NULL"),
        };
        sql.push(") AS summary, metrics_drilldown_id(")
            .bind(p)
            .push(", ")
            .bind(metric.as_str())
            .push(", ")
            .bind(k.as_str());
        let (eid, rid) = match &entity {
            EntityRef::Id(e) => (Some(*e), None),
            EntityRef::Reference(r) => (None, Some(r.clone())),
        };
        sql.push(", ").bind(eid).push(", ").bind(rid).push(", ").bind(b).push(") AS drilldown");
        let row = app.db.query_one_raw(sql.build()).await.unwrap().unwrap();
        let got = |c: &str| row.try_get::<uuid::Uuid>("", c).unwrap();
        assert_eq!(got("trend"), identity::trend_point_id(p, &metric, grain, t1, &dims), "trend {metric:?} {dims}");
        assert_eq!(got("breakdown"), identity::breakdown_point_id(p, &metric, g, b, &k, &v), "breakdown {k:?} {v:?}");
        assert_eq!(got("summary"), identity::summary_id(p, t1, scope.as_ref()), "summary {scope:?}");
        assert_eq!(got("drilldown"), identity::drilldown_id(p, &metric, &k, &entity, b), "drilldown {entity:?}");
    }
    app.finish().await;
}
