//! `Project.drilldown`: entity-level rows (task cycle times, gate decisions, ...), paged
//! with keyset cursors in a stable order.

use async_graphql::{Context, Enum, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::metrics_drilldown::Model as Drilldown;
use serde_json::Value;
use uuid::Uuid;

pub mod loader;

use self::loader::DrilldownKey;
use super::args;
use super::connection::DrilldownConnection;
use super::cursor;
use super::dataloader;
use crate::error::Result;
use crate::identity::normalize_time;
use crate::store::drilldown::{DrilldownCursor, DrilldownFilter, DrilldownOrder as StoreOrder};
use crate::store::TimeRange;

/// The order of drilldown rows. Both are stable and served by an index.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum DrilldownOrder {
    /// By entity id, rows keyed by `referenceId` last, then by row id (the spec's entity
    /// index order).
    Entity,
    /// Newest time bucket first, rows without a bucket last, then by row id.
    TimeBucketDesc,
}

impl From<DrilldownOrder> for StoreOrder {
    fn from(o: DrilldownOrder) -> Self {
        match o {
            DrilldownOrder::Entity => StoreOrder::Entity,
            DrilldownOrder::TimeBucketDesc => StoreOrder::TimeBucketDesc,
        }
    }
}

/// One drilldown row: a metric's value for one entity (task, gate decision, integration
/// attempt, ...).
#[derive(SimpleObject, Clone)]
pub struct DrilldownRow {
    /// Deterministic id of the row.
    pub id: Uuid,
    /// The metric the row explains.
    pub metric_key: String,
    /// The kind of entity: `task`, `gate_decision`, `integration_attempt`, ...
    pub entity_type: String,
    /// The entity's UUID, when it has one.
    pub entity_id: Option<Uuid>,
    /// The entity's key when it is not a UUID.
    pub reference_id: Option<String>,
    /// The time bucket the row belongs to, if any.
    pub time_bucket: Option<DateTime<Utc>>,
    /// The drilldown payload, as computed.
    pub payload: Json<Value>,
    /// When the row was computed.
    pub computed_at: DateTime<Utc>,
}

impl From<Drilldown> for DrilldownRow {
    fn from(m: Drilldown) -> Self {
        DrilldownRow {
            id: m.id,
            metric_key: m.metric_key,
            entity_type: m.entity_type,
            entity_id: m.entity_id,
            reference_id: m.reference_id,
            time_bucket: m.time_bucket,
            payload: Json(m.payload),
            computed_at: m.computed_at,
        }
    }
}

/// The drilldown fields of `Project`.
pub struct ProjectDrilldowns(pub Uuid);

#[Object]
impl ProjectDrilldowns {
    /// Entity-level rows of a metric, a page at a time, in a stable order with opaque
    /// keyset cursors (no offsets: a page costs the same wherever it is).
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "super::limits::page_cost(first) * child_complexity")]
    async fn drilldown(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The metric, e.g. `task_cycle_time`.")] metric_key: String,
        #[graphql(desc = "The kind of entity, e.g. `task`.")] entity_type: String,
        #[graphql(desc = "Only the rows of this entity.")] entity_id: Option<Uuid>,
        #[graphql(desc = "Only the rows of the entity with this non-UUID key.")] reference_id: Option<String>,
        #[graphql(desc = "Only rows whose time bucket is at or after this instant.")] from: Option<DateTime<Utc>>,
        #[graphql(desc = "Only rows whose time bucket is before this instant.")] to: Option<DateTime<Utc>>,
        #[graphql(desc = "The order of the rows.", default_with = "DrilldownOrder::Entity")] order_by: DrilldownOrder,
        #[graphql(desc = "Page size, 0 to 500.", default = 50)] first: i32,
        #[graphql(
            desc = "Cursor of the last edge of the previous page (`pageInfo.endCursor`), from the same `orderBy`."
        )]
        after: Option<String>,
    ) -> Result<DrilldownConnection> {
        args::key("metricKey", &metric_key)?;
        args::key("entityType", &entity_type)?;
        if let Some(r) = &reference_id {
            args::key("referenceId", r)?;
        }
        let limit = args::page_size("first", first)?;
        if let (Some(f), Some(t)) = (from, to) {
            args::ordered(f, t)?;
        }
        let order: StoreOrder = order_by.into();
        let after = after
            .as_deref()
            .map(|c| cursor::decode_drilldown("after", c, order == StoreOrder::TimeBucketDesc))
            .transpose()?;
        let key = DrilldownKey {
            project_id: self.0,
            after,
            filter: DrilldownFilter {
                metric_key,
                entity_type,
                entity_id,
                reference_id,
                range: TimeRange { from: from.map(normalize_time), to: to.map(normalize_time) },
                order,
            },
            limit: limit as u64 + 1,
        };
        let rows = dataloader(ctx).load_one(key).await?.unwrap_or_default();
        Ok(DrilldownConnection::from_rows(
            rows,
            limit,
            after.is_some(),
            |r| cursor::encode_drilldown(DrilldownCursor::of(order, r)),
            DrilldownRow::from,
        ))
    }
}
