//! `Project.trend`, `Project.trends` and `Project.trendsMatching`: time series with
//! server-side gap filling and period-over-period comparison.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_graphql::{Context, Enum, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::metrics_trend_point::Model as TrendPointRow;
use entity::sea_orm_active_enums::TimeGrain;
use serde_json::Value;
use uuid::Uuid;

use super::args;
use super::loaders::{CanonicalJson, DimensionKey, TrendKey};
use super::{loader, request_time};
use crate::buckets;
use crate::error::{ApiError, Result};
use crate::identity::canonical_json;
use crate::retention::Policy;
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
    /// The width of this point's bucket: the series' grain, or `WEEK` for the older part
    /// of a series read with `includeDownsampled`.
    pub grain: GrainArg,
    /// Set on a week point that the retention job folded from finer points: the grain it
    /// was folded from (`valueJson` then holds `count`, `sum`, `min`, `max`, `avg`).
    pub downsampled_from: Option<GrainArg>,
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
    pub fill: GapFill,
    /// The points, in bucket order.
    pub points: Vec<TrendPoint>,
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
    /// Where full resolution starts, when the range reaches past the retention horizon.
    full_resolution_from: Option<DateTime<Utc>>,
    /// With `includeDownsampled`: the week range `[from, fullResolutionFrom)` read as week
    /// points, and the buckets the series is drawn over (weeks, then the grain's buckets).
    downsampled: Option<DownsampledPart>,
}

/// With `includeDownsampled`: the week range `[from, to)` read as week points, and the
/// buckets the series is drawn over (weeks, then the grain's buckets).
struct DownsampledPart {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    drawn: Vec<DateTime<Utc>>,
}

/// What a trend field asked for beyond its range.
struct Options {
    fill: GapFill,
    compare: Option<ComparePeriod>,
    include_downsampled: bool,
}

