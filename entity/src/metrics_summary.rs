//! `metrics_summary` (spec 4.1): contract-aligned summary payloads, one row per scheduled
//! snapshot run. Read by `(project_id, captured_at DESC)`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "metrics_summary")]
pub struct Model {
    /// UUIDv5 of (project_id, captured_at, scope): replaying a snapshot is a no-op.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub project_id: Uuid,
    /// Snapshot timestamp.
    pub captured_at: DateTimeUtc,
    /// Contract version, `'1.0'` by default.
    pub version: String,
    /// Optional phase/milestone filters; `NULL` is the project-wide snapshot.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub scope: Option<Json>,
    /// Full summary payload.
    #[sea_orm(column_type = "JsonBinary")]
    pub payload: Json,
    /// Insert time.
    pub created_at: DateTimeUtc,
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
