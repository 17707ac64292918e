//! `metrics-bench load`: the dashboard query mix over HTTP against a release server, and
//! the same SQL statements run directly against PostgreSQL in the same run.
//!
//! Shapes:
//! - `dashboard-1`: one project's latest summary, two 30-day daily trends, a breakdown by
//!   state and the first 50 drilldown rows;
//! - `dashboard-50`: the same for 50 projects in one request;
//! - `hourly-90d`: a 90-day hourly trend with `fill: ZERO`;
//! - `drilldown-walk`: walking a project's drilldown to its end, 100 rows a page (one page
//!   a request).
//!
//! The baseline runs, for each shape, the statements the API runs (the library's own store
//! functions, so the SQL text is identical) one after another on one connection per
//! worker, at the same concurrency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use entity::sea_orm_active_enums::TimeGrain;
use metrics_api::store::drilldown::{DrilldownCursor, DrilldownFilter, DrilldownOrder, PageRequest};
use metrics_api::store::trend::DimensionFilter;
use metrics_api::store::{self, ReadShape, TimeRange};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::cpu::Reading;
use crate::dataset::{anchor, DB};
use crate::server::{start_server, url_of};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Dashboard1,
    Dashboard50,
    Hourly90,
    DrilldownWalk,
}

impl Shape {
    pub const ALL: [Shape; 4] = [Shape::Dashboard1, Shape::Dashboard50, Shape::Hourly90, Shape::DrilldownWalk];

    fn name(self) -> &'static str {
        match self {
            Shape::Dashboard1 => "dashboard-1",
            Shape::Dashboard50 => "dashboard-50",
            Shape::Hourly90 => "hourly-90d",
            Shape::DrilldownWalk => "drilldown-walk",
        }
    }
}

const DASHBOARD: &str = r#"query($ids: [UUID!]!, $from: DateTime!, $to: DateTime!) { projects(ids: $ids) { id
  summary { capturedAt payload }
  a: trend(metricKey: "metric_1", grain: DAY, from: $from, to: $to) { points { bucket value } }
  b: trend(metricKey: "metric_2", grain: DAY, from: $from, to: $to) { points { bucket value } }
  breakdown(metricKey: "wip", dimensionKey: "state", grain: DAY) { bucket items { dimensionValue value share } }
  drilldown(metricKey: "task_cycle_time", entityType: "task", first: 50) { edges { node { id entityId payload } } pageInfo { endCursor hasNextPage } }
} }"#;

const HOURLY: &str = r#"query($id: UUID!, $from: DateTime!, $to: DateTime!) { project(id: $id) {
  trend(metricKey: "metric_3", grain: HOUR, from: $from, to: $to, fill: ZERO) { points { bucket value } } } }"#;

const WALK: &str = r#"query($id: UUID!, $after: String) { project(id: $id) {
  drilldown(metricKey: "task_cycle_time", entityType: "task", first: 100, after: $after) { edges { node { id payload } } pageInfo { endCursor hasNextPage } } } }"#;

/// Where a worker is in its drilldown walk: the cursor of its next page (none: start a
/// new walk) and the project it walks.
struct Walk<C> {
    cursor: Option<C>,
    project: Uuid,
}

/// One walk state per worker.
type Walks<C> = Arc<Vec<tokio::sync::Mutex<Walk<C>>>>;

fn walks<C>(n: usize) -> Walks<C> {
    Arc::new((0..n).map(|_| tokio::sync::Mutex::new(Walk { cursor: None, project: Uuid::nil() })).collect())
}

/// What every worker needs.
struct Ctx {
    ids: Vec<Uuid>,
    anchor: DateTime<Utc>,
    /// The server's statement shape for per-project reads, which the baseline runs too.
    shape: ReadShape,
}

