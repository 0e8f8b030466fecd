//! [`SqlStore`]: one pool on one database, implementing every durable port; the URL's scheme
//! picks the backend.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
use wxlogin_core::crypto::HandleHash;
use wxlogin_core::ids::{AppId, OpenId, UnionId, UserId};
use wxlogin_core::ports::{
    FamilyRecord, Health, Identity, IdentitySummary, KeyStore, NewUser, RefreshRecord,
    RegisterOutcome, RotateOutcome, SessionKeys, SessionRecord, SessionStore, SigningKeyRecord,
    StoreError, StoreResult, TicketRecord, TokenStore, UserRecord, UserStore,
};

use crate::backend::Backend;
use crate::redact::redact_url;

/// How to connect. Build it from [`ConnectOptions::default`] and change what you need:
/// `ConnectOptions { max_connections: 16, ..ConnectOptions::default() }`.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Most connections the pool opens. A SQLite database file gets one more, its single
    /// writer connection (reads use the pool); an in-memory SQLite database always uses
    /// exactly one, since it lives only as long as its connection.
    pub max_connections: u32,
    /// How long a query waits for a free connection before failing with
    /// [`StoreError::Unavailable`].
    pub acquire_timeout: Duration,
    /// SQLite: how long a statement waits for another connection's write lock before failing
    /// with [`StoreError::Unavailable`].
    pub busy_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// How many rows [`SqlStore::purge_expired`] deleted, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Expired sessions.
    pub sessions: u64,
    /// Expired registration tickets, used or not.
    pub tickets: u64,
    /// Expired refresh tokens, used or not.
    pub refresh_tokens: u64,
    /// Families left with no token (active or revoked): no token of theirs can be presented
    /// any more, so neither reuse detection nor `family_active` needs them.
    pub families: u64,
}

/// The durable stores on one SQL database. Implements [`UserStore`], [`SessionStore`],
/// [`TokenStore`], [`KeyStore`] and [`Health`]; hold it as `Arc<SqlStore>` and coerce to the
/// `Arc<dyn Port>` each use case wants.
///
/// `Debug` shows the backend and the URL with any password masked.
pub struct SqlStore {
    backend: Box<dyn Backend>,
    /// The URL as given, already redacted: the password is never kept here.
    shown_url: String,
}

impl fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &self.backend.name())
            .field("url", &self.shown_url)
            .finish()
    }
}

impl SqlStore {
    /// Opens a pool on `url`. The scheme picks the backend:
    ///
    /// * `sqlite://path/to/file.db` (relative paths start from the working directory): the
    ///   file and its parent directories are created if missing; WAL journal,
    ///   `synchronous=NORMAL`, foreign keys on, and a busy timeout of
    ///   [`ConnectOptions::busy_timeout`].
    /// * `sqlite::memory:`: a private in-memory database on one connection, for tests. Each
    ///   call makes a new, empty database.
    /// * `postgres://user:password@host:5432/db` (or `postgresql://`): PostgreSQL 12 or later.
    ///   Tables go in the first schema of the `search_path`; choose one in the URL with
    ///   `?options=-c%20search_path%3Dwxlogin`. Other parameters are libpq's (`sslmode`, …).
    /// * `mysql://user:password@host:3306/db` (or `mariadb://`): MySQL 8 or MariaDB 10.6 and
    ///   later, InnoDB, utf8mb4.
    ///
    /// An unreachable server, or one that does not answer within
    /// [`ConnectOptions::acquire_timeout`], fails with [`StoreError::Unavailable`].
    ///
    /// Does not migrate: call [`SqlStore::migrate`] next.
    pub async fn connect(url: &str, opts: ConnectOptions) -> StoreResult<Self> {
        let shown_url = redact_url(url);
        let scheme = url
            .split_once(':')
            .map_or("", |(scheme, _)| scheme)
            .to_ascii_lowercase();
        let backend: Box<dyn Backend> = match scheme.as_str() {
            #[cfg(feature = "sqlite")]
            "sqlite" => Box::new(crate::sqlite::SqliteStore::connect(url, &opts).await?),
            #[cfg(not(feature = "sqlite"))]
            "sqlite" => return Err(not_built(&scheme)),
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => {
                Box::new(crate::postgres::PgStore::connect(url, &opts).await?)
            }
            #[cfg(not(feature = "postgres"))]
            "postgres" | "postgresql" => return Err(not_built(&scheme)),
            #[cfg(feature = "mysql")]
            "mysql" | "mariadb" => Box::new(crate::mysql::MySqlStore::connect(url, &opts).await?),
            #[cfg(not(feature = "mysql"))]
            "mysql" | "mariadb" => return Err(not_built(&scheme)),
            _ => {
                return Err(StoreError::Other(format!(
                    "database URL scheme `{scheme}` is not one of sqlite, postgres, mysql"
                )));
            }
        };
        tracing::debug!(backend = backend.name(), url = %shown_url, "database pool open");
        Ok(Self { backend, shown_url })
    }

    /// Applies the embedded migrations that this database has not seen. A no-op when it is up
    /// to date; safe when several instances run it at the same moment on an empty database.
    /// Fails if the database has a migration this build does not know (it is newer) or an
    /// applied migration was edited.
    pub async fn migrate(&self) -> StoreResult<()> {
        self.backend.migrate().await
    }

