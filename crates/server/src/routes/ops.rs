//! Health, readiness and metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;

pub(super) async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    match state.health.ping().await {
        Ok(()) => Json(json!({ "status": "ready", "checks": { "store": "ok" } })).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "checks": { "store": "down" } })),
            )
                .into_response()
        }
    }
}

pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
