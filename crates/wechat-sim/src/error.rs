//! What the simulator's Rust API refuses, and why.

/// Errors of the Rust API ([`crate::Sim`], [`crate::SimApp::parse_cli`],
/// [`crate::encrypt_legacy`]). The control API maps them to JSON 4xx answers.
///
/// Messages never contain a secret: an `--app` value that fails to parse is not echoed,
/// because it carries the AppSecret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// The appid is not one of the simulator's apps.
    #[error("unknown appid {0:?}")]
    UnknownApp(String),
    /// The simulated user's name is empty or too long.
    #[error("invalid user: {0}")]
    InvalidUser(&'static str),
    /// The phone number is not `+` followed by 8 to 15 digits with a known country code.
    #[error("invalid phone number: {0}")]
    InvalidPhone(&'static str),
    /// Legacy data needs the user's current session_key, and the user has none (no login code
    /// was exchanged yet, or the key expired).
    #[error("the user has no live session_key: exchange a login code first")]
    NoSessionKey,
    /// An `--app` value that is not `APPID:SECRET` or `APPID:SECRET:OPEN_PLATFORM_ACCOUNT`.
    #[error("invalid app: expected APPID:SECRET or APPID:SECRET:OPEN_PLATFORM_ACCOUNT")]
    InvalidAppSpec,
    /// A session_key that is not strict base64 of exactly 16 bytes.
    #[error("session_key must be standard base64 of exactly 16 bytes")]
    BadSessionKey,
    /// An iv that is not strict base64 of exactly 16 bytes.
    #[error("iv must be standard base64 of exactly 16 bytes")]
    BadIv,
}

impl SimError {
    /// An [`SimError::UnknownApp`] that echoes at most 64 characters of the given appid, so a
    /// hostile caller can't make the simulator reflect a huge string.
    pub(crate) fn unknown_app(appid: &str) -> Self {
        Self::UnknownApp(appid.chars().take(64).collect())
    }
}
