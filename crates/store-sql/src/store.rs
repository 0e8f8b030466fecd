//! [`SqlStore`]: the durable ports on one database, each query written once.
//!
//! Every port method is a unit over [`Exec`], run by the engine the URL picked:
//! * [`SqlStore::read`]: reads (SQLite: on the calling thread; servers: a pooled connection).
//! * [`SqlStore::write`]: one statement (SQLite: in the writer's next group; servers:
//!   autocommit).
//! * [`SqlStore::atomic`]: several statements, all or nothing (SQLite: a savepoint in the
//!   writer's next group; servers: a transaction).
//!
//! The ports are implemented one file each: `users` ([`UserStore`]), `sessions`
//! ([`SessionStore`]), `refresh` ([`RefreshStore`]), `keys` ([`KeyStore`]); [`Health`] is here.
//!
//! [`UserStore`]: wxlogin_core::ports::UserStore
//! [`SessionStore`]: wxlogin_core::ports::SessionStore
//! [`RefreshStore`]: wxlogin_core::ports::RefreshStore
//! [`KeyStore`]: wxlogin_core::ports::KeyStore

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
use wxlogin_core::ports::{Health, StoreError, StoreResult};
use wxlogin_core::redact::redact_url;

use crate::rows::unix;
use crate::sql::{BoxFuture, Exec, Query, Step, args};

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
    /// SQLite: when a commit counts as done (see [`Synchronous`]).
    pub synchronous: Synchronous,
}

/// SQLite's `synchronous` level in WAL mode: what an acknowledged write survives.
///
/// Both survive the process being killed (`kill -9`, the OOM killer): a commit is in the
/// WAL file, in the operating system's cache, before the writer answers. They differ on a
/// crash of the machine or a power loss.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// Every group commit is fsynced before anyone in it is answered: acknowledged writes
    /// also survive a power loss. The default.
    #[default]
    Full,
    /// The WAL is fsynced at checkpoints only: on a power loss or kernel crash the last
    /// commits (up to the last checkpoint) can be lost; the file is never corrupted.
    Normal,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(5),
            synchronous: Synchronous::Full,
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
///
/// [`UserStore`]: wxlogin_core::ports::UserStore
/// [`SessionStore`]: wxlogin_core::ports::SessionStore
/// [`RefreshStore`]: wxlogin_core::ports::RefreshStore
/// [`KeyStore`]: wxlogin_core::ports::KeyStore
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

    pub(crate) fn is_sqlite(&self) -> bool {
        self.backend_name() == "sqlite"
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
