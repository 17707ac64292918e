//! `Project.trend`, `Project.trends` and `Project.trendsMatching`: time series with
//! server-side gap filling and period-over-period comparison.
//!
//! - this file: the resolvers (validate, build the window, load, assemble);
//! - [`window`]: the pure window logic (buckets, comparison, retention horizon);
//! - [`assemble`]: rows to series (gap filling, comparison pairing);
//! - [`types`]: the output types; [`loader`]: the key and its batched statement
//!   (`store::trend::points`).

pub mod assemble;
pub mod loader;
pub mod types;
pub mod window;

use async_graphql::{Context, Json, Object};
use chrono::{DateTime, Utc};
use entity::sea_orm_active_enums::TimeGrain;
use serde_json::Value;
use uuid::Uuid;

use self::assemble::{assemble, Loaded};
use self::loader::{DimensionKey, TrendKey};
use self::types::TrendSeries;
use self::window::{ComparePeriod, Options, Window};
use super::grain::GrainArg;
use super::loaders::CanonicalJson;
use super::{args, dataloader, request_time};
use crate::error::{ApiError, Result};
use crate::retention::Policy;
use crate::series::Fill;

/// The window of a trend field at the request's time and the served retention policy.
fn window(ctx: &Context<'_>, grain: GrainArg, from: DateTime<Utc>, to: DateTime<Utc>, opts: Options) -> Result<Window> {
    let policy = ctx.data_opt::<Policy>().copied().unwrap_or_default();
    Window::new(grain.into(), from, to, opts, policy.full_resolution_from(request_time(ctx)))
}

/// Loads the series of `metric_keys` for one project through the loader: one key per
/// metric for the window, and per metric one for the comparison window and one for the
/// week points, when asked for. Keys of the same shape across projects share a statement.
async fn load(
    ctx: &Context<'_>,
    project_id: Uuid,
    metric_keys: &[String],
    w: &Window,
    dims: &DimensionKey,
) -> Result<Vec<Loaded>> {
    let loader = dataloader(ctx);
    let keys = |grain, from, to| -> Vec<TrendKey> {
        metric_keys
            .iter()
            .map(|m| TrendKey { project_id, metric_key: m.clone(), grain, from, to, dimensions: dims.clone() })
            .collect()
    };
    let main_keys = keys(w.grain, w.from, w.to);
    let cmp_keys = w.earlier.as_ref().map(|e| keys(w.grain, e.from, e.to)).unwrap_or_default();
    let week_keys = w.downsampled.as_ref().map(|p| keys(TimeGrain::Week, p.from, p.to)).unwrap_or_default();
    let (main, cmp, weeks) = tokio::join!(
        loader.load_many(main_keys.clone()),
        loader.load_many(cmp_keys.clone()),
        loader.load_many(week_keys.clone())
    );
    let (mut main, mut cmp, mut weeks) = (main?, cmp?, weeks?);
    Ok(main_keys
        .iter()
        .enumerate()
        .map(|(i, k)| Loaded {
            rows: main.remove(k).unwrap_or_default(),
            cmp: cmp_keys.get(i).map(|k| cmp.remove(k).unwrap_or_default()),
            weeks: week_keys.get(i).and_then(|k| weeks.remove(k)).unwrap_or_default(),
        })
        .collect())
}

/// The trend fields of `Project`.
///
/// The three fields repeat their argument lists on purpose: each argument is part of the
/// served schema (name, type, default, description), and grouping them into an input
/// object would change the contract. What they share after parsing lives in
/// [`window::Options`] and [`window()`].
pub struct ProjectTrends(pub Uuid);