impl Ctx {
    /// A deterministic pseudo-random project for request `n` of worker `w`.
    fn pick(&self, w: usize, n: u64, count: usize) -> Vec<Uuid> {
        let start = ((w as u64 * 7919 + n * 104_729) % self.ids.len() as u64) as usize;
        (0..count).map(|i| self.ids[(start + i * 7) % self.ids.len()]).collect()
    }

    fn daily(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        (self.anchor - chrono::Duration::days(30), self.anchor)
    }

    fn hourly(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        (self.anchor - chrono::Duration::days(90), self.anchor)
    }
}

fn drill_filter() -> DrilldownFilter {
    DrilldownFilter {
        metric_key: "task_cycle_time".into(),
        entity_type: "task".into(),
        entity_id: None,
        reference_id: None,
        range: TimeRange::default(),
        order: DrilldownOrder::Entity,
    }
}

/// The API's statements for one request of a shape, run one after another.
async fn baseline_request(
    db: &DatabaseConnection,
    ctx: &Ctx,
    shape: Shape,
    w: usize,
    n: u64,
    walk: &mut Walk<DrilldownCursor>,
) {
    match shape {
        Shape::Dashboard1 | Shape::Dashboard50 => {
            let ids = ctx.pick(w, n, if shape == Shape::Dashboard1 { 1 } else { 50 });
            let (from, to) = ctx.daily();
            store::project::by_ids(db, &ids).await.unwrap();
            store::summary::latest(db, ctx.shape, &ids, Utc::now(), None).await.unwrap();
            let metrics = ["metric_1".to_owned(), "metric_2".to_owned()];
            store::trend::points(db, &ids, &metrics, TimeGrain::Day, from, to, &DimensionFilter::Exact(json!({})))
                .await
                .unwrap();
            store::breakdown::latest(db, ctx.shape, &ids, "wip", "state", Some(TimeGrain::Day)).await.unwrap();
            let reqs: Vec<PageRequest> = ids.iter().map(|p| PageRequest { project_id: *p, after: None }).collect();
            store::drilldown::pages(db, ctx.shape, &reqs, &drill_filter(), 51).await.unwrap();
        }
        Shape::Hourly90 => {
            let ids = ctx.pick(w, n, 1);
            let (from, to) = ctx.hourly();
            store::project::by_ids(db, &ids).await.unwrap();
            store::trend::points(
                db,
                &ids,
                &["metric_3".to_owned()],
                TimeGrain::Hour,
                from,
                to,
                &DimensionFilter::Exact(json!({})),
            )
            .await
            .unwrap();
        }
        Shape::DrilldownWalk => {
            if walk.cursor.is_none() {
                walk.project = ctx.pick(w, n, 1)[0];
            }
            store::project::by_ids(db, &[walk.project]).await.unwrap();
            let req = PageRequest { project_id: walk.project, after: walk.cursor };
            let pages = store::drilldown::pages(db, ctx.shape, &[req], &drill_filter(), 101).await.unwrap();
            let rows = &pages[0];
            walk.cursor = if rows.len() > 100 {
                rows.get(99).map(|r| DrilldownCursor::of(DrilldownOrder::Entity, r))
            } else {
                None
            };
        }
    }
}

