//! Documents that let other services verify our tokens with a standard library.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::{IntoResponses, OpenApi, ToSchema};

use super::AppState;
use crate::openapi::{self, Jwks, Responses};

/// The operations of this module, for the OpenAPI document.
#[derive(OpenApi)]
#[openapi(paths(jwks, openid_configuration))]
struct Operations;

impl OpenApi for openapi::WellKnownApi {
    fn openapi() -> utoipa::openapi::OpenApi {
        Operations::openapi()
    }
}

/// What the middleware alone can fail with.
struct WellKnownErrors;

impl IntoResponses for WellKnownErrors {
    fn responses() -> Responses {
        openapi::error_responses(&[])
    }
}

/// The discovery document (the parts of OpenID Connect Discovery that apply).
#[derive(Serialize, ToSchema)]
struct OpenIdConfiguration {
    /// The `iss` of our tokens.
    issuer: String,
    /// Where the JWKS is.
    jwks_uri: String,
    /// The algorithms of the published keys (`ES256` unless configured otherwise).
    id_token_signing_alg_values_supported: Vec<&'static str>,
    /// `/v1/token/refresh`.
    token_endpoint: String,
    /// `["token"]`.
    response_types_supported: [&'static str; 1],
    /// `["public"]`.
    subject_types_supported: [&'static str; 1],
    /// `["refresh_token"]`.
    grant_types_supported: [&'static str; 1],
}

/// The public keys that verify our access tokens.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "discovery",
    responses(
        (status = 200, description = "The JWKS: keys that sign (`current`), are about to (`next`) or signed tokens still alive (`retiring`). `Cache-Control: public, max-age=300` (less when `tokens.publish_delay_secs` is small).", body = Jwks),
        WellKnownErrors,
    ),
)]
pub(super) async fn jwks(State(state): State<AppState>) -> Response {
    // Verifiers cache this for max-age; a rotated-in key is published at least that long
    // before it signs (startup::jwks_max_age), so a cached copy always knows the signing key.
    let cache = format!("public, max-age={}", state.jwks_max_age.as_secs());
    (
        [(header::CACHE_CONTROL, cache)],
        Json(state.auth.keys().jwks()),
    )
        .into_response()
}

/// The discovery document: issuer, JWKS and refresh endpoint.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    tag = "discovery",
    responses(
        (status = 200, description = "The discovery document.", body = OpenIdConfiguration),
        WellKnownErrors,
    ),
)]
pub(super) async fn openid_configuration(State(state): State<AppState>) -> Response {
    let keys = state.auth.keys();
    let issuer = keys.issuer();
    Json(OpenIdConfiguration {
        issuer: issuer.to_owned(),
        jwks_uri: format!("{issuer}/.well-known/jwks.json"),
        id_token_signing_alg_values_supported: keys
            .algorithms()
            .iter()
            .map(|a| a.as_str())
            .collect(),
        token_endpoint: format!("{issuer}/v1/token/refresh"),
        response_types_supported: ["token"],
        subject_types_supported: ["public"],
        grant_types_supported: ["refresh_token"],
    })
    .into_response()
}
