//! Rate limits: token buckets per client address, openid and phone.
//!
//! [`MemoryRateLimiter`] serves one instance (and is the fallback of the Redis limiter while
//! Redis is down); [`check`] is the one door every limit goes through, so that hits are
//! counted the same way and a failing limiter never takes the service down with it.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::error::AuthError;
use crate::ports::{Decision, LimitKind, Rate, RateLimiter, StoreResult};

/// Counted in `wxlogin_rate_limited_total{kind}`.
pub const RATE_LIMITED_METRIC: &str = "wxlogin_rate_limited_total";

/// Takes one token for (`kind`, `key`) when a rate is configured. A limiter that fails lets
/// the request through (logged and counted in `wxlogin_rate_limiter_errors_total`): losing
/// the limit for a moment is better than refusing every sign-in.
pub async fn check(
    limiter: &dyn RateLimiter,
    kind: LimitKind,
    key: &str,
    rate: Option<Rate>,
) -> Result<(), AuthError> {
    let Some(rate) = rate else { return Ok(()) };
    match limiter.acquire(kind, key, rate).await {
        Ok(Decision::Allowed) => Ok(()),
        Ok(Decision::Limited { retry_after }) => {
            metrics::counter!(RATE_LIMITED_METRIC, "kind" => kind.as_str()).increment(1);
            tracing::info!(kind = kind.as_str(), "rate limited");
            Err(AuthError::RateLimited {
                wechat_errcode: None,
                retry_after,
            })
        }
        Err(e) => {
            metrics::counter!(crate::counters::RATE_LIMITER_ERRORS_TOTAL, "kind" => kind.as_str())
                .increment(1);
            // Swallowed here (the request goes on), so logged here.
            let error = crate::cause::chain(&e);
            tracing::warn!(kind = kind.as_str(), %error, "rate limiter failed; request let through");
            Ok(())
        }
    }
}

/// A whole number of seconds, at least one: `Retry-After` has no fractions.
pub fn retry_after_secs(wait: Duration) -> Duration {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    Duration::from_secs(secs.max(1))
}

/// One keyed limiter: a bucket per key at one rate.
type Buckets = DefaultKeyedRateLimiter<String>;

/// GCRA token buckets in process memory (the `governor` crate), one keyed limiter per
/// (kind, rate). Idle keys are dropped every [`MemoryRateLimiter::SWEEP_EVERY`] calls.
#[derive(Default)]
pub struct MemoryRateLimiter {
    limiters: Mutex<HashMap<(LimitKind, Rate), Arc<Buckets>>>,
    calls: AtomicU64,
}

impl std::fmt::Debug for MemoryRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryRateLimiter").finish_non_exhaustive()
    }
}

impl MemoryRateLimiter {
    /// Sweep idle keys this often (in calls).
    pub const SWEEP_EVERY: u64 = 10_000;

    /// An empty limiter.
    pub fn new() -> Self {
        Self::default()
    }

    fn limiter(&self, kind: LimitKind, rate: Rate) -> Arc<Buckets> {
        let mut limiters = match self.limiters.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        limiters
            .entry((kind, rate))
            .or_insert_with(|| {
                let per_second = NonZeroU32::new(rate.per_second).unwrap_or(NonZeroU32::MIN);
                let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
                Arc::new(DefaultKeyedRateLimiter::dashmap(
                    Quota::per_second(per_second).allow_burst(burst),
                ))
            })
            .clone()
    }

    /// The decision, synchronously (the Redis limiter's fallback calls this).
    pub fn decide(&self, kind: LimitKind, key: &str, rate: Rate) -> Decision {
        let limiter = self.limiter(kind, rate);
        if self.calls.fetch_add(1, Ordering::Relaxed) % Self::SWEEP_EVERY == Self::SWEEP_EVERY - 1 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        match limiter.check_key(&key.to_owned()) {
            Ok(()) => Decision::Allowed,
            Err(not_until) => Decision::Limited {
                retry_after: retry_after_secs(
                    not_until.wait_time_from(DefaultClock::default().now()),
                ),
            },
        }
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn acquire(&self, kind: LimitKind, key: &str, rate: Rate) -> StoreResult<Decision> {
        Ok(self.decide(kind, key, rate))
    }
}

/// [`AttemptCounter`](crate::ports::AttemptCounter) in process memory, for one instance.
///
/// Bounded: at most `capacity` keys (moka evicts the least useful first). Keys come from
/// authenticated sessions (one per WeChat user's session_key), so filling it takes that many
/// real WeChat logins; eviction only ever forgets a count.
pub struct MemoryAttempts {
    counts: moka::sync::Cache<[u8; 32], (u32, std::time::Instant)>,
}

impl MemoryAttempts {
    /// Keys kept at most.
    pub const DEFAULT_CAPACITY: u64 = 100_000;

