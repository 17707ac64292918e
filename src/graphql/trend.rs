//! `Project.trend`, `Project.trends` and `Project.trendsMatching`: time series with
//! server-side gap filling and period-over-period comparison.

use std::collections::BTreeMap;

use async_graphql::{Context, Enum, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::metrics_trend_point::Model as TrendPointRow;
use entity::sea_orm_active_enums::TimeGrain;
use serde_json::Value;
use uuid::Uuid;

use super::args;
use super::loader;
use super::loaders::{CanonicalJson, DimensionKey, TrendKey};
use crate::buckets;
use crate::error::{ApiError, Result};
use crate::identity::canonical_json;
use crate::series::{self, Fill, SeriesPoint, StoredPoint};

/// The width of a time bucket. Buckets are aligned in UTC: an hour, a day, an ISO week
/// starting Monday 00:00, a calendar month starting on the 1st.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "TimeGrain", remote = "entity::sea_orm_active_enums::TimeGrain")]
pub enum GrainArg {
    /// One clock hour.
    Hour,
    /// One UTC day.
    Day,
    /// One ISO week, from Monday 00:00 UTC.
    Week,
    /// One calendar month, from the 1st 00:00 UTC.
    Month,
}

/// How a series fills the buckets of its range that have no stored point.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
pub enum GapFill {
    /// Return only the buckets that have a stored point.
    #[default]
    None,
    /// Return every bucket; missing ones have a null value.
    Null,
    /// Return every bucket; missing ones have the value 0.
    Zero,
    /// Return every bucket; missing ones repeat the last stored value of the range (null
    /// before the first one).
    Previous,
}

impl From<GapFill> for Fill {
    fn from(f: GapFill) -> Self {
        match f {
            GapFill::None => Fill::None,
            GapFill::Null => Fill::Null,
            GapFill::Zero => Fill::Zero,
            GapFill::Previous => Fill::Previous,
        }
    }
}

/// An earlier window to compare a series with, bucket by bucket.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ComparePeriod {
    /// The window of the same number of buckets just before this one.
    PreviousPeriod,
    /// The same window one year earlier (52 weeks earlier for `WEEK`).
    PreviousYear,
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
    pub points: Vec<ComparisonPoint>,
}

/// A trend series: the points of one metric with one set of dimensions over `[from, to)`.
#[derive(SimpleObject, Clone)]
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
    pub fill: GapFill,
    /// The points, in bucket order.
    pub points: Vec<TrendPoint>,
    /// The latest `computedAt` among the stored points of the range: how fresh the
    /// series is. Null when the range has no stored point.
    pub last_computed_at: Option<DateTime<Utc>>,
    /// The same series over the earlier window asked for with `compareTo`; null without
    /// it.
    pub comparison: Option<TrendComparison>,
}

/// The earlier window of a comparison: `buckets[i]` lines up with the main window's
/// bucket `i`; `[from, to)` holds them all.
struct EarlierWindow {
    buckets: Vec<DateTime<Utc>>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

/// The validated arguments every trend field shares.
struct Window {
    grain: TimeGrain,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    fill: Fill,
    gap_fill: GapFill,
    /// Every bucket start of `[from, to)`.
    buckets: Vec<DateTime<Utc>>,
    /// The comparison window asked for with `compareTo`.
    earlier: Option<(ComparePeriod, EarlierWindow)>,
}

impl Window {
    fn new(
        grain: GrainArg,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        fill: GapFill,
        compare: Option<ComparePeriod>,
    ) -> Result<Self> {
        let grain: TimeGrain = grain.into();
        let (from, to) = args::bucket_range(grain, from, to)?;
        let mut w = Window {
            grain,
            from,
            to,
            fill: fill.into(),
            gap_fill: fill,
            buckets: buckets::walk(grain, from, to),
            earlier: None,
        };
        if let Some(period) = compare {
            let earlier = w
                .earlier(period)
                .ok_or_else(|| ApiError::bad_input("argument `compareTo`: the earlier window is out of range"))?;
            w.earlier = Some((period, earlier));
        }
        Ok(w)
    }

    /// The earlier bucket each bucket of the window lines up with, and the earlier
    /// window `[from, to)` that holds them.
    fn earlier(&self, period: ComparePeriod) -> Option<EarlierWindow> {
        let n = self.buckets.len() as i64;
        let earlier: Option<Vec<_>> = self
            .buckets
            .iter()
            .map(|b| match period {
                ComparePeriod::PreviousPeriod => buckets::shift(self.grain, *b, -n),
                ComparePeriod::PreviousYear => buckets::year_earlier(self.grain, *b),
            })
            .collect();
        let earlier = earlier?;
        let (from, to) = match (earlier.first(), earlier.last()) {
            (Some(f), Some(l)) => (*f, buckets::next(self.grain, *l)?),
            // An empty window compares with an empty window just before it.
            _ => (self.from, self.from),
        };
        Some(EarlierWindow { buckets: earlier, from, to })
    }

