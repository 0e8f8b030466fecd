//! The use cases: login, phone, register, refresh, logout, me.
//!
//! [`AuthService`] holds the ports and the policy; each use case lives in its own module.

mod account;
pub use account::Profile;
pub mod admin;
pub mod admin_views;
pub mod console;
mod import;
mod login;
pub mod me;
mod phone;
pub use phone::PhoneProof;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use time::OffsetDateTime;

use crate::admin::AdminStore;
use crate::cause::Cause;
use crate::clock::Clock;
use crate::crypto::{Handle, MasterKey, PhoneIndex, Sealer};
use crate::error::AuthError;
use crate::ids::{AppId, ExternalId, FamilyId, UserId};
use crate::jwt::{Claims, KeyRing};
use crate::outcome::OutcomeCache;
use crate::phone::Phone;
use crate::ports::{
    AttemptCounter, FamilyRecord, Identity, LimitKind, NewUser, OutcomeStore, RateLimiter,
    RateLimits, RefreshRecord, RefreshStore, RevocationList, SessionStore, UserLookup, UserRecord,
    UserStore,
};
use crate::views::{LoginView, PhoneView, TokensView, UserView};
use crate::wechat::WeChatApi;

/// Whether new users may register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistrationPolicy {
    /// Anyone with a verified phone may register.
    Open,
    /// No new users; existing ones still sign in.
    Closed,
}

/// What a verified phone whose user already has another WeChat account in the same app
/// does (`[registration] phone_match`): phone numbers are recycled (二次放号), so a number's
/// new holder must not inherit its previous owner's account silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneMatch {
    /// Refuse with `409 phone_bound_elsewhere`; an operator can unbind (the default).
    RefuseIfBound,
    /// The latest proof wins: the new openid is bound too, and signs in.
    SignIn,
}

/// Lifetimes and policy.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// The configured apps; the first is the default when exactly one exists.
    pub apps: Vec<AppId>,
    /// Mini-program session lifetime (30 days).
    pub session_ttl: Duration,
    /// Access token lifetime (15 minutes).
    pub access_ttl: Duration,
    /// Refresh token lifetime, renewed on each rotation (30 days).
    pub refresh_ttl: Duration,
    /// Registration ticket lifetime (10 minutes).
    pub ticket_ttl: Duration,
    /// How long the previous session_key still decrypts after a rotation (300 s).
    pub session_key_grace: Duration,
    /// How old a legacy watermark may be (10 minutes).
    pub watermark_window: Duration,
    /// How far in the future a watermark may be, for clock skew (60 s).
    pub watermark_skew: Duration,
    /// Registration policy.
    pub registration: RegistrationPolicy,
    /// A verified phone whose user has another openid in this app (refuse by default).
    pub phone_match: PhoneMatch,
    /// Per-openid and per-phone limits on `/v1/phone` and `/v1/register` (the per-address
    /// limit is the HTTP layer's).
    pub limits: RateLimits,
    /// Failed legacy decryptions allowed per session_key; after that, legacy payloads are
    /// refused until a new login code rotates the key (10). See `phone.rs`.
    pub legacy_failure_cap: u32,
    /// Ask WeChat (`checkencryptedmsg`) whether it issued a legacy payload before trusting
    /// it: one more WeChat call per legacy verification (off).
    pub verify_legacy_payloads: bool,
    /// Extra access-token claims per app (`[[apps]] claims`); none by default.
    pub claims: std::collections::HashMap<AppId, AppClaims>,
    /// Write a `user.signed_in` event at every sign-in: only when a webhook subscribes to
    /// it, since it is frequent (off).
    pub announce_sign_ins: bool,
    /// `<public_url>/avatars/`: avatar URLs this server issued are accepted as they are
    /// (plain http in dev mode). `None`: only https URLs.
    pub avatar_base: Option<String>,
}

/// The extra claims an app's access tokens carry, opt in: for back ends that call WeChat Pay
/// or send subscribe messages (they need the openid), or match users in their own systems.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppClaims {
    /// `openid`: the user's openid in this app.
    pub openid: bool,
    /// `unionid`: when WeChat gave one.
    pub unionid: bool,
    /// `external_id`: the user's id in the operator's systems, once users carry one.
    pub external_id: bool,
}

