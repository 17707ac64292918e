-- 0005_metrics_read_model.sql
--
-- The metrics read model (metrics-read-model-storage-strategy.md, sections 4 and 7) as
-- plain PostgreSQL DDL, for DBAs who apply SQL by hand. It is the twin of the SeaORM
-- migrations in migration/src (m20260208_000001_create_read_model and
-- m20260301_000001_add_drilldown_recent_index): tests/it/migrations.rs applies this file to
-- an empty database and compares its catalog with a migrated one, so the two never drift.
--
-- Row ids are UUIDv5 of each row's natural key (src/identity.rs), so compute jobs upsert
-- with INSERT ... ON CONFLICT (id).

BEGIN;

CREATE TYPE metrics_time_grain AS ENUM ('hour', 'day', 'week', 'month');

-- The FK target of every metrics table.
CREATE TABLE project (
    id uuid PRIMARY KEY,
    name text,
    created_at timestamp with time zone NOT NULL DEFAULT CURRENT_TIMESTAMP
);

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

COMMIT;
