//! Deterministic row identity: every read-model row's `id` is a UUIDv5 of its natural key.
//!
//! Why: the spec's write strategy upserts deterministic rows. With the id derived from the
//! natural key, `INSERT ... ON CONFLICT (id)` makes replays no-ops and lets concurrent
//! writers converge, with no extra unique index.
//!
//! The key is serialised as a list of fields (a JSON array, so no field boundary can be
//! forged by a value containing a separator), each normalised so that logically equal
//! inputs give the same bytes:
//! - timestamps in UTC, truncated to microseconds (the precision PostgreSQL stores), in a
//!   fixed RFC 3339 form;
//! - JSON objects in canonical form: keys sorted, no whitespace ([`canonical_json`]);
//! - absent optional fields as JSON `null`, distinct from any string.
//!
//! Each table has its own tag as the first field, so two tables never share an id.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use entity::sea_orm_active_enums::TimeGrain;
use serde_json::Value;
use uuid::Uuid;

/// The UUIDv5 namespace of metrics-api row ids (a fixed, random UUID: changing it would
/// change every id and break upserts of existing rows).
pub const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2b8e_4d3a_5e71_9a0b_c4d5_e6f7_a8b9);

/// A timestamp as stored: UTC, microsecond precision.
pub fn normalize_time(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

fn time_field(t: DateTime<Utc>) -> Value {
    Value::String(normalize_time(t).to_rfc3339_opts(SecondsFormat::Micros, true))
}

fn opt_time_field(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, time_field)
}

/// Rebuilds a JSON value with every object's keys in sorted order, at every depth.
///
/// `serde_json` keeps insertion order when its `preserve_order` feature is on (a
/// dependency may turn it on), so sorting is done here explicitly rather than assumed.
pub fn canonicalize(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k.clone(), canonicalize(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(canonicalize).collect()),
        other => other.clone(),
    }
}

/// The canonical text of a JSON value: keys sorted at every depth, no whitespace. Stored
/// JSON is written in this form, so SQLite can compare JSON text for equality.
pub fn canonical_json(value: &Value) -> String {
    canonicalize(value).to_string()
}

fn derive(fields: Vec<Value>) -> Uuid {
    let key = Value::Array(fields).to_string();
    Uuid::new_v5(&ID_NAMESPACE, key.as_bytes())
}

/// Id of a summary snapshot: (project_id, captured_at, scope).
pub fn summary_id(project_id: Uuid, captured_at: DateTime<Utc>, scope: Option<&Value>) -> Uuid {
    derive(vec![
        "summary".into(),
        project_id.to_string().into(),
        time_field(captured_at),
        scope.map_or(Value::Null, canonicalize),
    ])
}

/// Id of a trend point: (project_id, metric_key, time_grain, time_bucket, dimensions).
pub fn trend_point_id(
    project_id: Uuid,
    metric_key: &str,
    grain: TimeGrain,
    time_bucket: DateTime<Utc>,
    dimensions: &Value,
) -> Uuid {
    derive(vec![
        "trend".into(),
        project_id.to_string().into(),
        metric_key.into(),
        grain.as_str().into(),
        time_field(time_bucket),
        canonicalize(dimensions),
    ])
}

/// Id of a breakdown point: (project_id, metric_key, time_grain, time_bucket,
/// dimension_key, dimension_value); grain and bucket are absent for snapshot-only metrics.
pub fn breakdown_point_id(
    project_id: Uuid,
    metric_key: &str,
    grain: Option<TimeGrain>,
    time_bucket: Option<DateTime<Utc>>,
    dimension_key: &str,
    dimension_value: &str,
) -> Uuid {
    derive(vec![
        "breakdown".into(),
        project_id.to_string().into(),
        metric_key.into(),
        grain.map_or(Value::Null, |g| g.as_str().into()),
        opt_time_field(time_bucket),
        dimension_key.into(),
        dimension_value.into(),
    ])
}

/// The key of a drilldown entity: a UUID, or a reference for non-UUID entity keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EntityRef {
    /// `entity_id`.
    Id(Uuid),
    /// `reference_id`.
    Reference(String),
}

