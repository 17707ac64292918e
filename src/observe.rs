//! Observability: Prometheus metrics, per-request SQL statement counts, request ids.
//!
//! Metrics go through the `metrics` facade to a Prometheus recorder installed once per
//! process (tests start many servers in one process); `GET /metrics` renders it.
//! Statements are counted per request with a task-local counter: the connection's metric
//! callback runs in the task that ran the statement, and every statement of a request
//! runs in the request's task (loader tasks included, see `graphql::exec`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

tokio::task_local! {
    /// The statement counter of the request the current task serves.
    pub static REQUEST_STATEMENTS: Arc<AtomicU64>;
}

/// Called for every statement (from the connection's metric callback).
pub fn statement_ran() {
    let _ = REQUEST_STATEMENTS.try_with(|c| c.fetch_add(1, Ordering::Relaxed));
    metrics::counter!("metrics_api_sql_statements_total").increment(1);
}

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's Prometheus recorder, installed on first use.
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("metrics_api_request_duration_seconds".into()),
                    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0],
                )
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .as_ref()
}

/// A bounded, label-safe operation name: clients choose operation names, and an unbounded
/// label would grow the metrics without limit.
pub fn operation_label(name: Option<&str>) -> String {
    match name {
        Some(n) if !n.is_empty() => n.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect(),
        _ => "anonymous".into(),
    }
}

/// Records one GraphQL request.
pub fn record_request(operation: &str, outcome: &'static str, seconds: f64, statements: u64) {
    metrics::counter!("metrics_api_requests_total", "operation" => operation.to_owned(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!("metrics_api_request_duration_seconds", "operation" => operation.to_owned()).record(seconds);
    metrics::histogram!("metrics_api_request_sql_statements", "operation" => operation.to_owned())
        .record(statements as f64);
}

/// Records rows written by the ingest path.
pub fn record_ingest(table: &'static str, rows: u64) {
    metrics::counter!("metrics_api_ingest_rows_total", "table" => table).increment(rows);
}

/// Records a retention tick that did not finish a run (`skipped`, `error`).
pub fn record_retention(outcome: &'static str) {
    metrics::counter!("metrics_api_retention_runs_total", "outcome" => outcome).increment(1);
}

/// Records a finished retention run: rows folded into week points, rows deleted, when it
/// finished and how long it took.
pub fn record_retention_run(folded: u64, deleted: u64, took: std::time::Duration) {
    record_retention("ok");
    metrics::counter!("metrics_api_retention_rows_folded_total").increment(folded);
    metrics::counter!("metrics_api_retention_rows_deleted_total").increment(deleted);
    let finished = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    metrics::gauge!("metrics_api_retention_last_run_timestamp_seconds").set(finished.as_secs_f64());
    metrics::gauge!("metrics_api_retention_last_run_duration_seconds").set(took.as_secs_f64());
}

/// Records a subscription connection opened (`+1`) or closed (`-1`).
pub fn live_connections(delta: f64) {
    metrics::gauge!("metrics_api_ws_connections").increment(delta);
}

/// Records why the server closed a subscription connection (`slow_consumer`,
/// `too_many_connections`, `forbidden`, `token_expired`, `init_timeout`, `silent`,
/// `send_timeout`).
pub fn record_live_close(reason: &'static str) {
    metrics::counter!("metrics_api_ws_closed_total", "reason" => reason).increment(1);
}

/// Records a `RESYNC` sent after the database listener reconnected.
pub fn record_live_resync() {
    metrics::counter!("metrics_api_live_resyncs_total").increment(1);
}
