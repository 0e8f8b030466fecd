//! The ports: what the use cases need from storage, as traits (time is [`crate::clock`]).
//!
//! Implementations: `wxlogin-store-sql` (SQLite, PostgreSQL, MySQL) for everything durable;
//! `wxlogin-store-redis` for what several instances share and may lose (sessions, per-code
//! outcomes, revocation entries, rate-limit buckets, and the access-token lease of
//! [`crate::lease`]); [`crate::limits`] for rate limits on one instance. Every method is
//! safe to call concurrently from many instances sharing one database: the atomic steps
//! (rotating a refresh token, consuming a ticket) are single methods so that a backend can
//! make them one transaction.
//!
//! Long file: the ports are the map of what the core needs from outside; an adapter's author
//! reads them together, and most of the length is their documentation.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::crypto::HandleHash;
use crate::ids::{AppId, ExternalId, FamilyId, OpenId, UnionId, UserId};

pub use crate::store_error::StoreError;

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// A user as stored.
#[derive(Clone)]
pub struct UserRecord {
    /// Our id.
    pub id: UserId,
    /// E.164 phone, sealed with context `phone:<user_id>`.
    pub phone_sealed: Vec<u8>,
    /// Optional display name, 1-64 characters.
    pub nickname: Option<String>,
    /// Optional https URL.
    pub avatar_url: Option<String>,
    /// When the user registered.
    pub created_at: OffsetDateTime,
    /// The user's id in the operator's systems (admin API, import, lookup hook).
    pub external_id: Option<ExternalId>,
    /// Disabled by an operator: every request that identifies them is refused.
    pub disabled: bool,
    /// The last sign-in (login of a known user, phone sign-in, registration).
    pub last_login_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A WeChat identity: one openid in one app, maybe with a unionid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The app.
    pub appid: AppId,
    /// The user's id in that app.
    pub openid: OpenId,
    /// The Open Platform id, when the app is bound to one.
    pub unionid: Option<UnionId>,
}

/// What `/v1/me` shows of an identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentitySummary {
    /// The app.
    pub appid: AppId,
    /// Whether a unionid is known.
    pub has_unionid: bool,
}

/// A new user, with its phone already sealed and hashed.
#[derive(Debug)]
pub struct NewUser {
    /// The user.
    pub user: UserRecord,
    /// [`crate::crypto::PhoneIndex::hash`] of the E.164 number.
    pub phone_hash: [u8; 32],
}

/// What registration did.
#[derive(Debug)]
pub enum RegisterOutcome {
    /// The user exists now, bound to the phone and the identity; the ticket is used.
    Created(UserRecord),
    /// The ticket is unknown, expired or already used. Nothing changed.
    TicketInvalid,
    /// Another user has this phone. Nothing changed; the ticket is still unused.
    PhoneTaken,
}

