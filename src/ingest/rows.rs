//! Input rows of the write API and their validation: pure functions, so the rules are
//! tested without a database and every entry point (Rust, GraphQL, NDJSON) shares them.
//!
//! Field names follow the table columns (snake_case in NDJSON).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::sea_orm_active_enums::TimeGrain;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::buckets;
use crate::identity::{self, canonicalize, normalize_time, EntityRef};

/// The longest key accepted (metric key, dimension key, entity type, reference id).
pub const MAX_KEY_LEN: usize = 200;
/// The longest dimension value accepted.
pub const MAX_VALUE_LEN: usize = 1000;

/// Why a row was rejected: its index in the batch, the field and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub index: usize,
    pub field: &'static str,
    pub reason: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "row {}: `{}` {}", self.index, self.field, self.reason)
    }
}

type FieldResult<T> = Result<T, (&'static str, String)>;

fn key(field: &'static str, v: &str) -> FieldResult<()> {
    bounded(field, v, MAX_KEY_LEN)
}

fn bounded(field: &'static str, v: &str, max: usize) -> FieldResult<()> {
    if v.is_empty() {
        return Err((field, "must not be empty".into()));
    }
    if v.len() > max {
        return Err((field, format!("is longer than {max} bytes")));
    }
    Ok(())
}

fn object(field: &'static str, v: &Value) -> FieldResult<Value> {
    if v.is_object() {
        Ok(canonicalize(v))
    } else {
        Err((field, "must be a JSON object".into()))
    }
}

fn finite(field: &'static str, v: Option<f64>) -> FieldResult<Option<f64>> {
    match v {
        Some(x) if !x.is_finite() => Err((field, "must be a finite number".into())),
        other => Ok(other),
    }
}

fn aligned(field: &'static str, grain: TimeGrain, t: DateTime<Utc>) -> FieldResult<DateTime<Utc>> {
    let t = normalize_time(t);
    if buckets::is_bucket_start(grain, t) {
        Ok(t)
    } else {
        Err((
            field,
            format!(
                "{} is not the start of a {} bucket in UTC (expected {})",
                t.to_rfc3339(),
                grain.as_str(),
                buckets::truncate(grain, t).to_rfc3339()
            ),
        ))
    }
}

/// A summary snapshot to record.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryInput {
    pub project_id: Uuid,
    pub captured_at: DateTime<Utc>,
    /// Contract version; `"1.0"` when absent.
    #[serde(default)]
    pub version: Option<String>,
    /// Phase/milestone filters; absent for the project-wide snapshot.
    #[serde(default)]
    pub scope: Option<Value>,
    pub payload: Value,
}

/// A trend point to upsert.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrendPointInput {
    pub project_id: Uuid,
    pub metric_key: String,
    pub time_grain: TimeGrain,
    /// Must be the start of its grain's bucket in UTC.
    pub time_bucket: DateTime<Utc>,
    /// `{}` when absent.
    #[serde(default)]
    pub dimensions: Option<Value>,
    #[serde(default)]
    pub value_numeric: Option<f64>,
    #[serde(default)]
    pub value_json: Option<Value>,
    /// When the value was computed; the time of the write when absent.
    #[serde(default)]
    pub computed_at: Option<DateTime<Utc>>,
}

/// A breakdown point to upsert; grain and bucket together, or neither (snapshot-only).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakdownPointInput {
    pub project_id: Uuid,
    pub metric_key: String,
    #[serde(default)]
    pub time_grain: Option<TimeGrain>,
    #[serde(default)]
    pub time_bucket: Option<DateTime<Utc>>,
    pub dimension_key: String,
    pub dimension_value: String,
    #[serde(default)]
    pub value_numeric: Option<f64>,
    #[serde(default)]
    pub value_json: Option<Value>,
    #[serde(default)]
    pub computed_at: Option<DateTime<Utc>>,
}

/// A drilldown row to upsert; exactly one of `entity_id` and `reference_id`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrilldownInput {
    pub project_id: Uuid,
    pub metric_key: String,
    pub entity_type: String,
    #[serde(default)]
    pub entity_id: Option<Uuid>,
    #[serde(default)]
    pub reference_id: Option<String>,
    #[serde(default)]
    pub time_bucket: Option<DateTime<Utc>>,
    pub payload: Value,
    #[serde(default)]
    pub computed_at: Option<DateTime<Utc>>,
}

/// A validated summary row.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    pub id: Uuid,
    pub project_id: Uuid,
    pub captured_at: DateTime<Utc>,
    pub version: String,
    pub scope: Option<Value>,
    pub payload: Value,
    pub created_at: DateTime<Utc>,
}

/// A validated trend row.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendRow {
    pub id: Uuid,
    pub project_id: Uuid,
    pub metric_key: String,
    pub grain: TimeGrain,
    pub time_bucket: DateTime<Utc>,
    pub dimensions: Value,
    pub value_numeric: Option<f64>,
    pub value_json: Option<Value>,
    pub computed_at: DateTime<Utc>,
}

