//! [`HttpUserLookup`]: the `user.lookup` hook, core's [`UserLookup`] over HTTP.
//!
//! A verified phone with no wxlogin user is POSTed to the operator's endpoint, signed as a
//! webhook is, while the client waits: so the whole exchange has a hard budget (3 s), and
//! anything but a well-formed 200 or a 404 is a [`LookupFailed`] whose text is a short fixed
//! form (`HTTP 500`, `timeout`, `malformed answer`, …), never the phone, the body or the URL.

use std::time::Duration;

use async_trait::async_trait;
use rand::RngCore;
use serde::Deserialize;
use time::OffsetDateTime;
use url::Url;
use wxlogin_core::ids::ExternalId;
use wxlogin_core::ports::{LookupAnswer, LookupFailed, LookupRequest, UserLookup};

use crate::deliver::BuildError;
use crate::endpoint::{check_url, shown_url};
use crate::http::{self, Failure};
use crate::payload::lookup_body;
use crate::signing::{WebhookSecret, signed};

/// Where and how the lookup hook is called.
#[derive(Clone)]
pub struct LookupConfig {
    /// The operator's endpoint ([`check_url`] applies).
    pub url: Url,
    /// The hook's signing secret.
    pub secret: WebhookSecret,
    /// The whole exchange, connect to the last byte of the answer (3 s): the client waits.
    pub budget: Duration,
    /// Larger answers are a failure (64 KiB); a real one is a few hundred bytes.
    pub max_body_bytes: usize,
}

impl LookupConfig {
    /// The defaults: a 3 s budget and answers of at most 64 KiB.
    pub fn new(url: Url, secret: WebhookSecret) -> Self {
        Self {
            url,
            secret,
            budget: Duration::from_secs(3),
            max_body_bytes: 64 * 1024,
        }
    }
}

impl std::fmt::Debug for LookupConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LookupConfig")
            .field("url", &shown_url(&self.url))
            .field("budget", &self.budget)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

/// What a 200 must hold. Unknown fields are ignored, so the operator may send more.
#[derive(Deserialize)]
struct Found {
    external_id: String,
    #[serde(default)]
    nickname: Option<String>,
    #[serde(default)]
    avatar_url: Option<String>,
}

/// The lookup hook's client.
#[derive(Clone)]
pub struct HttpUserLookup {
    http: reqwest::Client,
    config: LookupConfig,
}

impl std::fmt::Debug for HttpUserLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpUserLookup")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl HttpUserLookup {
    /// Builds the client: rustls, no redirects, the budget as the request timeout too.
    /// Refuses a URL that breaks [`check_url`].
    pub fn new(config: LookupConfig) -> Result<Self, BuildError> {
        check_url(&config.url)?;
        Ok(Self {
            http: http::client(config.budget).map_err(BuildError::Http)?,
            config,
        })
    }

    async fn exchange(&self, request: &LookupRequest) -> Result<LookupAnswer, Failure> {
        let body = lookup_body(request);
        let id = message_id();
        let timestamp = OffsetDateTime::now_utc().unix_timestamp();
        let builder = self
            .http
            .post(self.config.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        let response = signed(builder, &self.config.secret, &id, timestamp, &body)
            .body(body)
            .send()
            .await
            .map_err(|e| Failure::of(&e))?;
        match response.status().as_u16() {
            200 => {
                let text = http::read_bounded(response, self.config.max_body_bytes).await?;
                // serde's message could quote the body: only the fact is kept.
                let found: Found = serde_json::from_slice(&text).map_err(|_| Failure::Malformed)?;
                Ok(LookupAnswer::Found {
                    external_id: ExternalId::parse(found.external_id)
                        .map_err(|_| Failure::Malformed)?,
                    nickname: found.nickname,
                    avatar_url: found.avatar_url,
                })
            }
            404 => Ok(LookupAnswer::NotFound),
            status => Err(Failure::Status(status)),
        }
    }
}

/// A fresh `webhook-id`: `msg_` and 128 random bits in hex. A lookup is never retried, so
/// each request gets its own.
fn message_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("msg_{}", hex::encode(bytes))
}

#[async_trait]
impl UserLookup for HttpUserLookup {
    async fn lookup(&self, request: &LookupRequest) -> Result<LookupAnswer, LookupFailed> {
        // The client's timeout covers the body too; this outer one also covers everything
        // around it, so the budget holds whatever the receiver does.
        let result = tokio::time::timeout(self.config.budget, self.exchange(request))
            .await
            .unwrap_or(Err(Failure::Timeout));
        // Not logged here: the failure is the cause of the request's `unavailable`, logged
        // with it.
        result.map_err(|failure| LookupFailed(failure.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_fresh() {
        let id = message_id();
        assert!(id.starts_with("msg_"));
        assert_eq!(id.len(), 4 + 32);
        assert_ne!(id, message_id());
    }
}
