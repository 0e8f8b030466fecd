//! `TestApp`: the real server on port 0 against an in-process simulator, with a clock the
//! test moves, and a record of every response body and every secret seen, checked when the
//! app is dropped: no response may contain a session_key, AppSecret, code or WeChat token.
//! Building and running it is here; talking to it over HTTP (and walking the flow) is in
//! `helpers/http.rs`.

// A path, not the default lookup: `trace_logs.rs` includes this file with `#[path]`, which
// would look for `http.rs` beside it instead.
#[path = "helpers/http.rs"]
mod http;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::oneshot;
use wxlogin_core::RegistrationPolicy;
use wxlogin_core::clock::ManualClock;
use wxlogin_core::crypto::MasterKey;
use wxlogin_server::config::{AppSection, RateLimitsSection, RawConfig, SecretsSection, Settings};
use wxlogin_server::startup::{Application, Overrides};
use wxlogin_wechat_sim::{Fault, Sim, SimApp, SimConfig, SimHandle};

pub const APP: &str = "wx0000000000000001";
pub const APP_SECRET: &str = "dev-secret-not-for-production";
/// A second app bound to the same Open Platform account (same unionids).
pub const APP2: &str = "wx0000000000000002";
pub const APP2_SECRET: &str = "second-app-secret-value";
pub const PHONE: &str = "+8613800138000";

/// How to build the app.
/// A change to the raw configuration before the server starts.
pub type Tweak = Arc<dyn Fn(&mut RawConfig) + Send + Sync>;

pub struct Options {
    pub registration: RegistrationPolicy,
    pub data_dir: Option<Arc<tempfile::TempDir>>,
    pub master_key: Option<MasterKey>,
    pub sim: Option<Sim>,
    /// Configure only the dev app (then `appid` may be left out).
    pub single_app: bool,
    /// `http.request_timeout_secs`.
    pub request_timeout_secs: Option<u64>,
    /// Another database than the temp dir's SQLite file (PostgreSQL/MySQL).
    pub database_url: Option<String>,
    /// `redis.url` (and a prefix of its own, `redis_prefix`).
    pub redis_url: Option<String>,
    /// Key prefix in Redis: instances of one "deployment" share it.
    pub redis_prefix: Option<String>,
    /// Anything else, on the raw configuration. Rate limits are off unless set here.
    pub tweak: Option<Tweak>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            registration: RegistrationPolicy::Open,
            data_dir: None,
            master_key: None,
            sim: None,
            single_app: false,
            request_timeout_secs: None,
            database_url: None,
            redis_url: None,
            redis_prefix: None,
            tweak: None,
        }
    }
}

pub struct TestApp {
    pub addr: String,
    /// The admin listener (`/metrics`).
    pub admin_addr: String,
    pub sim: Sim,
    pub sim_url: String,
    pub http: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub data_dir: Arc<tempfile::TempDir>,
    pub master_key: MasterKey,
    /// What the server was built from (for tests that act as `wxlogin keys` would).
    pub settings: Settings,
    /// The use cases behind the HTTP layer (to stand for a key-reload tick).
    pub auth: Arc<wxlogin_core::AuthService>,
    /// The database, as `wxlogin admin-keys` reaches it.
    pub store: Arc<wxlogin_store_sql::SqlStore>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _sim_handle: SimHandle,
    bodies: Arc<Mutex<Vec<String>>>,
    secrets: Arc<Mutex<Vec<String>>>,
}

pub struct Res {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Res {
    pub fn code(&self) -> &str {
        self.body["error"]["code"]
            .as_str()
            .unwrap_or("<no error code>")
    }

    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "body: {}",
            self.body
        );
        assert!(
            self.body["error"]["request_id"]
                .as_str()
                .is_some_and(|id| !id.is_empty()),
            "{}",
            self.body
        );
        assert!(self.body["error"]["message"].is_string());
    }

    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert!(
            (200..300).contains(&self.status),
            "status {} body {}",
            self.status,
            self.body
        );
        &self.body
    }
}

/// Signed-in user, as a test holds it.
pub struct Account {
    pub user_id: String,
    pub access_token: String,
    pub refresh_token: String,
}

