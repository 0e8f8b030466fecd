//! The console's session: an admin key exchanged once for a sealed, expiring cookie, and the
//! CSRF token every change must carry.
//!
//! **The cookie** holds `v1.<expiry>.<SHA-256 of the key, hex>.<CSRF token>`, sealed with the
//! master key (AES-256-GCM, context `console-session`), so that it can be neither read nor
//! forged nor moved into another context. Nothing is stored on the server: any instance opens
//! it, and each request checks that the key is still live (`AdminKeyStore::live_admin_key`),
//! so revoking the key ends every session made with it at once. It is `HttpOnly` (no script
//! reads it), `SameSite=Strict` (no other site's page sends it), `Path=/console`, `Secure`
//! unless the admin listener is on loopback, and lives 8 hours.
//!
//! **CSRF.** The token is 256 random bits chosen at sign-in and sealed inside the cookie: a
//! page puts it in a hidden field of every form, and [`Change`] refuses a POST whose field
//! does not match the cookie's (compared in constant time). Another site can neither read
//! the page nor the cookie, so it cannot send the token; `SameSite=Strict` is the second
//! wall, and a `Sec-Fetch-Site: cross-site` POST is refused outright.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Extension;
use axum::extract::{ConnectInfo, Form, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq as _;
use wxlogin_core::AuthError;
use wxlogin_core::admin::Scope;
use wxlogin_core::crypto::{Handle, HandleHash};
use wxlogin_core::ports::{LimitKind, Rate};
use wxlogin_core::service::admin::AdminPrincipal;

use super::text::T;
use super::{ConsoleState, Fail, layout};
use crate::i18n::Lang;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "wxlogin_console";
/// How long a session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
const CONTEXT: &str = "console-session";
/// Sign-in attempts per client address: 10 at once, then one a second. Keys carry 256 random
/// bits, so this does not protect them from guessing; it keeps a client from making the
/// listener hash and look up keys as fast as it can send.
const SIGN_IN_RATE: Rate = Rate {
    per_second: 1,
    burst: 10,
};

/// A signed-in request: who, the CSRF token for its forms, and the language.
pub struct Session {
    /// The admin key behind the session.
    pub who: AdminPrincipal,
    /// The token forms carry.
    pub csrf: String,
    /// The page language.
    pub lang: Lang,
}

impl Session {
    /// Whether the key has `scope` (what the page shows).
    pub fn can(&self, scope: Scope) -> bool {
        self.who.has(scope)
    }

    /// A text in the page's language.
    pub fn t(&self, text: T) -> &'static str {
        text.get(self.lang)
    }
}

fn seal(state: &ConsoleState, key_hash: &[u8; 32], csrf: &str, expires: i64) -> String {
    let payload = format!("v1.{expires}.{}.{csrf}", hex_of(key_hash));
    URL_SAFE_NO_PAD.encode(state.sealer.seal(CONTEXT, payload.as_bytes()))
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The key hash and CSRF token of a cookie value that opens and has not expired.
fn open(state: &ConsoleState, value: &str, now: i64) -> Option<([u8; 32], String)> {
    let sealed = URL_SAFE_NO_PAD.decode(value).ok()?;
    let text = state.sealer.open_string(CONTEXT, &sealed).ok()?;
    let mut parts = text.split('.');
    (parts.next()? == "v1").then_some(())?;
    let expires: i64 = parts.next()?.parse().ok()?;
    let hash_hex = parts.next()?;
    let csrf = parts.next()?.to_owned();
    if parts.next().is_some() || now >= expires || hash_hex.len() != 64 {
        return None;
    }
    let mut hash = [0u8; 32];
    for (i, byte) in hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hash_hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some((hash, csrf))
}

/// The value of the cookie `name`, if the request has it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(k, v)| (k == name).then_some(v))
}

/// A `Set-Cookie` for the console's path.
pub fn set_cookie(state: &ConsoleState, name: &str, value: &str, max_age: Duration) -> HeaderValue {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let text = format!(
        "{name}={value}; Path=/console; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        max_age.as_secs()
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn to_sign_in() -> Response {
    Redirect::to("/console/sign-in").into_response()
}

impl FromRequestParts<ConsoleState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &ConsoleState) -> Result<Self, Response> {
        let lang = super::lang_of(parts);
        let now = state.admin.admin.time().unix_timestamp();
        let Some((hash, csrf)) =
            cookie(&parts.headers, SESSION_COOKIE).and_then(|v| open(state, v, now))
        else {
            return Err(to_sign_in());
        };
        let who = match state.admin.admin.authenticate_hash(&hash).await {
            Ok(who) => who,
            // Revoked since the sign-in: the session is over.
            Err(AuthError::AdminUnauthenticated) => return Err(to_sign_in()),
            Err(e) => return Err(Fail(e).into_response()),
        };
        // The admin API's per-key limit applies to the console's requests as well.
        if let Err(e) = wxlogin_core::limits::check(
            state.admin.limiter.as_ref(),
            LimitKind::AdminKey,
            &who.key_id,
            state.admin.per_key,
        )
        .await
        {
            return Err(Fail(e).into_response());
        }
        tracing::info!(admin = %who.name, "console request");
        Ok(Self { who, csrf, lang })
    }
}

