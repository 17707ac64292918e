//! `Query.metricCatalog`: the metric keys the API knows, for discovery in a GraphQL IDE.

use std::sync::Arc;

use async_graphql::{Context, Enum, SimpleObject};

use crate::catalog::Catalog;

/// How a metric's points fold into one coarser point when downsampled.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::catalog::Aggregation")]
pub enum AggregationKind {
    /// The sum of the values (counts).
    Sum,
    /// The mean of the values (rates, durations).
    Avg,
    /// The smallest value.
    Min,
    /// The largest value.
    Max,
    /// The value of the latest bucket (levels).
    Last,
}

/// A metric of the catalog.
#[derive(SimpleObject, Clone)]
pub struct MetricDefinition {
    /// The metric key, as used in `metricKey` arguments.
    pub key: String,
    /// How its points fold when the retention job downsamples them.
    pub aggregation: AggregationKind,
    /// The unit of its values, e.g. `hours` or `ratio`.
    pub unit: String,
    /// What it measures.
    pub description: String,
}

/// The catalog's metrics, ordered by key.
pub fn definitions(ctx: &Context<'_>) -> Vec<MetricDefinition> {
    let catalog = ctx.data_opt::<Arc<Catalog>>().cloned().unwrap_or_default();
    catalog
        .metrics
        .iter()
        .map(|(key, d)| MetricDefinition {
            key: key.clone(),
            aggregation: d.aggregation.into(),
            unit: d.unit.clone(),
            description: d.description.clone(),
        })
        .collect()
}
