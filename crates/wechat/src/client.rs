//! [`WeChatClient`]: one typed method per WeChat server endpoint wxlogin uses.
//!
//! Every method makes exactly one HTTP request, except the two token fetches, which may retry
//! on an `Unavailable`-class failure (-1, transport, non-2xx, unreadable body) under
//! [`RetryPolicy`]. A code exchange is never retried here or anywhere: the first request may
//! already have consumed the code (`docs/wechat.md` §9.2, the hard rule).
//!
//! [`WeChatClient::check_encrypted_msg`] (`checkencryptedmsg`, the origin check of legacy
//! encrypted data) sits in its own file, `client/encrypted_msg.rs`.
//!
//! Every request first asks its API's circuit breaker ([`crate::breaker`]); an open one
//! refuses the call with [`WeChatError::CircuitOpen`] before anything is sent.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::RequestBuilder;
use serde::de::DeserializeOwned;
use url::Url;
use wxlogin_core::ids::{AppId, OpenId};
use wxlogin_core::secret::{AppSecret, LoginCode, PhoneCode, SessionKey, WxAccessToken};
use wxlogin_core::wechat::{WxPhone, WxSession};
use zeroize::Zeroizing;

use crate::breaker::{BreakerConfig, BreakerState, Breakers};
use crate::errcode::{Endpoint, Errcode, Outcome};
use crate::error::{DecodeError, WeChatError, scrub_errmsg};
use crate::signature::{SIG_METHOD, login_state_signature};
use crate::telemetry;
use crate::wire::{
    AccessToken, Envelope, PhoneNumberRequest, PhoneReply, SessionReply, StableTokenRequest,
    TokenReply,
};

/// WeChat's production API host.
pub const WECHAT_BASE_URL: &str = "https://api.weixin.qq.com";

/// What `jscode2session` returns: the port's [`WxSession`] (openid, optional unionid,
/// session_key), which already prints without secrets.
pub type Code2Session = WxSession;

/// How [`WeChatClient`] talks to WeChat.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://api.weixin.qq.com` in production; the simulator's address in dev and tests.
    /// http or https, with a host, and no credentials, query or fragment.
    pub base_url: Url,
    /// Limit for the TCP (and TLS) connect.
    pub connect_timeout: Duration,
    /// Limit for a whole request, from connect to the last byte of the body.
    pub request_timeout: Duration,
    /// Retries of the token fetches (never of code exchanges).
    pub token_retry: RetryPolicy,
    /// Larger bodies are refused as [`DecodeError::TooLarge`]; WeChat's are under 1 KiB.
    pub max_body_bytes: usize,
    /// Honour `HTTP(S)_PROXY`/`NO_PROXY` from the environment, as reqwest does by default.
    pub use_system_proxy: bool,
    /// The per-API circuit breakers: 5 consecutive failures open one for 10 s.
    pub breaker: BreakerConfig,
}

impl ClientConfig {
    /// Defaults for the given base URL: 2 s connect, 5 s request, 3 token attempts, breakers
    /// opening after 5 consecutive failures for 10 s.
    pub fn new(base_url: Url) -> Self {
        Self {
            base_url,
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            token_retry: RetryPolicy::default(),
            max_body_bytes: 64 * 1024,
            use_system_proxy: true,
            breaker: BreakerConfig::default(),
        }
    }

    /// Defaults against WeChat's production host.
    pub fn wechat() -> Self {
        Self::new(Url::parse(WECHAT_BASE_URL).expect("the constant production URL parses"))
    }
}

/// Bounded retry with exponential backoff, for the token fetches only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first included; 0 behaves as 1.
    pub attempts: u32,
    /// Wait before the first retry; doubles for each further one.
    pub initial_backoff: Duration,
    /// Cap on any single wait.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// `attempts` tries with no wait in between (for tests).
    pub fn immediate(attempts: u32) -> Self {
        Self {
            attempts,
            initial_backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
        }
    }

    /// The wait before retry number `retry` (1 = the first retry).
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// [`WeChatClient::new`] refused its configuration.
#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    /// The base URL is not http(s) with a host, or has credentials, a query or a fragment.
    #[error("invalid WeChat base URL: {0}")]
    BaseUrl(&'static str),
    /// reqwest could not build its client (TLS backend initialisation).
    #[error("could not build the HTTP client")]
    Http(#[source] reqwest::Error),
}

/// `checksession`'s verdict on a session_key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKeyCheck {
    /// The key is the user's current one (errcode 0).
    Current,
    /// Wrong signature, or the key expired or was replaced (87009): the client must log in
    /// again.
    Stale,
}

