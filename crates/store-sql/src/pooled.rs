//! The server engines, on sqlx pools: PostgreSQL and MySQL/MariaDB. A read or a one-statement
//! write runs on a pooled connection in autocommit; an atomic unit in a transaction. What
//! differs between the two: decoding rows, classifying errors, and migrating.
//!
//! Locking, both: every atomic step starts with a conditional write (`UPDATE … WHERE used_at
//! IS NULL`, an insert on a unique key): of concurrent writers to one row, the first takes
//! its row lock, the others wait for it and then evaluate their condition against the
//! committed row, so the row count decides who won. PostgreSQL runs at READ COMMITTED, which
//! re-checks the `WHERE` against the committed row; InnoDB at REPEATABLE READ, where reads
//! that decide a later write use `FOR UPDATE` to read the latest committed row.
//!
//! Round trips: connections are not pinged before each checkout (a dead one fails its
//! statement with an I/O error, which is `Unavailable`, and sqlx closes it); a statement is
//! prepared once per connection and cached.

use std::str::FromStr;

use sqlx::error::DatabaseError;
use sqlx::migrate::Migrator;
use sqlx::{Column, Database, Pool, Row as _, TypeInfo};
use wxlogin_core::ports::{StoreError, StoreResult};

use crate::errors;
use crate::sql::{Arg, BoxFuture, Dialect, Exec, Query, Row, Step, Val, in_op};
use crate::store::ConnectOptions;

/// A sqlx database this crate runs on.
pub(crate) trait Server: Database {
    /// Maps an error, keeping any value the server quoted out of the message.
    fn map_err(err: sqlx::Error) -> StoreError;
}

/// One pool on PostgreSQL or MySQL.
#[derive(Debug)]
pub(crate) struct Pooled<DB: Database> {
    pool: Pool<DB>,
}

impl<DB> Pooled<DB>
where
    DB: Server,
    DB::Connection: Exec,
{
    /// Runs `f` on a pooled connection, each statement in autocommit.
    pub(crate) async fn read<T, F>(&self, op: &'static str, f: F) -> StoreResult<T>
    where
        F: for<'a> FnOnce(&'a mut dyn Exec) -> BoxFuture<'a, StoreResult<T>>,
    {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| in_op(op, DB::map_err(e)))?;
        f(&mut *conn).await.map_err(|e| in_op(op, e))
    }

    /// Runs `f` in one transaction: committed if it keeps its writes, rolled back otherwise.
    /// A caller dropped half way drops the transaction, which sqlx rolls back before the
    /// connection is used again.
    pub(crate) async fn atomic<T, F>(&self, op: &'static str, f: F) -> StoreResult<T>
    where
        F: for<'a> FnOnce(&'a mut dyn Exec) -> BoxFuture<'a, StoreResult<Step<T>>>,
    {
        let fail = |e| in_op(op, DB::map_err(e));
        let mut tx = self.pool.begin().await.map_err(fail)?;
        match f(&mut *tx).await {
            Ok(Step::Keep(v)) => {
                tx.commit().await.map_err(fail)?;
                Ok(v)
            }
            Ok(Step::Undo(v)) => {
                tx.rollback().await.map_err(fail)?;
                Ok(v)
            }
            Err(e) => {
                // Dropping `tx` rolls back too; this says so to the server at once.
                let _ = tx.rollback().await;
                Err(in_op(op, e))
            }
        }
    }

    /// One connection of the pool, held by the caller (`copy-data`'s transactions).
    pub(crate) async fn acquire(&self) -> StoreResult<sqlx::pool::PoolConnection<DB>> {
        self.pool.acquire().await.map_err(DB::map_err)
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

/// Binds `args` to a sqlx query, in order.
macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match *arg {
                Arg::Int(v) => query.bind(v),
                Arg::OptInt(v) => query.bind(v),
                Arg::Text(v) => query.bind(v),
                Arg::Bytes(v) => query.bind(v),
            };
        }
        query
    }};
}

