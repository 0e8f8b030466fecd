//! `RedisRevocations`: revoked families with a TTL.

use std::time::Duration;
use wxlogin_testkit::fixtures::fam;

use wxlogin_core::ports::RevocationList;
use wxlogin_store_redis::revocations::RedisRevocations;

use super::{TestRedis, eventually};

#[tokio::test]
async fn revoked_families_are_listed_for_their_ttl() {
    let Some(mut redis) = TestRedis::new().await else {
        return;
    };
    let list = RedisRevocations::new(redis.store.clone());
    let other = RedisRevocations::new(redis.second_instance().await);
    let ids = [fam("fam-a"), fam("fam-b"), fam("fam-c")];

    list.revoke(&ids[..2], Duration::from_secs(960))
        .await
        .unwrap();
    list.revoke(&[], Duration::from_secs(960)).await.unwrap();
    assert!(other.is_revoked(&fam("fam-a")).await.unwrap());
    assert!(other.is_revoked(&fam("fam-b")).await.unwrap());
    assert!(!other.is_revoked(&fam("fam-c")).await.unwrap());

    let key = format!("{}{{fam-a}}:revoked", redis.prefix);
    let ttl = redis.pttl(&key).await;
    assert!((959_000..=960_000).contains(&ttl), "{ttl}");
    let mut keys = redis.keys().await;
    keys.sort();
    assert_eq!(
        keys,
        vec![key, format!("{}{{fam-b}}:revoked", redis.prefix)]
    );

    // Revoking again is idempotent and restarts the TTL; short TTLs run out.
    list.revoke(&ids, Duration::from_millis(150)).await.unwrap();
    assert!(list.is_revoked(&fam("fam-c")).await.unwrap());
    eventually(Duration::from_secs(5), "the entries expire", || async {
        !list.is_revoked(&fam("fam-a")).await.unwrap()
            && !list.is_revoked(&fam("fam-c")).await.unwrap()
    })
    .await;

    redis.cleanup().await;
}
