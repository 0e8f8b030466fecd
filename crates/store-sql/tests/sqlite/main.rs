//! What only this crate's own tests check: SQLite's specifics (memory databases, files and
//! WAL, reopening) and how `connect` treats URLs. The ports' contracts are the cross-backend
//! story suite in `crates/testkit/tests/story`, which always runs on SQLite (and on PostgreSQL
//! and MySQL when their URLs are set), so they are not repeated here.

mod durability;
mod import_speed;
mod lifecycle;
mod support;
