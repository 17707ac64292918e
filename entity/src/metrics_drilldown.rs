//! `metrics_drilldown` (spec 4.4): entity-level drilldowns, such as task-level cycle time.
//! An entity is keyed by `entity_id` (UUID) or, for non-UUID keys, `reference_id`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "metrics_drilldown")]
pub struct Model {
    /// UUIDv5 of (project_id, metric_key, entity_type, entity_id or reference_id,
    /// time_bucket).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub project_id: Uuid,
    /// Metric identifier.
    pub metric_key: String,
    /// task, gate_decision, integration_attempt, ...
    pub entity_type: String,
    /// Nullable if the entity has no UUID key.
    pub entity_id: Option<Uuid>,
    /// Fallback for non-UUID entity keys.
    pub reference_id: Option<String>,
    /// Optional time bucket.
    pub time_bucket: Option<DateTimeUtc>,
    /// Drilldown payload.
    #[sea_orm(column_type = "JsonBinary")]
    pub payload: Json,
    /// Compute time.
    pub computed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::project::Entity",
        from = "Column::ProjectId",
        to = "super::project::Column::Id",
        on_delete = "Cascade"
    )]
    Project,
}

impl Related<super::project::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