/// A validated breakdown row.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakdownRow {
    pub id: Uuid,
    pub project_id: Uuid,
    pub metric_key: String,
    pub grain: Option<TimeGrain>,
    pub time_bucket: Option<DateTime<Utc>>,
    pub dimension_key: String,
    pub dimension_value: String,
    pub value_numeric: Option<f64>,
    pub value_json: Option<Value>,
    pub computed_at: DateTime<Utc>,
}

/// A validated drilldown row.
#[derive(Debug, Clone, PartialEq)]
pub struct DrilldownRow {
    pub id: Uuid,
    pub project_id: Uuid,
    pub metric_key: String,
    pub entity_type: String,
    pub entity_id: Option<Uuid>,
    pub reference_id: Option<String>,
    pub time_bucket: Option<DateTime<Utc>>,
    pub payload: Value,
    pub computed_at: DateTime<Utc>,
}

/// A validated row: its deterministic id and project.
pub trait Row {
    fn id(&self) -> Uuid;
    fn project_id(&self) -> Uuid;
}

macro_rules! impl_row {
    ($($t:ty),*) => {$(
        impl Row for $t {
            fn id(&self) -> Uuid { self.id }
            fn project_id(&self) -> Uuid { self.project_id }
        }
    )*};
}
impl_row!(SummaryRow, TrendRow, BreakdownRow, DrilldownRow);

impl SummaryInput {
    pub fn into_row(self, now: DateTime<Utc>) -> FieldResult<SummaryRow> {
        let version = self.version.unwrap_or_else(|| "1.0".into());
        bounded("version", &version, 32)?;
        let scope = self.scope.map(|s| object("scope", &s)).transpose()?;
        let payload = object("payload", &self.payload)?;
        let captured_at = normalize_time(self.captured_at);
        Ok(SummaryRow {
            id: identity::summary_id(self.project_id, captured_at, scope.as_ref()),
            project_id: self.project_id,
            captured_at,
            version,
            scope,
            payload,
            created_at: now,
        })
    }
}

impl TrendPointInput {
    pub fn into_row(self, now: DateTime<Utc>) -> FieldResult<TrendRow> {
        key("metric_key", &self.metric_key)?;
        let time_bucket = aligned("time_bucket", self.time_grain, self.time_bucket)?;
        let dimensions = match &self.dimensions {
            Some(d) => object("dimensions", d)?,
            None => Value::Object(Default::default()),
        };
        let value_numeric = finite("value_numeric", self.value_numeric)?;
        Ok(TrendRow {
            id: identity::trend_point_id(self.project_id, &self.metric_key, self.time_grain, time_bucket, &dimensions),
            project_id: self.project_id,
            metric_key: self.metric_key,
            grain: self.time_grain,
            time_bucket,
            dimensions,
            value_numeric,
            value_json: self.value_json.as_ref().map(canonicalize),
            computed_at: normalize_time(self.computed_at.unwrap_or(now)),
        })
    }
}

impl BreakdownPointInput {
    pub fn into_row(self, now: DateTime<Utc>) -> FieldResult<BreakdownRow> {
        key("metric_key", &self.metric_key)?;
        key("dimension_key", &self.dimension_key)?;
        bounded("dimension_value", &self.dimension_value, MAX_VALUE_LEN)?;
        let time_bucket = match (self.time_grain, self.time_bucket) {
            (Some(g), Some(b)) => Some(aligned("time_bucket", g, b)?),
            (None, None) => None,
            (Some(_), None) => return Err(("time_bucket", "is required with `time_grain`".into())),
            (None, Some(_)) => return Err(("time_grain", "is required with `time_bucket`".into())),
        };
        let value_numeric = finite("value_numeric", self.value_numeric)?;
        Ok(BreakdownRow {
            id: identity::breakdown_point_id(
                self.project_id,
                &self.metric_key,
                self.time_grain,
                time_bucket,
                &self.dimension_key,
                &self.dimension_value,
            ),
            project_id: self.project_id,
            metric_key: self.metric_key,
            grain: self.time_grain,
            time_bucket,
            dimension_key: self.dimension_key,
            dimension_value: self.dimension_value,
            value_numeric,
            value_json: self.value_json.as_ref().map(canonicalize),
            computed_at: normalize_time(self.computed_at.unwrap_or(now)),
        })
    }
}

impl DrilldownInput {
    pub fn into_row(self, now: DateTime<Utc>) -> FieldResult<DrilldownRow> {
        key("metric_key", &self.metric_key)?;
        key("entity_type", &self.entity_type)?;
        let entity = match (self.entity_id, &self.reference_id) {
            (Some(e), None) => EntityRef::Id(e),
            (None, Some(r)) => {
                key("reference_id", r)?;
                EntityRef::Reference(r.clone())
            }
            _ => return Err(("entity_id", "exactly one of `entity_id` and `reference_id` must be given".into())),
        };
        let payload = object("payload", &self.payload)?;
        let time_bucket = self.time_bucket.map(normalize_time);
        Ok(DrilldownRow {
            id: identity::drilldown_id(self.project_id, &self.metric_key, &self.entity_type, &entity, time_bucket),
            project_id: self.project_id,
            metric_key: self.metric_key,
            entity_type: self.entity_type,
            entity_id: self.entity_id,
            reference_id: self.reference_id,
            time_bucket,
            payload,
            computed_at: normalize_time(self.computed_at.unwrap_or(now)),
        })
    }
}

