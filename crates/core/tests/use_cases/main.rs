//! The use cases' decisions, tested where they live: [`wxlogin_core::AuthService`] on the
//! in-memory fakes of `wxlogin_testkit::fakes` (no database, no WeChat, no HTTP). Each test
//! drives one use case and asserts on what it answered and on what the fake store now holds.
//! Time moves only by hand ([`harness::Harness::advance`]).
//!
//! * `login`: `POST /v1/login`'s decisions.
//! * `phone`: `POST /v1/phone`, by code and by legacy encrypted data.
//! * `register`: `POST /v1/register`.
//! * `refresh`: `POST /v1/token/refresh`.

// Test code: a panic is how a test fails.
#![allow(clippy::unwrap_used, missing_docs)]

mod harness;
mod login;
mod phone;
mod refresh;
mod register;