impl Account {
    pub fn from_tokens(body: &Value) -> Self {
        Self {
            user_id: body["user"]["user_id"].as_str().unwrap().to_owned(),
            access_token: body["tokens"]["access_token"].as_str().unwrap().to_owned(),
            refresh_token: body["tokens"]["refresh_token"].as_str().unwrap().to_owned(),
        }
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(opts: Options) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            wxlogin_server::telemetry::init_tracing(wxlogin_server::telemetry::LogFormat::Pretty);
        }
        let sim = opts.sim.unwrap_or_else(|| {
            Sim::new(SimConfig::with_apps(vec![
                SimApp::dev(),
                SimApp::new(APP2, APP2_SECRET).bound_to("dev-open-platform"),
            ]))
        });
        // Both clocks stand still unless a test moves them, together.
        sim.clock().freeze();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sim_handle = wxlogin_wechat_sim::spawn(listener, sim.clone(), std::future::pending())
            .await
            .unwrap();
        let sim_url = sim_handle.base_url();
        assert!(
            sim_url.starts_with("http://127.0.0.1:"),
            "tests talk to the loopback simulator only"
        );

        let data_dir = opts
            .data_dir
            .unwrap_or_else(|| Arc::new(tempfile::tempdir().unwrap()));
        let master_key = opts.master_key.unwrap_or_else(MasterKey::generate);
        let mut raw = RawConfig {
            public_url: Some("http://127.0.0.1:9012".into()),
            apps: vec![
                AppSection {
                    appid: APP.into(),
                    secret: Some(APP_SECRET.into()),
                    secret_file: None,
                    claims: Vec::new(),
                },
                AppSection {
                    appid: APP2.into(),
                    secret: Some(APP2_SECRET.into()),
                    secret_file: None,
                    claims: Vec::new(),
                },
            ],
            secrets: SecretsSection {
                master_key: Some(master_key.to_base64().into()),
                master_key_file: None,
            },
            ..RawConfig::default()
        };
        if let Some(secs) = opts.request_timeout_secs {
            raw.http.request_timeout_secs = secs;
        }
        if opts.single_app {
            raw.apps.truncate(1);
        }
        raw.http.host = "127.0.0.1".into();
        raw.http.port = 0;
        raw.admin.port = 0;
        raw.database.url =
            Some(format!("sqlite://{}", data_dir.path().join("wxlogin.db").display()).into());
        if let Some(url) = &opts.database_url {
            raw.database.url = Some(url.as_str().into());
        }
        raw.avatars.dir = Some(data_dir.path().join("avatars"));
        raw.redis.url = opts.redis_url.as_deref().map(Into::into);
        if let Some(prefix) = &opts.redis_prefix {
            raw.redis.prefix = prefix.clone();
        }
        raw.wechat.base_url = sim_url.clone();
        raw.registration.policy = opts.registration;
        raw.rate_limits = RateLimitsSection::off();
        // Tests poll the admin API for readiness; the per-key limit has its own test.
        raw.admin.requests_per_second = 0;
        if let Some(tweak) = &opts.tweak {
            tweak(&mut raw);
        }
        let settings = Settings::from_raw(raw, None).unwrap();

