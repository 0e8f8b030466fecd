//! Entry points for the fuzz targets in `fuzz/` (see `docs/fuzzing.md`). Not a stable API.
//!
//! [`parse_request`] runs what the server does with a request before any use case: the real
//! extractors ([`JsonBody`], [`OptionalJsonBody`], [`Bearer`]) on the real request types of
//! `routes::auth`, behind the router's body limit, and renders a refusal through the real
//! [`ApiError`] response. Then, for the two pure checks the use cases run on the body next
//! (given a live session or ticket), it runs those too: `Payload::parse` for legacy phone data
//! and `Profile::validate` for a registration. No I/O: everything completes on the first poll.
//!
//! [`check_request`] is the oracle the fuzz targets call: it panics when an answer breaks the
//! contract (a status or code the contract does not give here, a body that is not the error
//! shape, a message that is not one of our fixed texts and could therefore quote the input).

use std::convert::Infallible;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request};
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use serde_json::Value;
use tower::{Layer, ServiceExt};
use wxlogin_core::AuthError;
use wxlogin_core::service::Profile;
use wxlogin_core::wxcrypt::Payload;

use crate::error::ApiError;
use crate::extract::{Bearer, JsonBody, MAX_BODY_BYTES, OptionalJsonBody};
use crate::routes::auth::{
    LoginRequest, LogoutRequest, PhoneRequest, RefreshRequest, RegisterRequest,
};

/// Which request input the bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// The body of `POST /v1/login`.
    Login,
    /// The body of `POST /v1/phone`.
    Phone,
    /// The body of `POST /v1/register`.
    Register,
    /// The body of `POST /v1/token/refresh`.
    Refresh,
    /// The (optional) body of `POST /v1/logout`.
    Logout,
    /// The value of the `Authorization` header (`GET /v1/me`, `POST /v1/logout`).
    Authorization,
}

impl RequestKind {
    /// Every kind.
    pub const ALL: [Self; 6] = [
        Self::Login,
        Self::Phone,
        Self::Register,
        Self::Refresh,
        Self::Logout,
        Self::Authorization,
    ];

    /// A kind picked by one byte of fuzz input.
    pub fn from_byte(b: u8) -> Self {
        Self::ALL[usize::from(b) % Self::ALL.len()]
    }

    /// The contract codes a refusal of this input may carry before any I/O.
    fn allowed_codes(self) -> &'static [&'static str] {
        match self {
            Self::Login | Self::Refresh | Self::Logout => &["invalid_request", "payload_too_large"],
            Self::Phone => &["invalid_request", "payload_too_large", "payload_malformed"],
            Self::Register => &["invalid_request", "payload_too_large"],
            Self::Authorization => &["unauthenticated"],
        }
    }

    /// The required fields, the only names a "missing field" message may carry.
    fn required_fields(self) -> &'static [&'static str] {
        match self {
            Self::Login => &["code"],
            Self::Phone => &["session"],
            Self::Register => &["registration_ticket"],
            Self::Refresh => &["refresh_token"],
            Self::Logout | Self::Authorization => &[],
        }
    }
}

/// What the server answers before any use case runs.
#[derive(Debug)]
pub enum Parsed {
    /// The input passed; the use case would run next.
    Accepted,
    /// Refused, with the status, the code and the whole JSON body the client would get.
    Refused {
        /// The HTTP status.
        status: u16,
        /// The contract code.
        code: &'static str,
        /// The response body.
        body: Value,
    },
}

/// Runs the server's parsing and pure validation of one request input.
pub fn parse_request(kind: RequestKind, bytes: &[u8]) -> Parsed {
    match run(kind, bytes) {
        Ok(()) => Parsed::Accepted,
        Err(err) => render(err),
    }
}

fn run(kind: RequestKind, bytes: &[u8]) -> Result<(), ApiError> {
    if kind == RequestKind::Authorization {
        // The http crate refuses control characters in header values; so does a real server.
        let Ok(value) = HeaderValue::from_bytes(bytes) else {
            return Ok(());
        };
        let (mut parts, ()) = Request::builder()
            .header(header::AUTHORIZATION, value)
            .body(())
            .map_err(|_| ApiError::invalid("unbuildable request"))?
            .into_parts();
        let Bearer(token) = complete(Bearer::from_request_parts(&mut parts, &()))?;
        assert!(
            !token.is_empty() && token.len() <= 4096 && token.trim() == token,
            "Bearer accepted a token it should refuse"
        );
        return Ok(());
    }
    let raw = Bytes::copy_from_slice(bytes);
    let request = Request::builder()
        .method("POST")
        .body(Body::from(raw.clone()))
        .map_err(|_| ApiError::invalid("unbuildable request"))?;
    // The router's own body limit layer, around the extractor of the route.
    let service =
        DefaultBodyLimit::max(MAX_BODY_BYTES).layer(tower::service_fn(move |req: Request| {
            let raw = raw.clone();
            async move { Ok::<_, Infallible>(extract(kind, req, &raw).await) }
        }));
    match complete(service.oneshot(request)) {
        Ok(outcome) => outcome,
        Err(never) => match never {},
    }
}

