//! [`WeChatAdapter`]: `wxlogin_core::wechat::WeChatApi` on top of [`WeChatClient`].
//!
//! It owns the per-app AppSecrets, gets access tokens from an [`AccessTokenSource`], and turns
//! [`WeChatError`] into the port's [`WeChatFailure`] (`docs/wechat.md` §9.1).
//!
//! The two token-taking calls, `phone_number` and `check_encrypted_msg`, share one rule: on a
//! refused token (40001, 40014, 41001, 42001) the token is invalidated *by value* (a newer one
//! another caller already fetched survives) and the call is resent once with a fresh one.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use wxlogin_core::cause::chain;
use wxlogin_core::ids::{AppId, OpenId};
use wxlogin_core::secret::{AppSecret, LoginCode, PhoneCode};
use wxlogin_core::wechat::{WeChatApi, WeChatFailure, WxPhone, WxSession};

use crate::access_token::{AccessTokenManager, AccessTokenSource};
use crate::client::{PhoneNumberError, WeChatClient};
use crate::errcode::{Errcode, Outcome};
use crate::error::WeChatError;

/// The errcode reported for an appid we have no AppSecret for: WeChat's own "invalid appid",
/// as if the request had been sent. Nothing is sent.
pub const NOT_CONFIGURED_ERRCODE: i64 = 40013;

/// WeChat's API as the login use cases see it.
///
/// `code_to_session` needs only the AppSecret, never an access token, so logins keep working
/// while token fetching is broken.
pub struct WeChatAdapter {
    client: WeChatClient,
    apps: HashMap<AppId, AppSecret>,
    tokens: Arc<dyn AccessTokenSource>,
}

impl WeChatAdapter {
    /// An adapter with an explicit token source (the cluster-wide one, or a test double).
    pub fn new(
        client: WeChatClient,
        apps: HashMap<AppId, AppSecret>,
        tokens: Arc<dyn AccessTokenSource>,
    ) -> Self {
        Self {
            client,
            apps,
            tokens,
        }
    }

    /// An adapter with its own in-process [`AccessTokenManager`] for the same apps.
    pub fn in_process(client: WeChatClient, apps: HashMap<AppId, AppSecret>) -> Self {
        let tokens = Arc::new(AccessTokenManager::new(client.clone(), apps.clone()));
        Self::new(client, apps, tokens)
    }

    fn secret(&self, app: &AppId) -> Result<&AppSecret, WeChatFailure> {
        self.apps.get(app).ok_or_else(|| {
            tracing::warn!(app = %app, "appid not configured; nothing sent to wechat");
            WeChatFailure::Other {
                errcode: NOT_CONFIGURED_ERRCODE,
            }
        })
    }

    async fn phone_number_inner(
        &self,
        app: &AppId,
        code: PhoneCode,
        openid: Option<&OpenId>,
    ) -> Result<WxPhone, WeChatError> {
        let token = self.tokens.get(app).await?;
        let (refused, code) = match self
            .client
            .get_user_phone_number(&token, code, openid)
            .await
        {
            Ok(phone) => return Ok(phone),
            Err(PhoneNumberError::Failed(error)) => return Err(error),
            Err(PhoneNumberError::TokenRefused { error, code }) => (error, code),
        };
        // The one permitted resend: WeChat refused the token before looking at the code.
        let error = chain(&refused);
        tracing::info!(app = %app, %error, "access token refused; retrying once with a fresh one");
        self.tokens.invalidate_if(app, &token).await;
        let fresh = self.tokens.get(app).await?;
        Ok(self
            .client
            .get_user_phone_number(&fresh, code, openid)
            .await?)
    }

    async fn check_encrypted_msg_inner(
        &self,
        app: &AppId,
        ciphertext_sha256: &[u8; 32],
    ) -> Result<bool, WeChatError> {
        let token = self.tokens.get(app).await?;
        let refused = match self
            .client
            .check_encrypted_msg(&token, ciphertext_sha256)
            .await
        {
            Ok(check) => return Ok(check.valid),
            Err(error) if error.outcome() == Outcome::Token => error,
            Err(error) => return Err(error),
        };
        // As for the phone call; here nothing is consumed at all, so the resend is safe.
        let error = chain(&refused);
        tracing::info!(app = %app, %error, "access token refused; retrying once with a fresh one");
        self.tokens.invalidate_if(app, &token).await;
        let fresh = self.tokens.get(app).await?;
        let check = self
            .client
            .check_encrypted_msg(&fresh, ciphertext_sha256)
            .await?;
        Ok(check.valid)
    }
}

#[async_trait]
impl WeChatApi for WeChatAdapter {
    #[tracing::instrument(skip_all, fields(app = %app))]
    async fn code_to_session(
        &self,
        app: &AppId,
        code: LoginCode,
    ) -> Result<WxSession, WeChatFailure> {
        let secret = self.secret(app)?;
        self.client
            .code_to_session(app, secret, code)
            .await
            .map_err(|error| failure(&error))
    }

    #[tracing::instrument(skip_all, fields(app = %app))]
    async fn phone_number(
        &self,
        app: &AppId,
        code: PhoneCode,
        openid: Option<&OpenId>,
    ) -> Result<WxPhone, WeChatFailure> {
        self.secret(app)?;
        self.phone_number_inner(app, code, openid)
            .await
            .map_err(|error| failure(&error))
    }