/// One request of a shape over HTTP.
async fn api_request(
    client: &reqwest::Client,
    url: &str,
    ctx: &Ctx,
    shape: Shape,
    w: usize,
    n: u64,
    walk: &mut Walk<String>,
) {
    let body = match shape {
        Shape::Dashboard1 | Shape::Dashboard50 => {
            let ids = ctx.pick(w, n, if shape == Shape::Dashboard1 { 1 } else { 50 });
            let (from, to) = ctx.daily();
            json!({ "query": DASHBOARD, "variables": { "ids": ids, "from": from, "to": to } })
        }
        Shape::Hourly90 => {
            let (from, to) = ctx.hourly();
            json!({ "query": HOURLY, "variables": { "id": ctx.pick(w, n, 1)[0], "from": from, "to": to } })
        }
        Shape::DrilldownWalk => {
            if walk.cursor.is_none() {
                walk.project = ctx.pick(w, n, 1)[0];
            }
            json!({ "query": WALK, "variables": { "id": walk.project, "after": walk.cursor } })
        }
    };
    let r = client.post(url).json(&body).send().await.expect("request");
    let bytes = r.bytes().await.expect("body");
    // Only the walk needs the answer decoded (for its cursor): the other shapes check for
    // errors without paying for a JSON parse on the cores the server shares.
    if shape != Shape::DrilldownWalk {
        assert!(!bytes.windows(9).any(|w| w == b"\"errors\":"), "{}", String::from_utf8_lossy(&bytes));
        return;
    }
    let v: Value = serde_json::from_slice(&bytes).expect("json");
    assert!(v.get("errors").is_none(), "{v}");
    {
        let info = &v["data"]["project"]["drilldown"]["pageInfo"];
        walk.cursor = if info["hasNextPage"].as_bool() == Some(true) {
            info["endCursor"].as_str().map(str::to_owned)
        } else {
            None
        };
    }
}

/// Latencies of one timed run.
struct Run {
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Run {
    fn pct(&self, p: f64) -> f64 {
        let mut l = self.latencies.clone();
        l.sort();
        let i = ((l.len() as f64 - 1.0) * p).round() as usize;
        l.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    }

    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }
}

async fn timed<F, Fut>(concurrency: usize, duration: Duration, work: F) -> Run
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let work = Arc::new(work);
    let started = Instant::now();
    let deadline = started + duration;
    let counter = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let (work, counter) = (work.clone(), counter.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                work(w, n).await;
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    Run { latencies, elapsed: started.elapsed() }
}

/// Statements one request of the shape runs, counted in-process over the same database.
async fn statements_per_request(url: &str, ctx: &Ctx, shape: Shape) -> u64 {
    let (db, counter) = metrics_api::db::connect(url, &Default::default()).await.unwrap();
    let state = metrics_api::http::AppState::new(db.clone(), counter.clone());
    let (from, to) = if shape == Shape::Hourly90 { ctx.hourly() } else { ctx.daily() };
    let (q, vars) = match shape {
        Shape::Dashboard1 => (DASHBOARD, json!({ "ids": ctx.pick(0, 0, 1), "from": from, "to": to })),
        Shape::Dashboard50 => (DASHBOARD, json!({ "ids": ctx.pick(0, 0, 50), "from": from, "to": to })),
        Shape::Hourly90 => (HOURLY, json!({ "id": ctx.ids[0], "from": from, "to": to })),
        Shape::DrilldownWalk => (WALK, json!({ "id": ctx.ids[0] })),
    };
    let req = async_graphql::Request::new(q).variables(async_graphql::Variables::from_json(vars));
    let before = counter.get();
    let resp = metrics_api::graphql::execute(
        &state.schema,
        &db,
        ctx.shape,
        req.into(),
        &metrics_api::auth::Principal::unrestricted(),
    )
    .await;
    assert!(resp.is_ok(), "{:?}", serde_json::to_string(&resp));
    let n = counter.get() - before;
    db.close().await.ok();
    n
}

