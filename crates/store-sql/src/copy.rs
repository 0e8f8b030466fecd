//! Copying one deployment's durable state into another database, for `wxlogin copy-data`:
//! typically from the embedded SQLite default to PostgreSQL or MySQL, but any backend to any
//! other works the same way.
//!
//! [`copy_data`] migrates the target, refuses a target that holds any data, then copies table
//! by table in foreign-key order ([`tables`]), in one transaction on the target (all or
//! nothing) and from one consistent snapshot of the source. Rows are copied verbatim: sealed
//! values and hashes are bytes, and nothing is re-encrypted, so the deployment on the target
//! must keep the source's master key (the phone index, every sealed value and the signing keys
//! depend on it).
//!
//! What is copied: every row of `users`, `identities`, `session_keys`, `refresh_families`,
//! `refresh_tokens` and `signing_keys`; the `registration_tickets` and `sessions` that have
//! not expired at `now` (an expired one can never be used again, and the hourly purge would
//! delete it); the accounts' `deleted_users` and `admin_keys`; the outbox (`events`, their
//! `webhook_deliveries` and each endpoint's `webhook_cursors`, so that no event is delivered
//! twice or missed after the move); and last the event counter (`event_seq`, one row that the
//! target's migration created), so that the target numbers its next event after the source's
//! last. Refresh tokens are copied whether expired or not: a family and its tokens go
//! together, and the target's purge removes the expired ones as the source's would have.
//!
//! Why connections of its own rather than [`crate::SqlStore`]'s pool: the source is opened
//! read-only where the backend allows it (SQLite: a mistyped path fails instead of creating an
//! empty database), both sides need a transaction of a particular kind, and the copy is
//! generic over the two backends' SQL while the ports are not.
//!
//! Reads go page by page (keyset pagination on the primary key) and each page is written with
//! one multi-row `INSERT`, so memory stays bounded whatever the size of the tables.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

#[cfg(feature = "mysql")]
use sqlx::MySql;
#[cfg(feature = "postgres")]
use sqlx::Postgres;
#[cfg(feature = "sqlite")]
use sqlx::Sqlite;
use sqlx::{QueryBuilder, Row, Transaction};
use time::OffsetDateTime;
use wxlogin_core::ports::StoreError;
use wxlogin_core::redact::redact_url;

use crate::errors;
use crate::rows::unix;
use crate::store::{ConnectOptions, SqlStore};

/// Rows read and written per statement. The widest table has 10 columns, so an `INSERT` binds
/// at most 5,000 values: below every backend's limit (SQLite 32,766, PostgreSQL and MySQL
/// 65,535).
const PAGE: usize = 500;

/// How long a connection waits for the database (pool acquire, SQLite's busy timeout).
const WAIT: Duration = Duration::from_secs(30);

/// The type of a column, as every backend stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// TEXT, or VARCHAR with the binary collation on MySQL.
    Text,
    /// BIGINT (INTEGER on SQLite): unix seconds, generations.
    Int,
    /// BLOB / BYTEA / VARBINARY: hashes, sealed values, public keys.
    Bytes,
}

/// One table to copy.
#[derive(Debug)]
struct Table {
    name: &'static str,
    /// Every column; the first `key` of them are the primary key.
    columns: &'static [(&'static str, Kind)],
    key: usize,
    /// Copy only the rows with `expires_at > now`.
    live_only: bool,
}

use Kind::{Bytes, Int, Text};

