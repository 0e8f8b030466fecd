//! One simulator per test, a client pointed at it, and helpers to read its stats.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use url::Url;
use wxlogin_core::clock::ManualClock;
use wxlogin_core::ids::AppId;
use wxlogin_core::secret::{AppSecret, LoginCode, PhoneCode};
use wxlogin_wechat::{
    AccessTokenManager, AccessTokenOptions, BreakerConfig, ClientConfig, RetryPolicy,
    WeChatAdapter, WeChatClient,
};
use wxlogin_wechat_sim::{Api, Fault, Sim, SimConfig, SimHandle, spawn};

/// The simulator's dev app.
pub const APP: &str = "wx0000000000000001";
pub const SECRET: &str = "dev-secret-not-for-production";
pub const PHONE: &str = "+8613800138000";

pub struct TestEnv {
    pub handle: SimHandle,
    pub client: WeChatClient,
    /// The token manager's and the circuit breakers' clock; move it together with
    /// `sim().clock()` (see [`TestEnv::advance`]).
    pub clock: Arc<ManualClock>,
}

impl TestEnv {
    pub async fn spawn() -> Self {
        Self::spawn_with(SimConfig::default()).await
    }

    pub async fn spawn_with(config: SimConfig) -> Self {
        Self::spawn_configured(config, |_| {}).await
    }

    /// A simulator with `config`, and a client whose test defaults `adjust` may change.
    pub async fn spawn_configured(
        config: SimConfig,
        adjust: impl FnOnce(&mut ClientConfig),
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let sim = Sim::new(config);
        sim.clock().freeze(); // boundary checks must not depend on the machine's speed
        let handle = spawn(listener, sim, std::future::pending())
            .await
            .expect("simulator starts");
        let base_url = Url::parse(&handle.base_url()).expect("simulator base URL parses");
        assert!(
            base_url.host_str() == Some("127.0.0.1"),
            "tests must only talk to loopback, not {base_url}"
        );
        let clock = Arc::new(ManualClock::new());
        let mut client_config = ClientConfig {
            token_retry: RetryPolicy::immediate(3),
            use_system_proxy: false,
            breaker: BreakerConfig {
                clock: clock.clone(),
                ..BreakerConfig::default()
            },
            ..ClientConfig::new(base_url)
        };
        adjust(&mut client_config);
        let client = WeChatClient::new(client_config).expect("client builds");
        Self {
            handle,
            client,
            clock,
        }
    }

    pub fn sim(&self) -> &Sim {
        self.handle.sim()
    }

    pub fn app() -> AppId {
        AppId::parse(APP).expect("dev appid is valid")
    }

    pub fn secret() -> AppSecret {
        AppSecret::new(SECRET)
    }

    pub fn apps() -> HashMap<AppId, AppSecret> {
        HashMap::from([(Self::app(), Self::secret())])
    }

    /// A fresh `wx.login` code for `user`, and its raw text (for leak checks and replays).
    pub fn login_code(&self, user: &str) -> (LoginCode, String) {
        let raw = self
            .sim()
            .mint_login_code(APP, user)
            .expect("simulator mints a login code");
        (LoginCode::new(raw.as_str()), raw)
    }

    pub fn phone_code(&self, user: &str) -> (PhoneCode, String) {
        let raw = self
            .sim()
            .mint_phone_code(APP, user, PHONE)
            .expect("simulator mints a phone code");
        (PhoneCode::new(raw.as_str()), raw)
    }

    /// A token manager on the manual clock.
    pub fn tokens(&self) -> Arc<AccessTokenManager> {
        let options = AccessTokenOptions {
            clock: self.clock.clone(),
            ..AccessTokenOptions::default()
        };
        Arc::new(AccessTokenManager::with_options(
            self.client.clone(),
            Self::apps(),
            options,
        ))
    }

    pub fn adapter(&self) -> (WeChatAdapter, Arc<AccessTokenManager>) {
        let tokens = self.tokens();
        let adapter = WeChatAdapter::new(self.client.clone(), Self::apps(), tokens.clone());
        (adapter, tokens)
    }

    /// Moves both clocks: the simulator's (code and token lifetimes) and ours (token expiry,
    /// breaker cool-downs).
    pub fn advance(&self, by: Duration) {
        self.sim().clock().advance(by);
        self.clock.advance(by);
    }

    pub fn fault(&self, api: Api, errcode: i64, times: u64) {
        self.sim()
            .inject_fault(Fault::errcode(api, errcode).times(times));
    }

    /// How many calls of `api` the simulator saw.
    pub fn calls(&self, api: &str) -> u64 {
        self.sim().stats()["calls"][api]["total"]
            .as_u64()
            .expect("stats list every api")
    }

    /// How many calls of `api` were answered with `errcode` (or a transport label).
    pub fn calls_with(&self, api: &str, errcode: &str) -> u64 {
        self.sim().stats()["calls"][api]["by_errcode"][errcode]
            .as_u64()
            .unwrap_or(0)
    }
}

/// Display, Debug and the whole `source()` chain of an error.
pub fn printed(error: &(dyn std::error::Error + 'static)) -> String {
    let mut shown = format!("{error} | {error:?}");
    let mut source = error.source();
    while let Some(cause) = source {
        shown.push_str(&format!(" | {cause} | {cause:?}"));
        source = cause.source();
    }
    shown
}

pub fn assert_free_of(error: &(dyn std::error::Error + 'static), secrets: &[&str]) {
    let shown = printed(error);
    for secret in secrets.iter().chain(&[SECRET]) {
        assert!(!shown.contains(secret), "{secret} leaked in: {shown}");
    }
}
