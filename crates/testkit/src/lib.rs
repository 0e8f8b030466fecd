//! wxlogin-testkit: fixtures for wxlogin's tests, and (in `tests/story/`) the backend
//! conformance story that every `wxlogin-store-sql` backend must tell the same way.
//!
//! A dev-dependency only: adapters cannot dev-depend on it without a cycle, which is why the
//! story lives here rather than in `wxlogin-store-sql`.
//!
//! ```no_run
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
//! * `db`: [`TestDb`], a throwaway database on one [`Backend`], and [`backend_url`].
//! * `fixtures`: fixed times, ids, tickets, users and refresh families for store tests.
//! * `proxy`: [`TcpProxy`], a loopback proxy a test cuts to make a database or Redis vanish.

// Test support: a panic is how a fixture reports that the test cannot go on.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

mod db;
pub mod fixtures;
mod proxy;

pub use db::{Backend, MYSQL_URL_VAR, POSTGRES_URL_VAR, TestDb, backend_url};
pub use proxy::TcpProxy;