/// Users, their phones and their WeChat identities.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// The user bound to (appid, openid), if any.
    async fn user_by_identity(
        &self,
        appid: &AppId,
        openid: &OpenId,
    ) -> StoreResult<Option<UserRecord>> {
        Ok(self
            .user_by_identity_and_unionid(appid, openid, None)
            .await?
            .map(|(user, _)| user))
    }
    /// [`Self::user_by_identity`], and whether that identity already records `unionid` (always
    /// so when `unionid` is `None`): then [`Self::bind_identity`] for this user would change
    /// nothing, and a login skips it.
    async fn user_by_identity_and_unionid(
        &self,
        appid: &AppId,
        openid: &OpenId,
        unionid: Option<&UnionId>,
    ) -> StoreResult<Option<(UserRecord, bool)>>;
    /// Any user bound to an identity with this unionid (under any app).
    async fn user_by_unionid(&self, unionid: &UnionId) -> StoreResult<Option<UserRecord>>;
    /// The user with this phone hash.
    async fn user_by_phone(&self, phone_hash: &[u8; 32]) -> StoreResult<Option<UserRecord>>;
    /// A user by id.
    async fn user(&self, id: &UserId) -> StoreResult<Option<UserRecord>>;
    /// Binds (appid, openid) to `user`, moving it from any other user; records the unionid.
    /// Idempotent. When the binding is new or moved (not when it only records a unionid),
    /// writes `identity.bound` and answers `true`.
    async fn bind_identity(
        &self,
        user: &UserId,
        identity: &Identity,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// The user's identities.
    async fn identities(&self, user: &UserId) -> StoreResult<Vec<IdentitySummary>>;
    /// The user's WeChat identity under `appid` (the most recently bound, should there be
    /// several): what an app's opt-in `openid`/`unionid` token claims carry on a refresh.
    async fn identity_in_app(&self, user: &UserId, appid: &AppId) -> StoreResult<Option<Identity>>;
    /// The user and their identities, if the refresh family `family_id` is active (not
    /// revoked) and belongs to `user`: what `GET /v1/me` shows, in one read. The user is as
    /// [`Self::user`] reads it and the identities are in [`Self::identities`]' order. `None`
    /// otherwise (unknown or revoked family, another user's family, user gone).
    async fn signed_in_user(
        &self,
        family_id: &FamilyId,
        user: &UserId,
    ) -> StoreResult<Option<(UserRecord, Vec<IdentitySummary>)>>;
    /// Stores a registration ticket (only its hash). The ticket holds the sealed phone.
    async fn put_ticket(&self, ticket: &TicketRecord) -> StoreResult<()>;
    /// A ticket that exists, is unused and has not expired at `now`.
    async fn live_ticket(
        &self,
        hash: &HandleHash,
        now: OffsetDateTime,
    ) -> StoreResult<Option<TicketRecord>>;
    /// In one transaction: consume the ticket (still live at `now`), create the user, bind the
    /// identity, write `user.registered` and `identity.bound`. All or nothing.
    async fn register(
        &self,
        ticket: &HandleHash,
        now: OffsetDateTime,
        user: NewUser,
        identity: &Identity,
    ) -> StoreResult<RegisterOutcome>;
}

/// A registration ticket as stored.
#[derive(Clone)]
pub struct TicketRecord {
    /// SHA-256 of the ticket handle.
    pub hash: HandleHash,
    /// Who the ticket was issued to.
    pub identity: Identity,
    /// E.164 phone, sealed with context `ticket-phone:<hex hash>`.
    pub phone_sealed: Vec<u8>,
    /// Issued at.
    pub created_at: OffsetDateTime,
    /// Dead after.
    pub expires_at: OffsetDateTime,
}

/// A mini-program session as stored (the handle itself is never stored).
#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// SHA-256 of the session handle.
    pub hash: HandleHash,
    /// The WeChat identity this session was opened for.
    pub identity: Identity,
    /// Opened at.
    pub created_at: OffsetDateTime,
    /// Dead after.
    pub expires_at: OffsetDateTime,
}

/// The session_key history of one (appid, openid), sealed with context
/// `session_key:<appid>:<openid>`.
#[derive(Clone)]
pub struct SessionKeys {
    /// The key from the latest exchanged login code.
    pub current: Vec<u8>,
    /// The key before it, if any.
    pub previous: Option<Vec<u8>>,
    /// When `current` replaced `previous`.
    pub rotated_at: OffsetDateTime,
}

/// What a login stores, all or nothing: the exchanged session_key becomes `current` for
/// `identity` as of `at` (the old one `previous`), the new session, and for a known user a new
/// refresh family with its first token.
#[derive(Clone)]
pub struct LoginRecord {
    /// Whose session_key.
    pub identity: Identity,
    /// When it was exchanged.
    pub at: OffsetDateTime,
    /// The session_key, sealed with context `session_key:<appid>:<openid>`.
    pub sealed_key: Vec<u8>,
    /// The new session, for `identity`. `None` where the caller keeps sessions elsewhere:
    /// `RedisSessions` stores the session in Redis and passes the rest on to the database.
    pub session: Option<SessionRecord>,
    /// For a known user: their new refresh family and its first token. The user's
    /// `last_login_at` becomes `at`.
    pub sign_in: Option<(FamilyRecord, RefreshRecord)>,
    /// With `sign_in`: also write `user.signed_in` (only when a webhook subscribes to it).
    pub announce: bool,
}