impl AuthSettings {
    /// The contract's defaults for the given apps.
    pub fn with_apps(apps: Vec<AppId>) -> Self {
        Self {
            apps,
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            ticket_ttl: Duration::from_secs(600),
            session_key_grace: Duration::from_secs(300),
            watermark_window: Duration::from_secs(600),
            watermark_skew: Duration::from_secs(60),
            registration: RegistrationPolicy::Open,
            phone_match: PhoneMatch::RefuseIfBound,
            limits: RateLimits::default(),
            legacy_failure_cap: DEFAULT_LEGACY_FAILURE_CAP,
            verify_legacy_payloads: false,
            claims: std::collections::HashMap::new(),
            announce_sign_ins: false,
            avatar_base: None,
        }
    }
}

/// Failed legacy decryptions allowed per session_key by default.
pub const DEFAULT_LEGACY_FAILURE_CAP: u32 = 10;

/// The ports the use cases run on.
#[derive(Clone)]
pub struct Ports {
    /// WeChat.
    pub wechat: Arc<dyn WeChatApi>,
    /// Users, identities, tickets.
    pub users: Arc<dyn UserStore>,
    /// Sessions and session_keys.
    pub sessions: Arc<dyn SessionStore>,
    /// Refresh tokens and their families.
    pub refresh: Arc<dyn RefreshStore>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Per-code outcomes shared by all instances (Redis); `None` on a single instance.
    pub outcomes: Option<Arc<dyn OutcomeStore>>,
    /// Rate limiting; `None` turns the per-openid and per-phone limits off.
    pub limiter: Option<Arc<dyn RateLimiter>>,
    /// Revoked families (Redis), for [`AuthService::authenticate`]; `None`: it asks the token
    /// store. (`me` always reads the family from the user store.)
    pub revocations: Option<Arc<dyn RevocationList>>,
    /// Failed legacy decryptions per session_key, shared by all instances (Redis); `None`:
    /// counted in this process.
    pub attempts: Option<Arc<dyn AttemptCounter>>,
    /// Users created without a ticket (the lookup hook).
    pub accounts: Arc<dyn AdminStore>,
    /// Uploaded avatars, deleted with the account; `None`: uploads are off.
    pub avatars: Option<Arc<dyn crate::ports::AvatarStore>>,
    /// The outbox, for the user's own export.
    pub events: Arc<dyn crate::events::EventStore>,
    /// The operator's existing user table (`[hooks] user_lookup_url`); `None`: a verified
    /// phone with no user gets a registration ticket at once.
    pub lookup: Option<Arc<dyn UserLookup>>,
}

/// The login flow.
pub struct AuthService {
    settings: AuthSettings,
    ports: Ports,
    sealer: Sealer,
    phone_index: PhoneIndex,
    keys: RwLock<Arc<KeyRing>>,
    login_outcomes: OutcomeCache<LoginView>,
    phone_outcomes: OutcomeCache<PhoneView>,
    exchanged: Exchanged,
    legacy_failures: Arc<dyn AttemptCounter>,
}

/// Budget of each per-code outcome cache (login, phone), as counted by `OutcomeCache`: 4 MiB
/// holds about 3,500 silent logins (~1.2 KiB each with bookkeeping), so five minutes of them
/// up to ~12 logins/s per instance and still about two seconds at the ~1,800/s one instance
/// does on a small machine (docs/benchmarks.md), enough for a double tap. Resident memory
/// is about 2.3 times the budget (measured: 8 MiB cost 19 MiB under the login benchmark), so
/// both caches stay near 20 MiB. With Redis, the shared outcome store keeps every outcome for
/// the code's whole lifetime anyway.
const OUTCOME_CACHE_BYTES: u64 = 4 << 20;

/// What WeChat answered for codes whose use case then failed on our side (store down): a
/// retry with the same code resumes from here instead of asking WeChat again, which would
/// answer 40163/40029 because the code is used up. Per instance, for the code's lifetime.
struct Exchanged {
    logins: moka::future::Cache<[u8; 32], Arc<crate::wechat::WxSession>>,
    phones: moka::future::Cache<[u8; 32], Phone>,
}

impl Exchanged {
    fn new() -> Self {
        Self {
            logins: Self::cache(),
            phones: Self::cache(),
        }
    }

    fn cache<V: Clone + Send + Sync + 'static>() -> moka::future::Cache<[u8; 32], V> {
        moka::future::Cache::builder()
            .max_capacity(10_000)
            .time_to_live(crate::outcome::CODE_LIFETIME)
            .build()
    }
}

impl std::fmt::Debug for AuthService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthService")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn secs(d: Duration) -> time::Duration {
    time::Duration::seconds(i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2))
}

