//! The drilldown key and its loader: one page per project, each with its own cursor, one
//! statement per filter and page size.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use sea_orm::DbErr;

use entity::metrics_drilldown::Model as Drilldown;
use uuid::Uuid;

use crate::graphql::loaders::{group, LoadResult, StoreLoader};
use crate::store;
use crate::store::drilldown::{DrilldownCursor, DrilldownFilter};

/// One page of drilldown rows (`limit` includes the look-ahead row).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DrilldownKey {
    pub project_id: Uuid,
    pub after: Option<DrilldownCursor>,
    pub filter: DrilldownFilter,
    pub limit: u64,
}

impl Loader<DrilldownKey> for StoreLoader {
    type Value = Vec<Drilldown>;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[DrilldownKey]) -> LoadResult<DrilldownKey, Vec<Drilldown>> {
        let mut out = HashMap::new();
        for ((filter, limit), keys) in group(keys, |k| (k.filter.clone(), k.limit)) {
            let requests: Vec<_> = keys
                .iter()
                .map(|k| store::drilldown::PageRequest { project_id: k.project_id, after: k.after })
                .collect();
            let pages = store::drilldown::pages(&self.db, self.shape, &requests, &filter, limit).await?;
            out.extend(keys.into_iter().cloned().zip(pages));
        }
        Ok(out)
    }
}
