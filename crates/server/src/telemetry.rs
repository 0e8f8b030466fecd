//! Logging and the metrics recorder.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Installs the global tracing subscriber (`RUST_LOG` filters; default `info`). Every line
/// goes through [`crate::redact`].
pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only on a terminal: escapes in a file or a pipe are noise for people and parsers.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(crate::redact::RedactingMakeWriter::new(std::io::stdout))
        .with_target(false);
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            // The current span (the request's: its id, method and route) is enough; the
            // default span list repeated it in every line, which doubled the JSON written
            // and scanned by the redaction per request (logging was 7 % of a login's CPU).
            .with_span_list(false)
            .try_init(),
    };
}

/// The process-wide Prometheus recorder. Installed once: tests build many apps in one process.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ];
            // The SQLite writer's groups: commits take tenths of a millisecond to a few, and
            // a group holds one unit to a few hundred.
            let sqlite_seconds = [
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0,
            ];
            let units = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];
            use wxlogin_store_sql::telemetry as sqlite;
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), &buckets)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(sqlite::GROUP_SECONDS.into()),
                        &sqlite_seconds,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(sqlite::COMMIT_SECONDS.into()),
                        &sqlite_seconds,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(sqlite::GROUP_UNITS.into()), &units)
                })
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(handle) => handle,
                // Another recorder is installed already (a test harness): keep a private one
                // so `/metrics` still renders.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

/// The routes of the public API as their metric label (the matched pattern) and method.
const ROUTES: [(&str, &str); 11] = [
    ("/v1/login", "POST"),
    ("/v1/phone", "POST"),
    ("/v1/register", "POST"),
    ("/v1/token/refresh", "POST"),
    ("/v1/logout", "POST"),
    ("/v1/me", "GET"),
    ("/.well-known/jwks.json", "GET"),
    ("/.well-known/openid-configuration", "GET"),
    ("/healthz", "GET"),
    ("/readyz", "GET"),
    ("/openapi.json", "GET"),
];

