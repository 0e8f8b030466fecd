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
//! Why a connection of its own per side rather than [`crate::SqlStore`]'s units: the source
//! is opened read-only where the backend allows it (SQLite: a mistyped path fails instead of
//! creating an empty database), and both sides hold a transaction of a particular kind for the
//! whole copy, across many statements on the other side. The statements themselves go through
//! the query layer (`Exec`, in `sql.rs`) like every store's, each written once; only opening a
//! side and its transaction statements differ per backend.
//!
//! Reads go page by page (keyset pagination on the primary key) and each page is written with
//! one multi-row `INSERT`, so memory stays bounded whatever the size of the tables. The
//! statements are composed per table (and per page length: the full one and the last), a
//! bounded set kept for the life of the process (`sql::composed`).
//!
//! Long file: over 500 lines on purpose: about 180 of them are the table list (`TABLES`), the data the
//! copy walks, and the rest is one procedure with its error type; apart, neither reads alone.

use std::fmt;
use std::time::Duration;

use time::OffsetDateTime;
use wxlogin_core::ports::{StoreError, StoreResult};
use wxlogin_core::redact::redact_url;

#[cfg(any(feature = "postgres", feature = "mysql"))]
use crate::pooled::{Pooled, Server};
use crate::rows::unix;
use crate::sql::{Arg, BoxFuture, Exec, Query, Row, composed, in_op};
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
    let mut source = Db::open(from, Side::Source).await?;
    let result = copy_into(&mut source, to, now).await;
    source.close().await;
    result
}

async fn copy_into(
    source: &mut Db,
    to: &str,
    now: OffsetDateTime,
) -> Result<CopyReport, CopyError> {
    // The target's own backend migrates it: the same locks and checks as `wxlogin migrate`.
    let in_target = |e: StoreError| {
        let shown = redact_url(to);
        CopyError::Store(e.in_op(format!("target database {shown}")))
    };
    let store = SqlStore::connect(to, one_connection())
        .await
        .map_err(in_target)?;
    let migrated = store.migrate().await;
    store.close().await;
    migrated.map_err(in_target)?;

    let mut target = Db::open(to, Side::Target).await?;
    let result = copy_between(source, &mut target, now).await;
    target.close().await;
    result
}

/// One connection, waiting up to [`WAIT`] for it.
fn one_connection() -> ConnectOptions {
    ConnectOptions {
        max_connections: 1,
        acquire_timeout: WAIT,
        busy_timeout: WAIT,
        ..ConnectOptions::default()
    }
}

