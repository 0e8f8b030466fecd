//! [`Harness`]: an [`AuthService`] wired to the fakes, with helpers that walk a user through
//! the use cases.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use wxlogin_core::admin::{AdminStore, UserChange};
use wxlogin_core::clock::Clock;
use wxlogin_core::crypto::{HandleHash, MasterKey};
use wxlogin_core::ids::{AppId, OpenId, UserId};
use wxlogin_core::jwt::{Algorithm, KeyPolicy, KeyRing, new_key_record};
use wxlogin_core::secret::{LoginCode, PhoneCode};
use wxlogin_core::views::{LoginView, PhoneView, SignedInView};
use wxlogin_core::{AuthError, AuthService, AuthSettings, Ports, service::PhoneProof};
use wxlogin_testkit::fakes::{ManualClock, MemoryStore, ScriptedWeChat, phone, session};

/// The app: the appid of the legacy test vectors (`testdata/wx-vectors.json`).
pub const APP: &str = "wx4f4bc4dec97d474b";
/// A second app of the same deployment.
pub const OTHER_APP: &str = "wx0000000000000002";
/// The start of every test: the legacy phone vectors' watermark (they were made then).
pub const T0: i64 = 1_700_000_000;
/// A session_key as WeChat sends it (base64 of 16 bytes).
pub const KEY: &str = "AAECAwQFBgcICQoLDA0ODw==";

/// The service on fakes, and the fakes for the test to script and inspect.
pub struct Harness {
    pub service: AuthService,
    pub store: MemoryStore,
    pub wechat: Arc<ScriptedWeChat>,
    pub clock: Arc<ManualClock>,
    master: MasterKey,
    codes: AtomicUsize,
}

impl Harness {
    /// Apps [`APP`] and [`OTHER_APP`], every setting at the contract's default.
    pub fn new() -> Self {
        Self::with(|_| {})
    }

    /// [`Self::new`] with the settings changed by `configure`.
    pub fn with(configure: impl FnOnce(&mut AuthSettings)) -> Self {
        let mut settings = AuthSettings::with_apps(vec![app(APP), app(OTHER_APP)]);
        configure(&mut settings);
        let store = MemoryStore::new();
        let wechat = Arc::new(ScriptedWeChat::new());
        let clock = Arc::new(ManualClock::at_unix(T0));
        let master = MasterKey::generate();
        let policy = KeyPolicy {
            issuer: "https://login.example.com".into(),
            audience: "wxlogin".into(),
            publish_delay: Duration::from_secs(360),
            retire_after: Duration::from_secs(1020),
        };
        let sealer = master.sealer();
        let key = new_key_record(&sealer, Algorithm::EdDsa, 1, clock.now()).unwrap();
        let keys = KeyRing::from_records(vec![key], &sealer, &policy, clock.now()).unwrap();
        let ports = Ports {
            wechat: wechat.clone(),
            users: Arc::new(store.clone()),
            sessions: Arc::new(store.clone()),
            refresh: Arc::new(store.clone()),
            clock: clock.clone(),
            outcomes: None,
            limiter: None,
            revocations: None,
            attempts: None,
            accounts: Arc::new(store.clone()),
            avatars: None,
            events: Arc::new(store.clone()),
            lookup: None,
        };
        Self {
            service: AuthService::new(settings, ports, &master, keys),
            store,
            wechat,
            clock,
            master,
            codes: AtomicUsize::new(0),
        }
    }

    /// Moves the clock `secs` seconds on.
    pub fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    /// `POST /v1/login` in `appid` with `code`.
    pub async fn login_in(&self, appid: &str, code: &str) -> Result<LoginView, AuthError> {
        self.service.login(&app(appid), LoginCode::new(code)).await
    }

    /// `POST /v1/login` in [`APP`] with `code`.
    pub async fn login(&self, code: &str) -> Result<LoginView, AuthError> {
        self.login_in(APP, code).await
    }

    /// A session of `openid` in `appid` (session_key [`KEY`], no unionid), through a login.
    pub async fn session_in(&self, appid: &str, openid: &str) -> String {
        let code = self.fresh_code("login");
        self.wechat.login(&code, session(openid, None, KEY));
        self.login_in(appid, &code).await.unwrap().session
    }

    /// A session of `openid` in [`APP`].
    pub async fn session(&self, openid: &str) -> String {
        self.session_in(APP, openid).await
    }

    /// `POST /v1/phone` with a phone code that WeChat answers with mainland number `pure`
    /// (watermarked for the session's app, now).
    pub async fn phone_by_code(&self, session: &str, pure: &str) -> Result<PhoneView, AuthError> {
        let code = self.fresh_code("phone");
        let appid = self.session_app(session);
        let now = self.clock.now().unix_timestamp();
        self.wechat.phone(&code, phone(&appid, "86", pure, now));
        let proof = PhoneProof::Code(PhoneCode::new(code));
        self.service.phone(session, None, proof).await
    }

    /// The registration ticket that a phone code for `pure` gives `session`.
    pub async fn ticket(&self, session: &str, pure: &str) -> String {
        match self.phone_by_code(session, pure).await.unwrap() {
            PhoneView::NotRegistered {
                registration_ticket,
                ..
            } => registration_ticket,
            PhoneView::Registered { .. } => panic!("{pure} is registered already"),
        }
    }

    /// A user of `openid` in `appid` with phone `pure`, registered through login, phone and
    /// register; their id and what registration answered.
    pub async fn registered_in(
        &self,
        appid: &str,
        openid: &str,
        pure: &str,
    ) -> (UserId, SignedInView) {
        let session = self.session_in(appid, openid).await;
        let ticket = self.ticket(&session, pure).await;
        let view = self
            .service
            .register(&ticket, Default::default())
            .await
            .unwrap();
        (UserId::parse(view.user.user_id.clone()).unwrap(), view)
    }

    /// [`Self::registered_in`] in [`APP`].
    pub async fn registered(&self, openid: &str, pure: &str) -> (UserId, SignedInView) {
        self.registered_in(APP, openid, pure).await
    }

    /// An operator disables `user` (the admin API's store call).
    pub async fn disable(&self, user: &UserId) {
        let change = UserChange {
            disabled: Some(true),
            ..UserChange::default()
        };
        let now = self.clock.now();
        self.store.update_user(user, &change, now).await.unwrap();
    }

    /// The keyed hash under which the store finds mainland number `pure`.
    pub fn phone_hash(&self, pure: &str) -> [u8; 32] {
        self.master.phone_index().hash(&format!("+86{pure}"))
    }

    /// A code never used before in this test.
    pub fn fresh_code(&self, kind: &str) -> String {
        format!("{kind}-{}", self.codes.fetch_add(1, Ordering::Relaxed))
    }

    fn session_app(&self, session: &str) -> String {
        let hash = HandleHash::of(session);
        let found = self.store.sessions().into_iter().find(|s| s.hash == hash);
        found.unwrap().identity.appid.to_string()
    }
}

/// The appid `raw`.
pub fn app(raw: &str) -> AppId {
    AppId::parse(raw).unwrap()
}

/// The openid `raw`.
pub fn openid(raw: &str) -> OpenId {
    OpenId::parse(raw).unwrap()
}

/// The error of a result whose success type cannot be printed (views never derive `Debug`).
pub fn refused<T>(result: Result<T, AuthError>) -> AuthError {
    match result {
        Ok(_) => panic!("expected a refusal, got a success"),
        Err(e) => e,
    }
}