/// The route's extractor on `req`; `raw` is the same body, for the checks that follow.
async fn extract(kind: RequestKind, req: Request, raw: &[u8]) -> Result<(), ApiError> {
    match kind {
        RequestKind::Login => {
            JsonBody::<LoginRequest>::from_request(req, &()).await?;
        }
        RequestKind::Phone => {
            JsonBody::<PhoneRequest>::from_request(req, &()).await?;
            // What the use case checks first given a live session: the legacy payload's
            // base64 and lengths, when the handler picks the legacy proof.
            let body = body_value(raw);
            let (code, data, iv) = (
                body.get("code").and_then(Value::as_str),
                body.get("encrypted_data").and_then(Value::as_str),
                body.get("iv").and_then(Value::as_str),
            );
            if let (None, Some(data), Some(iv)) = (code, data, iv) {
                Payload::parse(data, iv).map_err(|_| AuthError::PayloadMalformed)?;
            }
        }
        RequestKind::Register => {
            JsonBody::<RegisterRequest>::from_request(req, &()).await?;
            // What the use case checks given a live ticket and an open policy.
            let body = body_value(raw);
            let text = |field: &str| body.get(field).and_then(Value::as_str).map(str::to_owned);
            Profile {
                nickname: text("nickname"),
                avatar_url: text("avatar_url"),
            }
            .validate()?;
        }
        RequestKind::Refresh => {
            JsonBody::<RefreshRequest>::from_request(req, &()).await?;
        }
        RequestKind::Logout => {
            OptionalJsonBody::<LogoutRequest>::from_request(req, &()).await?;
        }
        RequestKind::Authorization => {}
    }
    Ok(())
}

/// The body as JSON, once the real extractor has accepted it (so it is an object).
fn body_value(raw: &[u8]) -> Value {
    serde_json::from_slice(raw).unwrap_or(Value::Null)
}

/// The response a refusal becomes, as the client reads it.
fn render(err: ApiError) -> Parsed {
    let code = err.code();
    let res = err.into_response();
    let status = res.status().as_u16();
    let bytes = complete(axum::body::to_bytes(res.into_body(), usize::MAX))
        .unwrap_or_else(|e| panic!("an error body could not be read: {e}"));
    let body =
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("an error body is not JSON: {e}"));
    Parsed::Refused { status, code, body }
}

/// Drives a future that does no I/O to completion without a runtime.
fn complete<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..16 {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("request parsing waited on something: it must not do I/O");
}

/// The fixed messages a refusal may carry here, digits replaced by `#`. Anything else could
/// be quoting the input (a code or a token).
const MESSAGES: &[&str] = &[
    "invalid request: a field has the wrong type or value (line #, column #)",
    "invalid request: the request body is empty; JSON expected",
    "invalid request: the request body is not valid JSON (line #, column #)",
    "invalid request: the request body could not be read",
    "invalid request: nickname must be #-# printable characters",
    "invalid request: avatar_url must be an https URL",
    "encrypted_data or iv is malformed",
    "request body is larger than # bytes",
    "authentication required",
];

