//! What a committed write batch changed, as compact events: one [`Change`] per (project,
//! shape, metric, grain) with the buckets written and the latest `computedAt`.
//!
//! Why compact and split: PostgreSQL refuses a `NOTIFY` payload of 8000 bytes or more, and
//! one batch may touch thousands of buckets. [`split`] packs the changes into parts under
//! [`MAX_PAYLOAD_BYTES`] (splitting a change's bucket list when needed); each part is one
//! notification and one event. SQLite's in-process broadcast carries the same parts, so
//! both backends deliver the same events.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use entity::sea_orm_active_enums::TimeGrain;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ingest::upsert::Batch;

/// Largest payload of one part: under PostgreSQL's 8000 bytes, with room to spare.
pub const MAX_PAYLOAD_BYTES: usize = 7800;

/// The read shape a change concerns: which tiles to refetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Shape {
    #[serde(rename = "s")]
    Summary,
    #[serde(rename = "t")]
    Trend,
    #[serde(rename = "b")]
    Breakdown,
    #[serde(rename = "d")]
    Drilldown,
}

/// The rows of one (project, shape, metric, grain) a batch wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    #[serde(rename = "p")]
    pub project_id: Uuid,
    #[serde(rename = "s")]
    pub shape: Shape,
    /// `None` for summaries (they have no metric key).
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    pub metric_key: Option<String>,
    /// `None` for summaries, drilldowns and snapshot-only breakdown rows.
    #[serde(rename = "g", default, skip_serializing_if = "Option::is_none")]
    pub grain: Option<TimeGrain>,
    /// Bucket starts written (summaries: capture times), sorted, as microseconds since
    /// the epoch (compact); rows without a bucket add none.
    #[serde(rename = "b", default, with = "micros_list")]
    pub buckets: Vec<DateTime<Utc>>,
    /// The latest `computedAt` (summaries: `createdAt`) among the rows.
    #[serde(rename = "c", with = "micros")]
    pub computed_at: DateTime<Utc>,
}

/// The changes of one part (one notification), as read.
#[derive(Deserialize)]
struct Part {
    #[serde(rename = "c")]
    changes: Vec<Change>,
}

/// The changes of one part, as written.
#[derive(Serialize)]
struct PartRef<'a> {
    #[serde(rename = "c")]
    changes: &'a [Change],
}

type Key = (Uuid, Shape, Option<String>, Option<TimeGrain>);

/// The buckets written and the latest `computedAt` so far, of one key.
type Written = (BTreeSet<DateTime<Utc>>, Option<DateTime<Utc>>);

#[derive(Default)]
struct Acc(BTreeMap<Key, Written>);

impl Acc {
    fn add(&mut self, key: Key, bucket: Option<DateTime<Utc>>, computed_at: DateTime<Utc>) {
        let (buckets, latest) = self.0.entry(key).or_default();
        buckets.extend(bucket);
        *latest = (*latest).max(Some(computed_at));
    }
}

/// The changes a batch makes, ordered by project, shape, metric and grain.
pub fn changes_of(batch: &Batch) -> Vec<Change> {
    let mut acc = Acc::default();
    for r in &batch.summaries {
        acc.add((r.project_id, Shape::Summary, None, None), Some(r.captured_at), r.created_at);
    }
    for r in &batch.trends {
        acc.add(
            (r.project_id, Shape::Trend, Some(r.metric_key.clone()), Some(r.grain)),
            Some(r.time_bucket),
            r.computed_at,
        );
    }
    for r in &batch.breakdowns {
        acc.add((r.project_id, Shape::Breakdown, Some(r.metric_key.clone()), r.grain), r.time_bucket, r.computed_at);
    }
    for r in &batch.drilldowns {
        acc.add((r.project_id, Shape::Drilldown, Some(r.metric_key.clone()), None), r.time_bucket, r.computed_at);
    }
    acc.0
        .into_iter()
        .map(|((project_id, shape, metric_key, grain), (buckets, latest))| Change {
            project_id,
            shape,
            metric_key,
            grain,
            buckets: buckets.into_iter().collect(),
            computed_at: latest.unwrap_or_else(Utc::now),
        })
        .collect()
}

/// Serialised size of one change.
fn size(c: &Change) -> usize {
    serde_json::to_vec(c).map_or(usize::MAX, |v| v.len())
}

/// Splits a change whose encoding is over `limit` into changes with fewer buckets each.
fn pieces(c: Change, limit: usize, out: &mut Vec<Change>) {
    if c.buckets.len() <= 1 || size(&c) <= limit {
        out.push(c);
        return;
    }
    let mut first = c.clone();
    let second_buckets = first.buckets.split_off(c.buckets.len() / 2);
    pieces(first, limit, out);
    pieces(Change { buckets: second_buckets, ..c }, limit, out);
}

