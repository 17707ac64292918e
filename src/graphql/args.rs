//! Argument validation shared by the resolvers. Each check names the argument it rejects,
//! and runs before any SQL, so bad input costs nothing.

use async_graphql::Json;
use chrono::{DateTime, Utc};
use entity::sea_orm_active_enums::TimeGrain;
use serde_json::Value;

use crate::buckets;
use crate::error::ApiError;
use crate::identity::{canonicalize, normalize_time};

/// The most buckets a trend or breakdown range may span: keeps a response (and its gap
/// filling) bounded whatever the client asks.
pub const MAX_BUCKETS: i64 = 10_000;
/// The largest page a paged field serves.
pub const MAX_PAGE_SIZE: i32 = 500;
/// The most ids `projects(ids:)` accepts.
pub const MAX_PROJECT_IDS: usize = 500;
/// The most metric keys `trends(metricKeys:)` accepts.
pub const MAX_METRIC_KEYS: usize = 50;
/// The longest key (metric key, dimension key, entity type, ...) accepted: the write
/// side's bound, so a key that can be read can also have been written.
pub use crate::ingest::rows::MAX_KEY_LEN;

/// A page size: 1..=500. Returns it as a row limit.
pub fn page_size(arg: &str, first: i32) -> Result<usize, ApiError> {
    if !(0..=MAX_PAGE_SIZE).contains(&first) {
        return Err(ApiError::bad_input(format!(
            "argument `{arg}` must be between 0 and {MAX_PAGE_SIZE}, got {first}"
        )));
    }
    Ok(first as usize)
}

/// A JSON argument that must be an object (dimensions, scope); canonicalised.
pub fn json_object(arg: &str, value: Option<Json<Value>>) -> Result<Option<Value>, ApiError> {
    match value {
        None => Ok(None),
        Some(Json(v @ Value::Object(_))) => Ok(Some(canonicalize(&v))),
        Some(Json(other)) => {
            Err(ApiError::bad_input(format!("argument `{arg}` must be a JSON object, got {}", json_kind(&other))))
        }
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A non-empty key of bounded length.
pub fn key<'a>(arg: &str, value: &'a str) -> Result<&'a str, ApiError> {
    if value.is_empty() {
        return Err(ApiError::bad_input(format!("argument `{arg}` must not be empty")));
    }
    if value.len() > MAX_KEY_LEN {
        return Err(ApiError::bad_input(format!("argument `{arg}` is longer than {MAX_KEY_LEN} bytes")));
    }
    Ok(value)
}

/// A half-open range `[from, to)` at `grain`, with `from <= to` and at most
/// [`MAX_BUCKETS`] buckets.
pub fn bucket_range(
    grain: TimeGrain,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let (from, to) = (normalize_time(from), normalize_time(to));
    ordered(from, to)?;
    match buckets::count(grain, from, to) {
        Some(n) if n <= MAX_BUCKETS => Ok((from, to)),
        _ => Err(ApiError::bad_input(format!(
            "arguments `from`/`to` span more than {MAX_BUCKETS} {} buckets; narrow the range or use a coarser `grain`",
            grain.as_str()
        ))),
    }
}

/// `from <= to` when both are given.
pub fn ordered(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<(), ApiError> {
    if from > to {
        return Err(ApiError::bad_input(format!(
            "argument `from` ({}) is after `to` ({}); ranges are [from, to)",
            from.to_rfc3339(),
            to.to_rfc3339()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn rejects_each_bad_argument_by_name() {
        let t = |h| Utc.with_ymd_and_hms(2026, 1, 1, h, 0, 0).unwrap();
        assert!(page_size("first", 501).unwrap_err().message().contains("`first`"));
        assert!(page_size("first", -1).is_err());
        assert_eq!(page_size("first", 500).unwrap(), 500);
        let err = json_object("scope", Some(Json(serde_json::json!([1])))).unwrap_err();
        assert!(err.message().contains("`scope`") && err.message().contains("array"));
        assert!(bucket_range(TimeGrain::Hour, t(5), t(4)).unwrap_err().message().contains("`from`"));
        let far = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
        assert!(bucket_range(TimeGrain::Hour, t(0), far).unwrap_err().message().contains("10000"));
        assert!(bucket_range(TimeGrain::Day, t(0), far).is_ok());
        assert!(key("metricKey", "").is_err());
        assert!(key("metricKey", &"x".repeat(201)).is_err());
    }
}
