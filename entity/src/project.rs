//! `project`: the FK target of every metrics table. The spec names `project_id` an FK to
//! project; this minimal table makes that a real constraint with `ON DELETE CASCADE`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "project")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Display name; optional because compute jobs may register a project by id alone.
    pub name: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::metrics_summary::Entity")]
    MetricsSummary,
    #[sea_orm(has_many = "super::metrics_trend_point::Entity")]
    MetricsTrendPoint,
    #[sea_orm(has_many = "super::metrics_breakdown_point::Entity")]
    MetricsBreakdownPoint,
    #[sea_orm(has_many = "super::metrics_drilldown::Entity")]
    MetricsDrilldown,
}

impl Related<super::metrics_summary::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::MetricsSummary.def()
    }
}

impl Related<super::metrics_trend_point::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::MetricsTrendPoint.def()
    }
}

impl Related<super::metrics_breakdown_point::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::MetricsBreakdownPoint.def()
    }
}

impl Related<super::metrics_drilldown::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::MetricsDrilldown.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
