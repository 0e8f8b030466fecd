//! `POST /v1/login`: exchange a login code, open a session, sign in silently when known.

use std::sync::Arc;

use tracing::instrument;

use super::{AuthService, LoginResult, secs};
use crate::counters;
use crate::crypto::{Handle, sha256};
use crate::error::AuthError;
use crate::ids::AppId;
use crate::ports::{Identity, LoginRecord, SessionRecord, UserRecord};
use crate::secret::LoginCode;
use crate::views::LoginView;
use crate::wechat::WxSession;

/// WeChat's codes are 32-ish characters; anything longer than this is not a code.
pub const MAX_CODE_LEN: usize = 128;

impl AuthService {
    /// Exchanges `code` for `app` at most once; the same code again (concurrently or within
    /// its five minutes) gets the same outcome without a second call to WeChat.
    #[instrument(skip_all, fields(appid = %app))]
    pub async fn login(&self, app: &AppId, code: LoginCode) -> LoginResult {
        let raw = code.expose_secret();
        if raw.is_empty() || raw.len() > MAX_CODE_LEN {
            return counters::login(Err(AuthError::LoginCodeInvalid {
                wechat_errcode: None,
            }));
        }
        let key = sha256(&[b"login", app.as_str().as_bytes(), raw.as_bytes()]);
        // Counted inside: a repeated code gets the remembered outcome, not a second login.
        self.login_outcomes
            .once(key, async {
                counters::login(self.login_uncached(app, key, code).await)
            })
            .await
    }

    async fn login_uncached(&self, app: &AppId, key: [u8; 32], code: LoginCode) -> LoginResult {
        let wx = match self.exchanged.logins.remove(&key).await {
            Some(wx) => wx,
            // The adapter logged the failure, with its cause; here it is only classified.
            None => Arc::new(
                self.ports
                    .wechat
                    .code_to_session(app, code)
                    .await
                    .map_err(|f| AuthError::from_login_failure(&f))?,
            ),
        };
        let outcome = self.open_session(app, &wx).await;
        if let Err(e) = &outcome
            && !e.is_cacheable()
        {
            // WeChat has used the code up, but our store failed after it: keep WeChat's
            // answer so that a retry with this code finishes the job instead of getting
            // 40163 from WeChat.
            self.exchanged.logins.insert(key, wx).await;
        }
        outcome
    }

    async fn open_session(&self, app: &AppId, wx: &WxSession) -> LoginResult {
        let now = self.now();
        let identity = Identity {
            appid: app.clone(),
            openid: wx.openid.clone(),
            unionid: wx.unionid.clone(),
        };
        let context = format!("session_key:{}:{}", app, identity.openid);
        let sealed_key = self
            .sealer
            .seal(&context, wx.session_key.expose_secret().as_bytes());
        let handle = Handle::generate("wxs_");
        let session = SessionRecord {
            hash: handle.hash(),
            identity: identity.clone(),
            created_at: now,
            expires_at: now + secs(self.settings.session_ttl),
        };
        // A known user is signed in: the new session_key, the session and the user's new
        // refresh family in one transaction (one commit per login).
        let known = self.known_user(&identity).await?;
        if known.as_ref().is_some_and(|user| user.disabled) {
            return Err(AuthError::UserDisabled);
        }
        let signed_in = known.map(|user| {
            let family = self.new_family(&user.id, app);
            (user, family)
        });
        let login = LoginRecord {
            identity,
            at: now,
            sealed_key,
            session: Some(session),
            sign_in: signed_in
                .as_ref()
                .map(|(_, (family, first, _))| (family.clone(), first.clone())),
            announce: self.settings.announce_sign_ins,
        };
        self.ports.sessions.record_login(&login).await?;
        counters::count(counters::SESSIONS_OPENED_TOTAL);
        let (user, tokens) = match signed_in {
            Some((user, (family, _, refresh))) => {
                let claimed = self
                    .claimed_identity(&family, Some(&login.identity))
                    .await?;
                let tokens = self.tokens_for(
                    &family,
                    refresh,
                    family.created_at,
                    claimed.as_ref(),
                    user.external_id.as_ref(),
                )?;
                (Some(self.user_view(&user)?), Some(tokens))
            }
            None => (None, None),
        };
        Ok(LoginView {
            session: handle.into_secret(),
            session_expires_in: self.settings.session_ttl.as_secs(),
            registered: user.is_some(),
            user,
            tokens,
        })
    }

    /// The user this identity belongs to: bound directly, or through its unionid under
    /// another app (then bound here too, so the next login is direct).
    async fn known_user(&self, identity: &Identity) -> Result<Option<UserRecord>, AuthError> {
        let users = &self.ports.users;
        if let Some((user, recorded)) = users
            .user_by_identity_and_unionid(
                &identity.appid,
                &identity.openid,
                identity.unionid.as_ref(),
            )
            .await?
        {
            if !recorded {
                // Records a unionid WeChat started sending after the app was bound (a write
                // only then: binding the same unionid again would change nothing).
                users.bind_identity(&user.id, identity, self.now()).await?;
            }
            return Ok(Some(user));
        }
        let Some(unionid) = &identity.unionid else {
            return Ok(None);
        };
        let Some(user) = users.user_by_unionid(unionid).await? else {
            return Ok(None);
        };
        users.bind_identity(&user.id, identity, self.now()).await?;
        Ok(Some(user))
    }
}