/// [`Exec`] for one sqlx connection type, whose rows `decode` reads.
macro_rules! exec_for {
    ($conn:ty, $db:ty, $dialect:expr, $decode:path) => {
        impl Exec for $conn {
            fn execute<'a>(
                &'a mut self,
                q: &'a Query,
                args: &'a [Arg<'a>],
            ) -> BoxFuture<'a, StoreResult<u64>> {
                Box::pin(async move {
                    let done = bind_all!(sqlx::query(q.text($dialect)), args)
                        .execute(self)
                        .await;
                    match done {
                        Ok(done) => Ok(done.rows_affected()),
                        Err(e) if duplicate_is_noop(q, $dialect, &e) => Ok(0),
                        Err(e) => Err(<$db as Server>::map_err(e)),
                    }
                })
            }

            fn fetch<'a>(
                &'a mut self,
                q: &'a Query,
                args: &'a [Arg<'a>],
            ) -> BoxFuture<'a, StoreResult<Vec<Row>>> {
                Box::pin(async move {
                    bind_all!(sqlx::query(q.text($dialect)), args)
                        .fetch_all(self)
                        .await
                        .map_err(<$db as Server>::map_err)?
                        .iter()
                        .map($decode)
                        .collect()
                })
            }
        }
    };
}

/// Whether `err` is a duplicate on a key that `q` treats as a no-op in `dialect`.
fn duplicate_is_noop(q: &Query, dialect: Dialect, err: &sqlx::Error) -> bool {
    q.duplicate_is_noop(dialect).any(|key| match dialect {
        #[cfg(feature = "mysql")]
        Dialect::Mysql => mysql::is_duplicate_on(err, key),
        #[cfg(feature = "postgres")]
        Dialect::Postgres => postgres::is_duplicate_on(err, key),
        _ => false,
    })
}

/// How long [`connect`] waits, and how many connections it opens.
fn pool_options<DB: Database>(opts: &ConnectOptions) -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::new()
        .max_connections(opts.max_connections.max(1))
        .acquire_timeout(opts.acquire_timeout)
        .test_before_acquire(false)
}

#[cfg(feature = "postgres")]
pub(crate) mod postgres {
    //! PostgreSQL 12+. Tables live in the first schema of the connection's `search_path`
    //! (`?options=-c%20search_path%3Dmy_schema` in the URL). Migrations: sqlx's migrator
    //! holds `pg_advisory_lock` for the whole run.

    use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};

    use super::*;

    /// `migrations/postgres/`, embedded at compile time.
    static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

    impl Server for sqlx::Postgres {
        fn map_err(err: sqlx::Error) -> StoreError {
            errors::from_sqlx(err, is_transient)
        }
    }

    exec_for!(PgConnection, sqlx::Postgres, Dialect::Postgres, decode);

    /// Whether a database error means "busy or unreachable, try later", by SQLSTATE:
    /// connection exceptions (08…), insufficient resources (53…), operator intervention
    /// (57…: shutdown, statement timeout), serialization failures and deadlocks (40001,
    /// 40P01), lock timeouts (55P03).
    fn is_transient(err: &dyn DatabaseError) -> bool {
        let Some(code) = err.code() else {
            return false;
        };
        code.starts_with("08")
            || code.starts_with("53")
            || code.starts_with("57")
            || matches!(code.as_ref(), "40001" | "40P01" | "55P03")
    }

    /// Whether `err` is a unique violation (SQLSTATE 23505) of the constraint or unique index
    /// named `key`.
    pub(super) fn is_duplicate_on(err: &sqlx::Error, key: &str) -> bool {
        match err {
            sqlx::Error::Database(db) => {
                db.code().as_deref() == Some("23505") && db.constraint() == Some(key)
            }
            _ => false,
        }
    }

    fn decode(row: &PgRow) -> StoreResult<Row> {
        let mut vals = Vec::with_capacity(row.len());
        for (i, column) in row.columns().iter().enumerate() {
            let val = match column.type_info().name() {
                "INT8" => row.try_get::<Option<i64>, _>(i).map(|v| v.map(Val::Int)),
                "INT4" => row
                    .try_get::<Option<i32>, _>(i)
                    .map(|v| v.map(|v| Val::Int(v.into()))),
                "BYTEA" => row
                    .try_get::<Option<Vec<u8>>, _>(i)
                    .map(|v| v.map(Val::Bytes)),
                _ => row
                    .try_get::<Option<String>, _>(i)
                    .map(|v| v.map(Val::Text)),
            };
            vals.push(
                val.map_err(<sqlx::Postgres as Server>::map_err)?
                    .unwrap_or(Val::Null),
            );
        }
        Ok(Row::new(vals))
    }

    /// Opens the pool; see [`crate::SqlStore::connect`].
    pub(crate) async fn connect(
        url: &str,
        opts: &ConnectOptions,
    ) -> StoreResult<Pooled<sqlx::Postgres>> {
        // sqlx's message names the offending part of the URL, never the password.
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::other("reading the PostgreSQL database URL", e))?;
        let pool = pool_options(opts)
            .connect_with(options)
            .await
            .map_err(|e| in_op("connect", <sqlx::Postgres as Server>::map_err(e)))?;
        Ok(Pooled { pool })
    }

    impl Pooled<sqlx::Postgres> {
        /// `run` holds one connection with `pg_advisory_lock` taken for the whole run, and
        /// runs each migration in a transaction.
        pub(crate) async fn migrate(&self) -> StoreResult<()> {
            MIGRATOR
                .run(&self.pool)
                .await
                .map_err(|e| errors::from_migrate(e, is_transient))
        }
    }
}

