//! The admin console (`/console/`), on the admin listener beside the admin API: server-rendered
//! HTML (maud, which escapes every value it interpolates), a CSS file and a few lines of
//! progressive JS embedded in the binary, no request to anywhere else.
//!
//! An admin key signs in once ([`session`]); the pages call the same [`AdminService`] use
//! cases as the admin API, so a key's scopes bound what the console does, and a page leaves
//! out the controls its key may not use. Every response carries a strict
//! `Content-Security-Policy` (no inline script or style, nothing from elsewhere, no framing).
//! Texts are in English and Simplified Chinese ([`text`]).
//!
//! [`AdminService`]: wxlogin_core::service::admin::AdminService

mod events;
mod keys;
mod layout;
mod overview;
pub mod session;
pub mod text;
mod users;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use wxlogin_core::AuthError;
use wxlogin_core::crypto::Sealer;

use crate::i18n::Lang;
use crate::routes::AppState;
use crate::routes::admin::AdminState;
use text::T;

/// What the console's handlers reach.
#[derive(Clone)]
pub struct ConsoleState {
    /// The admin use cases and the per-key limit.
    pub admin: AdminState,
    /// Metrics, the lease state, the limiter and the trusted proxies.
    pub app: AppState,
    /// Seals the session cookie (the master key's sealer).
    pub sealer: Sealer,
    /// `Secure` on the cookies: the admin listener is not on loopback.
    pub secure_cookies: bool,
}

/// The language cookie (set by `?lang=`).
pub const LANG_COOKIE: &str = "wxlogin_console_lang";

/// The policy on every console response: only this origin's CSS, JS and form targets, images
/// from here or `data:`, no inline script or style, never framed.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
                       script-src 'self'; form-action 'self'; frame-ancestors 'none'; \
                       base-uri 'none'";

/// The console's routes, for the admin listener.
pub fn routes(state: ConsoleState) -> Router {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(overview::page))
        .route(
            "/console/sign-in",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/console/sign-out", post(session::sign_out))
        .route("/console/users", get(users::search))
        .route("/console/users/{user_id}", get(users::detail))
        .route("/console/users/{user_id}/{action}", post(users::act))
        .route(
            "/console/users/{user_id}/identities/{appid}/unbind",
            post(users::unbind),
        )
        .route("/console/events", get(events::list))
        .route("/console/events/{event_id}", get(events::detail))
        .route(
            "/console/events/{event_id}/redeliver",
            post(events::redeliver),
        )
        .route("/console/keys", get(keys::page))
        .route("/console/keys/rotate", post(keys::rotate))
        .route("/console/assets/console.css", get(css))
        .route("/console/assets/console.js", get(js))
        .layer(middleware::from_fn_with_state(state.clone(), frame))
        .with_state(state)
}

tokio::task_local! {
    static LANG: Lang;
}

/// The language of the console request being handled (English outside one).
pub fn current_lang() -> Lang {
    LANG.try_with(|l| *l).unwrap_or(Lang::En)
}

/// The language a request asks for: `?lang=en|zh`, else the language cookie, else
/// `Accept-Language` (Simplified Chinese for a `zh` browser, English otherwise).
fn negotiate(req: &Request) -> (Lang, bool) {
    let asked = req.uri().query().and_then(|q| {
        q.split('&').find_map(|kv| match kv {
            "lang=en" => Some(Lang::En),
            "lang=zh" => Some(Lang::Zh),
            _ => None,
        })
    });
    if let Some(lang) = asked {
        return (lang, true);
    }
    let remembered = match session::cookie(req.headers(), LANG_COOKIE) {
        Some("en") => Some(Lang::En),
        Some("zh") => Some(Lang::Zh),
        _ => None,
    };
    let lang = remembered.unwrap_or_else(|| {
        req.headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .map_or(Lang::En, crate::i18n::negotiate)
    });
    (lang, false)
}

/// The language the middleware chose for this request.
pub(crate) fn lang_of(parts: &Parts) -> Lang {
    parts.extensions.get::<Lang>().copied().unwrap_or(Lang::En)
}

/// Middleware: the language (remembered when `?lang=` chose it) and the security headers.
async fn frame(State(state): State<ConsoleState>, mut req: Request, next: Next) -> Response {
    let (lang, chosen) = negotiate(&req);
    req.extensions_mut().insert(lang);
    let mut res = LANG.scope(lang, next.run(req)).await;
    let headers = res.headers_mut();
    if chosen {
        let value = match lang {
            Lang::En => "en",
            Lang::Zh => "zh",
        };
        let year = std::time::Duration::from_secs(365 * 24 * 3600);
        headers.append(
            header::SET_COOKIE,
            session::set_cookie(&state, LANG_COOKIE, value, year),
        );
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

const CSS: &str = include_str!("../../assets/console/console.css");
const JS: &str = include_str!("../../assets/console/console.js");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // Assets hold nothing secret; an hour saves a request per page.
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

/// A use case's failure, as an HTML page in the request's language.
pub struct Fail(pub AuthError);

impl From<AuthError> for Fail {
    fn from(e: AuthError) -> Self {
        Self(e)
    }
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        let lang = current_lang();
        let zh_or = |code: &str, en: String| match lang {
            Lang::Zh => crate::i18n::zh(code).map_or(en, str::to_owned),
            Lang::En => en,
        };
        let (status, text) = match &self.0 {
            AuthError::AdminForbidden => (StatusCode::FORBIDDEN, T::Forbidden.get(lang).into()),
            AuthError::AdminUnauthenticated => {
                return Redirect::to("/console/sign-in").into_response();
            }
            AuthError::UserNotFound => (StatusCode::NOT_FOUND, T::NotFound.get(lang).into()),
            // Our own words about the request (never a value from it).
            AuthError::InvalidRequest(m) => {
                (StatusCode::BAD_REQUEST, zh_or("invalid_request", m.clone()))
            }
            AuthError::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                zh_or(
                    "rate_limited",
                    "Too many requests; try again shortly".into(),
                ),
            ),
            other => {
                // The console's one log line for a failure, with its cause.
                let error = wxlogin_core::cause::chain(other);
                tracing::error!(%error, "console request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, T::Error.get(lang).into())
            }
        };
        layout::message_page(lang, status, &text)
    }
}
