// Test support code: a panic is how a broken expectation is reported.
#![allow(clippy::unwrap_used, missing_docs)]

//! The HTTP contract, end to end: the real server on port 0, SQLite in a temp dir, and the
//! WeChat simulator in process. Every `TestApp` scans all its response bodies for secrets
//! when it is dropped.

mod helpers;

mod admin;
mod avatars;
mod cluster;
mod console;
mod dashboards;
mod errors;
mod flow;
mod hooks;
mod hostile;
mod idempotency;
mod limits;
mod openapi;
mod ops;
mod outage;
mod restart;
mod rotation;
mod secrets;
mod security;
mod session_keys;
mod tokens;
mod wechat_faults;
