//! Redis cut mid-test through a `TcpProxy`: what fails, what falls back, what recovers.

use std::sync::Arc;
use std::time::Duration;
use wxlogin_testkit::fixtures::fam;

use wxlogin_core::ports::{
    Decision, Health, LimitKind, OutcomeStore, RateLimiter, RevocationList, SessionStore,
    StoreError,
};
use wxlogin_store_redis::limits::RedisRateLimiter;
use wxlogin_store_redis::outcomes::RedisOutcomes;
use wxlogin_store_redis::revocations::RedisRevocations;
use wxlogin_store_redis::sessions::RedisSessions;
use wxlogin_testkit::TestDb;
use wxlogin_testkit::fixtures::{at, h};

use super::limits::{RATE, is_limited};
use super::{TestRedis, eventually};

/// Long enough for the connection manager to reconnect (it backs off between attempts).
const RECOVERY: Duration = Duration::from_secs(10);

#[tokio::test]
async fn while_redis_is_cut_limits_hold_per_instance_and_are_shared_again_after() {
    let Some(redis) = TestRedis::new().await else {
        return;
    };
    let (proxy, through) = redis.through_proxy().await;
    let cut_off = RedisRateLimiter::new(through.clone());
    let direct = RedisRateLimiter::new(redis.second_instance().await);
    let kind = LimitKind::Ip;

    assert_eq!(
        cut_off.acquire_shared(kind, "before", RATE).await.unwrap(),
        Decision::Allowed
    );

    proxy.cut();
    let failed = cut_off.acquire_shared(kind, "during", RATE).await;
    assert!(
        matches!(failed, Err(StoreError::Unavailable { .. })),
        "{failed:?}"
    );
    // The limiter still limits, on its own: a burst passes, the next call waits. (Only the
    // first call tries Redis, slowly; the others skip it for a second, so the four decisions
    // fall within one refill interval.)
    for _ in 0..3 {
        assert_eq!(
            cut_off.acquire(kind, "during", RATE).await.unwrap(),
            Decision::Allowed
        );
    }
    assert!(is_limited(
        cut_off.acquire(kind, "during", RATE).await.unwrap()
    ));
    // Those calls never reached Redis: the shared bucket is still full.
    for _ in 0..3 {
        assert_eq!(
            direct.acquire_shared(kind, "during", RATE).await.unwrap(),
            Decision::Allowed
        );
    }

    proxy.restore();
    // Recovered once a bucket another instance emptied in Redis limits this one too (a
    // fresh key each round, so that this instance's memory bucket for it is always full).
    let mut round = 0;
    eventually(RECOVERY, "the limiter asks Redis again", || {
        round += 1;
        let key = format!("after-{round}");
        let (direct, cut_off) = (&direct, &cut_off);
        async move {
            for _ in 0..3 {
                direct.acquire_shared(kind, &key, RATE).await.unwrap();
            }
            is_limited(cut_off.acquire(kind, &key, RATE).await.unwrap())
        }
    })
    .await;
    drop(proxy);
    redis.cleanup().await;
}

#[tokio::test]
async fn while_redis_is_cut_the_other_adapters_answer_unavailable_then_recover() {
    let Some(redis) = TestRedis::new().await else {
        return;
    };
    let (proxy, through) = redis.through_proxy().await;
    let db = TestDb::sqlite();
    let sessions = RedisSessions::new(through.clone(), Arc::new(db.open(1).await));
    let outcomes = RedisOutcomes::new(through.clone());
    let revocations = RedisRevocations::new(through.clone());
    assert!(
        sessions
            .live_session(&h("s"), at(0))
            .await
            .unwrap()
            .is_none()
    );

    proxy.cut();
    let unavailable = |e: StoreError| matches!(e, StoreError::Unavailable { .. });
    assert!(unavailable(
        sessions.live_session(&h("s"), at(0)).await.unwrap_err()
    ));
    assert!(unavailable(
        outcomes
            .claim(&[9; 32], Duration::from_secs(30))
            .await
            .unwrap_err()
    ));
    assert!(unavailable(outcomes.release(&[9; 32]).await.unwrap_err()));
    assert!(unavailable(
        revocations.is_revoked(&fam("fam")).await.unwrap_err()
    ));
    let revoke = revocations
        .revoke(&[fam("fam")], Duration::from_secs(60))
        .await;
    assert!(unavailable(revoke.unwrap_err()));
    assert!(unavailable(through.ping().await.unwrap_err()));

    proxy.restore();
    eventually(RECOVERY, "the adapters reach Redis again", || async {
        sessions.live_session(&h("s"), at(0)).await.is_ok()
    })
    .await;
    assert!(!revocations.is_revoked(&fam("fam")).await.unwrap());

    drop(proxy);
    redis.cleanup().await;
}
