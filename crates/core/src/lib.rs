//! wxlogin-core: the login rules, with no I/O of their own.
//!
//! The use cases ([`service::AuthService`]) run against ports ([`ports`], [`wechat`]) that
//! the adapters implement: `wxlogin-wechat` for WeChat, `wxlogin-store-sql` for storage. No
//! web framework, database driver or HTTP client is used here.
//!
//! # Layout
//! * [`ids`], [`secret`]: newtypes; secrets never print.
//! * [`wechat`]: the port to WeChat's server API, failures classified by what to do.
//! * [`ports`]: what the use cases need from storage.
//! * [`clock`]: the one clock, wall and monotonic, real or moved by tests.
//! * [`admin`], [`events`]: what the admin API needs from storage; the outbox and webhooks.
//! * [`lease`]: the cluster-wide WeChat access-token lease ([`lease::TokenLease`]), a port.
//! * [`service`]: login, phone, register, refresh, logout, me.
//! * [`error`]: one error per stable code of the contract.
//! * [`cause`]: what a failure carries up to its one log line, and how it prints.
//! * [`views`]: the response bodies.
//! * [`crypto`]: the master key, sealing at rest, opaque handles and their hashes.
//! * [`jwt`]: JWTs (ES256, EdDSA, RS256), the key ring, the JWKS and key rotation.
//! * [`wxcrypt`]: legacy encrypted data (WXBizDataCrypt), strict.
//! * [`phone`]: E.164 and masking.
//! * [`outcome`]: per-code idempotency, in process and across instances.
//! * [`limits`]: rate limits on one instance, and the check every limiter goes through.
//! * [`counters`]: the business metrics and their fixed label sets.
//! * [`redact`]: URLs with their password masked, for `Debug` output, logs and errors.

pub mod admin;
pub mod cause;
pub mod clock;
pub mod counters;
pub mod crypto;
pub mod error;
pub mod events;
pub mod ids;
pub mod jwt;
pub mod lease;
pub mod limits;
pub mod outcome;
pub mod phone;
pub mod ports;
pub mod redact;
pub mod secret;
pub mod service;
mod store_error;
pub mod views;
pub mod wechat;
pub mod wxcrypt;

pub use error::AuthError;
pub use service::{AppClaims, AuthService, AuthSettings, PhoneMatch, Ports, RegistrationPolicy};
