-- 0005_metrics_read_model.sql
--
-- The metrics read model (metrics-read-model-storage-strategy.md, sections 4 and 7) as
-- plain PostgreSQL (15 or later) DDL, for DBAs who apply SQL by hand. It is the twin of
-- the SeaORM migrations in migration/src (m20260208_000001_create_read_model,
-- m20260301_000001_add_drilldown_recent_index and m20260401_000001_guard_natural_keys):
-- tests/it/migrations.rs applies this file to an empty database and to one with a host
-- `project` table, and compares the catalog with a migrated one, so the two never drift.
-- `metrics-api migrate` and `serve` recognise a database installed from this file and
-- record its migrations as applied (or name what differs).
--
-- `project` is the host system's table: it is created only when missing, and of an
-- existing one only `id uuid PRIMARY KEY` is required.
--
-- Row ids are UUIDv5 of each row's natural key (src/identity.rs), so compute jobs upsert
-- with INSERT ... ON CONFLICT (id). Jobs writing with SQL derive the id with the
-- functions at the end (metrics_trend_point_id(...) etc.); a unique index over each
-- natural key refuses a second row for a stored key whatever its id.

BEGIN;

CREATE TYPE metrics_time_grain AS ENUM ('hour', 'day', 'week', 'month');

-- The FK target of every metrics table: the host's `project` when it exists (it needs
-- `id uuid` as its primary key), otherwise a minimal one, marked as created here.
DO $$
BEGIN
    IF to_regclass('project') IS NULL THEN
        CREATE TABLE project (
            id uuid PRIMARY KEY,
            name text,
            created_at timestamp with time zone NOT NULL DEFAULT CURRENT_TIMESTAMP
        );
        COMMENT ON TABLE project IS 'metrics-api: created by m20260208_000001_create_read_model';
    ELSIF NOT EXISTS (
        SELECT 1 FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
        WHERE c.conrelid = to_regclass('project') AND c.contype = 'p' AND cardinality(c.conkey) = 1
          AND a.attname = 'id' AND a.atttypid = 'uuid'::regtype
    ) THEN
        RAISE EXCEPTION 'the existing table "project" needs "id uuid" as its primary key';
    END IF;
END
$$;

-- 4.1 Contract-aligned summary payloads.
CREATE TABLE metrics_summary (
    id uuid PRIMARY KEY,
    project_id uuid NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    captured_at timestamp with time zone NOT NULL,
    version text NOT NULL DEFAULT '1.0',
    scope jsonb,
    payload jsonb NOT NULL,
    created_at timestamp with time zone NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_metrics_summary_project_captured
    ON metrics_summary (project_id, captured_at DESC);

-- 4.2 Time-series points for trend charts and rolling summaries.
CREATE TABLE metrics_trend_point (
    id uuid PRIMARY KEY,
    project_id uuid NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    metric_key text NOT NULL,
    time_grain metrics_time_grain NOT NULL,
    time_bucket timestamp with time zone NOT NULL,
    dimensions jsonb NOT NULL DEFAULT '{}'::jsonb,
    value_numeric double precision,
    value_json jsonb,
    computed_at timestamp with time zone NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_metrics_trend_point_series
    ON metrics_trend_point (project_id, metric_key, time_grain, time_bucket DESC);
CREATE INDEX idx_metrics_trend_point_dimensions
    ON metrics_trend_point USING GIN (dimensions);

-- 4.3 Category breakdowns; grain and bucket are NULL for snapshot-only metrics.
CREATE TABLE metrics_breakdown_point (
    id uuid PRIMARY KEY,
    project_id uuid NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    metric_key text NOT NULL,
    time_grain metrics_time_grain,
    time_bucket timestamp with time zone,
    dimension_key text NOT NULL,
    dimension_value text NOT NULL,
    value_numeric double precision,
    value_json jsonb,
    computed_at timestamp with time zone NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_metrics_breakdown_point_series
    ON metrics_breakdown_point (project_id, metric_key, time_grain, time_bucket DESC);
CREATE INDEX idx_metrics_breakdown_point_dimension
    ON metrics_breakdown_point (project_id, dimension_key, dimension_value);

-- 4.4 Entity-level drilldowns; entity_id or, for non-UUID keys, reference_id.
CREATE TABLE metrics_drilldown (
    id uuid PRIMARY KEY,
    project_id uuid NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    metric_key text NOT NULL,
    entity_type text NOT NULL,
    entity_id uuid,
    reference_id text,
    time_bucket timestamp with time zone,
    payload jsonb NOT NULL,
    computed_at timestamp with time zone NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_metrics_drilldown_entity
    ON metrics_drilldown (project_id, metric_key, entity_type, entity_id);
CREATE INDEX idx_metrics_drilldown_reference
    ON metrics_drilldown (project_id, metric_key, reference_id);
-- Not in the spec: serves newest-first drilldown pages (see the migration's comment).
CREATE INDEX idx_metrics_drilldown_recent
    ON metrics_drilldown (project_id, metric_key, entity_type, time_bucket DESC NULLS LAST, id);


-- Not in the spec: the database guards the natural keys (see
-- m20260401_000001_guard_natural_keys). NULLS NOT DISTINCT: an absent grain, bucket,
-- scope or entity is one value; JSON enters hashed (under the B-tree entry limit).
CREATE UNIQUE INDEX uq_metrics_summary_natural_key
    ON metrics_summary (project_id, captured_at, md5(scope::text)) NULLS NOT DISTINCT;
CREATE UNIQUE INDEX uq_metrics_trend_point_natural_key
    ON metrics_trend_point (project_id, metric_key, time_grain, time_bucket, md5(dimensions::text));
CREATE UNIQUE INDEX uq_metrics_breakdown_point_natural_key
    ON metrics_breakdown_point (project_id, metric_key, time_grain, time_bucket, dimension_key, dimension_value)
    NULLS NOT DISTINCT;
CREATE UNIQUE INDEX uq_metrics_drilldown_natural_key
    ON metrics_drilldown (project_id, metric_key, entity_type, entity_id, reference_id, time_bucket)
    NULLS NOT DISTINCT;

-- The row id derivation of src/identity.rs, for jobs that write with SQL, e.g.
--   INSERT INTO metrics_trend_point (id, project_id, metric_key, time_grain, time_bucket, dimensions, value_numeric)
--   VALUES (metrics_trend_point_id($1, 'tasks_completed', 'day', '2026-03-02', '{"team":"a"}'),
--           $1, 'tasks_completed', 'day', '2026-03-02', '{"team":"a"}', 5)
--   ON CONFLICT (id) DO UPDATE SET value_numeric = excluded.value_numeric, computed_at = now();
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
COMMIT;
