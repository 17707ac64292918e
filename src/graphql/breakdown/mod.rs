//! `Project.breakdown` and `Project.breakdownSeries`: categorical splits (state
//! distribution, gate type split) with each item's share of the total.

use std::collections::BTreeMap;

use async_graphql::{Context, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::metrics_breakdown_point::Model as BreakdownPoint;
use entity::sea_orm_active_enums::TimeGrain;
use serde_json::Value;
use uuid::Uuid;

pub mod loader;

use self::loader::{BreakdownLatestKey, BreakdownRangeKey};
use super::args;
use super::dataloader;
use super::grain::GrainArg;
use crate::buckets;
use crate::error::{ApiError, Result};
use crate::identity::normalize_time;
use crate::series::shares;

/// One category of a breakdown.
#[derive(SimpleObject, Clone)]
pub struct BreakdownItem {
    /// The category, e.g. `in_progress` for the dimension `state`.
    pub dimension_value: String,
    /// The numeric value of the category, when the metric has one.
    pub value: Option<f64>,
    /// The full value payload, as computed.
    pub value_json: Option<Json<Value>>,
    /// The item's fraction of `total` (0 to 1 for non-negative values); null when the item
    /// has no value or the total is 0.
    pub share: Option<f64>,
    /// When the value was computed.
    pub computed_at: DateTime<Utc>,
}

/// A metric split by one dimension for one bucket.
#[derive(SimpleObject, Clone)]
#[graphql(cache_control(max_age = 300))]
pub struct Breakdown {
    /// The metric.
    pub metric_key: String,
    /// The dimension the metric is split by, e.g. `state`.
    pub dimension_key: String,
    /// The grain of the bucket; null for snapshot-only rows.
    pub grain: Option<GrainArg>,
    /// Start of the bucket; null for snapshot-only rows, or when no bucket has rows.
    pub bucket: Option<DateTime<Utc>>,
    /// The sum of the items' values.
    pub total: f64,
    /// The categories, ordered by `dimensionValue`.
    pub items: Vec<BreakdownItem>,
    /// The latest `computedAt` among the items; null when there are none.
    pub last_computed_at: Option<DateTime<Utc>>,
}

fn build(
    metric_key: &str,
    dimension_key: &str,
    grain: Option<TimeGrain>,
    bucket: Option<DateTime<Utc>>,
    rows: &[BreakdownPoint],
) -> Breakdown {
    let values: Vec<Option<f64>> = rows.iter().map(|r| r.value_numeric.filter(|v| v.is_finite())).collect();
    let items = rows
        .iter()
        .zip(shares(&values))
        .zip(&values)
        .map(|((r, share), value)| BreakdownItem {
            dimension_value: r.dimension_value.clone(),
            value: *value,
            value_json: r.value_json.clone().map(Json),
            share,
            computed_at: r.computed_at,
        })
        .collect();
    Breakdown {
        metric_key: metric_key.to_owned(),
        dimension_key: dimension_key.to_owned(),
        grain: grain.map(Into::into),
        bucket: bucket.or_else(|| rows.first().and_then(|r| r.time_bucket)),
        // From +0.0: `Sum` for f64 starts at -0.0, which an empty breakdown would show.
        total: values.iter().flatten().fold(0.0, |a, b| a + b),
        items,
        last_computed_at: rows.iter().map(|r| r.computed_at).max(),
    }
}

/// The breakdown fields of `Project`.
pub struct ProjectBreakdowns(pub Uuid);

#[Object]
impl ProjectBreakdowns {
    /// A metric split by one dimension for one bucket. Without `grain`: the snapshot-only
    /// rows (no grain, no bucket). With `grain` and no `bucket`: the latest bucket of that
    /// grain that has rows. With both: that bucket.
    /// Null only when this field fails (its error, at this field's path, says why):
    /// nullable so that one failing widget does not null the project and its other fields.
    async fn breakdown(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The metric, e.g. `wip`.")] metric_key: String,
        #[graphql(desc = "The dimension to split by, e.g. `state`.")] dimension_key: String,
        #[graphql(desc = "The grain of the bucket; absent for snapshot-only rows.")] grain: Option<GrainArg>,
        #[graphql(desc = "Start of the bucket (needs `grain`); absent for the latest bucket.")] bucket: Option<
            DateTime<Utc>,
        >,
    ) -> Result<Option<Breakdown>> {
        args::key("metricKey", &metric_key)?;
        args::key("dimensionKey", &dimension_key)?;
        let grain: Option<TimeGrain> = grain.map(Into::into);
        let rows = match (grain, bucket) {
            (None, Some(_)) => return Err(ApiError::bad_input("argument `bucket` needs `grain`")),
            (Some(g), Some(b)) => {
                let b = normalize_time(b);
                if !buckets::is_bucket_start(g, b) {
                    return Err(ApiError::bad_input(format!(
                        "argument `bucket` ({}) is not the start of a {} bucket",
                        b.to_rfc3339(),
                        g.as_str()
                    )));
                }
                let to = buckets::next(g, b).ok_or_else(|| ApiError::bad_input("argument `bucket` is out of range"))?;
                let key = BreakdownRangeKey {
                    project_id: self.0,
                    metric_key: metric_key.clone(),
                    dimension_key: dimension_key.clone(),
                    grain: g,
                    from: b,
                    to,
                };
                let rows = dataloader(ctx).load_one(key).await?.unwrap_or_default();
                return Ok(Some(build(&metric_key, &dimension_key, grain, Some(b), &rows)));
            }
            (g, None) => {
                let key = BreakdownLatestKey {
                    project_id: self.0,
                    metric_key: metric_key.clone(),
                    dimension_key: dimension_key.clone(),
                    grain: g,
                };
                dataloader(ctx).load_one(key).await?.unwrap_or_default()
            }
        };
        Ok(Some(build(&metric_key, &dimension_key, grain, None, &rows)))
    }

    /// A metric split by one dimension for every bucket of `[from, to)` that has rows, in
    /// bucket order: the data of a stacked chart.
    /// Null only when this field fails (its error, at this field's path, says why):
    /// nullable so that one failing widget does not null the project and its other fields.
    #[graphql(complexity = "super::limits::buckets_cost(&grain, &from, &to) * child_complexity")]
    async fn breakdown_series(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The metric, e.g. `wip`.")] metric_key: String,
        #[graphql(desc = "The dimension to split by, e.g. `state`.")] dimension_key: String,
        #[graphql(desc = "The width of each bucket.")] grain: GrainArg,
        #[graphql(desc = "Start of the range (inclusive).")] from: DateTime<Utc>,
        #[graphql(desc = "End of the range (exclusive). At most 10000 buckets from `from`.")] to: DateTime<Utc>,
    ) -> Result<Option<Vec<Breakdown>>> {
        args::key("metricKey", &metric_key)?;
        args::key("dimensionKey", &dimension_key)?;
        let grain: TimeGrain = grain.into();
        let (from, to) = args::bucket_range(grain, from, to)?;
        let key = BreakdownRangeKey {
            project_id: self.0,
            metric_key: metric_key.clone(),
            dimension_key: dimension_key.clone(),
            grain,
            from,
            to,
        };
        let rows = dataloader(ctx).load_one(key).await?.unwrap_or_default();
        let mut by_bucket: BTreeMap<DateTime<Utc>, Vec<BreakdownPoint>> = BTreeMap::new();
        for r in rows {
            if let Some(b) = r.time_bucket {
                by_bucket.entry(b).or_default().push(r);
            }
        }
        Ok(Some(
            by_bucket
                .into_iter()
                .map(|(b, rows)| build(&metric_key, &dimension_key, Some(grain), Some(b), &rows))
                .collect(),
        ))
    }
}
