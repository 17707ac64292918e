//! The `Mutation` root: the write API for compute jobs, over [`crate::ingest`].
//!
//! Input types mirror the read types (`bucket`, `value`, `valueJson`, ...). A batch is
//! one transaction: an invalid row rejects the whole batch with `BAD_USER_INPUT`, the
//! row's index in `extensions.row` and the field in `extensions.field`.

use async_graphql::{Context, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::grain::GrainArg;
use super::loaders::ProjectKey;
use super::project::ProjectNode;
use super::{dataloader, db, principal};
use crate::error::{ApiError, ErrorCode, Result};
use crate::ingest::{self, BatchLimits, IngestError, UpsertCounts};

/// What a write did, counted over the batch's rows.
#[derive(SimpleObject, Debug, Clone, Copy)]
pub struct UpsertResult {
    /// Rows whose natural key was new.
    pub inserted: u64,
    /// Stored rows whose value changed (their `computedAt` moved too).
    pub updated: u64,
    /// Rows sent again with the value already stored and a newer `computedAt` (absent:
    /// the time of the write): only `computedAt` moved, so retention keeps them current.
    pub refreshed: u64,
    /// Rows sent again with the value already stored and no newer `computedAt`: left
    /// untouched.
    pub unchanged: u64,
}

impl From<UpsertCounts> for UpsertResult {
    fn from(c: UpsertCounts) -> Self {
        UpsertResult { inserted: c.inserted, updated: c.updated, refreshed: c.refreshed, unchanged: c.unchanged }
    }
}

/// A summary snapshot to record (see `Summary`).
#[derive(InputObject)]
pub struct SummaryInput {
    /// The project; an unknown id registers the project, or refuses the batch under
    /// strict project registration.
    pub project_id: Uuid,
    /// When the snapshot was taken.
    pub captured_at: DateTime<Utc>,
    /// Contract version; `"1.0"` when absent.
    pub version: Option<String>,
    /// Phase/milestone filters, a JSON object; absent for the project-wide snapshot.
    pub scope: Option<Json<Value>>,
    /// The full summary payload, a JSON object.
    pub payload: Json<Value>,
}

/// A trend point to upsert (see `TrendPoint`).
#[derive(InputObject)]
pub struct TrendPointInput {
    /// The project; an unknown id registers the project, or refuses the batch under
    /// strict project registration.
    pub project_id: Uuid,
    /// The metric, e.g. `tasks_completed`.
    pub metric_key: String,
    /// The width of the bucket.
    pub grain: GrainArg,
    /// Start of the bucket: must be the start of a `grain` bucket in UTC.
    pub bucket: DateTime<Utc>,
    /// The series' dimensions, a JSON object; `{}` when absent.
    pub dimensions: Option<Json<Value>>,
    /// The numeric value (finite).
    pub value: Option<f64>,
    /// The full value payload.
    pub value_json: Option<Json<Value>>,
    /// When the value was computed; the time of the write when absent.
    pub computed_at: Option<DateTime<Utc>>,
}

/// A breakdown point to upsert (see `BreakdownItem`); `grain` and `bucket` together, or
/// neither for a snapshot-only row.
#[derive(InputObject)]
pub struct BreakdownPointInput {
    /// The project; an unknown id registers the project, or refuses the batch under
    /// strict project registration.
    pub project_id: Uuid,
    /// The metric, e.g. `wip`.
    pub metric_key: String,
    /// The width of the bucket; absent for snapshot-only rows.
    pub grain: Option<GrainArg>,
    /// Start of the bucket; absent for snapshot-only rows.
    pub bucket: Option<DateTime<Utc>>,
    /// The dimension, e.g. `state`.
    pub dimension_key: String,
    /// The category, e.g. `in_progress`.
    pub dimension_value: String,
    /// The numeric value (finite).
    pub value: Option<f64>,
    /// The full value payload.
    pub value_json: Option<Json<Value>>,
    /// When the value was computed; the time of the write when absent.
    pub computed_at: Option<DateTime<Utc>>,
}

/// A drilldown row to upsert (see `DrilldownRow`); exactly one of `entityId` and
/// `referenceId`.
#[derive(InputObject)]
pub struct DrilldownInput {
    /// The project; an unknown id registers the project, or refuses the batch under
    /// strict project registration.
    pub project_id: Uuid,
    /// The metric the row explains.
    pub metric_key: String,
    /// The kind of entity, e.g. `task`.
    pub entity_type: String,
    /// The entity's UUID.
    pub entity_id: Option<Uuid>,
    /// The entity's key when it is not a UUID.
    pub reference_id: Option<String>,
    /// The time bucket the row belongs to, if any.
    pub time_bucket: Option<DateTime<Utc>>,
    /// The drilldown payload, a JSON object.
    pub payload: Json<Value>,
    /// When the row was computed; the time of the write when absent.
    pub computed_at: Option<DateTime<Utc>>,
}

/// The GraphQL name of a row field the validation names by its column.
fn input_field(column: &str) -> &str {
    match column {
        "project_id" => "projectId",
        "time_bucket" => "bucket",
        "time_grain" => "grain",
        "value_numeric" => "value",
        "value_json" => "valueJson",
        "metric_key" => "metricKey",
        "dimension_key" => "dimensionKey",
        "dimension_value" => "dimensionValue",
        "entity_type" => "entityType",
        "entity_id" => "entityId",
        "reference_id" => "referenceId",
        "captured_at" => "capturedAt",
        other => other,
    }
}

/// Converts a write failure; `arg` names the batch argument.
fn write_error(arg: &str, err: IngestError, drilldown: bool) -> ApiError {
    match err {
        IngestError::InvalidRow(row) => {
            // Drilldown rows keep `timeBucket` as on the read type.
            let field = match (drilldown, row.field) {
                (true, "time_bucket") => "timeBucket",
                (_, f) => input_field(f),
            };
            let message = format!("argument `{arg}`, row {}: `{field}` {}", row.index, row.reason);
            ApiError::Row { code: ErrorCode::BadUserInput, message, row: row.index, field: Some(field.to_owned()) }
        }
        IngestError::TooManyRows { rows, limit } => ApiError::bad_input(format!(
            "argument `{arg}` holds {rows} rows; at most {limit} are allowed per call: split the batch"
        )),
        IngestError::Database(e) => ApiError::from_db(&e),
    }
}

/// Refuses a write without `metrics:write`, or touching a project the token does not
/// allow: the whole batch, before anything is written.
fn authorize(ctx: &Context<'_>, arg: &str, projects: impl Iterator<Item = Uuid>) -> Result<()> {
    let who = principal(ctx);
    if !who.write {
        return Err(ApiError::forbidden("the token's scope lacks `metrics:write`"));
    }
    for (row, p) in projects.enumerate() {
        if !who.can_access(p) {
            let message =
                format!("argument `{arg}`, row {row}: the token does not allow project {p}; nothing was written");
            return Err(ApiError::Row { code: ErrorCode::Forbidden, message, row, field: None });
        }
    }
    Ok(())
}

fn limits(ctx: &Context<'_>) -> BatchLimits {
    ctx.data_opt::<BatchLimits>().copied().unwrap_or_default()
}

fn json(v: Option<Json<Value>>) -> Option<Value> {
    v.map(|j| j.0)
}

/// The write API: idempotent, all-or-nothing batch upserts.
pub struct MutationRoot;

/// The write API for compute jobs. Every batch is one transaction, rows are upserted by
/// their deterministic id (sending a batch twice changes nothing), and an unknown
/// `projectId` registers the project (or, under strict project registration, refuses the
/// batch).
#[Object(name = "Mutation")]
impl MutationRoot {
    /// Records summary snapshots, one per project, capture time and scope.
    async fn record_summaries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The snapshots (at most 10000 by default).")] rows: Vec<SummaryInput>,
    ) -> Result<UpsertResult> {
        authorize(ctx, "rows", rows.iter().map(|r| r.project_id))?;
        let batch = rows
            .into_iter()
            .map(|r| ingest::SummaryInput {
                project_id: r.project_id,
                captured_at: r.captured_at,
                version: r.version,
                scope: json(r.scope),
                payload: r.payload.0,
            })
            .collect();
        ingest::record_summaries(db(ctx), batch, limits(ctx))
            .await
            .map(Into::into)
            .map_err(|e| write_error("rows", e, false))
    }

    /// Upserts trend points by (project, metric, grain, bucket, dimensions).
    async fn upsert_trend_points(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The points (at most 10000 by default).")] points: Vec<TrendPointInput>,
    ) -> Result<UpsertResult> {
        authorize(ctx, "points", points.iter().map(|r| r.project_id))?;
        let batch = points
            .into_iter()
            .map(|p| ingest::TrendPointInput {
                project_id: p.project_id,
                metric_key: p.metric_key,
                time_grain: p.grain.into(),
                time_bucket: p.bucket,
                dimensions: json(p.dimensions),
                value_numeric: p.value,
                value_json: json(p.value_json),
                computed_at: p.computed_at,
            })
            .collect();
        ingest::upsert_trend_points(db(ctx), batch, limits(ctx))
            .await
            .map(Into::into)
            .map_err(|e| write_error("points", e, false))
    }

    /// Upserts breakdown points by (project, metric, grain, bucket, dimension key and
    /// value).
    async fn upsert_breakdown_points(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The points (at most 10000 by default).")] points: Vec<BreakdownPointInput>,
    ) -> Result<UpsertResult> {
        authorize(ctx, "points", points.iter().map(|r| r.project_id))?;
        let batch = points
            .into_iter()
            .map(|p| ingest::BreakdownPointInput {
                project_id: p.project_id,
                metric_key: p.metric_key,
                time_grain: p.grain.map(Into::into),
                time_bucket: p.bucket,
                dimension_key: p.dimension_key,
                dimension_value: p.dimension_value,
                value_numeric: p.value,
                value_json: json(p.value_json),
                computed_at: p.computed_at,
            })
            .collect();
        ingest::upsert_breakdown_points(db(ctx), batch, limits(ctx))
            .await
            .map(Into::into)
            .map_err(|e| write_error("points", e, false))
    }

    /// Upserts drilldown rows by (project, metric, entity type, entity, time bucket).
    async fn upsert_drilldowns(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The rows (at most 10000 by default).")] rows: Vec<DrilldownInput>,
    ) -> Result<UpsertResult> {
        authorize(ctx, "rows", rows.iter().map(|r| r.project_id))?;
        let batch = rows
            .into_iter()
            .map(|r| ingest::DrilldownInput {
                project_id: r.project_id,
                metric_key: r.metric_key,
                entity_type: r.entity_type,
                entity_id: r.entity_id,
                reference_id: r.reference_id,
                time_bucket: r.time_bucket,
                payload: r.payload.0,
                computed_at: r.computed_at,
            })
            .collect();
        ingest::upsert_drilldowns(db(ctx), batch, limits(ctx))
            .await
            .map(Into::into)
            .map_err(|e| write_error("rows", e, true))
    }

    /// Names a project (registering it when unknown) and returns it.
    async fn set_project_name(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project's id.")] id: Uuid,
        #[graphql(desc = "The display name; null clears it.")] name: Option<String>,
    ) -> Result<ProjectNode> {
        authorize(ctx, "id", std::iter::once(id))?;
        if let Some(n) = &name {
            if n.is_empty() || n.len() > super::args::MAX_KEY_LEN {
                let max = super::args::MAX_KEY_LEN;
                return Err(ApiError::bad_input(format!("argument `name` must be 1 to {max} bytes long")));
            }
        }
        ingest::set_project_name(db(ctx), id, name).await.map_err(|e| write_error("name", e, false))?;
        let project = dataloader(ctx).load_one(ProjectKey(id)).await?;
        project.map(ProjectNode::new).ok_or(ApiError::Internal)
    }
}