    #[tracing::instrument(skip_all, fields(app = %app))]
    async fn check_encrypted_msg(
        &self,
        app: &AppId,
        ciphertext_sha256: [u8; 32],
    ) -> Result<bool, WeChatFailure> {
        self.secret(app)?;
        self.check_encrypted_msg_inner(app, &ciphertext_sha256)
            .await
            .map_err(|error| failure(&error))
    }
}

impl fmt::Debug for WeChatAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeChatAdapter")
            .field("client", &self.client)
            .field("apps", &self.apps.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The port's classification of a client error, with its log line: the one for this failure
/// (the port's [`WeChatFailure`] carries only the classification, so the cause ends here),
/// with the whole source chain, at a level by what an operator should do about it.
pub fn failure(error: &WeChatError) -> WeChatFailure {
    let failure = classify(error);
    let outcome = error.outcome();
    let error = chain(error);
    match outcome {
        Outcome::Config | Outcome::Token => {
            tracing::warn!(error = %error, "wechat call failed; needs attention");
        }
        Outcome::RetryLater => tracing::info!(error = %error, "wechat unavailable"),
        Outcome::Relogin | Outcome::RateLimited | Outcome::Denied => {
            tracing::debug!(error = %error, "wechat refused the request");
        }
    }
    failure
}

fn classify(error: &WeChatError) -> WeChatFailure {
    match error {
        WeChatError::Api { errcode, .. } => {
            let code = errcode.code();
            match errcode {
                Errcode::InvalidCode | Errcode::MissingCode => {
                    WeChatFailure::CodeInvalid { errcode: code }
                }
                Errcode::CodeBeenUsed => WeChatFailure::CodeUsed { errcode: code },
                Errcode::CodeBlocked => WeChatFailure::Blocked { errcode: code },
                Errcode::MinuteQuotaExceeded | Errcode::DailyQuotaExceeded => {
                    WeChatFailure::RateLimited { errcode: code }
                }
                Errcode::SystemError => WeChatFailure::Unavailable {
                    errcode: Some(code),
                },
                _ => WeChatFailure::Other { errcode: code },
            }
        }
        WeChatError::Transport(_)
        | WeChatError::Status(_)
        | WeChatError::Decode(_)
        | WeChatError::RefreshAborted
        | WeChatError::CircuitOpen(_) => WeChatFailure::Unavailable { errcode: None },
        WeChatError::NotConfigured(_) => WeChatFailure::Other {
            errcode: NOT_CONFIGURED_ERRCODE,
        },
        WeChatError::TokenRefresh(inner) => classify(inner),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errcode::Endpoint;
    use crate::error::DecodeError;

    fn api(code: i64) -> WeChatError {
        WeChatError::Api {
            endpoint: Endpoint::Jscode2session,
            errcode: Errcode::from_code(code),
            errmsg: String::new(),
        }
    }

    #[test]
    fn code_errors_map_to_the_ports_code_failures() {
        assert_eq!(
            classify(&api(40029)),
            WeChatFailure::CodeInvalid { errcode: 40029 }
        );
        assert_eq!(
            classify(&api(41008)),
            WeChatFailure::CodeInvalid { errcode: 41008 }
        );
        assert_eq!(
            classify(&api(40163)),
            WeChatFailure::CodeUsed { errcode: 40163 }
        );
        assert_eq!(
            classify(&api(40226)),
            WeChatFailure::Blocked { errcode: 40226 }
        );
        assert_eq!(
            classify(&api(45011)),
            WeChatFailure::RateLimited { errcode: 45011 }
        );
    }

    #[test]
    fn busy_and_broken_answers_are_unavailable() {
        assert_eq!(
            classify(&api(-1)),
            WeChatFailure::Unavailable { errcode: Some(-1) }
        );
        let none = WeChatFailure::Unavailable { errcode: None };
        assert_eq!(classify(&WeChatError::Status(502)), none);
        assert_eq!(
            classify(&WeChatError::Decode(DecodeError::InvalidField("openid"))),
            none
        );
        assert_eq!(classify(&WeChatError::RefreshAborted), none);
        assert_eq!(
            classify(&WeChatError::CircuitOpen(Endpoint::Jscode2session)),
            none
        );
        let shared =
            WeChatError::TokenRefresh(Arc::new(WeChatError::CircuitOpen(Endpoint::StableToken)));
        assert_eq!(classify(&shared), none);
    }

    #[test]
    fn config_token_and_unknown_errcodes_are_other() {
        for code in [40001, 40013, 40125, 41002, 48001, 87009, 99999] {
            assert_eq!(classify(&api(code)), WeChatFailure::Other { errcode: code });
        }
    }

    #[test]
    fn a_shared_token_failure_is_classified_by_its_cause() {
        let shared = WeChatError::TokenRefresh(Arc::new(api(-1)));
        assert_eq!(
            classify(&shared),
            WeChatFailure::Unavailable { errcode: Some(-1) }
        );
        let shared = WeChatError::TokenRefresh(Arc::new(WeChatError::Status(503)));
        assert_eq!(
            classify(&shared),
            WeChatFailure::Unavailable { errcode: None }
        );
    }

    #[test]
    fn an_unconfigured_appid_is_other_40013() {
        let app = AppId::parse("wx9999999999999999").unwrap();
        let failure = classify(&WeChatError::NotConfigured(app));
        assert_eq!(failure, WeChatFailure::Other { errcode: 40013 });
    }
}