/// Id of a drilldown row: (project_id, metric_key, entity_type, entity_id or
/// reference_id, time_bucket).
pub fn drilldown_id(
    project_id: Uuid,
    metric_key: &str,
    entity_type: &str,
    entity: &EntityRef,
    time_bucket: Option<DateTime<Utc>>,
) -> Uuid {
    // Tagged so that a reference string equal to some UUID's text is a different entity.
    let entity = match entity {
        EntityRef::Id(id) => serde_json::json!({ "id": id.to_string() }),
        EntityRef::Reference(r) => serde_json::json!({ "ref": r }),
    };
    derive(vec![
        "drilldown".into(),
        project_id.to_string().into(),
        metric_key.into(),
        entity_type.into(),
        entity,
        opt_time_field(time_bucket),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, TimeZone};
    use serde_json::json;

    fn project() -> Uuid {
        Uuid::parse_str("7d2f4a9e-8b1c-4e3f-9a6d-5c4b3a291807").unwrap()
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth_without_whitespace() {
        let v: Value = serde_json::from_str(r#"{ "b": 1, "a": { "z": [ {"y":1,"x":2} ], "c": null } }"#).unwrap();
        assert_eq!(canonical_json(&v), r#"{"a":{"c":null,"z":[{"x":2,"y":1}]},"b":1}"#);
    }

    #[test]
    fn trend_id_ignores_key_order_and_offset() {
        let utc = Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap();
        let plus2 = FixedOffset::east_opt(2 * 3600)
            .unwrap()
            .with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        let a = trend_point_id(project(), "tasks_completed", TimeGrain::Hour, utc, &json!({"team": "a", "gate": "b"}));
        let b =
            trend_point_id(project(), "tasks_completed", TimeGrain::Hour, plus2, &json!({"gate": "b", "team": "a"}));
        assert_eq!(a, b);
        assert_eq!(a.get_version_num(), 5);
    }

    #[test]
    fn ids_are_stable_across_releases() {
        // A changed derivation would orphan every stored row: this pins the bytes.
        let t = Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap();
        let id = trend_point_id(project(), "wip", TimeGrain::Week, t, &json!({}));
        assert_eq!(id, trend_point_id(project(), "wip", TimeGrain::Week, t, &json!({})));
        assert_eq!(id.to_string(), STABLE_TREND_ID);
    }

    const STABLE_TREND_ID: &str = "089d6c35-8c4f-5d05-b0f4-7caadad0940f";

    #[test]
    fn every_key_field_changes_the_id() {
        let t = Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap();
        let base = trend_point_id(project(), "wip", TimeGrain::Week, t, &json!({}));
        assert_ne!(base, trend_point_id(Uuid::nil(), "wip", TimeGrain::Week, t, &json!({})));
        assert_ne!(base, trend_point_id(project(), "wip2", TimeGrain::Week, t, &json!({})));
        assert_ne!(base, trend_point_id(project(), "wip", TimeGrain::Day, t, &json!({})));
        assert_ne!(base, trend_point_id(project(), "wip", TimeGrain::Week, t + chrono::Duration::weeks(1), &json!({})));
        assert_ne!(base, trend_point_id(project(), "wip", TimeGrain::Week, t, &json!({"team": "a"})));
    }

    #[test]
    fn summary_id_distinguishes_scope_and_normalises_it() {
        let t = Utc.with_ymd_and_hms(2026, 1, 5, 6, 30, 0).unwrap();
        let none = summary_id(project(), t, None);
        let phase = summary_id(project(), t, Some(&json!({"phase": "p1", "milestone": "m"})));
        assert_ne!(none, phase);
        assert_eq!(phase, summary_id(project(), t, Some(&json!({"milestone": "m", "phase": "p1"}))));
        // Sub-microsecond digits are not stored by PostgreSQL, so they do not make a new row.
        let nanos = t + chrono::Duration::nanoseconds(300);
        assert_eq!(none, summary_id(project(), nanos, None));
    }

    #[test]
    fn breakdown_id_separates_snapshot_rows_from_bucketed_ones() {
        let t = Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap();
        let snap = breakdown_point_id(project(), "wip", None, None, "state", "open");
        let bucketed = breakdown_point_id(project(), "wip", Some(TimeGrain::Day), Some(t), "state", "open");
        assert_ne!(snap, bucketed);
        assert_ne!(snap, breakdown_point_id(project(), "wip", None, None, "state", "closed"));
        assert_ne!(snap, breakdown_point_id(project(), "wip", None, None, "gate_type", "open"));
    }

    #[test]
    fn drilldown_reference_never_collides_with_entity_id() {
        let e = Uuid::parse_str("00000000-0000-0000-0000-000000000001").unwrap();
        let by_id = drilldown_id(project(), "cycle_time", "task", &EntityRef::Id(e), None);
        let by_ref = drilldown_id(project(), "cycle_time", "task", &EntityRef::Reference(e.to_string()), None);
        assert_ne!(by_id, by_ref);
    }
}
