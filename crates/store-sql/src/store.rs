//! [`SqlStore`]: the durable ports on one database, each query written once.
//!
//! Every port method is a unit over [`Exec`], run by the engine the URL picked:
//! * [`SqlStore::read`]: reads (SQLite: on the calling thread; servers: a pooled connection).
//! * [`SqlStore::write`]: one statement (SQLite: in the writer's next group; servers:
//!   autocommit).
//! * [`SqlStore::atomic`]: several statements, all or nothing (SQLite: a savepoint in the
//!   writer's next group; servers: a transaction).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
use wxlogin_core::crypto::HandleHash;
use wxlogin_core::events::EventType;
use wxlogin_core::ids::{AppId, ExternalId, FamilyId, OpenId, UnionId, UserId};
use wxlogin_core::ports::{
    FamilyRecord, Health, Identity, IdentitySummary, KeyStore, LoginRecord, NewUser, RefreshRecord,
    RefreshStore, RegisterOutcome, RotateOutcome, SessionKeys, SessionRecord, SessionStore,
    SigningKeyRecord, StoreError, StoreResult, TicketRecord, UserRecord, UserStore,
};
use wxlogin_core::redact::redact_url;

use crate::outbox::{NewEvent, insert_event, write_events};
use crate::rows::{self, unix};
use crate::sql::{Arg, BoxFuture, Exec, Query, Step, args};

/// How to connect. Build it from [`ConnectOptions::default`] and change what you need:
/// `ConnectOptions { max_connections: 16, ..ConnectOptions::default() }`.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Most connections the pool opens (PostgreSQL, MySQL). SQLite opens one writer, and a
    /// reader per thread that reads at the same moment.
    pub max_connections: u32,
    /// How long a query waits for a free connection before failing with
    /// [`StoreError::Unavailable`].
    pub acquire_timeout: Duration,
    /// SQLite: how long a statement waits for another process's write lock before failing
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

/// The engine the URL picked.
#[derive(Debug)]
enum Engine {
    #[cfg(feature = "sqlite")]
    Sqlite(crate::sqlite::SqliteEngine),
    #[cfg(feature = "postgres")]
    Postgres(crate::pooled::Pooled<sqlx::Postgres>),
    #[cfg(feature = "mysql")]
    Mysql(crate::pooled::Pooled<sqlx::MySql>),
}

/// The durable stores on one SQL database. Implements [`UserStore`], [`SessionStore`],
/// [`RefreshStore`], [`KeyStore`] and [`Health`], and `AdminStore`, `AdminKeyStore` and
/// `EventStore` (`wxlogin_core::admin`, `wxlogin_core::events`); hold it as `Arc<SqlStore>`
/// and coerce to the `Arc<dyn Port>` each use case wants.
///
/// `Debug` shows the backend and the URL with any password masked.
pub struct SqlStore {
    engine: Engine,
    /// The URL as given, already redacted: the password is never kept here.
    shown_url: String,
}

impl fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &self.backend_name())
            .field("url", &self.shown_url)
            .finish()
    }
}