/// Validates every row of a batch (the first invalid row rejects it) and refuses two rows
/// with the same natural key. Rows stay in the given order (errors name their index);
/// the write orders them by id.
pub fn prepare<I, R: Row>(
    batch: Vec<I>,
    into_row: impl Fn(I, DateTime<Utc>) -> FieldResult<R>,
) -> Result<Vec<R>, super::IngestError> {
    let now = normalize_time(Utc::now());
    let mut rows = Vec::with_capacity(batch.len());
    let mut seen: HashMap<Uuid, usize> = HashMap::with_capacity(batch.len());
    for (index, input) in batch.into_iter().enumerate() {
        let row = into_row(input, now)
            .map_err(|(field, reason)| super::IngestError::InvalidRow(RowError { index, field, reason }))?;
        if let Some(first) = seen.insert(row.id(), index) {
            return Err(super::IngestError::InvalidRow(RowError {
                index,
                field: "natural key",
                reason: format!("repeats row {first} (same project, metric, bucket and key): send each row once"),
            }));
        }
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn trend(bucket: &str, grain: TimeGrain) -> TrendPointInput {
        TrendPointInput {
            project_id: Uuid::nil(),
            metric_key: "m".into(),
            time_grain: grain,
            time_bucket: DateTime::parse_from_rfc3339(bucket).unwrap().with_timezone(&Utc),
            dimensions: None,
            value_numeric: Some(1.0),
            value_json: None,
            computed_at: None,
        }
    }

    fn err<T: std::fmt::Debug>(r: FieldResult<T>) -> &'static str {
        r.unwrap_err().0
    }

    #[test]
    fn buckets_must_start_their_grain() {
        let now = Utc::now();
        assert!(trend("2026-03-16T00:00:00Z", TimeGrain::Week).into_row(now).is_ok());
        assert_eq!(err(trend("2026-03-17T00:00:00Z", TimeGrain::Week).into_row(now)), "time_bucket");
        assert_eq!(err(trend("2026-03-16T00:30:00Z", TimeGrain::Hour).into_row(now)), "time_bucket");
        assert_eq!(err(trend("2026-03-02T00:00:00Z", TimeGrain::Month).into_row(now)), "time_bucket");
        // Another offset naming the same UTC instant is fine.
        assert!(trend("2026-03-16T02:00:00+02:00", TimeGrain::Week).into_row(now).is_ok());
    }

    #[test]
    fn values_and_objects_are_checked() {
        let now = Utc::now();
        let mut t = trend("2026-03-16T00:00:00Z", TimeGrain::Day);
        t.value_numeric = Some(f64::NAN);
        assert_eq!(err(t.into_row(now)), "value_numeric");
        let mut t = trend("2026-03-16T00:00:00Z", TimeGrain::Day);
        t.dimensions = Some(json!([1]));
        assert_eq!(err(t.into_row(now)), "dimensions");
        let mut t = trend("2026-03-16T00:00:00Z", TimeGrain::Day);
        t.metric_key = "x".repeat(201);
        assert_eq!(err(t.into_row(now)), "metric_key");
        let d = DrilldownInput {
            project_id: Uuid::nil(),
            metric_key: "m".into(),
            entity_type: "task".into(),
            entity_id: Some(Uuid::nil()),
            reference_id: Some("r".into()),
            time_bucket: None,
            payload: json!({}),
            computed_at: None,
        };
        assert_eq!(err(d.clone().into_row(now)), "entity_id");
        assert_eq!(err(DrilldownInput { entity_id: None, reference_id: None, ..d.clone() }.into_row(now)), "entity_id");
        assert_eq!(err(DrilldownInput { entity_id: None, payload: json!(1), ..d }.into_row(now)), "payload");
    }

    #[test]
    fn batches_reject_repeated_keys_and_keep_their_order() {
        let a = trend("2026-03-16T00:00:00Z", TimeGrain::Day);
        let b = trend("2026-03-17T00:00:00Z", TimeGrain::Day);
        let rows = prepare(vec![a.clone(), b.clone()], TrendPointInput::into_row).unwrap();
        assert_eq!(rows[0].time_bucket, a.time_bucket);
        match prepare(vec![a.clone(), b, a], TrendPointInput::into_row) {
            Err(super::super::IngestError::InvalidRow(e)) => assert_eq!((e.index, e.field), (2, "natural key")),
            other => panic!("{other:?}"),
        }
    }
}