/// Runs every shape at each concurrency and prints the report.
pub async fn run(admin_url: &str, bin: &str, duration: Duration, concurrencies: &[usize]) -> String {
    let url = url_of(admin_url, DB);
    let db = Database::connect(&url).await.expect("run `metrics-bench generate` first");
    let ids: Vec<Uuid> = db
        .query_all_raw(Statement::from_string(DbBackend::Postgres, "SELECT id FROM project ORDER BY id".to_owned()))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get("", "id").unwrap())
        .collect();
    // `READ_SHAPE` (inherited by the server) measures a shape the layout would not pick.
    let shape = match std::env::var("READ_SHAPE").as_deref() {
        Ok("branches") => ReadShape::Branches,
        Ok("windowed") => ReadShape::Windowed,
        _ => ReadShape::detect(&db).await.unwrap(),
    };
    println!("per-project reads: {}", shape.name());
    let ctx = Arc::new(Ctx { ids, anchor: anchor(&db).await, shape });
    // CPU is read from /proc for this cluster's processes only: the benchmark's database
    // server must run on this machine.
    let backend: i32 = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT pg_backend_pid() AS p".to_owned()))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "p")
        .unwrap();
    let postmaster = crate::cpu::parent_of(backend as u32).expect("the benchmark's PostgreSQL runs on this machine");
    db.close().await.ok();
    let server = start_server(bin, &url, 18282, &[]).await;
    let api_url = format!("http://127.0.0.1:{}/graphql", server.port);
    let mut out = String::from(
        "| shape | c | API req/s | API p50 ms | API p99 ms | baseline tx/s | baseline p50 ms | p50 vs baseline | req/s vs baseline | API CPU µs/req | PostgreSQL CPU µs/req (API run) | API CPU / PostgreSQL CPU | PostgreSQL CPU µs/req (baseline) | client CPU µs/req (API, baseline) | statements/req |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for shape in Shape::ALL {
        let statements = statements_per_request(&url, &ctx, shape).await;
        for &c in concurrencies {
            let client = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(c).build().unwrap();
            let (ctx2, url2) = (ctx.clone(), api_url.clone());
            let api_walks: Walks<String> = walks(c);
            let before = Reading::now(Some(server.pid()), postmaster);
            let api = timed(c, duration, move |w, n| {
                let (client, ctx, url, walks) = (client.clone(), ctx2.clone(), url2.clone(), api_walks.clone());
                async move {
                    let mut walk = walks[w].lock().await;
                    api_request(&client, &url, &ctx, shape, w, n, &mut walk).await;
                }
            })
            .await;
            let api_cpu = before.per_request(&Reading::now(Some(server.pid()), postmaster), api.latencies.len());
            let mut opts = sea_orm::ConnectOptions::new(url.clone());
            opts.max_connections(c as u32).min_connections(c as u32).sqlx_logging(false);
            let base_db = Database::connect(opts).await.unwrap();
            // Kept open until after the second reading: a closed connection's backend
            // exits, and its CPU time with it.
            let kept_open = base_db.clone();
            let ctx3 = ctx.clone();
            let base_walks: Walks<DrilldownCursor> = walks(c);
            let before = Reading::now(None, postmaster);
            let base = timed(c, duration, move |w, n| {
                let (db, ctx, walks) = (base_db.clone(), ctx3.clone(), base_walks.clone());
                async move {
                    let mut walk = walks[w].lock().await;
                    baseline_request(&db, &ctx, shape, w, n, &mut walk).await;
                }
            })
            .await;
            let base_cpu = before.per_request(&Reading::now(None, postmaster), base.latencies.len());
            kept_open.close().await.ok();
            let line = format!(
                "| {} | {c} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2}x | {:.2}x | {:.0} | {:.0} | {:.2}x | {:.0} | {:.0}, {:.0} | {statements} |\n",
                shape.name(),
                api.rate(),
                api.pct(0.5),
                api.pct(0.99),
                base.rate(),
                base.pct(0.5),
                api.pct(0.5) / base.pct(0.5).max(1e-9),
                api.rate() / base.rate().max(1e-9),
                api_cpu.server,
                api_cpu.postgres,
                api_cpu.server / api_cpu.postgres.max(1e-9),
                base_cpu.postgres,
                api_cpu.client,
                base_cpu.client,
            );
            print!("{line}");
            out.push_str(&line);
        }
    }
    let rss = server.peak_rss_kib().map_or("unknown".to_owned(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
    let tail =
        format!("\nServer peak RSS (VmHWM) over the whole run: {rss}; {} projects in the dataset.\n", ctx.ids.len());
    print!("{tail}");
    out.push_str(&tail);
    out
}
