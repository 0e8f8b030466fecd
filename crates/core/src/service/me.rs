//! The user's own account (bearer access token): change the profile or the phone, delete the
//! account (注销), export what is held.

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use tracing::instrument;
use utoipa::ToSchema;

use super::account::family_of;
use super::phone::openid_bucket;
use super::{AuthService, PhoneProof, Profile};
use crate::admin::{PhoneChange, SessionSummary, UpdateOutcome, UserChange};
use crate::cause::Cause;
use crate::error::AuthError;
use crate::events::EventQuery;
use crate::ids::UserId;
use crate::ports::{LimitKind, UserRecord};
use crate::views::MeView;

/// `PATCH /v1/me`: an absent field is left alone, `null` clears `avatar_url`.
#[derive(Debug, Clone, Default, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    /// 1-64 characters.
    #[serde(default, deserialize_with = "super::admin::present")]
    #[schema(value_type = Option<String>)]
    pub nickname: Option<Option<String>>,
    /// An https URL (or this server's own `/avatars/` URL), or null.
    #[serde(default, deserialize_with = "super::admin::present")]
    #[schema(value_type = Option<String>)]
    pub avatar_url: Option<Option<String>>,
}

/// An identity in the export: everything held.
#[derive(Serialize, ToSchema)]
pub struct ExportIdentity {
    /// The app.
    pub appid: String,
    /// The openid in it.
    pub openid: String,
    /// The unionid, when WeChat gave one.
    pub unionid: Option<String>,
    /// RFC 3339.
    pub bound_at: String,
}

/// A session or signed-in device in the export.
#[derive(Serialize, ToSchema)]
pub struct ExportSession {
    /// Through which app.
    pub appid: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// An event in the export.
#[derive(Serialize, ToSchema)]
pub struct ExportEvent {
    /// `evt_…`.
    pub id: String,
    /// `user.registered`, …
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// RFC 3339.
    pub timestamp: String,
    /// The app, where the event has one.
    pub appid: Option<String>,
}

/// The profile in the export.
#[derive(Serialize, ToSchema)]
pub struct ExportProfile {
    /// Our id.
    pub user_id: String,
    /// Display name.
    pub nickname: Option<String>,
    /// Avatar.
    pub avatar_url: Option<String>,
    /// E.164, in full.
    pub phone_number: String,
    /// The operator's id for the user.
    pub external_id: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub last_login_at: Option<String>,
}

/// `GET /v1/me/export`: everything held about the user (PIPL access and portability).
#[derive(Serialize, ToSchema)]
pub struct ExportView {
    /// Profile and phone.
    pub user: ExportProfile,
    /// WeChat identities, in full.
    pub identities: Vec<ExportIdentity>,
    /// Signed-in devices (refresh families).
    pub refresh_families: Vec<ExportSession>,
    /// Open mini-program sessions held in the database.
    pub sessions: Vec<ExportSession>,
    /// The account's events, oldest first.
    pub events: Vec<ExportEvent>,
}

fn rfc3339(t: time::OffsetDateTime) -> Result<String, AuthError> {
    t.format(&Rfc3339)
        .map_err(|e| AuthError::Internal(Cause::new(e)))
}

fn session_view(s: SessionSummary) -> Result<ExportSession, AuthError> {
    Ok(ExportSession {
        appid: s.appid.to_string(),
        created_at: rfc3339(s.created_at)?,
        expires_at: rfc3339(s.expires_at)?,
    })
}

/// Most events an export lists (the oldest; the account's first events matter most).
const EXPORT_EVENTS: u32 = 1000;

impl AuthService {
    /// The signed-in user of a bearer token, read as [`Self::me`] reads it (so a revoked
    /// token or a disabled user is refused the same way).
    async fn signed_in(&self, bearer: &str) -> Result<UserRecord, AuthError> {
        let claims = self.verify_bearer(bearer)?;
        let family = family_of(&claims)?;
        let id = UserId::parse(claims.sub).map_err(|_| AuthError::Unauthenticated)?;
        let Some((user, _)) = self.ports.users.signed_in_user(&family, &id).await? else {
            return Err(self.refusal_of(id.as_str()).await);
        };
        if user.disabled {
            return Err(AuthError::UserDisabled);
        }
        Ok(user)
    }

    /// `PATCH /v1/me`.
    #[instrument(skip_all)]
    pub async fn update_profile(
        &self,
        bearer: &str,
        patch: ProfilePatch,
    ) -> Result<MeView, AuthError> {
        let user = self.signed_in(bearer).await?;
        Profile {
            nickname: patch.nickname.clone().flatten(),
            avatar_url: patch.avatar_url.clone().flatten(),
        }
        .validate_with(self.settings.avatar_base.as_deref())?;
        if patch.nickname == Some(None) {
            return Err(AuthError::InvalidRequest(
                "nickname cannot be cleared, only changed".into(),
            ));
        }
        let change = UserChange {
            nickname: patch.nickname,
            avatar_url: patch.avatar_url,
            ..UserChange::default()
        };
        match self
            .ports
            .accounts
            .update_user(&user.id, &change, self.now())
            .await?
        {
            UpdateOutcome::Updated { .. } => self.me(bearer).await,
            // Deleted between the two reads: the token no longer names a user.
            UpdateOutcome::NotFound => Err(AuthError::Unauthenticated),
            UpdateOutcome::ExternalIdTaken => Err(AuthError::Internal(
                "external_id conflict on a profile change".into(),
            )),
        }
    }

