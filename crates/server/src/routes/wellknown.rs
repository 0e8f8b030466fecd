//! Documents that let other services verify our tokens with a standard library.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;

pub(super) async fn jwks(State(state): State<AppState>) -> Response {
    // Verifiers cache this; a short max-age lets them see a rotated key soon.
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(state.auth.keys().jwks()),
    )
        .into_response()
}

pub(super) async fn openid_configuration(State(state): State<AppState>) -> Response {
    let keys = state.auth.keys();
    let issuer = keys.issuer();
    Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "token_endpoint": format!("{issuer}/v1/token/refresh"),
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "grant_types_supported": ["refresh_token"],
    }))
    .into_response()
}