async fn copy_between(
    source: &mut Db,
    target: &mut Db,
    now: OffsetDateTime,
) -> Result<CopyReport, CopyError> {
    let (source_versions, target_versions) = (
        schema_versions(source).await?,
        schema_versions(target).await?,
    );
    if source_versions != target_versions {
        return Err(CopyError::SchemaMismatch {
            source: source_versions,
            target: target_versions,
        });
    }

    source.transaction(TxStep::Begin(Side::Source)).await?;
    target.transaction(TxStep::Begin(Side::Target)).await?;

    let mut non_empty = Vec::new();
    for table in &TABLES {
        let rows = count(target, table).await?;
        if rows > 0 {
            non_empty.push((table.name, rows));
        }
    }
    if counter(target).await? != 0 {
        non_empty.push((COUNTER, 1));
    }
    if !non_empty.is_empty() {
        // Closing the target rolls back; it has only read.
        return Err(CopyError::TargetNotEmpty(non_empty));
    }

    let now = unix(now);
    let mut report = CopyReport::default();
    for table in &TABLES {
        let mut copied = 0;
        let mut after: Option<Vec<Value>> = None;
        loop {
            let page = page(source, table, after.as_deref(), now).await?;
            if page.is_empty() {
                break;
            }
            copied += insert(target, table, &page).await?;
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
    let counter = counter(source).await?;
    set_counter(target, counter).await?;
    report.tables.push((COUNTER, 1));

    target.transaction(TxStep::Commit).await?;
    source.transaction(TxStep::Commit).await?;
    Ok(report)
}

/// The migration versions applied to this database, in order.
async fn schema_versions(db: &mut dyn Exec) -> Result<Vec<i64>, CopyError> {
    static Q: Query =
        Query::new("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version");
    let versions = db.fetch(&Q, &[]).await;
    let versions = versions.and_then(|rows| rows.into_iter().map(|mut row| row.int()).collect());
    versions.map_err(|e| {
        CopyError::Store(in_op(
            "reading the schema version (is this a wxlogin database?)",
            e,
        ))
    })
}

/// The number of rows in `table`.
async fn count(db: &mut dyn Exec, table: &Table) -> Result<u64, CopyError> {
    let q = composed(format!("SELECT COUNT(*) FROM {}", table.name), None);
    let rows = (db.fetch_one(q, &[]).await)
        .and_then(|mut row| row.int())
        .map_err(|e| e.in_op(format!("counting the target's {}", table.name)))?;
    Ok(u64::try_from(rows).unwrap_or(0))
}

/// The event counter's value (`event_seq.n`).
async fn counter(db: &mut dyn Exec) -> Result<i64, CopyError> {
    static Q: Query = Query::new("SELECT n FROM event_seq WHERE id = 1");
    let n = db.fetch_one(&Q, &[]).await.and_then(|mut row| row.int());
    n.map_err(|e| CopyError::Store(in_op("reading the event counter", e)))
}

/// Sets the event counter to `n`.
async fn set_counter(db: &mut dyn Exec, n: i64) -> Result<(), CopyError> {
    static Q: Query = Query::new("UPDATE event_seq SET n = ? WHERE id = 1");
    db.execute(&Q, &[Arg::Int(n)])
        .await
        .map(drop)
        .map_err(|e| CopyError::Store(in_op("writing the event counter", e)))
}

/// Up to [`PAGE`] rows of `table` whose key comes after `after` (from the start if `None`),
/// in key order. `now` filters live-only tables. Columns are qualified (`t.col`), so that no
/// name can be read as anything but the table's column.
async fn page(
    db: &mut dyn Exec,
    table: &Table,
    after: Option<&[Value]>,
    now: i64,
) -> Result<Vec<Vec<Value>>, CopyError> {
    let qualified = |columns: &[(&str, Kind)]| {
        columns
            .iter()
            .map(|(name, _)| format!("t.{name}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let key = qualified(&table.columns[..table.key]);
    let mut sql = format!(
        "SELECT {} FROM {} t WHERE 1 = 1",
        qualified(table.columns),
        table.name
    );
    let mut args = Vec::new();
    if table.live_only {
        sql.push_str(" AND t.expires_at > ?");
        args.push(Arg::Int(now));
    }
    if let Some(after) = after {
        sql.push_str(&format!(" AND ({key}) > ({})", marks(after.len())));
        args.extend(after.iter().map(Value::arg));
    }
    sql.push_str(&format!(" ORDER BY {key} LIMIT {PAGE}"));
    let read = |mut row: Row| {
        let columns = table.columns.iter();
        columns
            .map(|&(_, kind)| Value::read(&mut row, kind))
            .collect()
    };
    let rows = db.fetch(composed(sql, None), &args).await;
    let rows = rows.and_then(|rows| rows.into_iter().map(read).collect());
    rows.map_err(|e| CopyError::Store(e.in_op(format!("reading the source's {}", table.name))))
}

/// Inserts `rows` into `table` with one statement; returns how many went in.
async fn insert(db: &mut dyn Exec, table: &Table, rows: &[Vec<Value>]) -> Result<u64, CopyError> {
    let columns = table
        .columns
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ");
    let row = format!("({})", marks(table.columns.len()));
    let sql = format!(
        "INSERT INTO {} ({columns}) VALUES {}",
        table.name,
        vec![row; rows.len()].join(", ")
    );
    let args = rows.iter().flatten().map(Value::arg).collect::<Vec<_>>();
    db.execute(composed(sql, None), &args)
        .await
        .map_err(|e| CopyError::Store(e.in_op(format!("writing the target's {}", table.name))))
}

/// `n` placeholders: `?, ?, …`.
fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// One column's value in one row.
#[derive(Debug, Clone)]
enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Bytes(Option<Vec<u8>>),
}

impl Value {
    /// The next column of `row`, of type `kind`.
    fn read(row: &mut Row, kind: Kind) -> StoreResult<Self> {
        Ok(match kind {
            Text => Self::Text(row.opt_text()?),
            Int => Self::Int(row.opt_int()?),
            Bytes => Self::Bytes(row.opt_bytes()?),
        })
    }

    /// The value bound as an argument, NULLs of its column's type.
    fn arg(&self) -> Arg<'_> {
        match self {
            Self::Text(v) => Arg::Text(v.as_deref()),
            Self::Int(v) => Arg::OptInt(*v),
            Self::Bytes(v) => Arg::Bytes(v.as_deref()),
        }
    }
}

/// Which end of the copy a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Source,
    Target,
}

/// A transaction statement: [`Db::transaction`].
#[derive(Debug, Clone, Copy)]
enum TxStep {
    /// The transaction this side needs.
    Begin(Side),
    Commit,
}

/// One connection to one database, of the backend its URL names. Statements go through
/// [`Exec`]; closing it before a commit rolls back.
enum Db {
    #[cfg(feature = "sqlite")]
    Sqlite(rusqlite::Connection),
    #[cfg(feature = "postgres")]
    Postgres(
        Pooled<sqlx::Postgres>,
        sqlx::pool::PoolConnection<sqlx::Postgres>,
    ),
    #[cfg(feature = "mysql")]
    Mysql(Pooled<sqlx::MySql>, sqlx::pool::PoolConnection<sqlx::MySql>),
}

impl Db {
    /// Opens one connection on `url`: read-only for a SQLite source, which must exist.
    async fn open(url: &str, side: Side) -> Result<Self, CopyError> {
        let role = match side {
            Side::Source => "source",
            Side::Target => "target",
        };
        let shown = redact_url(url);
        let fail = |e: StoreError| {
            CopyError::Store(e.in_op(format!("opening the {role} database {shown}")))
        };
        let scheme = url
            .split_once(':')
            .map_or("", |(scheme, _)| scheme)
            .to_ascii_lowercase();
        match scheme.as_str() {
            #[cfg(feature = "sqlite")]
            "sqlite" => {
                use rusqlite::OpenFlags;
                let path = crate::sqlite::parse_url(url)
                    .and_then(|path| {
                        path.ok_or_else(|| StoreError::other("open", "the database is in memory"))
                    })
                    .map_err(fail)?;
                let flags = OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | match side {
                        Side::Source => OpenFlags::SQLITE_OPEN_READ_ONLY,
                        Side::Target => OpenFlags::SQLITE_OPEN_READ_WRITE,
                    };
                let opened = rusqlite::Connection::open_with_flags(path, flags).and_then(|conn| {
                    conn.busy_timeout(WAIT)?;
                    conn.execute_batch("PRAGMA foreign_keys = ON")?;
                    Ok(conn)
                });
                opened
                    .map(Self::Sqlite)
                    .map_err(|e| fail(crate::sqlite::map_err(e)))
            }
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => {
                let pool = crate::pooled::postgres::connect(url, &one_connection())
                    .await
                    .map_err(fail)?;
                let conn = pool.acquire().await.map_err(fail)?;
                Ok(Self::Postgres(pool, conn))
            }
            #[cfg(feature = "mysql")]
            "mysql" | "mariadb" => {
                let pool = crate::pooled::mysql::connect(url, &one_connection())
                    .await
                    .map_err(fail)?;
                let conn = pool.acquire().await.map_err(fail)?;
                Ok(Self::Mysql(pool, conn))
            }
            _ => Err(CopyError::Store(StoreError::other(
                format!("opening the {role} database {shown}"),
                "the URL names no backend this build supports (sqlite, postgres, mysql)",
            ))),
        }
    }

    /// Begins the transaction this side needs (a read-only snapshot on the source; a write on
    /// the target, holding SQLite's write lock from the start), or commits it. Where the
    /// backends really differ; the servers get these as plain text, not prepared.
    async fn transaction(&mut self, step: TxStep) -> Result<(), CopyError> {
        use TxStep::{Begin, Commit};
        let op = match step {
            Begin(Side::Source) => "beginning a read on the source",
            Begin(Side::Target) => "beginning a write on the target",
            Commit => "committing",
        };
        let done = match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(conn) => conn
                .execute_batch(match step {
                    // In WAL mode, a read transaction sees one snapshot from its first read.
                    Begin(Side::Source) => "BEGIN DEFERRED",
                    Begin(Side::Target) => "BEGIN IMMEDIATE",
                    Commit => "COMMIT",
                })
                .map_err(crate::sqlite::map_err),
            #[cfg(feature = "postgres")]
            Self::Postgres(_, conn) => sqlx::Executor::execute(
                &mut **conn,
                match step {
                    Begin(Side::Source) => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                    Begin(Side::Target) => "BEGIN",
                    Commit => "COMMIT",
                },
            )
            .await
            .map(drop)
            .map_err(<sqlx::Postgres as Server>::map_err),
            #[cfg(feature = "mysql")]
            Self::Mysql(_, conn) => sqlx::Executor::execute(
                &mut **conn,
                match step {
                    Begin(Side::Source) => "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
                    Begin(Side::Target) => "START TRANSACTION",
                    Commit => "COMMIT",
                },
            )
            .await
            .map(drop)
            .map_err(<sqlx::MySql as Server>::map_err),
        };
        done.map_err(|e| CopyError::Store(in_op(op, e)))
    }

    /// Closes the connection: an open transaction rolls back.
    async fn close(self) {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(conn) => drop(conn),
            #[cfg(feature = "postgres")]
            Self::Postgres(pool, conn) => {
                let _ = conn.close().await;
                pool.close().await;
            }
            #[cfg(feature = "mysql")]
            Self::Mysql(pool, conn) => {
                let _ = conn.close().await;
                pool.close().await;
            }
        }
    }
}

