//! Adds `idx_metrics_drilldown_recent (project_id, metric_key, entity_type,
//! time_bucket DESC NULLS LAST, id)`.
//!
//! Why: dashboards page drilldowns newest first (`orderBy: TIME_BUCKET_DESC`). The spec's
//! drilldown indexes are keyed by entity, so without this index PostgreSQL reads every row
//! of the (project, metric, entity type) and sorts them for each page:
//!
//! ```text
//! -- before: Limit -> Sort (top-N heapsort) -> Bitmap Heap Scan on metrics_drilldown
//! --           -> Bitmap Index Scan on idx_metrics_drilldown_entity
//! -- after:  Limit -> Index Scan using idx_metrics_drilldown_recent on metrics_drilldown
//! --           Index Cond: project_id = $1 AND metric_key = $2 AND entity_type = $3
//! --                       AND ROW(time_bucket, id) keyset bounds
//! ```
//!
//! With `id` last, the keyset `(time_bucket, id)` of a page cursor is an index range.
//! NULLS LAST matches the query's order, so undated rows come after dated ones on both
//! backends (SQLite sorts NULL lowest, which for DESC is also last).

use crate::index_names::DRILLDOWN_RECENT;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20260301_000001_add_drilldown_recent_index"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // NULLS LAST on a single index column cannot be said with SeaQuery's builder.
        let nulls = match manager.get_database_backend() {
            DbBackend::Postgres => " NULLS LAST",
            _ => "",
        };
        let sql = format!(
            "CREATE INDEX {DRILLDOWN_RECENT} ON metrics_drilldown \
             (project_id, metric_key, entity_type, time_bucket DESC{nulls}, id)"
        );
        manager.get_connection().execute_unprepared(&sql).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name(DRILLDOWN_RECENT).table(Alias::new("metrics_drilldown")).to_owned()).await
    }
}
