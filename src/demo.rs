//! The demo dataset: a few named projects with every query shape filled, so the first
//! GraphiQL session shows real answers.
//!
//! Deterministic: each value is a function of its row's id (itself a function of the
//! natural key), so two loads on the same day are identical. The data covers the 120 days
//! before the UTC day the load runs on: hourly and daily trend points, weekly and monthly
//! rollups, daily breakdowns plus a snapshot-only one, drilldown rows and daily summary
//! snapshots.

use chrono::{DateTime, Duration, Utc};
use entity::sea_orm_active_enums::TimeGrain;
use entity::{
    metrics_breakdown_point as bp, metrics_drilldown as dd, metrics_summary as ms, metrics_trend_point as tp, project,
};
use sea_orm::{ActiveValue::Set, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, TransactionTrait};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::buckets;
use crate::identity::{self, EntityRef};

/// The demo projects: fixed ids so examples and docs can name them.
pub const PROJECTS: [(u128, &str); 3] = [
    (0x0195_0000_0000_7000_8000_0000_0000_0001, "Atlas"),
    (0x0195_0000_0000_7000_8000_0000_0000_0002, "Borealis"),
    (0x0195_0000_0000_7000_8000_0000_0000_0003, "Cygnus"),
];

/// Days of history the demo holds.
pub const DAYS: i64 = 120;

/// The metric keys of the demo, with a base value and a spread.
const METRICS: [(&str, f64, f64); 5] = [
    ("task_cycle_time", 30.0, 12.0),
    ("tasks_completed", 8.0, 6.0),
    ("gate_pass_rate", 0.85, 0.1),
    ("integration_success_rate", 0.92, 0.06),
    ("wip", 14.0, 5.0),
];

/// What a seed run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedOutcome {
    Seeded { rows: u64 },
    AlreadyHasData,
}

/// A deterministic number in [0, 1) from an id.
fn unit(id: Uuid) -> f64 {
    let mut x = id.as_u64_pair().0 ^ id.as_u64_pair().1;
    // splitmix64 finaliser: spreads nearby ids.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn value(id: Uuid, base: f64, spread: f64) -> f64 {
    let v = base + (unit(id) - 0.5) * 2.0 * spread;
    (v * 100.0).round() / 100.0
}

/// Loads the demo data when the database holds no project; one transaction, so a failed
/// load leaves nothing behind.
pub async fn seed(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<SeedOutcome, DbErr> {
    if project::Entity::find().count(db).await? > 0 {
        return Ok(SeedOutcome::AlreadyHasData);
    }
    let end = buckets::truncate(TimeGrain::Day, now);
    let start = end - Duration::days(DAYS);
    let txn = db.begin().await?;
    let mut rows = 0u64;
    for (id, name) in PROJECTS {
        let pid = Uuid::from_u128(id);
        project::Entity::insert(project::ActiveModel {
            id: Set(pid),
            name: Set(Some(name.to_owned())),
            created_at: Set(start),
        })
        .exec(&txn)
        .await?;
        rows += 1;
        rows += insert_chunks(&txn, trend_rows(pid, start, end)).await?;
        rows += insert_chunks(&txn, breakdown_rows(pid, start, end)).await?;
        rows += insert_chunks(&txn, drilldown_rows(pid, start, end)).await?;
        rows += insert_chunks(&txn, summary_rows(pid, start, end)).await?;
    }
    txn.commit().await?;
    Ok(SeedOutcome::Seeded { rows })
}

/// Inserts in chunks that stay under both backends' bind-parameter limits.
async fn insert_chunks<A>(db: &impl sea_orm::ConnectionTrait, rows: Vec<A>) -> Result<u64, DbErr>
where
    A: sea_orm::ActiveModelTrait + Send,
    <A::Entity as EntityTrait>::Model: sea_orm::IntoActiveModel<A>,
{
    let n = rows.len() as u64;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(1000).collect();
        A::Entity::insert_many(chunk).exec_without_returning(db).await?;
    }
    Ok(n)
}

