//! What the webhook deliverer and the lookup client share: how the HTTP client is built, and
//! how a failed exchange is named.

use std::time::Duration;

/// An outgoing hook request failed. Its `Display` is the short, fixed-form text stored as a
/// delivery's `last_error` or carried by `LookupFailed`: never a body, a URL or a phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The receiver answered with this status.
    Status(u16),
    /// No answer within the time allowed.
    Timeout,
    /// The connection could not be made (refused, DNS, TLS).
    Connect,
    /// Any other transport failure (reset mid-request, a broken body).
    Request,
    /// The answer was larger than we read.
    TooLarge,
    /// The answer was not what the contract says.
    Malformed,
    /// The delivery names an endpoint this instance does not have (removed from the
    /// configuration, or added on another instance first during a rolling deploy).
    UnknownEndpoint,
    /// The user's stored phone does not open (a different master key, or corruption).
    PhoneUnreadable,
    /// The event could not be written as JSON (a time outside RFC 3339's years).
    Unencodable,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Status(status) => write!(f, "HTTP {status}"),
            Self::Timeout => f.write_str("timeout"),
            Self::Connect => f.write_str("connect error"),
            Self::Request => f.write_str("request error"),
            Self::TooLarge => f.write_str("answer too large"),
            Self::Malformed => f.write_str("malformed answer"),
            Self::UnknownEndpoint => f.write_str("endpoint not configured"),
            Self::PhoneUnreadable => f.write_str("phone unreadable"),
            Self::Unencodable => f.write_str("event not encodable"),
        }
    }
}

impl Failure {
    /// Names a reqwest error by its kind only: its text would carry the URL.
    pub(crate) fn of(error: &reqwest::Error) -> Self {
        if error.is_timeout() {
            Self::Timeout
        } else if error.is_connect() {
            Self::Connect
        } else {
            Self::Request
        }
    }
}

/// The client for hook requests: rustls, `timeout` for a whole exchange, and no redirects (a
/// redirect would carry the signed body, and the phone, somewhere the operator never
/// configured). `HTTP(S)_PROXY`/`NO_PROXY` are honoured, as by the WeChat client.
pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("wxlogin/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Reads at most `limit` bytes of a body; a larger one is [`Failure::TooLarge`].
pub(crate) async fn read_bounded(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, Failure> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(Failure::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| Failure::of(&e))? {
        if body.len() + chunk.len() > limit {
            return Err(Failure::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_read_as_short_fixed_texts() {
        assert_eq!(Failure::Status(500).to_string(), "HTTP 500");
        assert_eq!(Failure::Timeout.to_string(), "timeout");
        assert_eq!(Failure::Connect.to_string(), "connect error");
    }
}