impl std::fmt::Debug for LoginRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRecord")
            .field("identity", &self.identity)
            .field("at", &self.at)
            .field("session", &self.session)
            .field("sign_in", &self.sign_in)
            .field("announce", &self.announce)
            .finish_non_exhaustive()
    }
}

/// Mini-program sessions and the session_key history they decrypt with.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores what a login stores ([`LoginRecord`]) in one transaction: one commit per login.
    async fn record_login(&self, login: &LoginRecord) -> StoreResult<()>;
    /// A session that exists and has not expired at `now`.
    async fn live_session(
        &self,
        hash: &HandleHash,
        now: OffsetDateTime,
    ) -> StoreResult<Option<SessionRecord>>;
    /// The session_key history of (appid, openid).
    async fn session_keys(
        &self,
        appid: &AppId,
        openid: &OpenId,
    ) -> StoreResult<Option<SessionKeys>>;
}

/// A refresh token as stored. Its family is the one it is stored with: the family being
/// created ([`RefreshStore::create_family`]), or the presented token's
/// ([`RefreshStore::rotate_refresh`]).
#[derive(Debug, Clone)]
pub struct RefreshRecord {
    /// SHA-256 of the token.
    pub hash: HandleHash,
    /// Issued at.
    pub created_at: OffsetDateTime,
    /// Dead after.
    pub expires_at: OffsetDateTime,
}

/// A refresh family: one sign-in on one device, across rotations.
#[derive(Debug, Clone)]
pub struct FamilyRecord {
    /// Random id, also the `sid` claim.
    pub id: FamilyId,
    /// Whose.
    pub user_id: UserId,
    /// Which app it was signed in through.
    pub appid: AppId,
    /// Signed in at.
    pub created_at: OffsetDateTime,
}

/// What presenting a refresh token did.
#[derive(Debug)]
pub enum RotateOutcome {
    /// The token was live; it is now used and `new` is stored in its family.
    Rotated(FamilyRecord),
    /// The token had already been used: the family is now revoked, and
    /// `refresh_token.reused` written.
    Reused {
        /// The revoked family, so that its access tokens can be refused too.
        family_id: FamilyId,
    },
    /// Unknown, expired, or its family is revoked. Nothing changed.
    Invalid,
    /// The token is known (live, used or revoked) and its user is disabled. Nothing changed:
    /// `user_disabled` wins over every other refusal.
    UserDisabled,
}

/// Refresh tokens and their families.
#[async_trait]
pub trait RefreshStore: Send + Sync {
    /// Stores a new family with its first refresh token, and makes its creation the user's
    /// `last_login_at`. With `announce`, also writes `user.signed_in` (only when a webhook
    /// subscribes to it).
    async fn create_family(
        &self,
        family: &FamilyRecord,
        first: &RefreshRecord,
        announce: bool,
    ) -> StoreResult<()>;
    /// Atomically: mark `presented` used if it is live and unused at `now` and store `new` in
    /// its family; or, if it was already used, revoke its family. Of many concurrent calls
    /// with one token, exactly one gets `Rotated`.
    async fn rotate_refresh(
        &self,
        presented: &HandleHash,
        new: &RefreshRecord,
        now: OffsetDateTime,
    ) -> StoreResult<RotateOutcome>;
    /// Revokes one family. Idempotent.
    async fn revoke_family(&self, family_id: &FamilyId, now: OffsetDateTime) -> StoreResult<()>;
    /// Revokes every family of a user. Idempotent. Returns the ids of all the user's
    /// families (revoked now or before), so that a retry after a failed
    /// [`RevocationList::revoke`] lists them again.
    async fn revoke_user(&self, user: &UserId, now: OffsetDateTime) -> StoreResult<Vec<FamilyId>>;
    /// Whether the family exists and is not revoked.
    async fn family_active(&self, family_id: &FamilyId) -> StoreResult<bool>;
}

