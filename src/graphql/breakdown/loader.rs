//! The breakdown keys and their loader: the latest bucket per project, and a range of
//! buckets per project, one statement per metric, dimension and grain (and range).

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use sea_orm::DbErr;
use uuid::Uuid;

use chrono::{DateTime, Utc};
use entity::metrics_breakdown_point::Model as BreakdownPoint;
use entity::sea_orm_active_enums::TimeGrain;

use crate::graphql::loaders::{distinct, group, LoadResult, StoreLoader};
use crate::store;

/// The rows of one breakdown bucket: the latest of `grain`, or the snapshot-only rows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BreakdownLatestKey {
    pub project_id: Uuid,
    pub metric_key: String,
    pub dimension_key: String,
    pub grain: Option<TimeGrain>,
}

impl Loader<BreakdownLatestKey> for StoreLoader {
    type Value = Vec<BreakdownPoint>;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[BreakdownLatestKey]) -> LoadResult<BreakdownLatestKey, Vec<BreakdownPoint>> {
        let mut out = HashMap::new();
        for ((metric, dim, grain), keys) in group(keys, |k| (k.metric_key.clone(), k.dimension_key.clone(), k.grain)) {
            let projects: Vec<Uuid> = keys.iter().map(|k| k.project_id).collect();
            let rows = store::breakdown::latest(&self.db, self.shape, &projects, &metric, &dim, grain).await?;
            out.extend(keys.into_iter().cloned().zip(rows));
        }
        Ok(out)
    }
}

/// The breakdown rows of one project over `[from, to)` at `grain`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BreakdownRangeKey {
    pub project_id: Uuid,
    pub metric_key: String,
    pub dimension_key: String,
    pub grain: TimeGrain,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Loader<BreakdownRangeKey> for StoreLoader {
    type Value = Vec<BreakdownPoint>;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[BreakdownRangeKey]) -> LoadResult<BreakdownRangeKey, Vec<BreakdownPoint>> {
        let mut out = HashMap::new();
        let shape = |k: &BreakdownRangeKey| (k.metric_key.clone(), k.dimension_key.clone(), k.grain, k.from, k.to);
        for ((metric, dim, grain, from, to), keys) in group(keys, shape) {
            let projects = distinct(keys.iter().map(|k| k.project_id));
            let rows = store::breakdown::range(&self.db, &projects, &metric, &dim, grain, from, to).await?;
            let mut by_project: HashMap<Uuid, Vec<BreakdownPoint>> = HashMap::new();
            for row in rows {
                by_project.entry(row.project_id).or_default().push(row);
            }
            for k in keys {
                out.insert(k.clone(), by_project.get(&k.project_id).cloned().unwrap_or_default());
            }
        }
        Ok(out)
    }
}
