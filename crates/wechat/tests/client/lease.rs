//! The cluster-wide token source ([`LeasedTokenSource`]) over core's in-memory lease: two
//! sources on one [`MemoryTokenLease`] play two instances. The Redis scripts behind the same
//! port are tested in `wxlogin-store-redis`, and both together, end to end, in
//! `crates/server/tests/token_lease.rs`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::task::JoinSet;
use wxlogin_core::crypto::{MasterKey, Sealer};
use wxlogin_core::ids::AppId;
use wxlogin_core::lease::{Acquired, Fence, MemoryTokenLease, SharedToken, TokenHash, TokenLease};
use wxlogin_core::ports::{StoreError, StoreResult};
use wxlogin_core::secret::WxAccessToken;
use wxlogin_wechat::{
    AccessTokenSource, LeaseOptions, LeaseStatus, LeasedTokenSource, WeChatError,
};
use wxlogin_wechat_sim::{Api, Fault};

use crate::support::{APP, TestEnv};

/// A [`MemoryTokenLease`] that can be cut off like a Redis behind a proxy.
#[derive(Default)]
struct Store {
    memory: MemoryTokenLease,
    cut: AtomicBool,
}

impl Store {
    fn up(&self) -> StoreResult<&MemoryTokenLease> {
        if self.cut.load(Ordering::SeqCst) {
            return Err(StoreError::unavailable("redis read", "connection refused"));
        }
        Ok(&self.memory)
    }

    fn set_cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::SeqCst);
    }

    async fn stored(&self) -> Option<SharedToken> {
        self.memory
            .read(&app())
            .await
            .expect("the memory lease never fails")
    }

    fn lease_held(&self) -> bool {
        self.memory.holder(&app()).is_some()
    }
}

#[async_trait]
impl TokenLease for Store {
    async fn read(&self, app: &AppId) -> StoreResult<Option<SharedToken>> {
        self.up()?.read(app).await
    }

    async fn acquire(
        &self,
        app: &AppId,
        seen: Option<Fence>,
        lease: Duration,
    ) -> StoreResult<Acquired> {
        self.up()?.acquire(app, seen, lease).await
    }

    async fn publish(&self, app: &AppId, token: &SharedToken, ttl: Duration) -> StoreResult<bool> {
        self.up()?.publish(app, token, ttl).await
    }

    async fn release(&self, app: &AppId, fence: Fence) -> StoreResult<()> {
        self.up()?.release(app, fence).await
    }

    async fn invalidate_if(&self, app: &AppId, hash: &TokenHash) -> StoreResult<bool> {
        self.up()?.invalidate_if(app, hash).await
    }
}

/// One test's cluster: a simulator, one store, one master key.
struct Cluster {
    env: TestEnv,
    store: Arc<Store>,
    sealer: Sealer,
}

impl Cluster {
    async fn start() -> Self {
        Self {
            env: TestEnv::spawn().await,
            store: Arc::default(),
            sealer: MasterKey::generate().sealer(),
        }
    }

    /// An "instance" on the shared store, with `options`.
    fn instance(&self, options: LeaseOptions) -> LeasedTokenSource {
        LeasedTokenSource::new(
            self.store.clone(),
            self.env.client.clone(),
            TestEnv::apps(),
            self.sealer.clone(),
            options,
        )
    }

    /// Default options, except the clock: the test's, which [`TestEnv::advance`] moves.
    fn options(&self) -> LeaseOptions {
        LeaseOptions {
            clock: self.env.clock.clone(),
            ..LeaseOptions::default()
        }
    }

    fn fetches(&self) -> u64 {
        self.env.calls("stable_token")
    }
}

fn app() -> AppId {
    TestEnv::app()
}

