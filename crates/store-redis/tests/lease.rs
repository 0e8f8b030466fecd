//! The cluster-wide access-token lease against a real Redis, named by
//! `WXLOGIN_TEST_REDIS_URL` (`redis://127.0.0.1:6379/0`), and the in-process WeChat
//! simulator; without the variable every test passes after a visible NOTICE.
//!
//! Two `RedisTokenSource`s on one Redis play two instances. Each test works under a key
//! prefix of its own and deletes its keys at the end.

// Tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio::task::JoinSet;
use url::Url;
use wxlogin_core::crypto::{HandleHash, MasterKey, Sealer};
use wxlogin_core::ids::AppId;
use wxlogin_core::secret::{AppSecret, WxAccessToken};
use wxlogin_store_redis::lease::{LeaseOptions, LeaseStatus, RedisTokenSource};
use wxlogin_store_redis::{RedisOptions, RedisStore};
use wxlogin_testkit::{TcpProxy, backend_url};
use wxlogin_wechat::{AccessTokenSource, ClientConfig, ManualClock, RetryPolicy, WeChatClient};
use wxlogin_wechat_sim::{Api, Fault, Sim, SimConfig, SimHandle, spawn};

/// The simulator's dev app.
const APP: &str = "wx0000000000000001";
const SECRET: &str = "dev-secret-not-for-production";

/// One test's world: a simulator, a client for it, a Redis prefix and a master key.
struct Env {
    url: String,
    prefix: String,
    sim: SimHandle,
    client: WeChatClient,
    sealer: Sealer,
    raw: MultiplexedConnection,
}

impl Env {
    /// `None`, after a NOTICE, when `WXLOGIN_TEST_REDIS_URL` is unset.
    async fn start() -> Option<Self> {
        let url = backend_url("WXLOGIN_TEST_REDIS_URL", "Redis")?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sim = spawn(
            listener,
            Sim::new(SimConfig::default()),
            std::future::pending(),
        )
        .await
        .unwrap();
        let base_url = Url::parse(&sim.base_url()).unwrap();
        assert_eq!(base_url.host_str(), Some("127.0.0.1"), "loopback only");
        let client = WeChatClient::new(ClientConfig {
            token_retry: RetryPolicy::immediate(3),
            use_system_proxy: false,
            ..ClientConfig::new(base_url)
        })
        .unwrap();
        let raw = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        Some(Self {
            prefix: format!("wxlogin-test-{}:", uuid::Uuid::new_v4().simple()),
            url,
            sim,
            client,
            sealer: MasterKey::generate().sealer(),
            raw,
        })
    }

    fn sim(&self) -> &Sim {
        self.sim.sim()
    }

    /// An "instance": its own Redis connection (to `url`), the shared prefix and master key.
    async fn instance_via(&self, url: &str, options: LeaseOptions) -> RedisTokenSource {
        let redis = RedisStore::connect(
            url,
            RedisOptions {
                prefix: self.prefix.clone(),
                ..RedisOptions::default()
            },
        )
        .await
        .unwrap();
        let apps = HashMap::from([(app(), AppSecret::new(SECRET))]);
        RedisTokenSource::new(
            redis,
            self.client.clone(),
            apps,
            self.sealer.clone(),
            options,
        )
    }

    async fn instance(&self, options: LeaseOptions) -> RedisTokenSource {
        self.instance_via(&self.url, options).await
    }

    /// stable_token calls the simulator has seen.
    fn fetches(&self) -> u64 {
        self.sim().stats()["calls"]["stable_token"]["total"]
            .as_u64()
            .unwrap()
    }

    fn key(&self, rest: &str) -> String {
        format!("{}{{wechat-token:{APP}}}:{rest}", self.prefix)
    }

    async fn keys(&self) -> Vec<String> {
        redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query_async(&mut self.raw.clone())
            .await
            .unwrap()
    }

    /// A field of the token hash, as stored.
    async fn token_field(&self, field: &str) -> Option<String> {
        redis::cmd("HGET")
            .arg(self.key("token"))
            .arg(field)
            .query_async(&mut self.raw.clone())
            .await
            .unwrap()
    }

