//! wxlogin-store-redis: what several wxlogin instances share and may lose.
//!
//! Enabled by `redis.url`. The durable truth (users, identities, session_keys, refresh
//! families, signing keys) stays in SQL; Redis holds what is short-lived and hot:
//!
//! * [`sessions`]: mini-program sessions with a TTL (the session_key history stays in SQL);
//! * [`outcomes`]: per-code outcomes with an in-flight claim, so one code reaches WeChat once
//!   across instances;
//! * [`revocations`]: revoked refresh families, checked on every bearer token;
//! * [`limits`]: token buckets for the rate limits;
//! * [`attempts`]: failure counts behind caps (the legacy-decrypt cap);
//! * [`lease`]: the storage of the cluster-wide WeChat access token (core's `TokenLease`:
//!   the sealed token, the lease and its fences); `wxlogin-wechat` decides who fetches.
//!
//! # Keys
//! Every key starts with the configured prefix (default `wxlogin:`) and carries a hash tag
//! (`{...}`) naming what it belongs to, so that keys one script touches together land in one
//! Redis Cluster slot, and unrelated keys spread over the cluster. See [`RedisStore::key`].

pub mod attempts;
pub mod lease;
pub mod limits;
pub mod outcomes;
pub mod revocations;
pub mod sessions;

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use wxlogin_core::ports::{Health, StoreError, StoreResult};

/// How to connect.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// Prefix of every key, so that several deployments can share one Redis.
    pub prefix: String,
    /// Limit for connecting.
    pub connect_timeout: Duration,
    /// Limit for one command's answer; beyond it the command fails as unavailable.
    pub response_timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            prefix: "wxlogin:".into(),
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_millis(500),
        }
    }
}

/// A connection to Redis (multiplexed, reconnecting in the background), shared by every
/// adapter in this crate. Cheap to clone.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to `url` (`redis://[user:password@]host:port/db` or `rediss://`). The error
    /// never contains the URL's password.
    pub async fn connect(url: &str, options: RedisOptions) -> StoreResult<Self> {
        let shown = wxlogin_core::redact::redact_url(url);
        let client = redis::Client::open(url)
            .map_err(|e| StoreError::other(format!("redis url {shown}"), Redacted::of(&e)))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.response_timeout))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| StoreError::unavailable(format!("redis at {shown}"), kept(e)))?;
        Ok(Self {
            conn,
            prefix: options.prefix,
        })
    }

    /// A multiplexed connection handle for one operation.
    pub(crate) fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// `<prefix>{<tag>}:<rest>`: the hash tag decides the cluster slot.
    pub fn key(&self, tag: &str, rest: &str) -> String {
        format!("{}{{{tag}}}:{rest}", self.prefix)
    }
}

#[async_trait::async_trait]
impl Health for RedisStore {
    async fn ping(&self) -> StoreResult<()> {
        let mut conn = self.conn();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(|_| ())
            .map_err(redis_err("ping"))
    }
}

/// Maps a Redis error met during `op`: connection trouble and timeouts are
/// [`StoreError::Unavailable`] (503 `unavailable`, or a fallback where one exists), anything
/// else is a bug or corrupt data.
pub(crate) fn redis_err(op: &'static str) -> impl Fn(redis::RedisError) -> StoreError {
    move |e| {
        let op = format!("redis {op}");
        if is_connection_trouble(&e) {
            StoreError::unavailable(op, kept(e))
        } else {
            StoreError::other(op, kept(e))
        }
    }
}

fn is_connection_trouble(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal()
}

/// What of a Redis error may become a source, and so reach a log line. A connection-level
/// error is kept whole: its text is the operating system's or the client's ("Connection
/// refused", "timed out"). Any other is reduced to [`Redacted`]: redis quotes the reply in a
/// type error (`value was ...`, which could be a session or a sealed token), and a server or
/// script error's text is the server's to choose.
fn kept(e: redis::RedisError) -> wxlogin_core::cause::BoxError {
    if is_connection_trouble(&e) {
        Box::new(e)
    } else {
        Box::new(Redacted::of(&e))
    }
}

/// A Redis error reduced to its category and the server's error code (`WRONGTYPE`,
/// `NOSCRIPT`): never a value, a key or a script's message.
#[derive(Debug)]
struct Redacted {
    category: String,
    code: Option<String>,
}

impl Redacted {
    fn of(e: &redis::RedisError) -> Self {
        Self {
            category: e.category().to_owned(),
            code: e.code().map(str::to_owned),
        }
    }
}

impl std::fmt::Display for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.category)?;
        match &self.code {
            Some(code) => write!(f, " ({code})"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for Redacted {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_type_error_keeps_its_category_but_not_the_value() {
        // What redis returns for a reply of the wrong type: it quotes the reply.
        let err =
            redis::from_redis_value::<i64>(redis::Value::BulkString(b"SECRET-SESSION".to_vec()))
                .unwrap_err();
        let err = redis::RedisError::from(err);
        assert!(
            err.to_string().contains("SECRET-SESSION"),
            "redis does quote it"
        );
        let mapped = redis_err("live_session")(err);
        let shown = format!("{} {mapped:?}", wxlogin_core::cause::chain(&mapped));
        assert!(!shown.contains("SECRET-SESSION"), "{shown}");
        assert!(shown.contains("redis live_session"), "{shown}");
        assert!(!mapped.is_unavailable());
    }

    #[test]
    fn a_refused_connection_keeps_its_text_and_is_unavailable() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused by test");
        let mapped = redis_err("ping")(redis::RedisError::from(io));
        assert!(mapped.is_unavailable());
        let shown = wxlogin_core::cause::chain(&mapped).to_string();
        assert!(shown.contains("refused by test"), "{shown}");
    }
}