#[Object]
impl ProjectTrends {
    /// One series of a metric over `[from, to)`: the series whose dimensions equal
    /// `dimensions` (default `{}`, the metric's plain series).
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "super::limits::buckets_cost(&grain, &from, &to) * child_complexity")]
    async fn trend(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The metric, e.g. `tasks_completed`.")] metric_key: String,
        #[graphql(desc = "The width of each bucket.")] grain: GrainArg,
        #[graphql(desc = "Start of the range (inclusive).")] from: DateTime<Utc>,
        #[graphql(desc = "End of the range (exclusive). At most 10000 buckets from `from`.")] to: DateTime<Utc>,
        #[graphql(desc = "The exact dimensions of the series, a JSON object (default `{}`).")] dimensions: Option<
            Json<Value>,
        >,
        #[graphql(desc = "How to fill buckets without a stored point.", default_with = "Fill::None")] fill: Fill,
        #[graphql(desc = "Also return the same series over an earlier window.")] compare_to: Option<ComparePeriod>,
        #[graphql(
            desc = "For HOUR and DAY: draw the part of the range before `fullResolutionFrom` from week points (folded by the retention job, marked with `downsampledFrom`), so a long chart has no hole.",
            default = false
        )]
        include_downsampled: bool,
    ) -> Result<TrendSeries> {
        args::key("metricKey", &metric_key)?;
        let dims = args::json_object("dimensions", dimensions)?.unwrap_or_else(|| Value::Object(Default::default()));
        let w = window(ctx, grain, from, to, Options { fill, compare: compare_to, include_downsampled })?;
        let key = DimensionKey::Exact(CanonicalJson::new(&dims));
        let mut loaded = load(ctx, self.0, std::slice::from_ref(&metric_key), &w, &key).await?;
        let one = loaded.pop().unwrap_or_default();
        let mut series = assemble(&metric_key, &w, &one, Some(&dims));
        Ok(series.pop().expect("exact dimensions give one series"))
    }

    /// Several metrics' series over the same range, in the order of `metricKeys` (one
    /// statement for all of them). At most 50 keys.
    #[allow(clippy::too_many_arguments)]
    #[graphql(
        complexity = "metric_keys.len().max(1) * super::limits::buckets_cost(&grain, &from, &to) * child_complexity"
    )]
    async fn trends(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The metrics (at most 50); the answer keeps their order.")] metric_keys: Vec<String>,
        #[graphql(desc = "The width of each bucket.")] grain: GrainArg,
        #[graphql(desc = "Start of the range (inclusive).")] from: DateTime<Utc>,
        #[graphql(desc = "End of the range (exclusive). At most 10000 buckets from `from`.")] to: DateTime<Utc>,
        #[graphql(desc = "The exact dimensions of every series, a JSON object (default `{}`).")] dimensions: Option<
            Json<Value>,
        >,
        #[graphql(desc = "How to fill buckets without a stored point.", default_with = "Fill::None")] fill: Fill,
        #[graphql(desc = "Also return each series over an earlier window.")] compare_to: Option<ComparePeriod>,
        #[graphql(
            desc = "For HOUR and DAY: draw the part of the range before `fullResolutionFrom` from week points (folded by the retention job, marked with `downsampledFrom`), so a long chart has no hole.",
            default = false
        )]
        include_downsampled: bool,
    ) -> Result<Vec<TrendSeries>> {
        if metric_keys.len() > args::MAX_METRIC_KEYS {
            return Err(ApiError::bad_input(format!(
                "argument `metricKeys` holds {} keys; at most {} are allowed",
                metric_keys.len(),
                args::MAX_METRIC_KEYS
            )));
        }
        for k in &metric_keys {
            args::key("metricKeys", k)?;
        }
        let dims = args::json_object("dimensions", dimensions)?.unwrap_or_else(|| Value::Object(Default::default()));
        let w = window(ctx, grain, from, to, Options { fill, compare: compare_to, include_downsampled })?;
        let key = DimensionKey::Exact(CanonicalJson::new(&dims));
        let loaded = load(ctx, self.0, &metric_keys, &w, &key).await?;
        Ok(metric_keys.iter().zip(loaded).flat_map(|(m, l)| assemble(m, &w, &l, Some(&dims))).collect())
    }

    /// Every series of a metric whose dimensions contain `dimensions` (PostgreSQL `@>`
    /// semantics: `{"team": "a"}` matches `{"team": "a", "gate": "lint"}`), one series
    /// per distinct dimensions, ordered by their JSON text, each gap-filled on its own.
    /// `{}` matches every series of the metric.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "4 * super::limits::buckets_cost(&grain, &from, &to) * child_complexity")]
    async fn trends_matching(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The metric, e.g. `tasks_completed`.")] metric_key: String,
        #[graphql(desc = "The width of each bucket.")] grain: GrainArg,
        #[graphql(desc = "Start of the range (inclusive).")] from: DateTime<Utc>,
        #[graphql(desc = "End of the range (exclusive). At most 10000 buckets from `from`.")] to: DateTime<Utc>,
        #[graphql(desc = "A JSON object every returned series' dimensions contain.")] dimensions: Json<Value>,
        #[graphql(desc = "How to fill buckets without a stored point.", default_with = "Fill::None")] fill: Fill,
        #[graphql(desc = "Also return each series over an earlier window.")] compare_to: Option<ComparePeriod>,
        #[graphql(
            desc = "For HOUR and DAY: draw the part of the range before `fullResolutionFrom` from week points (folded by the retention job, marked with `downsampledFrom`), so a long chart has no hole.",
            default = false
        )]
        include_downsampled: bool,
    ) -> Result<Vec<TrendSeries>> {
        args::key("metricKey", &metric_key)?;
        let filter = args::json_object("dimensions", Some(dimensions))?.unwrap_or_default();
        let w = window(ctx, grain, from, to, Options { fill, compare: compare_to, include_downsampled })?;
        let key = DimensionKey::Contains(CanonicalJson::new(&filter));
        let mut loaded = load(ctx, self.0, std::slice::from_ref(&metric_key), &w, &key).await?;
        let one = loaded.pop().unwrap_or_default();
        Ok(assemble(&metric_key, &w, &one, None))
    }
}
