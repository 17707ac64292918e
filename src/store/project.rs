//! Projects: lookups by id (primary key) and the paged list for discovery.

use entity::project::{self, Model as Project};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

/// The projects among `ids` that exist, in no particular order.
pub async fn by_ids(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Vec<Project>, DbErr> {
    project::Entity::find().filter(project::Column::Id.is_in(ids.iter().copied())).all(db).await
}

/// Up to `limit` projects ordered by id, after `after` (a keyset on the primary key),
/// among `only` when given (the projects a token allows).
pub async fn list(
    db: &impl ConnectionTrait,
    after: Option<Uuid>,
    limit: u64,
    only: Option<&[Uuid]>,
) -> Result<Vec<Project>, DbErr> {
    let mut q = project::Entity::find().order_by_asc(project::Column::Id);
    if let Some(ids) = only {
        q = q.filter(project::Column::Id.is_in(ids.iter().copied()));
    }
    if let Some(a) = after {
        q = q.filter(project::Column::Id.gt(a));
    }
    q.limit(limit).all(db).await
}
