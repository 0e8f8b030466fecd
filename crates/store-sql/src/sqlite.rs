//! The SQLite engine, on rusqlite (bundled SQLite): reads where the request runs, writes on
//! one thread that commits them in groups.
//!
//! * **Reads** take a connection from a small idle list, run their one statement on the
//!   calling task's thread (WAL readers never wait for the writer; a read is microseconds)
//!   and give it back. No thread hop, no channel. Since a read never awaits, a thread holds
//!   at most one reader, and the list never grows past the number of threads that read.
//! * **Writes** are units sent to the writer thread over a channel. The writer takes every
//!   unit queued, opens one `BEGIN IMMEDIATE` transaction, runs each unit in its own
//!   savepoint (a unit that fails or decides to undo rolls back to it, the others are kept),
//!   commits once, and only then answers each caller: an answer means the unit is in a
//!   committed transaction. One commit (one WAL fsync) serves the whole group.
//! * **Cancellation**: a caller that stops waiting (the client hung up) leaves its unit in
//!   the queue; the writer runs and commits it as if it had waited. No transaction is ever
//!   left half-written, and no connection is shared with a future that can be dropped.
//! * **Durability**: `synchronous = FULL` in WAL mode: every commit is fsynced before the
//!   writer answers, so an acknowledged write survives a crash of the process or of the
//!   machine. See docs/operations.md.
//! * **Other processes** on the same file (a second instance, `wxlogin copy-data`) take turns
//!   for the write lock: `BEGIN IMMEDIATE` waits up to the busy timeout.
//! * **In-memory databases** (`sqlite::memory:`, tests) live in their one connection, the
//!   writer's: reads go through the writer's queue too.
//!
//! Migrations: sqlx's format (`migrations/sqlite/`, checksums in `_sqlx_migrations`), applied
//! by [`migrate`] on the writer, inside its `BEGIN IMMEDIATE`: instances starting together
//! take turns, and the second finds the migrations applied.
//!
//! Long file: over 500 lines on purpose (about 620 without its tests): the readers, the writer
//! and the migrations are one design, described once above, and share the connection setup
//! and the rusqlite error mapping; apart, each would need the others' private pieces.

use std::path::PathBuf;
use std::sync::{Mutex, mpsc};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, ToSql};
use sqlx::migrate::Migrator;
use tokio::sync::oneshot;
use wxlogin_core::ports::{StoreError, StoreResult};

use crate::sql::{Arg, BoxFuture, Dialect, Exec, Query, Row, Step, Val, in_op};
use crate::store::{ConnectOptions, Synchronous};
use crate::telemetry::{COMMIT_SECONDS, GROUP_SECONDS, GROUP_UNITS};

/// `migrations/sqlite/`, embedded at compile time.
pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// Most units in one group transaction: bounds how long the first caller of a group waits.
const MAX_GROUP: usize = 512;

/// Prepared statements kept per connection (every query the stores have, with room for the
/// composed searches).
const STATEMENT_CACHE: usize = 256;

/// A unit for the writer thread: runs on the writer's connection inside the group
/// transaction, and is answered after the commit.
trait Work: Send {
    /// Runs the unit; returns how to answer once the group's fate is known.
    fn run(self: Box<Self>, conn: &mut Connection) -> Box<dyn Answer>;
    /// The unit never ran: the group could not begin.
    fn fail(self: Box<Self>, err: &StoreError);
}

/// A unit that ran, waiting for its group's commit.
trait Answer: Send {
    /// `None`: committed; the unit's own result goes out. `Some`: the group was lost.
    fn send(self: Box<Self>, lost: Option<&StoreError>);
}

struct Unit<T, F> {
    f: F,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T: Send + 'static, F> Work for Unit<T, F>
where
    F: FnOnce(&mut Connection) -> StoreResult<Step<T>> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &mut Connection) -> Box<dyn Answer> {
        let result = in_savepoint(conn, self.f);
        Box::new(Pending {
            result,
            reply: self.reply,
        })
    }

    fn fail(self: Box<Self>, err: &StoreError) {
        let _ = self.reply.send(Err(err.clone()));
    }
}

