//! Standard Webhooks signing (<https://www.standardwebhooks.com>), used for webhooks and the
//! lookup hook alike.
//!
//! A secret is `whsec_` and the base64 of 24 to 64 random bytes. A request carries three
//! headers: `webhook-id` (the message id, the same on every retry, so a receiver can drop a
//! duplicate), `webhook-timestamp` (unix seconds of this attempt) and `webhook-signature`
//! (`v1,` and the base64 of HMAC-SHA256 over `{id}.{timestamp}.{body}`). A receiver refuses a
//! timestamp more than five minutes away from its clock, which bounds how long a captured
//! request can be replayed.

use std::time::Duration;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use hmac::{Hmac, Mac};
use rand::RngCore;
use reqwest::header::HeaderMap;
use sha2::Sha256;
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// The message id header.
pub const HEADER_ID: &str = "webhook-id";
/// The attempt's unix time, in seconds.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// `v1,<base64 HMAC-SHA256>`; a receiver accepts any of several space-separated entries.
pub const HEADER_SIGNATURE: &str = "webhook-signature";
/// How far a timestamp may be from the verifier's clock, either way.
pub const TOLERANCE: Duration = Duration::from_secs(5 * 60);

const PREFIX: &str = "whsec_";
/// The standard's lower bound: fewer random bytes would make the key guessable offline from
/// one captured signature.
const MIN_BYTES: usize = 24;
/// The standard's upper bound (HMAC-SHA256 hashes longer keys down anyway).
const MAX_BYTES: usize = 64;

/// Standard base64 with or without its padding, as the reference libraries read it; anything
/// else (URL-safe letters, whitespace inside, trailing bits) is refused.
const SECRET_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A configured secret was not a Standard Webhooks secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// It does not start with `whsec_`.
    #[error("a webhook secret must start with `whsec_` (Standard Webhooks format)")]
    Prefix,
    /// What follows `whsec_` is not standard base64.
    #[error("a webhook secret must be `whsec_` followed by standard base64")]
    Base64,
    /// It decodes to too few or too many bytes.
    #[error("a webhook secret must hold 24 to 64 random bytes; this one holds {0}")]
    Length(usize),
}

/// A signature did not verify. Says which check failed, never the expected value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A header is missing or not text.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// `webhook-timestamp` is not an integer.
    #[error("invalid webhook-timestamp")]
    BadTimestamp,
    /// The timestamp is more than [`TOLERANCE`] in the past.
    #[error("webhook-timestamp too old")]
    TooOld,
    /// The timestamp is more than [`TOLERANCE`] in the future.
    #[error("webhook-timestamp too new")]
    TooNew,
    /// No `v1` signature matches.
    #[error("no matching signature")]
    NoMatch,
}

/// A Standard Webhooks secret: the raw key bytes. Never printed: `Debug` shows
/// `WebhookSecret([redacted])`, and the text comes out only through
/// [`WebhookSecret::expose_secret`].
#[derive(Clone)]
pub struct WebhookSecret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret([redacted])")
    }
}

