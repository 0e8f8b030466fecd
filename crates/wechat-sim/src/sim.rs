//! [`Sim`]: the simulator's shared state and its Rust API.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::access_tokens::{Quotas, TokenBook};
use crate::api::Api;
use crate::clock::SimClock;
use crate::codes::CodeStore;
use crate::config::{SimApp, SimConfig};
use crate::crypt::encrypt_raw;
use crate::entropy::Entropy;
use crate::error::SimError;
use crate::faults::{Fault, FaultBook};
use crate::ids::IdentityKey;
use crate::phone::PhoneNumber;
use crate::produced::Produced;
use crate::session_keys::SessionKeys;
use crate::stats::Stats;
use crate::{control, log, wechat};

/// Request bodies above this are refused; nothing the simulator accepts comes close.
const BODY_LIMIT: usize = 64 * 1024;
/// Longest simulated user name, in bytes.
const MAX_USER_LEN: usize = 256;

/// Locks a mutex, shrugging off poisoning: every critical section leaves its map consistent
/// (no panics between related writes), so a panic elsewhere must not wedge the simulator.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What redeeming a login code grants: the identity it was minted for.
pub(crate) struct LoginGrant {
    pub(crate) openid: String,
    pub(crate) unionid: Option<String>,
}

/// What redeeming a phone code grants.
#[derive(Clone)]
pub(crate) struct PhoneGrant {
    pub(crate) openid: String,
    pub(crate) phone: PhoneNumber,
    /// The user's action: `watermark.timestamp`.
    pub(crate) minted_at: i64,
}

/// One simulated Mini Program and its users' state.
pub(crate) struct App {
    pub(crate) config: SimApp,
    /// Shared grants: bulk-minted codes of one user point at one allocation.
    pub(crate) login_codes: Mutex<CodeStore<Arc<LoginGrant>>>,
    pub(crate) phone_codes: Mutex<CodeStore<PhoneGrant>>,
    pub(crate) session_keys: Mutex<SessionKeys>,
    /// Legacy ciphertexts produced for this app, for `checkencryptedmsg`.
    pub(crate) produced: Mutex<Produced>,
}

pub(crate) struct Inner {
    pub(crate) config: SimConfig,
    pub(crate) apps: Vec<App>,
    by_appid: HashMap<String, usize>,
    pub(crate) clock: SimClock,
    pub(crate) entropy: Entropy,
    ids: IdentityKey,
    pub(crate) tokens: Mutex<TokenBook>,
    pub(crate) faults: FaultBook,
    pub(crate) stats: Stats,
    /// Flips to true when a served simulator shuts down, to release hanging calls.
    pub(crate) shutdown: watch::Sender<bool>,
}