struct Pending<T> {
    result: StoreResult<T>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T: Send> Answer for Pending<T> {
    fn send(self: Box<Self>, lost: Option<&StoreError>) {
        let result = match (lost, self.result) {
            (Some(err), Ok(_)) => Err(err.clone()),
            (_, result) => result,
        };
        // A caller that stopped waiting has nobody to tell: its unit is committed anyway.
        let _ = self.reply.send(result);
    }
}

/// Runs `f` in a savepoint: released if it keeps its writes, rolled back to otherwise.
fn in_savepoint<T>(
    conn: &mut Connection,
    f: impl FnOnce(&mut Connection) -> StoreResult<Step<T>>,
) -> StoreResult<T> {
    // Cached statements, not `execute_batch`: every unit runs these, and parsing them each
    // time showed in the writer's profile.
    let run = |conn: &Connection, sql: &str| conn.prepare_cached(sql)?.execute([]).map(drop);
    run(conn, "SAVEPOINT unit").map_err(map_err)?;
    let result = f(conn);
    let undo = !matches!(result, Ok(Step::Keep(_)));
    let end = if undo {
        run(conn, "ROLLBACK TO unit").and_then(|()| run(conn, "RELEASE unit"))
    } else {
        run(conn, "RELEASE unit")
    };
    match (result, end) {
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(map_err(e)),
        (Ok(Step::Keep(v) | Step::Undo(v)), Ok(())) => Ok(v),
    }
}

/// The writer thread: groups, one transaction each.
fn writer_loop(mut conn: Connection, queue: mpsc::Receiver<Box<dyn Work>>) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(work) => group.push(work),
                Err(_) => break,
            }
        }
        let began = std::time::Instant::now();
        metrics::histogram!(GROUP_UNITS).record(group.len() as f64);
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let err = map_err(e);
            group.into_iter().for_each(|work| work.fail(&err));
            continue;
        }
        let mut answers: Vec<Box<dyn Answer>> = Vec::with_capacity(group.len());
        for work in group {
            let answer = work.run(&mut conn);
            if conn.is_autocommit() {
                // SQLite ended the transaction itself (disk full, I/O error): every unit
                // so far is lost. Tell them, and go on in a new transaction.
                let err = StoreError::unavailable("", "the group transaction was rolled back");
                answers.drain(..).for_each(|a| a.send(Some(&err)));
                answer.send(Some(&err));
                if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
                    // Nobody to hand this to (the next group begins again), so logged here.
                    let error = wxlogin_core::cause::chain(&e);
                    tracing::error!(%error, "SQLite writer could not begin again");
                }
                continue;
            }
            answers.push(answer);
        }
        let committing = std::time::Instant::now();
        let committed = conn.execute_batch("COMMIT");
        metrics::histogram!(COMMIT_SECONDS).record(committing.elapsed().as_secs_f64());
        metrics::histogram!(GROUP_SECONDS).record(began.elapsed().as_secs_f64());
        match committed {
            Ok(()) => answers.into_iter().for_each(|a| a.send(None)),
            Err(e) => {
                let err = map_err(e);
                let _ = conn.execute_batch("ROLLBACK");
                answers.into_iter().for_each(|a| a.send(Some(&err)));
            }
        }
    }
}

/// Polls a unit's future once: on SQLite every statement is synchronous, so it is ready.
fn now<T>(fut: BoxFuture<'_, StoreResult<T>>) -> StoreResult<T> {
    let mut fut = fut;
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => Err(StoreError::other(
            "",
            "a SQLite unit waited for something other than SQLite",
        )),
    }
}

/// The SQLite engine: the writer's queue, and idle reader connections.
pub(crate) struct SqliteEngine {
    queue: Mutex<Option<mpsc::Sender<Box<dyn Work>>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// `None` for an in-memory database (reads go to the writer).
    readers: Option<Readers>,
}

impl std::fmt::Debug for SqliteEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteEngine").finish_non_exhaustive()
    }
}

