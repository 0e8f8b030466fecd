//! Integration tests for wxlogin-hooks: the deliverer against an in-memory outbox and real
//! loopback receivers, the lookup client against real loopback endpoints, and both against
//! the official Standard Webhooks library (`official`, through `examples/*/receiver.py`).
//! Time is moved by hand ([`support::ManualClock`]); the one poll, bounded, waits for the
//! deliverer's own task.
// Tests unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used, missing_docs)]

mod deliver;
mod lookup;
mod official;
mod receiver;
mod support;
