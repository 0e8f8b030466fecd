//! The MySQL backend (MySQL 8, MariaDB 10.6+): connection setup, migrations, upkeep, error
//! mapping, and the ports in one submodule each.
//!
//! Locking: InnoDB at REPEATABLE READ (the default). Every atomic step starts with a
//! conditional write (`UPDATE … WHERE used_at IS NULL`, `INSERT` on a unique key): of
//! concurrent writers to one row, the first takes its row lock, the others wait for it and then
//! evaluate their condition against the committed row, so the row count decides who won.
//! Reads that decide a later write use `FOR UPDATE`, which reads the latest committed row
//! rather than the transaction's snapshot.
//!
//! Migrations: [`run_migrations`] holds a named lock (`GET_LOCK`, one per database) around the
//! whole run, so instances starting together apply each migration once.
//!
//! Text columns use the binary collation (case-sensitive ids), which MySQL reports as
//! `VARBINARY` and sqlx will not decode into a `String`; so every text column is selected as
//! `CONVERT(col USING utf8mb4) AS col`, which is the same text under a non-binary collation.
//!
//! Error messages: MySQL puts the offending value in some messages ("Duplicate entry '…' for
//! key …", "Incorrect string value: '…'"), which could be a phone hash or a token hash, so
//! [`db_err`] keeps only the error number for those.
//!
//! # Layout
//! * this file: [`MySqlStore`], connecting, migrating, purging, error mapping.
//! * `users`, `sessions`, `tokens`, `keys`: one port each.

mod keys;
mod sessions;
mod tokens;
mod users;

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::error::DatabaseError;
use sqlx::migrate::Migrator;
use sqlx::mysql::{MySqlConnectOptions, MySqlDatabaseError, MySqlPool, MySqlPoolOptions};
use sqlx::{MySql, Transaction};
use time::OffsetDateTime;
use wxlogin_core::ports::{Health, StoreError, StoreResult};

use crate::backend::Backend;
use crate::errors;
use crate::rows::unix;
use crate::store::{ConnectOptions, Purged};

/// How long [`run_migrations`] waits for another instance's migration run, in seconds.
const MIGRATE_LOCK_WAIT_SECS: i64 = 60;

/// MySQL's "duplicate entry for a unique key" (SQLSTATE 23000).
pub(super) const ER_DUP_ENTRY: u16 = 1062;

/// The MySQL backend: one pool on one database.
#[derive(Debug)]
pub(crate) struct MySqlStore {
    pool: MySqlPool,
}

/// MySQL's error number, when `err` came from the server.
fn number(err: &dyn DatabaseError) -> Option<u16> {
    err.try_downcast_ref::<MySqlDatabaseError>()
        .map(MySqlDatabaseError::number)
}

/// Whether a database error means "busy or unreachable, try later" rather than "wrong":
/// too many connections (1040, 1203), shutdown (1053, 1927 connection killed), lock wait
/// timeout (1205), deadlock (1213), interrupted or timed-out statements (1317, 1969, 3024).
fn is_transient(err: &dyn DatabaseError) -> bool {
    matches!(
        number(err),
        Some(1040 | 1053 | 1203 | 1205 | 1213 | 1317 | 1927 | 1969 | 3024)
    )
}

/// Whether `err` is a duplicate entry on the unique key named `key`. (MariaDB names the key
/// `'users_phone_hash'`, MySQL 8 `'users.users_phone_hash'`.)
pub(super) fn is_duplicate_on(err: &sqlx::Error, key: &str) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            number(db.as_ref()) == Some(ER_DUP_ENTRY)
                && (db.message().ends_with(&format!("'{key}'"))
                    || db.message().ends_with(&format!(".{key}'")))
        }
        _ => false,
    }
}

/// Error numbers whose message quotes the offending value.
fn quotes_a_value(number: u16) -> bool {
    // 1062 duplicate entry, 1366 incorrect string value, 1292 truncated incorrect value,
    // 1406 data too long (quotes no value, but is listed with its kin), 1586 duplicate entry.
    matches!(number, 1062 | 1292 | 1366 | 1406 | 1586)
}