impl WebhookSecret {
    /// Parses `whsec_` + standard base64 (padding optional) of 24 to 64 bytes. Surrounding
    /// whitespace is ignored, so a value read from a file may end with a newline.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let encoded = text
            .trim()
            .strip_prefix(PREFIX)
            .ok_or(SecretError::Prefix)?;
        let bytes = Zeroizing::new(
            SECRET_BASE64
                .decode(encoded)
                .map_err(|_| SecretError::Base64)?,
        );
        if !(MIN_BYTES..=MAX_BYTES).contains(&bytes.len()) {
            return Err(SecretError::Length(bytes.len()));
        }
        Ok(Self(bytes))
    }

    /// A fresh secret of 32 random bytes, for an operator to configure on both sides.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new(vec![0u8; 32]);
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The `whsec_…` text (padded base64). Every call site is a place where the secret
    /// leaves its box.
    pub fn expose_secret(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(self.0.as_slice()))
    }

    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&self.0) else {
            unreachable!("HMAC accepts any key length");
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `webhook-signature` value for message `id` sent at `timestamp` (unix seconds):
    /// `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = self
            .mac(id, &timestamp.to_string(), body)
            .finalize()
            .into_bytes();
        format!("v1,{}", STANDARD.encode(tag))
    }

    /// Checks a message as a receiver does: the timestamp within [`TOLERANCE`] of `now`, and
    /// one of the space-separated `v1,…` entries of `signatures` matching (compared in
    /// constant time). Entries of other versions are skipped.
    pub fn verify(
        &self,
        id: &str,
        timestamp: &str,
        signatures: &str,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<(), VerifyError> {
        let sent: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| VerifyError::BadTimestamp)?;
        let tolerance = i64::try_from(TOLERANCE.as_secs()).unwrap_or(i64::MAX);
        let now = now.unix_timestamp();
        if sent < now.saturating_sub(tolerance) {
            return Err(VerifyError::TooOld);
        }
        if sent > now.saturating_add(tolerance) {
            return Err(VerifyError::TooNew);
        }
        // The canonical integer, as the reference libraries sign it (`0123` signs as `123`).
        let mac = self.mac(id, &sent.to_string(), body);
        let matched = signatures
            .split(' ')
            .filter_map(|entry| entry.split_once(','))
            .filter(|(version, _)| *version == "v1")
            .filter_map(|(_, value)| STANDARD.decode(value).ok())
            .any(|tag| mac.clone().verify_slice(&tag).is_ok());
        if matched {
            Ok(())
        } else {
            Err(VerifyError::NoMatch)
        }
    }

    /// [`WebhookSecret::verify`] reading the three headers from `headers` (for a receiver
    /// built on `http` types, such as an axum handler).
    pub fn verify_headers(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<(), VerifyError> {
        let get = |name: &'static str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
                .ok_or(VerifyError::MissingHeader(name))
        };
        self.verify(
            get(HEADER_ID)?,
            get(HEADER_TIMESTAMP)?,
            get(HEADER_SIGNATURE)?,
            body,
            now,
        )
    }
}

