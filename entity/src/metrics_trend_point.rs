//! `metrics_trend_point` (spec 4.2): time-series points for trend charts. Read by
//! `(project_id, metric_key, time_grain, time_bucket DESC)`; `dimensions` has a GIN index on
//! PostgreSQL for containment filters.

use super::sea_orm_active_enums::TimeGrain;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "metrics_trend_point")]
pub struct Model {
    /// UUIDv5 of (project_id, metric_key, time_grain, time_bucket, dimensions).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub project_id: Uuid,
    /// Metric identifier.
    pub metric_key: String,
    pub time_grain: TimeGrain,
    /// Bucket start time (UTC).
    pub time_bucket: DateTimeUtc,
    /// Additional dimensions; `{}` for the metric's plain series.
    #[sea_orm(column_type = "JsonBinary")]
    pub dimensions: Json,
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
