//! One error type for every handler, with the contract's body and status.
//!
//! The body is `{"error": {"code", "message", "request_id", "wechat_errcode"?}}`. A 5xx body
//! says nothing more than its code; the cause is logged once, here, in the request's span,
//! with its whole source chain (`wxlogin_core::cause`). WeChat's failures are the exception:
//! the adapter that reduces them to the port's classification logs them (nothing of the
//! cause reaches this far), so they are not logged again here.

use std::borrow::Cow;
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::{PartialSchema, ToSchema};
use wxlogin_core::AuthError;

use crate::request_id;

/// What a handler can fail with: the use cases' errors plus the HTTP layer's own.
#[derive(Debug, Clone)]
pub enum ApiError {
    /// A use-case error.
    Auth(AuthError),
    /// No such route.
    NotFound,
    /// The route exists, the method does not.
    MethodNotAllowed,
    /// Body over the limit.
    PayloadTooLarge,
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        Self::Auth(e)
    }
}

/// Seconds a client should wait after `wechat_unavailable` or `unavailable`.
const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(5);

impl ApiError {
    /// The invalid-request error with a message (no secrets in it).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Auth(AuthError::InvalidRequest(message.into()))
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Auth(e) => e.code(),
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
        }
    }

    /// The HTTP status for the code.
    pub fn status(&self) -> StatusCode {
        let Self::Auth(e) = self else {
            return match self {
                Self::NotFound => StatusCode::NOT_FOUND,
                Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
                _ => StatusCode::PAYLOAD_TOO_LARGE,
            };
        };
        match e {
            AuthError::InvalidRequest(_)
            | AuthError::UnknownApp
            | AuthError::LoginCodeInvalid { .. }
            | AuthError::PhoneCodeInvalid { .. } => StatusCode::BAD_REQUEST,
            AuthError::SessionInvalid
            | AuthError::TicketInvalid
            | AuthError::Unauthenticated
            | AuthError::RefreshTokenInvalid
            | AuthError::RefreshTokenReused => StatusCode::UNAUTHORIZED,
            AuthError::AdminUnauthenticated => StatusCode::UNAUTHORIZED,
            AuthError::LoginBlocked { .. }
            | AuthError::RegistrationClosed
            | AuthError::UserDisabled
            | AuthError::AdminForbidden => StatusCode::FORBIDDEN,
            AuthError::UserNotFound => StatusCode::NOT_FOUND,
            AuthError::LoginCodeUsed { .. }
            | AuthError::AlreadyRegistered
            | AuthError::ExternalIdTaken
            | AuthError::PhoneBoundElsewhere
            | AuthError::PhoneTaken => StatusCode::CONFLICT,
            AuthError::ImportInvalid(_) | AuthError::ImageInvalid => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            AuthError::SessionKeyStale
            | AuthError::PayloadMalformed
            | AuthError::AppidMismatch
            | AuthError::WatermarkExpired => StatusCode::UNPROCESSABLE_ENTITY,
            AuthError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AuthError::WeChatError { .. } => StatusCode::BAD_GATEWAY,
            AuthError::WeChatUnavailable { .. } | AuthError::Unavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            AuthError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message in the request's language ([`crate::i18n`]). Chinese messages are fixed
    /// per code; where the English one carries a detail (which field, which line), the detail
    /// follows in parentheses.
    fn localized_message(&self, lang: crate::i18n::Lang) -> String {
        let english = self.message();
        if lang == crate::i18n::Lang::En {
            return english;
        }
        let Some(zh) = crate::i18n::zh(self.code()) else {
            return english;
        };
        match self {
            Self::Auth(AuthError::InvalidRequest(detail) | AuthError::ImportInvalid(detail))
                if !detail.is_empty() =>
            {
                format!("{zh}（{detail}）")
            }
            _ => zh.to_owned(),
        }
    }

    fn message(&self) -> String {
        match self {
            Self::Auth(AuthError::Internal(_)) => "internal error".into(),
            Self::Auth(e) => e.to_string(),
            Self::NotFound => "no such route".into(),
            Self::MethodNotAllowed => "method not allowed on this route".into(),
            Self::PayloadTooLarge => "the request body is larger than this route accepts".into(),
        }
    }

    /// The `Retry-After` the response carries, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Auth(AuthError::RateLimited { retry_after, .. }) => Some(*retry_after),
            Self::Auth(AuthError::WeChatUnavailable { .. } | AuthError::Unavailable(_)) => {
                Some(UNAVAILABLE_RETRY_AFTER)
            }
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Self::Auth(AuthError::Internal(cause)) => {
                tracing::error!(code = self.code(), error = %cause.chain(), "request failed");
            }
            Self::Auth(AuthError::Unavailable(cause)) => {
                tracing::warn!(code = self.code(), error = %cause.chain(), "request failed");
            }
            _ => {}
        }
        let lang = crate::i18n::current();
        let body = ErrorBody {
            error: ErrorObject {
                code: self.code(),
                message: self.localized_message(lang),
                request_id: request_id::current(),
                wechat_errcode: self.wechat_errcode(),
            },
        };
        let mut res = (status, Json(body)).into_response();
        res.headers_mut().insert(
            header::CONTENT_LANGUAGE,
            HeaderValue::from_static(lang.tag()),
        );
        if let Some(after) = self.retry_after() {
            res.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(after.as_secs().max(1)),
            );
        }
        if matches!(self, Self::Auth(AuthError::Unauthenticated)) {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

impl ApiError {
    fn wechat_errcode(&self) -> Option<i64> {
        match self {
            Self::Auth(e) => e.wechat_errcode(),
            _ => None,
        }
    }

    /// One error of every kind, in the contract's order: the source of the error codes in
    /// the OpenAPI document.
    pub fn every_kind() -> Vec<ApiError> {
        // A new `AuthError` variant stops this from compiling until it is listed below.
        fn _listed_below(e: &AuthError) {
            match e {
                AuthError::InvalidRequest(_)
                | AuthError::UnknownApp
                | AuthError::LoginCodeInvalid { .. }
                | AuthError::LoginCodeUsed { .. }
                | AuthError::LoginBlocked { .. }
                | AuthError::SessionInvalid
                | AuthError::PhoneCodeInvalid { .. }
                | AuthError::SessionKeyStale
                | AuthError::PayloadMalformed
                | AuthError::AppidMismatch
                | AuthError::WatermarkExpired
                | AuthError::TicketInvalid
                | AuthError::RegistrationClosed
                | AuthError::AlreadyRegistered
                | AuthError::Unauthenticated
                | AuthError::RefreshTokenInvalid
                | AuthError::RefreshTokenReused
                | AuthError::UserDisabled
                | AuthError::PhoneBoundElsewhere
                | AuthError::PhoneTaken
                | AuthError::AdminUnauthenticated
                | AuthError::AdminForbidden
                | AuthError::UserNotFound
                | AuthError::ExternalIdTaken
                | AuthError::ImportInvalid(_)
                | AuthError::ImageInvalid
                | AuthError::RateLimited { .. }
                | AuthError::WeChatError { .. }
                | AuthError::WeChatUnavailable { .. }
                | AuthError::Unavailable(_)
                | AuthError::Internal(_) => {}
            }
        }
        let errcode = None;
        let auth = [
            AuthError::InvalidRequest(String::new()),
            AuthError::UnknownApp,
            AuthError::LoginCodeInvalid {
                wechat_errcode: errcode,
            },
            AuthError::LoginCodeUsed {
                wechat_errcode: errcode,
            },
            AuthError::LoginBlocked {
                wechat_errcode: errcode,
            },
            AuthError::SessionInvalid,
            AuthError::PhoneCodeInvalid {
                wechat_errcode: errcode,
            },
            AuthError::SessionKeyStale,
            AuthError::PayloadMalformed,
            AuthError::AppidMismatch,
            AuthError::WatermarkExpired,
            AuthError::TicketInvalid,
            AuthError::RegistrationClosed,
            AuthError::AlreadyRegistered,
            AuthError::Unauthenticated,
            AuthError::RefreshTokenInvalid,
            AuthError::RefreshTokenReused,
            AuthError::UserDisabled,
            AuthError::PhoneBoundElsewhere,
            AuthError::PhoneTaken,
            AuthError::AdminUnauthenticated,
            AuthError::AdminForbidden,
            AuthError::UserNotFound,
            AuthError::ExternalIdTaken,
            AuthError::ImportInvalid(String::new()),
            AuthError::ImageInvalid,
        ];
        let late = [
            AuthError::RateLimited {
                wechat_errcode: errcode,
                retry_after: UNAVAILABLE_RETRY_AFTER,
            },
            AuthError::WeChatError {
                wechat_errcode: errcode,
            },
            AuthError::WeChatUnavailable {
                wechat_errcode: errcode,
            },
            AuthError::Unavailable("".into()),
            AuthError::Internal("".into()),
        ];
        let mut all: Vec<ApiError> = auth.into_iter().map(Self::Auth).collect();
        all.extend([
            Self::NotFound,
            Self::MethodNotAllowed,
            Self::PayloadTooLarge,
        ]);
        all.extend(late.into_iter().map(Self::Auth));
        all
    }
}

/// The body of every non-2xx response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorObject,
}

/// `error` in [`ErrorBody`].
#[derive(Serialize, ToSchema)]
pub struct ErrorObject {
    /// The stable, machine-readable code.
    #[schema(value_type = ErrorCode)]
    pub code: &'static str,
    /// For people; may change, never contains a secret.
    pub message: String,
    /// The request's id, as in the `X-Request-Id` response header.
    pub request_id: String,
    /// WeChat's errcode, when WeChat's answer was the cause.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wechat_errcode: Option<i64>,
}

/// The schema of `error.code`: every code of [`ApiError::every_kind`].
pub struct ErrorCode;

impl PartialSchema for ErrorCode {
    fn schema() -> RefOr<Schema> {
        let codes: Vec<&'static str> = ApiError::every_kind().iter().map(ApiError::code).collect();
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .description(Some("The contract's stable error codes."))
            .enum_values(Some(codes))
            .into()
    }
}

impl ToSchema for ErrorCode {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ErrorCode")
    }
}