/// Polls `check` every few milliseconds for up to 10 s.
async fn eventually<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    for _ in 0..2000 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_gets_on_two_instances_cause_one_fetch_and_the_token_is_shared_sealed() {
    let cluster = Cluster::start().await;
    let a = cluster.instance(cluster.options());
    let b = cluster.instance(cluster.options());

    let mut gets = JoinSet::new();
    for i in 0..50 {
        let source = if i % 2 == 0 { a.clone() } else { b.clone() };
        gets.spawn(async move { source.get(&app()).await });
    }
    let tokens: Vec<WxAccessToken> = gets
        .join_all()
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    assert_eq!(
        cluster.fetches(),
        1,
        "one stable_token call for the cluster"
    );
    assert!(tokens.iter().all(|t| t == &tokens[0]));
    let stored = cluster.store.stored().await.unwrap();
    let clear = tokens[0].expose_secret().as_bytes();
    assert!(
        !stored.sealed.windows(clear.len()).any(|w| w == clear),
        "the store holds the access token in clear"
    );
    let opened = cluster
        .sealer
        .open_string(&format!("wechat-token:{APP}"), &stored.sealed)
        .unwrap();
    assert_eq!(opened.as_str(), tokens[0].expose_secret());
    assert_eq!(stored.hash, TokenHash::of(&tokens[0]));
    assert!(stored.refresh_at_ms < stored.expires_at_ms);
    assert!(!cluster.store.lease_held(), "publishing freed the lease");

    let error = a
        .get(&AppId::parse("wx00000000000000ff").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(error, WeChatError::NotConfigured(_)), "{error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_40001_seen_by_both_instances_causes_exactly_one_more_fetch() {
    let cluster = Cluster::start().await;
    let a = cluster.instance(cluster.options());
    let b = cluster.instance(cluster.options());
    let old = a.get(&app()).await.unwrap();
    assert!(b.get(&app()).await.unwrap() == old);
    assert_eq!(cluster.fetches(), 1);

    // WeChat kills the token; both instances see 40001 and invalidate it, then retry.
    cluster.env.sim().invalidate_tokens(APP).unwrap();
    let id = app();
    tokio::join!(a.invalidate_if(&id, &old), b.invalidate_if(&id, &old));
    let (from_a, from_b) = tokio::join!(a.get(&id), b.get(&id));
    let (from_a, from_b) = (from_a.unwrap(), from_b.unwrap());

    assert!(from_a == from_b, "both instances share the new token");
    assert!(from_a != old);
    assert_eq!(cluster.fetches(), 2, "exactly one more fetch");

    // A slow instance invalidating the old token afterwards changes nothing.
    b.invalidate_if(&app(), &old).await;
    let late = cluster.instance(cluster.options());
    assert!(late.get(&app()).await.unwrap() == from_a);
    assert!(b.get(&app()).await.unwrap() == from_a);
    assert_eq!(cluster.fetches(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_whose_lease_expired_cannot_overwrite_the_next_holders_token() {
    let cluster = Cluster::start().await;
    let short = LeaseOptions {
        lease: Duration::from_millis(300),
        ..cluster.options()
    };
    let a = cluster.instance(short.clone());
    let b = cluster.instance(short);
    // A's fetch is answered 2 s late, long after its 300 ms lease.
    cluster
        .env
        .sim()
        .inject_fault(Fault::delay_only(Api::StableToken, Duration::from_secs(2)));

    let slow = tokio::spawn({
        let a = a.clone();
        async move { a.get(&app()).await }
    });
    let store = &cluster.store;
    eventually("A holds the lease", || async { store.lease_held() }).await;
    eventually("A's lease expired", || async { !store.lease_held() }).await;
    let from_b = b.get(&app()).await.unwrap();
    let fence_b = store.stored().await.unwrap().fence;
    // WeChat now issues another token, which A's delayed request will get.
    cluster.env.sim().invalidate_tokens(APP).unwrap();
    let from_a = slow.await.unwrap().unwrap();

    assert!(from_a != from_b, "A fetched after the invalidation");
    assert_eq!(cluster.fetches(), 2);
    let stored = store.stored().await.unwrap();
    assert_eq!(stored.fence, fence_b, "B's write stands");
    assert_eq!(stored.hash, TokenHash::of(&from_b));
    let fresh = cluster.instance(cluster.options());
    assert!(fresh.get(&app()).await.unwrap() == from_b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_the_refresh_window_one_instance_refreshes_in_the_background() {
    let cluster = Cluster::start().await;
    let a = cluster.instance(cluster.options());
    let b = cluster.instance(cluster.options());
    let old = a.get(&app()).await.unwrap();
    let old_fence = cluster.store.stored().await.unwrap().fence;

    // 299 s left: inside the 300 s margin and WeChat's own renewal window. The refresh is
    // answered 500 ms late, so both instances ask while it runs.
    cluster.env.sim().inject_fault(Fault::delay_only(
        Api::StableToken,
        Duration::from_millis(500),
    ));
    cluster.env.advance(Duration::from_secs(6901));
    let during_a = a.get(&app()).await.unwrap();
    let store = &cluster.store;
    eventually("one instance holds the lease", || async {
        store.lease_held()
    })
    .await;
    let during_b = b.get(&app()).await.unwrap();
    eventually("the successor is shared", || async {
        store.stored().await.is_some_and(|s| s.fence != old_fence) && !store.lease_held()
    })
    .await;
    let after = b.get(&app()).await.unwrap();

    assert!(during_a == old, "the still-valid token is served at once");
    assert!(during_b == old);
    assert!(after != old, "the background fetch got WeChat's successor");
    assert!(a.get(&app()).await.unwrap() == after);
    assert_eq!(
        cluster.fetches(),
        2,
        "exactly one refresh for both instances"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_store_tokens_come_from_the_instance_with_limited_refetches_until_it_returns() {
    let cluster = Cluster::start().await;
    let source = cluster.instance(LeaseOptions {
        local_ttl: Duration::ZERO, // every get asks the store
        probe_interval: Duration::from_millis(20),
        ..cluster.options()
    });
    let shared = source.get(&app()).await.unwrap();
    assert_eq!(source.status(), LeaseStatus::Shared);

    cluster.store.set_cut(true);
    let cut = source.get(&app()).await.unwrap();
    assert!(cut == shared, "the last shared token is still served");
    assert_eq!(source.status(), LeaseStatus::Degraded);
    assert_eq!(cluster.fetches(), 1);

    // A refusal while degraded: one local refetch.
    cluster.env.sim().invalidate_tokens(APP).unwrap();
    source.invalidate_if(&app(), &shared).await;
    let local = source.get(&app()).await.unwrap();
    assert!(local != shared);
    assert_eq!(cluster.fetches(), 2, "the fallback fetched");
    // Another one right after: limited, the token stays.
    cluster.env.sim().invalidate_tokens(APP).unwrap();
    source.invalidate_if(&app(), &local).await;
    assert!(source.get(&app()).await.unwrap() == local);
    assert_eq!(cluster.fetches(), 2, "refetches are limited while degraded");
    assert_eq!(source.status(), LeaseStatus::Degraded);
    assert!(
        cluster.store.stored().await.unwrap().hash == TokenHash::of(&shared),
        "tokens fetched while degraded are not written to the store"
    );

    cluster.store.set_cut(false);
    eventually("the source is shared again", || async {
        source.get(&app()).await.is_ok() && source.status() == LeaseStatus::Shared
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_whose_fetch_fails_frees_the_lease_and_the_next_caller_fetches_again() {
    let cluster = Cluster::start().await;
    let source = cluster.instance(cluster.options());
    cluster.env.fault(Api::StableToken, -1, 3);

    let error = source.get(&app()).await.unwrap_err();
    assert!(matches!(error, WeChatError::TokenRefresh(_)), "{error:?}");
    assert!(
        !cluster.store.lease_held(),
        "the failed holder released the lease"
    );
    assert!(cluster.store.stored().await.is_none());
    assert_eq!(
        source.status(),
        LeaseStatus::Shared,
        "WeChat failed, not the store"
    );

    let token = source.get(&app()).await.unwrap();
    assert_eq!(
        cluster.fetches(),
        4,
        "three failed attempts, then one fetch"
    );
    assert_eq!(
        cluster.store.stored().await.unwrap().hash,
        TokenHash::of(&token)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_token_sealed_under_another_master_key_is_refetched() {
    let cluster = Cluster::start().await;
    let foreign = LeasedTokenSource::new(
        cluster.store.clone(),
        cluster.env.client.clone(),
        TestEnv::apps(),
        MasterKey::generate().sealer(),
        cluster.options(),
    );
    let theirs = foreign.get(&app()).await.unwrap();

    let ours = cluster
        .instance(cluster.options())
        .get(&app())
        .await
        .unwrap();
    assert_eq!(
        cluster.fetches(),
        2,
        "the stored token did not open: fetched again"
    );
    // stable_token in normal mode hands out the same token: both still work.
    assert!(ours == theirs);
    let opened = cluster.sealer.open_string(
        &format!("wechat-token:{APP}"),
        &cluster.store.stored().await.unwrap().sealed,
    );
    assert!(
        opened.is_ok(),
        "the refetched token is stored under our key"
    );
}
