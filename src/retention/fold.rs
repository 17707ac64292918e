//! Folding hour and day trend points into week points, exactly and at any time.
//!
//! A folded week point keeps, in its `value_json`, every fine value it was built from
//! (`contributions`: per UTC day, the day point's value and the hour points' values). A
//! later run that finds fine points for an already folded week (a late point, a corrected
//! one) merges them into those contributions, each replacing the contribution of the same
//! bucket, and folds again. So the week point always equals the fold of the latest value
//! of every fine point that ever arrived for its week and series, whatever the order of
//! writes and runs.
//!
//! The fold, per week: for each UTC day, the day point when one arrived, else that day's
//! hour points; then the catalog's aggregation over the chosen values. Null values are
//! kept as contributions (the bucket arrived) but count for nothing: `count` is the number
//! of non-null values, and a week with none has a null value. `last` is the non-null value
//! of the latest chosen bucket.
//!
//! A week point that a compute job wrote itself (its `value_json` has no `contributions`)
//! is authoritative: it is never overwritten, and the fine points of its week past the
//! horizon are deleted (reported as deleted, not folded).
//!
//! This module is pure (no SQL): [`Contributions`] and [`fold`] are unit-tested here and
//! reused as the reference of the property test.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};
use entity::sea_orm_active_enums::TimeGrain;
use serde_json::{json, Map, Value};

use crate::catalog::Aggregation;

/// The fine values of one UTC day of a folded week.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Day {
    /// The day point's value, when a day point arrived (`Some(None)`: it had no value).
    pub day: Option<Option<f64>>,
    /// Hour points' values by hour of the day.
    pub hours: BTreeMap<u32, Option<f64>>,
}

/// A chosen bucket's start and value.
type Sample = (DateTime<Utc>, Option<f64>);

/// Every fine value a week point was folded from, by UTC day.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Contributions(pub BTreeMap<NaiveDate, Day>);

impl Contributions {
    /// Records a fine point, replacing an earlier value of the same bucket.
    pub fn put(&mut self, grain: TimeGrain, bucket: DateTime<Utc>, value: Option<f64>) {
        let day = self.0.entry(bucket.date_naive()).or_default();
        match grain {
            TimeGrain::Day => day.day = Some(value),
            _ => {
                day.hours.insert(bucket.hour(), value);
            }
        }
    }

    /// The values the fold uses, in bucket order, and whether any day used hour points.
    fn chosen(&self) -> (Vec<Sample>, bool) {
        let mut out = Vec::new();
        let mut from_hours = false;
        for (date, d) in &self.0 {
            let start = date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
            match d.day {
                Some(v) => out.push((start, v)),
                None => {
                    from_hours |= !d.hours.is_empty();
                    out.extend(d.hours.iter().map(|(h, v)| (start + Duration::hours(i64::from(*h)), *v)));
                }
            }
        }
        (out, from_hours)
    }

    /// The stored form: `{"2026-01-05": {"day": 1.0, "hours": {"03": 2.0}}, ...}`.
    pub fn to_json(&self) -> Value {
        let mut days = Map::new();
        for (date, d) in &self.0 {
            let mut o = Map::new();
            if let Some(v) = d.day {
                o.insert("day".into(), json!(v));
            }
            if !d.hours.is_empty() {
                let hours: Map<String, Value> = d.hours.iter().map(|(h, v)| (format!("{h:02}"), json!(v))).collect();
                o.insert("hours".into(), Value::Object(hours));
            }
            days.insert(date.to_string(), Value::Object(o));
        }
        Value::Object(days)
    }

    /// Reads the stored form; `None` when `v` is not one (a compute job's own JSON).
    pub fn from_json(v: &Value) -> Option<Contributions> {
        let mut out = BTreeMap::new();
        for (date, d) in v.as_object()? {
            let date: NaiveDate = date.parse().ok()?;
            let d = d.as_object()?;
            let day = d.get("day").map(Value::as_f64);
            let mut hours = BTreeMap::new();
            if let Some(h) = d.get("hours") {
                for (hour, v) in h.as_object()? {
                    hours.insert(hour.parse().ok()?, v.as_f64());
                }
            }
            out.insert(date, Day { day, hours });
        }
        Some(Contributions(out))
    }
}