/// A token-signing key as stored.
#[derive(Clone)]
pub struct SigningKeyRecord {
    /// Key id, in the JWT header and the JWKS.
    pub kid: String,
    /// 1 for the first key, +1 per rotation; unique, so concurrent first starts elect one key.
    pub generation: i64,
    /// The public key in at most 64 bytes: raw (Ed25519), SEC1 compressed point (P-256) or
    /// SHA-256 of the PKCS#1 DER (RSA); the algorithm is the one the sealed PKCS#8 names.
    pub public_key: Vec<u8>,
    /// PKCS#8 private key, sealed with context `signing-key:<kid>`.
    pub private_sealed: Vec<u8>,
    /// Created at.
    pub created_at: OffsetDateTime,
}

/// Token-signing keys.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Every stored key, oldest first.
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Inserts a key unless its generation is taken; `false` when another instance won.
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<bool>;
}

/// Whether the backend answers, for `/readyz`.
#[async_trait]
pub trait Health: Send + Sync {
    /// `Ok` when a trivial query succeeds.
    async fn ping(&self) -> StoreResult<()>;
}

/// What a claim on a per-code outcome found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Nobody had claimed the key: the caller now holds it, must do the work and then call
    /// [`OutcomeStore::complete`] or [`OutcomeStore::release`].
    Won,
    /// Another caller is doing the work right now.
    Pending,
    /// The work was done: its sealed outcome.
    Done(Vec<u8>),
}

/// Per-code outcomes shared by every instance (Redis), so that a login or phone code sent to
/// two instances at once reaches WeChat once. Keys are hashes; outcomes arrive sealed.
#[async_trait]
pub trait OutcomeStore: Send + Sync {
    /// Claims `key` for at most `lease` unless it is claimed or done; atomic, so of many
    /// concurrent callers across instances exactly one wins. Callers that find it
    /// [`Claim::Pending`] ask again later (the claim expires if its holder dies).
    async fn claim(&self, key: &[u8; 32], lease: std::time::Duration) -> StoreResult<Claim>;
    /// Replaces the claim with the sealed outcome, kept for `ttl`.
    async fn complete(
        &self,
        key: &[u8; 32],
        sealed: &[u8],
        ttl: std::time::Duration,
    ) -> StoreResult<()>;
    /// Drops the claim: the outcome is not to be remembered (our own outage).
    async fn release(&self, key: &[u8; 32]) -> StoreResult<()>;
}

/// What a rate limit is counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// The client's address (after trusted proxies).
    Ip,
    /// The WeChat identity of the session (`/v1/phone`, `/v1/register`).
    OpenId,
    /// The phone number (by its keyed hash, never in clear).
    Phone,
    /// An admin key (by its id), on the admin API.
    AdminKey,
    /// Sign-in attempts at the admin console, per client address.
    ConsoleSignIn,
}

impl LimitKind {
    /// `ip`, `openid`, `phone`, `admin_key`, `console_sign_in`: in metrics and store keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ip => "ip",
            Self::OpenId => "openid",
            Self::Phone => "phone",
            Self::AdminKey => "admin_key",
            Self::ConsoleSignIn => "console_sign_in",
        }
    }
}

/// A token bucket: `per_second` refill, `burst` capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    /// Tokens added per second (at least 1).
    pub per_second: u32,
    /// Bucket size (at least 1).
    pub burst: u32,
}

/// The configured limits; `None` turns one off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimits {
    /// Per client address.
    pub ip: Option<Rate>,
    /// Per openid.
    pub openid: Option<Rate>,
    /// Per phone.
    pub phone: Option<Rate>,
}