        // The server's clock starts where the simulator's stands; `advance` moves both.
        let clock = Arc::new(ManualClock::at(
            OffsetDateTime::from_unix_timestamp(sim.clock().now_unix()).unwrap(),
        ));
        let app = Application::build(
            &settings,
            Overrides {
                clock: Some(clock.clone()),
            },
        )
        .await
        .unwrap();
        let auth = app.auth();
        let store = app.store();
        let addr = format!("http://{}", app.local_addr());
        let admin_addr = format!("http://{}", app.admin_addr());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run(async {
            let _ = stopped.await;
        }));
        let secrets = Arc::new(Mutex::new(vec![
            APP_SECRET.to_owned(),
            APP2_SECRET.to_owned(),
        ]));
        Self {
            addr,
            admin_addr,
            sim,
            sim_url,
            http: reqwest::Client::new(),
            clock,
            data_dir,
            master_key,
            settings,
            auth,
            store,
            stop: Some(stop),
            server: Some(server),
            _sim_handle: sim_handle,
            bodies: Arc::new(Mutex::new(Vec::new())),
            secrets,
        }
    }

    /// Stops the server (finishing in-flight requests, closing the pool), keeping the data.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }

    /// Asks the server to stop and waits at most `limit` for it to finish; `false` when it
    /// was still running then.
    pub async fn stop_within(&mut self, limit: Duration) -> bool {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.server.take() {
            Some(server) => match tokio::time::timeout(limit, server).await {
                Ok(done) => {
                    done.unwrap().unwrap();
                    true
                }
                Err(_) => false,
            },
            None => true,
        }
    }

    /// `GET /metrics` on the admin listener: the Prometheus text.
    pub async fn metrics(&self) -> String {
        let res = self
            .http
            .get(format!("{}/metrics", self.admin_addr))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let text = res.text().await.unwrap();
        self.bodies.lock().unwrap().push(text.clone());
        text
    }

    /// The same data directory, master key and simulator, a new server process state.
    pub async fn restart(mut self) -> Self {
        self.stop().await;
        let next = Self::spawn_with(Options {
            data_dir: Some(self.data_dir.clone()),
            master_key: Some(self.master_key.clone()),
            sim: Some(self.sim.clone()),
            ..Options::default()
        })
        .await;
        // Carry the record over so the secret scan covers both lives.
        next.bodies
            .lock()
            .unwrap()
            .extend(self.bodies.lock().unwrap().drain(..));
        next.secrets
            .lock()
            .unwrap()
            .extend(self.secrets.lock().unwrap().drain(..));
        next
    }

    /// Moves the server's and the simulator's clocks forward together.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
        self.sim.clock().advance(by);
    }

    /// Moves only the server's clock (the simulator keeps its codes alive).
    pub fn advance_server_only(&self, by: Duration) {
        self.clock.advance(by);
    }

    fn remember_secret(&self, s: &str) {
        self.secrets.lock().unwrap().push(s.to_owned());
    }

    /// What `wx.login()` gives `user` in `appid`.
    pub fn login_code_for(&self, appid: &str, user: &str) -> String {
        let code = self.sim.mint_login_code(appid, user).unwrap();
        self.remember_secret(&code);
        code
    }

    pub fn login_code(&self, user: &str) -> String {
        self.login_code_for(APP, user)
    }

    pub fn phone_code(&self, user: &str, phone: &str) -> String {
        let code = self.sim.mint_phone_code(APP, user, phone).unwrap();
        self.remember_secret(&code);
        code
    }

    /// Legacy phone data under the user's current session_key.
    pub fn encrypted_phone(&self, user: &str, phone: &str) -> (String, String) {
        self.encrypted_phone_for(APP, user, phone)
    }

    pub fn encrypted_phone_for(&self, appid: &str, user: &str, phone: &str) -> (String, String) {
        self.note_session_key(appid, user);
        self.sim.encrypted_phone(appid, user, phone).unwrap()
    }

    /// Records the user's current session_key, so the scan looks for it.
    pub fn note_session_key(&self, appid: &str, user: &str) {
        if let Some(key) = self.sim.current_session_key(appid, user) {
            self.remember_secret(&key);
        }
    }

    pub fn fault(&self, fault: Fault) {
        self.sim.inject_fault(fault);
    }

    /// Calls of one simulated WeChat API so far.
    pub fn upstream_calls(&self, api: &str) -> u64 {
        self.sim.stats()["calls"][api]["total"]
            .as_u64()
            .unwrap_or(0)
    }

    /// Every response body so far, for tests that scan for other things.
    pub fn bodies(&self) -> Vec<String> {
        self.bodies.lock().unwrap().clone()
    }

    /// The secrets recorded so far (codes, session_keys, AppSecrets, WeChat tokens).
    pub fn recorded_secrets(&self) -> Vec<String> {
        self.secrets.lock().unwrap().clone()
    }

    /// Pairs of (secret prefix, body) where a response contained a recorded secret.
    pub fn leaks(&self) -> Vec<(String, String)> {
        let bodies = self.bodies.lock().unwrap();
        let mut found = Vec::new();
        for secret in self.secrets.lock().unwrap().iter().filter(|s| s.len() >= 8) {
            for body in bodies.iter().filter(|b| b.contains(secret.as_str())) {
                found.push((secret[..4].to_owned(), body.clone()));
            }
        }
        found
    }

    /// For the scan's own test: pretend a response said this.
    pub fn record_body(&self, body: &str) {
        self.bodies.lock().unwrap().push(body.to_owned());
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let leaks = self.leaks();
        assert!(
            leaks.is_empty(),
            "responses leaked secrets (prefix, body): {leaks:?}"
        );
    }
}
