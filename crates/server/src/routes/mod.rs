//! The HTTP routes and the middleware around them.

pub mod admin;
pub(crate) mod auth;
pub mod limits;
mod me;
mod ops;
mod wellknown;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use wxlogin_core::AuthService;
use wxlogin_core::ports::{Health, Rate, RateLimiter};

use crate::error::ApiError;
use crate::extract::MAX_BODY_BYTES;
use crate::request_id;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The use cases.
    pub auth: Arc<AuthService>,
    /// The store's health, for `/readyz`.
    pub health: Arc<dyn Health>,
    /// Renders `/metrics`.
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// The backstop for a whole request (`http.request_timeout_secs`).
    pub request_timeout: std::time::Duration,
    /// The per-address limit.
    pub limits: AddressLimit,
    /// Redis and the access-token lease, when configured, for `/readyz`.
    pub shared: Option<SharedHealth>,
    /// The JWKS `Cache-Control: max-age` (see `startup::jwks_max_age`).
    pub jwks_max_age: std::time::Duration,
    /// Uploaded avatars; `None` when `avatars.storage = "off"`.
    pub avatars: Option<crate::avatars::Avatars>,
}

/// The per-address rate limit and whom to believe about addresses.
#[derive(Clone)]
pub struct AddressLimit {
    /// In memory, or Redis.
    pub limiter: Arc<dyn RateLimiter>,
    /// `None`: off.
    pub per_address: Option<Rate>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<[ipnet::IpNet]>,
    /// IPv6 clients are counted per network of this many bits.
    pub ipv6_prefix: u8,
}

/// What `/readyz` asks besides the store when Redis is configured.
#[derive(Clone)]
pub struct SharedHealth {
    /// Redis answers.
    pub redis: Arc<dyn Health>,
    /// Whether the WeChat access tokens are shared through Redis (`true`) or each instance
    /// fetches its own because Redis failed (`false`).
    pub lease_shared: Arc<dyn Fn() -> bool + Send + Sync>,
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    // The routes that reach WeChat or create users carry the per-address limit.
    let limited = Router::new()
        .route("/v1/login", post(auth::login))
        .route("/v1/phone", post(auth::phone))
        .route("/v1/register", post(auth::register))
        .route("/v1/me/phone", post(me::change_phone))
        .route(
            "/v1/avatar",
            post(crate::avatars::upload)
                .layer(DefaultBodyLimit::max(crate::avatars::MAX_BODY_BYTES)),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            limits::per_address,
        ));
    Router::new()
        .merge(limited)
        .route("/v1/token/refresh", post(auth::refresh))
        .route("/v1/logout", post(auth::logout))
        .route(
            "/v1/me",
            get(auth::me).patch(me::update_me).delete(me::delete_me),
        )
        .route("/v1/me/export", get(me::export_me))
        .route("/avatars/{id}", get(crate::avatars::serve))
        .route("/.well-known/jwks.json", get(wellknown::jwks))
        .route(
            "/.well-known/openid-configuration",
            get(wellknown::openid_configuration),
        )
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/openapi.json", get(crate::openapi::serve))
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), deadline))
        .layer(middleware::from_fn(observe))
        .layer(middleware::from_fn(crate::i18n::layer))
        .layer(middleware::from_fn(request_id::layer))
        .layer(CatchPanicLayer::custom(|_| {
            // Logged once, by the response; the panic's message is not (it may quote data).
            let cause = "a handler panicked".into();
            ApiError::Auth(wxlogin_core::AuthError::Internal(cause)).into_response()
        }))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
        .with_state(state)
}

/// The admin listener's routes: `/metrics` for scrapers (no key), the admin API (an admin
/// key) and the console (`/console/`, signed in with an admin key). Never merged into the
/// public router: what it shows (users, error rates, decrypt failures) helps an attacker.
/// `secure_cookies`: the console's cookies are `Secure` (the listener is not on loopback).
pub fn admin_router(state: AppState, admin: admin::AdminState, secure_cookies: bool) -> Router {
    let console = crate::console::ConsoleState {
        admin: admin.clone(),
        app: state.clone(),
        sealer: state.auth.sealer(),
        secure_cookies,
    };
    Router::new()
        .route("/metrics", get(ops::metrics))
        .with_state(state.clone())
        .merge(admin::routes(admin))
        .merge(crate::console::routes(console))
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(admin::ADMIN_MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state, deadline))
        .layer(middleware::from_fn(crate::i18n::layer))
        .layer(middleware::from_fn(request_id::layer))
        .layer(CatchPanicLayer::custom(|_| {
            // Logged once, by the response; the panic's message is not (it may quote data).
            let cause = "an admin handler panicked".into();
            ApiError::Auth(wxlogin_core::AuthError::Internal(cause)).into_response()
        }))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
}

/// A backstop on the whole request. WeChat calls and store queries have shorter limits of
/// their own, so this only fires when something hangs; the client gets `503 unavailable`.
async fn deadline(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(state.request_timeout, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            let secs = state.request_timeout.as_secs();
            let cause = format!("the request took longer than {secs}s (http.request_timeout_secs)");
            ApiError::Auth(wxlogin_core::AuthError::Unavailable(cause.into())).into_response()
        }
    }
}

/// One access-log line and the request metrics per request. The route is the matched
/// pattern, never the raw path, so that label values stay few.
async fn observe(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = method_label(req.method());
    let started = Instant::now();
    tracing::Span::current().record("route", route.as_str());
    let res = next.run(req).await;
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    metrics::counter!("wxlogin_http_requests_total", "route" => route.clone(), "method" => method, "status" => status.to_string()).increment(1);
    metrics::histogram!("wxlogin_http_request_duration_seconds", "route" => route.clone())
        .record(elapsed.as_secs_f64());
    // Whole microseconds, so the log says `0.161`, not `0.16106099999999998`.
    let elapsed_ms =
        u32::try_from(elapsed.as_micros()).map_or(f64::MAX, |us| f64::from(us) / 1000.0);
    tracing::info!(method, %route, status, elapsed_ms, "request");
    res
}

/// The request method as a metric label and log field: the standard methods by name, any
/// other (a client may send `XQZ8f3a…`) as `other`, so that label values stay a fixed set.
pub(crate) fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}