impl SqlStore {
    /// Opens the database on `url`. The scheme picks the backend:
    ///
    /// * `sqlite://path/to/file.db` (relative paths start from the working directory): the
    ///   file and its parent directories are created if missing; WAL journal,
    ///   `synchronous=FULL`, foreign keys on, and a busy timeout of
    ///   [`ConnectOptions::busy_timeout`]. Reads run on the caller's thread, writes on one
    ///   writer thread that commits them in groups (see docs/operations.md).
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
        let engine = match scheme.as_str() {
            #[cfg(feature = "sqlite")]
            "sqlite" => Engine::Sqlite(crate::sqlite::SqliteEngine::connect(url, &opts).await?),
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => {
                Engine::Postgres(crate::pooled::postgres::connect(url, &opts).await?)
            }
            #[cfg(feature = "mysql")]
            "mysql" | "mariadb" => Engine::Mysql(crate::pooled::mysql::connect(url, &opts).await?),
            // A known backend that this build leaves out (its feature is off).
            #[allow(unreachable_patterns)]
            "sqlite" | "postgres" | "postgresql" | "mysql" | "mariadb" => {
                return Err(StoreError::other(
                    "connect",
                    format!(
                        "database URL scheme `{scheme}`: this build of wxlogin has no support for it"
                    ),
                ));
            }
            _ => {
                return Err(StoreError::other(
                    "connect",
                    format!("database URL scheme `{scheme}` is not one of sqlite, postgres, mysql"),
                ));
            }
        };
        let store = Self { engine, shown_url };
        tracing::debug!(backend = store.backend_name(), url = %store.shown_url, "database open");
        Ok(store)
    }

    /// Applies the embedded migrations that this database has not seen. A no-op when it is up
    /// to date; safe when several instances run it at the same moment on an empty database.
    /// Fails if the database has a migration this build does not know (it is newer) or an
    /// applied migration was edited.
    pub async fn migrate(&self) -> StoreResult<()> {
        match &self.engine {
            #[cfg(feature = "sqlite")]
            Engine::Sqlite(e) => e.migrate(&crate::sqlite::MIGRATOR).await,
            #[cfg(feature = "postgres")]
            Engine::Postgres(e) => e.migrate().await,
            #[cfg(feature = "mysql")]
            Engine::Mysql(e) => e.migrate().await,
        }
    }

    /// Closes the database, waiting for work in progress. Later calls fail with
    /// [`StoreError::Unavailable`].
    pub async fn close(&self) {
        match &self.engine {
            #[cfg(feature = "sqlite")]
            Engine::Sqlite(e) => e.close().await,
            #[cfg(feature = "postgres")]
            Engine::Postgres(e) => e.close().await,
            #[cfg(feature = "mysql")]
            Engine::Mysql(e) => e.close().await,
        }
    }

    /// Which backend the URL picked: `sqlite`, `postgres` or `mysql` (also for `mariadb://`).
    pub fn backend_name(&self) -> &'static str {
        match &self.engine {
            #[cfg(feature = "sqlite")]
            Engine::Sqlite(_) => "sqlite",
            #[cfg(feature = "postgres")]
            Engine::Postgres(_) => "postgres",
            #[cfg(feature = "mysql")]
            Engine::Mysql(_) => "mysql",
        }
    }

    pub(crate) fn is_postgres(&self) -> bool {
        self.backend_name() == "postgres"
    }

    /// Runs a read.
    pub(crate) async fn read<T, F>(&self, op: &'static str, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut dyn Exec) -> BoxFuture<'a, StoreResult<T>> + Send + 'static,
    {
        match &self.engine {
            #[cfg(feature = "sqlite")]
            Engine::Sqlite(e) => e.read(op, f).await,
            #[cfg(feature = "postgres")]
            Engine::Postgres(e) => e.read(op, f).await,
            #[cfg(feature = "mysql")]
            Engine::Mysql(e) => e.read(op, f).await,
        }
    }

    /// Runs a write of one statement (atomic by itself).
    pub(crate) async fn write<T, F>(&self, op: &'static str, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut dyn Exec) -> BoxFuture<'a, StoreResult<T>> + Send + 'static,
    {
        match &self.engine {
            #[cfg(feature = "sqlite")]
            Engine::Sqlite(e) => {
                e.atomic(op, move |db| {
                    Box::pin(async move { f(db).await.map(Step::Keep) })
                })
                .await
            }
            #[cfg(feature = "postgres")]
            Engine::Postgres(e) => e.read(op, f).await,
            #[cfg(feature = "mysql")]
            Engine::Mysql(e) => e.read(op, f).await,
        }
    }

    /// Runs several statements, all or nothing.
    pub(crate) async fn atomic<T, F>(&self, op: &'static str, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut dyn Exec) -> BoxFuture<'a, StoreResult<Step<T>>> + Send + 'static,
    {
        match &self.engine {
            #[cfg(feature = "sqlite")]
            Engine::Sqlite(e) => e.atomic(op, f).await,
            #[cfg(feature = "postgres")]
            Engine::Postgres(e) => e.atomic(op, f).await,
            #[cfg(feature = "mysql")]
            Engine::Mysql(e) => e.atomic(op, f).await,
        }
    }

    /// Deletes sessions, registration tickets and refresh tokens that expired at `now`, then
    /// the families that no longer have any token. For a periodic job; idempotent.
    ///
    /// A family outlives its last access token: every access token is issued with a refresh
    /// token that expires much later, so a family's last token expires only after every
    /// access token naming it has.
    pub async fn purge_expired(&self, now: OffsetDateTime) -> StoreResult<Purged> {
        static SESSIONS: Query = Query::new("DELETE FROM sessions WHERE expires_at <= ?");
        static TICKETS: Query =
            Query::new("DELETE FROM registration_tickets WHERE expires_at <= ?");
        static TOKENS: Query = Query::new("DELETE FROM refresh_tokens WHERE expires_at <= ?");
        static FAMILIES: Query = Query::new(
            "DELETE FROM refresh_families
             WHERE NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family_id = refresh_families.id)",
        );
        let now = unix(now);
        self.atomic("purge_expired", move |db| {
            Box::pin(async move {
                Ok(Step::Keep(Purged {
                    sessions: db.execute(&SESSIONS, &args![now]).await?,
                    tickets: db.execute(&TICKETS, &args![now]).await?,
                    refresh_tokens: db.execute(&TOKENS, &args![now]).await?,
                    families: db.execute(&FAMILIES, &[]).await?,
                }))
            })
        })
        .await
    }
}

/// The columns [`rows::user`] reads, of `users u`.
macro_rules! user_columns {
    () => {
        "u.id, u.phone_sealed, u.nickname, u.avatar_url, u.created_at, u.external_id, \
         u.disabled_at, u.last_login_at"
    };
}
pub(crate) use user_columns;

/// `INSERT INTO users` with every column, then `$tail` (an `ON CONFLICT` clause, or nothing);
/// the arguments are [`new_user_args`].
macro_rules! insert_user {
    ($tail:literal) => {
        concat!(
            "INSERT INTO users (id, phone_hash, phone_sealed, nickname, avatar_url, created_at,
                                external_id, disabled_at, last_login_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            $tail
        )
    };
}
pub(crate) use insert_user;

/// The arguments of [`insert_user!`]. A user created disabled is disabled from its creation.
pub(crate) fn new_user_args(new: &NewUser) -> [Arg<'_>; 9] {
    let u = &new.user;
    let created_at = unix(u.created_at);
    args![
        u.id.as_str(),
        new.phone_hash.as_slice(),
        u.phone_sealed.as_slice(),
        u.nickname.as_deref(),
        u.avatar_url.as_deref(),
        created_at,
        u.external_id.as_ref().map(ExternalId::as_str),
        u.disabled.then_some(created_at),
        u.last_login_at.map(unix),
    ]
}

/// Binds (appid, openid) to a user, moving it from any other; a known unionid is kept when
/// the new binding has none (it belongs to the WeChat identity, not to our user). MySQL:
/// `VALUES(col)` rather than MySQL 8's `AS new` alias, which MariaDB lacks; the primary key
/// is the table's only unique key, so nothing else can send the insert to the update.
static UPSERT_IDENTITY: Query = Query::new(
    "INSERT INTO identities (appid, openid, unionid, user_id, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (appid, openid) DO UPDATE SET
         user_id = excluded.user_id,
         unionid = COALESCE(excluded.unionid, identities.unionid),
         updated_at = excluded.updated_at",
)
.mysql(
    "INSERT INTO identities (appid, openid, unionid, user_id, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?)
     ON DUPLICATE KEY UPDATE
         user_id = VALUES(user_id),
         unionid = COALESCE(VALUES(unionid), unionid),
         updated_at = VALUES(updated_at)",
);

pub(crate) async fn upsert_identity(
    db: &mut dyn Exec,
    user: &UserId,
    identity: &Identity,
    now: OffsetDateTime,
) -> StoreResult<()> {
    let unionid = identity.unionid.as_ref().map(UnionId::as_str);
    let args = args![
        identity.appid.as_str(),
        identity.openid.as_str(),
        unionid,
        user.as_str(),
        unix(now),
        unix(now),
    ];
    db.execute(&UPSERT_IDENTITY, &args).await?;
    Ok(())
}

/// Who (appid, openid) is bound to, and the unionid it records. The plain read comes first:
/// on MySQL a locking read of a row that does not exist locks the gap before it, and two
/// units binding one new identity would then deadlock on their inserts.
static IDENTITY_OWNER: Query =
    Query::new("SELECT user_id, unionid FROM identities WHERE appid = ? AND openid = ?");
/// The same, locking the row until the unit ends (the servers; SQLite's writer is alone).
static LOCK_IDENTITY_OWNER: Query = Query::new(
    "SELECT user_id, unionid FROM identities WHERE appid = ? AND openid = ?",
)
.servers("SELECT user_id, unionid FROM identities WHERE appid = ? AND openid = ? FOR UPDATE");

/// [`UserStore::bind_identity`]'s change, in the caller's unit: the identity as now stored
/// (its unionid kept if the call has none) when the binding is new or moved from another
/// user, for the caller's `identity.bound`; `None` when it was bound to `user` already.
/// Binding an identity to the user it already belongs to changes at most its unionid, and
/// keeps `updated_at`, the time it was bound.
pub(crate) async fn bind(
    db: &mut dyn Exec,
    user: &UserId,
    identity: &Identity,
    now: OffsetDateTime,
) -> StoreResult<Option<Identity>> {
    static RECORD_UNIONID: Query =
        Query::new("UPDATE identities SET unionid = ? WHERE appid = ? AND openid = ?");
    let key = args![identity.appid.as_str(), identity.openid.as_str()];
    let owner = match db.fetch_optional(&IDENTITY_OWNER, &key).await? {
        // Unbound: the upsert binds it (or moves it from whoever bound it meanwhile).
        None => None,
        Some(_) => db.fetch_optional(&LOCK_IDENTITY_OWNER, &key).await?,
    };
    let Some(mut owner) = owner else {
        upsert_identity(db, user, identity, now).await?;
        return Ok(Some(identity.clone()));
    };
    let (owner, recorded) = (rows::user_id(&mut owner)?, owner.opt_text()?);
    if owner != *user {
        upsert_identity(db, user, identity, now).await?;
        let mut stored = identity.clone();
        if stored.unionid.is_none() {
            stored.unionid = recorded.map(rows::id).transpose()?;
        }
        return Ok(Some(stored));
    }
    let unionid = identity.unionid.as_ref().map(UnionId::as_str);
    if unionid.is_some() && unionid != recorded.as_deref() {
        let args = args![unionid, identity.appid.as_str(), identity.openid.as_str()];
        db.execute(&RECORD_UNIONID, &args).await?;
    }
    Ok(None)
}

/// A new current session_key for (appid, openid); the old one becomes `previous`. One
/// statement, so concurrent rotations serialise on the row. SQLite and PostgreSQL evaluate
/// every SET expression against the old row; MySQL assigns left to right, each seeing the
/// ones before, so there `previous_sealed` comes first, while `current_sealed` is still old.
static ROTATE_KEY: Query = Query::new(
    "INSERT INTO session_keys (appid, openid, current_sealed, previous_sealed, rotated_at)
     VALUES (?, ?, ?, NULL, ?)
     ON CONFLICT (appid, openid) DO UPDATE SET
         previous_sealed = session_keys.current_sealed,
         current_sealed = excluded.current_sealed,
         rotated_at = excluded.rotated_at",
)
.mysql(
    "INSERT INTO session_keys (appid, openid, current_sealed, previous_sealed, rotated_at)
     VALUES (?, ?, ?, NULL, ?)
     ON DUPLICATE KEY UPDATE
         previous_sealed = current_sealed,
         current_sealed = VALUES(current_sealed),
         rotated_at = VALUES(rotated_at)",
);

async fn rotate_key(
    db: &mut dyn Exec,
    appid: &AppId,
    openid: &OpenId,
    sealed_key: &[u8],
    now: OffsetDateTime,
) -> StoreResult<()> {
    let args = args![appid.as_str(), openid.as_str(), sealed_key, unix(now)];
    db.execute(&ROTATE_KEY, &args).await?;
    Ok(())
}

async fn insert_session(db: &mut dyn Exec, session: &SessionRecord) -> StoreResult<()> {
    static INSERT: Query = Query::new(
        "INSERT INTO sessions (hash, appid, openid, unionid, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?)",
    );
    let id = &session.identity;
    let args = args![
        session.hash.0.as_slice(),
        id.appid.as_str(),
        id.openid.as_str(),
        id.unionid.as_ref().map(UnionId::as_str),
        unix(session.created_at),
        unix(session.expires_at),
    ];
    db.execute(&INSERT, &args).await?;
    Ok(())
}

static INSERT_TOKEN: Query = Query::new(
    "INSERT INTO refresh_tokens (hash, family_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
);

async fn insert_token(
    db: &mut dyn Exec,
    family_id: &FamilyId,
    token: &RefreshRecord,
) -> StoreResult<()> {
    let args = args![
        token.hash.0.as_slice(),
        family_id.as_str(),
        unix(token.created_at),
        unix(token.expires_at),
    ];
    db.execute(&INSERT_TOKEN, &args).await?;
    Ok(())
}

/// A new refresh family and its first token, in the caller's unit.
async fn insert_family(
    db: &mut dyn Exec,
    family: &FamilyRecord,
    first: &RefreshRecord,
) -> StoreResult<()> {
    static INSERT: Query = Query::new(
        "INSERT INTO refresh_families (id, user_id, appid, created_at) VALUES (?, ?, ?, ?)",
    );
    let args = args![
        family.id.as_str(),
        family.user_id.as_str(),
        family.appid.as_str(),
        unix(family.created_at),
    ];
    db.execute(&INSERT, &args).await?;
    insert_token(db, &family.id, first).await
}

/// A sign-in, in the caller's unit: the user's `last_login_at` becomes `at`, then the new
/// family and its first token. The user's row comes first: on MySQL the family's foreign-key
/// check takes a shared lock on it, and two sign-ins of one user that both held that lock and
/// then wanted to update the row would deadlock.
async fn sign_in(
    db: &mut dyn Exec,
    family: &FamilyRecord,
    first: &RefreshRecord,
    at: OffsetDateTime,
) -> StoreResult<()> {
    static TOUCH: Query = Query::new("UPDATE users SET last_login_at = ? WHERE id = ?");
    db.execute(&TOUCH, &args![unix(at), family.user_id.as_str()])
        .await?;
    insert_family(db, family, first).await
}

/// The first user among `rows`.
fn first_user(rows: Option<crate::sql::Row>) -> StoreResult<Option<UserRecord>> {
    rows.map(|mut row| rows::user(&mut row)).transpose()
}

#[async_trait]
impl UserStore for SqlStore {
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

    async fn user_by_identity_and_unionid(
        &self,
        appid: &AppId,
        openid: &OpenId,
        unionid: Option<&UnionId>,
    ) -> StoreResult<Option<(UserRecord, bool)>> {
        static Q: Query = Query::new(concat!(
            "SELECT ",
            user_columns!(),
            ", i.unionid FROM identities i JOIN users u ON u.id = i.user_id
             WHERE i.appid = ? AND i.openid = ?"
        ));
        let (appid, openid, unionid) = (appid.clone(), openid.clone(), unionid.cloned());
        self.read("user_by_identity", move |db| {
            Box::pin(async move {
                let Some(mut row) = db
                    .fetch_optional(&Q, &args![appid.as_str(), openid.as_str()])
                    .await?
                else {
                    return Ok(None);
                };
                let user = rows::user(&mut row)?;
                let recorded = row.opt_text()?;
                let known = unionid.is_none_or(|u| recorded.as_deref() == Some(u.as_str()));
                Ok(Some((user, known)))
            })
        })
        .await
    }

    async fn user_by_unionid(&self, unionid: &UnionId) -> StoreResult<Option<UserRecord>> {
        // Normally one user has the unionid; should several, the oldest answers, every time.
        static Q: Query = Query::new(concat!(
            "SELECT ",
            user_columns!(),
            " FROM identities i JOIN users u ON u.id = i.user_id
             WHERE i.unionid = ? ORDER BY u.created_at, u.id LIMIT 1"
        ));
        let unionid = unionid.clone();
        self.read("user_by_unionid", move |db| {
            Box::pin(
                async move { first_user(db.fetch_optional(&Q, &args![unionid.as_str()]).await?) },
            )
        })
        .await
    }

    async fn user_by_phone(&self, phone_hash: &[u8; 32]) -> StoreResult<Option<UserRecord>> {
        static Q: Query = Query::new(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.phone_hash = ?"
        ));
        let phone_hash = *phone_hash;
        self.read("user_by_phone", move |db| {
            Box::pin(async move {
                first_user(db.fetch_optional(&Q, &args![phone_hash.as_slice()]).await?)
            })
        })
        .await
    }

    async fn user(&self, id: &UserId) -> StoreResult<Option<UserRecord>> {
        static Q: Query = Query::new(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.id = ?"
        ));
        let id = id.clone();
        self.read("user", move |db| {
            Box::pin(async move { first_user(db.fetch_optional(&Q, &args![id.as_str()]).await?) })
        })
        .await
    }

    async fn bind_identity(
        &self,
        user: &UserId,
        identity: &Identity,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let (user, identity) = (user.clone(), identity.clone());
        self.atomic("bind_identity", move |db| {
            Box::pin(async move {
                let Some(bound) = bind(db, &user, &identity, now).await? else {
                    return Ok(Step::Keep(false));
                };
                let kind = EventType::IdentityBound;
                insert_event(db, kind, &user, Some(&bound), None, now).await?;
                Ok(Step::Keep(true))
            })
        })
        .await
    }

    async fn identities(&self, user: &UserId) -> StoreResult<Vec<IdentitySummary>> {
        static Q: Query = Query::new(
            "SELECT appid, unionid FROM identities WHERE user_id = ?
             ORDER BY created_at, appid, openid",
        );
        let user = user.clone();
        self.read("identities", move |db| {
            Box::pin(async move {
                let rows = db.fetch(&Q, &args![user.as_str()]).await?;
                let mut out = Vec::with_capacity(rows.len());
                for mut row in rows {
                    out.extend(rows::identity_summary(&mut row)?);
                }
                Ok(out)
            })
        })
        .await
    }

    async fn identity_in_app(&self, user: &UserId, appid: &AppId) -> StoreResult<Option<Identity>> {
        static Q: Query = Query::new(
            "SELECT appid, openid, unionid FROM identities WHERE user_id = ? AND appid = ?
             ORDER BY created_at DESC, openid LIMIT 1",
        );
        let (user, appid) = (user.clone(), appid.clone());
        self.read("identity_in_app", move |db| {
            Box::pin(async move {
                db.fetch_optional(&Q, &args![user.as_str(), appid.as_str()])
                    .await?
                    .map(|mut row| rows::identity(&mut row))
                    .transpose()
            })
        })
        .await
    }

    async fn signed_in_user(
        &self,
        family_id: &FamilyId,
        user: &UserId,
    ) -> StoreResult<Option<(UserRecord, Vec<IdentitySummary>)>> {
        // `user` plus `identities` in their order, joined to the family as `family_active`
        // sees it: one row per identity, or one with NULL identity columns.
        static Q: Query = Query::new(concat!(
            "SELECT ",
            user_columns!(),
            ", i.appid, i.unionid
             FROM refresh_families f
             JOIN users u ON u.id = f.user_id
             LEFT JOIN identities i ON i.user_id = u.id
             WHERE f.id = ? AND f.user_id = ? AND f.revoked_at IS NULL
             ORDER BY i.created_at, i.appid, i.openid"
        ));
        let (family_id, user) = (family_id.clone(), user.clone());
        self.read("signed_in_user", move |db| {
            Box::pin(async move {
                let rows = db
                    .fetch(&Q, &args![family_id.as_str(), user.as_str()])
                    .await?;
                let mut found = None;
                for mut row in rows {
                    // Every row repeats the user: the first one's columns make the record.
                    let user = rows::user(&mut row)?;
                    let (_, identities) = found.get_or_insert_with(|| (user, Vec::new()));
                    identities.extend(rows::identity_summary(&mut row)?);
                }
                Ok(found)
            })
        })
        .await
    }

    async fn put_ticket(&self, ticket: &TicketRecord) -> StoreResult<()> {
        static Q: Query = Query::new(
            "INSERT INTO registration_tickets
                 (hash, appid, openid, unionid, phone_sealed, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        );
        let t = ticket.clone();
        self.write("put_ticket", move |db| {
            Box::pin(async move {
                let args = args![
                    t.hash.0.as_slice(),
                    t.identity.appid.as_str(),
                    t.identity.openid.as_str(),
                    t.identity.unionid.as_ref().map(UnionId::as_str),
                    t.phone_sealed.as_slice(),
                    unix(t.created_at),
                    unix(t.expires_at),
                ];
                db.execute(&Q, &args).await.map(drop)
            })
        })
        .await
    }

    async fn live_ticket(
        &self,
        hash: &HandleHash,
        now: OffsetDateTime,
    ) -> StoreResult<Option<TicketRecord>> {
        static Q: Query = Query::new(
            "SELECT hash, appid, openid, unionid, phone_sealed, created_at, expires_at
             FROM registration_tickets
             WHERE hash = ? AND used_at IS NULL AND expires_at > ?",
        );
        let hash = *hash;
        self.read("live_ticket", move |db| {
            Box::pin(async move {
                db.fetch_optional(&Q, &args![hash.0.as_slice(), unix(now)])
                    .await?
                    .map(|mut row| rows::ticket(&mut row))
                    .transpose()
            })
        })
        .await
    }

    async fn register(
        &self,
        ticket: &HandleHash,
        now: OffsetDateTime,
        user: NewUser,
        identity: &Identity,
    ) -> StoreResult<RegisterOutcome> {
        // Consume the ticket first: of two concurrent registrations with it, the second finds
        // it used. A ticket only registers the identity it was issued to.
        static CONSUME: Query = Query::new(
            "UPDATE registration_tickets SET used_at = ?
             WHERE hash = ? AND used_at IS NULL AND expires_at > ? AND appid = ? AND openid = ?",
        );
        // Only a taken phone means "taken"; a taken id or external_id stays an error.
        static INSERT_USER: Query =
            Query::new(insert_user!(" ON CONFLICT (phone_hash) DO NOTHING"))
                .mysql(insert_user!(""))
                .mysql_duplicate_is_noop(&["users_phone_hash"]);
        let (ticket, identity) = (*ticket, identity.clone());
        self.atomic("register", move |db| {
            Box::pin(async move {
                let consume = args![
                    unix(now),
                    ticket.0.as_slice(),
                    unix(now),
                    identity.appid.as_str(),
                    identity.openid.as_str(),
                ];
                if db.execute(&CONSUME, &consume).await? == 0 {
                    return Ok(Step::Keep(RegisterOutcome::TicketInvalid));
                }
                if db.execute(&INSERT_USER, &new_user_args(&user)).await? == 0 {
                    // Undo the ticket's consumption too: the caller may offer another way in.
                    return Ok(Step::Undo(RegisterOutcome::PhoneTaken));
                }
                let record = user.user;
                upsert_identity(db, &record.id, &identity, now).await?;
                let external_id = record.external_id.as_ref().map(ExternalId::as_str);
                let events = [
                    NewEvent::new(EventType::UserRegistered, &record.id, external_id)
                        .identity(&identity),
                    NewEvent::new(EventType::IdentityBound, &record.id, external_id)
                        .identity(&identity),
                ];
                write_events(db, &events, now).await?;
                Ok(Step::Keep(RegisterOutcome::Created(record)))
            })
        })
        .await
    }
}