/// The tables, in foreign-key order: a row's parent is always copied before it.
const TABLES: [Table; 13] = [
    Table {
        name: "users",
        columns: &[
            ("id", Text),
            ("phone_hash", Bytes),
            ("phone_sealed", Bytes),
            ("nickname", Text),
            ("avatar_url", Text),
            ("created_at", Int),
            ("external_id", Text),
            ("disabled_at", Int),
            ("last_login_at", Int),
        ],
        key: 1,
        live_only: false,
    },
    Table {
        name: "identities",
        columns: &[
            ("appid", Text),
            ("openid", Text),
            ("unionid", Text),
            ("user_id", Text),
            ("created_at", Int),
            ("updated_at", Int),
        ],
        key: 2,
        live_only: false,
    },
    Table {
        name: "session_keys",
        columns: &[
            ("appid", Text),
            ("openid", Text),
            ("current_sealed", Bytes),
            ("previous_sealed", Bytes),
            ("rotated_at", Int),
        ],
        key: 2,
        live_only: false,
    },
    Table {
        name: "refresh_families",
        columns: &[
            ("id", Text),
            ("user_id", Text),
            ("appid", Text),
            ("created_at", Int),
            ("revoked_at", Int),
        ],
        key: 1,
        live_only: false,
    },
    Table {
        name: "refresh_tokens",
        columns: &[
            ("hash", Bytes),
            ("family_id", Text),
            ("created_at", Int),
            ("expires_at", Int),
            ("used_at", Int),
        ],
        key: 1,
        live_only: false,
    },
    Table {
        name: "signing_keys",
        columns: &[
            ("kid", Text),
            ("generation", Int),
            ("public_key", Bytes),
            ("private_sealed", Bytes),
            ("created_at", Int),
        ],
        key: 1,
        live_only: false,
    },
    Table {
        name: "registration_tickets",
        columns: &[
            ("hash", Bytes),
            ("appid", Text),
            ("openid", Text),
            ("unionid", Text),
            ("phone_sealed", Bytes),
            ("created_at", Int),
            ("expires_at", Int),
            ("used_at", Int),
        ],
        key: 1,
        live_only: true,
    },
    Table {
        name: "sessions",
        columns: &[
            ("hash", Bytes),
            ("appid", Text),
            ("openid", Text),
            ("unionid", Text),
            ("created_at", Int),
            ("expires_at", Int),
        ],
        key: 1,
        live_only: true,
    },
    Table {
        name: "deleted_users",
        columns: &[("id", Text), ("deleted_at", Int)],
        key: 1,
        live_only: false,
    },
    Table {
        name: "admin_keys",
        columns: &[
            ("id", Text),
            ("name", Text),
            ("hash", Bytes),
            ("scopes", Text),
            ("created_at", Int),
            ("revoked_at", Int),
        ],
        key: 1,
        live_only: false,
    },
    Table {
        name: "events",
        columns: &[
            ("seq", Int),
            ("id", Text),
            ("type", Text),
            ("user_id", Text),
            ("external_id", Text),
            ("appid", Text),
            ("openid", Text),
            ("unionid", Text),
            ("source", Text),
            ("created_at", Int),
        ],
        key: 1,
        live_only: false,
    },
    Table {
        name: "webhook_deliveries",
        columns: &[
            ("endpoint", Text),
            ("event_seq", Int),
            ("status", Text),
            ("attempts", Int),
            ("next_attempt_at", Int),
            ("last_error", Text),
            ("updated_at", Int),
        ],
        key: 2,
        live_only: false,
    },
    Table {
        name: "webhook_cursors",
        columns: &[("endpoint", Text), ("last_seq", Int)],
        key: 1,
        live_only: false,
    },
];

/// The one-row event counter: the target's migration created it (at 0), so its value is
/// copied over it, after the tables; a target whose counter has moved is not empty.
const COUNTER: &str = "event_seq";

/// The names of the tables [`copy_data`] copies, in the order it copies them.
pub fn tables() -> impl Iterator<Item = &'static str> {
    TABLES.iter().map(|t| t.name).chain([COUNTER])
}

/// What [`copy_data`] copied: rows per table, in the order they were copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// `(table, rows copied)`, one entry per table of [`tables`], in that order.
    pub tables: Vec<(&'static str, u64)>,
}

impl CopyReport {
    /// Rows copied into `table` (0 for a table it does not know).
    pub fn rows(&self, table: &str) -> u64 {
        self.tables
            .iter()
            .find(|(name, _)| *name == table)
            .map_or(0, |(_, rows)| *rows)
    }
}