impl AuthService {
    /// Wires the service.
    pub fn new(
        settings: AuthSettings,
        ports: Ports,
        master_key: &MasterKey,
        keys: KeyRing,
    ) -> Self {
        let sealer = master_key.sealer();
        let mut login_outcomes = OutcomeCache::new(OUTCOME_CACHE_BYTES);
        let mut phone_outcomes = OutcomeCache::new(OUTCOME_CACHE_BYTES);
        if let Some(shared) = &ports.outcomes {
            login_outcomes = login_outcomes.shared(shared.clone(), sealer.clone(), "login");
            phone_outcomes = phone_outcomes.shared(shared.clone(), sealer.clone(), "phone");
        }
        let legacy_failures = ports.attempts.clone().unwrap_or_else(|| {
            Arc::new(crate::limits::MemoryAttempts::default()) as Arc<dyn AttemptCounter>
        });
        Self {
            legacy_failures,
            settings,
            ports,
            sealer,
            phone_index: master_key.phone_index(),
            keys: RwLock::new(Arc::new(keys)),
            login_outcomes,
            phone_outcomes,
            exchanged: Exchanged::new(),
        }
    }

    /// The sealer for values at rest (key reloads need it).
    pub fn sealer(&self) -> Sealer {
        self.sealer.clone()
    }

