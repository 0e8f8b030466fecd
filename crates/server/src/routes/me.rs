//! The user's own account: `PATCH /v1/me`, `POST /v1/me/phone`, `DELETE /v1/me`,
//! `GET /v1/me/export`. Thin shells around the use cases in `core::service::me`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoResponses, OpenApi, ToSchema};
use wxlogin_core::service::me::ProfilePatch;

use super::AppState;
use super::auth::{bounded, detached, phone_proof};
use crate::error::ApiError;
use crate::extract::{Bearer, JsonBody};
use crate::openapi::{self, Responses};

/// The operations of this module, for the OpenAPI document.
#[derive(OpenApi)]
#[openapi(paths(update_me, change_phone, delete_me, export_me))]
struct Operations;

impl OpenApi for openapi::MeApi {
    fn openapi() -> utoipa::openapi::OpenApi {
        Operations::openapi()
    }
}

/// The errors of the account routes.
struct AccountErrors;

impl IntoResponses for AccountErrors {
    fn responses() -> Responses {
        openapi::error_responses(&[
            "invalid_request",
            "unauthenticated",
            "user_disabled",
            "payload_too_large",
            "rate_limited",
        ])
    }
}

/// Changes the nickname or avatar.
#[utoipa::path(
    patch,
    path = "/v1/me",
    tag = "account",
    request_body = ProfilePatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user, changed.", body = wxlogin_core::views::MeView),
        AccountErrors,
    ),
)]
pub(super) async fn update_me(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    JsonBody(patch): JsonBody<ProfilePatch>,
) -> Result<Response, ApiError> {
    let auth = state.auth.clone();
    let view = detached(async move { auth.update_profile(&token, patch).await }).await?;
    Ok(Json(view).into_response())
}

/// `POST /v1/me/phone`: a session of this user and a new phone proof.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangePhoneRequest {
    /// A session (`/v1/login`) of one of this user's WeChat identities.
    #[schema(max_length = 256)]
    session: String,
    /// `e.detail.code` of the getPhoneNumber button.
    code: Option<String>,
    /// Legacy `e.detail.encryptedData`.
    encrypted_data: Option<String>,
    /// Legacy `e.detail.iv`.
    iv: Option<String>,
}

/// The errors of `POST /v1/me/phone`.
struct ChangePhoneErrors;

impl IntoResponses for ChangePhoneErrors {
    fn responses() -> Responses {
        openapi::error_responses(&[
            "invalid_request",
            "unauthenticated",
            "session_invalid",
            "phone_code_invalid",
            "user_disabled",
            "phone_taken",
            "payload_too_large",
            "session_key_stale",
            "payload_malformed",
            "appid_mismatch",
            "watermark_expired",
            "rate_limited",
            "wechat_error",
            "wechat_unavailable",
        ])
    }
}

/// Changes the phone to a newly verified one; the old number is released.
#[utoipa::path(
    post,
    path = "/v1/me/phone",
    tag = "account",
    request_body = ChangePhoneRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user, with the new phone.", body = wxlogin_core::views::MeView),
        ChangePhoneErrors,
    ),
)]
pub(super) async fn change_phone(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    JsonBody(body): JsonBody<ChangePhoneRequest>,
) -> Result<Response, ApiError> {
    bounded("session", &body.session)?;
    let proof = phone_proof(body.code, body.encrypted_data, body.iv)?;
    let auth = state.auth.clone();
    let view =
        detached(async move { auth.change_phone(&token, &body.session, proof).await }).await?;
    Ok(Json(view).into_response())
}

/// Deletes the account (注销): every sign-in revoked at once, identities, phone and profile
/// erased; only a tombstone remains.
#[utoipa::path(
    delete,
    path = "/v1/me",
    tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted."),
        AccountErrors,
    ),
)]
pub(super) async fn delete_me(
    State(state): State<AppState>,
    Bearer(token): Bearer,
) -> Result<Response, ApiError> {
    let auth = state.auth.clone();
    detached(async move { auth.delete_me(&token).await }).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Everything held about the user (PIPL access and portability).
#[utoipa::path(
    get,
    path = "/v1/me/export",
    tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account's data.", body = wxlogin_core::service::me::ExportView),
        AccountErrors,
    ),
)]
pub(super) async fn export_me(
    State(state): State<AppState>,
    Bearer(token): Bearer,
) -> Result<Response, ApiError> {
    Ok(Json(state.auth.export(&token).await?).into_response())
}
