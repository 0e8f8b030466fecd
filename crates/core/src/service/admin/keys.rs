//! The token-signing keys: their states, and scheduling a rotation.

use super::{AdminPrincipal, AdminService, rfc3339};
use crate::admin::Scope;
use crate::cause::Cause;
use crate::error::AuthError;
use crate::jwt::{KeyRing, schedule};
use crate::service::admin_views::{KeyView, KeysView};

impl AdminService {
    /// The signing keys with their states.
    pub async fn keys(&self, _who: &AdminPrincipal) -> Result<KeysView, AuthError> {
        let records = self.ports.signing.signing_keys().await?;
        let sealer = self.auth.sealer();
        let mut keys = Vec::new();
        for k in schedule(records, &self.key_policy, self.now()) {
            let state = match k.state {
                crate::jwt::KeyState::Retired => continue,
                s => s.as_str(),
            };
            let alg = crate::jwt::open_record(&k.record, &sealer)
                .map_err(|e| AuthError::Internal(Cause::new(e)))?
                .algorithm()
                .as_str();
            keys.push(KeyView {
                kid: k.record.kid.clone(),
                alg,
                state,
                created_at: rfc3339(k.record.created_at)?,
                signs_from: rfc3339(k.signs_from)?,
            });
        }
        Ok(KeysView { keys })
    }

    /// Schedules a rotation (the new key is `next`, then signs after the publish delay) and
    /// reloads this instance's ring so that the JWKS shows it at once.
    pub async fn rotate_keys(&self, who: &AdminPrincipal) -> Result<KeyView, AuthError> {
        who.require(Scope::KeysWrite)?;
        let now = self.now();
        let sealer = self.auth.sealer();
        let signing = self.ports.signing.as_ref();
        let rotation = KeyRing::rotate(signing, &sealer, self.algorithm, &self.key_policy, now)
            .await
            .map_err(|e| AuthError::Internal(Cause::new(e)))?;
        let ring = KeyRing::load(signing, &sealer, &self.key_policy, now)
            .await
            .map_err(|e| AuthError::Internal(Cause::new(e)))?;
        self.auth.replace_keys(ring);
        tracing::info!(admin = %who.name, kid = %rotation.kid, "signing key rotation scheduled");
        Ok(KeyView {
            kid: rotation.kid,
            alg: rotation.algorithm.as_str(),
            state: "next",
            created_at: rfc3339(now)?,
            signs_from: rfc3339(rotation.signs_from)?,
        })
    }
}