/// Adds the three Standard Webhooks headers to a request carrying `body`.
pub(crate) fn signed(
    request: reqwest::RequestBuilder,
    secret: &WebhookSecret,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> reqwest::RequestBuilder {
    request
        .header(HEADER_ID, id)
        .header(HEADER_TIMESTAMP, timestamp.to_string())
        .header(HEADER_SIGNATURE, secret.sign(id, timestamp, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification, checked independently with
    /// Python's standard library:
    ///
    /// ```text
    /// key = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    /// msg = b'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}'
    /// "v1," + base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()
    /// ```
    #[test]
    fn signing_matches_the_specifications_example_vector() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let signature = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    /// A 64-byte key (bytes 0..64) and an event-shaped id, computed the same way in Python.
    #[test]
    fn signing_matches_a_vector_with_the_longest_key() {
        let text = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1\
                    Njc4OTo7PD0+Pw==";
        let secret = WebhookSecret::parse(text).unwrap();
        assert_eq!(secret.expose_secret(), text);
        let id = "evt_0123456789abcdef0123456789abcdef";
        let body = br#"{"id":"evt_0123456789abcdef0123456789abcdef","type":"user.registered"}"#;
        assert_eq!(
            secret.sign(id, 1_767_225_600, body),
            "v1,3uB7QEZHBYLpe4BVCgERUEUahlHhrxwfHLxQIY/g6R4="
        );
    }

    #[test]
    fn only_whsec_base64_of_24_to_64_bytes_is_a_secret() {
        assert_eq!(
            WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_err(),
            SecretError::Prefix
        );
        assert_eq!(
            WebhookSecret::parse("whsec_not base64!").unwrap_err(),
            SecretError::Base64
        );
        assert_eq!(
            WebhookSecret::parse("whsec_c2hvcnQ=").unwrap_err(),
            SecretError::Length(5)
        );
        let long = format!("whsec_{}", STANDARD.encode([7u8; 65]));
        assert_eq!(
            WebhookSecret::parse(&long).unwrap_err(),
            SecretError::Length(65)
        );
        // Unpadded base64 and a trailing newline from a file are fine.
        let unpadded = format!(
            "whsec_{}\n",
            STANDARD.encode([7u8; 32]).trim_end_matches('=')
        );
        assert!(WebhookSecret::parse(&unpadded).is_ok());
        // The error names the rule, never the value.
        let shown = WebhookSecret::parse("whsec_c2hvcnQ=")
            .unwrap_err()
            .to_string();
        assert!(!shown.contains("c2hvcnQ"), "{shown}");
    }

    #[test]
    fn a_secret_never_shows_in_debug_output() {
        let secret = WebhookSecret::generate();
        let text = secret.expose_secret();
        let shown = format!("{secret:?}");
        assert_eq!(shown, "WebhookSecret([redacted])");
        assert!(!shown.contains(&text[PREFIX.len()..]));
        assert_ne!(text, WebhookSecret::generate().expose_secret());
    }

    #[test]
    fn verification_accepts_its_own_signature_within_five_minutes_only() {
        let secret = WebhookSecret::generate();
        let sent = OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap();
        let sig = secret.sign("evt_1", sent.unix_timestamp(), b"{}");
        let ts = sent.unix_timestamp().to_string();
        let at = |secs: i64| sent + time::Duration::seconds(secs);
        assert_eq!(secret.verify("evt_1", &ts, &sig, b"{}", at(300)), Ok(()));
        assert_eq!(secret.verify("evt_1", &ts, &sig, b"{}", at(-300)), Ok(()));
        assert_eq!(
            secret.verify("evt_1", &ts, &sig, b"{}", at(301)),
            Err(VerifyError::TooOld)
        );
        assert_eq!(
            secret.verify("evt_1", &ts, &sig, b"{}", at(-301)),
            Err(VerifyError::TooNew)
        );
        assert_eq!(
            secret.verify("evt_1", "soon", &sig, b"{}", sent),
            Err(VerifyError::BadTimestamp)
        );
    }

    #[test]
    fn verification_refuses_any_change_and_skips_other_versions() {
        let secret = WebhookSecret::generate();
        let now = OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap();
        let ts = now.unix_timestamp();
        let sig = secret.sign("evt_1", ts, b"{}");
        let ts_text = ts.to_string();
        let no = Err(VerifyError::NoMatch);
        assert_eq!(secret.verify("evt_2", &ts_text, &sig, b"{}", now), no);
        assert_eq!(secret.verify("evt_1", &ts_text, &sig, b"{ }", now), no);
        let earlier = (ts - 1).to_string();
        assert_eq!(secret.verify("evt_1", &earlier, &sig, b"{}", now), no);
        let other = WebhookSecret::generate();
        assert_eq!(other.verify("evt_1", &ts_text, &sig, b"{}", now), no);
        let v2 = sig.replacen("v1,", "v2,", 1);
        assert_eq!(secret.verify("evt_1", &ts_text, &v2, b"{}", now), no);
        // Several entries: one matching v1 is enough (key rotation on the receiver's side).
        let several = format!("v1a,xyz v1,AAAA {sig}");
        assert_eq!(
            secret.verify("evt_1", &ts_text, &several, b"{}", now),
            Ok(())
        );
    }

    #[test]
    fn verification_reads_the_three_headers() {
        let secret = WebhookSecret::generate();
        let now = OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(HEADER_ID, "msg_1".parse().unwrap());
        headers.insert(HEADER_TIMESTAMP, "1767225600".parse().unwrap());
        assert_eq!(
            secret.verify_headers(&headers, b"x", now),
            Err(VerifyError::MissingHeader(HEADER_SIGNATURE))
        );
        let sig = secret.sign("msg_1", 1_767_225_600, b"x");
        headers.insert(HEADER_SIGNATURE, sig.parse().unwrap());
        assert_eq!(secret.verify_headers(&headers, b"x", now), Ok(()));
    }
}
