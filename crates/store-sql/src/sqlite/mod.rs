//! The SQLite backend: connection setup, migrations, upkeep, and the ports in one submodule
//! each.
//!
//! Locking: SQLite has one writer at a time. A transaction that reads first and writes later
//! holds a read lock it must upgrade, and two such transactions wait on each other; SQLite
//! fails one of them at once with `SQLITE_BUSY`, without waiting for the busy timeout. So
//! every transaction here that may write starts with `BEGIN IMMEDIATE` ([`begin_write`]),
//! which takes the write lock up front and waits for it (up to the busy timeout) instead.
//! Single statements need nothing: each is its own transaction.
//!
//! Within one process, every write goes through a pool of one connection (`writer`), reads
//! through the other pool: writers queue in sqlx's pool (FIFO, woken when the connection is
//! free) instead of polling for the lock in SQLite's busy handler, which sleeps 1, 2, 5,
//! 10 … ms between tries and leaves the lock idle meanwhile. The busy timeout still bounds
//! waits on writers of other processes sharing the file; the pool's acquire timeout bounds
//! the wait in the queue.
//!
//! # Layout
//! * this file: [`SqliteStore`], connecting, migrating, purging, error mapping.
//! * `users`, `sessions`, `tokens`, `keys`: one port each.

mod keys;
mod sessions;
mod tokens;
mod users;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::error::DatabaseError;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, Transaction};
use time::OffsetDateTime;
use tokio::time::Instant;
use wxlogin_core::ports::{Health, StoreError, StoreResult};

use crate::backend::Backend;
use crate::errors;
use crate::rows::unix;
use crate::store::{ConnectOptions, Purged};

/// `migrations/sqlite/`, embedded at compile time.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite backend: one pool on one database file (or one in-memory database).
#[derive(Debug)]
pub(crate) struct SqliteStore {
    /// Reads. For an in-memory database, the same one connection as `writer`.
    pool: SqlitePool,
    /// Writes (single statements and `BEGIN IMMEDIATE` transactions): one connection.
    writer: SqlitePool,
}

// SQLite primary result codes (the low byte of an extended one).
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_IOERR: i32 = 10;
const SQLITE_FULL: i32 = 13;
const SQLITE_CANTOPEN: i32 = 14;

fn primary_code(err: &dyn DatabaseError) -> i32 {
    err.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0) & 0xff
}

/// Whether a database error means "busy or unreachable, try later" rather than "wrong".
fn is_transient(err: &dyn DatabaseError) -> bool {
    matches!(
        primary_code(err),
        SQLITE_BUSY | SQLITE_LOCKED | SQLITE_IOERR | SQLITE_FULL | SQLITE_CANTOPEN
    )
}

/// Whether `err` is SQLite's "busy" or "locked".
fn is_busy(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if matches!(primary_code(db.as_ref()), SQLITE_BUSY | SQLITE_LOCKED))
}

/// An error-mapping closure for `map_err`, naming the operation.
fn db_err(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| errors::from_sqlx(op, e, is_transient)
}

/// Whether `url` names an in-memory database (`sqlite::memory:`, `sqlite://:memory:`,
/// `sqlite://…?mode=memory`).
fn is_memory(url: &str) -> bool {
    let rest = url.split_once(':').map_or("", |(_, rest)| rest);
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    path == ":memory:" || query.split('&').any(|pair| pair == "mode=memory")
}

/// Begins a transaction that holds the write lock from its first statement.
async fn begin_write(
    pool: &SqlitePool,
    op: &'static str,
) -> StoreResult<Transaction<'static, Sqlite>> {
    pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err(op))
}

impl SqliteStore {
    /// Opens the pool; see [`crate::SqlStore::connect`] for what each URL form does.
    pub(crate) async fn connect(url: &str, opts: &ConnectOptions) -> StoreResult<Self> {
        // sqlx's message names the offending part of the URL; a SQLite URL has no password.
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("invalid SQLite database URL: {e}")))?
            .foreign_keys(true)
            .busy_timeout(opts.busy_timeout);
        // No ping on checkout: a SQLite connection is a local file handle that does not go
        // stale, and the ping was one more round trip through sqlx's worker thread per query.
        let pool_options = SqlitePoolOptions::new()
            .acquire_timeout(opts.acquire_timeout)
            .test_before_acquire(false);

        let (pool, writer) = if is_memory(url) {
            // An in-memory database dies with its last connection, and each sqlx connection
            // to `:memory:` would otherwise be its own database: keep exactly one, forever.
            let pool = pool_options
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await
                .map_err(db_err("connect"))?;
            (pool.clone(), pool)
        } else {
            if let Some(dir) = options
                .get_filename()
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
            {
                tokio::fs::create_dir_all(dir).await.map_err(|e| {
                    StoreError::Unavailable(format!("creating the SQLite database directory: {e}"))
                })?;
            }
            // No journal_mode here: see `ensure_wal`. synchronous and foreign_keys are per
            // connection, so every connection sets them.
            let options = options
                .create_if_missing(true)
                .synchronous(SqliteSynchronous::Normal);
            let pool = pool_options
                .clone()
                .max_connections(opts.max_connections.max(1))
                .connect_with(options.clone())
                .await
                .map_err(db_err("connect"))?;
            ensure_wal(&pool, opts.busy_timeout).await?;
            let writer = pool_options
                .max_connections(1)
                .connect_with(options)
                .await
                .map_err(db_err("connect"))?;
            (pool, writer)
        };
        Ok(Self { pool, writer })
    }
}