#[async_trait]
impl SessionStore for SqlStore {
    async fn record_login(&self, login: &LoginRecord) -> StoreResult<()> {
        let login = login.clone();
        let announce = login.announce && login.sign_in.is_some();
        if self.is_postgres() && login.session.is_some() && !announce {
            // One statement, so one round trip and no BEGIN/COMMIT.
            return self
                .write("record_login", move |db| {
                    Box::pin(async move { pg_record_login(db, &login).await })
                })
                .await;
        }
        // One unit: one commit per login. The session_keys row is written first, as every
        // login writes it: concurrent logins of one identity queue on it in the same order;
        // then the user's row (`sign_in`), then new rows, and the event last.
        self.atomic("record_login", move |db| {
            Box::pin(async move {
                let id = &login.identity;
                rotate_key(db, &id.appid, &id.openid, &login.sealed_key, login.at).await?;
                if let Some(session) = &login.session {
                    insert_session(db, session).await?;
                }
                if let Some((family, first)) = &login.sign_in {
                    sign_in(db, family, first, login.at).await?;
                    if announce {
                        let (kind, user) = (EventType::UserSignedIn, &family.user_id);
                        insert_event(db, kind, user, Some(id), None, login.at).await?;
                    }
                }
                Ok(Step::Keep(()))
            })
        })
        .await
    }

