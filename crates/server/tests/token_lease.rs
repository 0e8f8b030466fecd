//! The cluster-wide access token end to end, as the server wires it: `wxlogin-wechat`'s
//! `LeasedTokenSource` over `wxlogin-store-redis`'s `RedisTokenLease`, against a real Redis
//! named by `WXLOGIN_TEST_REDIS_URL` (`redis://127.0.0.1:6379/0`) and the in-process WeChat
//! simulator; without the variable every test passes after a visible NOTICE.
//!
//! The orchestration's cases are tested in `wxlogin-wechat` (over an in-memory lease), the
//! scripts in `wxlogin-store-redis`; this checks that the two halves meet. Two sources, each
//! with its own Redis connection, play two instances under a key prefix of their own.

// Tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use url::Url;
use wxlogin_core::crypto::{MasterKey, Sealer};
use wxlogin_core::ids::AppId;
use wxlogin_core::lease::{TokenHash, TokenLease};
use wxlogin_core::secret::{AppSecret, WxAccessToken};
use wxlogin_store_redis::lease::RedisTokenLease;
use wxlogin_store_redis::{RedisOptions, RedisStore};
use wxlogin_testkit::{TcpProxy, backend_url};
use wxlogin_wechat::{
    AccessTokenSource, ClientConfig, LeaseOptions, LeaseStatus, LeasedTokenSource, RetryPolicy,
    WeChatClient,
};
use wxlogin_wechat_sim::{Sim, SimConfig, SimHandle, spawn};

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
        Some(Self {
            prefix: format!("wxlogin-test-{}:", uuid::Uuid::new_v4().simple()),
            url,
            sim,
            client,
            sealer: MasterKey::generate().sealer(),
        })
    }

    /// The lease on its own connection to `url`, under this test's prefix.
    async fn lease_via(&self, url: &str) -> RedisTokenLease {
        let redis = RedisStore::connect(
            url,
            RedisOptions {
                prefix: self.prefix.clone(),
                ..RedisOptions::default()
            },
        )
        .await
        .unwrap();
        RedisTokenLease::new(redis)
    }

    /// An "instance", as `startup.rs` builds it.
    async fn instance_via(&self, url: &str, options: LeaseOptions) -> LeasedTokenSource {
        LeasedTokenSource::new(
            Arc::new(self.lease_via(url).await),
            self.client.clone(),
            HashMap::from([(app(), AppSecret::new(SECRET))]),
            self.sealer.clone(),
            options,
        )
    }

    async fn instance(&self) -> LeasedTokenSource {
        self.instance_via(&self.url, LeaseOptions::default()).await
    }

    /// stable_token calls the simulator has seen.
    fn fetches(&self) -> u64 {
        self.sim.sim().stats()["calls"]["stable_token"]["total"]
            .as_u64()
            .unwrap()
    }

    /// Deletes this test's keys.
    async fn cleanup(self) {
        let mut raw = redis::Client::open(self.url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query_async(&mut raw)
            .await
            .unwrap();
        if !keys.is_empty() {
            redis::cmd("DEL")
                .arg(keys)
                .query_async::<()>(&mut raw)
                .await
                .unwrap();
        }
    }
}

fn app() -> AppId {
    AppId::parse(APP).unwrap()
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
async fn fifty_concurrent_gets_on_two_instances_cause_one_fetch_and_redis_holds_the_token_sealed() {
    let Some(env) = Env::start().await else {
        return;
    };
    let a = env.instance().await;
    let b = env.instance().await;

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

    assert_eq!(env.fetches(), 1, "one stable_token call for the cluster");
    assert!(tokens.iter().all(|t| t == &tokens[0]));
    let stored = env
        .lease_via(&env.url)
        .await
        .read(&app())
        .await
        .unwrap()
        .unwrap();
    let clear = tokens[0].expose_secret().as_bytes();
    assert!(!stored.sealed.windows(clear.len()).any(|w| w == clear));
    assert_eq!(stored.hash, TokenHash::of(&tokens[0]));
    let opened = env
        .sealer
        .open_string(&format!("wechat-token:{APP}"), &stored.sealed)
        .unwrap();
    assert_eq!(opened.as_str(), tokens[0].expose_secret());

    // A 40001 seen by both: one more fetch, shared again.
    env.sim.sim().invalidate_tokens(APP).unwrap();
    let (id, old) = (app(), &tokens[0]);
    tokio::join!(a.invalidate_if(&id, old), b.invalidate_if(&id, old));
    let (from_a, from_b) = tokio::join!(a.get(&id), b.get(&id));
    assert!(from_a.unwrap() == from_b.unwrap());
    assert_eq!(env.fetches(), 2);
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_is_cut_the_instance_serves_its_own_tokens_and_shares_again_after() {
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
    assert!(source.get(&app()).await.unwrap() == shared);
    assert_eq!(source.status(), LeaseStatus::Degraded);
    assert_eq!(env.fetches(), 1);

    proxy.restore();
    eventually("the source is shared again", || async {
        source.get(&app()).await.is_ok() && source.status() == LeaseStatus::Shared
    })
    .await;
    assert_eq!(env.fetches(), 1, "the shared token was still valid");
    drop(proxy);
    env.cleanup().await;
}