impl RateLimits {
    /// The rate for one kind.
    pub fn rate(&self, kind: LimitKind) -> Option<Rate> {
        match kind {
            LimitKind::Ip => self.ip,
            LimitKind::OpenId => self.openid,
            LimitKind::Phone => self.phone,
            // Configured on the admin listener, not here.
            LimitKind::AdminKey | LimitKind::ConsoleSignIn => None,
        }
    }
}

/// What a limiter decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allowed,
    /// Over the limit: come back after this long.
    Limited {
        /// At least one second.
        retry_after: std::time::Duration,
    },
}

/// Token-bucket rate limiting, per instance (memory) or shared (Redis).
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Takes one token from the bucket of (`kind`, `key`) filled at `rate`.
    async fn acquire(&self, kind: LimitKind, key: &str, rate: Rate) -> StoreResult<Decision>;
}

/// Revoked refresh families, looked up by `AuthService::authenticate` (the bearer check of
/// `/v1/logout`; `/v1/me` reads the family from the database along with the user instead).
/// With Redis configured, these entries replace a database read per check; each lives as
/// long as an access token of the family can.
#[async_trait]
pub trait RevocationList: Send + Sync {
    /// Marks families revoked for `ttl`.
    async fn revoke(&self, family_ids: &[FamilyId], ttl: std::time::Duration) -> StoreResult<()>;
    /// Whether the family is marked revoked.
    async fn is_revoked(&self, family_id: &FamilyId) -> StoreResult<bool>;
}

/// Failed attempts counted per key, for caps that hold until something changes the key (the
/// legacy-decrypt cap: per session_key, so a new login code starts a fresh count). Per
/// instance in memory, or shared through Redis when several instances run.
#[async_trait]
pub trait AttemptCounter: Send + Sync {
    /// The failures counted under `key` (0 when none, or when they expired).
    async fn failures(&self, key: &[u8; 32]) -> StoreResult<u32>;
    /// Counts one more failure under `key`, kept `ttl` from the first one; the new count.
    async fn record_failure(&self, key: &[u8; 32], ttl: std::time::Duration) -> StoreResult<u32>;
}

/// What the lookup hook is asked: a verified phone with no wxlogin user.
pub struct LookupRequest {
    /// E.164.
    pub phone: String,
    /// The app it was verified in.
    pub appid: AppId,
    /// The session's openid.
    pub openid: OpenId,
    /// The session's unionid, if any.
    pub unionid: Option<UnionId>,
}

impl std::fmt::Debug for LookupRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LookupRequest")
            .field("appid", &self.appid)
            .finish_non_exhaustive()
    }
}

/// What the operator's system answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupAnswer {
    /// 200: this person is our user `external_id`.
    Found {
        /// Their id in the operator's system.
        external_id: ExternalId,
        /// Profile to start with.
        nickname: Option<String>,
        /// Profile to start with (checked like a registration's).
        avatar_url: Option<String>,
    },
    /// 404: not known; registration goes on as usual.
    NotFound,
}

/// The lookup hook failed: anything but 200 or 404, a bad body, or no answer in time. The
/// text is for logs (no phone, no body).
#[derive(Debug, thiserror::Error)]
#[error("user lookup failed: {0}")]
pub struct LookupFailed(pub String);

/// The synchronous `user.lookup` call to the operator's existing user table.
#[async_trait]
pub trait UserLookup: Send + Sync {
    /// Asks who the phone belongs to, within the hook's budget.
    async fn lookup(&self, request: &LookupRequest) -> Result<LookupAnswer, LookupFailed>;
}

/// Where uploaded avatars live (local disk or object storage): what account deletion needs.
#[async_trait]
pub trait AvatarStore: Send + Sync {
    /// Deletes the avatar this server issued under `id` (`<random>.<ext>`); no error when it
    /// is already gone.
    async fn delete_avatar(&self, id: &str) -> StoreResult<()>;
}