/// Describes every metric family and registers its known label sets at zero, so that a
/// fresh instance's `/metrics` already shows each one: a dashboard or alert then finds a 0
/// rather than "no data", and a query of a name that does not exist is caught by a test
/// (`crates/server/tests/api/dashboards.rs`). Call at start-up. Registering is
/// `increment(0)`, never `absolute(0)`: tests build many apps in one process, and a second
/// call must not reset what the first app counted.
pub fn describe_and_zero() {
    use metrics::{Unit, describe_counter, describe_histogram};
    use wxlogin_core::counters as c;
    use wxlogin_core::ports::LimitKind;
    use wxlogin_wechat::Endpoint;

    // Registering needs the recorder in place; this installs it if nothing has yet.
    let _ = metrics_handle();
    wxlogin_wechat::telemetry::describe();

    describe_counter!(
        "wxlogin_http_requests_total",
        "HTTP requests answered, by route pattern, method and status"
    );
    describe_histogram!(
        "wxlogin_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by route pattern"
    );
    describe_counter!(
        "wxlogin_http_connections_refused_total",
        "Connections refused with 503 at http.max_connections, by listener"
    );
    describe_counter!(c::LOGINS_TOTAL, "Login code exchanges by result");
    describe_counter!(
        c::LOOKUPS_TOTAL,
        "Calls to the user lookup hook by result (found, not_found, failed)"
    );
    describe_counter!(
        c::ADMIN_UNAUTHENTICATED_TOTAL,
        "Admin API requests refused for a missing, unknown or revoked admin key"
    );
    describe_counter!(
        wxlogin_hooks::DELIVERIES_TOTAL,
        "Webhook delivery attempts by result (delivered, retry, dead)"
    );
    describe_histogram!(
        wxlogin_hooks::DELIVERY_SECONDS,
        Unit::Seconds,
        "Duration of webhook delivery attempts"
    );
    {
        use wxlogin_store_sql::telemetry as sqlite;
        describe_histogram!(
            sqlite::GROUP_UNITS,
            "SQLite writer: writes committed together in one group transaction"
        );
        describe_histogram!(
            sqlite::GROUP_SECONDS,
            Unit::Seconds,
            "SQLite writer: time per group transaction, BEGIN to the end of COMMIT (rate of the sum: the writer's busy share)"
        );
        describe_histogram!(
            sqlite::COMMIT_SECONDS,
            Unit::Seconds,
            "SQLite writer: time of each group's COMMIT (WAL write, fsync, checkpoints)"
        );
    }
    describe_counter!(
        c::REGISTRATIONS_TOTAL,
        "Users created from a registration ticket"
    );
    describe_counter!(
        c::PHONE_VERIFICATIONS_TOTAL,
        "Phone verifications by method and result"
    );
    describe_counter!(
        c::REFRESH_REUSE_TOTAL,
        "Refresh tokens presented twice (the family is revoked)"
    );
    describe_counter!(c::SESSIONS_OPENED_TOTAL, "Sessions opened by a login");
    describe_counter!(
        c::DECRYPT_FAILURES_TOTAL,
        "Failed legacy phone decryptions by reason (locked: over the per-key cap)"
    );
    describe_counter!(
        wxlogin_core::limits::RATE_LIMITED_METRIC,
        "Requests refused by a rate limit, by kind"
    );
    describe_counter!(
        c::RATE_LIMITER_ERRORS_TOTAL,
        "Rate-limiter failures (the request was let through), by kind"
    );
    describe_counter!(
        c::OUTCOME_STORE_ERRORS_TOTAL,
        "Shared outcome-store failures (fell back to this instance), by step"
    );

    for (route, method) in ROUTES {
        metrics::counter!("wxlogin_http_requests_total", "route" => route, "method" => method, "status" => "200").increment(0);
        // Registering is the point: an empty histogram renders zero buckets.
        let _ = metrics::histogram!("wxlogin_http_request_duration_seconds", "route" => route);
    }
    for listener in ["api", "admin"] {
        metrics::counter!("wxlogin_http_connections_refused_total", "listener" => listener)
            .increment(0);
    }
    for result in c::LOGIN_RESULTS {
        metrics::counter!(c::LOGINS_TOTAL, "result" => result).increment(0);
    }
    for method in c::PHONE_METHODS {
        for result in c::PHONE_RESULTS {
            metrics::counter!(c::PHONE_VERIFICATIONS_TOTAL, "method" => method, "result" => result)
                .increment(0);
        }
    }
    for name in [
        c::REGISTRATIONS_TOTAL,
        c::REFRESH_REUSE_TOTAL,
        c::SESSIONS_OPENED_TOTAL,
        wxlogin_wechat::telemetry::LEASE_WAITS_TOTAL,
    ] {
        metrics::counter!(name).increment(0);
    }
    for reason in c::DECRYPT_FAILURE_REASONS {
        metrics::counter!(c::DECRYPT_FAILURES_TOTAL, "reason" => reason).increment(0);
    }
    for kind in [
        LimitKind::Ip,
        LimitKind::OpenId,
        LimitKind::Phone,
        LimitKind::AdminKey,
        LimitKind::ConsoleSignIn,
    ] {
        metrics::counter!(wxlogin_core::limits::RATE_LIMITED_METRIC, "kind" => kind.as_str())
            .increment(0);
        metrics::counter!(c::RATE_LIMITER_ERRORS_TOTAL, "kind" => kind.as_str()).increment(0);
    }
    for result in c::LOOKUP_RESULTS {
        metrics::counter!(c::LOOKUPS_TOTAL, "result" => result).increment(0);
    }
    metrics::counter!(c::ADMIN_UNAUTHENTICATED_TOTAL).increment(0);
    for result in wxlogin_hooks::DELIVERY_RESULTS {
        metrics::counter!(wxlogin_hooks::DELIVERIES_TOTAL, "result" => result).increment(0);
    }
    let _ = metrics::histogram!(wxlogin_hooks::DELIVERY_SECONDS);
    for name in [
        wxlogin_store_sql::telemetry::GROUP_UNITS,
        wxlogin_store_sql::telemetry::GROUP_SECONDS,
        wxlogin_store_sql::telemetry::COMMIT_SECONDS,
    ] {
        let _ = metrics::histogram!(name);
    }
    for step in c::OUTCOME_STORE_STEPS {
        metrics::counter!(c::OUTCOME_STORE_ERRORS_TOTAL, "step" => step).increment(0);
    }
    // One family, emitted in two places: the Redis rate limiter and the token lease.
    metrics::counter!(wxlogin_store_redis::limits::FALLBACK_METRIC, "what" => "rate_limit")
        .increment(0);
    metrics::counter!(wxlogin_wechat::telemetry::FALLBACKS_TOTAL, "what" => "access_token")
        .increment(0);
    for result in ["ok", "error"] {
        metrics::counter!(wxlogin_wechat::telemetry::ACCESS_TOKEN_REFRESHES_TOTAL, "result" => result)
            .increment(0);
    }
    for api in [
        Endpoint::Jscode2session,
        Endpoint::StableToken,
        Endpoint::Token,
        Endpoint::GetUserPhoneNumber,
        Endpoint::CheckSession,
        Endpoint::CheckEncryptedMsg,
    ] {
        use wxlogin_wechat::telemetry as t;
        let api = api.as_str();
        metrics::counter!(t::CALLS_TOTAL, "api" => api, "errcode" => "0").increment(0);
        let _ = metrics::histogram!(t::REQUEST_DURATION_SECONDS, "api" => api);
        metrics::counter!(t::BREAKER_OPEN_TOTAL, "api" => api).increment(0);
        metrics::counter!(t::SHORT_CIRCUITED_TOTAL, "api" => api).increment(0);
        for errcode in ["45011", "45009"] {
            metrics::counter!(t::RATE_LIMITED_TOTAL, "api" => api, "errcode" => errcode)
                .increment(0);
        }
    }
}
