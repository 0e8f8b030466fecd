//! The Redis adapters against a real Redis, named by `WXLOGIN_TEST_REDIS_URL`
//! (`redis://127.0.0.1:6379/0`); without it every test passes after a visible NOTICE.
//!
//! Each test works under a key prefix of its own (`wxlogin-test-<uuid>:`), so the tests run
//! in parallel on one Redis, and deletes its keys at the end.

// Tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "redis/attempts.rs"]
mod attempts;
#[path = "redis/lease.rs"]
mod lease;
#[path = "redis/limits.rs"]
mod limits;
#[path = "redis/outcomes.rs"]
mod outcomes;
#[path = "redis/revocations.rs"]
mod revocations;
#[path = "redis/sessions.rs"]
mod sessions;
#[path = "redis/unreachable.rs"]
mod unreachable;

use std::future::Future;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use wxlogin_store_redis::{RedisOptions, RedisStore};
use wxlogin_testkit::{TcpProxy, backend_url};

/// The variable naming the Redis server for tests.
const REDIS_URL_VAR: &str = "WXLOGIN_TEST_REDIS_URL";

/// One test's Redis: the URL, its key prefix, an adapter connection and a raw one.
struct TestRedis {
    url: String,
    prefix: String,
    store: RedisStore,
    raw: MultiplexedConnection,
}

impl TestRedis {
    /// `None`, after a NOTICE, when [`REDIS_URL_VAR`] is unset.
    async fn new() -> Option<Self> {
        let url = backend_url(REDIS_URL_VAR, "Redis")?;
        let prefix = format!("wxlogin-test-{}:", uuid::Uuid::new_v4().simple());
        let store = connect(&url, &prefix).await;
        let raw = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        Some(Self {
            url,
            prefix,
            store,
            raw,
        })
    }

    /// Another connection under the same prefix: a second instance.
    async fn second_instance(&self) -> RedisStore {
        connect(&self.url, &self.prefix).await
    }

    /// A proxy in front of this Redis, and a store under the same prefix connected through it.
    async fn through_proxy(&self) -> (TcpProxy, RedisStore) {
        let url = url::Url::parse(&self.url).unwrap();
        let upstream = format!(
            "{}:{}",
            url.host_str().unwrap(),
            url.port_or_known_default().unwrap()
        );
        let proxy = TcpProxy::start(&upstream).await;
        let store = connect(&proxy.url_through(&self.url), &self.prefix).await;
        (proxy, store)
    }

    /// The keys under this test's prefix.
    async fn keys(&mut self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        let mut cursor = 0u64;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{}*", self.prefix))
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut self.raw)
                .await
                .unwrap();
            keys.extend(batch);
            if next == 0 {
                return keys;
            }
            cursor = next;
        }
    }

    /// The raw value of `key`.
    async fn get(&mut self, key: &str) -> Option<Vec<u8>> {
        redis::cmd("GET")
            .arg(key)
            .query_async(&mut self.raw)
            .await
            .unwrap()
    }

    /// The remaining TTL of `key` in milliseconds (-2: no key, -1: no TTL).
    async fn pttl(&mut self, key: &str) -> i64 {
        redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut self.raw)
            .await
            .unwrap()
    }

    /// Deletes this test's keys.
    async fn cleanup(mut self) {
        for key in self.keys().await {
            let _: () = redis::cmd("DEL")
                .arg(key)
                .query_async(&mut self.raw)
                .await
                .unwrap();
        }
    }
}

async fn connect(url: &str, prefix: &str) -> RedisStore {
    let options = RedisOptions {
        prefix: prefix.to_owned(),
        ..RedisOptions::default()
    };
    RedisStore::connect(url, options).await.unwrap()
}

/// Polls `check` every 20 ms until it holds; panics after `limit`.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let give_up = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < give_up,
            "not within {limit:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
