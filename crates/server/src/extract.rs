//! Extractors that fail with the contract's errors instead of axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use wxlogin_core::AuthError;

use crate::error::ApiError;

/// The contract: request bodies up to 16 KiB are read, larger ones get 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// A JSON body. The `Content-Type` is not insisted on (the body must be JSON either way),
/// and serde's messages are not echoed: they can quote the offending value, which may be a
/// code or a token.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        parse(&bytes).map(JsonBody)
    }
}

/// Reads the body within [`MAX_BODY_BYTES`] (the router's `DefaultBodyLimit`).
async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::invalid("the request body could not be read")
        }
    })
}

/// Parses a body, describing failures without quoting values.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde's derived structs also read a JSON array, by position (`["081code", "wx…"]`
    // would be a login); every body of the contract is an object. Found by cargo-fuzz.
    if bytes.trim_ascii_start().first() == Some(&b'[') {
        return Err(ApiError::invalid(
            "the request body must be a JSON object".to_owned(),
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        let message = match e.classify() {
            serde_json::error::Category::Data => {
                let text = e.to_string();
                // "missing field `code`" and "unknown variant" name fields, not values.
                match text.split('`').nth(1) {
                    Some(field) if text.starts_with("missing field") => {
                        format!("missing field `{field}`")
                    }
                    _ => format!(
                        "a field has the wrong type or value (line {}, column {})",
                        e.line(),
                        e.column()
                    ),
                }
            }
            serde_json::error::Category::Eof if bytes.is_empty() => {
                "the request body is empty; JSON expected".into()
            }
            _ => format!(
                "the request body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        };
        ApiError::invalid(message)
    })
}

/// An optional JSON body: empty means `T::default()`.
pub struct OptionalJsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        parse(&bytes).map(OptionalJsonBody)
    }
}

/// The bearer token from `Authorization: Bearer …`.
pub struct Bearer(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        bearer_of(&parts.headers)
            .map(Self)
            .ok_or(ApiError::Auth(AuthError::Unauthenticated))
    }
}

/// The bearer token of `Authorization`, if the header holds one (scheme case-insensitive).
pub fn bearer_of(headers: &axum::http::HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.len() > 4096 {
        return None;
    }
    Some(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Body {
        #[allow(dead_code)]
        code: String,
    }

    #[test]
    fn parse_errors_never_quote_the_value() {
        let err = parse::<Body>(br#"{"code": 12345678}"#).unwrap_err();
        let ApiError::Auth(AuthError::InvalidRequest(message)) = err else {
            panic!()
        };
        assert!(!message.contains("12345678"), "{message}");
        let err = parse::<Body>(br#"{"other": "x"}"#).unwrap_err();
        let ApiError::Auth(AuthError::InvalidRequest(message)) = err else {
            panic!()
        };
        assert_eq!(message, "missing field `code`");
        assert!(parse::<Body>(b"not json").is_err());
        assert!(
            parse::<Body>(br#" ["081code"]"#).is_err(),
            "arrays are not objects"
        );
        assert!(parse::<Body>(b"").is_err());
    }
}
