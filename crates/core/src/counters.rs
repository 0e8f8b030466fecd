//! The business counters: what the use cases decided, by a fixed set of labels.
//!
//! Counted where the decision is made, once per decision: a repeated code that gets the
//! remembered outcome is not a second login. Labels are the words listed here, never request
//! data. The server registers every series at zero on start-up (from the lists below), so
//! dashboards see them before the first login.

use crate::error::AuthError;
use crate::views::{LoginView, PhoneView};

/// Counter `{result}`: login code exchanges, by [`LOGIN_RESULTS`].
pub const LOGINS_TOTAL: &str = "wxlogin_logins_total";
/// Counter: users created from a registration ticket.
pub const REGISTRATIONS_TOTAL: &str = "wxlogin_registrations_total";
/// Counter `{method, result}`: phone verifications, by [`PHONE_METHODS`] and
/// [`PHONE_RESULTS`].
pub const PHONE_VERIFICATIONS_TOTAL: &str = "wxlogin_phone_verifications_total";
/// Counter: refresh tokens presented a second time (their family is revoked).
pub const REFRESH_REUSE_TOTAL: &str = "wxlogin_refresh_reuse_total";
/// Counter: sessions opened by a login.
pub const SESSIONS_OPENED_TOTAL: &str = "wxlogin_sessions_opened_total";
/// Counter `{reason}`: failed legacy decryptions, by [`DECRYPT_FAILURE_REASONS`].
pub const DECRYPT_FAILURES_TOTAL: &str = "wxlogin_decrypt_failures_total";
/// Counter `{kind}`: failed rate-limiter calls (the request was let through).
pub const RATE_LIMITER_ERRORS_TOTAL: &str = "wxlogin_rate_limiter_errors_total";
/// Counter `{step}`: shared outcome-store failures, by [`OUTCOME_STORE_STEPS`].
pub const OUTCOME_STORE_ERRORS_TOTAL: &str = "wxlogin_outcome_store_errors_total";

/// `new`: a session for a user not registered yet; `known`: signed in; `failed`: refused.
pub const LOGIN_RESULTS: [&str; 3] = ["new", "known", "failed"];
/// `code`: the phone-button code; `legacy`: `encrypted_data` + `iv`.
pub const PHONE_METHODS: [&str; 2] = ["code", "legacy"];
/// `registered`: the phone's owner signed in; `not_registered`: a ticket was issued.
pub const PHONE_RESULTS: [&str; 3] = ["registered", "not_registered", "failed"];
/// Padding and content failures are one reason, `undecryptable`, on purpose (no oracle).
pub const DECRYPT_FAILURE_REASONS: [&str; 6] = [
    "malformed",
    "undecryptable",
    "appid_mismatch",
    "watermark_expired",
    "locked",
    "unverified",
];
/// Calls to the lookup hook (`[hooks] user_lookup_url`), by `result`.
pub const LOOKUPS_TOTAL: &str = "wxlogin_user_lookups_total";
/// `result` of a lookup: the hook named a user, did not know the phone, or failed.
pub const LOOKUP_RESULTS: [&str; 3] = ["found", "not_found", "failed"];
/// Admin API requests refused for a missing, unknown or revoked key.
pub const ADMIN_UNAUTHENTICATED_TOTAL: &str = "wxlogin_admin_unauthenticated_total";
/// Where the shared outcome store failed: claiming a code, or storing its outcome.
pub const OUTCOME_STORE_STEPS: [&str; 2] = ["claim", "complete"];

/// Counts a login by its outcome and passes it on.
pub(crate) fn login(outcome: Result<LoginView, AuthError>) -> Result<LoginView, AuthError> {
    let result = match &outcome {
        Ok(view) if view.registered => "known",
        Ok(_) => "new",
        Err(_) => "failed",
    };
    metrics::counter!(LOGINS_TOTAL, "result" => result).increment(1);
    outcome
}

/// Counts a phone verification by method and outcome and passes it on.
pub(crate) fn phone(
    method: &'static str,
    outcome: Result<PhoneView, AuthError>,
) -> Result<PhoneView, AuthError> {
    let result = match &outcome {
        Ok(PhoneView::Registered { .. }) => "registered",
        Ok(PhoneView::NotRegistered { .. }) => "not_registered",
        Err(_) => "failed",
    };
    metrics::counter!(PHONE_VERIFICATIONS_TOTAL, "method" => method, "result" => result)
        .increment(1);
    outcome
}

/// Counts a lookup-hook call by its result (one of [`LOOKUP_RESULTS`]).
pub(crate) fn count_lookup(result: &'static str) {
    metrics::counter!(LOOKUPS_TOTAL, "result" => result).increment(1);
}

/// Counts one event of a counter without labels.
pub(crate) fn count(name: &'static str) {
    metrics::counter!(name).increment(1);
}