    async fn live_session(
        &self,
        hash: &HandleHash,
        now: OffsetDateTime,
    ) -> StoreResult<Option<SessionRecord>> {
        static Q: Query = Query::new(
            "SELECT hash, appid, openid, unionid, created_at, expires_at
             FROM sessions WHERE hash = ? AND expires_at > ?",
        );
        let hash = *hash;
        self.read("live_session", move |db| {
            Box::pin(async move {
                db.fetch_optional(&Q, &args![hash.0.as_slice(), unix(now)])
                    .await?
                    .map(|mut row| rows::session(&mut row))
                    .transpose()
            })
        })
        .await
    }

    async fn session_keys(
        &self,
        appid: &AppId,
        openid: &OpenId,
    ) -> StoreResult<Option<SessionKeys>> {
        static Q: Query = Query::new(
            "SELECT current_sealed, previous_sealed, rotated_at
             FROM session_keys WHERE appid = ? AND openid = ?",
        );
        let (appid, openid) = (appid.clone(), openid.clone());
        self.read("session_keys", move |db| {
            Box::pin(async move {
                db.fetch_optional(&Q, &args![appid.as_str(), openid.as_str()])
                    .await?
                    .map(|mut row| rows::session_keys(&mut row))
                    .transpose()
            })
        })
        .await
    }
}