struct Readers {
    path: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    fn take(&self) -> StoreResult<Connection> {
        if let Some(conn) = lock(&self.idle).pop() {
            return Ok(conn);
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(map_err)?;
        conn.busy_timeout(self.busy_timeout).map_err(map_err)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        conn.execute_batch("PRAGMA query_only = ON; PRAGMA case_sensitive_like = ON")
            .map_err(map_err)?;
        Ok(conn)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `sqlite://path`, `sqlite:path`, `sqlite::memory:`, `sqlite://:memory:`, `…?mode=memory`:
/// the file's path, or `None` for an in-memory database.
pub(crate) fn parse_url(url: &str) -> StoreResult<Option<PathBuf>> {
    let rest = url.split_once(':').map_or("", |(_, rest)| rest);
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path == ":memory:" || query.split('&').any(|pair| pair == "mode=memory") {
        return Ok(None);
    }
    if path.is_empty() {
        return Err(StoreError::other(
            "reading the SQLite database URL",
            "no file path",
        ));
    }
    Ok(Some(PathBuf::from(path)))
}

/// Creates the database file (and missing directories, mode 0700) with mode 0600 before
/// SQLite opens it: it holds openids in clear, and SQLite gives its `-wal` and `-shm` files
/// the database file's mode. An existing file is left as it is, with a warning when others
/// can read it.
fn private_file(path: &std::path::Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    tracing::warn!(file = %path.display(), mode = format!("{mode:o}"), "the database file is readable by others; chmod 600 it");
                }
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

impl SqliteEngine {
    /// Opens the database and starts its writer thread.
    pub(crate) async fn connect(url: &str, opts: &ConnectOptions) -> StoreResult<Self> {
        let path = parse_url(url)?;
        let writer = match &path {
            None => {
                let conn = Connection::open_in_memory().map_err(map_err)?;
                setup(&conn, opts)?;
                conn
            }
            Some(path) => {
                private_file(path).map_err(|e| {
                    let op = format!("creating the SQLite database file {}", path.display());
                    StoreError::unavailable(op, e)
                })?;
                let conn = Connection::open(path).map_err(map_err)?;
                setup(&conn, opts)?;
                ensure_wal(conn, opts.busy_timeout).await?
            }
        };
        let (send, queue) = mpsc::channel::<Box<dyn Work>>();
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(writer, queue))
            .map_err(|e| StoreError::other("starting the SQLite writer", e))?;
        Ok(Self {
            queue: Mutex::new(Some(send)),
            writer: Mutex::new(Some(thread)),
            readers: path.map(|path| Readers {
                path,
                busy_timeout: opts.busy_timeout,
                idle: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Runs `f` on the writer's connection in the next group; answers after its commit.
    async fn on_writer<T, F>(&self, op: &'static str, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<Step<T>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let sent = lock(&self.queue)
            .as_ref()
            .map(|queue| queue.send(Box::new(Unit { f, reply })));
        if !matches!(sent, Some(Ok(()))) {
            return Err(StoreError::unavailable(op, "database closed"));
        }
        answer
            .await
            .map_err(|_| StoreError::unavailable(op, "the SQLite writer stopped"))?
            .map_err(|e| in_op(op, e))
    }

    /// Runs a read where the caller runs (on the writer, for an in-memory database).
    pub(crate) async fn read<T, F>(&self, op: &'static str, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut dyn Exec) -> BoxFuture<'a, StoreResult<T>> + Send + 'static,
    {
        let Some(readers) = &self.readers else {
            return self
                .on_writer(op, move |conn| {
                    now(f(&mut SqliteExec(conn))).map(Step::Keep)
                })
                .await;
        };
        if lock(&self.queue).is_none() {
            return Err(StoreError::unavailable(op, "database closed"));
        }
        let mut conn = readers.take().map_err(|e| in_op(op, e))?;
        let result = now(f(&mut SqliteExec(&mut conn)));
        lock(&readers.idle).push(conn);
        result.map_err(|e| in_op(op, e))
    }

    /// Runs an atomic unit on the writer, in its own savepoint of the next group.
    pub(crate) async fn atomic<T, F>(&self, op: &'static str, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut dyn Exec) -> BoxFuture<'a, StoreResult<Step<T>>> + Send + 'static,
    {
        self.on_writer(op, move |conn| now(f(&mut SqliteExec(conn))))
            .await
    }

    /// Applies `migrator`'s pending migrations, on the writer (so inside `BEGIN IMMEDIATE`).
    pub(crate) async fn migrate(&self, migrator: &'static Migrator) -> StoreResult<()> {
        self.on_writer("migrate", move |conn| apply(conn, migrator).map(Step::Keep))
            .await
    }

    /// Stops the writer after the units already queued, and drops the idle readers.
    pub(crate) async fn close(&self) {
        drop(lock(&self.queue).take());
        let writer = lock(&self.writer).take();
        if let Some(writer) = writer {
            let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        }
        if let Some(readers) = &self.readers {
            lock(&readers.idle).clear();
        }
    }
}

impl Drop for SqliteEngine {
    fn drop(&mut self) {
        // The writer finishes what is queued and exits when the queue's last sender goes.
        drop(lock(&self.queue).take());
    }
}

/// Per-connection settings of the writer. `case_sensitive_like` (readers set it too): `LIKE`
/// folds ASCII case by default on SQLite only; PostgreSQL's and MySQL's (binary collation)
/// do not, and the admin search's nickname filter must match the same users everywhere.
/// `temp_store = MEMORY`: each unit's savepoint keeps the pages it changes in a statement
/// journal, a temporary file by default; in memory it costs no system call (the login
/// profile showed `subjournalPageIfRequired` writing to it at 6 % of the server's CPU). The
/// journal holds at most one unit's pages, and it is only needed while the process lives.
fn setup(conn: &Connection, opts: &ConnectOptions) -> StoreResult<()> {
    conn.busy_timeout(opts.busy_timeout).map_err(map_err)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let synchronous = match opts.synchronous {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = {synchronous};
         PRAGMA case_sensitive_like = ON; PRAGMA temp_store = MEMORY",
    ))
    .map_err(map_err)
}

/// Switches the database file to WAL. The journal mode is stored in the file, so once is
/// enough for every connection.
///
/// Switching a new file to WAL takes an exclusive lock, and SQLite answers `SQLITE_BUSY` at
/// once, without the busy handler, when another connection is doing the same: several
/// instances starting together on a new file would fail to connect. So: retry, for up to
/// `patience`. (Takes the connection by value: a `&Connection` held across the pause would
/// make the future not `Send`.)
async fn ensure_wal(conn: Connection, patience: Duration) -> StoreResult<Connection> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut pause = Duration::from_millis(2);
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |row| {
            row.get::<_, String>(0)
        }) {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(conn),
            Ok(mode) => {
                // Some file systems cannot do WAL: still correct, with more lock waits.
                tracing::warn!(%mode, "SQLite kept its journal mode instead of switching to WAL");
                return Ok(conn);
            }
            Err(e) if is_busy(&e) && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            Err(e) => return Err(in_op("connect", map_err(e))),
        }
    }
}

/// Applies `migrator`'s pending up-migrations as sqlx would, with sqlx's bookkeeping table,
/// so that databases migrated by earlier versions (sqlx's SQLite driver) carry on.
fn apply(conn: &mut Connection, migrator: &Migrator) -> StoreResult<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
             version BIGINT PRIMARY KEY,
             description TEXT NOT NULL,
             installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
             success BOOLEAN NOT NULL,
             checksum BLOB NOT NULL,
             execution_time BIGINT NOT NULL
         )",
    )
    .map_err(map_err)?;
    let applied: Vec<(i64, Vec<u8>, bool)> = conn
        .prepare("SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version")
        .and_then(|mut stmt| {
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .map_err(map_err)?;
    let known = |v: i64| migrator.iter().any(|m| m.version == v);
    for (version, checksum, success) in &applied {
        if !success {
            return Err(StoreError::other(
                "migrate",
                format!("migration {version} is partially applied; an operator has to look"),
            ));
        }
        if !known(*version) && !migrator.ignore_missing {
            return Err(StoreError::other(
                "migrate",
                format!(
                    "migration {version} was applied but is missing in this build (the database is newer)"
                ),
            ));
        }
        if let Some(m) = migrator.iter().find(|m| m.version == *version)
            && *m.checksum != **checksum
        {
            return Err(StoreError::other(
                "migrate",
                format!("migration {version} was applied but has been modified"),
            ));
        }
    }
    for m in migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
    {
        if applied.iter().any(|(v, _, _)| *v == m.version) {
            continue;
        }
        let started = std::time::Instant::now();
        conn.execute_batch(&m.sql).map_err(map_err)?;
        let took = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
        conn.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (?1, ?2, TRUE, ?3, ?4)",
            rusqlite::params![m.version, &*m.description, &*m.checksum, took],
        )
        .map_err(map_err)?;
    }
    Ok(())
}

/// [`Exec`] on a rusqlite connection: every call completes before it returns.
pub(crate) struct SqliteExec<'c>(pub(crate) &'c mut Connection);

impl ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match *self {
            Arg::Int(v) | Arg::OptInt(Some(v)) => ValueRef::Integer(v),
            Arg::Text(Some(v)) => ValueRef::Text(v.as_bytes()),
            Arg::Bytes(Some(v)) => ValueRef::Blob(v),
            Arg::Text(None) | Arg::Bytes(None) | Arg::OptInt(None) => ValueRef::Null,
        }))
    }
}