impl Window {
    fn new(ctx: &Context<'_>, grain: GrainArg, from: DateTime<Utc>, to: DateTime<Utc>, opts: Options) -> Result<Self> {
        let grain: TimeGrain = grain.into();
        let (from, to) = args::bucket_range(grain, from, to)?;
        let policy = ctx.data_opt::<Policy>().copied().unwrap_or_default();
        let horizon = policy.full_resolution_from(request_time(ctx));
        let fine = matches!(grain, TimeGrain::Hour | TimeGrain::Day);
        let full_resolution_from = (fine && from < horizon).then_some(horizon);
        let downsampled = match full_resolution_from {
            Some(h) if opts.include_downsampled => {
                let week_from = buckets::truncate(TimeGrain::Week, from);
                let week_to = h.min(buckets::ceil(TimeGrain::Week, to).unwrap_or(h));
                let mut drawn = buckets::walk(TimeGrain::Week, week_from, week_to);
                drawn.extend(buckets::walk(grain, h.max(from), to));
                Some(DownsampledPart { from: week_from, to: week_to, drawn })
            }
            _ => None,
        };
        let mut w = Window {
            grain,
            from,
            to,
            fill: opts.fill.into(),
            gap_fill: opts.fill,
            buckets: buckets::walk(grain, from, to),
            earlier: None,
            full_resolution_from,
            downsampled,
        };
        if let Some(period) = opts.compare {
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

/// The grain a folded week point came from, read from its `value_json`.
fn downsampled_from(row: &TrendPointRow) -> Option<GrainArg> {
    let from = row.value_json.as_ref()?.get("downsampled_from")?.as_str()?;
    TimeGrain::parse(from).map(Into::into)
}

/// The rows of one series: its own grain's, and the week points of the older part when
/// read with `includeDownsampled`.
struct SeriesRows<'a> {
    fine: Vec<&'a TrendPointRow>,
    weeks: Vec<&'a TrendPointRow>,
}

fn build_series(
    metric_key: &str,
    dims: &Value,
    w: &Window,
    rows: &SeriesRows<'_>,
    comparison: Option<TrendComparison>,
) -> TrendSeries {
    // With `includeDownsampled`, the part before `fullResolutionFrom` is drawn from week
    // points only, the rest from the series' grain.
    let (drawn, fine): (&[DateTime<Utc>], Vec<&TrendPointRow>) = match (&w.downsampled, w.full_resolution_from) {
        (Some(DownsampledPart { drawn, .. }), Some(h)) => {
            (drawn, rows.fine.iter().copied().filter(|r| r.time_bucket >= h).collect())
        }
        _ => (&w.buckets, rows.fine.clone()),
    };
    let by_bucket: HashMap<DateTime<Utc>, &TrendPointRow> =
        fine.iter().chain(rows.weeks.iter()).map(|r| (r.time_bucket, *r)).collect();
    let stored: Vec<&TrendPointRow> = by_bucket.values().copied().collect();
    let points = series::fill(drawn, &stored_map(&stored), w.fill)
        .into_iter()
        .map(|p: SeriesPoint| {
            let row = by_bucket.get(&p.bucket);
            let is_week = w.full_resolution_from.is_some_and(|h| w.downsampled.is_some() && p.bucket < h);
            TrendPoint {
                bucket: p.bucket,
                value: p.value,
                value_json: p.value_json.map(Json),
                dimensions: Json(dims.clone()),
                computed_at: p.computed_at,
                filled: p.filled,
                grain: if is_week { GrainArg::Week } else { w.grain.into() },
                downsampled_from: row.and_then(|r| downsampled_from(r)),
            }
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
        last_computed_at: stored.iter().map(|r| r.computed_at).max(),
        comparison,
        full_resolution_from: w.full_resolution_from,
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

/// The rows loaded for one metric.
#[derive(Default)]
struct Loaded {
    rows: Vec<TrendPointRow>,
    /// The comparison window's rows, with `compareTo`.
    cmp: Option<Vec<TrendPointRow>>,
    /// The week points of the older part, with `includeDownsampled`.
    weeks: Vec<TrendPointRow>,
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
    let loader = loader(ctx);
    let keys =
        |from, to| -> Vec<TrendKey> { metric_keys.iter().map(|m| w.key(project_id, m, dims, from, to)).collect() };
    let main_keys = keys(w.from, w.to);
    let cmp_keys = w.earlier.as_ref().map(|(_, e)| keys(e.from, e.to)).unwrap_or_default();
    let week_keys: Vec<TrendKey> = match &w.downsampled {
        Some(part) => keys(part.from, part.to).into_iter().map(|k| TrendKey { grain: TimeGrain::Week, ..k }).collect(),
        None => Vec::new(),
    };
    let (main, cmp, weeks) = tokio::join!(
        loader.load_many(main_keys.clone()),
        loader.load_many(cmp_keys.clone()),
        loader.load_many(week_keys.clone())
    );
    let (mut main, mut cmp, mut weeks) =
        (main.map_err(ApiError::from)?, cmp.map_err(ApiError::from)?, weeks.map_err(ApiError::from)?);
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

/// Builds one series per distinct dimensions found (or exactly one, for `exact`).
fn assemble(metric_key: &str, w: &Window, loaded: &Loaded, exact: Option<&Value>) -> Vec<TrendSeries> {
    let main = by_dimensions(&loaded.rows);
    let weeks = by_dimensions(&loaded.weeks);
    let cmp = loaded.cmp.as_deref().map(by_dimensions);
    let mut dims: BTreeSet<String> = main.keys().cloned().collect();
    dims.extend(weeks.keys().cloned());
    if let Some(c) = &cmp {
        dims.extend(c.keys().cloned());
    }
    if let Some(e) = exact {
        dims = BTreeSet::from([canonical_json(e)]);
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
            let rows = SeriesRows {
                fine: main.get(d).cloned().unwrap_or_default(),
                weeks: weeks.get(d).cloned().unwrap_or_default(),
            };
            build_series(metric_key, &dims_value, w, &rows, comparison)
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
        #[graphql(desc = "How to fill buckets without a stored point.", default_with = "GapFill::None")] fill: GapFill,
        #[graphql(desc = "Also return the same series over an earlier window.")] compare_to: Option<ComparePeriod>,
        #[graphql(
            desc = "For HOUR and DAY: draw the part of the range before `fullResolutionFrom` from week points (folded by the retention job, marked with `downsampledFrom`), so a long chart has no hole.",
            default = false
        )]
        include_downsampled: bool,
    ) -> Result<TrendSeries> {
        args::key("metricKey", &metric_key)?;
        let dims = args::json_object("dimensions", dimensions)?.unwrap_or_else(|| Value::Object(Default::default()));
        let w = Window::new(ctx, grain, from, to, Options { fill, compare: compare_to, include_downsampled })?;
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
        #[graphql(desc = "How to fill buckets without a stored point.", default_with = "GapFill::None")] fill: GapFill,
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
        let w = Window::new(ctx, grain, from, to, Options { fill, compare: compare_to, include_downsampled })?;
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
        #[graphql(desc = "How to fill buckets without a stored point.", default_with = "GapFill::None")] fill: GapFill,
        #[graphql(desc = "Also return each series over an earlier window.")] compare_to: Option<ComparePeriod>,
        #[graphql(
            desc = "For HOUR and DAY: draw the part of the range before `fullResolutionFrom` from week points (folded by the retention job, marked with `downsampledFrom`), so a long chart has no hole.",
            default = false
        )]
        include_downsampled: bool,
    ) -> Result<Vec<TrendSeries>> {
        args::key("metricKey", &metric_key)?;
        let filter = args::json_object("dimensions", Some(dimensions))?.unwrap_or_default();
        let w = Window::new(ctx, grain, from, to, Options { fill, compare: compare_to, include_downsampled })?;
        let key = DimensionKey::Contains(CanonicalJson::new(&filter));
        let mut loaded = load(ctx, self.0, std::slice::from_ref(&metric_key), &w, &key).await?;
        let one = loaded.pop().unwrap_or_default();
        Ok(assemble(&metric_key, &w, &one, None))
    }
}
