//! Post-processing of fetched rows, as pure functions so both backends agree exactly and
//! the logic is tested without a database: gap filling of trend series and shares of
//! breakdown items.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

// The one gap-fill enum: the domain logic below takes it, and the schema serves it as
// `GapFill` (the derive only names and documents it; nothing here depends on GraphQL).
/// How a series fills the buckets of its range that have no stored point.
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[graphql(name = "GapFill")]
pub enum Fill {
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

/// One point of a series as served.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoint {
    pub bucket: DateTime<Utc>,
    pub value: Option<f64>,
    pub value_json: Option<Value>,
    pub computed_at: Option<DateTime<Utc>>,
    /// True when no stored point backs this bucket (it was filled).
    pub filled: bool,
}

/// A stored point, as fetched.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPoint {
    pub value: Option<f64>,
    pub value_json: Option<Value>,
    pub computed_at: DateTime<Utc>,
}

/// The points of a series over `buckets` (every bucket start of the window, in order).
/// With [`Fill::None`], only stored points are returned, in bucket order.
pub fn fill(buckets: &[DateTime<Utc>], stored: &BTreeMap<DateTime<Utc>, StoredPoint>, mode: Fill) -> Vec<SeriesPoint> {
    let from_stored = |bucket: DateTime<Utc>, p: &StoredPoint| SeriesPoint {
        bucket,
        value: p.value,
        value_json: p.value_json.clone(),
        computed_at: Some(p.computed_at),
        filled: false,
    };
    if mode == Fill::None {
        return buckets.iter().filter_map(|b| stored.get(b).map(|p| from_stored(*b, p))).collect();
    }
    let mut last: Option<f64> = None;
    buckets
        .iter()
        .map(|b| match stored.get(b) {
            Some(p) => {
                if p.value.is_some() {
                    last = p.value;
                }
                from_stored(*b, p)
            }
            None => SeriesPoint {
                bucket: *b,
                value: match mode {
                    Fill::Zero => Some(0.0),
                    Fill::Previous => last,
                    Fill::Null | Fill::None => None,
                },
                value_json: None,
                computed_at: None,
                filled: true,
            },
        })
        .collect()
}

/// Each value's fraction of the sum of the values present. `None` for an item without a
/// value, and for every item when the sum is zero (a share of nothing is undefined).
pub fn shares(values: &[Option<f64>]) -> Vec<Option<f64>> {
    let total: f64 = values.iter().flatten().sum();
    values.iter().map(|v| v.and_then(|v| (total != 0.0).then(|| v / total))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, d, 0, 0, 0).unwrap()
    }

    fn stored(points: &[(u32, f64)]) -> BTreeMap<DateTime<Utc>, StoredPoint> {
        points
            .iter()
            .map(|(d, v)| (day(*d), StoredPoint { value: Some(*v), value_json: None, computed_at: day(28) }))
            .collect()
    }

    fn values(points: &[SeriesPoint]) -> Vec<Option<f64>> {
        points.iter().map(|p| p.value).collect()
    }

    #[test]
    fn fills_each_mode() {
        let buckets: Vec<_> = (1..=5).map(day).collect();
        let s = stored(&[(2, 4.0), (4, 6.0)]);
        assert_eq!(values(&fill(&buckets, &s, Fill::None)), [Some(4.0), Some(6.0)]);
        assert_eq!(values(&fill(&buckets, &s, Fill::Null)), [None, Some(4.0), None, Some(6.0), None]);
        assert_eq!(values(&fill(&buckets, &s, Fill::Zero)), [Some(0.0), Some(4.0), Some(0.0), Some(6.0), Some(0.0)]);
        assert_eq!(values(&fill(&buckets, &s, Fill::Previous)), [None, Some(4.0), Some(4.0), Some(6.0), Some(6.0)]);
        let filled: Vec<bool> = fill(&buckets, &s, Fill::Zero).iter().map(|p| p.filled).collect();
        assert_eq!(filled, [true, false, true, false, true]);
    }

    #[test]
    fn shares_of_the_total() {
        assert_eq!(shares(&[Some(1.0), Some(3.0), None]), [Some(0.25), Some(0.75), None]);
        assert_eq!(shares(&[Some(0.0), Some(0.0)]), [None, None]);
        assert_eq!(shares(&[]), Vec::<Option<f64>>::new());
    }
}