#[cfg(feature = "mysql")]
pub(crate) mod mysql {
    //! MySQL 8, MariaDB 10.6+, InnoDB at REPEATABLE READ.
    //!
    //! Text columns use the binary collation (case-sensitive ids), which MySQL reports as
    //! binary: rows are decoded by the column's kind (integer or not), and text is checked to
    //! be UTF-8 when read ([`crate::sql::Row::text`]).
    //!
    //! Error messages: MySQL puts the offending value in some messages ("Duplicate entry '…'
    //! for key …"), which could be a phone hash or a token hash, so [`Server::map_err`] keeps
    //! only the error number for those.
    //!
    //! Migrations: a named lock (`GET_LOCK`, one per database) around the whole run, so
    //! instances starting together apply each migration once.

    use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlRow};

    use super::*;

    /// How long [`Pooled::migrate`] waits for another instance's migration run, in seconds.
    const MIGRATE_LOCK_WAIT_SECS: i64 = 60;

    /// MySQL's "duplicate entry for a unique key" (SQLSTATE 23000).
    const ER_DUP_ENTRY: u16 = 1062;

    exec_for!(MySqlConnection, sqlx::MySql, Dialect::Mysql, decode);

    /// MySQL's error number, when `err` came from the server.
    fn number(err: &dyn DatabaseError) -> Option<u16> {
        err.try_downcast_ref::<MySqlDatabaseError>()
            .map(MySqlDatabaseError::number)
    }

    /// "Busy or unreachable, try later": too many connections (1040, 1203), shutdown (1053,
    /// 1927 connection killed), lock wait timeout (1205), deadlock (1213), interrupted or
    /// timed-out statements (1317, 1969, 3024).
    fn is_transient(err: &dyn DatabaseError) -> bool {
        matches!(
            number(err),
            Some(1040 | 1053 | 1203 | 1205 | 1213 | 1317 | 1927 | 1969 | 3024)
        )
    }

    /// Whether `err` is a duplicate entry on the unique key named `key`. (MariaDB names the
    /// key `'users_phone_hash'`, MySQL 8 `'users.users_phone_hash'`.)
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

    impl Server for sqlx::MySql {
        fn map_err(err: sqlx::Error) -> StoreError {
            // 1062 duplicate entry, 1366 incorrect string value, 1292 truncated incorrect
            // value, 1406 data too long, 1586 duplicate entry: their messages quote values.
            if let sqlx::Error::Database(db) = &err
                && let Some(n) =
                    number(db.as_ref()).filter(|n| matches!(n, 1062 | 1292 | 1366 | 1406 | 1586))
            {
                let kind = if n == ER_DUP_ENTRY || n == 1586 {
                    "duplicate entry for a unique key"
                } else {
                    "a value does not fit its column"
                };
                return StoreError::other("", format!("mysql error {n}: {kind}"));
            }
            errors::from_sqlx(err, is_transient)
        }
    }

    fn decode(row: &MySqlRow) -> StoreResult<Row> {
        let mut vals = Vec::with_capacity(row.len());
        for (i, column) in row.columns().iter().enumerate() {
            // Unchecked: binary-collated text comes as VARBINARY, and `Val` keeps bytes.
            let val = if column.type_info().name().contains("INT") {
                row.try_get_unchecked::<Option<i64>, _>(i)
                    .map(|v| v.map(Val::Int))
            } else {
                row.try_get_unchecked::<Option<Vec<u8>>, _>(i)
                    .map(|v| v.map(Val::Bytes))
            };
            vals.push(
                val.map_err(<sqlx::MySql as Server>::map_err)?
                    .unwrap_or(Val::Null),
            );
        }
        Ok(Row::new(vals))
    }

    /// Opens the pool; see [`crate::SqlStore::connect`]. `mariadb://` URLs are read as
    /// `mysql://`.
    pub(crate) async fn connect(
        url: &str,
        opts: &ConnectOptions,
    ) -> StoreResult<Pooled<sqlx::MySql>> {
        let url = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("mariadb") => {
                format!("mysql://{rest}")
            }
            _ => url.to_owned(),
        };
        // sqlx's message names the offending part of the URL, never the password.
        let options = MySqlConnectOptions::from_str(&url)
            .map_err(|e| StoreError::other("reading the MySQL database URL", e))?
            .charset("utf8mb4");
        let pool = pool_options(opts)
            .connect_with(options)
            .await
            .map_err(|e| in_op("connect", <sqlx::MySql as Server>::map_err(e)))?;
        Ok(Pooled { pool })
    }

    /// `migrations/mysql/`, embedded at compile time, without sqlx's own lock: sqlx takes
    /// `GET_LOCK(…, -1)` and ignores its answer, and a negative timeout means "wait forever"
    /// on MySQL but is not documented on MariaDB. [`Pooled::migrate`] takes its own lock.
    fn migrator() -> Migrator {
        let mut migrator = sqlx::migrate!("./migrations/mysql");
        migrator.set_locking(false);
        migrator
    }

    impl Pooled<sqlx::MySql> {
        /// Applies the pending migrations, holding a named lock for the whole run. The lock
        /// is named after the database (`wxlogin_migrate_<md5 of its name>`: lock names are
        /// server-wide and at most 64 characters) and belongs to the connection, so a crashed
        /// run frees it.
        pub(crate) async fn migrate(&self) -> StoreResult<()> {
            const OP: &str = "migrate";
            let fail = |e| in_op(OP, <sqlx::MySql as Server>::map_err(e));
            let mut conn = self.pool.acquire().await.map_err(fail)?;
            let got: Option<i64> = sqlx::query_scalar(
                "SELECT GET_LOCK(CONCAT('wxlogin_migrate_', MD5(DATABASE())), ?)",
            )
            .bind(MIGRATE_LOCK_WAIT_SECS)
            .fetch_one(&mut *conn)
            .await
            .map_err(fail)?;
            if got != Some(1) {
                return Err(StoreError::unavailable(
                    OP,
                    format!(
                        "another instance held the migration lock for {MIGRATE_LOCK_WAIT_SECS}s"
                    ),
                ));
            }
            let result = migrator()
                .run_direct(&mut *conn)
                .await
                .map_err(|e| errors::from_migrate(e, is_transient));
            let released =
                sqlx::query("SELECT RELEASE_LOCK(CONCAT('wxlogin_migrate_', MD5(DATABASE())))")
                    .execute(&mut *conn)
                    .await;
            if let Err(e) = released {
                // The lock dies with the connection: make sure the pool does not keep it.
                let error = wxlogin_core::cause::chain(&e);
                tracing::warn!(%error, "releasing the migration lock failed; closing its connection");
                conn.detach();
            }
            result
        }
    }
}
