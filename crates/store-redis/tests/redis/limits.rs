//! `RedisRateLimiter`: shared GCRA buckets.

use std::time::Duration;

use wxlogin_core::ports::{Decision, LimitKind, Rate, RateLimiter};
use wxlogin_store_redis::limits::RedisRateLimiter;

use super::{TestRedis, eventually};

pub(crate) const RATE: Rate = Rate {
    per_second: 1,
    burst: 3,
};

pub(crate) fn is_limited(decision: Decision) -> bool {
    match decision {
        Decision::Allowed => false,
        Decision::Limited { retry_after } => {
            assert!(retry_after >= Duration::from_secs(1), "{retry_after:?}");
            assert_eq!(retry_after.subsec_nanos(), 0, "{retry_after:?}");
            true
        }
    }
}

#[tokio::test]
async fn a_burst_passes_then_the_next_call_waits_whole_seconds() {
    let Some(mut redis) = TestRedis::new().await else {
        return;
    };
    let limiter = RedisRateLimiter::new(redis.store.clone());
    let (ip, shared) = (LimitKind::Ip, "203.0.113.7");

    for _ in 0..3 {
        let decision = limiter.acquire_shared(ip, shared, RATE).await.unwrap();
        assert_eq!(decision, Decision::Allowed);
    }
    let refused = limiter.acquire_shared(ip, shared, RATE).await.unwrap();
    assert_eq!(
        refused,
        Decision::Limited {
            retry_after: Duration::from_secs(1)
        }
    );
    // Through the trait too (Redis answers, so no fallback).
    assert!(is_limited(limiter.acquire(ip, shared, RATE).await.unwrap()));

    // Other keys and other kinds have buckets of their own.
    assert_eq!(
        limiter
            .acquire_shared(ip, "203.0.113.8", RATE)
            .await
            .unwrap(),
        Decision::Allowed
    );
    assert_eq!(
        limiter
            .acquire_shared(LimitKind::OpenId, shared, RATE)
            .await
            .unwrap(),
        Decision::Allowed
    );

    // One key per bucket, gone when the bucket would be full again (3 s at most).
    let key = format!("{}{{ip:203.0.113.7}}:rate", redis.prefix);
    let ttl = redis.pttl(&key).await;
    assert!((1..=3_000).contains(&ttl), "{ttl}");
    assert_eq!(redis.keys().await.len(), 3);

    redis.cleanup().await;
}

#[tokio::test]
async fn a_limited_key_is_allowed_again_after_one_interval() {
    let Some(redis) = TestRedis::new().await else {
        return;
    };
    let limiter = RedisRateLimiter::new(redis.store.clone());
    let rate = Rate {
        per_second: 20,
        burst: 1,
    };
    let kind = LimitKind::Phone;
    let bucket = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    assert_eq!(
        limiter.acquire_shared(kind, bucket, rate).await.unwrap(),
        Decision::Allowed
    );
    // Refused at once (50 ms to wait, announced as a whole second), allowed again soon.
    assert_eq!(
        limiter.acquire_shared(kind, bucket, rate).await.unwrap(),
        Decision::Limited {
            retry_after: Duration::from_secs(1)
        }
    );
    eventually(Duration::from_secs(2), "a token comes back", || async {
        limiter.acquire_shared(kind, bucket, rate).await.unwrap() == Decision::Allowed
    })
    .await;

    redis.cleanup().await;
}

#[tokio::test]
async fn two_instances_share_one_bucket() {
    let Some(redis) = TestRedis::new().await else {
        return;
    };
    let a = RedisRateLimiter::new(redis.store.clone());
    let b = RedisRateLimiter::new(redis.second_instance().await);
    let (kind, key) = (LimitKind::OpenId, "wxapp0001:o-alice");

    assert_eq!(a.acquire(kind, key, RATE).await.unwrap(), Decision::Allowed);
    assert_eq!(b.acquire(kind, key, RATE).await.unwrap(), Decision::Allowed);
    assert_eq!(a.acquire(kind, key, RATE).await.unwrap(), Decision::Allowed);
    assert!(is_limited(b.acquire(kind, key, RATE).await.unwrap()));
    assert!(is_limited(a.acquire(kind, key, RATE).await.unwrap()));

    redis.cleanup().await;
}
