//! Metric names and the helpers that record them, through the `metrics` facade.
//!
//! Labels never carry secrets: only the endpoint name, an errcode number or failure class,
//! and a result word.

use std::time::Duration;

use crate::errcode::{Endpoint, Errcode};

/// Counter: one per HTTP attempt, `{api, errcode}`; `errcode` is `"0"` on success, WeChat's
/// number on an API error, else `transport`, `timeout`, `http_4xx`, `http_5xx` or `decode`.
pub const CALLS_TOTAL: &str = "wxlogin_wechat_calls_total";
/// Histogram: seconds per HTTP attempt, `{api}`.
pub const REQUEST_DURATION_SECONDS: &str = "wxlogin_wechat_request_duration_seconds";
/// Counter: access-token fetches by the token manager, `{result}` = `ok` or `error`.
pub const ACCESS_TOKEN_REFRESHES_TOTAL: &str = "wxlogin_access_token_refreshes_total";
/// Counter: access-token requests that waited because another instance held the lease
/// ([`crate::lease`]).
pub const LEASE_WAITS_TOTAL: &str = "wxlogin_access_token_lease_waits_total";
/// Counter: operations served without the shared store because it failed, `{what}`; the
/// lease ([`crate::lease`]) counts `what="access_token"`. The same family as
/// `wxlogin-store-redis`'s rate-limit fallbacks (`what="rate_limit"`), hence the name.
pub const FALLBACKS_TOTAL: &str = "wxlogin_redis_fallbacks_total";
/// Counter: an API's circuit breaker opened, `{api}`: after its consecutive-failure threshold,
/// or again after a failed half-open probe (see [`crate::breaker`]).
pub const BREAKER_OPEN_TOTAL: &str = "wxlogin_wechat_breaker_open_total";
/// Counter: calls refused by an open (or probing) circuit breaker without a request, `{api}`.
/// These are not in [`CALLS_TOTAL`], which counts requests sent.
pub const SHORT_CIRCUITED_TOTAL: &str = "wxlogin_wechat_short_circuited_total";
/// Counter: WeChat's frequency and quota errcodes, `{api, errcode}`; `errcode` is `45011`
/// (minute quota) or `45009` (daily quota), both answered `429 rate_limited` (an operator
/// problem). Also counted in [`CALLS_TOTAL`]; this one is for alerting.
pub const RATE_LIMITED_TOTAL: &str = "wxlogin_wechat_rate_limited_total";

/// Registers descriptions with the installed recorder. Optional; call once at startup.
pub fn describe() {
    metrics::describe_counter!(CALLS_TOTAL, "WeChat API calls by api and errcode");
    metrics::describe_histogram!(
        REQUEST_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "WeChat API request latency by api"
    );
    metrics::describe_counter!(
        ACCESS_TOKEN_REFRESHES_TOTAL,
        "Access-token fetches by the in-process token manager, by result"
    );
    metrics::describe_counter!(
        LEASE_WAITS_TOTAL,
        "Access-token requests that waited for another instance's refresh"
    );
    metrics::describe_counter!(
        FALLBACKS_TOTAL,
        "Operations served without Redis because it failed, by what"
    );
    metrics::describe_counter!(
        BREAKER_OPEN_TOTAL,
        "Times a WeChat API's circuit breaker opened, by api"
    );
    metrics::describe_counter!(
        SHORT_CIRCUITED_TOTAL,
        "WeChat calls refused by an open circuit breaker without a request, by api"
    );
    metrics::describe_counter!(
        RATE_LIMITED_TOTAL,
        "WeChat frequency and quota errcodes (45011, 45009), by api and errcode"
    );
}

pub(crate) fn record_call(endpoint: Endpoint, errcode: String, elapsed: Duration) {
    metrics::counter!(CALLS_TOTAL, "api" => endpoint.as_str(), "errcode" => errcode).increment(1);
    metrics::histogram!(REQUEST_DURATION_SECONDS, "api" => endpoint.as_str())
        .record(elapsed.as_secs_f64());
}

pub(crate) fn record_refresh(ok: bool) {
    let result = if ok { "ok" } else { "error" };
    metrics::counter!(ACCESS_TOKEN_REFRESHES_TOTAL, "result" => result).increment(1);
}

pub(crate) fn record_breaker_open(endpoint: Endpoint) {
    metrics::counter!(BREAKER_OPEN_TOTAL, "api" => endpoint.as_str()).increment(1);
}

pub(crate) fn record_short_circuit(endpoint: Endpoint) {
    metrics::counter!(SHORT_CIRCUITED_TOTAL, "api" => endpoint.as_str()).increment(1);
}

/// Counts 45011 and 45009; any other errcode is ignored.
pub(crate) fn record_if_rate_limited(endpoint: Endpoint, errcode: Errcode) {
    if matches!(
        errcode,
        Errcode::MinuteQuotaExceeded | Errcode::DailyQuotaExceeded
    ) {
        metrics::counter!(
            RATE_LIMITED_TOTAL,
            "api" => endpoint.as_str(),
            "errcode" => errcode.code().to_string()
        )
        .increment(1);
    }
}
