//! The database guards the natural keys, and derives row ids for SQL writers.
//!
//! Row ids are UUIDv5 of the natural key (`src/identity.rs`), so `ON CONFLICT (id)`
//! upserts; but a writer that picks another id for a stored natural key would add a
//! second row that reads return at random and a fold counts twice. So each table gets a
//! unique index over its natural key (added beside the spec's indexes, which stay as they
//! are):
//! - PostgreSQL: `NULLS NOT DISTINCT` (PostgreSQL 15+) makes absent grain, bucket, scope
//!   or entity equal; JSON columns enter as `md5(col::text)` (jsonb text is normalised,
//!   and a hash keeps large objects under the B-tree entry limit);
//! - SQLite treats NULLs as distinct in unique indexes, so nullable columns enter as
//!   `COALESCE(col, '')` (no stored value is an empty string: keys are validated non-empty,
//!   and timestamps and JSON are stored as non-empty text).
//!
//! On PostgreSQL it also creates the id derivation as SQL functions, for jobs that write
//! with SQL: `metrics_trend_point_id(...)`, `metrics_breakdown_point_id(...)`,
//! `metrics_drilldown_id(...)`, `metrics_summary_id(...)` and the canonical JSON text they
//! use, `metrics_canonical_json(jsonb)`. They need `uuid_generate_v5` from the
//! `uuid-ossp` extension (a trusted extension since PostgreSQL 13: the database owner can
//! create it), created here when missing and left in place by `down`.

use crate::index_names::*;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20260401_000001_guard_natural_keys"
    }
}

/// The unique indexes, per backend.
fn indexes(backend: DbBackend) -> [String; 4] {
    match backend {
        DbBackend::Postgres => [
            format!(
                "CREATE UNIQUE INDEX {SUMMARY_NATURAL_KEY} ON metrics_summary \
                 (project_id, captured_at, md5(scope::text)) NULLS NOT DISTINCT"
            ),
            format!(
                "CREATE UNIQUE INDEX {TREND_NATURAL_KEY} ON metrics_trend_point \
                 (project_id, metric_key, time_grain, time_bucket, md5(dimensions::text))"
            ),
            format!(
                "CREATE UNIQUE INDEX {BREAKDOWN_NATURAL_KEY} ON metrics_breakdown_point \
                 (project_id, metric_key, time_grain, time_bucket, dimension_key, dimension_value) NULLS NOT DISTINCT"
            ),
            format!(
                "CREATE UNIQUE INDEX {DRILLDOWN_NATURAL_KEY} ON metrics_drilldown \
                 (project_id, metric_key, entity_type, entity_id, reference_id, time_bucket) NULLS NOT DISTINCT"
            ),
        ],
        _ => [
            format!(
                "CREATE UNIQUE INDEX {SUMMARY_NATURAL_KEY} ON metrics_summary \
                 (project_id, captured_at, COALESCE(scope, ''))"
            ),
            format!(
                "CREATE UNIQUE INDEX {TREND_NATURAL_KEY} ON metrics_trend_point \
                 (project_id, metric_key, time_grain, time_bucket, dimensions)"
            ),
            format!(
                "CREATE UNIQUE INDEX {BREAKDOWN_NATURAL_KEY} ON metrics_breakdown_point \
                 (project_id, metric_key, COALESCE(time_grain, ''), COALESCE(time_bucket, ''), dimension_key, dimension_value)"
            ),
            format!(
                "CREATE UNIQUE INDEX {DRILLDOWN_NATURAL_KEY} ON metrics_drilldown \
                 (project_id, metric_key, entity_type, COALESCE(entity_id, ''), COALESCE(reference_id, ''), COALESCE(time_bucket, ''))"
            ),
        ],
    }
}

/// The id derivation of `src/identity.rs` in PL/pgSQL and SQL (PostgreSQL only). Each id
/// is `uuid_generate_v5(namespace, key)` where key is the compact JSON array of the
/// natural key's fields, as serde_json writes it.
pub const ID_FUNCTIONS: &str = r#"
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";