fn trend_row(
    pid: Uuid,
    metric: &str,
    grain: TimeGrain,
    bucket: DateTime<Utc>,
    dims: Value,
    base: f64,
    spread: f64,
) -> tp::ActiveModel {
    let id = identity::trend_point_id(pid, metric, grain, bucket, &dims);
    let v = value(id, base, spread);
    tp::ActiveModel {
        id: Set(id),
        project_id: Set(pid),
        metric_key: Set(metric.to_owned()),
        time_grain: Set(grain),
        time_bucket: Set(bucket),
        dimensions: Set(identity::canonicalize(&dims)),
        value_numeric: Set(Some(v)),
        value_json: Set(Some(json!({ "value": v, "samples": (unit(id) * 40.0) as i64 + 1 }))),
        computed_at: Set(bucket + Duration::minutes(5)),
    }
}

fn trend_rows(pid: Uuid, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<tp::ActiveModel> {
    let mut out = Vec::new();
    for (metric, base, spread) in METRICS {
        for grain in [TimeGrain::Hour, TimeGrain::Day, TimeGrain::Week, TimeGrain::Month] {
            for b in buckets::walk(grain, start, end) {
                out.push(trend_row(pid, metric, grain, b, json!({}), base, spread));
            }
        }
    }
    // Series per team and per gate type, daily: the dimension filters have something to
    // find.
    for b in buckets::walk(TimeGrain::Day, start, end) {
        for team in ["platform", "web"] {
            out.push(trend_row(pid, "tasks_completed", TimeGrain::Day, b, json!({ "team": team }), 4.0, 3.0));
        }
        for gate in ["lint", "review", "test"] {
            out.push(trend_row(pid, "gate_pass_rate", TimeGrain::Day, b, json!({ "gate_type": gate }), 0.85, 0.1));
        }
    }
    out
}

fn breakdown_row(
    pid: Uuid,
    metric: &str,
    grain: Option<TimeGrain>,
    bucket: Option<DateTime<Utc>>,
    computed: DateTime<Utc>,
    key: &str,
    val: &str,
) -> bp::ActiveModel {
    let id = identity::breakdown_point_id(pid, metric, grain, bucket, key, val);
    let v = value(id, 10.0, 8.0).round();
    bp::ActiveModel {
        id: Set(id),
        project_id: Set(pid),
        metric_key: Set(metric.to_owned()),
        time_grain: Set(grain),
        time_bucket: Set(bucket),
        dimension_key: Set(key.to_owned()),
        dimension_value: Set(val.to_owned()),
        value_numeric: Set(Some(v)),
        value_json: Set(Some(json!({ "count": v }))),
        // Snapshot-only rows were computed at the end of the demo window.
        computed_at: Set(bucket.unwrap_or(computed) + Duration::minutes(10)),
    }
}

fn breakdown_rows(pid: Uuid, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<bp::ActiveModel> {
    let states = ["todo", "in_progress", "review", "done"];
    let gates = ["lint", "review", "test"];
    let mut out = Vec::new();
    for b in buckets::walk(TimeGrain::Day, start, end) {
        for s in states {
            out.push(breakdown_row(pid, "wip", Some(TimeGrain::Day), Some(b), end, "state", s));
        }
        for g in gates {
            out.push(breakdown_row(pid, "gate_decisions", Some(TimeGrain::Day), Some(b), end, "gate_type", g));
        }
    }
    for s in states {
        out.push(breakdown_row(pid, "wip", None, None, end, "state", s));
    }
    out
}

const ASSIGNEES: [&str; 3] = ["ana", "bo", "cy"];

fn drilldown_rows(pid: Uuid, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<dd::ActiveModel> {
    let days = buckets::walk(TimeGrain::Day, start, end);
    let mut out = Vec::new();
    for i in 0..200u32 {
        let task = Uuid::new_v5(&pid, format!("task-{i}").as_bytes());
        let day = days[(i as usize * 7) % days.len()];
        let entity = EntityRef::Id(task);
        let id = identity::drilldown_id(pid, "task_cycle_time", "task", &entity, Some(day));
        out.push(dd::ActiveModel {
            id: Set(id),
            project_id: Set(pid),
            metric_key: Set("task_cycle_time".into()),
            entity_type: Set("task".into()),
            entity_id: Set(Some(task)),
            reference_id: Set(None),
            time_bucket: Set(Some(day)),
            payload: Set(json!({ "title": format!("Task {i}"), "cycle_time_hours": value(id, 30.0, 25.0), "assignee": ASSIGNEES[i as usize % 3] })),
            computed_at: Set(day + Duration::hours(1)),
        });
    }
    for i in 0..50u32 {
        let reference = format!("PR-{}", 1000 + i);
        let day = days[(i as usize * 11) % days.len()];
        let entity = EntityRef::Reference(reference.clone());
        let id = identity::drilldown_id(pid, "integration_success_rate", "integration_attempt", &entity, Some(day));
        out.push(dd::ActiveModel {
            id: Set(id),
            project_id: Set(pid),
            metric_key: Set("integration_success_rate".into()),
            entity_type: Set("integration_attempt".into()),
            entity_id: Set(None),
            reference_id: Set(Some(reference)),
            time_bucket: Set(Some(day)),
            payload: Set(json!({ "succeeded": unit(id) > 0.1, "attempts": (unit(id) * 3.0) as i64 + 1 })),
            computed_at: Set(day + Duration::hours(1)),
        });
    }
    out
}

fn summary_rows(pid: Uuid, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<ms::ActiveModel> {
    let mut out = Vec::new();
    let days = buckets::walk(TimeGrain::Day, start, end);
    for (i, day) in days.iter().enumerate() {
        let at = *day + Duration::hours(6);
        let mut scopes = vec![None];
        if i + 30 >= days.len() {
            scopes.push(Some(json!({ "phase": "beta" })));
        }
        for scope in scopes {
            let id = identity::summary_id(pid, at, scope.as_ref());
            out.push(ms::ActiveModel {
                id: Set(id),
                project_id: Set(pid),
                captured_at: Set(at),
                version: Set("1.0".into()),
                scope: Set(scope.as_ref().map(identity::canonicalize)),
                payload: Set(json!({
                    "tasks": { "open": (value(id, 40.0, 20.0)).round(), "completed_7d": value(id, 50.0, 20.0).round() },
                    "cycle_time_hours": { "p50": value(id, 28.0, 8.0), "p90": value(id, 70.0, 20.0) },
                    "gate_pass_rate": value(id, 0.85, 0.1),
                    "integration_success_rate": value(id, 0.92, 0.06),
                })),
                created_at: Set(at),
            });
        }
    }
    out
}

/// The example dashboard query GraphiQL opens with: the demo projects' latest summary,
/// two 30-day daily trends, a breakdown by state and the newest drilldown rows.
pub fn example_query(now: DateTime<Utc>) -> String {
    let to = buckets::truncate(TimeGrain::Day, now);
    let from = to - Duration::days(30);
    let (from, to) = (from.format("%Y-%m-%dT%H:%M:%SZ"), to.format("%Y-%m-%dT%H:%M:%SZ"));
    format!(
        r#"# A dashboard over every project (run `metrics-api serve --demo` for data).
# Ctrl-Enter runs it; the Docs pane lists every field.
query Dashboard {{
  projectList(first: 10) {{
    edges {{
      node {{
        id
        name
        summary {{ capturedAt payload }}
        completed: trend(metricKey: "tasks_completed", grain: DAY, from: "{from}", to: "{to}", fill: ZERO, compareTo: PREVIOUS_PERIOD) {{
          lastComputedAt
          points {{ bucket value }}
          comparison {{ points {{ bucket alignedBucket value }} }}
        }}
        cycleTime: trend(metricKey: "task_cycle_time", grain: DAY, from: "{from}", to: "{to}") {{
          points {{ bucket value }}
        }}
        byTeam: trendsMatching(metricKey: "tasks_completed", grain: DAY, from: "{from}", to: "{to}", dimensions: {{}}) {{
          dimensions
          points {{ bucket value }}
        }}
        wip: breakdown(metricKey: "wip", dimensionKey: "state", grain: DAY) {{
          bucket
          total
          items {{ dimensionValue value share }}
        }}
        slowest: drilldown(metricKey: "task_cycle_time", entityType: "task", orderBy: TIME_BUCKET_DESC, first: 5) {{
          edges {{ node {{ entityId timeBucket payload }} }}
          pageInfo {{ hasNextPage endCursor }}
        }}
      }}
    }}
  }}
}}
"#
    )
}