    fn key(
        &self,
        project_id: Uuid,
        metric_key: &str,
        dims: &DimensionKey,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> TrendKey {
        TrendKey {
            project_id,
            metric_key: metric_key.to_owned(),
            grain: self.grain,
            from,
            to,
            dimensions: dims.clone(),
        }
    }
}

fn stored_map(rows: &[&TrendPointRow]) -> BTreeMap<DateTime<Utc>, StoredPoint> {
    rows.iter()
        .map(|r| {
            (
                r.time_bucket,
                StoredPoint {
                    // GraphQL floats cannot carry NaN or infinities.
                    value: r.value_numeric.filter(|v| v.is_finite()),
                    value_json: r.value_json.clone(),
                    computed_at: r.computed_at,
                },
            )
        })
        .collect()
}

/// Splits rows by their dimensions (canonical text), in dimension order.
fn by_dimensions(rows: &[TrendPointRow]) -> BTreeMap<String, Vec<&TrendPointRow>> {
    let mut out: BTreeMap<String, Vec<&TrendPointRow>> = BTreeMap::new();
    for r in rows {
        out.entry(canonical_json(&r.dimensions)).or_default().push(r);
    }
    out
}

fn build_series(
    metric_key: &str,
    dims: &Value,
    w: &Window,
    rows: &[&TrendPointRow],
    comparison: Option<TrendComparison>,
) -> TrendSeries {
    let points = series::fill(&w.buckets, &stored_map(rows), w.fill)
        .into_iter()
        .map(|p: SeriesPoint| TrendPoint {
            bucket: p.bucket,
            value: p.value,
            value_json: p.value_json.map(Json),
            dimensions: Json(dims.clone()),
            computed_at: p.computed_at,
            filled: p.filled,
        })
        .collect();
    TrendSeries {
        metric_key: metric_key.to_owned(),
        grain: w.grain.into(),
        dimensions: Json(dims.clone()),
        from: w.from,
        to: w.to,
        fill: w.gap_fill,
        points,
        last_computed_at: rows.iter().map(|r| r.computed_at).max(),
        comparison,
    }
}

fn build_comparison(
    period: ComparePeriod,
    w: &Window,
    earlier: &EarlierWindow,
    rows: &[&TrendPointRow],
) -> TrendComparison {
    // Fill every earlier bucket, then keep only stored ones when the mode is NONE, so
    // each point keeps its pairing with the main window's bucket.
    let mode = if w.fill == Fill::None { Fill::Null } else { w.fill };
    let filled = series::fill(&earlier.buckets, &stored_map(rows), mode);
    let points = w
        .buckets
        .iter()
        .zip(filled)
        .filter(|(_, p)| w.fill != Fill::None || !p.filled)
        .map(|(aligned, p)| ComparisonPoint {
            bucket: p.bucket,
            aligned_bucket: *aligned,
            value: p.value,
            value_json: p.value_json.map(Json),
            computed_at: p.computed_at,
            filled: p.filled,
        })
        .collect();
    TrendComparison { period, from: earlier.from, to: earlier.to, points }
}

/// Loads the series of `metric_keys` for one project through the loader: one key per
/// metric for the window and one per metric for the comparison window. Returns, per
/// metric, the rows of the window and of the comparison window.
async fn load(
    ctx: &Context<'_>,
    project_id: Uuid,
    metric_keys: &[String],
    w: &Window,
    dims: &DimensionKey,
) -> Result<Vec<(Vec<TrendPointRow>, Option<Vec<TrendPointRow>>)>> {
    let loader = loader(ctx);
    let earlier = w.earlier.as_ref().map(|(_, e)| e);
    let keys: Vec<TrendKey> = metric_keys.iter().map(|m| w.key(project_id, m, dims, w.from, w.to)).collect();
    let cmp_keys: Vec<TrendKey> = match earlier {
        Some(e) => metric_keys.iter().map(|m| w.key(project_id, m, dims, e.from, e.to)).collect(),
        None => Vec::new(),
    };
    let (main, cmp) = tokio::join!(loader.load_many(keys.clone()), loader.load_many(cmp_keys.clone()));
    let (mut main, mut cmp) = (main.map_err(ApiError::from)?, cmp.map_err(ApiError::from)?);
    Ok(keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let rows = main.remove(k).unwrap_or_default();
            let cmp_rows = earlier.as_ref().map(|_| cmp.remove(&cmp_keys[i]).unwrap_or_default());
            (rows, cmp_rows)
        })
        .collect())
}

