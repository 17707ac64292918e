//! Recognising a database installed from `docs/db/migrations/0005_metrics_read_model.sql`.
//!
//! A DBA may apply the SQL file by hand instead of running `metrics-api migrate`. Such a
//! database holds the read model but no `seaql_migrations` rows, so the migrator would
//! try to create everything again (`type "metrics_time_grain" already exists`). Before
//! migrating, [`adopt_sql_install`] compares the objects each migration creates with the
//! database: a migration whose objects all exist and match is recorded as applied; one
//! whose objects are all absent is left pending (an older SQL file: `migrate` applies the
//! rest); anything else is an error naming each difference, and nothing is recorded.
//!
//! What is compared (PostgreSQL; the SQL file is PostgreSQL DDL): the enum's labels, each
//! metrics table's columns (name, type, nullability), `project.id` as a non-null `uuid`
//! (the foreign keys that reference it prove it unique), each index's definition, and the
//! id functions by name. `tests/it/migrations.rs` adopts both a database installed from
//! the SQL file and a migrated one with its records removed, so these expectations cannot
//! drift from either.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::index_names::*;
use crate::{Migrator, MigratorTrait};

/// What [`adopt_sql_install`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Adoption {
    /// Not an SQL-file install (SQLite, a fresh database, or migrations already recorded).
    NotNeeded,
    /// These migrations were recorded as applied.
    Recorded(Vec<String>),
}

/// One migration's objects as the database holds them.
enum Found {
    All,
    None,
    Differs(Vec<String>),
}

/// (column, type as `format_type` prints it, nullable).
type Column = (&'static str, &'static str, bool);

/// Expected columns, by table.
const COLUMNS: [(&str, &[Column]); 4] = [
    (
        "metrics_summary",
        &[
            ("id", "uuid", false),
            ("project_id", "uuid", false),
            ("captured_at", "timestamp with time zone", false),
            ("version", "text", false),
            ("scope", "jsonb", true),
            ("payload", "jsonb", false),
            ("created_at", "timestamp with time zone", false),
        ],
    ),
    (
        "metrics_trend_point",
        &[
            ("id", "uuid", false),
            ("project_id", "uuid", false),
            ("metric_key", "text", false),
            ("time_grain", "metrics_time_grain", false),
            ("time_bucket", "timestamp with time zone", false),
            ("dimensions", "jsonb", false),
            ("value_numeric", "double precision", true),
            ("value_json", "jsonb", true),
            ("computed_at", "timestamp with time zone", false),
        ],
    ),
    (
        "metrics_breakdown_point",
        &[
            ("id", "uuid", false),
            ("project_id", "uuid", false),
            ("metric_key", "text", false),
            ("time_grain", "metrics_time_grain", true),
            ("time_bucket", "timestamp with time zone", true),
            ("dimension_key", "text", false),
            ("dimension_value", "text", false),
            ("value_numeric", "double precision", true),
            ("value_json", "jsonb", true),
            ("computed_at", "timestamp with time zone", false),
        ],
    ),
    (
        "metrics_drilldown",
        &[
            ("id", "uuid", false),
            ("project_id", "uuid", false),
            ("metric_key", "text", false),
            ("entity_type", "text", false),
            ("entity_id", "uuid", true),
            ("reference_id", "text", true),
            ("time_bucket", "timestamp with time zone", true),
            ("payload", "jsonb", false),
            ("computed_at", "timestamp with time zone", false),
        ],
    ),
];