/// Switches the database file to WAL. The journal mode is stored in the file, so once is
/// enough for every connection, present (they notice on their next read) or future.
///
/// Not a per-connection option (`SqliteConnectOptions::journal_mode`), because switching a
/// new file to WAL takes an exclusive lock, and SQLite answers `SQLITE_BUSY` at once, without
/// the busy handler, when another connection is doing the same: several instances starting
/// together on a new file would fail to connect. So: retry, for up to `patience`.
async fn ensure_wal(pool: &SqlitePool, patience: Duration) -> StoreResult<()> {
    let deadline = Instant::now() + patience;
    let mut pause = Duration::from_millis(2);
    loop {
        match sqlx::query_scalar::<_, String>("PRAGMA journal_mode = WAL")
            .fetch_one(pool)
            .await
        {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(mode) => {
                // Some file systems cannot do WAL: still correct, with more lock waits.
                tracing::warn!(%mode, "SQLite kept its journal mode instead of switching to WAL");
                return Ok(());
            }
            Err(e) if is_busy(&e) && Instant::now() < deadline => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            Err(e) => return Err(db_err("connect")(e)),
        }
    }
}

/// Applies `migrator`'s pending migrations.
///
/// sqlx's SQLite migrator takes no lock of its own: two instances starting together (on a new
/// file, or a new binary on an old file) would both list migration N as pending, and the
/// second would fail applying it again ("table … already exists"). Holding the write lock
/// around the whole run makes the second wait, then list N as applied. Each migration runs in
/// a savepoint inside this transaction, so a failed one still leaves nothing behind.
async fn run_migrations(pool: &SqlitePool, migrator: &Migrator) -> StoreResult<()> {
    let mut tx = begin_write(pool, "migrate").await?;
    // `run_direct` is `run` without its `Acquire` bound, which an async fn cannot prove for a
    // borrowed connection ("implementation of `Acquire` is not general enough").
    migrator
        .run_direct(&mut *tx)
        .await
        .map_err(|e| errors::from_migrate(e, is_transient))?;
    tx.commit().await.map_err(db_err("migrate"))
}

#[async_trait]
impl Backend for SqliteStore {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> StoreResult<()> {
        run_migrations(&self.writer, &MIGRATOR).await
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> StoreResult<Purged> {
        const OP: &str = "purge_expired";
        let now = unix(now);
        let mut tx = begin_write(&self.writer, OP).await?;
        let mut delete = async |sql: &'static str| -> StoreResult<u64> {
            let done = sqlx::query(sql)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_err(OP))?;
            Ok(done.rows_affected())
        };
        let sessions = delete("DELETE FROM sessions WHERE expires_at <= ?1").await?;
        let tickets = delete("DELETE FROM registration_tickets WHERE expires_at <= ?1").await?;
        let refresh_tokens = delete("DELETE FROM refresh_tokens WHERE expires_at <= ?1").await?;
        let families = sqlx::query(
            "DELETE FROM refresh_families
             WHERE NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family_id = refresh_families.id)",
        )
        .execute(&mut *tx)
        .await
        .map_err(db_err(OP))?
        .rows_affected();
        tx.commit().await.map_err(db_err(OP))?;
        Ok(Purged {
            sessions,
            tickets,
            refresh_tokens,
            families,
        })
    }

    async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }
}

#[async_trait]
impl Health for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_err("ping"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sqlx::migrate::Migrator;
    use tokio::sync::Barrier;

    use super::{SqliteStore, is_memory, run_migrations};
    use crate::ConnectOptions;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn instances_upgrading_one_database_at_once_apply_each_migration_once() {
        // A database at version 1, and eight instances of a binary that brings version 2.
        const INSTANCES: usize = 8;
        let dir = tempfile::tempdir().unwrap();
        let sql = dir.path().join("migrations");
        std::fs::create_dir(&sql).unwrap();
        std::fs::write(sql.join("0001_a.sql"), "CREATE TABLE a (x INTEGER);").unwrap();
        let v1 = Migrator::new(sql.as_path()).await.unwrap();
        std::fs::write(sql.join("0002_b.sql"), "CREATE TABLE b (x INTEGER);").unwrap();
        let v2 = Arc::new(Migrator::new(sql.as_path()).await.unwrap());
        let url = format!("sqlite://{}", dir.path().join("wx.db").display());
        let mut stores = Vec::new();
        for _ in 0..INSTANCES {
            stores.push(
                SqliteStore::connect(&url, &ConnectOptions::default())
                    .await
                    .unwrap(),
            );
        }
        run_migrations(&stores[0].pool, &v1).await.unwrap();
        let barrier = Arc::new(Barrier::new(INSTANCES));

        let mut tasks = tokio::task::JoinSet::new();
        for store in stores {
            let (v2, barrier) = (v2.clone(), barrier.clone());
            tasks.spawn(async move {
                barrier.wait().await;
                run_migrations(&store.pool, &v2).await.map(|()| store)
            });
        }
        let results = tasks.join_all().await;

        let stores: Vec<SqliteStore> = results.into_iter().map(Result::unwrap).collect();
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&stores[0].pool)
                .await
                .unwrap();
        assert_eq!(applied, [1, 2]);
    }

    #[test]
    fn memory_urls_are_recognised_and_file_urls_are_not() {
        assert!(is_memory("sqlite::memory:"));
        assert!(is_memory("sqlite://:memory:"));
        assert!(is_memory("sqlite://shared?mode=memory&cache=shared"));
        assert!(!is_memory("sqlite://./wxlogin-data/wxlogin.db"));
        assert!(!is_memory("sqlite:///tmp/memory.db?mode=rwc"));
    }
}
