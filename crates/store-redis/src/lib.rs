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
            .map_err(|e| StoreError::Other(format!("redis url {shown}: {}", e.category())))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.response_timeout))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| StoreError::Unavailable(format!("redis at {shown}: {}", describe(&e))))?;
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

/// Maps a Redis error: connection trouble and timeouts are [`StoreError::Unavailable`]
/// (503 `unavailable`, or a fallback where one exists), anything else is a bug or corrupt
/// data. Redis errors carry no values of ours, but only the kind and a short description
/// are kept anyway.
pub(crate) fn redis_err(op: &'static str) -> impl Fn(redis::RedisError) -> StoreError {
    move |e| {
        let detail = format!("redis {op}: {}", describe(&e));
        if e.is_io_error()
            || e.is_timeout()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
        {
            StoreError::Unavailable(detail)
        } else {
            StoreError::Other(detail)
        }
    }
}

fn describe(e: &redis::RedisError) -> String {
    match e.detail() {
        Some(detail) if detail.len() <= 200 => format!("{} ({detail})", e.category()),
        _ => e.category().to_owned(),
    }
}
