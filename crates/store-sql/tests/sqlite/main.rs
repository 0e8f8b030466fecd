//! The SQLite backend against the ports' contracts: one integration binary, one module per
//! port, plus the store's life cycle (migrations, reopening, concurrent starts).
//!
//! In-memory databases for contracts; a file in a temp dir wherever several connections or
//! several stores must meet.

mod keys;
mod lifecycle;
mod register;
mod sessions;
mod support;
mod tokens;
mod users;
