//! Register, refresh, logout and me: everything after the phone is verified.

use tracing::instrument;

use super::phone::{openid_bucket, ticket_context};
use super::{AuthService, RegistrationPolicy, secs};
use crate::cause::{Cause, chain};
use crate::counters;
use crate::crypto::{Handle, HandleHash};
use crate::error::AuthError;
use crate::ids::{FamilyId, UserId};
use crate::jwt::Claims;
use crate::phone::Phone;
use crate::ports::{LimitKind, RefreshRecord, RegisterOutcome, RotateOutcome};
use crate::views::{IdentityView, MeUserView, MeView, RefreshView, SignedInView};

/// What a new user may set at registration.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    /// 1-64 Unicode characters, no control characters.
    pub nickname: Option<String>,
    /// An https URL of at most 1024 bytes.
    pub avatar_url: Option<String>,
}

impl Profile {
    /// Checks the bounds of the contract: an avatar is an https URL.
    pub fn validate(&self) -> Result<(), AuthError> {
        self.validate_with(None)
    }

    /// [`Self::validate`], also accepting avatars under `own_avatars` (this server's
    /// `<public_url>/avatars/`, which is plain http in dev mode).
    pub fn validate_with(&self, own_avatars: Option<&str>) -> Result<(), AuthError> {
        if let Some(n) = &self.nickname {
            let chars = n.chars().count();
            if chars == 0 || chars > 64 || n.chars().any(char::is_control) || n.trim().is_empty() {
                return Err(AuthError::InvalidRequest(
                    "nickname must be 1-64 printable characters".into(),
                ));
            }
        }
        if let Some(u) = &self.avatar_url {
            let own = own_avatars
                .and_then(|prefix| u.strip_prefix(prefix))
                .is_some_and(|id| {
                    !id.is_empty()
                        && id.bytes().all(|b| {
                            b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_'
                        })
                });
            let ok = own
                || u.len() <= 1024
                    && u.strip_prefix("https://")
                        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'))
                    && !u.chars().any(|c| c.is_whitespace() || c.is_control());
            if !ok {
                return Err(AuthError::InvalidRequest(
                    "avatar_url must be an https URL".into(),
                ));
            }
        }
        Ok(())
    }
}

impl AuthService {
    /// Creates the user from a registration ticket. Checks in the contract's order: the
    /// ticket first, then the policy, then whether the phone was taken meanwhile.
    #[instrument(skip_all)]
    pub async fn register(
        &self,
        ticket: &str,
        profile: Profile,
    ) -> Result<SignedInView, AuthError> {
        let hash = HandleHash::of(ticket);
        let now = self.now();
        let record = self
            .ports
            .users
            .live_ticket(&hash, now)
            .await?
            .ok_or(AuthError::TicketInvalid)?;
        self.limit(LimitKind::OpenId, &openid_bucket(&record.identity))
            .await?;
        if self.settings.registration == RegistrationPolicy::Closed {
            return Err(AuthError::RegistrationClosed);
        }
        profile.validate_with(self.settings.avatar_base.as_deref())?;
        let phone_text = self
            .sealer
            .open_string(&ticket_context(&hash), &record.phone_sealed)
            .map_err(|_| AuthError::Internal("a stored ticket does not open".into()))?;
        let phone = Phone::from_storage_text(&phone_text)?;
        self.limit(LimitKind::Phone, &self.phone_bucket(&phone))
            .await?;
        let mut new_user = self.new_user(&phone, profile, None, now);
        new_user.user.last_login_at = Some(now);
        match self
            .ports
            .users
            .register(&hash, now, new_user, &record.identity)
            .await?
        {
            RegisterOutcome::Created(user) => {
                counters::count(counters::REGISTRATIONS_TOTAL);
                let tokens = self.sign_in(&user, &record.identity).await?;
                Ok(SignedInView {
                    user: self.user_view(&user)?,
                    tokens,
                })
            }
            RegisterOutcome::TicketInvalid => Err(AuthError::TicketInvalid),
            RegisterOutcome::PhoneTaken => Err(AuthError::AlreadyRegistered),
        }
    }

    /// Rotates a refresh token. A token presented a second time revokes its whole family.
    #[instrument(skip_all)]
    pub async fn refresh(&self, presented: &str) -> Result<RefreshView, AuthError> {
        let now = self.now();
        let next = Handle::generate("wxr_");
        let record = RefreshRecord {
            hash: next.hash(),
            created_at: now,
            expires_at: now + secs(self.settings.refresh_ttl),
        };
        match self
            .ports
            .refresh
            .rotate_refresh(&HandleHash::of(presented), &record, now)
            .await?
        {
            RotateOutcome::Rotated(family) => {
                let claimed = self.claimed_identity(&family, None).await?;
                let external_id = if self.app_claims(&family.appid).external_id {
                    let user = self.ports.users.user(&family.user_id).await?;
                    user.and_then(|u| u.external_id)
                } else {
                    None
                };
                Ok(RefreshView {
                    tokens: self.tokens_for(
                        &family,
                        next,
                        now,
                        claimed.as_ref(),
                        external_id.as_ref(),
                    )?,
                })
            }
            RotateOutcome::Reused { family_id } => {
                tracing::warn!("refresh token reuse detected; family revoked");
                counters::count(counters::REFRESH_REUSE_TOTAL);
                if let Some(list) = &self.ports.revocations {
                    // The family is revoked in the database whatever happens here; if the
                    // entry cannot be written, its access tokens live until they expire.
                    if let Err(e) = list.revoke(&[family_id], self.revocation_ttl()).await {
                        tracing::error!(error = %chain(&e), "could not list a reused family as revoked");
                    }
                }
                Err(AuthError::RefreshTokenReused)
            }
            RotateOutcome::Invalid => Err(AuthError::RefreshTokenInvalid),
            RotateOutcome::UserDisabled => Err(AuthError::UserDisabled),
        }
    }

