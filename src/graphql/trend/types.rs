//! The output types of the trend fields, as served.

use async_graphql::resolver_utils::enum_value;
use async_graphql::{Json, ScalarType, SimpleObject};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::window::ComparePeriod;
use crate::graphql::flat::{opt, LeafList, LeafObject};
use crate::graphql::grain::GrainArg;
use crate::series::Fill;

/// A JSON value as the normal path writes it (`Json<T>`'s `resolve`).
fn json(v: &Json<Value>) -> async_graphql::Value {
    async_graphql::to_value(&v.0).ok().unwrap_or_default()
}

/// One bucket of a trend series.
#[derive(SimpleObject, Clone)]
pub struct TrendPoint {
    /// Start of the bucket (UTC).
    pub bucket: DateTime<Utc>,
    /// The numeric value; null when the metric has none for this bucket (or the bucket
    /// was filled with `NULL`).
    pub value: Option<f64>,
    /// The full value payload, as computed; null for filled buckets.
    pub value_json: Option<Json<Value>>,
    /// The dimensions of the series this point belongs to.
    pub dimensions: Json<Value>,
    /// When the value was computed; null for filled buckets.
    pub computed_at: Option<DateTime<Utc>>,
    /// True when no stored point backs this bucket and the value comes from `fill`.
    pub filled: bool,
    /// The width of this point's bucket: the series' grain, or `WEEK` for the older part
    /// of a series read with `includeDownsampled`.
    pub grain: GrainArg,
    /// Set on a week point that the retention job folded from finer points: the grain it
    /// was folded from (`valueJson` then holds `count`, `sum`, `min`, `max`, `avg`).
    pub downsampled_from: Option<GrainArg>,
}

impl LeafObject for TrendPoint {
    fn field(&self, name: &str) -> Option<async_graphql::Value> {
        Some(match name {
            "bucket" => self.bucket.to_value(),
            "value" => opt(&self.value, ScalarType::to_value),
            "valueJson" => opt(&self.value_json, json),
            "dimensions" => json(&self.dimensions),
            "computedAt" => opt(&self.computed_at, ScalarType::to_value),
            "filled" => self.filled.to_value(),
            "grain" => enum_value(self.grain),
            "downsampledFrom" => opt(&self.downsampled_from, |g| enum_value(*g)),
            _ => return None,
        })
    }
}

/// One bucket of a comparison window, lined up with a bucket of the main series.
#[derive(SimpleObject, Clone)]
pub struct ComparisonPoint {
    /// Start of the earlier bucket (UTC).
    pub bucket: DateTime<Utc>,
    /// The bucket of the main series this one lines up with.
    pub aligned_bucket: DateTime<Utc>,
    /// The numeric value of the earlier bucket.
    pub value: Option<f64>,
    /// The full value payload of the earlier bucket; null for filled buckets.
    pub value_json: Option<Json<Value>>,
    /// When the earlier value was computed; null for filled buckets.
    pub computed_at: Option<DateTime<Utc>>,
    /// True when no stored point backs this bucket and the value comes from `fill`.
    pub filled: bool,
}

impl LeafObject for ComparisonPoint {
    fn field(&self, name: &str) -> Option<async_graphql::Value> {
        Some(match name {
            "bucket" => self.bucket.to_value(),
            "alignedBucket" => self.aligned_bucket.to_value(),
            "value" => opt(&self.value, ScalarType::to_value),
            "valueJson" => opt(&self.value_json, json),
            "computedAt" => opt(&self.computed_at, ScalarType::to_value),
            "filled" => self.filled.to_value(),
            _ => return None,
        })
    }
}

/// The same series over an earlier window, for period-over-period charts.
#[derive(SimpleObject, Clone)]
pub struct TrendComparison {
    /// Which earlier window this is.
    pub period: ComparePeriod,
    /// Start of the earlier window (inclusive).
    pub from: DateTime<Utc>,
    /// End of the earlier window (exclusive).
    pub to: DateTime<Utc>,
    /// The earlier points, each with the bucket of the main series it lines up with,
    /// filled like the main series.
    pub points: LeafList<ComparisonPoint>,
}

/// A trend series: the points of one metric with one set of dimensions over `[from, to)`.
#[derive(SimpleObject, Clone)]
#[graphql(cache_control(max_age = 300))]
pub struct TrendSeries {
    /// The metric.
    pub metric_key: String,
    /// The width of each bucket.
    pub grain: GrainArg,
    /// The dimensions of this series (`{}` for the metric's plain series).
    pub dimensions: Json<Value>,
    /// Start of the range (inclusive).
    pub from: DateTime<Utc>,
    /// End of the range (exclusive).
    pub to: DateTime<Utc>,
    /// How gaps were filled.
    pub fill: Fill,
    /// The points, in bucket order.
    pub points: LeafList<TrendPoint>,
    /// The latest `computedAt` among the stored points of the range: how fresh the
    /// series is. Null when the range has no stored point.
    pub last_computed_at: Option<DateTime<Utc>>,
    /// The same series over the earlier window asked for with `compareTo`; null without
    /// it.
    pub comparison: Option<TrendComparison>,
    /// For an `HOUR` or `DAY` series whose range reaches past the retention horizon: the
    /// first bucket kept at full resolution. Older hour and day points are folded into
    /// week points by the retention job (read them with `includeDownsampled: true`).
    /// Null when the whole range is within the horizon.
    pub full_resolution_from: Option<DateTime<Utc>>,
}
