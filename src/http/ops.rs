//! Operations endpoints: liveness, readiness (database, migrations, replicas) and
//! Prometheus metrics.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use migration::MigratorTrait;

use super::AppState;

/// Liveness: the process is up and serving HTTP.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the primary answers and every migration is applied. With replicas, each
/// database is listed with its last check (`databases`); a replica that is down does not
/// make the service unready, since reads fall back to the primary.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let (status, mut body) = primary_readiness(&state).await;
    if !state.replicas.is_empty() {
        body["databases"] = serde_json::json!({
            "primary": if status == StatusCode::OK { "up" } else { "unavailable" },
            "replicas": state.replicas.statuses(),
        });
    }
    (status, Json(body)).into_response()
}

async fn primary_readiness(state: &AppState) -> (StatusCode, serde_json::Value) {
    let check = async {
        state.db.ping().await?;
        migration::Migrator::get_pending_migrations(&state.db).await
    };
    match check.await {
        Ok(pending) if pending.is_empty() => (StatusCode::OK, serde_json::json!({"status": "ready"})),
        Ok(pending) => (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"status": "pending_migrations", "pending": pending.len()}),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, serde_json::json!({"status": "database_unavailable"}))
        }
    }
}

/// `GET /metrics`: Prometheus text, with the pool gauges read at scrape time.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let (size, idle) = match state.db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            let pool = state.db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
        _ => {
            let pool = state.db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
    };
    metrics::gauge!("metrics_api_db_pool_connections", "state" => "in_use")
        .set(size.saturating_sub(idle as u32) as f64);
    metrics::gauge!("metrics_api_db_pool_connections", "state" => "idle").set(idle as f64);
    match crate::observe::prometheus() {
        Some(h) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], h.render()).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "metrics recorder unavailable").into_response(),
    }
}