    /// Checks a bearer token: signature, issuer, audience, expiry, and that its family was not
    /// revoked (logout, reuse). A revoked family of a disabled user answers `user_disabled`.
    pub async fn authenticate(&self, bearer: &str) -> Result<Claims, AuthError> {
        let claims = self.verify_bearer(bearer)?;
        let family = family_of(&claims)?;
        let revoked = match &self.ports.revocations {
            Some(list) => match list.is_revoked(&family).await {
                Ok(revoked) => revoked,
                Err(e) => {
                    tracing::warn!(error = %chain(&e), "revocation list unavailable; asking the database");
                    !self.ports.refresh.family_active(&family).await?
                }
            },
            None => !self.ports.refresh.family_active(&family).await?,
        };
        if revoked {
            return Err(self.refusal_of(&claims.sub).await);
        }
        Ok(claims)
    }

    /// Why a well-signed bearer token of user `sub` is refused: `user_disabled` wins while the
    /// user is disabled, otherwise `unauthenticated`. Read only on the refusal path, so the
    /// accepted path costs nothing more.
    pub(super) async fn refusal_of(&self, sub: &str) -> AuthError {
        let Ok(id) = UserId::parse(sub) else {
            return AuthError::Unauthenticated;
        };
        match self.ports.users.user(&id).await {
            Ok(Some(user)) if user.disabled => AuthError::UserDisabled,
            Ok(_) => AuthError::Unauthenticated,
            Err(e) => e.into(),
        }
    }

    /// Checks a bearer token's signature, issuer, audience and expiry, not its family.
    pub(super) fn verify_bearer(&self, bearer: &str) -> Result<Claims, AuthError> {
        self.keys().verify(bearer, self.now()).map_err(|e| {
            tracing::debug!(reason = %e, "bearer token refused");
            AuthError::Unauthenticated
        })
    }

    /// Revokes the token's family, or all of the user's.
    #[instrument(skip_all)]
    pub async fn logout(&self, bearer: &str, all_devices: bool) -> Result<(), AuthError> {
        let claims = self.authenticate(bearer).await?;
        let now = self.now();
        let families = if all_devices {
            let user = UserId::parse(claims.sub).map_err(|_| AuthError::Unauthenticated)?;
            self.ports.refresh.revoke_user(&user, now).await?
        } else {
            let family = family_of(&claims)?;
            self.ports.refresh.revoke_family(&family, now).await?;
            vec![family]
        };
        if let Some(list) = &self.ports.revocations {
            // Refresh tokens are dead already; the access tokens die once this is written.
            // On failure the client gets 503 and retries; both steps are idempotent.
            list.revoke(&families, self.revocation_ttl()).await?;
        }
        Ok(())
    }

    /// The signed-in user. Checks the bearer token like [`Self::authenticate`], but neither
    /// asks the revocation list nor [`RefreshStore::family_active`]: the one read of
    /// [`UserStore::signed_in_user`] finds the user only through an active family of theirs,
    /// and the database is the truth (logout and reuse revoke there before listing the family
    /// as revoked).
    ///
    /// [`RefreshStore::family_active`]: crate::ports::RefreshStore::family_active
    /// [`UserStore::signed_in_user`]: crate::ports::UserStore::signed_in_user
    #[instrument(skip_all)]
    pub async fn me(&self, bearer: &str) -> Result<MeView, AuthError> {
        let claims = self.verify_bearer(bearer)?;
        let family = family_of(&claims)?;
        let id = UserId::parse(claims.sub).map_err(|_| AuthError::Unauthenticated)?;
        let Some((user, identities)) = self.ports.users.signed_in_user(&family, &id).await? else {
            return Err(self.refusal_of(id.as_str()).await);
        };
        if user.disabled {
            return Err(AuthError::UserDisabled);
        }
        let created_at = user
            .created_at
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| AuthError::Internal(Cause::new(e)))?;
        Ok(MeView {
            user: MeUserView {
                user_id: user.id.to_string(),
                phone_masked: self.open_user_phone(&user)?.masked(),
                nickname: user.nickname,
                avatar_url: user.avatar_url,
                created_at,
                identities: identities
                    .into_iter()
                    .map(|i| IdentityView {
                        appid: i.appid.to_string(),
                        has_unionid: i.has_unionid,
                    })
                    .collect(),
            },
        })
    }
}

/// The refresh family an access token names (`sid`). A well-signed token always names one
/// we issued; anything else is refused like a bad token.
pub(super) fn family_of(claims: &Claims) -> Result<FamilyId, AuthError> {
    FamilyId::parse(claims.sid.as_str()).map_err(|_| AuthError::Unauthenticated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_checked_against_the_contract_bounds() {
        let ok = Profile {
            nickname: Some("小明".into()),
            avatar_url: Some("https://cdn.example.com/a.png".into()),
        };
        assert!(ok.validate().is_ok());
        assert!(
            Profile {
                nickname: Some(String::new()),
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            Profile {
                nickname: Some("x".repeat(65)),
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            Profile {
                nickname: Some("字".repeat(64)),
                ..Default::default()
            }
            .validate()
            .is_ok()
        );
        assert!(
            Profile {
                nickname: Some("a\u{0}b".into()),
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            Profile {
                avatar_url: Some("http://x".into()),
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            Profile {
                avatar_url: Some("https://".into()),
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            Profile {
                avatar_url: Some("javascript:alert(1)".into()),
                ..Default::default()
            }
            .validate()
            .is_err()
        );
    }
}