fn without_digits(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for c in message.chars() {
        if c.is_ascii_digit() {
            if !out.ends_with('#') {
                out.push('#');
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A finding of this fuzzer (docs/fuzzing.md): serde's derived `Deserialize` also reads a
/// struct from a JSON array, positionally (`["081code", "wx…"]` was a login body), until
/// `extract::parse` refused bodies that are not objects. Kept as a switch for that history.
const ACCEPTS_ARRAYS: bool = false;

/// Parses one input and panics if the answer breaks the contract.
pub fn check_request(kind: RequestKind, bytes: &[u8]) {
    let parsed = parse_request(kind, bytes);
    let too_large = kind != RequestKind::Authorization && bytes.len() > MAX_BODY_BYTES;
    let Parsed::Refused { status, code, body } = parsed else {
        assert!(!too_large, "{kind:?}: a body over the limit was accepted");
        if kind != RequestKind::Authorization
            && !(kind == RequestKind::Logout && bytes.iter().all(u8::is_ascii_whitespace))
        {
            // An object (not parsed into a `Value`: serde skips ignored fields deeper than
            // `Value`'s recursion limit).
            let first = bytes.trim_ascii_start().first();
            assert!(
                first == Some(&b'{') || (ACCEPTS_ARRAYS && first == Some(&b'[')),
                "{kind:?}: accepted a body that is not a JSON object"
            );
        }
        return;
    };
    assert_eq!(
        too_large,
        code == "payload_too_large",
        "{kind:?}: {code} for a body of {} bytes",
        bytes.len()
    );
    assert!(
        kind.allowed_codes().contains(&code),
        "{kind:?}: code {code} is not expected before any I/O"
    );
    let expected_status = match code {
        "invalid_request" => 400,
        "unauthenticated" => 401,
        "payload_too_large" => 413,
        _ => 422,
    };
    assert_eq!(status, expected_status, "{kind:?}: {code}");
    let error = &body["error"];
    assert_eq!(error["code"], code, "{kind:?}: body {body}");
    assert!(error["request_id"].is_string(), "{kind:?}: body {body}");
    let message = error["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{kind:?}: no message in {body}"));
    let normalised = without_digits(message);
    let missing_field = kind
        .required_fields()
        .iter()
        .any(|f| normalised == format!("invalid request: missing field `{f}`"));
    assert!(
        missing_field || MESSAGES.contains(&normalised.as_str()),
        "{kind:?}: message is not one of the fixed texts: {message:?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_bodies_are_accepted() {
        for (kind, body) in [
            (RequestKind::Login, r#"{"code": "081abc", "appid": "wx1"}"#),
            (RequestKind::Phone, r#"{"session": "s", "code": "c"}"#),
            (
                RequestKind::Phone,
                r#"{"session": "s", "encrypted_data": "AAAAAAAAAAAAAAAAAAAAAA==", "iv": "AAAAAAAAAAAAAAAAAAAAAA=="}"#,
            ),
            (
                RequestKind::Register,
                r#"{"registration_ticket": "t", "nickname": "小明"}"#,
            ),
            (
                RequestKind::Refresh,
                r#"{"refresh_token": "r", "extra": [1]}"#,
            ),
            (RequestKind::Logout, ""),
            (RequestKind::Logout, r#"{"all_devices": true}"#),
            (RequestKind::Authorization, "Bearer eyJ.x.y"),
            (RequestKind::Authorization, "bearer   t  "),
        ] {
            assert!(
                matches!(parse_request(kind, body.as_bytes()), Parsed::Accepted),
                "{kind:?} {body}"
            );
            check_request(kind, body.as_bytes());
        }
    }

    #[test]
    fn hostile_inputs_are_refused_with_the_contract_codes() {
        let cases: &[(RequestKind, &[u8], &str)] = &[
            (RequestKind::Login, b"", "invalid_request"),
            (RequestKind::Login, b"\xff\xfe", "invalid_request"),
            (RequestKind::Login, br#"{"code": 1}"#, "invalid_request"),
            (
                RequestKind::Login,
                br#"{"code": "a", "code": "b"}"#,
                "invalid_request",
            ),
            (
                RequestKind::Phone,
                br#"{"session": 7, "iv": "x"}"#,
                "invalid_request",
            ),
            (
                RequestKind::Phone,
                br#"{"session": "s", "encrypted_data": "AAAA", "iv": "AAAAAAAAAAAAAAAAAAAAAA=="}"#,
                "payload_malformed",
            ),
            (
                RequestKind::Register,
                br#"{"registration_ticket": "t", "avatar_url": "http://x"}"#,
                "invalid_request",
            ),
            (
                RequestKind::Logout,
                br#"{"all_devices": "yes"}"#,
                "invalid_request",
            ),
            (
                RequestKind::Authorization,
                b"Basic dXNlcjpwYXNz",
                "unauthenticated",
            ),
            (RequestKind::Authorization, b"Bearer ", "unauthenticated"),
        ];
        for &(kind, body, want) in cases {
            match parse_request(kind, body) {
                Parsed::Refused { code, .. } => assert_eq!(code, want, "{kind:?}"),
                Parsed::Accepted => panic!("{kind:?} accepted {body:?}"),
            }
            check_request(kind, body);
        }
        let deep = format!(
            r#"{{"code": "c", "x": {}{}}}"#,
            "[".repeat(8000),
            "]".repeat(8000)
        );
        check_request(RequestKind::Login, deep.as_bytes());
        let big = format!(r#"{{"code": "{}"}}"#, "x".repeat(MAX_BODY_BYTES));
        assert!(matches!(
            parse_request(RequestKind::Login, big.as_bytes()),
            Parsed::Refused {
                code: "payload_too_large",
                ..
            }
        ));
    }
}
