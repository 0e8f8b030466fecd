//! WeChat's own paths, with WeChat's request and response shapes.
//!
//! Each handler parses what it needs, then hands a synchronous `process` closure to
//! [`reply::answer`], which applies a queued fault or runs it, counts the outcome and renders
//! the reply. Processing never awaits, so no lock is ever held across an `.await`.

mod encrypted_msg;
mod login;
mod phone;
mod reply;
mod session_key;
mod token;

use std::borrow::Cow;

use axum::Router;
use axum::response::Response;
use axum::routing::any;

use crate::errcode;
use crate::sim::{Sim, lock};
use crate::stats::Outcome;

/// What processing a call yields: the success body, or an errcode.
pub(crate) type Processed = Result<Vec<u8>, i64>;

/// The WeChat paths. Methods are checked inside the handlers, so a wrong method gets a
/// WeChat errcode rather than an HTTP 405.
pub(crate) fn routes() -> Router<Sim> {
    Router::new()
        .route("/sns/jscode2session", any(login::jscode2session))
        .route("/cgi-bin/token", any(token::token))
        .route("/cgi-bin/stable_token", any(token::stable_token))
        .route(
            "/wxa/business/getuserphonenumber",
            any(phone::getuserphonenumber),
        )
        .route(
            "/wxa/business/checkencryptedmsg",
            any(encrypted_msg::checkencryptedmsg),
        )
        .route("/wxa/checksession", any(session_key::checksession))
        .route(
            "/wxa/resetusersessionkey",
            any(session_key::resetusersessionkey),
        )
}

/// Any other path, including a wrong-case one: WeChat's 40066.
pub(crate) fn invalid_url(sim: &Sim) -> Response {
    let body = errcode::error_body(40066, sim.clock().now_unix());
    reply::json(body, Outcome::Errcode(40066))
}

/// Request parameters: the query string, then (for APIs that allow it) string fields of a
/// JSON body. The first occurrence of a name wins; unknown names are ignored, as WeChat does.
pub(crate) struct Params<'a> {
    pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> Params<'a> {
    pub(crate) fn from_query(query: Option<&'a str>) -> Self {
        let pairs = query
            .map(|q| url::form_urlencoded::parse(q.as_bytes()).collect())
            .unwrap_or_default();
        Self { pairs }
    }

    /// Adds the string fields of a JSON object body, behind the query's.
    pub(crate) fn with_json_body(mut self, body: &[u8]) -> Self {
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) {
            for (name, value) in map {
                if let serde_json::Value::String(value) = value {
                    self.pairs.push((Cow::Owned(name), Cow::Owned(value)));
                }
            }
        }
        self
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_ref())
    }

    /// The parameter, treating an empty value as missing.
    pub(crate) fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }
}

/// The app whose `access_token` (from the query, never the body) this call presents.
pub(crate) fn token_app(sim: &Sim, params: &Params<'_>) -> Result<usize, i64> {
    let token = params.non_empty("access_token").ok_or(41001)?;
    let inner = sim.inner();
    let expired = if inner.config.expired_token_as_40014 {
        40014
    } else {
        42001
    };
    lock(&inner.tokens).check(token, inner.clock.now_millis(), expired)
}

/// Parses a JSON object body into `T`; anything else is WeChat's 47001.
pub(crate) fn json_object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, i64> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value @ serde_json::Value::Object(_)) => {
            serde_json::from_value(value).map_err(|_| 47001)
        }
        _ => Err(47001),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_decode_the_query_and_the_first_occurrence_wins() {
        let p = Params::from_query(Some("a=1&b=x%2By&a=2&c="));
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), Some("x+y"));
        assert_eq!(p.get("c"), Some(""));
        assert_eq!(p.non_empty("c"), None);
        assert_eq!(p.get("d"), None);
    }

    #[test]
    fn body_fields_fill_in_behind_the_query() {
        let p =
            Params::from_query(Some("a=query")).with_json_body(br#"{"a":"body","b":"body","n":5}"#);
        assert_eq!(p.get("a"), Some("query"));
        assert_eq!(p.get("b"), Some("body"));
        assert_eq!(p.get("n"), None);
        let p = Params::from_query(None).with_json_body(b"not json");
        assert_eq!(p.get("a"), None);
    }
}
