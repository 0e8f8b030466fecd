//! Changing users: profile and status, deletion, sign-out, unbinding, import.

use serde::Deserialize;
use utoipa::ToSchema;

use super::{AdminPrincipal, AdminService, Importer, invalid};
use crate::admin::{Scope, UnbindOutcome, UpdateOutcome, UserChange};
use crate::cause::chain;
use crate::error::AuthError;
use crate::ids::{AppId, ExternalId, FamilyId, UserId};
use crate::service::admin_views::{AdminUserEnvelope, ImportView};
use crate::service::{AuthService, Profile};

/// Most rows of one import request.
pub const MAX_IMPORT_ROWS: usize = 1000;

/// `PATCH /admin/v1/users/{id}`: an absent field is left alone, `null` clears it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminUserPatch {
    /// New nickname, or null.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub nickname: Option<Option<String>>,
    /// New avatar URL, or null.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub avatar_url: Option<Option<String>>,
    /// New external_id, or null.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub external_id: Option<Option<String>>,
    /// Disable or enable.
    pub disabled: Option<bool>,
}

/// A field that is present deserializes to `Some(value)`, `null` included.
pub(in crate::service) fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// One identity of an imported user.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportIdentityRow {
    /// A configured app.
    pub appid: String,
    /// The user's openid in it.
    pub openid: String,
    /// Their unionid, if known.
    pub unionid: Option<String>,
}

/// One user of an import.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRow {
    /// E.164, or 11 digits taken as +86.
    pub phone: String,
    /// Display name.
    pub nickname: Option<String>,
    /// https URL.
    pub avatar_url: Option<String>,
    /// The operator's id.
    pub external_id: Option<String>,
    /// WeChat identities to bind.
    #[serde(default)]
    pub identities: Vec<ImportIdentityRow>,
}

impl std::fmt::Debug for ImportRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportRow").finish_non_exhaustive()
    }
}

impl AdminService {
    /// Changes a user; disabling signs them out everywhere at once.
    pub async fn update(
        &self,
        who: &AdminPrincipal,
        id: &str,
        patch: AdminUserPatch,
    ) -> Result<AdminUserEnvelope, AuthError> {
        who.require(Scope::UsersWrite)?;
        let profile = Profile {
            nickname: patch.nickname.clone().flatten(),
            avatar_url: patch.avatar_url.clone().flatten(),
        };
        profile.validate_with(self.auth.settings.avatar_base.as_deref())?;
        let external_id =
            match patch.external_id {
                None => None,
                Some(None) => Some(None),
                Some(Some(raw)) => Some(Some(ExternalId::parse(raw).map_err(|_| {
                    invalid("external_id must be 1-128 printable ASCII characters")
                })?)),
            };
        let change = UserChange {
            nickname: patch.nickname,
            avatar_url: patch.avatar_url,
            external_id,
            disabled: patch.disabled,
        };
        let user_id = UserId::parse(id).map_err(|_| AuthError::UserNotFound)?;
        match self
            .ports
            .users
            .update_user(&user_id, &change, self.now())
            .await?
        {
            UpdateOutcome::Updated { revoked, .. } => {
                self.auth.list_revoked(&revoked).await;
                self.user(who, id).await
            }
            UpdateOutcome::NotFound => Err(AuthError::UserNotFound),
            UpdateOutcome::ExternalIdTaken => Err(AuthError::ExternalIdTaken),
        }
    }

    /// Deletes the account, as `DELETE /v1/me` does.
    pub async fn delete(&self, who: &AdminPrincipal, id: &str) -> Result<(), AuthError> {
        who.require(Scope::UsersWrite)?;
        let id = UserId::parse(id).map_err(|_| AuthError::UserNotFound)?;
        self.auth.erase(&id).await
    }

    /// Signs the user out everywhere.
    pub async fn revoke(&self, who: &AdminPrincipal, id: &str) -> Result<(), AuthError> {
        who.require(Scope::UsersWrite)?;
        let id = UserId::parse(id).map_err(|_| AuthError::UserNotFound)?;
        let revoked = self
            .ports
            .users
            .revoke_sessions(&id, self.now())
            .await?
            .ok_or(AuthError::UserNotFound)?;
        self.auth.list_revoked(&revoked).await;
        Ok(())
    }

