//! Per-code outcomes shared by every instance, so that one login or phone code reaches
//! WeChat once even when a double tap lands on two instances.
//!
//! # Keys
//! `<prefix>{<hex key>}:outcome`, where the key is the 32-byte hash the caller gives
//! ([`wxlogin_core::outcome`] hashes the app or session with the code: codes are never
//! stored). The value is one of:
//! * `c<instance id>`: claimed by the instance with that random id (32 hex digits, new for
//!   every [`RedisOutcomes`]), which is calling WeChat now; lives for the claim's lease
//!   (`CLAIM_LEASE`, 30 s), so the claim frees itself if its holder dies;
//! * `d<sealed outcome>`: done; the outcome as the caller sealed it (AES-GCM under the master
//!   key), kept for the given TTL (the code's lifetime, 5 minutes).
//!
//! # Scripts
//! * claim (Lua, atomic): `SET key c<id> NX PX lease`; if the key existed, `GET` it and
//!   answer `Pending` for a claim (anyone's) or `Done(sealed)` for an outcome. Of any number
//!   of concurrent claims on one key, across instances, exactly one is `Won`.
//! * complete: `SET key d<sealed> PX ttl`, whatever the key held (a claim, nothing if the
//!   lease ran out, or an outcome another instance wrote after our lease ran out).
//! * release (Lua, atomic): `DEL key` only if it still holds this instance's claim, so a
//!   release never drops an outcome or another instance's claim.
//!
//! # When Redis is down
//! Every call fails with [`StoreError::Unavailable`]; [`wxlogin_core::outcome::OutcomeCache`]
//! then guards codes per instance only (its in-process layer), logs it and counts
//! `wxlogin_outcome_store_errors_total{step}`.

use std::hash::{BuildHasher, Hasher};
use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use redis::Script;
use wxlogin_core::ports::{Claim, OutcomeStore, StoreError, StoreResult};

use crate::{RedisStore, redis_err};

/// The first byte of a claim.
const CLAIMED: u8 = b'c';
/// The first byte of an outcome.
const DONE: u8 = b'd';

static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS[1]: the outcome key; ARGV[1]: this instance's claim; ARGV[2]: the lease in ms.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {'won'}
end
local value = redis.call('GET', KEYS[1])
if (not value) or string.sub(value, 1, 1) == 'c' then
  return {'pending'}
end
return {'done', value}
",
    )
});

static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS[1]: the outcome key; ARGV[1]: this instance's claim.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
",
    )
});

/// [`OutcomeStore`] on Redis.
#[derive(Clone)]
pub struct RedisOutcomes {
    redis: RedisStore,
    /// `c` and this instance's random id: the value of a claim it holds.
    marker: Vec<u8>,
}

impl std::fmt::Debug for RedisOutcomes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisOutcomes")
            .field("redis", &self.redis)
            .field("marker", &String::from_utf8_lossy(&self.marker))
            .finish()
    }
}

impl RedisOutcomes {
    /// Outcomes in `redis`, claimed under a new random instance id.
    pub fn new(redis: RedisStore) -> Self {
        let mut marker = vec![CLAIMED];
        marker.extend_from_slice(instance_id().as_bytes());
        Self { redis, marker }
    }

    fn key(&self, key: &[u8; 32]) -> String {
        self.redis.key(&hex::encode(key), "outcome")
    }
}

#[async_trait]
impl OutcomeStore for RedisOutcomes {
    async fn claim(&self, key: &[u8; 32], lease: Duration) -> StoreResult<Claim> {
        let mut conn = self.redis.conn();
        let reply: Vec<Vec<u8>> = CLAIM
            .key(self.key(key))
            .arg(&self.marker)
            .arg(millis(lease))
            .invoke_async(&mut conn)
            .await
            .map_err(redis_err("claim"))?;
        match reply.as_slice() {
            [tag] if tag == b"won" => Ok(Claim::Won),
            [tag] if tag == b"pending" => Ok(Claim::Pending),
            [tag, value] if tag == b"done" => match value.split_first() {
                Some((&DONE, sealed)) => Ok(Claim::Done(sealed.to_vec())),
                _ => Err(StoreError::other("redis claim", "unreadable outcome")),
            },
            _ => Err(StoreError::other("redis claim", "unexpected reply")),
        }
    }

    async fn complete(&self, key: &[u8; 32], sealed: &[u8], ttl: Duration) -> StoreResult<()> {
        let mut value = Vec::with_capacity(1 + sealed.len());
        value.push(DONE);
        value.extend_from_slice(sealed);
        let mut conn = self.redis.conn();
        redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("PX")
            .arg(millis(ttl))
            .query_async::<()>(&mut conn)
            .await
            .map_err(redis_err("complete"))
    }

    async fn release(&self, key: &[u8; 32]) -> StoreResult<()> {
        let mut conn = self.redis.conn();
        RELEASE
            .key(self.key(key))
            .arg(&self.marker)
            .invoke_async::<i64>(&mut conn)
            .await
            .map(|_| ())
            .map_err(redis_err("release"))
    }
}

/// Whole milliseconds, at least one (`PX 0` is an error).
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// 32 hex digits that differ between instances (and between stores in one process). Not a
/// secret: it only tells claims apart.
fn instance_id() -> String {
    let mut id = String::with_capacity(32);
    for round in 0..2u8 {
        // RandomState is seeded from the OS once per thread and stepped per instance.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u8(round);
        hasher.write_u32(std::process::id());
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        id.push_str(&format!("{:016x}", hasher.finish()));
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_differ() {
        let (a, b) = (instance_id(), instance_id());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn durations_become_whole_positive_milliseconds() {
        assert_eq!(millis(Duration::ZERO), 1);
        assert_eq!(millis(Duration::from_micros(1500)), 1);
        assert_eq!(millis(Duration::from_secs(30)), 30_000);
    }
}