/// A failed `getuserphonenumber`.
#[derive(Debug, thiserror::Error)]
pub enum PhoneNumberError {
    /// WeChat refused the access token (40001, 40014, 41001, 42001). It does so before it
    /// looks at the code, so the unused code comes back for the one permitted resend with a
    /// fresh token.
    #[error("wechat refused the access token")]
    TokenRefused {
        /// WeChat's answer.
        #[source]
        error: WeChatError,
        /// The phone code, unused.
        code: PhoneCode,
    },
    /// Any other failure. The code may have been consumed: never resend it.
    #[error(transparent)]
    Failed(#[from] WeChatError),
}

impl From<PhoneNumberError> for WeChatError {
    fn from(error: PhoneNumberError) -> Self {
        match error {
            PhoneNumberError::TokenRefused { error, .. } | PhoneNumberError::Failed(error) => error,
        }
    }
}

/// A typed client for WeChat's server API. Cheap to clone (the connection pool and the
/// circuit breakers are shared).
#[derive(Clone)]
pub struct WeChatClient {
    http: reqwest::Client,
    base_url: Url,
    token_retry: RetryPolicy,
    max_body_bytes: usize,
    breakers: Arc<Breakers>,
}

impl fmt::Debug for WeChatClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The base URL holds no credentials (`new` refuses them); secrets only ever travel in
        // per-request queries and bodies.
        f.debug_struct("WeChatClient")
            .field("base_url", &self.base_url.as_str())
            .field("token_retry", &self.token_retry)
            .field("breaker", self.breakers.config())
            .finish_non_exhaustive()
    }
}

