//! sqlx errors to [`StoreError`]: `Unavailable` (503) when the database cannot be reached or
//! timed out, `Other` (500) for everything else. The sqlx error is kept as the source.
//!
//! sqlx never keeps bound values, and database messages name constraints and columns, not
//! values (PostgreSQL puts values in `DETAIL`, which sqlx's `Display` leaves out), so no phone
//! hash, token hash or sealed value reaches a log line through here. MySQL's messages that do
//! quote a value are reduced to their number first (`pooled::mysql`, `copy::db_err`).

#[cfg(any(feature = "postgres", feature = "mysql"))]
use sqlx::error::DatabaseError;
use wxlogin_core::ports::StoreError;

/// Maps `err`. `transient` tells, per backend, which database errors mean "busy or
/// unreachable, try later" (a deadlock, too many connections, for instance). The caller adds
/// the operation's name ([`crate::sql::in_op`]).
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) fn from_sqlx(err: sqlx::Error, transient: fn(&dyn DatabaseError) -> bool) -> StoreError {
    let unavailable = match &err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => transient(db.as_ref()),
        _ => false,
    };
    if unavailable {
        StoreError::unavailable("", err)
    } else {
        StoreError::other("", err)
    }
}

/// Maps a failed migration run.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) fn from_migrate(
    err: sqlx::migrate::MigrateError,
    transient: fn(&dyn DatabaseError) -> bool,
) -> StoreError {
    use sqlx::migrate::MigrateError;
    match err {
        MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => {
            crate::sql::in_op("migrate", from_sqlx(e, transient))
        }
        // VersionMissing (the database is newer than this binary), VersionMismatch (a
        // merged migration was edited), Dirty, ...: an operator has to look.
        other => StoreError::other("migrate", other),
    }
}

/// A stored value that cannot be what we wrote: a bug or a tampered database.
pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::corrupt(what)
}