#[async_trait]
impl RefreshStore for SqlStore {
    async fn create_family(
        &self,
        family: &FamilyRecord,
        first: &RefreshRecord,
        announce: bool,
    ) -> StoreResult<()> {
        // The identity `user.signed_in` names: the user's in the family's app, as
        // `identity_in_app` reads it.
        static SIGNED_IN_AS: Query = Query::new(
            "SELECT u.external_id, i.appid, i.openid, i.unionid
             FROM users u LEFT JOIN identities i ON i.user_id = u.id AND i.appid = ?
             WHERE u.id = ?
             ORDER BY i.created_at DESC, i.openid LIMIT 1",
        );
        let (family, first) = (family.clone(), first.clone());
        self.atomic("create_family", move |db| {
            Box::pin(async move {
                sign_in(db, &family, &first, family.created_at).await?;
                if announce {
                    let args = args![family.appid.as_str(), family.user_id.as_str()];
                    let mut row = db.fetch_one(&SIGNED_IN_AS, &args).await?;
                    let external_id = row.opt_text()?;
                    let mut event = NewEvent::new(
                        EventType::UserSignedIn,
                        &family.user_id,
                        external_id.as_deref(),
                    );
                    event.identity = rows::opt_identity(&mut row)?;
                    write_events(db, &[event], family.created_at).await?;
                }
                Ok(Step::Keep(()))
            })
        })
        .await
    }

