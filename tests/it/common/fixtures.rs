//! Rows written straight through the entities, with the library's deterministic ids: the
//! read tests' data, independent of the write API.

use chrono::{DateTime, Utc};
use entity::sea_orm_active_enums::TimeGrain;
use entity::{
    metrics_breakdown_point as bp, metrics_drilldown as dd, metrics_summary as ms, metrics_trend_point as tp, project,
};
use metrics_api::identity::{self, EntityRef};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use serde_json::{json, Value};
use uuid::Uuid;

pub fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("rfc3339").with_timezone(&Utc)
}

/// A project id from a small number, readable in failures.
pub fn pid(n: u128) -> Uuid {
    Uuid::from_u128(0x1000_0000_0000_4000_8000_0000_0000_0000 + n)
}

pub async fn project(db: &impl ConnectionTrait, id: Uuid, name: &str) {
    project::Entity::insert(project::ActiveModel {
        id: Set(id),
        name: Set(Some(name.to_owned())),
        created_at: Set(t("2026-01-01T00:00:00Z")),
    })
    .exec_without_returning(db)
    .await
    .expect("insert project");
}

pub async fn projects(db: &impl ConnectionTrait, n: u128) -> Vec<Uuid> {
    let ids: Vec<Uuid> = (1..=n).map(pid).collect();
    project::Entity::insert_many(ids.iter().map(|id| project::ActiveModel {
        id: Set(*id),
        name: Set(Some(format!("project {id}"))),
        created_at: Set(t("2026-01-01T00:00:00Z")),
    }))
    .exec_without_returning(db)
    .await
    .expect("insert projects");
    ids
}

pub fn trend_row(
    project: Uuid,
    metric: &str,
    grain: TimeGrain,
    bucket: DateTime<Utc>,
    dims: Value,
    value: Option<f64>,
) -> tp::ActiveModel {
    tp::ActiveModel {
        id: Set(identity::trend_point_id(project, metric, grain, bucket, &dims)),
        project_id: Set(project),
        metric_key: Set(metric.to_owned()),
        time_grain: Set(grain),
        time_bucket: Set(bucket),
        dimensions: Set(identity::canonicalize(&dims)),
        value_numeric: Set(value),
        value_json: Set(value.map(|v| json!({ "v": v }))),
        computed_at: Set(bucket + chrono::Duration::minutes(1)),
    }
}

pub async fn trends(db: &impl ConnectionTrait, rows: Vec<tp::ActiveModel>) {
    for chunk in rows.chunks(1000) {
        tp::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await.expect("insert trend points");
    }
}

pub async fn trend(
    db: &impl ConnectionTrait,
    project: Uuid,
    metric: &str,
    grain: TimeGrain,
    bucket: &str,
    dims: Value,
    value: f64,
) {
    trends(db, vec![trend_row(project, metric, grain, t(bucket), dims, Some(value))]).await;
}

#[allow(clippy::too_many_arguments)]
pub async fn breakdown(
    db: &impl ConnectionTrait,
    project: Uuid,
    metric: &str,
    grain: Option<TimeGrain>,
    bucket: Option<&str>,
    key: &str,
    val: &str,
    value: f64,
) {
    let bucket = bucket.map(t);
    bp::Entity::insert(bp::ActiveModel {
        id: Set(identity::breakdown_point_id(project, metric, grain, bucket, key, val)),
        project_id: Set(project),
        metric_key: Set(metric.to_owned()),
        time_grain: Set(grain),
        time_bucket: Set(bucket),
        dimension_key: Set(key.to_owned()),
        dimension_value: Set(val.to_owned()),
        value_numeric: Set(Some(value)),
        value_json: Set(None),
        computed_at: Set(t("2026-03-01T00:00:00Z")),
    })
    .exec_without_returning(db)
    .await
    .expect("insert breakdown point");
}

pub fn drilldown_row(
    project: Uuid,
    metric: &str,
    entity_type: &str,
    entity: EntityRef,
    bucket: Option<DateTime<Utc>>,
) -> dd::ActiveModel {
    let id = identity::drilldown_id(project, metric, entity_type, &entity, bucket);
    let (entity_id, reference_id) = match entity {
        EntityRef::Id(e) => (Some(e), None),
        EntityRef::Reference(r) => (None, Some(r)),
    };
    dd::ActiveModel {
        id: Set(id),
        project_id: Set(project),
        metric_key: Set(metric.to_owned()),
        entity_type: Set(entity_type.to_owned()),
        entity_id: Set(entity_id),
        reference_id: Set(reference_id),
        time_bucket: Set(bucket),
        payload: Set(json!({ "n": id.to_string() })),
        computed_at: Set(t("2026-03-01T00:00:00Z")),
    }
}

pub async fn drilldowns(db: &impl ConnectionTrait, rows: Vec<dd::ActiveModel>) {
    for chunk in rows.chunks(1000) {
        dd::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await.expect("insert drilldowns");
    }
}

pub async fn summary(db: &impl ConnectionTrait, project: Uuid, at: &str, scope: Option<Value>, payload: Value) {
    let at = t(at);
    ms::Entity::insert(ms::ActiveModel {
        id: Set(identity::summary_id(project, at, scope.as_ref())),
        project_id: Set(project),
        captured_at: Set(at),
        version: Set("1.0".into()),
        scope: Set(scope.as_ref().map(identity::canonicalize)),
        payload: Set(payload),
        created_at: Set(at),
    })
    .exec_without_returning(db)
    .await
    .expect("insert summary");
}