impl WeChatClient {
    /// Builds the client: rustls, the given timeouts, no redirects (a redirect would resend a
    /// query that carries secrets to another place).
    pub fn new(config: ClientConfig) -> Result<Self, ClientBuildError> {
        let url = &config.base_url;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(ClientBuildError::BaseUrl(
                "needs an http(s) scheme and a host",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ClientBuildError::BaseUrl("must not carry credentials"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ClientBuildError::BaseUrl(
                "must not have a query or fragment",
            ));
        }
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("wxlogin/", env!("CARGO_PKG_VERSION")));
        if !config.use_system_proxy {
            builder = builder.no_proxy();
        }
        Ok(Self {
            http: builder.build().map_err(ClientBuildError::Http)?,
            base_url: config.base_url,
            token_retry: config.token_retry,
            max_body_bytes: config.max_body_bytes,
            breakers: Arc::new(Breakers::new(config.breaker)),
        })
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// Where the circuit breaker of `endpoint` stands (for health checks and tests).
    pub fn breaker_state(&self, endpoint: Endpoint) -> BreakerState {
        self.breakers.state(endpoint)
    }

    /// `GET /sns/jscode2session`: exchanges a login code. One request, never retried.
    pub async fn code_to_session(
        &self,
        app: &AppId,
        secret: &AppSecret,
        code: LoginCode,
    ) -> Result<Code2Session, WeChatError> {
        let request = self.http.get(self.url(Endpoint::Jscode2session)).query(&[
            ("appid", app.as_str()),
            ("secret", secret.expose_secret()),
            ("js_code", code.expose_secret()),
            ("grant_type", "authorization_code"),
        ]);
        let secrets = [secret.expose_secret(), code.expose_secret()];
        self.call(
            Endpoint::Jscode2session,
            request,
            &secrets,
            SessionReply::into_session,
        )
        .await
    }

    /// `POST /cgi-bin/stable_token`. Normal mode (`force_refresh: false`) returns the current
    /// token and is retried under [`RetryPolicy`]; a force refresh (capped at 20 a day by
    /// WeChat) is sent once.
    pub async fn stable_token(
        &self,
        app: &AppId,
        secret: &AppSecret,
        force_refresh: bool,
    ) -> Result<AccessToken, WeChatError> {
        let body = StableTokenRequest {
            grant_type: "client_credential",
            appid: app.as_str(),
            secret: secret.expose_secret(),
            force_refresh,
        };
        let build = || self.http.post(self.url(Endpoint::StableToken)).json(&body);
        let secrets = [secret.expose_secret()];
        let attempts = if force_refresh {
            1
        } else {
            self.token_retry.attempts
        };
        self.fetch_token(Endpoint::StableToken, build, &secrets, attempts)
            .await
    }

    /// `GET /cgi-bin/token`. Each successful call invalidates the previous token (after a
    /// 5-minute overlap), so prefer [`WeChatClient::stable_token`]. Retried under
    /// [`RetryPolicy`].
    pub async fn token(&self, app: &AppId, secret: &AppSecret) -> Result<AccessToken, WeChatError> {
        let build = || {
            self.http.get(self.url(Endpoint::Token)).query(&[
                ("grant_type", "client_credential"),
                ("appid", app.as_str()),
                ("secret", secret.expose_secret()),
            ])
        };
        let secrets = [secret.expose_secret()];
        self.fetch_token(Endpoint::Token, build, &secrets, self.token_retry.attempts)
            .await
    }

    /// `POST /wxa/business/getuserphonenumber`. One request; on a refused token the unused code
    /// comes back in [`PhoneNumberError::TokenRefused`]. `openid`, if given, makes WeChat check
    /// that the code belongs to that user.
    pub async fn get_user_phone_number(
        &self,
        token: &WxAccessToken,
        code: PhoneCode,
        openid: Option<&OpenId>,
    ) -> Result<WxPhone, PhoneNumberError> {
        let mut url = self.url(Endpoint::GetUserPhoneNumber);
        url.query_pairs_mut()
            .append_pair("access_token", token.expose_secret());
        let request = self.http.post(url).json(&PhoneNumberRequest {
            code: code.expose_secret(),
            openid: openid.map(OpenId::as_str),
        });
        let secrets = [token.expose_secret(), code.expose_secret()];
        let result = self
            .call(
                Endpoint::GetUserPhoneNumber,
                request,
                &secrets,
                PhoneReply::into_phone,
            )
            .await;
        match result {
            Ok(phone) => Ok(phone),
            Err(error) if error.outcome() == Outcome::Token => {
                Err(PhoneNumberError::TokenRefused { error, code })
            }
            Err(error) => Err(PhoneNumberError::Failed(error)),
        }
    }

    /// `GET /wxa/checksession`: is `session_key` still the user's current key? Signs `""` with
    /// it (`docs/wechat.md` §6.2); 87009 becomes [`SessionKeyCheck::Stale`], not an error.
    pub async fn check_session(
        &self,
        token: &WxAccessToken,
        openid: &OpenId,
        session_key: &SessionKey,
    ) -> Result<SessionKeyCheck, WeChatError> {
        let signature = Zeroizing::new(login_state_signature(session_key, b""));
        let request = self.http.get(self.url(Endpoint::CheckSession)).query(&[
            ("access_token", token.expose_secret()),
            ("signature", signature.as_str()),
            ("openid", openid.as_str()),
            ("sig_method", SIG_METHOD),
        ]);
        let secrets = [
            token.expose_secret(),
            signature.as_str(),
            session_key.expose_secret(),
            openid.as_str(),
        ];
        let result = self
            .call(Endpoint::CheckSession, request, &secrets, |_: Envelope| {
                Ok(())
            })
            .await;
        match result {
            Ok(()) => Ok(SessionKeyCheck::Current),
            Err(WeChatError::Api {
                errcode: Errcode::InvalidSignature,
                ..
            }) => Ok(SessionKeyCheck::Stale),
            Err(error) => Err(error),
        }
    }

    fn url(&self, endpoint: Endpoint) -> Url {
        let mut url = self.base_url.clone();
        let path = format!(
            "{}{}",
            self.base_url.path().trim_end_matches('/'),
            endpoint.path()
        );
        url.set_path(&path);
        url
    }

    async fn fetch_token(
        &self,
        endpoint: Endpoint,
        build: impl Fn() -> RequestBuilder,
        secrets: &[&str],
        attempts: u32,
    ) -> Result<AccessToken, WeChatError> {
        let mut attempt = 1;
        loop {
            let result = self
                .call(endpoint, build(), secrets, TokenReply::into_token)
                .await;
            match result {
                Err(error)
                    if error.is_unavailable() && !error.is_circuit_open() && attempt < attempts =>
                {
                    // This failure opened the breaker (or a probe is out): a retry would only
                    // be refused, so report what WeChat said instead.
                    if self.breakers.state(endpoint) != BreakerState::Closed {
                        return Err(error);
                    }
                    let wait = self.token_retry.backoff(attempt);
                    // Swallowed by the retry, so logged here.
                    let error = wxlogin_core::cause::chain(&error);
                    tracing::warn!(api = %endpoint, attempt, %error, ?wait, "retrying token fetch");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// One HTTP exchange, if the API's breaker allows it, measured: send, check the status,
    /// read a bounded body, refuse a non-zero errcode, decode and convert.
    async fn call<R: DeserializeOwned, T>(
        &self,
        endpoint: Endpoint,
        request: RequestBuilder,
        secrets: &[&str],
        convert: impl FnOnce(R) -> Result<T, DecodeError>,
    ) -> Result<T, WeChatError> {
        // Before anything is sent: a refused call leaves its code unused.
        // A failure is not logged here but by whoever ends it (the adapter, for a request).
        let permit = self.breakers.acquire(endpoint)?;
        let started = Instant::now();
        let result = self.exchange(endpoint, request, secrets, convert).await;
        permit.settle(&result);
        let label = match &result {
            Ok(_) => "0".to_owned(),
            Err(error) => error.metric_label(),
        };
        telemetry::record_call(endpoint, label, started.elapsed());
        if let Some(errcode) = result.as_ref().err().and_then(WeChatError::errcode) {
            telemetry::record_if_rate_limited(endpoint, errcode);
        }
        result
    }

    async fn exchange<R: DeserializeOwned, T>(
        &self,
        endpoint: Endpoint,
        request: RequestBuilder,
        secrets: &[&str],
        convert: impl FnOnce(R) -> Result<T, DecodeError>,
    ) -> Result<T, WeChatError> {
        let response = request.send().await.map_err(WeChatError::transport)?;
        let status = response.status();
        if !status.is_success() {
            return Err(WeChatError::Status(status.as_u16()));
        }
        let body = self.read_body(response).await?;
        let envelope: Envelope = serde_json::from_slice(&body).map_err(DecodeError::from)?;
        if let Some(code) = envelope.errcode.filter(|&code| code != 0) {
            let errmsg = envelope.errmsg.as_deref().unwrap_or_default();
            return Err(WeChatError::Api {
                endpoint,
                errcode: Errcode::from_code(code),
                errmsg: scrub_errmsg(errmsg, secrets),
            });
        }
        let reply: R = serde_json::from_slice(&body).map_err(DecodeError::from)?;
        Ok(convert(reply)?)
    }

    /// The body, up to `max_body_bytes`, in a buffer wiped on drop (it may hold a session_key
    /// or a token).
    async fn read_body(
        &self,
        mut response: reqwest::Response,
    ) -> Result<Zeroizing<Vec<u8>>, WeChatError> {
        let limit = self.max_body_bytes;
        let too_large = || WeChatError::Decode(DecodeError::TooLarge { limit });
        let expected = response.content_length().unwrap_or(0);
        if expected > limit as u64 {
            return Err(too_large());
        }
        // Sized from Content-Length when known: a regrow would leave an unwiped copy behind.
        let capacity = usize::try_from(expected)
            .unwrap_or(limit)
            .clamp(1024, limit.max(1024));
        let mut body = Zeroizing::new(Vec::with_capacity(capacity));
        while let Some(chunk) = response.chunk().await.map_err(WeChatError::transport)? {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

mod encrypted_msg;
#[cfg(test)]
mod tests;
