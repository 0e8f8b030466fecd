//! `RedisTokenLease`: the access-token lease's scripts and key layout. The scenarios that do
//! not look at Redis' keys run against core's `MemoryTokenLease` too, so the in-memory lease
//! that `wxlogin-wechat` tests its orchestration against answers like the scripts.

use std::time::Duration;

use wxlogin_core::ids::AppId;
use wxlogin_core::lease::{Acquired, Fence, MemoryTokenLease, SharedToken, TokenHash, TokenLease};
use wxlogin_core::ports::StoreError;
use wxlogin_core::secret::WxAccessToken;
use wxlogin_store_redis::lease::RedisTokenLease;

use super::{TestRedis, eventually};

const APP: &str = "wx0000000000000001";
const LEASE: Duration = Duration::from_secs(20);
const TTL: Duration = Duration::from_secs(7200);
/// Long enough for the connection manager to reconnect (it backs off between attempts).
const RECOVERY: Duration = Duration::from_secs(10);

fn app() -> AppId {
    AppId::parse(APP).unwrap()
}

/// A token as the orchestration would publish it (the "sealed" bytes need not open here).
fn token(value: &str, fence: Fence) -> SharedToken {
    SharedToken {
        sealed: format!("sealed:{value}").into_bytes(),
        hash: TokenHash::of(&WxAccessToken::new(value)),
        refresh_at_ms: 1_700_000_000_000,
        expires_at_ms: 1_700_000_300_000,
        fence,
    }
}

async fn won(lease: &dyn TokenLease, seen: Option<Fence>, duration: Duration) -> Fence {
    match lease.acquire(&app(), seen, duration).await.unwrap() {
        Acquired::Won(fence) => fence,
        other => panic!("expected to win the lease, got {other:?}"),
    }
}

/// Runs `scenario` against Redis (under this test's prefix) and against the in-memory lease.
async fn on_both<F>(redis: &TestRedis, scenario: F)
where
    F: AsyncFn(&dyn TokenLease),
{
    scenario(&RedisTokenLease::new(redis.store.clone())).await;
    scenario(&MemoryTokenLease::new()).await;
}

#[tokio::test]
async fn a_published_token_reads_back_whole_under_one_hash_tag_and_frees_the_lease() {
    let Some(mut redis) = TestRedis::new().await else {
        return;
    };
    let lease = RedisTokenLease::new(redis.store.clone());
    let other = RedisTokenLease::new(redis.second_instance().await);
    assert!(lease.read(&app()).await.unwrap().is_none());

    let fence = won(&lease, None, LEASE).await;
    let lease_key = format!("{}{{wechat-token:{APP}}}:lease", redis.prefix);
    let held = redis.pttl(&lease_key).await;
    assert!((19_000..=20_000).contains(&held), "{held}");
    let published = token("t1", fence);
    assert!(lease.publish(&app(), &published, TTL).await.unwrap());

    assert_eq!(other.read(&app()).await.unwrap(), Some(published));
    let mut keys = redis.keys().await;
    keys.sort();
    let prefix = redis.prefix.clone();
    let key = |rest: &str| format!("{prefix}{{wechat-token:{APP}}}:{rest}");
    assert_eq!(keys, vec![key("fence"), key("token")], "the lease is gone");
    let ttl = redis.pttl(&key("token")).await;
    assert!((7_199_000..=7_200_000).contains(&ttl), "{ttl}");
    assert_eq!(
        redis.pttl(&key("fence")).await,
        -1,
        "the counter never expires"
    );
    let mut fields: Vec<String> = redis::cmd("HKEYS")
        .arg(key("token"))
        .query_async(&mut redis.raw)
        .await
        .unwrap();
    fields.sort();
    assert_eq!(
        fields,
        ["expires_at", "fence", "refresh_at", "sealed", "sha256"]
    );
    redis.cleanup().await;
}

#[tokio::test]
async fn one_caller_wins_the_lease_and_a_caller_that_saw_an_older_token_is_told_it_changed() {
    let Some(redis) = TestRedis::new().await else {
        return;
    };
    on_both(&redis, async |lease: &dyn TokenLease| {
        let first = won(lease, None, LEASE).await;
        let Acquired::Held { remaining } = lease.acquire(&app(), None, LEASE).await.unwrap() else {
            panic!("the lease is held");
        };
        assert!(remaining <= LEASE && remaining > LEASE / 2, "{remaining:?}");
        assert!(
            lease
                .publish(&app(), &token("t1", first), TTL)
                .await
                .unwrap()
        );
        assert_eq!(
            lease.acquire(&app(), None, LEASE).await.unwrap(),
            Acquired::Changed,
            "a token appeared since the caller read"
        );
        let second = won(lease, Some(first), LEASE).await;
        assert!(second > first);
    })
    .await;
    redis.cleanup().await;
}

