//! wxlogin-store-sql: the durable stores on SQL databases: SQLite (rusqlite), PostgreSQL and
//! MySQL/MariaDB (sqlx), with each query written once.
//!
//! [`SqlStore`] implements every durable port of `wxlogin-core` ([`UserStore`],
//! [`SessionStore`], [`RefreshStore`], [`KeyStore`], [`Health`], and for the admin API, the
//! outbox and webhooks [`AdminStore`], [`AdminKeyStore`], [`EventStore`]) on one connection
//! pool. The database URL's scheme picks the backend: `sqlite://path/to/file.db` or
//! `sqlite::memory:`, `postgres://` (or `postgresql://`), and `mysql://` (or `mariadb://`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), wxlogin_core::ports::StoreError> {
//! use std::sync::Arc;
//! use wxlogin_core::ports::UserStore;
//! use wxlogin_store_sql::{ConnectOptions, SqlStore};
//!
//! let store = Arc::new(SqlStore::connect("sqlite://./wxlogin-data/wxlogin.db", ConnectOptions::default()).await?);
//! store.migrate().await?;
//! let users: Arc<dyn UserStore> = store.clone();
//! # Ok(()) }
//! ```
//!
//! Several instances may start at once on an empty database: [`SqlStore::migrate`] is safe
//! under that race, and the first signing key is elected by `signing_keys.generation` being
//! unique ([`KeyStore::insert_signing_key`]).
//!
//! # Layout
//! * `store`: [`SqlStore`], [`ConnectOptions`], [`Purged`]; picks the engine from the URL, and
//!   runs each port method as a read, a write or an atomic unit; [`Health`].
//! * `users`, `sessions`, `refresh`, `keys`: [`UserStore`], [`SessionStore`], [`RefreshStore`],
//!   [`KeyStore`] on [`SqlStore`], each query written once.
//! * `sql`: the query layer's vocabulary: `Query` (text with `?` placeholders, and the few
//!   per-dialect variants), `Arg`, `Row`, and `Exec`, what each engine implements.
//! * `rows`: rows as read from any engine, to the ports' records.
//! * `outbox`: events written in the unit that makes the change, numbered in commit order.
//! * `admin`, `import`, `admin_keys`: [`AdminStore`] (users as an operator manages them; the
//!   batch import on its own) and [`AdminKeyStore`].
//! * `events`: [`EventStore`]: the outbox read back, webhook fan-out, claims and deliveries.
//! * `errors`: sqlx errors to [`StoreError`] (`Unavailable` or `Other`).
//! * `copy`: [`copy::copy_data`], every durable row from one database to another (`wxlogin copy-data`).
//! * `sqlite`: the SQLite engine (rusqlite): reads on the caller's thread, one writer thread
//!   committing units in groups, each in its own savepoint.
//! * `pooled`: the PostgreSQL and MySQL engines (sqlx pools): row decoding, error
//!   classification and migrations, per server.
//!
//! Features `sqlite`, `postgres`, `mysql` (all on by default) pick the engines; each has its
//! `migrations/<backend>/`.
//!
//! [`UserStore`]: wxlogin_core::ports::UserStore
//! [`SessionStore`]: wxlogin_core::ports::SessionStore
//! [`RefreshStore`]: wxlogin_core::ports::RefreshStore
//! [`KeyStore`]: wxlogin_core::ports::KeyStore
//! [`KeyStore::insert_signing_key`]: wxlogin_core::ports::KeyStore::insert_signing_key
//! [`Health`]: wxlogin_core::ports::Health
//! [`StoreError`]: wxlogin_core::ports::StoreError
//! [`AdminStore`]: wxlogin_core::admin::AdminStore
//! [`AdminKeyStore`]: wxlogin_core::admin::AdminKeyStore
//! [`EventStore`]: wxlogin_core::events::EventStore

#[cfg(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")))]
compile_error!(
    "wxlogin-store-sql needs at least one backend feature: `sqlite`, `postgres` or `mysql`"
);

mod account;
mod activity;
mod admin;
mod admin_keys;
pub mod copy;
mod errors;
mod events;
mod import;
mod keys;
mod outbox;
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod pooled;
mod refresh;
mod rows;
mod sessions;
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;
mod users;

/// Names of the metrics the SQLite writer records (one sample per group transaction);
/// `wxlogin serve` describes them. Recorded through the `metrics` facade, so nothing is kept
/// unless a recorder is installed.
pub mod telemetry {
    /// Histogram: units per group transaction.
    pub const GROUP_UNITS: &str = "wxlogin_sqlite_group_units";
    /// Histogram: seconds from a group's `BEGIN IMMEDIATE` to the end of its `COMMIT`. The rate
    /// of its sum is the share of time the writer is busy: near 1, writes queue for it.
    pub const GROUP_SECONDS: &str = "wxlogin_sqlite_group_seconds";
    /// Histogram: seconds of a group's `COMMIT` alone (the WAL write, its fsync with
    /// `synchronous = FULL`, and the checkpoints SQLite runs after some commits).
    pub const COMMIT_SECONDS: &str = "wxlogin_sqlite_commit_seconds";
}

pub use store::{ConnectOptions, Purged, SqlStore, Synchronous};