    /// Deletes sessions, registration tickets and refresh tokens that expired at `now`, then
    /// the families that no longer have any token. For a periodic job; idempotent.
    ///
    /// A family outlives its last access token: every access token is issued with a refresh
    /// token that expires much later, so a family's last token expires only after every
    /// access token naming it has.
    pub async fn purge_expired(&self, now: OffsetDateTime) -> StoreResult<Purged> {
        self.backend.purge_expired(now).await
    }

    /// Closes the pool, waiting for connections in use. Later calls fail with
    /// [`StoreError::Unavailable`].
    pub async fn close(&self) {
        self.backend.close().await;
    }

    /// Which backend the URL picked: `sqlite`, `postgres` or `mysql` (also for `mariadb://`).
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }
}

/// A known backend that this build leaves out (its feature is off).
#[cfg_attr(
    all(feature = "sqlite", feature = "postgres", feature = "mysql"),
    allow(dead_code)
)]
fn not_built(scheme: &str) -> StoreError {
    StoreError::Other(format!(
        "database URL scheme `{scheme}`: this build of wxlogin has no support for it"
    ))
}

#[async_trait]
impl UserStore for SqlStore {
    async fn user_by_identity(
        &self,
        appid: &AppId,
        openid: &OpenId,
    ) -> StoreResult<Option<UserRecord>> {
        self.backend.user_by_identity(appid, openid).await
    }

    async fn user_by_identity_and_unionid(
        &self,
        appid: &AppId,
        openid: &OpenId,
        unionid: Option<&UnionId>,
    ) -> StoreResult<Option<(UserRecord, bool)>> {
        self.backend
            .user_by_identity_and_unionid(appid, openid, unionid)
            .await
    }

    async fn user_by_unionid(&self, unionid: &UnionId) -> StoreResult<Option<UserRecord>> {
        self.backend.user_by_unionid(unionid).await
    }

    async fn user_by_phone(&self, phone_hash: &[u8; 32]) -> StoreResult<Option<UserRecord>> {
        self.backend.user_by_phone(phone_hash).await
    }

    async fn user(&self, id: &UserId) -> StoreResult<Option<UserRecord>> {
        self.backend.user(id).await
    }

    async fn bind_identity(
        &self,
        user: &UserId,
        identity: &Identity,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.backend.bind_identity(user, identity, now).await
    }

    async fn identities(&self, user: &UserId) -> StoreResult<Vec<IdentitySummary>> {
        self.backend.identities(user).await
    }

    async fn signed_in_user(
        &self,
        family_id: &str,
        user: &UserId,
    ) -> StoreResult<Option<(UserRecord, Vec<IdentitySummary>)>> {
        self.backend.signed_in_user(family_id, user).await
    }

    async fn put_ticket(&self, ticket: &TicketRecord) -> StoreResult<()> {
        self.backend.put_ticket(ticket).await
    }

    async fn live_ticket(
        &self,
        hash: &HandleHash,
        now: OffsetDateTime,
    ) -> StoreResult<Option<TicketRecord>> {
        self.backend.live_ticket(hash, now).await
    }

    async fn register(
        &self,
        ticket: &HandleHash,
        now: OffsetDateTime,
        user: NewUser,
        identity: &Identity,
    ) -> StoreResult<RegisterOutcome> {
        self.backend.register(ticket, now, user, identity).await
    }
}

#[async_trait]
impl SessionStore for SqlStore {
    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()> {
        self.backend.create_session(session).await
    }

    async fn live_session(
        &self,
        hash: &HandleHash,
        now: OffsetDateTime,
    ) -> StoreResult<Option<SessionRecord>> {
        self.backend.live_session(hash, now).await
    }

    async fn rotate_session_key(
        &self,
        appid: &AppId,
        openid: &OpenId,
        sealed_key: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.backend
            .rotate_session_key(appid, openid, sealed_key, now)
            .await
    }

    async fn open_session(
        &self,
        sealed_key: &[u8],
        session: &SessionRecord,
        sign_in: Option<(&FamilyRecord, &RefreshRecord)>,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        self.backend
            .open_session(sealed_key, session, sign_in, now)
            .await
    }

    async fn session_keys(
        &self,
        appid: &AppId,
        openid: &OpenId,
    ) -> StoreResult<Option<SessionKeys>> {
        self.backend.session_keys(appid, openid).await
    }
}

#[async_trait]
impl TokenStore for SqlStore {
    async fn create_family(&self, family: &FamilyRecord, first: &RefreshRecord) -> StoreResult<()> {
        self.backend.create_family(family, first).await
    }

    async fn rotate_refresh(
        &self,
        presented: &HandleHash,
        new: &RefreshRecord,
        now: OffsetDateTime,
    ) -> StoreResult<RotateOutcome> {
        self.backend.rotate_refresh(presented, new, now).await
    }

    async fn revoke_family(&self, family_id: &str, now: OffsetDateTime) -> StoreResult<()> {
        self.backend.revoke_family(family_id, now).await
    }

    async fn revoke_user(&self, user: &UserId, now: OffsetDateTime) -> StoreResult<Vec<String>> {
        self.backend.revoke_user(user, now).await
    }

    async fn family_active(&self, family_id: &str) -> StoreResult<bool> {
        self.backend.family_active(family_id).await
    }
}

#[async_trait]
impl KeyStore for SqlStore {
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        self.backend.signing_keys().await
    }

    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<bool> {
        self.backend.insert_signing_key(key).await
    }
}

#[async_trait]
impl Health for SqlStore {
    async fn ping(&self) -> StoreResult<()> {
        self.backend.ping().await
    }
}
