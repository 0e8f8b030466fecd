//! wxlogin-hooks: the HTTP calls wxlogin makes to the operator's own systems.
//!
//! * [`signing`]: Standard Webhooks (<https://www.standardwebhooks.com>) secrets, signatures
//!   and verification; every outgoing hook request is signed this way.
//! * [`endpoint`]: configured webhook endpoints, their stable ids and the URL policy.
//! * [`deliver`]: the [`Deliverer`], which delivers the outbox's events with retries.
//! * [`lookup`]: [`HttpUserLookup`], core's `UserLookup` port over HTTP (`user.lookup`).
//!
//! Uses only `wxlogin-core` among the workspace's crates. No secret, phone, URL query or
//! receiver's body reaches a log line, an error text or a metric label.

pub mod deliver;
pub mod endpoint;
mod http;
pub mod lookup;
mod payload;
pub mod signing;

pub use deliver::{
    BuildError, DELIVERIES_TOTAL, DELIVERY_RESULTS, DELIVERY_SECONDS, Deliverer, DelivererConfig,
};
pub use endpoint::{
    EndpointError, WebhookEndpoint, check_url, endpoint_id, parse_event_types, parse_url,
};
pub use lookup::{HttpUserLookup, LookupConfig};
pub use signing::{SecretError, VerifyError, WebhookSecret};