impl SqliteExec<'_> {
    fn execute_now(&mut self, q: &Query, args: &[Arg<'_>]) -> StoreResult<u64> {
        let mut stmt = self
            .0
            .prepare_cached(q.text(Dialect::Sqlite))
            .map_err(map_err)?;
        let n = stmt
            .execute(rusqlite::params_from_iter(args))
            .map_err(map_err)?;
        // Like sqlx's statement log: the text and a count, never the bound values.
        tracing::trace!(
            sql = q.text(Dialect::Sqlite),
            rows_affected = n,
            "sqlite execute"
        );
        Ok(n as u64)
    }

    fn fetch_now(&mut self, q: &Query, args: &[Arg<'_>]) -> StoreResult<Vec<Row>> {
        let mut stmt = self
            .0
            .prepare_cached(q.text(Dialect::Sqlite))
            .map_err(map_err)?;
        let columns = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(args))
            .map_err(map_err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(map_err)? {
            let mut vals = Vec::with_capacity(columns);
            for i in 0..columns {
                vals.push(match row.get_ref(i).map_err(map_err)? {
                    ValueRef::Null => Val::Null,
                    ValueRef::Integer(v) => Val::Int(v),
                    ValueRef::Text(v) => Val::Text(
                        String::from_utf8(v.to_vec())
                            .map_err(|_| crate::errors::corrupt("text is not UTF-8"))?,
                    ),
                    ValueRef::Blob(v) => Val::Bytes(v.to_vec()),
                    ValueRef::Real(_) => return Err(crate::errors::corrupt("unexpected REAL")),
                });
            }
            out.push(Row::new(vals));
        }
        tracing::trace!(
            sql = q.text(Dialect::Sqlite),
            rows_returned = out.len(),
            "sqlite fetch"
        );
        Ok(out)
    }
}

impl Exec for SqliteExec<'_> {
    fn execute<'a>(
        &'a mut self,
        q: &'a Query,
        args: &'a [Arg<'a>],
    ) -> BoxFuture<'a, StoreResult<u64>> {
        let result = self.execute_now(q, args);
        Box::pin(std::future::ready(result))
    }

    fn fetch<'a>(
        &'a mut self,
        q: &'a Query,
        args: &'a [Arg<'a>],
    ) -> BoxFuture<'a, StoreResult<Vec<Row>>> {
        let result = self.fetch_now(q, args);
        Box::pin(std::future::ready(result))
    }
}

