//! The login flow's endpoints: thin shells around the use cases.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use wxlogin_core::AuthError;
use wxlogin_core::secret::{LoginCode, PhoneCode};
use wxlogin_core::service::{PhoneProof, Profile};

use super::AppState;
use crate::error::ApiError;
use crate::extract::{Bearer, JsonBody, OptionalJsonBody};

/// Runs a use case to completion even if the client goes away.
///
/// Hyper drops a handler's future when its connection closes. Dropped midway, a use case could
/// leave a database connection inside an open transaction (sqlx-sqlite 0.8 does not roll back
/// a `BEGIN` cancelled in flight, and the pool hands that connection out again), or lose the
/// outcome of a code WeChat has already consumed. A spawned task is not cancelled by the
/// disconnect: the work finishes, its outcome is remembered, and the next request with the
/// same code gets it.
async fn detached<T, F>(work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, AuthError>> + Send + 'static,
{
    let span = tracing::Span::current();
    match tokio::spawn(tracing::Instrument::instrument(work, span)).await {
        Ok(outcome) => outcome.map_err(ApiError::from),
        Err(e) => Err(ApiError::Auth(AuthError::Internal(format!(
            "use case task failed: {e}"
        )))),
    }
}

/// Opaque handles we issue are under 64 characters; anything far longer is not one of ours.
const MAX_HANDLE_LEN: usize = 256;

fn bounded(field: &str, value: &str) -> Result<(), ApiError> {
    if value.len() > MAX_HANDLE_LEN {
        return Err(ApiError::invalid(format!(
            "`{field}` is longer than {MAX_HANDLE_LEN} characters"
        )));
    }
    Ok(())
}

fn bounded_appid(appid: Option<&str>) -> Result<(), ApiError> {
    match appid {
        Some(a) if a.len() > 64 => Err(ApiError::invalid("`appid` is longer than 64 characters")),
        _ => Ok(()),
    }
}

#[derive(Deserialize)]
pub(super) struct LoginRequest {
    code: String,
    appid: Option<String>,
}

pub(super) async fn login(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<LoginRequest>,
) -> Result<Response, ApiError> {
    bounded_appid(body.appid.as_deref())?;
    let app = state.auth.resolve_app(body.appid.as_deref())?;
    let auth = state.auth.clone();
    let view = detached(async move { auth.login(&app, LoginCode::new(body.code)).await }).await?;
    Ok(Json(view).into_response())
}

#[derive(Deserialize)]
pub(super) struct PhoneRequest {
    session: String,
    appid: Option<String>,
    code: Option<String>,
    encrypted_data: Option<String>,
    iv: Option<String>,
}

pub(super) async fn phone(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<PhoneRequest>,
) -> Result<Response, ApiError> {
    bounded("session", &body.session)?;
    bounded_appid(body.appid.as_deref())?;
    // The current API wins when a client sends both, as WeChat advises.
    let proof = match (body.code, body.encrypted_data, body.iv) {
        (Some(code), _, _) => PhoneProof::Code(PhoneCode::new(code)),
        (None, Some(encrypted_data), Some(iv)) => PhoneProof::Encrypted { encrypted_data, iv },
        (None, Some(_), None) => return Err(ApiError::invalid("missing field `iv`")),
        (None, None, _) => {
            return Err(ApiError::invalid(
                "send `code`, or `encrypted_data` and `iv`",
            ));
        }
    };
    let auth = state.auth.clone();
    let view = detached(async move {
        auth.phone(&body.session, body.appid.as_deref(), proof)
            .await
    })
    .await?;
    Ok(Json(view).into_response())
}

#[derive(Deserialize)]
pub(super) struct RegisterRequest {
    registration_ticket: String,
    nickname: Option<String>,
    avatar_url: Option<String>,
}

pub(super) async fn register(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RegisterRequest>,
) -> Result<Response, ApiError> {
    bounded("registration_ticket", &body.registration_ticket)?;
    let profile = Profile {
        nickname: body.nickname,
        avatar_url: body.avatar_url,
    };
    let auth = state.auth.clone();
    let view =
        detached(async move { auth.register(&body.registration_ticket, profile).await }).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

#[derive(Deserialize)]
pub(super) struct RefreshRequest {
    refresh_token: String,
}

pub(super) async fn refresh(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> Result<Response, ApiError> {
    bounded("refresh_token", &body.refresh_token)?;
    let auth = state.auth.clone();
    let view = detached(async move { auth.refresh(&body.refresh_token).await }).await?;
    Ok(Json(view).into_response())
}

#[derive(Deserialize, Default)]
pub(super) struct LogoutRequest {
    #[serde(default)]
    all_devices: bool,
}

pub(super) async fn logout(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    OptionalJsonBody(body): OptionalJsonBody<LogoutRequest>,
) -> Result<Response, ApiError> {
    let auth = state.auth.clone();
    detached(async move { auth.logout(&token, body.all_devices).await }).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn me(
    State(state): State<AppState>,
    Bearer(token): Bearer,
) -> Result<Response, ApiError> {
    Ok(Json(state.auth.me(&token).await?).into_response())
}