/// Why [`copy_data`] copied nothing.
#[derive(Debug)]
pub enum CopyError {
    /// The target already holds data; `copy-data` writes only into an empty database. Holds
    /// `(table, rows)` for each non-empty table. The target was left as it was.
    TargetNotEmpty(Vec<(&'static str, u64)>),
    /// The two databases are at different schema versions: the source was written by another
    /// version of wxlogin. Holds the migration versions applied on each side.
    SchemaMismatch {
        /// Applied on the source.
        source: Vec<i64>,
        /// Applied on the target, after migrating it.
        target: Vec<i64>,
    },
    /// A database could not be opened, read or written. Nothing was committed on the target.
    Store(StoreError),
}

impl fmt::Display for CopyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TargetNotEmpty(tables) => {
                let listed = tables
                    .iter()
                    .map(|(name, rows)| format!("{name}: {rows}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                write!(
                    f,
                    "the target database already holds data ({listed}); copy-data only writes \
                     into an empty database, and changed nothing: point --to at a new database \
                     (or drop and recreate this one), then run it again"
                )
            }
            Self::SchemaMismatch { source, target } => write!(
                f,
                "the source database is at schema version {source:?} and this wxlogin at \
                 {target:?}: run `wxlogin migrate` on the source with this version first (or \
                 copy with the version that wrote it)"
            ),
            Self::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CopyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl From<StoreError> for CopyError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// Copies every durable table from the database at `from` into the one at `to`; see the
/// [module docs](self) for what is copied. Sessions and registration tickets that expired at
/// `now` are left out.
///
/// In order: opens the source (read-only on SQLite; it must exist and be migrated), migrates
/// the target ([`SqlStore::migrate`]), checks that both are at the same schema version, begins
/// a transaction on the target and refuses with [`CopyError::TargetNotEmpty`] if any of the
/// tables holds a row, then copies and commits. On any error the target's transaction rolls
/// back: the target is left migrated and empty.
///
/// The source is read from one snapshot (a read transaction), so a copy of a live deployment is
/// consistent, but misses whatever the deployment writes after the copy started: stop it first.
/// Neither URL may be an in-memory SQLite database (it would be a new, empty one).
pub async fn copy_data(from: &str, to: &str, now: OffsetDateTime) -> Result<CopyReport, CopyError> {
    for (role, url) in [("source", from), ("target", to)] {
        if is_memory(url) {
            return Err(CopyError::Store(StoreError::other(
                format!("opening the {role} database {}", redact_url(url)),
                "it is in memory: give a file (sqlite://path)",
            )));
        }
    }
    let source = Db::open(from, Side::Source).await?;
    let result = copy_into(&source, to, now).await;
    source.close().await;
    result
}

async fn copy_into(source: &Db, to: &str, now: OffsetDateTime) -> Result<CopyReport, CopyError> {
    // The target's own backend migrates it: the same locks and checks as `wxlogin migrate`.
    let in_target = |e: StoreError| {
        let shown = redact_url(to);
        CopyError::Store(e.in_op(format!("target database {shown}")))
    };
    let store = SqlStore::connect(
        to,
        ConnectOptions {
            max_connections: 1,
            acquire_timeout: WAIT,
            busy_timeout: WAIT,
        },
    )
    .await
    .map_err(in_target)?;
    let migrated = store.migrate().await;
    store.close().await;
    migrated.map_err(in_target)?;

    let target = Db::open(to, Side::Target).await?;
    let result = copy_between(source, &target, now).await;
    target.close().await;
    result
}

async fn copy_between(
    source: &Db,
    target: &Db,
    now: OffsetDateTime,
) -> Result<CopyReport, CopyError> {
    let (source_versions, target_versions) = (
        source.schema_versions().await?,
        target.schema_versions().await?,
    );
    if source_versions != target_versions {
        return Err(CopyError::SchemaMismatch {
            source: source_versions,
            target: target_versions,
        });
    }

    let mut read = source.begin(Side::Source).await?;
    let mut write = target.begin(Side::Target).await?;

    let mut non_empty = Vec::new();
    for table in &TABLES {
        let rows = write.count(table).await?;
        if rows > 0 {
            non_empty.push((table.name, rows));
        }
    }
    if write.counter().await? != 0 {
        non_empty.push((COUNTER, 1));
    }
    if !non_empty.is_empty() {
        // Dropping `write` rolls back; it has only read.
        return Err(CopyError::TargetNotEmpty(non_empty));
    }

    let now = unix(now);
    let mut report = CopyReport::default();
    for table in &TABLES {
        let mut copied = 0;
        let mut after: Option<Vec<Value>> = None;
        loop {
            let page = read.page(table, after.as_deref(), now).await?;
            if page.is_empty() {
                break;
            }
            copied += write.insert(table, &page).await?;
            let full = page.len() == PAGE;
            after = page.into_iter().last().map(|mut row| {
                row.truncate(table.key);
                row
            });
            if !full {
                break;
            }
        }
        tracing::debug!(table = table.name, rows = copied, "table copied");
        report.tables.push((table.name, copied));
    }
    let counter = read.counter().await?;
    write.set_counter(counter).await?;
    report.tables.push((COUNTER, 1));

    write.commit().await?;
    read.commit().await?;
    Ok(report)
}

/// One column's value in one row.
#[derive(Debug, Clone)]
enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Bytes(Option<Vec<u8>>),
}

/// Which end of the copy a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Source,
    Target,
}

/// A pool of one connection on one database, of the backend its URL names.
enum Db {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
    #[cfg(feature = "mysql")]
    MySql(sqlx::MySqlPool),
}

/// A transaction on a [`Db`].
enum Tx {
    #[cfg(feature = "sqlite")]
    Sqlite(Transaction<'static, Sqlite>),
    #[cfg(feature = "postgres")]
    Postgres(Transaction<'static, Postgres>),
    #[cfg(feature = "mysql")]
    MySql(Transaction<'static, MySql>),
}

/// Runs `$body` with `$x` bound to the backend-specific value inside `$value` (a [`Db`] or a
/// [`Tx`]), so that one body is type-checked against each backend's concrete types.
macro_rules! each_backend {
    ($ty:ident, $value:expr, $x:ident => $body:expr) => {
        match $value {
            #[cfg(feature = "sqlite")]
            $ty::Sqlite($x) => $body,
            #[cfg(feature = "postgres")]
            $ty::Postgres($x) => $body,
            #[cfg(feature = "mysql")]
            $ty::MySql($x) => $body,
        }
    };
}

impl Db {
    /// Opens a one-connection pool on `url`: read-only for a SQLite source.
    async fn open(url: &str, side: Side) -> Result<Self, CopyError> {
        let role = match side {
            Side::Source => "source",
            Side::Target => "target",
        };
        let shown = redact_url(url);
        let fail = |e: sqlx::Error| {
            CopyError::Store(db_err(&format!("opening the {role} database {shown}"), e))
        };
        let scheme = url
            .split_once(':')
            .map_or("", |(scheme, _)| scheme)
            .to_ascii_lowercase();
        let unsupported = || {
            CopyError::Store(StoreError::other(
                format!("opening the {role} database {shown}"),
                "the URL names no backend this build supports (sqlite, postgres, mysql)",
            ))
        };
        match scheme.as_str() {
            #[cfg(feature = "sqlite")]
            "sqlite" => {
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
                    .map_err(fail)?
                    .foreign_keys(true)
                    .busy_timeout(WAIT)
                    .read_only(side == Side::Source);
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(WAIT)
                    .connect_with(options)
                    .await
                    .map(Self::Sqlite)
                    .map_err(fail)
            }
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => {
                let options = sqlx::postgres::PgConnectOptions::from_str(url).map_err(fail)?;
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(WAIT)
                    .connect_with(options)
                    .await
                    .map(Self::Postgres)
                    .map_err(fail)
            }
            #[cfg(feature = "mysql")]
            "mysql" | "mariadb" => {
                let url = match url.split_once("://") {
                    Some((_, rest)) => format!("mysql://{rest}"),
                    None => url.to_owned(),
                };
                let options = sqlx::mysql::MySqlConnectOptions::from_str(&url)
                    .map_err(fail)?
                    .charset("utf8mb4");
                sqlx::mysql::MySqlPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(WAIT)
                    .connect_with(options)
                    .await
                    .map(Self::MySql)
                    .map_err(fail)
            }
            _ => Err(unsupported()),
        }
    }

    /// The migration versions applied to this database, in order.
    async fn schema_versions(&self) -> Result<Vec<i64>, CopyError> {
        const SQL: &str = "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";
        let versions = each_backend!(Db, self, pool => {
            sqlx::query_scalar::<_, i64>(SQL).fetch_all(pool).await
        });
        versions.map_err(|e| {
            CopyError::Store(db_err(
                "reading the schema version (is this a wxlogin database?)",
                e,
            ))
        })
    }

    /// Begins the transaction this side needs: a read-only snapshot on the source, a write
    /// transaction on the target (holding SQLite's write lock from the start).
    async fn begin(&self, side: Side) -> Result<Tx, CopyError> {
        let op = match side {
            Side::Source => "beginning a read on the source",
            Side::Target => "beginning a write on the target",
        };
        let tx = match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(pool) => pool
                .begin_with(match side {
                    // In WAL mode, a read transaction sees one snapshot from its first read.
                    Side::Source => "BEGIN DEFERRED",
                    Side::Target => "BEGIN IMMEDIATE",
                })
                .await
                .map(Tx::Sqlite),
            #[cfg(feature = "postgres")]
            Self::Postgres(pool) => pool
                .begin_with(match side {
                    Side::Source => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                    Side::Target => "BEGIN",
                })
                .await
                .map(Tx::Postgres),
            #[cfg(feature = "mysql")]
            Self::MySql(pool) => pool
                .begin_with(match side {
                    Side::Source => "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
                    Side::Target => "START TRANSACTION",
                })
                .await
                .map(Tx::MySql),
        };
        tx.map_err(|e| CopyError::Store(db_err(op, e)))
    }

    async fn close(&self) {
        each_backend!(Db, self, pool => pool.close().await);
    }
}

impl Tx {
    /// Whether text columns must be read through `CONVERT(… USING utf8mb4)`: MySQL reports
    /// binary-collated text as VARBINARY, which sqlx will not decode into a `String`.
    fn converts_text(&self) -> bool {
        #[cfg(feature = "mysql")]
        if matches!(self, Self::MySql(_)) {
            return true;
        }
        false
    }

    /// The number of rows in `table`.
    async fn count(&mut self, table: &Table) -> Result<u64, CopyError> {
        let sql = format!("SELECT COUNT(*) FROM {}", table.name);
        let rows = each_backend!(Tx, self, tx => {
            sqlx::query_scalar::<_, i64>(&sql).fetch_one(&mut **tx).await
        })
        .map_err(|e| db_err(&format!("counting the target's {}", table.name), e))?;
        Ok(u64::try_from(rows).unwrap_or(0))
    }

    /// The event counter's value (`event_seq.n`).
    async fn counter(&mut self) -> Result<i64, CopyError> {
        const SQL: &str = "SELECT n FROM event_seq WHERE id = 1";
        let n = each_backend!(Tx, self, tx => {
            sqlx::query_scalar::<_, i64>(SQL).fetch_one(&mut **tx).await
        });
        n.map_err(|e| CopyError::Store(db_err("reading the event counter", e)))
    }

    /// Sets the event counter to `n`.
    async fn set_counter(&mut self, n: i64) -> Result<(), CopyError> {
        let done = each_backend!(Tx, self, tx => {
            let mut qb = QueryBuilder::new("UPDATE event_seq SET n = ");
            qb.push_bind(n).push(" WHERE id = 1");
            qb.build().execute(&mut **tx).await.map(drop)
        });
        done.map_err(|e| CopyError::Store(db_err("writing the event counter", e)))
    }

    /// Up to [`PAGE`] rows of `table` whose key comes after `after` (from the start if `None`),
    /// in key order. `now` filters live-only tables.
    async fn page(
        &mut self,
        table: &Table,
        after: Option<&[Value]>,
        now: i64,
    ) -> Result<Vec<Vec<Value>>, CopyError> {
        // Columns are qualified (`t.col`) in WHERE and ORDER BY: on MySQL an unqualified name
        // in ORDER BY would mean the converted alias, ordered by another collation than the
        // key comparison uses.
        let select = table
            .columns
            .iter()
            .map(|&(name, kind)| {
                if kind == Text && self.converts_text() {
                    format!("CONVERT(t.{name} USING utf8mb4) AS {name}")
                } else {
                    format!("t.{name}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        let key = table.columns[..table.key]
            .iter()
            .map(|(name, _)| format!("t.{name}"))
            .collect::<Vec<_>>()
            .join(", ");
        let op = format!("reading the source's {}", table.name);

        let rows = each_backend!(Tx, self, tx => {
            let mut qb = QueryBuilder::new(format!(
                "SELECT {select} FROM {} t WHERE 1 = 1",
                table.name
            ));
            if table.live_only {
                qb.push(" AND t.expires_at > ").push_bind(now);
            }
            if let Some(after) = after {
                qb.push(format!(" AND ({key}) > ("));
                let mut values = qb.separated(", ");
                for value in after {
                    match value.clone() {
                        Value::Text(v) => values.push_bind(v),
                        Value::Int(v) => values.push_bind(v),
                        Value::Bytes(v) => values.push_bind(v),
                    };
                }
                qb.push(")");
            }
            qb.push(format!(" ORDER BY {key} LIMIT {PAGE}"));
            let rows = qb.build().fetch_all(&mut **tx).await.map_err(|e| db_err(&op, e))?;
            rows.iter()
                .map(|row| {
                    table
                        .columns
                        .iter()
                        .enumerate()
                        .map(|(i, &(_, kind))| match kind {
                            Text => row.try_get(i).map(Value::Text),
                            Int => row.try_get(i).map(Value::Int),
                            Bytes => row.try_get(i).map(Value::Bytes),
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| db_err(&op, e))?
        });
        Ok(rows)
    }

    /// Inserts `rows` into `table` with one statement; returns how many went in.
    async fn insert(&mut self, table: &Table, rows: &[Vec<Value>]) -> Result<u64, CopyError> {
        let columns = table
            .columns
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", ");
        let op = format!("writing the target's {}", table.name);
        let done = each_backend!(Tx, self, tx => {
            let mut qb = QueryBuilder::new(format!("INSERT INTO {} ({columns}) ", table.name));
            qb.push_values(rows, |mut values, row| {
                for value in row {
                    match value.clone() {
                        Value::Text(v) => values.push_bind(v),
                        Value::Int(v) => values.push_bind(v),
                        Value::Bytes(v) => values.push_bind(v),
                    };
                }
            });
            qb.build().execute(&mut **tx).await.map(|done| done.rows_affected())
        });
        done.map_err(|e| CopyError::Store(db_err(&op, e)))
    }

    async fn commit(self) -> Result<(), CopyError> {
        each_backend!(Tx, self, tx => tx.commit().await)
            .map_err(|e| CopyError::Store(db_err("committing", e)))
    }
}

/// Whether `url` names an in-memory SQLite database (`sqlite::memory:`, `…?mode=memory`).
fn is_memory(url: &str) -> bool {
    url.to_ascii_lowercase().starts_with("sqlite:")
        && (url.contains(":memory:") || url.contains("mode=memory"))
}

/// Maps a sqlx error met while doing `op`. MySQL quotes the offending value in some messages
/// (a duplicate hash, an invalid string), which could be a phone hash or a token hash: for
/// those only the error number is kept.
fn db_err(op: &str, err: sqlx::Error) -> StoreError {
    #[cfg(feature = "mysql")]
    if let sqlx::Error::Database(db) = &err
        && let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        && matches!(my.number(), 1062 | 1292 | 1366 | 1406 | 1586)
    {
        return StoreError::other(op.to_owned(), format!("mysql error {}", my.number()));
    }
    errors::from_sqlx(err, |_| false).in_op(op.to_owned())
}
