//! Opaque keyset cursors: base64url of a small JSON array `[kind, ...sort key]`.
//!
//! Opaque so clients cannot build them (and we can change them); tagged with the kind of
//! list and order so a cursor from one list is rejected by another instead of silently
//! paging from the wrong place.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::error::ApiError;
use crate::store::drilldown::DrilldownCursor;
use crate::store::summary::SummaryCursor;

fn encode(v: Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

fn decode(arg: &str, cursor: &str, kind: &str) -> Result<Vec<Value>, ApiError> {
    let bad = || {
        ApiError::bad_input(format!(
            "argument `{arg}`: malformed cursor; pass an `endCursor` or `cursor` returned by this same field"
        ))
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    match v {
        Value::Array(mut items) if items.first().and_then(Value::as_str) == Some(kind) => {
            items.remove(0);
            Ok(items)
        }
        _ => Err(bad()),
    }
}

fn uuid_at(items: &[Value], i: usize) -> Option<Uuid> {
    items.get(i)?.as_str()?.parse().ok()
}

/// `Some(None)` for an explicit null, `None` when malformed.
fn opt_at<T>(items: &[Value], i: usize, parse: impl Fn(&str) -> Option<T>) -> Option<Option<T>> {
    match items.get(i)? {
        Value::Null => Some(None),
        Value::String(s) => parse(s).map(Some),
        _ => None,
    }
}

fn time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

pub fn encode_project(id: Uuid) -> String {
    encode(json!(["p", id.to_string()]))
}

pub fn decode_project(arg: &str, cursor: &str) -> Result<Uuid, ApiError> {
    let items = decode(arg, cursor, "p")?;
    uuid_at(&items, 0).ok_or_else(|| ApiError::bad_input(format!("argument `{arg}`: malformed cursor")))
}

pub fn encode_summary(c: SummaryCursor) -> String {
    encode(json!(["s", time_text(c.captured_at), c.id.to_string()]))
}

pub fn decode_summary(arg: &str, cursor: &str) -> Result<SummaryCursor, ApiError> {
    let items = decode(arg, cursor, "s")?;
    let parsed = items.first().and_then(Value::as_str).and_then(time).zip(uuid_at(&items, 1));
    parsed
        .map(|(captured_at, id)| SummaryCursor { captured_at, id })
        .ok_or_else(|| ApiError::bad_input(format!("argument `{arg}`: malformed cursor")))
}

pub fn encode_drilldown(c: DrilldownCursor) -> String {
    match c {
        DrilldownCursor::Entity { entity_id, id } => {
            encode(json!(["de", entity_id.map(|e| e.to_string()), id.to_string()]))
        }
        DrilldownCursor::TimeBucket { time_bucket, id } => {
            encode(json!(["dt", time_bucket.map(time_text), id.to_string()]))
        }
    }
}

/// Decodes a drilldown cursor, which must come from the same `orderBy`.
pub fn decode_drilldown(arg: &str, cursor: &str, by_time: bool) -> Result<DrilldownCursor, ApiError> {
    let bad = || ApiError::bad_input(format!("argument `{arg}`: malformed cursor, or a cursor from another `orderBy`"));
    if by_time {
        let items = decode(arg, cursor, "dt").map_err(|_| bad())?;
        let time_bucket = opt_at(&items, 0, time).ok_or_else(bad)?;
        let id = uuid_at(&items, 1).ok_or_else(bad)?;
        Ok(DrilldownCursor::TimeBucket { time_bucket, id })
    } else {
        let items = decode(arg, cursor, "de").map_err(|_| bad())?;
        let entity_id = opt_at(&items, 0, |s| s.parse().ok()).ok_or_else(bad)?;
        let id = uuid_at(&items, 1).ok_or_else(bad)?;
        Ok(DrilldownCursor::Entity { entity_id, id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let id = Uuid::from_u128(42);
        let c = DrilldownCursor::TimeBucket { time_bucket: None, id };
        assert_eq!(decode_drilldown("after", &encode_drilldown(c), true).unwrap(), c);
        assert!(decode_drilldown("after", &encode_drilldown(c), false).is_err());
        let s = SummaryCursor { captured_at: crate::identity::normalize_time(Utc::now()), id };
        assert_eq!(decode_summary("after", &encode_summary(s)).unwrap(), s);
        for bad in ["", "!!", "bm90IGpzb24", &encode_project(id)] {
            let err = decode_summary("after", bad).unwrap_err();
            assert!(err.message().contains("`after`"), "{err:?}");
        }
    }
}
