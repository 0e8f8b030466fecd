//! Metric names and the helpers that record them, through the `metrics` facade.
//!
//! Labels never carry secrets: only the endpoint name, an errcode number or failure class,
//! and a result word.

use std::time::Duration;

use crate::errcode::Endpoint;

/// Counter: one per HTTP attempt, `{api, errcode}`; `errcode` is `"0"` on success, WeChat's
/// number on an API error, else `transport`, `timeout`, `http_4xx`, `http_5xx` or `decode`.
pub const CALLS_TOTAL: &str = "wxlogin_wechat_calls_total";
/// Histogram: seconds per HTTP attempt, `{api}`.
pub const REQUEST_DURATION_SECONDS: &str = "wxlogin_wechat_request_duration_seconds";
/// Counter: access-token fetches by the token manager, `{result}` = `ok` or `error`.
pub const ACCESS_TOKEN_REFRESHES_TOTAL: &str = "wxlogin_access_token_refreshes_total";

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