    /// The policy in force.
    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// The current key ring (for the JWKS document and token checks).
    pub fn keys(&self) -> Arc<KeyRing> {
        match self.keys.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Swaps in a reloaded key ring (after `wxlogin keys rotate`).
    pub fn replace_keys(&self, ring: KeyRing) {
        let ring = Arc::new(ring);
        match self.keys.write() {
            Ok(mut guard) => *guard = ring,
            Err(poisoned) => *poisoned.into_inner() = ring,
        }
    }

    /// Resolves the request's appid: it must be configured; it may be left out when exactly
    /// one app is.
    pub fn resolve_app(&self, requested: Option<&str>) -> Result<AppId, AuthError> {
        match requested {
            Some(raw) => self
                .settings
                .apps
                .iter()
                .find(|a| a.as_str() == raw)
                .cloned()
                .ok_or(AuthError::UnknownApp),
            None if self.settings.apps.len() == 1 => Ok(self.settings.apps[0].clone()),
            None => Err(AuthError::UnknownApp),
        }
    }

    fn now(&self) -> OffsetDateTime {
        self.ports.clock.now()
    }

    /// Takes one token from the (`kind`, `key`) bucket when that limit is configured.
    async fn limit(&self, kind: LimitKind, key: &str) -> Result<(), AuthError> {
        match &self.ports.limiter {
            Some(limiter) => {
                crate::limits::check(limiter.as_ref(), kind, key, self.settings.limits.rate(kind))
                    .await
            }
            None => Ok(()),
        }
    }

    /// The bucket key of a phone number: its keyed hash, so that no store holds it in clear.
    fn phone_bucket(&self, phone: &Phone) -> String {
        hex::encode(self.phone_index.hash(&phone.phone_number))
    }

    /// How long a revocation entry must live: as long as an access token of the family can,
    /// plus a minute of clock skew.
    fn revocation_ttl(&self) -> Duration {
        self.settings.access_ttl + Duration::from_secs(60)
    }

    fn user_view(&self, user: &UserRecord) -> Result<UserView, AuthError> {
        Ok(UserView {
            user_id: user.id.to_string(),
            nickname: user.nickname.clone(),
            avatar_url: user.avatar_url.clone(),
            phone_masked: self.open_user_phone(user)?.masked(),
        })
    }

    /// A new user's row: see [`new_user`].
    fn new_user(
        &self,
        phone: &Phone,
        profile: Profile,
        external_id: Option<ExternalId>,
        now: OffsetDateTime,
    ) -> NewUser {
        new_user(
            &self.sealer,
            &self.phone_index,
            phone,
            profile,
            external_id,
            now,
        )
    }

    fn open_user_phone(&self, user: &UserRecord) -> Result<Phone, AuthError> {
        let text = self
            .sealer
            .open_string(&format!("phone:{}", user.id), &user.phone_sealed)
            .map_err(|_| AuthError::Internal("a stored phone number does not open".into()))?;
        Phone::from_storage_text(&text)
    }

    /// Starts a refresh family for `user`, signed in through `identity`, and issues its first
    /// pair of tokens.
    async fn sign_in(
        &self,
        user: &UserRecord,
        identity: &Identity,
    ) -> Result<TokensView, AuthError> {
        let (family, first, refresh) = self.new_family(&user.id, &identity.appid);
        self.ports
            .refresh
            .create_family(&family, &first, self.settings.announce_sign_ins)
            .await?;
        let claimed = self.claimed_identity(&family, Some(identity)).await?;
        self.tokens_for(
            &family,
            refresh,
            family.created_at,
            claimed.as_ref(),
            user.external_id.as_ref(),
        )
    }

    /// The identity whose openid/unionid the family's app wants in its tokens: `None` when the
    /// app opts into neither (no read); the one at hand when it is the family's app (login,
    /// phone, register); otherwise read from the store (refresh).
    async fn claimed_identity(
        &self,
        family: &FamilyRecord,
        known: Option<&Identity>,
    ) -> Result<Option<Identity>, AuthError> {
        let wants = self.app_claims(&family.appid);
        if !(wants.openid || wants.unionid) {
            return Ok(None);
        }
        if let Some(identity) = known.filter(|i| i.appid == family.appid) {
            return Ok(Some(identity.clone()));
        }
        Ok(self
            .ports
            .users
            .identity_in_app(&family.user_id, &family.appid)
            .await?)
    }

    fn app_claims(&self, appid: &AppId) -> AppClaims {
        self.settings.claims.get(appid).copied().unwrap_or_default()
    }

    /// A new refresh family for `user`, its first token as stored, and that token.
    fn new_family(&self, user: &UserId, appid: &AppId) -> (FamilyRecord, RefreshRecord, Handle) {
        let now = self.now();
        let family = FamilyRecord {
            id: FamilyId::generate(),
            user_id: user.clone(),
            appid: appid.clone(),
            created_at: now,
        };
        let refresh = Handle::generate("wxr_");
        let first = RefreshRecord {
            hash: refresh.hash(),
            created_at: now,
            expires_at: now + secs(self.settings.refresh_ttl),
        };
        (family, first, refresh)
    }

    fn tokens_for(
        &self,
        family: &FamilyRecord,
        refresh: Handle,
        now: OffsetDateTime,
        identity: Option<&Identity>,
        external_id: Option<&ExternalId>,
    ) -> Result<TokensView, AuthError> {
        let wants = self.app_claims(&family.appid);
        let keys = self.keys();
        let claims = Claims {
            iss: keys.issuer().to_owned(),
            aud: keys.audience().to_owned(),
            sub: family.user_id.to_string(),
            iat: now.unix_timestamp(),
            exp: (now + secs(self.settings.access_ttl)).unix_timestamp(),
            jti: uuid::Uuid::new_v4().simple().to_string(),
            sid: family.id.to_string(),
            appid: family.appid.to_string(),
            openid: identity
                .filter(|_| wants.openid)
                .map(|i| i.openid.to_string()),
            unionid: identity
                .filter(|_| wants.unionid)
                .and_then(|i| i.unionid.as_ref())
                .map(ToString::to_string),
            external_id: external_id
                .filter(|_| wants.external_id)
                .map(ToString::to_string),
        };
        let access_token = keys
            .sign(&claims)
            .map_err(|e| AuthError::Internal(Cause::new(e)))?;
        Ok(TokensView {
            access_token,
            token_type: "Bearer".to_owned(),
            expires_in: self.settings.access_ttl.as_secs(),
            refresh_token: refresh.into_secret(),
            refresh_expires_in: self.settings.refresh_ttl.as_secs(),
        })
    }
}

/// Results the phone use case shares with login: kept here so both modules use one view type.
pub(crate) type PhoneResult = Result<PhoneView, AuthError>;
/// See [`PhoneResult`].
pub(crate) type LoginResult = Result<LoginView, AuthError>;

/// A new user's row with `profile` and `external_id`, created `now`: the phone sealed under
/// the new id (what `AuthService::open_user_phone` opens) and its keyed hash. Every path that
/// creates a user (registration, the lookup hook, import) builds it here.
fn new_user(
    sealer: &Sealer,
    phone_index: &PhoneIndex,
    phone: &Phone,
    profile: Profile,
    external_id: Option<ExternalId>,
    now: OffsetDateTime,
) -> NewUser {
    let id = UserId::generate();
    let phone_sealed = sealer.seal(&format!("phone:{id}"), phone.storage_text().as_bytes());
    NewUser {
        user: UserRecord {
            id,
            phone_sealed,
            nickname: profile.nickname,
            avatar_url: profile.avatar_url,
            created_at: now,
            external_id,
            disabled: false,
            last_login_at: None,
        },
        phone_hash: phone_index.hash(&phone.phone_number),
    }
}
