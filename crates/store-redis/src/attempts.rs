//! Failed attempts per key, shared by every instance: the legacy-decrypt cap
//! (`AuthService::phone`), so that spreading a forgery's queries over instances gains nothing.
//!
//! # Keys
//! `<prefix>{<hex key>}:failures` → the count, expiring `ttl` after the first failure. The
//! key is a SHA-256 of (appid, openid, sealed session_key): no identity in clear.
//!
//! # When Redis is down
//! Both calls fail with `Unavailable`; the legacy phone path answers 503 rather than decrypt
//! without its cap.

use std::time::Duration;

use async_trait::async_trait;
use wxlogin_core::ports::{AttemptCounter, StoreResult};

use crate::{RedisStore, redis_err};

/// INCR, and start the TTL with the first failure, atomically (a crash between the two must
/// not leave a count that never expires).
const RECORD: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
";

/// [`AttemptCounter`] on Redis.
#[derive(Debug, Clone)]
pub struct RedisAttempts {
    redis: RedisStore,
    record: redis::Script,
}

impl RedisAttempts {
    /// Counts in `redis`.
    pub fn new(redis: RedisStore) -> Self {
        Self {
            redis,
            record: redis::Script::new(RECORD),
        }
    }

    fn key(&self, key: &[u8; 32]) -> String {
        self.redis.key(&hex_key(key), "failures")
    }
}

fn hex_key(key: &[u8; 32]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

#[async_trait]
impl AttemptCounter for RedisAttempts {
    async fn failures(&self, key: &[u8; 32]) -> StoreResult<u32> {
        let mut conn = self.redis.conn();
        redis::cmd("GET")
            .arg(self.key(key))
            .query_async::<Option<u32>>(&mut conn)
            .await
            .map(Option::unwrap_or_default)
            .map_err(redis_err("failures"))
    }

    async fn record_failure(&self, key: &[u8; 32], ttl: Duration) -> StoreResult<u32> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut conn = self.redis.conn();
        self.record
            .key(self.key(key))
            .arg(ttl_ms)
            .invoke_async::<u32>(&mut conn)
            .await
            .map_err(redis_err("record_failure"))
    }
}
