//! The port to WeChat's server API, as the use cases need it.
//!
//! The adapter (`wxlogin-wechat`) owns the errcode table, the access token and the HTTP
//! details; here a failure arrives already classified by what the caller should do about it
//! (`docs/wechat.md` §9.1).

use async_trait::async_trait;

use crate::ids::{AppId, OpenId, UnionId};
use crate::secret::{LoginCode, PhoneCode, SessionKey};

/// What `jscode2session` gives for a login code.
#[derive(Debug, Clone)]
pub struct WxSession {
    /// The user's id within this app.
    pub openid: OpenId,
    /// Present only when the app is bound to an Open Platform account.
    pub unionid: Option<UnionId>,
    /// The key for legacy encrypted data; never leaves the server.
    pub session_key: SessionKey,
}

/// What `getuserphonenumber` gives for a phone code (`phone_info`), normalised.
#[derive(Clone, PartialEq, Eq)]
pub struct WxPhone {
    /// With the country code for foreign numbers, as WeChat writes it.
    pub phone_number: String,
    /// Without the country code.
    pub pure_phone_number: String,
    /// Always a string here, whether WeChat sent `"86"` or `86`.
    pub country_code: String,
    /// `watermark.appid`.
    pub watermark_appid: String,
    /// `watermark.timestamp`: when the user tapped the button (unix seconds).
    pub watermark_timestamp: i64,
}

impl std::fmt::Debug for WxPhone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A phone number is personal data: never in Debug output.
        f.debug_struct("WxPhone")
            .field("country_code", &self.country_code)
            .field("watermark_appid", &self.watermark_appid)
            .field("watermark_timestamp", &self.watermark_timestamp)
            .finish_non_exhaustive()
    }
}

/// A failed call, classified by what to do about it. `errcode` is WeChat's, when it sent one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeChatFailure {
    /// The code is unknown, expired, another app's, or empty (40029, 41008): ask for a new one.
    #[error("wechat rejected the code (errcode {errcode})")]
    CodeInvalid {
        /// WeChat's errcode.
        errcode: i64,
    },
    /// The login code was already exchanged (40163).
    #[error("wechat says the code was already used (errcode {errcode})")]
    CodeUsed {
        /// WeChat's errcode.
        errcode: i64,
    },
    /// The user is blocked as high-risk (40226).
    #[error("wechat blocked this user (errcode {errcode})")]
    Blocked {
        /// WeChat's errcode.
        errcode: i64,
    },
    /// WeChat's own rate limit (45011).
    #[error("wechat rate limit (errcode {errcode})")]
    RateLimited {
        /// WeChat's errcode.
        errcode: i64,
    },
    /// WeChat busy (-1), a timeout, a connection error, a 5xx or an unreadable body. The code
    /// may have been consumed: never resend it.
    #[error("wechat unavailable{}", errcode.map(|c| format!(" (errcode {c})")).unwrap_or_default())]
    Unavailable {
        /// WeChat's errcode, when it sent one (-1).
        errcode: Option<i64>,
    },
    /// Anything else: a configuration problem (wrong secret, quota, permission) or an errcode
    /// we do not know.
    #[error("wechat error (errcode {errcode})")]
    Other {
        /// WeChat's errcode.
        errcode: i64,
    },
}

impl WeChatFailure {
    /// WeChat's errcode behind this failure, if any, for the `wechat_errcode` error field.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            Self::CodeInvalid { errcode }
            | Self::CodeUsed { errcode }
            | Self::Blocked { errcode }
            | Self::RateLimited { errcode }
            | Self::Other { errcode } => Some(*errcode),
            Self::Unavailable { errcode } => *errcode,
        }
    }
}

/// WeChat's server API as the login flow uses it.
///
/// Neither code exchange is ever retried by the implementation once the code may have reached
/// WeChat (a code is single-use); the one exception is a refused access token on the phone API,
/// which WeChat rejects before it looks at the code. `check_encrypted_msg` carries no code, so
/// the same token resend is harmless there.
#[async_trait]
pub trait WeChatApi: Send + Sync {
    /// `jscode2session` for `app`.
    async fn code_to_session(
        &self,
        app: &AppId,
        code: LoginCode,
    ) -> Result<WxSession, WeChatFailure>;

    /// `getuserphonenumber` for `app`, with a cached access token. With `openid`, WeChat also
    /// checks that the code was issued to that user, so a code lifted from one user's device
    /// cannot verify a phone for another session.
    async fn phone_number(
        &self,
        app: &AppId,
        code: PhoneCode,
        openid: Option<&OpenId>,
    ) -> Result<WxPhone, WeChatFailure>;

    /// `checkencryptedmsg` for `app`, with a cached access token: did WeChat itself produce
    /// the legacy `encryptedData` whose ciphertext (the base64-decoded bytes, before
    /// decryption) hashes to `ciphertext_sha256` under SHA-256?
    ///
    /// AES-CBC has no integrity, so a payload that decrypts cleanly under the session_key is
    /// not proof of origin; this is. `Ok(true)`: WeChat issued it to this app within the last
    /// 3 days. `Ok(false)`: it did not, or the data is older than 3 days (WeChat keeps no
    /// longer); the caller should refuse the payload. `Err` only when WeChat could not answer
    /// (`Unavailable`, `RateLimited`) or refused the call (`Other`: permission, quota, config).
    /// The call consumes nothing, so a refused access token is replaced and the call resent
    /// once, and a caller may retry after `Unavailable`.
    async fn check_encrypted_msg(
        &self,
        app: &AppId,
        ciphertext_sha256: [u8; 32],
    ) -> Result<bool, WeChatFailure>;
}
