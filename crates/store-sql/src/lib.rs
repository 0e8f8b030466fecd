//! wxlogin-store-sql: the durable stores on SQL databases, via sqlx.
//!
//! [`SqlStore`] implements every durable port of `wxlogin-core` ([`UserStore`],
//! [`SessionStore`], [`TokenStore`], [`KeyStore`], [`Health`]) on one connection pool. The
//! database URL's scheme picks the backend: `sqlite://path/to/file.db` or `sqlite::memory:`,
//! `postgres://` (or `postgresql://`), and `mysql://` (or `mariadb://`).
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
//! * `store`: [`SqlStore`], [`ConnectOptions`], [`Purged`]; picks the backend from the URL.
//! * `backend`: the trait each backend implements, beyond the ports.
//! * `rows`: rows as read from any backend, and their conversion to the ports' records.
//! * `errors`: sqlx errors to [`StoreError`] (`Unavailable` or `Other`).
//! * `redact`: [`redact_url`], database URLs with their password masked, for `Debug` and logs.
//! * `copy`: [`copy::copy_data`], every durable row from one database to another (`wxlogin copy-data`).
//! * `sqlite`, `postgres`, `mysql`: one backend each (features of the same names, all on by
//!   default); its SQL, its locking notes, and its `migrations/<backend>/`.
//!
//! [`UserStore`]: wxlogin_core::ports::UserStore
//! [`SessionStore`]: wxlogin_core::ports::SessionStore
//! [`TokenStore`]: wxlogin_core::ports::TokenStore
//! [`KeyStore`]: wxlogin_core::ports::KeyStore
//! [`KeyStore::insert_signing_key`]: wxlogin_core::ports::KeyStore::insert_signing_key
//! [`Health`]: wxlogin_core::ports::Health
//! [`StoreError`]: wxlogin_core::ports::StoreError

#[cfg(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")))]
compile_error!(
    "wxlogin-store-sql needs at least one backend feature: `sqlite`, `postgres` or `mysql`"
);

mod backend;
pub mod copy;
mod errors;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
mod redact;
mod rows;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;

pub use redact::redact_url;
pub use store::{ConnectOptions, Purged, SqlStore};
