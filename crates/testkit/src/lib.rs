//! wxlogin-testkit: fixtures for wxlogin's tests, in-memory fakes of the ports, and (in
//! `tests/story/`) the backend conformance story that every store must tell the same way.
//!
//! A dev-dependency only: adapters cannot dev-depend on it without a cycle, which is why the
//! story lives here rather than in `wxlogin-store-sql`.
//!
//! ```no_run
//! # #[cfg(feature = "db")]
//! # async fn demo() {
//! use wxlogin_testkit::TestDb;
//! // A schema of its own on the server named by WXLOGIN_TEST_POSTGRES_URL, dropped on drop;
//! // `None`, with a visible NOTICE, when the variable is unset.
//! let Some(db) = TestDb::postgres().await else { return };
//! let store = db.open(4).await; // connected and migrated
//! let url = db.url(); // for a server under test, or a second instance
//! # let _ = (store, url); }
//! ```
//!
//! # Layout
//! * [`fakes`]: [`fakes::MemoryStore`] (the durable ports in memory, with the SQL store's
//!   semantics), [`fakes::ScriptedWeChat`] and [`fakes::ManualClock`], for use-case tests that
//!   need no database. Always built.
//! * `fixtures`: fixed times, ids, tickets, users and refresh families for store tests, on
//!   any store. Always built.
//! * `db` (feature `db`, on by default): [`TestDb`], a throwaway database on one [`Backend`],
//!   and [`backend_url`].
//! * `proxy` (feature `db`): [`TcpProxy`], a loopback proxy a test cuts to make a database or
//!   Redis vanish.
//!
//! Core's own tests use `default-features = false`: the fakes and fixtures only, so that
//! `cargo test -p wxlogin-core` builds no database driver.

// Test support: a panic is how a fixture reports that the test cannot go on.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

#[cfg(feature = "db")]
mod db;
pub mod fakes;
pub mod fixtures;
#[cfg(feature = "db")]
mod proxy;

#[cfg(feature = "db")]
pub use db::{Backend, MYSQL_URL_VAR, POSTGRES_URL_VAR, TestDb, backend_url};
#[cfg(feature = "db")]
pub use proxy::TcpProxy;