    /// An empty counter holding at most `capacity` keys.
    pub fn new(capacity: u64) -> Self {
        Self {
            counts: moka::sync::Cache::builder().max_capacity(capacity).build(),
        }
    }
}

impl Default for MemoryAttempts {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

#[async_trait]
impl crate::ports::AttemptCounter for MemoryAttempts {
    async fn failures(&self, key: &[u8; 32]) -> StoreResult<u32> {
        Ok(match self.counts.get(key) {
            Some((n, until)) if std::time::Instant::now() < until => n,
            _ => 0,
        })
    }

    async fn record_failure(&self, key: &[u8; 32], ttl: Duration) -> StoreResult<u32> {
        let now = std::time::Instant::now();
        let entry = self.counts.entry(*key).and_upsert_with(|old| match old {
            Some(e) if now < e.value().1 => (e.value().0.saturating_add(1), e.value().1),
            _ => (1, now + ttl),
        });
        Ok(entry.into_value().0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: Rate = Rate {
        per_second: 1,
        burst: 3,
    };

    #[tokio::test]
    async fn a_burst_passes_then_the_next_call_waits_a_whole_second() {
        let limiter = MemoryRateLimiter::new();
        for _ in 0..3 {
            assert_eq!(
                check(&limiter, LimitKind::Ip, "10.0.0.1", Some(RATE)).await,
                Ok(())
            );
        }
        let refused = check(&limiter, LimitKind::Ip, "10.0.0.1", Some(RATE)).await;
        assert_eq!(
            refused,
            Err(AuthError::RateLimited {
                wechat_errcode: None,
                retry_after: Duration::from_secs(1)
            })
        );
        // Other keys and other kinds have their own buckets.
        assert_eq!(
            check(&limiter, LimitKind::Ip, "10.0.0.2", Some(RATE)).await,
            Ok(())
        );
        assert_eq!(
            check(&limiter, LimitKind::OpenId, "10.0.0.1", Some(RATE)).await,
            Ok(())
        );
        // No rate configured: never limited.
        for _ in 0..10 {
            assert_eq!(check(&limiter, LimitKind::Phone, "x", None).await, Ok(()));
        }
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), Duration::from_secs(1));
        assert_eq!(
            retry_after_secs(Duration::from_millis(1001)),
            Duration::from_secs(2)
        );
        assert_eq!(
            retry_after_secs(Duration::from_secs(3)),
            Duration::from_secs(3)
        );
    }

    struct Broken;
    #[async_trait]
    impl RateLimiter for Broken {
        async fn acquire(&self, _: LimitKind, _: &str, _: Rate) -> StoreResult<Decision> {
            Err(crate::ports::StoreError::unavailable("acquire", "down"))
        }
    }

    #[tokio::test]
    async fn a_failing_limiter_lets_requests_through() {
        assert_eq!(check(&Broken, LimitKind::Ip, "k", Some(RATE)).await, Ok(()));
    }

    #[tokio::test]
    async fn memory_attempts_count_per_key_and_expire_from_the_first_failure() {
        use crate::ports::AttemptCounter as _;
        let counter = MemoryAttempts::new(100);
        let (a, b) = ([1u8; 32], [2u8; 32]);
        assert_eq!(counter.failures(&a).await.unwrap(), 0);
        for n in 1..=3 {
            assert_eq!(
                counter
                    .record_failure(&a, Duration::from_secs(60))
                    .await
                    .unwrap(),
                n
            );
        }
        assert_eq!(counter.failures(&a).await.unwrap(), 3);
        assert_eq!(counter.failures(&b).await.unwrap(), 0);
        counter.record_failure(&b, Duration::ZERO).await.unwrap();
        assert_eq!(counter.failures(&b).await.unwrap(), 0, "expired at once");
        assert_eq!(
            counter
                .record_failure(&b, Duration::from_secs(60))
                .await
                .unwrap(),
            1,
            "a new count"
        );
    }
}
