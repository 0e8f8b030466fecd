//! [`WeChatError`]: everything a WeChat call can fail with.
//!
//! No `Display` or `Debug` here may contain an AppSecret, an access_token, a code, a
//! session_key or a signature: transport errors lose their URL (which carries them) through
//! `reqwest::Error::without_url`, decode errors never quote the body, and `errmsg` has the
//! call's own secrets masked out before it is stored.

use std::sync::Arc;

use wxlogin_core::ids::AppId;

use crate::errcode::{Endpoint, Errcode, Outcome};

/// The longest `errmsg` we keep; WeChat's are well under 200 characters.
const MAX_ERRMSG_CHARS: usize = 300;

/// A failed call to WeChat.
#[derive(Debug, thiserror::Error)]
pub enum WeChatError {
    /// WeChat answered with a non-zero `errcode`.
    #[error("wechat {endpoint} answered errcode {errcode}: {errmsg}")]
    Api {
        /// The endpoint that answered; 40001 means different things on different ones.
        endpoint: Endpoint,
        /// The errcode.
        errcode: Errcode,
        /// WeChat's text, with this call's secrets masked. Never match on it.
        errmsg: String,
    },
    /// The request could not be sent or the reply not received: connection refused or reset,
    /// DNS, TLS, timeout. The request may or may not have reached WeChat.
    #[error("request to wechat failed{}", if .0.is_timeout() { " (timed out)" } else { "" })]
    Transport(#[source] reqwest::Error),
    /// WeChat answered with an HTTP status other than 2xx.
    #[error("wechat answered HTTP {0}")]
    Status(u16),
    /// A 2xx reply whose body was not the JSON we expected.
    #[error("unreadable reply from wechat: {0}")]
    Decode(#[from] DecodeError),
    /// The appid has no AppSecret in our configuration; nothing was sent.
    #[error("appid {0} is not configured")]
    NotConfigured(AppId),
    /// The shared access-token refresh this call waited for failed; the cause is the source.
    /// Every caller that waited on the same refresh gets the same cause.
    #[error("access-token refresh failed")]
    TokenRefresh(#[source] Arc<WeChatError>),
    /// The access-token refresh task stopped before finishing (runtime shutdown, or a bug).
    #[error("access-token refresh was aborted")]
    RefreshAborted,
    /// The circuit breaker of this API is open (WeChat kept failing): refused without sending
    /// anything, so a code in the call was not used.
    #[error("wechat {0} circuit breaker is open; request not sent")]
    CircuitOpen(Endpoint),
}

impl WeChatError {
    /// The errcode WeChat sent, if it sent one (also through [`WeChatError::TokenRefresh`]).
    pub fn errcode(&self) -> Option<Errcode> {
        match self {
            Self::Api { errcode, .. } => Some(*errcode),
            Self::TokenRefresh(inner) => inner.errcode(),
            _ => None,
        }
    }

    /// What to do about it (`docs/wechat.md` §9.1). Transport, HTTP-status and decode
    /// failures, -1 and an open circuit breaker are [`Outcome::RetryLater`]; an unconfigured
    /// appid is [`Outcome::Config`].
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::Api {
                endpoint, errcode, ..
            } => errcode.outcome_on(*endpoint),
            Self::Transport(_)
            | Self::Status(_)
            | Self::Decode(_)
            | Self::RefreshAborted
            | Self::CircuitOpen(_) => Outcome::RetryLater,
            Self::NotConfigured(_) => Outcome::Config,
            Self::TokenRefresh(inner) => inner.outcome(),
        }
    }

    /// WeChat was busy or unreachable, or its answer unreadable: the `Unavailable` class.
    pub fn is_unavailable(&self) -> bool {
        self.outcome() == Outcome::RetryLater
    }

    /// Refused by an open circuit breaker, without a request (also through
    /// [`WeChatError::TokenRefresh`]).
    pub fn is_circuit_open(&self) -> bool {
        match self {
            Self::CircuitOpen(_) => true,
            Self::TokenRefresh(inner) => inner.is_circuit_open(),
            _ => false,
        }
    }

    /// The label for `wxlogin_wechat_calls_total{errcode}`: the number, or a class of failure.
    pub(crate) fn metric_label(&self) -> String {
        match self {
            Self::Api { errcode, .. } => errcode.code().to_string(),
            Self::Transport(e) if e.is_timeout() => "timeout".to_owned(),
            Self::Transport(_) => "transport".to_owned(),
            Self::Status(status) => format!("http_{}xx", status / 100),
            Self::Decode(_) => "decode".to_owned(),
            Self::NotConfigured(_) => "not_configured".to_owned(),
            Self::TokenRefresh(inner) => inner.metric_label(),
            Self::RefreshAborted => "aborted".to_owned(),
            Self::CircuitOpen(_) => "circuit_open".to_owned(),
        }
    }

    /// A transport error, stripped of its URL: the query string carries the AppSecret, the
    /// code or the access_token.
    pub(crate) fn transport(error: reqwest::Error) -> Self {
        Self::Transport(error.without_url())
    }
}

/// Why a 2xx body could not be read. Never quotes the body (it may hold a session_key or a
/// token), so a serde error is reduced to its category and position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The body was larger than the configured limit.
    #[error("body larger than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// Not JSON, truncated JSON, or JSON of the wrong shape (a missing or mistyped field).
    #[error("{category} error at line {line}, column {column}")]
    Json {
        /// `syntax`, `eof` (truncated), `data` (wrong shape) or `io`.
        category: &'static str,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// A field was present but unusable (an empty openid, a zero `expires_in`, ...).
    #[error("field `{0}` has an unusable value")]
    InvalidField(&'static str),
}

impl From<serde_json::Error> for DecodeError {
    fn from(error: serde_json::Error) -> Self {
        use serde_json::error::Category;
        // Only the category and position: the message may quote the value.
        let category = match error.classify() {
            Category::Io => "io",
            Category::Syntax => "syntax",
            Category::Data => "data",
            Category::Eof => "eof",
        };
        Self::Json {
            category,
            line: error.line(),
            column: error.column(),
        }
    }
}

/// Masks every given secret in WeChat's `errmsg` and caps its length. WeChat's messages do not
/// echo parameters today; this keeps it that way if one ever does.
pub(crate) fn scrub_errmsg(errmsg: &str, secrets: &[&str]) -> String {
    let mut text = errmsg.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        if text.contains(secret) {
            text = text.replace(secret, "***");
        }
    }
    match text.char_indices().nth(MAX_ERRMSG_CHARS) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubbing_masks_the_secrets_of_the_call_and_keeps_the_rest() {
        let msg = "invalid code hunter2, rid: 652d44d0-1d0af18b-5b069232";
        let scrubbed = scrub_errmsg(msg, &["hunter2", ""]);
        assert_eq!(
            scrubbed,
            "invalid code ***, rid: 652d44d0-1d0af18b-5b069232"
        );
    }

    proptest::proptest! {
        #[test]
        fn scrubbing_leaves_no_secret_behind(
            secret in "[A-Za-z0-9_-]{1,40}",
            before in ".{0,60}",
            after in ".{0,60}",
        ) {
            let scrubbed = scrub_errmsg(&format!("{before}{secret}{after}{secret}"), &[&secret]);
            proptest::prop_assert!(!scrubbed.contains(&secret), "{}", scrubbed);
        }
    }

    #[test]
    fn scrubbing_caps_a_runaway_errmsg() {
        let scrubbed = scrub_errmsg(&"é".repeat(1000), &[]);
        assert_eq!(scrubbed.chars().count(), MAX_ERRMSG_CHARS + 3);
    }

    #[test]
    fn a_serde_error_keeps_its_position_but_not_the_value() {
        let err = serde_json::from_str::<u64>("\"SECRET-VALUE\"").unwrap_err();
        assert!(
            err.to_string().contains("SECRET-VALUE"),
            "serde does quote values"
        );
        let decode = DecodeError::from(err);
        let shown = format!("{decode} {decode:?}");
        assert!(!shown.contains("SECRET-VALUE"), "{shown}");
        assert!(shown.contains("data error at line 1"), "{shown}");
    }

    #[test]
    fn status_and_errcode_labels_are_bounded() {
        assert_eq!(WeChatError::Status(503).metric_label(), "http_5xx");
        assert_eq!(WeChatError::Status(404).metric_label(), "http_4xx");
        let api = WeChatError::Api {
            endpoint: Endpoint::Jscode2session,
            errcode: Errcode::InvalidCode,
            errmsg: "invalid code".into(),
        };
        assert_eq!(api.metric_label(), "40029");
        assert_eq!(api.outcome(), Outcome::Relogin);
    }

    #[test]
    fn a_refused_token_while_fetching_one_is_config_not_token() {
        let err = WeChatError::TokenRefresh(Arc::new(WeChatError::Api {
            endpoint: Endpoint::Token,
            errcode: Errcode::InvalidCredential,
            errmsg: "invalid credential".into(),
        }));
        assert_eq!(err.outcome(), Outcome::Config);
        assert_eq!(err.errcode(), Some(Errcode::InvalidCredential));
        assert!(!err.is_unavailable());
    }

    #[test]
    fn system_error_and_http_failures_are_unavailable() {
        let busy = WeChatError::Api {
            endpoint: Endpoint::StableToken,
            errcode: Errcode::SystemError,
            errmsg: "system error".into(),
        };
        assert!(busy.is_unavailable());
        assert!(WeChatError::Status(502).is_unavailable());
        assert!(WeChatError::Decode(DecodeError::InvalidField("openid")).is_unavailable());
    }
}
