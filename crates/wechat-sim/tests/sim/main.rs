//! The simulator driven over real HTTP. One binary; this file only declares modules.

// Test helpers sit outside #[test] fns, where clippy's allow-unwrap-in-tests doesn't reach;
// a failed unwrap there is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

mod access_tokens;
mod control;
mod encrypted_msg;
mod faults;
mod helpers;
mod legacy;
mod login;
mod phone;
mod server;
mod session_key;
mod stats;
