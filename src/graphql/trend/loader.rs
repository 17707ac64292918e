//! The trend key and its loader: every trend key of a resolver pass with the same grain,
//! range and dimension filter shares one statement, whatever the projects and metrics.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use chrono::{DateTime, Utc};
use entity::metrics_trend_point::Model as TrendPoint;
use entity::sea_orm_active_enums::TimeGrain;
use sea_orm::DbErr;
use std::sync::Arc;
use uuid::Uuid;

use crate::graphql::loaders::{distinct, group, CanonicalJson, LoadResult, StoreLoader};
use crate::store;
use crate::store::trend::DimensionFilter;

/// Which series of a metric a trend key reads, in a hashable form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DimensionKey {
    Exact(CanonicalJson),
    Contains(CanonicalJson),
}

impl DimensionKey {
    pub fn filter(&self) -> DimensionFilter {
        match self {
            DimensionKey::Exact(d) => DimensionFilter::Exact(d.value()),
            DimensionKey::Contains(d) => DimensionFilter::Contains(d.value()),
        }
    }
}

/// The trend points of one project and metric over `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrendKey {
    pub project_id: Uuid,
    pub metric_key: String,
    pub grain: TimeGrain,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub dimensions: DimensionKey,
}

impl Loader<TrendKey> for StoreLoader {
    type Value = Vec<TrendPoint>;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[TrendKey]) -> LoadResult<TrendKey, Vec<TrendPoint>> {
        let mut out = HashMap::new();
        for ((grain, from, to, dims), keys) in group(keys, |k| (k.grain, k.from, k.to, k.dimensions.clone())) {
            // One statement for every project and metric of the group: a range scan per
            // (project, metric) pair on the series index.
            let projects = distinct(keys.iter().map(|k| k.project_id));
            let metrics = distinct(keys.iter().map(|k| k.metric_key.clone()));
            let rows = store::trend::points(&self.db, &projects, &metrics, grain, from, to, &dims.filter()).await?;
            let mut by_series: HashMap<(Uuid, String), Vec<TrendPoint>> = HashMap::new();
            for row in rows {
                by_series.entry((row.project_id, row.metric_key.clone())).or_default().push(row);
            }
            for k in keys {
                let rows = by_series.get(&(k.project_id, k.metric_key.clone())).cloned().unwrap_or_default();
                out.insert(k.clone(), rows);
            }
        }
        Ok(out)
    }
}
