//! Health and readiness (public), and metrics (admin listener).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::{IntoResponses, OpenApi, ToSchema};

use super::AppState;
use crate::openapi::{self, Responses};

/// The operations of this module, for the OpenAPI document.
#[derive(OpenApi)]
#[openapi(paths(healthz, readyz))]
struct Operations;

impl OpenApi for openapi::OpsApi {
    fn openapi() -> utoipa::openapi::OpenApi {
        Operations::openapi()
    }
}

/// What the middleware alone can fail with.
struct OpsErrors;

impl IntoResponses for OpsErrors {
    fn responses() -> Responses {
        openapi::error_responses(&[])
    }
}

/// `GET /healthz` 200.
#[derive(Serialize, ToSchema)]
struct Health {
    status: Live,
}

/// The process answers.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum Live {
    /// Always.
    Ok,
}

/// `GET /readyz`.
#[derive(Serialize, ToSchema)]
struct Readiness {
    status: Ready,
    checks: ReadyChecks,
}

/// Whether the server can take traffic.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum Ready {
    /// Every check passed.
    Ready,
    /// A check failed.
    Unavailable,
}

/// One entry per dependency.
#[derive(Serialize, ToSchema)]
struct ReadyChecks {
    /// The SQL database.
    store: Check,
    /// Redis, when configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    redis: Option<Check>,
    /// Where WeChat access tokens come from, when Redis is configured: `shared` (one
    /// refresher per app across instances) or `local` (Redis failed; each instance fetches
    /// its own, rate-limited).
    #[serde(skip_serializing_if = "Option::is_none")]
    access_token: Option<TokenSource>,
}

/// See [`ReadyChecks::access_token`].
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum TokenSource {
    /// Through the Redis lease.
    Shared,
    /// Per instance, while Redis is down.
    Local,
}

/// One dependency's state.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum Check {
    /// Answered.
    Ok,
    /// Did not answer.
    Down,
}

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "ops",
    responses((status = 200, description = "Alive.", body = Health), OpsErrors),
)]
pub(super) async fn healthz() -> Response {
    Json(Health { status: Live::Ok }).into_response()
}

/// Readiness: the store and (when configured) Redis answer.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "ops",
    responses(
        (status = 200, description = "Ready.", body = Readiness),
        (status = 503, description = "A dependency is down.", body = Readiness),
        OpsErrors,
    ),
)]
pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    let store = check("store", state.health.ping().await);
    let (redis, access_token) = match &state.shared {
        Some(shared) => (
            Some(check("redis", shared.redis.ping().await)),
            Some(if (shared.lease_shared)() {
                TokenSource::Shared
            } else {
                TokenSource::Local
            }),
        ),
        None => (None, None),
    };
    let ready = matches!(store, Check::Ok) && !matches!(redis, Some(Check::Down));
    let body = Json(Readiness {
        status: if ready {
            Ready::Ready
        } else {
            Ready::Unavailable
        },
        checks: ReadyChecks {
            store,
            redis,
            access_token,
        },
    });
    if ready {
        body.into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    }
}

fn check(what: &'static str, answer: wxlogin_core::ports::StoreResult<()>) -> Check {
    match answer {
        Ok(()) => Check::Ok,
        Err(e) => {
            // Swallowed into `down`, so logged here.
            let error = wxlogin_core::cause::chain(&e);
            tracing::warn!(what, %error, "readiness check failed");
            Check::Down
        }
    }
}

/// Prometheus metrics, on the admin listener only (not in the public OpenAPI document).
pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