    async fn rotate_refresh(
        &self,
        presented: &HandleHash,
        new: &RefreshRecord,
        now: OffsetDateTime,
    ) -> StoreResult<RotateOutcome> {
        // The conditional UPDATE decides: of N concurrent calls, the first marks the token
        // used; each later one runs after it (SQLite: the writer runs units one at a time) or
        // waits for its row lock and then finds it used (servers), and changes nothing.
        // A disabled user's tokens do not rotate: the unit below says `UserDisabled`.
        static USE: Query = Query::new(
            "UPDATE refresh_tokens SET used_at = ?
             WHERE hash = ? AND used_at IS NULL AND expires_at > ?
               AND EXISTS (SELECT 1 FROM refresh_families f JOIN users u ON u.id = f.user_id
                           WHERE f.id = refresh_tokens.family_id AND f.revoked_at IS NULL
                             AND u.disabled_at IS NULL)",
        );
        static FAMILY: Query = Query::new(
            "SELECT f.id, f.user_id, f.appid, f.created_at
             FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id
             WHERE t.hash = ?",
        );
        // Not live: why. MySQL: FOR UPDATE reads the latest committed rows, not the
        // transaction's snapshot, and holds the family row we may revoke next.
        static STATE: Query = Query::new(
            "SELECT t.used_at, f.revoked_at, t.family_id, f.user_id, u.disabled_at, u.external_id
             FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id
             JOIN users u ON u.id = f.user_id
             WHERE t.hash = ?",
        )
        .mysql(
            "SELECT t.used_at, f.revoked_at, t.family_id, f.user_id, u.disabled_at, u.external_id
             FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id
             JOIN users u ON u.id = f.user_id
             WHERE t.hash = ? FOR UPDATE",
        );
        let (presented, new) = (*presented, new.clone());
        let (at, now) = (now, unix(now));
        if self.is_postgres() {
            // The common case in one statement: the token rotates. Otherwise (reuse, unknown)
            // the unit below says why, in a transaction.
            let new = new.clone();
            let rotated = self
                .write("rotate_refresh", move |db| {
                    Box::pin(async move { pg_rotate_refresh(db, &presented, &new, now).await })
                })
                .await?;
            if let Some(family) = rotated {
                return Ok(RotateOutcome::Rotated(family));
            }
        }
        self.atomic("rotate_refresh", move |db| {
            Box::pin(async move {
                let token = presented.0.as_slice();
                if db.execute(&USE, &args![now, token, now]).await? == 1 {
                    // `new` joins the presented token's family: the caller could not know it,
                    // so `new.family_id` is not read.
                    let family = rows::family(&mut db.fetch_one(&FAMILY, &args![token]).await?)?;
                    insert_token(db, &family.id, &new).await?;
                    return Ok(Step::Keep(RotateOutcome::Rotated(family)));
                }
                let Some(mut state) = db.fetch_optional(&STATE, &args![token]).await? else {
                    return Ok(Step::Keep(RotateOutcome::Invalid));
                };
                let (used_at, revoked_at) = (state.opt_int()?, state.opt_int()?);
                let family_id = rows::family_id(&mut state)?;
                let user = rows::user_id(&mut state)?;
                let (disabled_at, external_id) = (state.opt_int()?, state.opt_text()?);
                if disabled_at.is_some() {
                    // Known, whatever its state: the user's being disabled is the answer.
                    return Ok(Step::Keep(RotateOutcome::UserDisabled));
                }
                if used_at.is_none() || revoked_at.is_some() {
                    // Unknown, expired and unused, or its family is already revoked.
                    return Ok(Step::Keep(RotateOutcome::Invalid));
                }
                // Presented again after its one rotation: someone holds a copy. Revoke the
                // whole family. The read above may predate another reuse's revocation:
                // whoever flips revoked_at reports the reuse; the others found a revoked
                // family, as if they had come after.
                let revoked = db
                    .execute(&REVOKE_FAMILY, &args![now, family_id.as_str()])
                    .await?;
                if revoked != 1 {
                    return Ok(Step::Keep(RotateOutcome::Invalid));
                }
                let reused =
                    NewEvent::new(EventType::RefreshTokenReused, &user, external_id.as_deref());
                write_events(db, &[reused], at).await?;
                Ok(Step::Keep(RotateOutcome::Reused { family_id }))
            })
        })
        .await
    }

