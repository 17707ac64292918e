//! The summary keys and their loader: the latest snapshot per project (one statement per
//! `at` and scope) and history pages (one statement per range, scope and page size).

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use sea_orm::DbErr;
use uuid::Uuid;

use chrono::{DateTime, Utc};
use entity::metrics_summary::Model as Summary;

use crate::graphql::loaders::{group, CanonicalJson, LoadResult, StoreLoader};
use crate::store::summary::SummaryCursor;
use crate::store::{self, TimeRange};

/// The latest snapshot of a project at `at` with a scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SummaryKey {
    pub project_id: Uuid,
    pub at: DateTime<Utc>,
    pub scope: Option<CanonicalJson>,
}

impl Loader<SummaryKey> for StoreLoader {
    type Value = Summary;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[SummaryKey]) -> LoadResult<SummaryKey, Summary> {
        let mut out = HashMap::new();
        for ((at, scope), keys) in group(keys, |k| (k.at, k.scope.clone())) {
            let projects: Vec<Uuid> = keys.iter().map(|k| k.project_id).collect();
            let scope = scope.map(|s| s.value());
            let rows = store::summary::latest(&self.db, self.shape, &projects, at, scope.as_ref()).await?;
            for (k, row) in keys.into_iter().zip(rows) {
                if let Some(row) = row {
                    out.insert(k.clone(), row);
                }
            }
        }
        Ok(out)
    }
}

/// One page of a project's snapshot history (`limit` includes the look-ahead row).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SummaryPageKey {
    pub project_id: Uuid,
    pub after: Option<SummaryCursor>,
    pub range: TimeRange,
    pub scope: Option<CanonicalJson>,
    pub limit: u64,
}

impl Loader<SummaryPageKey> for StoreLoader {
    type Value = Vec<Summary>;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[SummaryPageKey]) -> LoadResult<SummaryPageKey, Vec<Summary>> {
        let mut out = HashMap::new();
        for ((range, scope, limit), keys) in group(keys, |k| (k.range, k.scope.clone(), k.limit)) {
            let requests: Vec<_> =
                keys.iter().map(|k| store::summary::PageRequest { project_id: k.project_id, after: k.after }).collect();
            let scope = scope.map(|s| s.value());
            let pages = store::summary::history(&self.db, self.shape, &requests, range, scope.as_ref(), limit).await?;
            out.extend(keys.into_iter().cloned().zip(pages));
        }
        Ok(out)
    }
}
