//! The login flow's endpoints: thin shells around the use cases.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoResponses, OpenApi, ToSchema};
use wxlogin_core::AuthError;
use wxlogin_core::secret::{LoginCode, PhoneCode};
use wxlogin_core::service::{PhoneProof, Profile};

use super::AppState;
use crate::error::ApiError;
use crate::extract::{Bearer, JsonBody, OptionalJsonBody};
use crate::openapi::{self, Responses};

/// The operations of this module, for the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(login, phone, register, refresh, logout, me),
    modifiers(&PhoneProofForms)
)]
struct Operations;

/// `PhoneRequest` needs `code`, or `encrypted_data` and `iv` (see [`phone`]): a rule serde's
/// shape does not carry, so it is added to the schema as an `anyOf` of the two forms.
struct PhoneProofForms;

impl utoipa::Modify for PhoneProofForms {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::{AllOfBuilder, AnyOfBuilder, ObjectBuilder, Schema, Type};

        let form = |fields: &[&str]| {
            fields.iter().fold(ObjectBuilder::new(), |form, field| {
                form.property(*field, ObjectBuilder::new().schema_type(Type::String))
                    .required(*field)
            })
        };
        let schemas = doc.components.as_mut().map(|c| &mut c.schemas);
        if let Some(RefOr::T(schema)) = schemas.and_then(|s| s.get_mut("PhoneRequest")) {
            let fields = schema.clone();
            *schema = Schema::AllOf(
                AllOfBuilder::new()
                    .item(fields)
                    .item(
                        AnyOfBuilder::new()
                            .item(form(&["code"]))
                            .item(form(&["encrypted_data", "iv"])),
                    )
                    .build(),
            );
        }
    }
}

impl OpenApi for openapi::AuthApi {
    fn openapi() -> utoipa::openapi::OpenApi {
        Operations::openapi()
    }
}

/// Runs a use case to completion even if the client goes away.
///
/// Hyper drops a handler's future when its connection closes. Dropped midway, a use case could
/// leave a database connection inside an open transaction (sqlx-sqlite 0.8 does not roll back
/// a `BEGIN` cancelled in flight, and the pool hands that connection out again), or lose the
/// outcome of a code WeChat has already consumed. A spawned task is not cancelled by the
/// disconnect: the work finishes, its outcome is remembered, and the next request with the
/// same code gets it.
pub(super) async fn detached<T, F>(work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, AuthError>> + Send + 'static,
{
    let span = tracing::Span::current();
    match tokio::spawn(tracing::Instrument::instrument(work, span)).await {
        Ok(outcome) => outcome.map_err(ApiError::from),
        Err(e) => Err(ApiError::Auth(AuthError::Internal(
            wxlogin_core::cause::Cause::new(e),
        ))),
    }
}

/// Opaque handles we issue are under 64 characters; anything far longer is not one of ours.
const MAX_HANDLE_LEN: usize = 256;

pub(super) fn bounded(field: &str, value: &str) -> Result<(), ApiError> {
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

/// `POST /v1/login`.
#[derive(Deserialize, ToSchema)]
pub(crate) struct LoginRequest {
    /// The code from `wx.login()`; empty or over 128 characters is `login_code_invalid`.
    #[schema(example = "081xyz")]
    code: String,
    /// May be left out when exactly one app is configured.
    #[schema(max_length = 64, example = "wx0000000000000001")]
    appid: Option<String>,
}

/// The errors of `POST /v1/login`.
struct LoginErrors;

impl IntoResponses for LoginErrors {
    fn responses() -> Responses {
        openapi::error_responses(&[
            "invalid_request",
            "unknown_app",
            "login_code_invalid",
            "login_code_used",
            "login_blocked",
            "user_disabled",
            "payload_too_large",
            "rate_limited",
            "wechat_error",
            "wechat_unavailable",
        ])
    }
}

/// Exchanges a `wx.login()` code for a session; signs in silently when the openid (or its
/// unionid) is bound to a user.
#[utoipa::path(
    post,
    path = "/v1/login",
    tag = "login",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "A session; `user` and `tokens` on silent login.", body = wxlogin_core::views::LoginView),
        LoginErrors,
    ),
)]
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

/// `POST /v1/phone`: `session` and either `code`, or `encrypted_data` and `iv`.
#[derive(Deserialize, ToSchema)]
pub(crate) struct PhoneRequest {
    /// The session from `/v1/login`.
    #[schema(max_length = 256)]
    session: String,
    /// If given, must be the session's app.
    #[schema(max_length = 64)]
    appid: Option<String>,
    /// `e.detail.code` of the getPhoneNumber button (wins when both forms are sent).
    code: Option<String>,
    /// Legacy `e.detail.encryptedData` (base64).
    encrypted_data: Option<String>,
    /// Legacy `e.detail.iv` (base64 of 16 bytes), required with `encrypted_data`.
    iv: Option<String>,
}

/// The errors of `POST /v1/phone`.
struct PhoneErrors;