    /// Unbinds the user's WeChat account in `appid`.
    pub async fn unbind(
        &self,
        who: &AdminPrincipal,
        id: &str,
        appid: &str,
    ) -> Result<(), AuthError> {
        who.require(Scope::UsersWrite)?;
        let id = UserId::parse(id).map_err(|_| AuthError::UserNotFound)?;
        let appid = AppId::parse(appid).map_err(|_| AuthError::UserNotFound)?;
        match self
            .ports
            .users
            .unbind_identity(&id, &appid, self.now())
            .await?
        {
            UnbindOutcome::Unbound { revoked } => {
                self.auth.list_revoked(&revoked).await;
                Ok(())
            }
            UnbindOutcome::UserNotFound => Err(AuthError::UserNotFound),
            // Nothing to unbind: the wanted state holds already (idempotent, like DELETE).
            UnbindOutcome::NotBound => Ok(()),
        }
    }

    /// Imports up to [`MAX_IMPORT_ROWS`] users.
    pub async fn import(
        &self,
        who: &AdminPrincipal,
        rows: Vec<ImportRow>,
    ) -> Result<ImportView, AuthError> {
        who.require(Scope::UsersWrite)?;
        if rows.len() > MAX_IMPORT_ROWS {
            return Err(AuthError::ImportInvalid(format!(
                "at most {MAX_IMPORT_ROWS} users per request"
            )));
        }
        self.importer().import(rows).await
    }

    /// The importer, with this deployment's keys and apps.
    fn importer(&self) -> Importer {
        Importer {
            sealer: self.auth.sealer.clone(),
            phone_index: self.auth.phone_index.clone(),
            apps: self.auth.settings.apps.clone(),
            store: self.auth.ports.accounts.clone(),
            clock: self.auth.ports.clock.clone(),
        }
    }
}

impl AuthService {
    /// Lists families as revoked where a revocation list is configured, so that their access
    /// tokens are refused at once. The database has revoked them already; a failure here
    /// only lets the access tokens live until they expire, so it is logged, not returned.
    pub(crate) async fn list_revoked(&self, families: &[FamilyId]) {
        if families.is_empty() {
            return;
        }
        if let Some(list) = &self.ports.revocations
            && let Err(e) = list.revoke(families, self.revocation_ttl()).await
        {
            tracing::error!(error = %chain(&e), "could not list revoked families");
        }
    }

    /// Deletes the account `id` (the user's own `DELETE /v1/me`, or an operator's), and the
    /// avatar this server stored for it.
    pub async fn erase(&self, id: &UserId) -> Result<(), AuthError> {
        let avatar = self.ports.users.user(id).await?.and_then(|u| u.avatar_url);
        let revoked = self
            .ports
            .accounts
            .delete_user(id, self.now())
            .await?
            .ok_or(AuthError::UserNotFound)?;
        self.list_revoked(&revoked).await;
        let own = match (&avatar, &self.settings.avatar_base) {
            (Some(url), Some(base)) => url.strip_prefix(base.as_str()),
            _ => None,
        };
        if let (Some(id), Some(store)) = (own, &self.ports.avatars) {
            // The account is gone either way; a file left behind is logged for the operator.
            if let Err(e) = store.delete_avatar(id).await {
                tracing::warn!(error = %chain(&e), "could not delete a deleted account's avatar");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_tells_absent_from_null() {
        let p: AdminUserPatch = serde_json::from_str(r#"{"nickname": null}"#).unwrap();
        assert_eq!(p.nickname, Some(None));
        assert_eq!(p.avatar_url, None);
        let p: AdminUserPatch = serde_json::from_str(r#"{"external_id": "u-1"}"#).unwrap();
        assert_eq!(p.external_id, Some(Some("u-1".into())));
        assert!(serde_json::from_str::<AdminUserPatch>(r#"{"phone": "x"}"#).is_err());
    }
}