    /// `POST /v1/me/phone`: verifies the new phone like `/v1/phone` (the session must be one of
    /// this user's identities) and makes it the user's.
    #[instrument(skip_all)]
    pub async fn change_phone(
        &self,
        bearer: &str,
        session: &str,
        proof: PhoneProof,
    ) -> Result<MeView, AuthError> {
        let user = self.signed_in(bearer).await?;
        let session = self.live_session(session, None).await?;
        let owner = self
            .ports
            .users
            .user_by_identity(&session.identity.appid, &session.identity.openid)
            .await?;
        if owner.is_none_or(|o| o.id != user.id) {
            return Err(AuthError::SessionInvalid);
        }
        self.limit(LimitKind::OpenId, &openid_bucket(&session.identity))
            .await?;
        let phone = self.verified_phone(&session, proof).await?;
        self.limit(LimitKind::Phone, &self.phone_bucket(&phone))
            .await?;
        let hash = self.phone_index.hash(&phone.phone_number);
        let sealed = self.sealer.seal(
            &format!("phone:{}", user.id),
            phone.storage_text().as_bytes(),
        );
        match self
            .ports
            .accounts
            .change_phone(&user.id, &hash, &sealed, self.now())
            .await?
        {
            PhoneChange::Changed(_) => self.me(bearer).await,
            PhoneChange::PhoneTaken => Err(AuthError::PhoneTaken),
            PhoneChange::UserNotFound => Err(AuthError::Unauthenticated),
        }
    }

    /// Whether an avatar upload may go ahead: a signed-in user (bearer access token), or the
    /// registration page holding a live registration ticket (the upload does not use the
    /// ticket up). A bearer wins when both are sent.
    pub async fn may_upload_avatar(
        &self,
        bearer: Option<&str>,
        ticket: Option<&str>,
    ) -> Result<(), AuthError> {
        match (bearer, ticket) {
            (Some(bearer), _) => self.signed_in(bearer).await.map(drop),
            (None, Some(ticket)) => {
                let hash = crate::crypto::HandleHash::of(ticket);
                self.ports
                    .users
                    .live_ticket(&hash, self.now())
                    .await?
                    .map(drop)
                    .ok_or(AuthError::TicketInvalid)
            }
            (None, None) => Err(AuthError::Unauthenticated),
        }
    }

    /// `DELETE /v1/me`: the account deletion (注销).
    #[instrument(skip_all)]
    pub async fn delete_me(&self, bearer: &str) -> Result<(), AuthError> {
        let user = self.signed_in(bearer).await?;
        match self.erase(&user.id).await {
            Err(AuthError::UserNotFound) => Err(AuthError::Unauthenticated),
            other => other,
        }
    }

    /// `GET /v1/me/export`.
    #[instrument(skip_all)]
    pub async fn export(&self, bearer: &str) -> Result<ExportView, AuthError> {
        let user = self.signed_in(bearer).await?;
        let now = self.now();
        let detail = self
            .ports
            .accounts
            .user_detail(&user.id, now)
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        let holdings = self.ports.accounts.holdings(&user.id, now).await?;
        let phone = self.open_user_phone(&user)?;
        let query = EventQuery {
            user_id: Some(user.id.clone()),
            limit: EXPORT_EVENTS,
            ..EventQuery::default()
        };
        let events = self.ports.events.events(&query).await?.unwrap_or_default();
        Ok(ExportView {
            user: ExportProfile {
                user_id: user.id.to_string(),
                nickname: user.nickname,
                avatar_url: user.avatar_url,
                phone_number: phone.phone_number,
                external_id: user.external_id.map(String::from),
                created_at: rfc3339(user.created_at)?,
                last_login_at: user.last_login_at.map(rfc3339).transpose()?,
            },
            identities: detail
                .identities
                .into_iter()
                .map(|i| {
                    Ok(ExportIdentity {
                        appid: i.identity.appid.to_string(),
                        openid: i.identity.openid.to_string(),
                        unionid: i.identity.unionid.map(String::from),
                        bound_at: rfc3339(i.bound_at)?,
                    })
                })
                .collect::<Result<_, AuthError>>()?,
            refresh_families: holdings
                .families
                .into_iter()
                .map(session_view)
                .collect::<Result<_, _>>()?,
            sessions: holdings
                .sessions
                .into_iter()
                .map(session_view)
                .collect::<Result<_, _>>()?,
            events: events
                .into_iter()
                .map(|e| {
                    Ok(ExportEvent {
                        id: e.id.to_string(),
                        kind: e.kind.as_str(),
                        timestamp: rfc3339(e.at)?,
                        appid: e.appid.map(String::from),
                    })
                })
                .collect::<Result<_, AuthError>>()?,
        })
    }
}
