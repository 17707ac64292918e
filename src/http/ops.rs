//! Operations endpoints: liveness, readiness (database and migrations) and Prometheus
//! metrics.

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

/// Readiness: the database answers and every migration is applied.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let check = async {
        state.db.ping().await?;
        migration::Migrator::get_pending_migrations(&state.db).await
    };
    match check.await {
        Ok(pending) if pending.is_empty() => {
            (StatusCode::OK, Json(serde_json::json!({"status": "ready"}))).into_response()
        }
        Ok(pending) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "pending_migrations", "pending": pending.len()})),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({"status": "database_unavailable"})))
                .into_response()
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
