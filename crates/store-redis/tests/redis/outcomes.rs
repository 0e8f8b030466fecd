//! `RedisOutcomes`: claims and sealed outcomes.

use std::sync::Arc;
use std::time::Duration;

use wxlogin_core::ports::{Claim, OutcomeStore};
use wxlogin_store_redis::outcomes::RedisOutcomes;

use super::{TestRedis, eventually};

const LEASE: Duration = Duration::from_secs(30);
const TTL: Duration = Duration::from_secs(300);
/// Binary, and starting with the byte that marks a claim: only the value's own tag counts.
const SEALED: &[u8] = b"c\x00\xffsealed outcome\r\n";

fn key_of(redis: &TestRedis, key: &[u8; 32]) -> String {
    format!("{}{{{}}}:outcome", redis.prefix, hex::encode(key))
}

#[tokio::test]
async fn a_claim_is_won_once_then_pending_then_done_for_its_ttl() {
    let Some(mut redis) = TestRedis::new().await else {
        return;
    };
    let a = RedisOutcomes::new(redis.store.clone());
    let b = RedisOutcomes::new(redis.second_instance().await);
    let key = [1; 32];

    assert_eq!(a.claim(&key, LEASE).await.unwrap(), Claim::Won);
    assert_eq!(b.claim(&key, LEASE).await.unwrap(), Claim::Pending);
    assert_eq!(a.claim(&key, LEASE).await.unwrap(), Claim::Pending);
    let ttl = redis.pttl(&key_of(&redis, &key)).await;
    assert!((29_000..=30_000).contains(&ttl), "lease {ttl}");

    a.complete(&key, SEALED, TTL).await.unwrap();
    assert_eq!(
        b.claim(&key, LEASE).await.unwrap(),
        Claim::Done(SEALED.to_vec())
    );
    assert_eq!(
        a.claim(&key, LEASE).await.unwrap(),
        Claim::Done(SEALED.to_vec())
    );
    let ttl = redis.pttl(&key_of(&redis, &key)).await;
    assert!((299_000..=300_000).contains(&ttl), "outcome {ttl}");

    // A release never drops an outcome, whoever asks.
    a.release(&key).await.unwrap();
    b.release(&key).await.unwrap();
    assert_eq!(
        b.claim(&key, LEASE).await.unwrap(),
        Claim::Done(SEALED.to_vec())
    );

    // Only the key's hash is in the key; the value is the sealed bytes behind a tag.
    assert_eq!(redis.keys().await, vec![key_of(&redis, &key)]);
    let raw = redis.get(&key_of(&redis, &key)).await.unwrap();
    assert_eq!(raw[0], b'd');
    assert_eq!(&raw[1..], SEALED);

    redis.cleanup().await;
}

#[tokio::test]
async fn a_release_drops_only_the_releasing_instances_claim() {
    let Some(redis) = TestRedis::new().await else {
        return;
    };
    let a = RedisOutcomes::new(redis.store.clone());
    let b = RedisOutcomes::new(redis.store.clone());
    let key = [2; 32];

    assert_eq!(a.claim(&key, LEASE).await.unwrap(), Claim::Won);
    b.release(&key).await.unwrap();
    assert_eq!(b.claim(&key, LEASE).await.unwrap(), Claim::Pending);
    a.release(&key).await.unwrap();
    assert_eq!(b.claim(&key, LEASE).await.unwrap(), Claim::Won);
    // Releasing what is not claimed is a no-op.
    a.release(&[3; 32]).await.unwrap();

    redis.cleanup().await;
}

#[tokio::test]
async fn a_claim_whose_holder_died_expires_with_its_lease() {
    let Some(mut redis) = TestRedis::new().await else {
        return;
    };
    let a = RedisOutcomes::new(redis.store.clone());
    let b = RedisOutcomes::new(redis.store.clone());
    let key = [4; 32];

    assert_eq!(
        a.claim(&key, Duration::from_millis(200)).await.unwrap(),
        Claim::Won
    );
    assert!(redis.pttl(&key_of(&redis, &key)).await <= 200);
    assert_eq!(b.claim(&key, LEASE).await.unwrap(), Claim::Pending);
    // `a` never completes: `b` takes over once the lease is over.
    eventually(Duration::from_secs(5), "the lease expires", || async {
        b.claim(&key, LEASE).await.unwrap() == Claim::Won
    })
    .await;
    // `a`'s late release does not drop `b`'s claim; its late outcome still counts.
    a.release(&key).await.unwrap();
    assert_eq!(a.claim(&key, LEASE).await.unwrap(), Claim::Pending);
    a.complete(&key, SEALED, TTL).await.unwrap();
    assert_eq!(
        b.claim(&key, LEASE).await.unwrap(),
        Claim::Done(SEALED.to_vec())
    );

    redis.cleanup().await;
}

#[tokio::test]
async fn of_twenty_concurrent_claims_on_two_instances_exactly_one_wins() {
    let Some(redis) = TestRedis::new().await else {
        return;
    };
    let instances = [
        Arc::new(RedisOutcomes::new(redis.store.clone())),
        Arc::new(RedisOutcomes::new(redis.second_instance().await)),
    ];
    let key = [5; 32];
    let start = Arc::new(tokio::sync::Barrier::new(20));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (store, start) = (instances[i % 2].clone(), start.clone());
        tasks.spawn(async move {
            start.wait().await;
            store.claim(&key, LEASE).await.unwrap()
        });
    }
    let claims = tasks.join_all().await;
    let won = claims.iter().filter(|c| **c == Claim::Won).count();
    let pending = claims.iter().filter(|c| **c == Claim::Pending).count();
    assert_eq!((won, pending), (1, 19), "{claims:?}");

    redis.cleanup().await;
}
