//! Imports: rows checked and sealed like a registration's, then stored in one transaction
//! per batch. What `POST /admin/v1/users/import` and `wxlogin import-users` share.

use std::sync::Arc;

use time::OffsetDateTime;

use super::Profile;
use super::admin::ImportRow;
use super::admin_views::{ImportRejectionView, ImportView};
use crate::admin::{AdminStore, ImportOutcome, ImportUser};
use crate::error::AuthError;
use crate::ids::{AppId, ExternalId, OpenId, UnionId};
use crate::phone::Phone;
use crate::ports::Identity;

/// Checks, seals and imports users: what `POST /admin/v1/users/import` and
/// `wxlogin import-users` share.
pub struct Importer {
    /// Seals phones at rest.
    pub sealer: crate::crypto::Sealer,
    /// Hashes phones for lookups.
    pub phone_index: crate::crypto::PhoneIndex,
    /// The configured apps: identities must name one.
    pub apps: Vec<AppId>,
    /// Where users go.
    pub store: Arc<dyn AdminStore>,
    /// Time.
    pub clock: Arc<dyn crate::clock::Clock>,
}

impl std::fmt::Debug for Importer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Importer")
            .field("apps", &self.apps)
            .finish_non_exhaustive()
    }
}

impl Importer {
    /// Validates, seals and imports a batch (the admin API's and `wxlogin import-users`').
    pub async fn import(&self, rows: Vec<ImportRow>) -> Result<ImportView, AuthError> {
        let now = self.clock.now();
        let mut rejected = Vec::new();
        let mut batch = Vec::with_capacity(rows.len());
        let mut indexes = Vec::with_capacity(rows.len());
        for (index, row) in rows.into_iter().enumerate() {
            match self.import_user(row, now) {
                Ok(user) => {
                    batch.push(user);
                    indexes.push(index);
                }
                Err(reason) => rejected.push(ImportRejectionView { index, reason }),
            }
        }
        let (mut created, mut existing) = (0, 0);
        if !batch.is_empty() {
            let outcomes = self.store.import_users(batch, now).await?;
            for (index, outcome) in indexes.into_iter().zip(outcomes) {
                match outcome {
                    ImportOutcome::Created(_) => created += 1,
                    ImportOutcome::Existing(_) => existing += 1,
                    ImportOutcome::IdentityTaken => rejected.push(ImportRejectionView {
                        index,
                        reason: "an identity is bound to another user".into(),
                    }),
                }
            }
        }
        rejected.sort_by_key(|r| r.index);
        Ok(ImportView {
            created,
            existing,
            rejected,
        })
    }

    /// One import row checked and sealed, or why it is refused.
    fn import_user(&self, row: ImportRow, now: OffsetDateTime) -> Result<ImportUser, String> {
        let phone = Phone::parse_input(&row.phone).map_err(|_| "phone is not E.164".to_owned())?;
        let profile = Profile {
            nickname: row.nickname,
            avatar_url: row.avatar_url,
        };
        profile.validate().map_err(|e| match e {
            AuthError::InvalidRequest(m) => m,
            other => other.to_string(),
        })?;
        let external_id = row
            .external_id
            .map(ExternalId::parse)
            .transpose()
            .map_err(|_| "external_id must be 1-128 printable ASCII characters".to_owned())?;
        let mut identities = Vec::with_capacity(row.identities.len());
        for i in row.identities {
            let appid = self
                .apps
                .iter()
                .find(|a| a.as_str() == i.appid)
                .cloned()
                .ok_or_else(|| "identity names an app that is not configured".to_owned())?;
            identities.push(Identity {
                appid,
                openid: OpenId::parse(i.openid).map_err(|_| "openid is malformed".to_owned())?,
                unionid: i
                    .unionid
                    .map(UnionId::parse)
                    .transpose()
                    .map_err(|_| "unionid is malformed".to_owned())?,
            });
        }
        Ok(ImportUser {
            user: super::new_user(
                &self.sealer,
                &self.phone_index,
                &phone,
                profile,
                external_id,
                now,
            ),
            identities,
        })
    }
}