/// A signed-in POST whose CSRF token matched: its form fields.
pub struct Change {
    /// The session.
    pub session: Session,
    /// The form's fields (the token removed).
    pub fields: HashMap<String, String>,
}

impl FromRequest<ConsoleState> for Change {
    type Rejection = Response;

    async fn from_request(req: Request, state: &ConsoleState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let cross_site = parts
            .headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes() == b"cross-site");
        let session = Session::from_request_parts(&mut parts, state).await?;
        let req = Request::from_parts(parts, body);
        let Form(mut fields) = Form::<HashMap<String, String>>::from_request(req, state)
            .await
            .map_err(|_| bad_csrf(&session))?;
        let sent = fields.remove("csrf").unwrap_or_default();
        if cross_site || !bool::from(sent.as_bytes().ct_eq(session.csrf.as_bytes())) {
            tracing::warn!(admin = %session.who.name, "console change refused: CSRF token missing or wrong");
            return Err(bad_csrf(&session));
        }
        Ok(Self { session, fields })
    }
}

fn bad_csrf(session: &Session) -> Response {
    layout::message_page(session.lang, StatusCode::FORBIDDEN, session.t(T::BadCsrf))
}

/// `GET /console/sign-in`.
pub async fn sign_in_page(Extension(lang): Extension<Lang>) -> Response {
    layout::sign_in(lang, StatusCode::OK, None)
}

/// The sign-in form.
#[derive(serde::Deserialize)]
pub struct SignInForm {
    key: String,
}

/// `POST /console/sign-in`: exchanges a key for the session cookie.
pub async fn sign_in(
    State(state): State<ConsoleState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(lang): Extension<Lang>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let client = crate::routes::limits::client_address(
        peer.ip(),
        &headers,
        &state.app.limits.trusted_proxies,
    );
    let bucket = crate::routes::limits::bucket_key(client, state.app.limits.ipv6_prefix);
    let limiter = state.app.limits.limiter.as_ref();
    if wxlogin_core::limits::check(
        limiter,
        LimitKind::ConsoleSignIn,
        &bucket,
        Some(SIGN_IN_RATE),
    )
    .await
    .is_err()
    {
        return layout::sign_in(
            lang,
            StatusCode::TOO_MANY_REQUESTS,
            Some(T::TooManyAttempts),
        );
    }
    let presented = form.key.trim();
    let who = match state.admin.admin.authenticate(presented).await {
        Ok(who) => who,
        Err(AuthError::AdminUnauthenticated) => {
            metrics::counter!(wxlogin_core::counters::ADMIN_UNAUTHENTICATED_TOTAL).increment(1);
            return layout::sign_in(lang, StatusCode::UNAUTHORIZED, Some(T::WrongKey));
        }
        Err(e) => return Fail(e).into_response(),
    };
    tracing::info!(admin = %who.name, "console sign-in");
    let expires = state.admin.admin.time().unix_timestamp()
        + i64::try_from(SESSION_TTL.as_secs()).unwrap_or(0);
    let csrf = Handle::generate("").into_secret();
    let value = seal(&state, &HandleHash::of(presented).0, &csrf, expires);
    let mut res = Redirect::to("/console/").into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, SESSION_COOKIE, &value, SESSION_TTL),
    );
    res
}

/// `POST /console/sign-out`: clears the cookie. The sealed value itself stays valid until it
/// expires (nothing is stored to revoke); revoke the key to end every session at once.
pub async fn sign_out(State(state): State<ConsoleState>, change: Change) -> Response {
    tracing::info!(admin = %change.session.who.name, "console sign-out");
    let mut res = Redirect::to("/console/sign-in").into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, SESSION_COOKIE, "", Duration::ZERO),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; wxlogin_console_x=2; wxlogin_console=3"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("3"));
        assert_eq!(cookie(&headers, "b"), None);
    }
}