impl Exec for Db {
    fn execute<'a>(
        &'a mut self,
        q: &'a Query,
        args: &'a [Arg<'a>],
    ) -> BoxFuture<'a, StoreResult<u64>> {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(conn) => {
                Box::pin(async move { crate::sqlite::SqliteExec(conn).execute(q, args).await })
            }
            #[cfg(feature = "postgres")]
            Self::Postgres(_, conn) => Exec::execute(&mut **conn, q, args),
            #[cfg(feature = "mysql")]
            Self::Mysql(_, conn) => Exec::execute(&mut **conn, q, args),
        }
    }

    fn fetch<'a>(
        &'a mut self,
        q: &'a Query,
        args: &'a [Arg<'a>],
    ) -> BoxFuture<'a, StoreResult<Vec<Row>>> {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(conn) => {
                Box::pin(async move { crate::sqlite::SqliteExec(conn).fetch(q, args).await })
            }
            #[cfg(feature = "postgres")]
            Self::Postgres(_, conn) => Exec::fetch(&mut **conn, q, args),
            #[cfg(feature = "mysql")]
            Self::Mysql(_, conn) => Exec::fetch(&mut **conn, q, args),
        }
    }
}

/// Whether `url` names an in-memory SQLite database (`sqlite::memory:`, `…?mode=memory`).
fn is_memory(url: &str) -> bool {
    url.to_ascii_lowercase().starts_with("sqlite:")
        && (url.contains(":memory:") || url.contains("mode=memory"))
}