    async fn revoke_family(&self, family_id: &FamilyId, now: OffsetDateTime) -> StoreResult<()> {
        let family_id = family_id.clone();
        self.write("revoke_family", move |db| {
            Box::pin(async move {
                db.execute(&REVOKE_FAMILY, &args![unix(now), family_id.as_str()])
                    .await
                    .map(drop)
            })
        })
        .await
    }

    async fn revoke_user(&self, user: &UserId, now: OffsetDateTime) -> StoreResult<Vec<FamilyId>> {
        static REVOKE: Query = Query::new(
            "UPDATE refresh_families SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
        );
        static IDS: Query = Query::new("SELECT id FROM refresh_families WHERE user_id = ?");
        let user = user.clone();
        self.atomic("revoke_user", move |db| {
            Box::pin(async move {
                db.execute(&REVOKE, &args![unix(now), user.as_str()])
                    .await?;
                let mut ids = Vec::new();
                for mut row in db.fetch(&IDS, &args![user.as_str()]).await? {
                    ids.push(rows::family_id(&mut row)?);
                }
                Ok(Step::Keep(ids))
            })
        })
        .await
    }

    async fn family_active(&self, family_id: &FamilyId) -> StoreResult<bool> {
        static Q: Query = Query::new("SELECT revoked_at FROM refresh_families WHERE id = ?");
        let family_id = family_id.clone();
        self.read("family_active", move |db| {
            Box::pin(async move {
                match db.fetch_optional(&Q, &args![family_id.as_str()]).await? {
                    Some(mut row) => Ok(row.opt_int()?.is_none()),
                    None => Ok(false),
                }
            })
        })
        .await
    }
}