/// A folded week: its value and the statistics stored beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct Folded {
    pub value: Option<f64>,
    /// `value_json` of the week point: statistics, provenance and the contributions.
    pub value_json: Value,
}

/// Folds a week's contributions with `aggregation`.
pub fn fold(c: &Contributions, aggregation: Aggregation) -> Folded {
    let (chosen, from_hours) = c.chosen();
    let values: Vec<f64> = chosen.iter().filter_map(|(_, v)| *v).collect();
    let count = values.len();
    let sum = (count > 0).then(|| values.iter().sum::<f64>());
    let min = values.iter().copied().reduce(f64::min);
    let max = values.iter().copied().reduce(f64::max);
    let avg = sum.map(|s| s / count as f64);
    let last = chosen.iter().rev().find_map(|(_, v)| *v);
    let value = match aggregation {
        Aggregation::Sum => sum,
        Aggregation::Avg => avg,
        Aggregation::Min => min,
        Aggregation::Max => max,
        Aggregation::Last => last,
    };
    Folded {
        value,
        value_json: json!({
            "downsampled_from": if from_hours { "hour" } else { "day" },
            "aggregation": aggregation.as_str(),
            "count": count,
            "sum": sum,
            "min": min,
            "max": max,
            "avg": avg,
            "last": last,
            "contributions": c.to_json(),
        }),
    }
}

/// The contributions of a stored week point, when the retention job folded it; `None`
/// for a week point a compute job wrote.
pub fn stored_contributions(value_json: Option<&Value>) -> Option<Contributions> {
    Contributions::from_json(value_json?.get("contributions")?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, d, h, 0, 0).unwrap()
    }

    #[test]
    fn day_points_win_per_day_and_hours_fill_the_other_days() {
        let mut c = Contributions::default();
        for d in 5..=7 {
            for h in 0..6 {
                c.put(TimeGrain::Hour, at(d, h), Some(1.0));
            }
        }
        for d in 8..=11 {
            c.put(TimeGrain::Day, at(d, 0), Some(5.0));
            c.put(TimeGrain::Hour, at(d, 3), Some(100.0));
        }
        let f = fold(&c, Aggregation::Sum);
        assert_eq!(f.value, Some(38.0));
        assert_eq!(f.value_json["downsampled_from"], "hour");
        assert_eq!(f.value_json["count"], 22);
    }

    #[test]
    fn a_correction_replaces_its_contribution_and_nulls_do_not_count() {
        let mut c = Contributions::default();
        for d in 5..=11 {
            c.put(TimeGrain::Day, at(d, 0), Some(f64::from(d - 4)));
        }
        assert_eq!(fold(&c, Aggregation::Sum).value, Some(28.0));
        c.put(TimeGrain::Day, at(7, 0), Some(100.0));
        assert_eq!(fold(&c, Aggregation::Sum).value, Some(125.0));
        c.put(TimeGrain::Day, at(11, 0), None);
        let f = fold(&c, Aggregation::Last);
        assert_eq!((f.value, &f.value_json["count"]), (Some(6.0), &json!(6)), "last skips the null of the 11th");
        assert_eq!(fold(&c, Aggregation::Avg).value, Some(118.0 / 6.0));
    }

    #[test]
    fn the_stored_form_round_trips_and_a_jobs_json_is_not_one() {
        let mut c = Contributions::default();
        c.put(TimeGrain::Day, at(5, 0), None);
        c.put(TimeGrain::Hour, at(6, 23), Some(2.5));
        let f = fold(&c, Aggregation::Max);
        assert_eq!(stored_contributions(Some(&f.value_json)), Some(c));
        assert_eq!(stored_contributions(Some(&json!({"v": 1}))), None);
        assert_eq!(stored_contributions(None), None);
        let empty = fold(&Contributions::default(), Aggregation::Sum);
        assert_eq!((empty.value, &empty.value_json["count"]), (None, &json!(0)));
    }
}
