//! From fetched rows to served series: split by dimensions, gap-fill over the window's
//! buckets, pair the comparison window. Pure functions over rows.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_graphql::Json;
use chrono::{DateTime, Utc};
use entity::metrics_trend_point::Model as TrendPointRow;
use entity::sea_orm_active_enums::TimeGrain;
use serde_json::Value;

use super::types::{ComparisonPoint, TrendComparison, TrendPoint, TrendSeries};
use super::window::{EarlierWindow, Window};
use crate::graphql::grain::GrainArg;
use crate::identity::canonical_json;
use crate::series::{self, Fill, SeriesPoint, StoredPoint};

/// The rows loaded for one metric.
#[derive(Default)]
pub struct Loaded {
    pub rows: Vec<TrendPointRow>,
    /// The comparison window's rows, with `compareTo`.
    pub cmp: Option<Vec<TrendPointRow>>,
    /// The week points of the older part, with `includeDownsampled`.
    pub weeks: Vec<TrendPointRow>,
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
    let fine: Vec<&TrendPointRow> = match (&w.downsampled, w.full_resolution_from) {
        (Some(_), Some(h)) => rows.fine.iter().copied().filter(|r| r.time_bucket >= h).collect(),
        _ => rows.fine.clone(),
    };
    let by_bucket: HashMap<DateTime<Utc>, &TrendPointRow> =
        fine.iter().chain(rows.weeks.iter()).map(|r| (r.time_bucket, *r)).collect();
    let stored: Vec<&TrendPointRow> = by_bucket.values().copied().collect();
    let points = series::fill(w.drawn(), &stored_map(&stored), w.fill)
        .into_iter()
        .map(|p: SeriesPoint| TrendPoint {
            bucket: p.bucket,
            value: p.value,
            value_json: p.value_json.map(Json),
            dimensions: Json(dims.clone()),
            computed_at: p.computed_at,
            filled: p.filled,
            grain: if w.is_week_bucket(p.bucket) { GrainArg::Week } else { w.grain.into() },
            downsampled_from: by_bucket.get(&p.bucket).and_then(|r| downsampled_from(r)),
        })
        .collect::<Vec<_>>()
        .into();
    TrendSeries {
        metric_key: metric_key.to_owned(),
        grain: w.grain.into(),
        dimensions: Json(dims.clone()),
        from: w.from,
        to: w.to,
        fill: w.fill,
        points,
        last_computed_at: stored.iter().map(|r| r.computed_at).max(),
        comparison,
        full_resolution_from: w.full_resolution_from,
    }
}

fn build_comparison(w: &Window, earlier: &EarlierWindow, rows: &[&TrendPointRow]) -> TrendComparison {
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
        .collect::<Vec<_>>()
        .into();
    TrendComparison { period: earlier.period, from: earlier.from, to: earlier.to, points }
}

/// Builds one series per distinct dimensions found (or exactly one, for `exact`).
pub fn assemble(metric_key: &str, w: &Window, loaded: &Loaded, exact: Option<&Value>) -> Vec<TrendSeries> {
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
                (Some(earlier), Some(c)) => Some(build_comparison(w, earlier, c.get(d).unwrap_or(&empty))),
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
