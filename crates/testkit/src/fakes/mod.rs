//! In-memory fakes of the ports, for testing the use cases where they live (`wxlogin-core`'s
//! tests) without a database, Redis or WeChat.
//!
//! * [`MemoryStore`]: the durable ports ([`UserStore`], [`SessionStore`], [`RefreshStore`],
//!   the parts of [`AdminStore`] the login flow uses, and the outbox's reads) with the SQL
//!   store's semantics: single-use tickets, refresh rotation with reuse detection revoking the
//!   family, expiry to the second, one user per phone, all-or-nothing units. The backend
//!   conformance story runs against it too (`tests/story/`), which keeps it honest. Its state
//!   can be read back for assertions, and any method made to fail once
//!   ([`MemoryStore::fail_next`]).
//! * [`ScriptedWeChat`]: answers per login or phone code as scripted, single use like WeChat's
//!   codes, and counts the calls.
//! * [`ManualClock`]: core's [`Clock`] that moves only when the test moves it, re-exported.
//!
//! [`UserStore`]: wxlogin_core::ports::UserStore
//! [`SessionStore`]: wxlogin_core::ports::SessionStore
//! [`RefreshStore`]: wxlogin_core::ports::RefreshStore
//! [`AdminStore`]: wxlogin_core::admin::AdminStore
//! [`Clock`]: wxlogin_core::clock::Clock

mod store;
mod wechat;

pub use store::{FamilyState, MemoryStore, TicketState, TokenState};
pub use wechat::{ScriptedWeChat, phone, session};
pub use wxlogin_core::clock::ManualClock;

use wxlogin_core::ports::StoreError;

/// What kind of store failure a fake reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The backend is unreachable (503 `unavailable` to the client).
    Unavailable,
    /// Anything else: a constraint the SQL store enforces, a method the fake leaves out.
    Other,
}

/// Every store error the fakes return is made here, so that a change to [`StoreError`]'s
/// shape touches one function.
pub(crate) fn store_error(failure: Failure, detail: impl Into<String>) -> StoreError {
    match failure {
        Failure::Unavailable => StoreError::unavailable("fake store", detail.into()),
        Failure::Other => StoreError::other("fake store", detail.into()),
    }
}