impl IntoResponses for PhoneErrors {
    fn responses() -> Responses {
        openapi::error_responses(&[
            "invalid_request",
            "session_invalid",
            "phone_code_invalid",
            "registration_closed",
            "user_disabled",
            "phone_bound_elsewhere",
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

/// Proves the user's phone number: signs in its owner, or issues a registration ticket.
#[utoipa::path(
    post,
    path = "/v1/phone",
    tag = "login",
    request_body = PhoneRequest,
    responses(
        (status = 200, description = "Signed in (`registered: true`) or a registration ticket (`registered: false`).", body = wxlogin_core::views::PhoneView),
        PhoneErrors,
    ),
)]
pub(super) async fn phone(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<PhoneRequest>,
) -> Result<Response, ApiError> {
    bounded("session", &body.session)?;
    bounded_appid(body.appid.as_deref())?;
    let proof = phone_proof(body.code, body.encrypted_data, body.iv)?;
    let auth = state.auth.clone();
    let view = detached(async move {
        auth.phone(&body.session, body.appid.as_deref(), proof)
            .await
    })
    .await?;
    Ok(Json(view).into_response())
}

/// The phone proof of a request body (`/v1/phone`, `/v1/me/phone`): `code`, or
/// `encrypted_data` and `iv`. The current API wins when a client sends both, as WeChat advises.
pub(super) fn phone_proof(
    code: Option<String>,
    encrypted_data: Option<String>,
    iv: Option<String>,
) -> Result<PhoneProof, ApiError> {
    match (code, encrypted_data, iv) {
        (Some(code), _, _) => Ok(PhoneProof::Code(PhoneCode::new(code))),
        (None, Some(encrypted_data), Some(iv)) => Ok(PhoneProof::Encrypted { encrypted_data, iv }),
        (None, Some(_), None) => Err(ApiError::invalid("missing field `iv`")),
        (None, None, _) => Err(ApiError::invalid(
            "send `code`, or `encrypted_data` and `iv`",
        )),
    }
}

/// `POST /v1/register`.
#[derive(Deserialize, ToSchema)]
pub(crate) struct RegisterRequest {
    /// The ticket from `/v1/phone`.
    #[schema(max_length = 256)]
    registration_ticket: String,
    /// 1-64 Unicode characters, not blank, no control characters.
    nickname: Option<String>,
    /// An `https://` URL of at most 1024 bytes.
    avatar_url: Option<String>,
}

/// The errors of `POST /v1/register`.
struct RegisterErrors;

impl IntoResponses for RegisterErrors {
    fn responses() -> Responses {
        openapi::error_responses(&[
            "invalid_request",
            "ticket_invalid",
            "registration_closed",
            "already_registered",
            "payload_too_large",
            "rate_limited",
        ])
    }
}

/// Creates the user of a registration ticket and signs them in.
#[utoipa::path(
    post,
    path = "/v1/register",
    tag = "login",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "The new user, signed in.", body = wxlogin_core::views::SignedInView),
        RegisterErrors,
    ),
)]
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

/// `POST /v1/token/refresh`.
#[derive(Deserialize, ToSchema)]
pub(crate) struct RefreshRequest {
    /// The current refresh token.
    #[schema(max_length = 256)]
    refresh_token: String,
}

/// The errors of `POST /v1/token/refresh`.
struct RefreshErrors;

impl IntoResponses for RefreshErrors {
    fn responses() -> Responses {
        openapi::error_responses(&[
            "invalid_request",
            "refresh_token_invalid",
            "refresh_token_reused",
            "user_disabled",
            "payload_too_large",
            "rate_limited",
        ])
    }
}

/// Rotates a refresh token: a new pair; a second presentation of a rotated token revokes
/// its family.
#[utoipa::path(
    post,
    path = "/v1/token/refresh",
    tag = "tokens",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair.", body = wxlogin_core::views::RefreshView),
        RefreshErrors,
    ),
)]
pub(super) async fn refresh(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> Result<Response, ApiError> {
    bounded("refresh_token", &body.refresh_token)?;
    let auth = state.auth.clone();
    let view = detached(async move { auth.refresh(&body.refresh_token).await }).await?;
    Ok(Json(view).into_response())
}

/// `POST /v1/logout`; the body may be left out.
#[derive(Deserialize, Default, ToSchema)]
pub(crate) struct LogoutRequest {
    /// Revoke every sign-in of the user, not only this token's family.
    #[serde(default)]
    all_devices: bool,
}

/// The errors of `POST /v1/logout`.
struct LogoutErrors;

impl IntoResponses for LogoutErrors {
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

/// Revokes this token's refresh family (or all of the user's); its access tokens are refused
/// from then on.
#[utoipa::path(
    post,
    path = "/v1/logout",
    tag = "tokens",
    request_body(content = LogoutRequest, description = "Optional: an empty body is `{}`."),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out."),
        LogoutErrors,
    ),
)]
pub(super) async fn logout(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    OptionalJsonBody(body): OptionalJsonBody<LogoutRequest>,
) -> Result<Response, ApiError> {
    let auth = state.auth.clone();
    detached(async move { auth.logout(&token, body.all_devices).await }).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The errors of `GET /v1/me`.
struct MeErrors;

impl IntoResponses for MeErrors {
    fn responses() -> Responses {
        openapi::error_responses(&["unauthenticated", "user_disabled", "rate_limited"])
    }
}

/// The signed-in user and their WeChat identities.
#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "tokens",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user.", body = wxlogin_core::views::MeView),
        MeErrors,
    ),
)]
pub(super) async fn me(
    State(state): State<AppState>,
    Bearer(token): Bearer,
) -> Result<Response, ApiError> {
    Ok(Json(state.auth.me(&token).await?).into_response())
}