/// [`SessionStore::record_login`] with a session, on PostgreSQL: one statement. The rows of
/// the data-modifying CTEs are checked (foreign keys included) at the end of the statement,
/// so the first token may name the family inserted beside it.
async fn pg_record_login(db: &mut dyn Exec, login: &LoginRecord) -> StoreResult<()> {
    macro_rules! key_and_session {
        () => {
            "WITH k AS (
                 INSERT INTO session_keys (appid, openid, current_sealed, previous_sealed, rotated_at)
                 VALUES (?, ?, ?, NULL, ?)
                 ON CONFLICT (appid, openid) DO UPDATE SET
                     previous_sealed = session_keys.current_sealed,
                     current_sealed = excluded.current_sealed,
                     rotated_at = excluded.rotated_at
                 RETURNING 1
             ), s AS (
                 INSERT INTO sessions (hash, appid, openid, unionid, created_at, expires_at)
                 VALUES (?, ?, ?, ?, ?, ?)
                 RETURNING 1
             )"
        };
    }
    static LOGIN: Query = Query::new(concat!(
        key_and_session!(),
        " SELECT (SELECT count(*) FROM k) + (SELECT count(*) FROM s)"
    ));
    static SIGN_IN: Query = Query::new(concat!(
        key_and_session!(),
        ", f AS (
             INSERT INTO refresh_families (id, user_id, appid, created_at) VALUES (?, ?, ?, ?)
         ), u AS (
             UPDATE users SET last_login_at = ? WHERE id = ?
         )
         INSERT INTO refresh_tokens (hash, family_id, created_at, expires_at)
         VALUES (?, ?, ?, ?)"
    ));
    let (id, key) = (&login.identity, login.sealed_key.as_slice());
    let Some(session) = &login.session else {
        return Err(StoreError::other("", "a login without a session"));
    };
    let unionid = session.identity.unionid.as_ref().map(UnionId::as_str);
    let head = args![
        id.appid.as_str(),
        id.openid.as_str(),
        key,
        unix(login.at),
        session.hash.0.as_slice(),
        session.identity.appid.as_str(),
        session.identity.openid.as_str(),
        unionid,
        unix(session.created_at),
        unix(session.expires_at),
    ];
    match &login.sign_in {
        None => db.fetch(&LOGIN, &head).await.map(drop),
        Some((family, first)) => {
            let mut all = head.to_vec();
            all.extend(args![
                family.id.as_str(),
                family.user_id.as_str(),
                family.appid.as_str(),
                unix(family.created_at),
                unix(login.at),
                family.user_id.as_str(),
                first.hash.0.as_slice(),
                family.id.as_str(),
                unix(first.created_at),
                unix(first.expires_at),
            ]);
            db.execute(&SIGN_IN, &all).await.map(drop)
        }
    }
}

/// The rotation of a live token on PostgreSQL, in one statement: its family, or `None` when
/// the token did not rotate (used, expired, unknown, or its family revoked).
async fn pg_rotate_refresh(
    db: &mut dyn Exec,
    presented: &HandleHash,
    new: &RefreshRecord,
    now: i64,
) -> StoreResult<Option<FamilyRecord>> {
    static Q: Query = Query::new(
        "WITH used AS (
             UPDATE refresh_tokens SET used_at = ?
             WHERE hash = ? AND used_at IS NULL AND expires_at > ?
               AND EXISTS (SELECT 1 FROM refresh_families f JOIN users u ON u.id = f.user_id
                           WHERE f.id = refresh_tokens.family_id AND f.revoked_at IS NULL
                             AND u.disabled_at IS NULL)
             RETURNING family_id
         ), added AS (
             INSERT INTO refresh_tokens (hash, family_id, created_at, expires_at)
             SELECT ?, family_id, ?, ? FROM used
         )
         SELECT f.id, f.user_id, f.appid, f.created_at
         FROM refresh_families f JOIN used ON f.id = used.family_id",
    );
    let args = args![
        now,
        presented.0.as_slice(),
        now,
        new.hash.0.as_slice(),
        unix(new.created_at),
        unix(new.expires_at),
    ];
    db.fetch_optional(&Q, &args)
        .await?
        .map(|mut row| rows::family(&mut row))
        .transpose()
}

static REVOKE_FAMILY: Query =
    Query::new("UPDATE refresh_families SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL");

#[async_trait]
impl KeyStore for SqlStore {
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        static Q: Query = Query::new(
            "SELECT kid, generation, public_key, private_sealed, created_at
             FROM signing_keys ORDER BY generation",
        );
        self.read("signing_keys", move |db| {
            Box::pin(async move {
                db.fetch(&Q, &[])
                    .await?
                    .into_iter()
                    .map(|mut row| rows::signing_key(&mut row))
                    .collect()
            })
        })
        .await
    }

    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<bool> {
        // Only a taken generation means "another instance won"; a taken kid is a bug and
        // stays an error.
        static Q: Query = Query::new(
            "INSERT INTO signing_keys (kid, generation, public_key, private_sealed, created_at)
             VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (generation) DO NOTHING",
        )
        .mysql(
            "INSERT INTO signing_keys (kid, generation, public_key, private_sealed, created_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .mysql_duplicate_is_noop(&["signing_keys_generation"]);
        let k = key.clone();
        self.write("insert_signing_key", move |db| {
            Box::pin(async move {
                let args = args![
                    k.kid.as_str(),
                    k.generation,
                    k.public_key.as_slice(),
                    k.private_sealed.as_slice(),
                    unix(k.created_at),
                ];
                Ok(db.execute(&Q, &args).await? == 1)
            })
        })
        .await
    }
}

#[async_trait]
impl Health for SqlStore {
    async fn ping(&self) -> StoreResult<()> {
        static Q: Query = Query::new("SELECT 1");
        self.read("ping", move |db| {
            Box::pin(async move { db.fetch(&Q, &[]).await.map(drop) })
        })
        .await
    }
}