/// Packs changes into parts whose payload is at most [`MAX_PAYLOAD_BYTES`] each.
pub fn split(changes: Vec<Change>) -> Vec<Vec<Change>> {
    split_within(changes, MAX_PAYLOAD_BYTES)
}

/// The payload of a part: what a `NOTIFY` carries.
pub fn payload(part: &[Change]) -> String {
    serde_json::to_string(&PartRef { changes: part }).unwrap_or_default()
}

fn split_within(changes: Vec<Change>, limit: usize) -> Vec<Vec<Change>> {
    // `{"c":[` + `]}`: 8 bytes around the comma-separated changes.
    const FRAME: usize = 8;
    let mut split = Vec::new();
    for c in changes {
        pieces(c, limit - FRAME, &mut split);
    }
    let mut parts = Vec::new();
    let (mut current, mut used) = (Vec::new(), FRAME);
    for c in split {
        let n = size(&c) + 1;
        if !current.is_empty() && used + n > limit {
            parts.push(std::mem::take(&mut current));
            used = FRAME;
        }
        used += n;
        current.push(c);
    }
    if !current.is_empty() {
        parts.push(current);
    }
    parts
}

/// Reads a payload written by [`payload`]; `None` for anything else (logged by the caller).
pub fn decode(payload: &str) -> Option<Vec<Change>> {
    serde_json::from_str::<Part>(payload).ok().map(|p| p.changes)
}

mod micros {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(t.timestamp_micros())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let n = i64::deserialize(d)?;
        DateTime::from_timestamp_micros(n).ok_or_else(|| serde::de::Error::custom("time out of range"))
    }
}

mod micros_list {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ts: &[DateTime<Utc>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(ts.iter().map(DateTime::timestamp_micros))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<DateTime<Utc>>, D::Error> {
        Vec::<i64>::deserialize(d)?
            .into_iter()
            .map(|n| DateTime::from_timestamp_micros(n).ok_or_else(|| serde::de::Error::custom("time out of range")))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::rows::TrendRow;

    fn trend(project: u128, metric: &str, hour: i64) -> TrendRow {
        let t0 = DateTime::from_timestamp(1_704_067_200, 0).unwrap();
        TrendRow {
            id: Uuid::new_v4(),
            project_id: Uuid::from_u128(project),
            metric_key: metric.into(),
            grain: TimeGrain::Hour,
            time_bucket: t0 + chrono::Duration::hours(hour),
            dimensions: serde_json::json!({}),
            value_numeric: Some(1.0),
            value_json: None,
            computed_at: t0 + chrono::Duration::hours(hour + 1),
        }
    }

    #[test]
    fn a_batch_is_grouped_per_project_metric_and_grain() {
        let batch = Batch {
            trends: vec![trend(1, "a", 2), trend(1, "a", 1), trend(1, "a", 2), trend(2, "a", 0), trend(1, "b", 5)],
            ..Default::default()
        };
        let changes = changes_of(&batch);
        assert_eq!(changes.len(), 3);
        assert_eq!((changes[0].project_id, changes[0].metric_key.as_deref()), (Uuid::from_u128(1), Some("a")));
        assert_eq!(changes[0].buckets, vec![trend(1, "a", 1).time_bucket, trend(1, "a", 2).time_bucket]);
        assert_eq!(changes[0].computed_at, trend(1, "a", 2).computed_at);
        let parts = split(changes.clone());
        assert_eq!(parts.len(), 1);
        assert_eq!(decode(&payload(&parts[0])).unwrap(), changes);
    }

    #[test]
    fn big_batches_split_under_the_notify_limit_and_lose_nothing() {
        let rows: Vec<TrendRow> = (0..5000).map(|h| trend(h % 7, &"k".repeat(200), h as i64)).collect();
        let batch = Batch { trends: rows, ..Default::default() };
        let changes = changes_of(&batch);
        let parts = split(changes);
        assert!(parts.len() > 5, "{} parts", parts.len());
        let mut seen = 0;
        for part in &parts {
            let p = payload(part);
            assert!(p.len() <= MAX_PAYLOAD_BYTES, "{} bytes", p.len());
            assert_eq!(&decode(&p).unwrap(), part);
            seen += part.iter().map(|c| c.buckets.len()).sum::<usize>();
        }
        assert_eq!(seen, 5000);
        assert!(decode("{not json").is_none());
    }
}