/// Maps `err`, raised while doing `op`, without any value MySQL quoted in its message.
fn map_err(op: &str, err: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &err
        && let Some(n) = number(db.as_ref()).filter(|n| quotes_a_value(*n))
    {
        let kind = if n == ER_DUP_ENTRY || n == 1586 {
            "duplicate entry for a unique key"
        } else {
            "a value does not fit its column"
        };
        return StoreError::Other(format!("{op}: mysql error {n}: {kind}"));
    }
    errors::from_sqlx(op, err, is_transient)
}

/// An error-mapping closure for `map_err`, naming the operation.
fn db_err(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| map_err(op, e)
}

/// Begins a transaction (REPEATABLE READ).
async fn begin(pool: &MySqlPool, op: &'static str) -> StoreResult<Transaction<'static, MySql>> {
    pool.begin().await.map_err(db_err(op))
}

/// `migrations/mysql/`, embedded at compile time, without sqlx's own lock: sqlx takes
/// `GET_LOCK(…, -1)` and ignores its answer, and a negative timeout means "wait forever" on
/// MySQL but is not documented on MariaDB. [`run_migrations`] takes its own lock instead.
fn migrator() -> Migrator {
    let mut migrator = sqlx::migrate!("./migrations/mysql");
    migrator.set_locking(false);
    migrator
}

/// Applies `migrator`'s pending migrations, holding a named lock for the whole run.
///
/// The lock is named after the database (`wxlogin_migrate_<md5 of its name>`: lock names are
/// server-wide and at most 64 characters), so databases on one server do not wait for each
/// other. It belongs to the connection, so a crashed run frees it.
async fn run_migrations(pool: &MySqlPool, migrator: &Migrator) -> StoreResult<()> {
    const OP: &str = "migrate";
    let mut conn = pool.acquire().await.map_err(db_err(OP))?;
    let got: Option<i64> =
        sqlx::query_scalar("SELECT GET_LOCK(CONCAT('wxlogin_migrate_', MD5(DATABASE())), ?)")
            .bind(MIGRATE_LOCK_WAIT_SECS)
            .fetch_one(&mut *conn)
            .await
            .map_err(db_err(OP))?;
    if got != Some(1) {
        return Err(StoreError::Unavailable(format!(
            "{OP}: another instance held the migration lock for {MIGRATE_LOCK_WAIT_SECS}s"
        )));
    }
    let result = migrator
        .run_direct(&mut *conn)
        .await
        .map_err(|e| errors::from_migrate(e, is_transient));
    let released = sqlx::query("SELECT RELEASE_LOCK(CONCAT('wxlogin_migrate_', MD5(DATABASE())))")
        .execute(&mut *conn)
        .await;
    if let Err(e) = released {
        // The lock dies with the connection: make sure the pool does not keep it.
        tracing::warn!(error = %e, "releasing the migration lock failed; closing its connection");
        conn.detach();
    }
    result
}

impl MySqlStore {
    /// Opens the pool; see [`crate::SqlStore::connect`]. `mariadb://` URLs are read as
    /// `mysql://`.
    pub(crate) async fn connect(url: &str, opts: &ConnectOptions) -> StoreResult<Self> {
        let url = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("mariadb") => {
                format!("mysql://{rest}")
            }
            _ => url.to_owned(),
        };
        // sqlx's message names the offending part of the URL, never the password.
        let options = MySqlConnectOptions::from_str(&url)
            .map_err(|e| StoreError::Other(format!("invalid MySQL database URL: {e}")))?
            .charset("utf8mb4");
        let pool = MySqlPoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(db_err("connect"))?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl Backend for MySqlStore {
    fn name(&self) -> &'static str {
        "mysql"
    }

    async fn migrate(&self) -> StoreResult<()> {
        run_migrations(&self.pool, &migrator()).await
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> StoreResult<Purged> {
        const OP: &str = "purge_expired";
        let now = unix(now);
        let mut tx = begin(&self.pool, OP).await?;
        let mut delete = async |sql: &'static str| -> StoreResult<u64> {
            let done = sqlx::query(sql)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_err(OP))?;
            Ok(done.rows_affected())
        };
        let sessions = delete("DELETE FROM sessions WHERE expires_at <= ?").await?;
        let tickets = delete("DELETE FROM registration_tickets WHERE expires_at <= ?").await?;
        let refresh_tokens = delete("DELETE FROM refresh_tokens WHERE expires_at <= ?").await?;
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
    }
}

#[async_trait]
impl Health for MySqlStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_err("ping"))?;
        Ok(())
    }
}