#[tokio::test]
async fn a_holder_whose_lease_was_taken_over_cannot_publish() {
    let Some(redis) = TestRedis::new().await else {
        return;
    };
    on_both(&redis, async |lease: &dyn TokenLease| {
        let short = Duration::from_millis(100);
        let first = won(lease, None, short).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        let second = won(lease, None, LEASE).await;
        assert!(second > first);

        assert!(
            !lease
                .publish(&app(), &token("old", first), TTL)
                .await
                .unwrap()
        );
        assert!(lease.read(&app()).await.unwrap().is_none());
        lease.release(&app(), first).await.unwrap();
        assert!(
            matches!(
                lease.acquire(&app(), None, LEASE).await.unwrap(),
                Acquired::Held { .. }
            ),
            "the stale holder's release left the new lease alone"
        );
        assert!(
            lease
                .publish(&app(), &token("new", second), TTL)
                .await
                .unwrap()
        );
        assert_eq!(lease.read(&app()).await.unwrap().unwrap().fence, second);
    })
    .await;
    redis.cleanup().await;
}

#[tokio::test]
async fn release_frees_the_lease_and_invalidation_deletes_only_the_refused_token() {
    let Some(redis) = TestRedis::new().await else {
        return;
    };
    on_both(&redis, async |lease: &dyn TokenLease| {
        let failed = won(lease, None, LEASE).await;
        lease.release(&app(), failed).await.unwrap();
        let fence = won(lease, None, LEASE).await;
        assert!(
            lease
                .publish(&app(), &token("t", fence), TTL)
                .await
                .unwrap()
        );

        let other = TokenHash::of(&WxAccessToken::new("another token"));
        assert!(!lease.invalidate_if(&app(), &other).await.unwrap());
        assert!(lease.read(&app()).await.unwrap().is_some());
        let refused = TokenHash::of(&WxAccessToken::new("t"));
        assert!(lease.invalidate_if(&app(), &refused).await.unwrap());
        assert!(lease.read(&app()).await.unwrap().is_none());
        assert!(
            !lease.invalidate_if(&app(), &refused).await.unwrap(),
            "idempotent"
        );
    })
    .await;
    redis.cleanup().await;
}

#[tokio::test]
async fn fences_keep_growing_after_the_counter_is_lost() {
    let Some(mut redis) = TestRedis::new().await else {
        return;
    };
    let lease = RedisTokenLease::new(redis.store.clone());
    let mut fence = won(&lease, None, LEASE).await;
    for _ in 0..3 {
        assert!(
            lease
                .publish(&app(), &token("t", fence), TTL)
                .await
                .unwrap()
        );
        fence = won(&lease, Some(fence), LEASE).await;
    }
    assert!(
        lease
            .publish(&app(), &token("t", fence), TTL)
            .await
            .unwrap()
    );
    // Redis lost the counter (an eviction, a failover without it), not the token.
    let _: () = redis::cmd("DEL")
        .arg(format!("{}{{wechat-token:{APP}}}:fence", redis.prefix))
        .query_async(&mut redis.raw)
        .await
        .unwrap();

    let next = won(&lease, Some(fence), LEASE).await;
    assert_eq!(
        next,
        Fence(fence.0 + 1),
        "continues above the stored token's fence"
    );
    assert!(lease.publish(&app(), &token("u", next), TTL).await.unwrap());
    redis.cleanup().await;
}

#[tokio::test]
async fn an_incomplete_token_hash_reads_as_no_token() {
    let Some(mut redis) = TestRedis::new().await else {
        return;
    };
    let lease = RedisTokenLease::new(redis.store.clone());
    let _: () = redis::cmd("HSET")
        .arg(format!("{}{{wechat-token:{APP}}}:token", redis.prefix))
        .arg(&["sealed", "x", "fence", "3"])
        .query_async(&mut redis.raw)
        .await
        .unwrap();
    assert!(lease.read(&app()).await.unwrap().is_none());
    redis.cleanup().await;
}

#[tokio::test]
async fn while_redis_is_cut_every_step_is_unavailable_then_recovers() {
    let Some(redis) = TestRedis::new().await else {
        return;
    };
    let (proxy, through) = redis.through_proxy().await;
    let lease = RedisTokenLease::new(through);
    let fence = won(&lease, None, LEASE).await;

    proxy.cut();
    let unavailable = |e: StoreError| matches!(e, StoreError::Unavailable { .. });
    let hash = TokenHash::of(&WxAccessToken::new("t"));
    assert!(unavailable(lease.read(&app()).await.unwrap_err()));
    assert!(unavailable(
        lease.acquire(&app(), None, LEASE).await.unwrap_err()
    ));
    assert!(unavailable(
        lease
            .publish(&app(), &token("t", fence), TTL)
            .await
            .unwrap_err()
    ));
    assert!(unavailable(lease.release(&app(), fence).await.unwrap_err()));
    assert!(unavailable(
        lease.invalidate_if(&app(), &hash).await.unwrap_err()
    ));

    proxy.restore();
    eventually(RECOVERY, "the lease reaches Redis again", || async {
        lease.read(&app()).await.is_ok()
    })
    .await;
    assert!(
        lease
            .publish(&app(), &token("t", fence), TTL)
            .await
            .unwrap()
    );
    drop(proxy);
    redis.cleanup().await;
}
