//! The use cases' error, one variant per stable error code of the contract.

use std::time::Duration;

use crate::cause::Cause;
use crate::wechat::WeChatFailure;

/// A use case failed. [`AuthError::code`] is the contract's stable code; the server maps
/// each to its HTTP status. Messages never contain secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum AuthError {
    /// A field is missing, has the wrong type or is out of bounds.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The appid is not configured (or missing while several apps are).
    #[error("unknown app")]
    UnknownApp,
    /// The login code is empty, too long, or WeChat rejected it.
    #[error("the login code is invalid or expired: call wx.login again")]
    LoginCodeInvalid {
        /// WeChat's errcode, when WeChat was asked.
        wechat_errcode: Option<i64>,
    },
    /// WeChat says the code was used and we hold no outcome for it.
    #[error("the login code was already used: call wx.login again")]
    LoginCodeUsed {
        /// WeChat's errcode.
        wechat_errcode: Option<i64>,
    },
    /// WeChat blocked the user as high-risk.
    #[error("wechat refused this login")]
    LoginBlocked {
        /// WeChat's errcode.
        wechat_errcode: Option<i64>,
    },
    /// Unknown, expired or revoked session, or another app's.
    #[error("the session is invalid or expired: log in again")]
    SessionInvalid,
    /// WeChat rejected the phone code.
    #[error("the phone code is invalid or expired: tap the button again")]
    PhoneCodeInvalid {
        /// WeChat's errcode.
        wechat_errcode: Option<i64>,
    },
    /// Legacy data did not decrypt with any session_key we hold.
    #[error("the encrypted data does not match the current session: call wx.login, then retry")]
    SessionKeyStale,
    /// Broken base64 or impossible lengths in encrypted_data / iv.
    #[error("encrypted_data or iv is malformed")]
    PayloadMalformed,
    /// The decrypted watermark names another app.
    #[error("the encrypted data belongs to another app")]
    AppidMismatch,
    /// The decrypted watermark is too old or in the future.
    #[error("the encrypted data is too old: tap the button again")]
    WatermarkExpired,
    /// The registration ticket is unknown, forged, expired or used.
    #[error("the registration ticket is invalid or expired")]
    TicketInvalid,
    /// Registration is closed by policy.
    #[error("registration is closed")]
    RegistrationClosed,
    /// The ticket's phone was registered meanwhile.
    #[error("this phone number is already registered: sign in with it")]
    AlreadyRegistered,
    /// Missing, malformed, expired or revoked bearer token.
    #[error("authentication required")]
    Unauthenticated,
    /// Unknown, expired or revoked refresh token.
    #[error("the refresh token is invalid or expired")]
    RefreshTokenInvalid,
    /// A rotated refresh token was presented again; the family is revoked.
    #[error("the refresh token was already used; this sign-in has been revoked")]
    RefreshTokenReused,
    /// Our limits or WeChat's.
    #[error("too many requests")]
    RateLimited {
        /// WeChat's errcode, when it was WeChat's limit.
        wechat_errcode: Option<i64>,
        /// When to come back.
        retry_after: Duration,
    },
    /// Any other WeChat errcode.
    #[error("wechat returned an error")]
    WeChatError {
        /// WeChat's errcode.
        wechat_errcode: Option<i64>,
    },
    /// WeChat busy, unreachable, or too slow.
    #[error("wechat is unavailable, try again shortly")]
    WeChatUnavailable {
        /// WeChat's errcode, when it sent one.
        wechat_errcode: Option<i64>,
    },
    /// `phone_match = "refuse_if_bound"`: the phone's user already has another WeChat account
    /// of this app.
    #[error("this phone number's account is bound to another WeChat account of this app")]
    PhoneBoundElsewhere,
    /// A phone change to a number that another user holds.
    #[error("this phone number belongs to another account")]
    PhoneTaken,
    /// The user is disabled: wins over every other refusal of that user.
    #[error("this account is disabled")]
    UserDisabled,
    /// Admin API: missing, unknown or revoked admin key.
    #[error("admin key required")]
    AdminUnauthenticated,
    /// Admin API: the key lacks the scope.
    #[error("this admin key lacks the scope for this request")]
    AdminForbidden,
    /// Admin API: no such user (deleted users are not found).
    #[error("no such user")]
    UserNotFound,
    /// Admin API: another user has this external_id.
    #[error("another user has this external_id")]
    ExternalIdTaken,
    /// An avatar upload that is not a JPEG, PNG or WebP image within the limits.
    #[error("the file is not a JPEG, PNG or WebP image within the limits")]
    ImageInvalid,
    /// Admin import: the batch is malformed as a whole.
    #[error("invalid import: {0}")]
    ImportInvalid(String),
    /// Our store or cache is down (or the lookup hook did not answer). The cause is for the
    /// log line only, never for the client.
    #[error("service temporarily unavailable")]
    Unavailable(#[source] Cause),
    /// Anything else. The cause is for the log line only, never for the client.
    #[error("internal error")]
    Internal(#[source] Cause),
}

impl AuthError {
    /// The contract's stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::UnknownApp => "unknown_app",
            Self::LoginCodeInvalid { .. } => "login_code_invalid",
            Self::LoginCodeUsed { .. } => "login_code_used",
            Self::LoginBlocked { .. } => "login_blocked",
            Self::SessionInvalid => "session_invalid",
            Self::PhoneCodeInvalid { .. } => "phone_code_invalid",
            Self::SessionKeyStale => "session_key_stale",
            Self::PayloadMalformed => "payload_malformed",
            Self::AppidMismatch => "appid_mismatch",
            Self::WatermarkExpired => "watermark_expired",
            Self::TicketInvalid => "ticket_invalid",
            Self::RegistrationClosed => "registration_closed",
            Self::AlreadyRegistered => "already_registered",
            Self::Unauthenticated => "unauthenticated",
            Self::RefreshTokenInvalid => "refresh_token_invalid",
            Self::RefreshTokenReused => "refresh_token_reused",
            Self::RateLimited { .. } => "rate_limited",
            Self::WeChatError { .. } => "wechat_error",
            Self::WeChatUnavailable { .. } => "wechat_unavailable",
            Self::PhoneBoundElsewhere => "phone_bound_elsewhere",
            Self::PhoneTaken => "phone_taken",
            Self::UserDisabled => "user_disabled",
            Self::AdminUnauthenticated => "admin_unauthenticated",
            Self::AdminForbidden => "admin_forbidden",
            Self::UserNotFound => "user_not_found",
            Self::ExternalIdTaken => "external_id_taken",
            Self::ImportInvalid(_) => "import_invalid",
            Self::ImageInvalid => "image_invalid",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// WeChat's errcode behind this error, for the `wechat_errcode` field.
    pub fn wechat_errcode(&self) -> Option<i64> {
        match self {
            Self::LoginCodeInvalid { wechat_errcode }
            | Self::LoginCodeUsed { wechat_errcode }
            | Self::LoginBlocked { wechat_errcode }
            | Self::PhoneCodeInvalid { wechat_errcode }
            | Self::RateLimited { wechat_errcode, .. }
            | Self::WeChatError { wechat_errcode }
            | Self::WeChatUnavailable { wechat_errcode } => *wechat_errcode,
            _ => None,
        }
    }

    /// Whether this outcome may be remembered for a code: everything WeChat decided, but not
    /// our own outages (a retry after the store recovers deserves a real attempt) nor our own
    /// rate limits (a retry after `Retry-After` must be served, not refused again for the
    /// code's five minutes).
    pub fn is_cacheable(&self) -> bool {
        !matches!(
            self,
            Self::Unavailable(_)
                | Self::Internal(_)
                | Self::RateLimited {
                    wechat_errcode: None,
                    ..
                }
        )
    }

    /// Maps a failed login-code exchange.
    pub fn from_login_failure(f: &WeChatFailure) -> Self {
        let wechat_errcode = f.errcode();
        match f {
            WeChatFailure::CodeInvalid { .. } => Self::LoginCodeInvalid { wechat_errcode },
            WeChatFailure::CodeUsed { .. } => Self::LoginCodeUsed { wechat_errcode },
            WeChatFailure::Blocked { .. } => Self::LoginBlocked { wechat_errcode },
            WeChatFailure::RateLimited { .. } => Self::wechat_rate_limited(wechat_errcode),
            WeChatFailure::Unavailable { .. } => Self::WeChatUnavailable { wechat_errcode },
            WeChatFailure::Other { .. } => Self::WeChatError { wechat_errcode },
        }
    }

    /// Maps a failed phone-code exchange.
    pub fn from_phone_failure(f: &WeChatFailure) -> Self {
        let wechat_errcode = f.errcode();
        match f {
            WeChatFailure::CodeInvalid { .. } | WeChatFailure::CodeUsed { .. } => {
                Self::PhoneCodeInvalid { wechat_errcode }
            }
            WeChatFailure::RateLimited { .. } => Self::wechat_rate_limited(wechat_errcode),
            WeChatFailure::Unavailable { .. } => Self::WeChatUnavailable { wechat_errcode },
            WeChatFailure::Blocked { .. } | WeChatFailure::Other { .. } => {
                Self::WeChatError { wechat_errcode }
            }
        }
    }
}

/// WeChat's minute quota resets "next minute".
pub const WECHAT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// WeChat's daily quota errcode.
pub const DAILY_QUOTA_ERRCODE: i64 = 45009;

impl AuthError {
    /// WeChat's quota: a minute for 45011; for the daily quota (45009), until midnight in
    /// Beijing (UTC+8), when WeChat's day turns (by the wall clock: it only sets a header).
    fn wechat_rate_limited(wechat_errcode: Option<i64>) -> Self {
        let retry_after = if wechat_errcode == Some(DAILY_QUOTA_ERRCODE) {
            until_beijing_midnight(time::OffsetDateTime::now_utc())
        } else {
            WECHAT_RETRY_AFTER
        };
        Self::RateLimited {
            wechat_errcode,
            retry_after,
        }
    }
}

/// Whole seconds from `now` to the next 00:00 at UTC+8 (1 to 86,400).
pub fn until_beijing_midnight(now: time::OffsetDateTime) -> Duration {
    let seconds_into_day = (now.unix_timestamp() + 8 * 3600).rem_euclid(86_400);
    Duration::from_secs(u64::try_from(86_400 - seconds_into_day).unwrap_or(86_400))
}

/// Not logged here: the error travels as the cause, to be logged once where it becomes a
/// response ([`crate::cause`]).
impl From<crate::ports::StoreError> for AuthError {
    fn from(e: crate::ports::StoreError) -> Self {
        if e.is_unavailable() {
            Self::Unavailable(e.into())
        } else {
            Self::Internal(e.into())
        }
    }
}

#[cfg(test)]
mod quota_tests {
    use super::*;

    #[test]
    fn the_daily_quota_waits_until_beijing_midnight() {
        // 2026-11-26 15:59:00 UTC is 23:59:00 in Beijing.
        let now = time::macros::datetime!(2026-11-26 15:59:00 UTC);
        assert_eq!(until_beijing_midnight(now), Duration::from_secs(60));
        let midnight = time::macros::datetime!(2026-11-26 16:00:00 UTC);
        assert_eq!(
            until_beijing_midnight(midnight),
            Duration::from_secs(86_400)
        );
        let daily = AuthError::from_login_failure(&WeChatFailure::RateLimited { errcode: 45009 });
        let AuthError::RateLimited { retry_after, .. } = daily else {
            panic!("{daily:?}")
        };
        assert!((1..=86_400).contains(&retry_after.as_secs()));
        let minute = AuthError::from_phone_failure(&WeChatFailure::RateLimited { errcode: 45011 });
        assert_eq!(
            minute,
            AuthError::RateLimited {
                wechat_errcode: Some(45011),
                retry_after: WECHAT_RETRY_AFTER
            }
        );
    }
}
