//! Dataloaders: every nested field of `Project` loads through here, so a request costs one
//! statement per field shape, whatever the number of projects or aliases.
//!
//! Each key type carries the arguments that shape its SQL. `load` groups the keys of one
//! batch by everything but the project (and its cursor), and runs one store statement per
//! group. A [`StoreLoader`] is created per request, so nothing is cached across requests.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use chrono::{DateTime, Utc};
use entity::metrics_breakdown_point::Model as BreakdownPoint;
use entity::metrics_drilldown::Model as Drilldown;
use entity::metrics_summary::Model as Summary;
use entity::metrics_trend_point::Model as TrendPoint;
use entity::project::Model as Project;
use entity::sea_orm_active_enums::TimeGrain;
use sea_orm::{DatabaseConnection, DbErr};
use serde_json::Value;
use uuid::Uuid;

use crate::identity::canonical_json;
use crate::store::drilldown::{DrilldownCursor, DrilldownFilter};
use crate::store::summary::SummaryCursor;
use crate::store::trend::DimensionFilter;
use crate::store::{self, TimeRange};

/// Loads every key type from the store.
pub struct StoreLoader {
    db: DatabaseConnection,
}

impl StoreLoader {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

type LoadResult<K, V> = Result<HashMap<K, V>, Arc<DbErr>>;

/// A JSON object in canonical text, usable in a key (JSON values are not `Hash`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CanonicalJson(String);

impl CanonicalJson {
    pub fn new(v: &Value) -> Self {
        CanonicalJson(canonical_json(v))
    }

    pub fn value(&self) -> Value {
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }
}

/// Groups keys by the arguments that shape the statement, keeping first-seen order.
fn group<K, G: Hash + Eq + Clone>(keys: &[K], by: impl Fn(&K) -> G) -> Vec<(G, Vec<&K>)> {
    let mut order: Vec<(G, Vec<&K>)> = Vec::new();
    let mut index: HashMap<G, usize> = HashMap::new();
    for k in keys {
        let g = by(k);
        let i = *index.entry(g.clone()).or_insert_with(|| {
            order.push((g, Vec::new()));
            order.len() - 1
        });
        order[i].1.push(k);
    }
    order
}

fn distinct<T: Hash + Eq + Clone>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut seen = std::collections::HashSet::new();
    items.into_iter().filter(|i| seen.insert(i.clone())).collect()
}

/// A project by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProjectKey(pub Uuid);

impl Loader<ProjectKey> for StoreLoader {
    type Value = Project;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[ProjectKey]) -> LoadResult<ProjectKey, Project> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows = store::project::by_ids(&self.db, &ids).await?;
        Ok(rows.into_iter().map(|p| (ProjectKey(p.id), p)).collect())
    }
}

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
            let rows = store::summary::latest(&self.db, &projects, at, scope.as_ref()).await?;
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
            let pages = store::summary::history(&self.db, &requests, range, scope.as_ref(), limit).await?;
            out.extend(keys.into_iter().cloned().zip(pages));
        }
        Ok(out)
    }
}

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
            let rows = store::breakdown::latest(&self.db, &projects, &metric, &dim, grain).await?;
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
            let pages = store::drilldown::pages(&self.db, &requests, &filter, limit).await?;
            out.extend(keys.into_iter().cloned().zip(pages));
        }
        Ok(out)
    }
}