/// Expected indexes of each migration: (name, definition after `ON <schema>.`).
const M1_INDEXES: [(&str, &str); 7] = [
    (SUMMARY_PROJECT_CAPTURED, "metrics_summary USING btree (project_id, captured_at DESC)"),
    (TREND_SERIES, "metrics_trend_point USING btree (project_id, metric_key, time_grain, time_bucket DESC)"),
    (TREND_DIMENSIONS_GIN, "metrics_trend_point USING gin (dimensions)"),
    (BREAKDOWN_SERIES, "metrics_breakdown_point USING btree (project_id, metric_key, time_grain, time_bucket DESC)"),
    (BREAKDOWN_DIMENSION, "metrics_breakdown_point USING btree (project_id, dimension_key, dimension_value)"),
    (DRILLDOWN_ENTITY, "metrics_drilldown USING btree (project_id, metric_key, entity_type, entity_id)"),
    (DRILLDOWN_REFERENCE, "metrics_drilldown USING btree (project_id, metric_key, reference_id)"),
];
const M2_INDEXES: [(&str, &str); 1] = [(
    DRILLDOWN_RECENT,
    "metrics_drilldown USING btree (project_id, metric_key, entity_type, time_bucket DESC NULLS LAST, id)",
)];
const M3_INDEXES: [(&str, &str); 4] = [
    (SUMMARY_NATURAL_KEY, "metrics_summary USING btree (project_id, captured_at, md5((scope)::text)) NULLS NOT DISTINCT"),
    (
        TREND_NATURAL_KEY,
        "metrics_trend_point USING btree (project_id, metric_key, time_grain, time_bucket, md5((dimensions)::text))",
    ),
    (
        BREAKDOWN_NATURAL_KEY,
        "metrics_breakdown_point USING btree (project_id, metric_key, time_grain, time_bucket, dimension_key, dimension_value) NULLS NOT DISTINCT",
    ),
    (
        DRILLDOWN_NATURAL_KEY,
        "metrics_drilldown USING btree (project_id, metric_key, entity_type, entity_id, reference_id, time_bucket) NULLS NOT DISTINCT",
    ),
];
const M3_FUNCTIONS: [&str; 5] = [
    "metrics_canonical_json",
    "metrics_summary_id",
    "metrics_trend_point_id",
    "metrics_breakdown_point_id",
    "metrics_drilldown_id",
];

async fn lines(db: &impl ConnectionTrait, sql: &str) -> Result<Vec<(String, String)>, DbErr> {
    let rows = db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql)).await?;
    rows.iter().map(|r| Ok((r.try_get("", "k")?, r.try_get("", "v")?))).collect()
}

/// Compares expected (key, value) pairs with the database's; `what` names the kind.
fn compare(what: &str, want: &[(String, String)], got: &[(String, String)], diffs: &mut Vec<String>) -> (usize, usize) {
    let mut present = 0;
    for (k, v) in want {
        match got.iter().find(|(gk, _)| gk == k) {
            Some((_, gv)) if gv == v => present += 1,
            Some((_, gv)) => {
                present += 1;
                diffs.push(format!("{what} {k} is `{gv}`, expected `{v}`"));
            }
            None => diffs.push(format!("{what} {k} is missing")),
        }
    }
    (present, want.len())
}

fn found(present: usize, total: usize, diffs: Vec<String>) -> Found {
    if present == 0 {
        Found::None
    } else if present == total && diffs.is_empty() {
        Found::All
    } else {
        Found::Differs(diffs)
    }
}

async fn indexes_found(db: &impl ConnectionTrait, want: &[(&str, &str)]) -> Result<(usize, usize, Vec<String>), DbErr> {
    let got = lines(
        db,
        "SELECT indexname AS k, regexp_replace(indexdef, '^.* ON [^ ]*\\.', '') AS v FROM pg_indexes \
         WHERE schemaname = current_schema()",
    )
    .await?;
    let want: Vec<(String, String)> = want.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let mut diffs = Vec::new();
    let (present, total) = compare("index", &want, &got, &mut diffs);
    Ok((present, total, diffs))
}