/// The simulator: cheap to clone (an `Arc` inside), shared by the router and tests.
#[derive(Clone)]
pub struct Sim {
    inner: Arc<Inner>,
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let appids: Vec<&str> = self
            .inner
            .apps
            .iter()
            .map(|a| a.config.appid.as_str())
            .collect();
        f.debug_struct("Sim")
            .field("appids", &appids)
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// A simulator for these apps. If an appid appears twice, the first entry wins.
    pub fn new(config: SimConfig) -> Self {
        let mut by_appid = HashMap::new();
        let mut apps = Vec::new();
        for app in &config.apps {
            if by_appid.contains_key(&app.appid) {
                tracing::warn!(appid = %app.appid, "duplicate simulated app ignored");
                continue;
            }
            by_appid.insert(app.appid.clone(), apps.len());
            apps.push(App {
                config: app.clone(),
                login_codes: Mutex::new(CodeStore::new()),
                phone_codes: Mutex::new(CodeStore::new()),
                session_keys: Mutex::new(SessionKeys::default()),
                produced: Mutex::new(Produced::new()),
            });
        }
        let inner = Inner {
            entropy: Entropy::new(config.seed),
            ids: IdentityKey::new(config.seed),
            tokens: Mutex::new(TokenBook::new(apps.len())),
            apps,
            by_appid,
            clock: SimClock::new(),
            faults: FaultBook::default(),
            stats: Stats::new(),
            shutdown: watch::Sender::new(false),
            config,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// WeChat's paths plus the control API under `/_sim/v1/`; anything else is WeChat's 40066
    /// (a JSON 404 under `/_sim/`). Served through [`crate::spawn`], shutdown also releases
    /// calls held by a `hang` fault; served by another server, such a call lasts until its
    /// client gives up.
    pub fn router(&self) -> Router {
        Router::new()
            .merge(wechat::routes())
            .nest("/_sim/v1", control::routes())
            .fallback(fallback)
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .layer(axum::middleware::from_fn(log::log_request))
            .with_state(self.clone())
    }

    /// The clock every TTL reads; advance it to expire codes and tokens.
    pub fn clock(&self) -> &SimClock {
        &self.inner.clock
    }

    /// The same JSON as `GET /_sim/v1/stats`.
    pub fn stats(&self) -> Value {
        self.inner.stats.snapshot()
    }

    /// Zeroes the counters, like `DELETE /_sim/v1/stats`.
    pub fn reset_stats(&self) {
        self.inner.stats.reset();
    }

    /// A fresh `wx.login` code for this user of this app.
    pub fn mint_login_code(&self, appid: &str, user: &str) -> Result<String, SimError> {
        let mut codes = self.mint_login_codes(appid, user, 1)?;
        codes.pop().ok_or(SimError::InvalidUser("no code minted"))
    }

    /// `count` fresh login codes at once (for benchmarks).
    pub fn mint_login_codes(
        &self,
        appid: &str,
        user: &str,
        count: usize,
    ) -> Result<Vec<String>, SimError> {
        let (_, app) = self.app(appid)?;
        check_user(user)?;
        let grant = Arc::new(LoginGrant {
            openid: self.inner.ids.openid(appid, user),
            unionid: self.unionid_in(app, user),
        });
        let now = self.inner.clock.now_millis();
        let expires = now.saturating_add(millis(self.inner.config.login_code_ttl));
        let mut out = Vec::with_capacity(count);
        let mut store = lock(&app.login_codes);
        while out.len() < count {
            let code = self.inner.entropy.login_code();
            if store.insert(code.clone(), grant.clone(), expires, now) {
                out.push(code);
            }
        }
        Ok(out)
    }

    /// A fresh phone-button code that getuserphonenumber turns into this number.
    pub fn mint_phone_code(
        &self,
        appid: &str,
        user: &str,
        phone_e164: &str,
    ) -> Result<String, SimError> {
        let mut codes = self.mint_phone_codes(appid, user, phone_e164, 1)?;
        codes.pop().ok_or(SimError::InvalidUser("no code minted"))
    }

    /// `count` fresh phone codes at once.
    pub fn mint_phone_codes(
        &self,
        appid: &str,
        user: &str,
        phone_e164: &str,
        count: usize,
    ) -> Result<Vec<String>, SimError> {
        let (_, app) = self.app(appid)?;
        check_user(user)?;
        let phone = PhoneNumber::parse_e164(phone_e164)?;
        let now = self.inner.clock.now_millis();
        let grant = PhoneGrant {
            openid: self.inner.ids.openid(appid, user),
            phone,
            minted_at: now.div_euclid(1000),
        };
        let expires = now.saturating_add(millis(self.inner.config.phone_code_ttl));
        let mut out = Vec::with_capacity(count);
        let mut store = lock(&app.phone_codes);
        while out.len() < count {
            let code = self.inner.entropy.phone_code();
            if store.insert(code.clone(), grant.clone(), expires, now) {
                out.push(code);
            }
        }
        Ok(out)
    }

    /// Legacy phone data `(encrypted_data, iv)` under the user's current session_key, with a
    /// random iv and a watermark of now. The ciphertext's SHA-256 is remembered, so
    /// `checkencryptedmsg` vouches for it for the next 3 days of [`Sim::clock`].
    pub fn encrypted_phone(
        &self,
        appid: &str,
        user: &str,
        phone_e164: &str,
    ) -> Result<(String, String), SimError> {
        let (_, app) = self.app(appid)?;
        check_user(user)?;
        let phone = PhoneNumber::parse_e164(phone_e164)?;
        let key_b64 = self
            .current_session_key(appid, user)
            .ok_or(SimError::NoSessionKey)?;
        let key: [u8; 16] = STANDARD
            .decode(key_b64)
            .ok()
            .and_then(|k| k.try_into().ok())
            .ok_or(SimError::BadSessionKey)?;
        let now_ms = self.inner.clock.now_millis();
        let info = phone.info(
            &app.config.appid,
            now_ms.div_euclid(1000),
            self.inner.config.country_code_as_number,
        );
        let plaintext = serde_json::to_vec(&info).map_err(|_| SimError::BadSessionKey)?;
        let iv = self.inner.entropy.bytes::<16>();
        let data = encrypt_raw(&key, &iv, &plaintext);
        lock(&app.produced).record(Sha256::digest(&data).into(), now_ms);
        Ok((STANDARD.encode(data), STANDARD.encode(iv)))
    }

    /// The user's openid in this app. Deterministic, and defined for any appid.
    pub fn openid_of(&self, appid: &str, user: &str) -> String {
        self.inner.ids.openid(appid, user)
    }

    /// The user's unionid, if the app is known and bound to an Open Platform account.
    pub fn unionid_of(&self, appid: &str, user: &str) -> Option<String> {
        let (_, app) = self.app(appid).ok()?;
        self.unionid_in(app, user)
    }

    /// The user's live session_key in this app, if a code was exchanged.
    pub fn current_session_key(&self, appid: &str, user: &str) -> Option<String> {
        let (_, app) = self.app(appid).ok()?;
        let openid = self.inner.ids.openid(appid, user);
        let keys = lock(&app.session_keys);
        keys.current(&openid, self.inner.clock.now_millis())
            .map(str::to_owned)
    }

    /// Queues a fault for the next calls of one API.
    pub fn inject_fault(&self, fault: Fault) {
        self.inner.faults.push(fault);
    }

    /// How many faulted answers are still queued for `api` (a test waits on it to know that
    /// a call has reached the simulator).
    pub fn pending_faults(&self, api: Api) -> u64 {
        self.inner.faults.pending(api)
    }

    /// Drops every queued fault.
    pub fn clear_faults(&self) {
        self.inner.faults.clear();
    }

    /// Kills every access_token of the app (both endpoints), so token-taking calls get 40001.
    /// Returns how many tokens were still live.
    pub fn invalidate_tokens(&self, appid: &str) -> Result<usize, SimError> {
        let (index, _) = self.app(appid)?;
        let now = self.inner.clock.now_millis();
        Ok(lock(&self.inner.tokens).invalidate_app(index, now))
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    pub(crate) fn app(&self, appid: &str) -> Result<(usize, &App), SimError> {
        self.inner
            .by_appid
            .get(appid)
            .and_then(|&i| self.inner.apps.get(i).map(|a| (i, a)))
            .ok_or_else(|| SimError::unknown_app(appid))
    }

    pub(crate) fn quotas(&self) -> Quotas {
        let c = &self.inner.config;
        Quotas {
            token_daily: c.token_daily_quota,
            stable_daily: c.stable_token_daily_quota,
            force_daily: c.force_refresh_daily_limit,
        }
    }

    fn unionid_in(&self, app: &App, user: &str) -> Option<String> {
        let account = app.config.open_platform.as_deref()?;
        Some(self.inner.ids.unionid(account, user))
    }
}

/// Under `/_sim` the control API's JSON 404 (e.g. a trailing slash), anywhere else WeChat's
/// 40066.
async fn fallback(State(sim): State<Sim>, uri: Uri) -> Response {
    let path = uri.path();
    if path == "/_sim" || path.starts_with("/_sim/") {
        control::not_found().await.into_response()
    } else {
        wechat::invalid_url(&sim)
    }
}

fn check_user(user: &str) -> Result<(), SimError> {
    if user.is_empty() {
        return Err(SimError::InvalidUser("must not be empty"));
    }
    if user.len() > MAX_USER_LEN {
        return Err(SimError::InvalidUser("longer than 256 bytes"));
    }
    Ok(())
}

pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rust_api_refuses_unknown_apps_bad_users_and_bad_phones() {
        let sim = Sim::new(SimConfig::default());
        let dev = "wx0000000000000001";
        assert!(matches!(
            sim.mint_login_code("wx_unknown", "alice"),
            Err(SimError::UnknownApp(_))
        ));
        assert!(matches!(
            sim.mint_login_code(dev, ""),
            Err(SimError::InvalidUser(_))
        ));
        assert!(matches!(
            sim.mint_login_code(dev, &"x".repeat(257)),
            Err(SimError::InvalidUser(_))
        ));
        assert!(matches!(
            sim.mint_phone_code(dev, "alice", "13800138000"),
            Err(SimError::InvalidPhone(_))
        ));
        assert_eq!(
            sim.encrypted_phone(dev, "alice", "+8613800138000"),
            Err(SimError::NoSessionKey)
        );
    }

    #[test]
    fn an_unknown_appid_is_echoed_at_most_64_characters_long() {
        let sim = Sim::new(SimConfig::default());
        let Err(SimError::UnknownApp(shown)) = sim.mint_login_code(&"w".repeat(10_000), "a") else {
            panic!("expected UnknownApp");
        };
        assert_eq!(shown.len(), 64);
    }

    #[test]
    fn ids_are_available_without_any_call() {
        let sim = Sim::new(SimConfig::default());
        let dev = "wx0000000000000001";
        assert_eq!(sim.openid_of(dev, "alice"), sim.openid_of(dev, "alice"));
        assert!(sim.unionid_of(dev, "alice").is_some());
        assert_eq!(sim.unionid_of("wx_unknown", "alice"), None);
        assert_eq!(sim.current_session_key(dev, "alice"), None);
    }

    #[test]
    fn a_duplicate_appid_keeps_the_first_secret() {
        let sim = Sim::new(SimConfig::with_apps(vec![
            SimApp::new("wx1", "first"),
            SimApp::new("wx1", "second"),
        ]));
        let (_, app) = sim.app("wx1").unwrap();
        assert_eq!(app.config.secret, "first");
        assert_eq!(sim.inner().apps.len(), 1);
    }
}