-- JSON with object keys in byte order at every depth and no whitespace, as
-- identity::canonical_json writes it (numbers as jsonb prints them: equal to the Rust
-- text for integers; a decimal like 1.50 prints as 1.50 here and 1.5 in Rust).
CREATE FUNCTION metrics_canonical_json(v jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT AS $fn$
BEGIN
    RETURN CASE jsonb_typeof(v)
        WHEN 'object' THEN '{' || COALESCE((SELECT string_agg(to_json(k)::text || ':' || metrics_canonical_json(e), ',' ORDER BY k COLLATE "C")
                                            FROM jsonb_each(v) AS x(k, e)), '') || '}'
        WHEN 'array' THEN '[' || COALESCE((SELECT string_agg(metrics_canonical_json(e), ',' ORDER BY i)
                                           FROM jsonb_array_elements(v) WITH ORDINALITY AS x(e, i)), '') || ']'
        ELSE v::text
    END;
END
$fn$;

-- A key field: a JSON string, or null.
CREATE FUNCTION metrics_id_field(t text) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$ SELECT COALESCE(to_json(t)::text, 'null') $fn$;

-- A timestamp field: UTC, microseconds, `Z` (RFC 3339 as identity::time_field writes it).
CREATE FUNCTION metrics_id_time(t timestamptz) RETURNS text
LANGUAGE sql STABLE AS $fn$
    SELECT metrics_id_field(to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
$fn$;

CREATE FUNCTION metrics_id(key text) RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT AS $fn$
    SELECT uuid_generate_v5('6f1c2b8e-4d3a-5e71-9a0b-c4d5e6f7a8b9'::uuid, key)
$fn$;

CREATE FUNCTION metrics_summary_id(project_id uuid, captured_at timestamptz, scope jsonb DEFAULT NULL) RETURNS uuid
LANGUAGE sql STABLE AS $fn$
    SELECT metrics_id('["summary",' || metrics_id_field(project_id::text) || ',' || metrics_id_time(captured_at) || ','
        || COALESCE(metrics_canonical_json(scope), 'null') || ']')
$fn$;

CREATE FUNCTION metrics_trend_point_id(project_id uuid, metric_key text, time_grain metrics_time_grain,
    time_bucket timestamptz, dimensions jsonb DEFAULT '{}') RETURNS uuid
LANGUAGE sql STABLE AS $fn$
    SELECT metrics_id('["trend",' || metrics_id_field(project_id::text) || ',' || metrics_id_field(metric_key) || ','
        || metrics_id_field(time_grain::text) || ',' || metrics_id_time(time_bucket) || ','
        || metrics_canonical_json(COALESCE(dimensions, '{}')) || ']')
$fn$;

CREATE FUNCTION metrics_breakdown_point_id(project_id uuid, metric_key text, time_grain metrics_time_grain,
    time_bucket timestamptz, dimension_key text, dimension_value text) RETURNS uuid
LANGUAGE sql STABLE AS $fn$
    SELECT metrics_id('["breakdown",' || metrics_id_field(project_id::text) || ',' || metrics_id_field(metric_key) || ','
        || metrics_id_field(time_grain::text) || ',' || metrics_id_time(time_bucket) || ','
        || metrics_id_field(dimension_key) || ',' || metrics_id_field(dimension_value) || ']')
$fn$;

-- Exactly one of entity_id and reference_id; otherwise NULL (and the insert fails).
CREATE FUNCTION metrics_drilldown_id(project_id uuid, metric_key text, entity_type text, entity_id uuid,
    reference_id text, time_bucket timestamptz DEFAULT NULL) RETURNS uuid
LANGUAGE sql STABLE AS $fn$
    SELECT CASE WHEN (entity_id IS NULL) = (reference_id IS NULL) THEN NULL ELSE
        metrics_id('["drilldown",' || metrics_id_field(project_id::text) || ',' || metrics_id_field(metric_key) || ','
        || metrics_id_field(entity_type) || ','
        || CASE WHEN entity_id IS NOT NULL THEN '{"id":' || metrics_id_field(entity_id::text) || '}'
                ELSE '{"ref":' || metrics_id_field(reference_id) || '}' END
        || ',' || metrics_id_time(time_bucket) || ']') END
$fn$;
"#;

/// The functions [`ID_FUNCTIONS`] creates, with their argument types (for `down`).
pub const ID_FUNCTION_SIGNATURES: [&str; 8] = [
    "metrics_drilldown_id(uuid, text, text, uuid, text, timestamptz)",
    "metrics_breakdown_point_id(uuid, text, metrics_time_grain, timestamptz, text, text)",
    "metrics_trend_point_id(uuid, text, metrics_time_grain, timestamptz, jsonb)",
    "metrics_summary_id(uuid, timestamptz, jsonb)",
    "metrics_id(text)",
    "metrics_id_time(timestamptz)",
    "metrics_id_field(text)",
    "metrics_canonical_json(jsonb)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in indexes(manager.get_database_backend()) {
            db.execute_unprepared(&sql).await?;
        }
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(ID_FUNCTIONS).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            for f in ID_FUNCTION_SIGNATURES {
                db.execute_unprepared(&format!("DROP FUNCTION IF EXISTS {f}")).await?;
            }
        }
        for name in [SUMMARY_NATURAL_KEY, TREND_NATURAL_KEY, BREAKDOWN_NATURAL_KEY, DRILLDOWN_NATURAL_KEY] {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}")).await?;
        }
        Ok(())
    }
}