async fn m1(db: &impl ConnectionTrait) -> Result<Found, DbErr> {
    let mut diffs = Vec::new();
    let (mut present, mut total) = (0, 0);
    let got = lines(
        db,
        "SELECT table_name || '.' || column_name AS k, \
         format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE ' null' END AS v \
         FROM information_schema.columns c JOIN pg_attribute a ON a.attrelid = to_regclass(c.table_name) \
         AND a.attname = c.column_name WHERE c.table_schema = current_schema()",
    )
    .await?;
    let mut want = Vec::new();
    for (table, cols) in COLUMNS {
        for (col, ty, nullable) in cols {
            want.push((format!("{table}.{col}"), format!("{ty}{}", if *nullable { " null" } else { " not null" })));
        }
    }
    // Of `project` (the host's table, maybe), only the FK target.
    want.push(("project.id".into(), "uuid not null".into()));
    let (p, t) = compare("column", &want, &got, &mut diffs);
    (present, total) = (present + p, total + t);
    let enums = lines(
        db,
        "SELECT t.typname AS k, string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) AS v FROM pg_type t \
         JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname",
    )
    .await?;
    let (p, t) = compare("enum", &[("metrics_time_grain".into(), "hour,day,week,month".into())], &enums, &mut diffs);
    (present, total) = (present + p, total + t);
    let (p, t, d) = indexes_found(db, &M1_INDEXES).await?;
    diffs.extend(d);
    Ok(found(present + p, total + t, diffs))
}

async fn m3(db: &impl ConnectionTrait) -> Result<Found, DbErr> {
    let (p, t, mut diffs) = indexes_found(db, &M3_INDEXES).await?;
    let got = lines(
        db,
        "SELECT proname AS k, 'function' AS v FROM pg_proc WHERE pronamespace = current_schema()::regnamespace",
    )
    .await?;
    let want: Vec<(String, String)> = M3_FUNCTIONS.iter().map(|f| ((*f).to_owned(), "function".into())).collect();
    let (fp, ft) = compare("function", &want, &got, &mut diffs);
    Ok(found(p + fp, t + ft, diffs))
}

/// Records the migrations of an SQL-file install as applied (see the module docs).
pub async fn adopt_sql_install(db: &impl ConnectionTrait) -> Result<Adoption, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(Adoption::NotNeeded);
    }
    let probe = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT to_regclass('metrics_trend_point') IS NOT NULL AS installed, \
             to_regclass('seaql_migrations') IS NOT NULL AS tracked",
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("cannot inspect the database".into()))?;
    let (installed, tracked): (bool, bool) = (probe.try_get("", "installed")?, probe.try_get("", "tracked")?);
    if !installed {
        return Ok(Adoption::NotNeeded);
    }
    if tracked {
        let n = db
            .query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT COUNT(*) AS n FROM seaql_migrations"))
            .await?
            .map(|r| r.try_get::<i64>("", "n"))
            .transpose()?
            .unwrap_or(0);
        if n > 0 {
            return Ok(Adoption::NotNeeded);
        }
    }
    let checks = [
        m1(db).await?,
        {
            let (p, t, d) = indexes_found(db, &M2_INDEXES).await?;
            found(p, t, d)
        },
        m3(db).await?,
    ];
    let names: Vec<String> = Migrator::migrations().iter().map(|m| m.name().to_owned()).collect();
    let mut applied = Vec::new();
    let mut problems = Vec::new();
    let mut absent_seen = false;
    for (name, check) in names.iter().zip(checks) {
        match check {
            Found::All if !absent_seen => applied.push(name.clone()),
            Found::All => problems.push(format!("{name} is installed but an earlier migration is not")),
            Found::None => absent_seen = true,
            Found::Differs(d) => problems.push(format!("{name}: {}", d.join("; "))),
        }
    }
    if !problems.is_empty() {
        return Err(DbErr::Migration(format!(
            "the database holds a metrics read model that differs from this release's migrations, so it is not \
             recorded as applied: {}",
            problems.join(" | ")
        )));
    }
    Migrator::install(db).await?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    for name in &applied {
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO seaql_migrations (version, applied_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            [name.clone().into(), now.into()],
        ))
        .await?;
    }
    Ok(Adoption::Recorded(applied))
}