/// Builds one series per distinct dimensions found (or exactly one, for `exact`).
fn assemble(
    metric_key: &str,
    w: &Window,
    rows: &[TrendPointRow],
    cmp_rows: Option<&[TrendPointRow]>,
    exact: Option<&Value>,
) -> Vec<TrendSeries> {
    let main = by_dimensions(rows);
    let cmp = cmp_rows.map(by_dimensions);
    let mut dims: Vec<String> = main.keys().cloned().collect();
    if let Some(c) = &cmp {
        dims.extend(c.keys().filter(|k| !main.contains_key(*k)).cloned());
        dims.sort();
    }
    if let Some(e) = exact {
        dims = vec![canonical_json(e)];
    }
    let empty: Vec<&TrendPointRow> = Vec::new();
    dims.iter()
        .map(|d| {
            let dims_value: Value = serde_json::from_str(d).unwrap_or(Value::Null);
            let comparison = match (&w.earlier, &cmp) {
                (Some((period, earlier)), Some(c)) => {
                    Some(build_comparison(*period, w, earlier, c.get(d).unwrap_or(&empty)))
                }
                _ => None,
            };
            build_series(metric_key, &dims_value, w, main.get(d).unwrap_or(&empty), comparison)
        })
        .collect()
}

/// The trend fields of `Project`.
pub struct ProjectTrends(pub Uuid);

#[Object]
impl ProjectTrends {
    /// One series of a metric over `[from, to)`: the series whose dimensions equal
    /// `dimensions` (default `{}`, the metric's plain series).
    #[allow(clippy::too_many_arguments)]
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
        #[graphql(desc = "How to fill buckets without a stored point.", default_with = "GapFill::None")] fill: GapFill,
        #[graphql(desc = "Also return the same series over an earlier window.")] compare_to: Option<ComparePeriod>,
    ) -> Result<TrendSeries> {
        args::key("metricKey", &metric_key)?;
        let dims = args::json_object("dimensions", dimensions)?.unwrap_or_else(|| Value::Object(Default::default()));
        let w = Window::new(grain, from, to, fill, compare_to)?;
        let key = DimensionKey::Exact(CanonicalJson::new(&dims));
        let mut loaded = load(ctx, self.0, std::slice::from_ref(&metric_key), &w, &key).await?;
        let (rows, cmp) = loaded.pop().unwrap_or_default();
        let mut series = assemble(&metric_key, &w, &rows, cmp.as_deref(), Some(&dims));
        Ok(series.pop().expect("exact dimensions give one series"))
    }

    /// Several metrics' series over the same range, in the order of `metricKeys` (one
    /// statement for all of them). At most 50 keys.
    #[allow(clippy::too_many_arguments)]
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
        #[graphql(desc = "How to fill buckets without a stored point.", default_with = "GapFill::None")] fill: GapFill,
        #[graphql(desc = "Also return each series over an earlier window.")] compare_to: Option<ComparePeriod>,
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
        let w = Window::new(grain, from, to, fill, compare_to)?;
        let key = DimensionKey::Exact(CanonicalJson::new(&dims));
        let loaded = load(ctx, self.0, &metric_keys, &w, &key).await?;
        Ok(metric_keys
            .iter()
            .zip(loaded)
            .flat_map(|(m, (rows, cmp))| assemble(m, &w, &rows, cmp.as_deref(), Some(&dims)))
            .collect())
    }

    /// Every series of a metric whose dimensions contain `dimensions` (PostgreSQL `@>`
    /// semantics: `{"team": "a"}` matches `{"team": "a", "gate": "lint"}`), one series
    /// per distinct dimensions, ordered by their JSON text, each gap-filled on its own.
    /// `{}` matches every series of the metric.
    #[allow(clippy::too_many_arguments)]
    async fn trends_matching(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The metric, e.g. `tasks_completed`.")] metric_key: String,
        #[graphql(desc = "The width of each bucket.")] grain: GrainArg,
        #[graphql(desc = "Start of the range (inclusive).")] from: DateTime<Utc>,
        #[graphql(desc = "End of the range (exclusive). At most 10000 buckets from `from`.")] to: DateTime<Utc>,
        #[graphql(desc = "A JSON object every returned series' dimensions contain.")] dimensions: Json<Value>,
        #[graphql(desc = "How to fill buckets without a stored point.", default_with = "GapFill::None")] fill: GapFill,
        #[graphql(desc = "Also return each series over an earlier window.")] compare_to: Option<ComparePeriod>,
    ) -> Result<Vec<TrendSeries>> {
        args::key("metricKey", &metric_key)?;
        let filter = args::json_object("dimensions", Some(dimensions))?.unwrap_or_default();
        let w = Window::new(grain, from, to, fill, compare_to)?;
        let key = DimensionKey::Contains(CanonicalJson::new(&filter));
        let mut loaded = load(ctx, self.0, std::slice::from_ref(&metric_key), &w, &key).await?;
        let (rows, cmp) = loaded.pop().unwrap_or_default();
        Ok(assemble(&metric_key, &w, &rows, cmp.as_deref(), None))
    }
}
