//! Rate limits shared by every instance: one GCRA bucket per (kind, key) in Redis.
//!
//! # Keys
//! `<prefix>{<kind>:<key>}:rate` → the bucket's theoretical arrival time (TAT: when it will
//! be full again, in microseconds since the Unix epoch by Redis' clock), as a decimal
//! integer. `kind` is `ip`, `openid` or `phone`; `key` is the client address, `appid:openid`,
//! or the phone's keyed hash (HMAC, hex): never a phone number in clear. The key expires when
//! the bucket is full again (`PX` = TAT − now), so idle buckets cost nothing.
//!
//! # Script (Lua, atomic)
//! GCRA, the algorithm of the in-memory limiter (`governor`), so both decide alike: with
//! interval `T = 1 s / per_second` and `now` from Redis' `TIME` (one clock for every
//! instance, however skewed theirs are), `tat = max(stored, now)`; if
//! `tat + T − burst·T > now` the call is limited and must wait that difference (rounded up
//! to whole seconds, at least 1); otherwise the TAT becomes `tat + T`. A refused call
//! changes nothing. A full bucket therefore lets `burst` calls through at once, then one
//! every `T`.
//!
//! # When Redis is down
//! Any failure (unreachable, timeout, or an error answer) makes the limiter decide with a
//! per-instance [`MemoryRateLimiter`] it holds, so limits still apply, per instance
//! (`N` instances let up to `N` times the rate through). After a failure the limiter does
//! not ask Redis for [`RETRY_REDIS_AFTER`] (1 s); then one call tries again, the others
//! keep deciding in memory until Redis answers. So an outage costs one slow call
//! (connection retries, or `redis.response_timeout`) per second, not one per request. Every
//! call decided in memory counts `wxlogin_redis_fallbacks_total{what="rate_limit"}`; a
//! warning is logged at most once a minute, and an info line when Redis answers again.
//! Buckets counted in memory during an outage are not carried over to Redis.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::Script;
use wxlogin_core::limits::{MemoryRateLimiter, retry_after_secs};
use wxlogin_core::ports::{Decision, LimitKind, Rate, RateLimiter, StoreError, StoreResult};

use crate::{RedisStore, redis_err};

/// Counted once per call decided by the in-memory fallback.
pub const FALLBACK_METRIC: &str = "wxlogin_redis_fallbacks_total";

/// At most one warning per this long while Redis fails.
const WARN_EVERY: Duration = Duration::from_secs(60);

static GCRA: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS[1]: the bucket; ARGV[1]: tokens per second; ARGV[2]: burst.
-- Returns 0 when allowed, else the wait in microseconds (> 0).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = 1000000 / tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or 0) or 0
if tat < now then
  tat = now
end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at > now then
  return math.ceil(allow_at - now)
end
local ttl_ms = math.max(1, math.ceil((new_tat - now) / 1000))
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', string.format('%.0f', ttl_ms))
return 0
",
    )
});

/// After a failure, calls skip Redis for this long (one call then tries it again), so that
/// an outage does not add a reconnect attempt to every request.
pub const RETRY_REDIS_AFTER: Duration = Duration::from_secs(1);

/// [`RateLimiter`] on Redis, falling back to a per-instance limiter while Redis fails.
#[derive(Debug)]
pub struct RedisRateLimiter {
    redis: RedisStore,
    fallback: MemoryRateLimiter,
    /// Until when calls go to the fallback without asking Redis.
    skip_until: Mutex<Option<Instant>>,
    /// When the last fallback warning was logged.
    last_warning: Mutex<Option<Instant>>,
    /// Whether Redis failed since it last answered (to log the recovery once).
    degraded: AtomicBool,
}

impl RedisRateLimiter {
    /// Buckets in `redis`, with an empty in-memory fallback.
    pub fn new(redis: RedisStore) -> Self {
        Self {
            redis,
            fallback: MemoryRateLimiter::new(),
            skip_until: Mutex::new(None),
            last_warning: Mutex::new(None),
            degraded: AtomicBool::new(false),
        }
    }

    /// The decision by Redis alone, without the fallback.
    pub async fn acquire_shared(
        &self,
        kind: LimitKind,
        key: &str,
        rate: Rate,
    ) -> StoreResult<Decision> {
        let mut conn = self.redis.conn();
        let wait_micros: u64 = GCRA
            .key(self.redis.key(&format!("{}:{key}", kind.as_str()), "rate"))
            .arg(rate.per_second.max(1))
            .arg(rate.burst.max(1))
            .invoke_async(&mut conn)
            .await
            .map_err(redis_err("rate_limit"))?;
        Ok(if wait_micros == 0 {
            Decision::Allowed
        } else {
            Decision::Limited {
                retry_after: retry_after_secs(Duration::from_micros(wait_micros)),
            }
        })
    }

    /// Whether this call asks Redis: yes unless a recent failure says to skip it. When the
    /// skip ends, the first caller asks (and pushes the skip on, so the others keep using the
    /// fallback until it answers).
    fn may_ask_redis(&self) -> bool {
        let mut skip_until = lock(&self.skip_until);
        match *skip_until {
            None => true,
            Some(until) => {
                let now = Instant::now();
                if now < until {
                    return false;
                }
                *skip_until = Some(now + RETRY_REDIS_AFTER);
                true
            }
        }
    }

    fn fell_back(&self, kind: LimitKind, e: &StoreError) {
        metrics::counter!(FALLBACK_METRIC, "what" => "rate_limit").increment(1);
        self.degraded.store(true, Ordering::Relaxed);
        let now = Instant::now();
        let mut last = lock(&self.last_warning);
        if last.is_none_or(|at| now.duration_since(at) >= WARN_EVERY) {
            *last = Some(now);
            drop(last);
            let error = wxlogin_core::cause::chain(e);
            tracing::warn!(kind = kind.as_str(), %error,
                "redis rate limiter failed; limiting per instance (warned at most once a minute)");
        }
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn acquire(&self, kind: LimitKind, key: &str, rate: Rate) -> StoreResult<Decision> {
        if !self.may_ask_redis() {
            metrics::counter!(FALLBACK_METRIC, "what" => "rate_limit").increment(1);
            return Ok(self.fallback.decide(kind, key, rate));
        }
        match self.acquire_shared(kind, key, rate).await {
            Ok(decision) => {
                *lock(&self.skip_until) = None;
                if self.degraded.swap(false, Ordering::Relaxed) {
                    tracing::info!("redis rate limiter answers again; limits are shared");
                }
                Ok(decision)
            }
            Err(e) => {
                *lock(&self.skip_until) = Some(Instant::now() + RETRY_REDIS_AFTER);
                self.fell_back(kind, &e);
                Ok(self.fallback.decide(kind, key, rate))
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