/// Whether `err` is SQLite's "busy" or "locked".
fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// rusqlite errors to [`StoreError`]: busy, locked, I/O, full and cannot-open mean "try
/// later" (503); the rest is a bug or a corrupt database (500). SQLite's messages name
/// columns and constraints, never bound values.
pub(crate) fn map_err(err: rusqlite::Error) -> StoreError {
    let transient = matches!(
        err.sqlite_error_code(),
        Some(
            ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull
                | ErrorCode::CannotOpen
        )
    );
    if transient {
        StoreError::unavailable("", err)
    } else {
        StoreError::other("", err)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sqlx::migrate::Migrator;
    use tokio::sync::Barrier;

    use super::{SqliteEngine, parse_url};
    use crate::ConnectOptions;
    use crate::sql::Query;

    fn is_file(url: &str) -> bool {
        matches!(parse_url(url), Ok(Some(_)))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn instances_upgrading_one_database_at_once_apply_each_migration_once() {
        // A database at version 1, and eight instances of a binary that brings version 2.
        const INSTANCES: usize = 8;
        let dir = tempfile::tempdir().unwrap();
        let sql = dir.path().join("migrations");
        std::fs::create_dir(&sql).unwrap();
        std::fs::write(sql.join("0001_a.sql"), "CREATE TABLE a (x INTEGER);").unwrap();
        let v1: &'static Migrator =
            Box::leak(Box::new(Migrator::new(sql.as_path()).await.unwrap()));
        std::fs::write(sql.join("0002_b.sql"), "CREATE TABLE b (x INTEGER);").unwrap();
        let v2: &'static Migrator =
            Box::leak(Box::new(Migrator::new(sql.as_path()).await.unwrap()));
        let url = format!("sqlite://{}", dir.path().join("wx.db").display());
        let mut stores = Vec::new();
        for _ in 0..INSTANCES {
            stores.push(
                SqliteEngine::connect(&url, &ConnectOptions::default())
                    .await
                    .unwrap(),
            );
        }
        stores[0].migrate(v1).await.unwrap();
        let barrier = Arc::new(Barrier::new(INSTANCES));

        let mut tasks = tokio::task::JoinSet::new();
        for store in stores {
            let barrier = barrier.clone();
            tasks.spawn(async move {
                barrier.wait().await;
                store.migrate(v2).await.map(|()| store)
            });
        }
        let results = tasks.join_all().await;

        let stores: Vec<SqliteEngine> = results.into_iter().map(Result::unwrap).collect();
        static VERSIONS: Query =
            Query::new("SELECT version FROM _sqlx_migrations ORDER BY version");
        let applied = stores[0]
            .read("test", |db| {
                Box::pin(async move {
                    let mut out = Vec::new();
                    for mut row in db.fetch(&VERSIONS, &[]).await? {
                        out.push(row.int()?);
                    }
                    Ok(out)
                })
            })
            .await
            .unwrap();
        assert_eq!(applied, [1, 2]);
    }

    #[tokio::test]
    async fn the_writer_commits_at_the_configured_synchronous_level() {
        use crate::sql::Step;
        use crate::store::Synchronous;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("wx.db").display());
        static LEVEL: Query = Query::new("PRAGMA synchronous");
        // SQLite's numbers: NORMAL is 1, FULL is 2.
        for (synchronous, number) in [(Synchronous::Normal, 1), (Synchronous::Full, 2)] {
            let opts = ConnectOptions {
                synchronous,
                ..ConnectOptions::default()
            };
            let engine = SqliteEngine::connect(&url, &opts).await.unwrap();
            let level = engine
                .atomic("test", |db| {
                    Box::pin(async move { Ok(Step::Keep(db.fetch_one(&LEVEL, &[]).await?.int()?)) })
                })
                .await
                .unwrap();
            assert_eq!(level, number, "{synchronous:?}");
            engine.close().await;
        }
    }

    #[test]
    fn memory_urls_are_recognised_and_file_urls_are_not() {
        assert!(!is_file("sqlite::memory:"));
        assert!(!is_file("sqlite://:memory:"));
        assert!(!is_file("sqlite://shared?mode=memory&cache=shared"));
        assert!(is_file("sqlite://./wxlogin-data/wxlogin.db"));
        assert!(is_file("sqlite:///tmp/memory.db?mode=rwc"));
    }
}
