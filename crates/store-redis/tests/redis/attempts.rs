//! `RedisAttempts`: failure counts shared by instances, expiring from the first failure.

use std::time::Duration;

use wxlogin_core::ports::AttemptCounter;
use wxlogin_store_redis::attempts::RedisAttempts;

use super::{TestRedis, eventually};

#[tokio::test]
async fn failures_add_up_across_instances_and_expire_from_the_first() {
    let Some(mut redis) = TestRedis::new().await else {
        return;
    };
    let a = RedisAttempts::new(redis.store.clone());
    let b = RedisAttempts::new(redis.second_instance().await);
    let (key, other) = ([7u8; 32], [8u8; 32]);

    assert_eq!(a.failures(&key).await.unwrap(), 0);
    assert_eq!(
        a.record_failure(&key, Duration::from_secs(600))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        b.record_failure(&key, Duration::from_secs(600))
            .await
            .unwrap(),
        2
    );
    assert_eq!(a.failures(&key).await.unwrap(), 2);
    assert_eq!(b.failures(&other).await.unwrap(), 0);

    // The TTL starts with the first failure and is not pushed back by later ones.
    let name = format!("{}{{{}}}:failures", redis.prefix, "07".repeat(32));
    let ttl = redis.pttl(&name).await;
    assert!((590_000..=600_000).contains(&ttl), "{ttl}");
    b.record_failure(&key, Duration::from_secs(9_999))
        .await
        .unwrap();
    assert!(redis.pttl(&name).await <= 600_000);

    a.record_failure(&other, Duration::from_millis(100))
        .await
        .unwrap();
    eventually(Duration::from_secs(5), "the count expires", || async {
        a.failures(&other).await.unwrap() == 0
    })
    .await;

    redis.cleanup().await;
}