    async fn lease_held(&self) -> bool {
        redis::cmd("EXISTS")
            .arg(self.key("lease"))
            .query_async::<i64>(&mut self.raw.clone())
            .await
            .unwrap()
            == 1
    }

    async fn cleanup(self) {
        let keys = self.keys().await;
        if !keys.is_empty() {
            redis::cmd("DEL")
                .arg(keys)
                .query_async::<()>(&mut self.raw.clone())
                .await
                .unwrap();
        }
    }
}

fn app() -> AppId {
    AppId::parse(APP).unwrap()
}

fn hash_of(token: &WxAccessToken) -> String {
    hex::encode(HandleHash::of(token.expose_secret()).0)
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
async fn fifty_concurrent_gets_on_two_instances_cause_one_fetch_and_the_token_is_stored_sealed() {
    let Some(env) = Env::start().await else {
        return;
    };
    let a = env.instance(LeaseOptions::default()).await;
    let b = env.instance(LeaseOptions::default()).await;

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
        env.fetches(),
        1,
        "one stable_token call for the whole cluster"
    );
    assert!(tokens.iter().all(|t| t == &tokens[0]));
    let token = tokens[0].expose_secret().as_bytes();
    let keys = env.keys().await;
    assert!(!keys.is_empty());
    for key in &keys {
        assert!(key.contains(&format!("{{wechat-token:{APP}}}")), "{key}");
        let kind: String = redis::cmd("TYPE")
            .arg(key)
            .query_async(&mut env.raw.clone())
            .await
            .unwrap();
        let values: Vec<Vec<u8>> = match kind.as_str() {
            "hash" => redis::cmd("HGETALL"),
            _ => redis::cmd("GET"),
        }
        .arg(key)
        .query_async(&mut env.raw.clone())
        .await
        .unwrap_or_else(|_| panic!("{key} is a {kind}"));
        for value in values {
            assert!(
                !value.windows(token.len()).any(|w| w == token),
                "{key} holds the access token in clear"
            );
        }
    }
    assert_eq!(
        env.token_field("sha256").await,
        Some(hash_of(&tokens[0])),
        "the hash beside the sealed value is the token's"
    );
    assert!(
        a.get(&AppId::parse("wx00000000000000ff").unwrap())
            .await
            .is_err(),
        "an unknown appid is refused"
    );
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_40001_seen_by_both_instances_causes_exactly_one_more_fetch() {
    let Some(env) = Env::start().await else {
        return;
    };
    let a = env.instance(LeaseOptions::default()).await;
    let b = env.instance(LeaseOptions::default()).await;
    let old = a.get(&app()).await.unwrap();
    assert!(b.get(&app()).await.unwrap() == old);
    assert_eq!(env.fetches(), 1);

    // WeChat kills the token; both instances see 40001 and invalidate it, then retry.
    env.sim().invalidate_tokens(APP).unwrap();
    let id = app();
    tokio::join!(a.invalidate_if(&id, &old), b.invalidate_if(&id, &old));
    let (from_a, from_b) = tokio::join!(a.get(&id), b.get(&id));
    let (from_a, from_b) = (from_a.unwrap(), from_b.unwrap());

    assert!(from_a == from_b, "both instances share the new token");
    assert!(from_a != old);
    assert_eq!(env.fetches(), 2, "exactly one more fetch");

    // A slow instance invalidating the old token afterwards changes nothing.
    b.invalidate_if(&app(), &old).await;
    let late = env.instance(LeaseOptions::default()).await;
    assert!(late.get(&app()).await.unwrap() == from_a);
    assert!(b.get(&app()).await.unwrap() == from_a);
    assert_eq!(env.fetches(), 2);
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_whose_lease_expired_cannot_overwrite_the_next_holders_token() {
    let Some(env) = Env::start().await else {
        return;
    };
    let short = LeaseOptions {
        lease: Duration::from_millis(300),
        ..LeaseOptions::default()
    };
    let a = env.instance(short.clone()).await;
    let b = env.instance(short).await;
    // A's fetch is answered 2 s late, long after its 300 ms lease.
    env.sim()
        .inject_fault(Fault::delay_only(Api::StableToken, Duration::from_secs(2)));

    let slow = tokio::spawn({
        let a = a.clone();
        async move { a.get(&app()).await }
    });
    eventually("A holds the lease", || env.lease_held()).await;
    eventually("A's lease expired", || async { !env.lease_held().await }).await;
    let from_b = b.get(&app()).await.unwrap();
    let fence_b = env.token_field("fence").await.unwrap();
    // WeChat now issues another token, which A's delayed request will get.
    env.sim().invalidate_tokens(APP).unwrap();
    let from_a = slow.await.unwrap().unwrap();

    assert!(from_a != from_b, "A fetched after the invalidation");
    assert_eq!(env.fetches(), 2);
    assert_eq!(
        env.token_field("fence").await,
        Some(fence_b),
        "B's write stands"
    );
    assert_eq!(env.token_field("sha256").await, Some(hash_of(&from_b)));
    let fresh = env.instance(LeaseOptions::default()).await;
    assert!(fresh.get(&app()).await.unwrap() == from_b);
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_the_refresh_window_one_instance_refreshes_in_the_background() {
    let Some(env) = Env::start().await else {
        return;
    };
    env.sim().clock().freeze();
    let clock = Arc::new(ManualClock::new());
    let options = LeaseOptions {
        clock: clock.clone(),
        ..LeaseOptions::default()
    };
    let a = env.instance(options.clone()).await;
    let b = env.instance(options).await;
    let old = a.get(&app()).await.unwrap();
    let old_fence = env.token_field("fence").await;

    // 299 s left: inside the 300 s margin and WeChat's own renewal window. The refresh is
    // answered 500 ms late, so both instances ask while it runs.
    env.sim().inject_fault(Fault::delay_only(
        Api::StableToken,
        Duration::from_millis(500),
    ));
    env.sim().clock().advance(Duration::from_secs(6901));
    clock.advance(Duration::from_secs(6901));
    let during_a = a.get(&app()).await.unwrap();
    eventually("one instance holds the lease", || env.lease_held()).await;
    let during_b = b.get(&app()).await.unwrap();
    eventually("the successor is shared", || async {
        env.token_field("fence").await != old_fence && !env.lease_held().await
    })
    .await;
    let after = b.get(&app()).await.unwrap();

    assert!(during_a == old, "the still-valid token is served at once");
    assert!(during_b == old);
    assert!(after != old, "the background fetch got WeChat's successor");
    assert!(a.get(&app()).await.unwrap() == after);
    assert_eq!(env.fetches(), 2, "exactly one refresh for both instances");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_tokens_come_from_the_instance_with_limited_refetches_until_it_returns() {
    let Some(env) = Env::start().await else {
        return;
    };
    let upstream = Url::parse(&env.url).unwrap();
    let proxy = TcpProxy::start(&format!(
        "{}:{}",
        upstream.host_str().unwrap(),
        upstream.port_or_known_default().unwrap()
    ))
    .await;
    let options = LeaseOptions {
        local_ttl: Duration::ZERO, // every get asks Redis
        probe_interval: Duration::from_millis(20),
        ..LeaseOptions::default()
    };
    let source = env
        .instance_via(&proxy.url_through(&env.url), options)
        .await;
    let shared = source.get(&app()).await.unwrap();
    assert_eq!(source.status(), LeaseStatus::Shared);

    proxy.cut();
    let cut = source.get(&app()).await.unwrap();
    assert!(cut == shared, "the last shared token is still served");
    assert_eq!(source.status(), LeaseStatus::Degraded);
    assert_eq!(env.fetches(), 1);

    // A refusal while degraded: one local refetch.
    env.sim().invalidate_tokens(APP).unwrap();
    source.invalidate_if(&app(), &shared).await;
    let local = source.get(&app()).await.unwrap();
    assert!(local != shared);
    assert_eq!(env.fetches(), 2, "the fallback fetched");
    // Another one right after: limited, the token stays.
    env.sim().invalidate_tokens(APP).unwrap();
    source.invalidate_if(&app(), &local).await;
    assert!(source.get(&app()).await.unwrap() == local);
    assert_eq!(env.fetches(), 2, "refetches are limited while degraded");
    assert_eq!(source.status(), LeaseStatus::Degraded);

    proxy.restore();
    eventually("the source is shared again", || async {
        source.get(&app()).await.is_ok() && source.status() == LeaseStatus::Shared
    })
    .await;
    env.cleanup().await;
}
