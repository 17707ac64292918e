//! `metrics_breakdown_point` (spec 4.3): categorical breakdowns such as state distribution
//! or gate type split. `time_grain`/`time_bucket` are `NULL` for snapshot-only metrics.

use super::sea_orm_active_enums::TimeGrain;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "metrics_breakdown_point")]
pub struct Model {
    /// UUIDv5 of (project_id, metric_key, time_grain, time_bucket, dimension_key,
    /// dimension_value).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub project_id: Uuid,
    /// Metric identifier.
    pub metric_key: String,
    /// Nullable for snapshot-only metrics.
    pub time_grain: Option<TimeGrain>,
    /// Nullable for snapshot-only metrics.
    pub time_bucket: Option<DateTimeUtc>,
    /// Dimension name (state, gate_type, ...).
    pub dimension_key: String,
    /// Dimension bucket value.
    pub dimension_value: String,
    /// Numeric value when applicable.
    #[sea_orm(column_type = "Double", nullable)]
    pub value_numeric: Option<f64>,
    /// Full value payload.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub value_json: Option<Json>,
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
