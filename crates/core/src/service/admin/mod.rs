//! The admin API's use cases: admin keys and scopes, user search and detail, changes,
//! deletion, sign-out, unbinding, stats, import, events and signing keys.
//!
//! [`AdminService`] shares the [`AuthService`]'s sealer, phone index and key ring, so a phone
//! searched here hashes as a verified one does and a rotation shows in the JWKS at once.
//!
//! Here: the service, who is calling ([`AdminPrincipal`]) and admin keys. The use cases, by
//! responsibility:
//! * `users`: reading users (search, detail, stats);
//! * `changes`: changing them (update, disable, delete, sign-out, unbind, import);
//! * `events`: the outbox (events, redelivery);
//! * `keys`: the token-signing keys (list, rotate).

mod changes;
mod events;
mod keys;
mod users;

use std::sync::Arc;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::AuthService;
use crate::admin::{AdminKeyRecord, AdminKeyStore, AdminStore, Scope};
use crate::cause::Cause;
use crate::crypto::{Handle, HandleHash};
use crate::error::AuthError;
use crate::events::EventStore;
use crate::jwt::{Algorithm, KeyPolicy};
use crate::ports::KeyStore;

pub use super::import::Importer;
pub(super) use changes::present;
pub use changes::{AdminUserPatch, ImportIdentityRow, ImportRow, MAX_IMPORT_ROWS};
pub use events::EventSearch;
pub(super) use events::event_view;
pub use users::UserSearch;

/// The ports the admin API runs on (the `SqlStore` implements them all).
#[derive(Clone)]
pub struct AdminPorts {
    /// Users as an operator manages them.
    pub users: Arc<dyn AdminStore>,
    /// Admin keys.
    pub keys: Arc<dyn AdminKeyStore>,
    /// The outbox.
    pub events: Arc<dyn EventStore>,
    /// Token-signing keys.
    pub signing: Arc<dyn KeyStore>,
}

/// Who is calling: an admin key, by its name.
#[derive(Debug, Clone)]
pub struct AdminPrincipal {
    /// The key's name (for logs; never the key).
    pub name: String,
    /// The key's id (for its rate-limit bucket).
    pub key_id: String,
    scopes: Vec<Scope>,
}

impl AdminPrincipal {
    pub(super) fn new(name: String, key_id: String, scopes: Vec<Scope>) -> Self {
        Self {
            name,
            key_id,
            scopes,
        }
    }

    /// The key's scopes.
    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    /// `admin_forbidden` unless the key has `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), AuthError> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(AuthError::AdminForbidden)
        }
    }

    /// Whether the key has `scope`.
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// The admin use cases.
pub struct AdminService {
    pub(super) auth: Arc<AuthService>,
    pub(super) ports: AdminPorts,
    algorithm: Algorithm,
    key_policy: KeyPolicy,
}

impl std::fmt::Debug for AdminService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminService").finish_non_exhaustive()
    }
}

fn rfc3339(t: OffsetDateTime) -> Result<String, AuthError> {
    t.format(&Rfc3339)
        .map_err(|e| AuthError::Internal(Cause::new(e)))
}

fn invalid(what: &str) -> AuthError {
    AuthError::InvalidRequest(what.to_owned())
}

/// A fresh admin key, `wxa_` + 256 random bits, and the record that stores its hash.
pub fn new_admin_key(
    name: &str,
    scopes: Vec<Scope>,
    now: OffsetDateTime,
) -> Result<(String, AdminKeyRecord), AuthError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b));
    if !ok {
        return Err(invalid(
            "an admin key name is 1-64 characters of letters, digits, - _ . @",
        ));
    }
    if scopes.is_empty() {
        return Err(invalid("an admin key needs at least one scope"));
    }
    let key = Handle::generate("wxa_");
    let record = AdminKeyRecord {
        id: uuid::Uuid::new_v4().simple().to_string(),
        name: name.to_owned(),
        hash: key.hash().0,
        scopes,
        created_at: now,
        revoked_at: None,
    };
    Ok((key.into_secret(), record))
}

impl AdminService {
    /// Wires the admin use cases beside `auth`.
    pub fn new(
        auth: Arc<AuthService>,
        ports: AdminPorts,
        algorithm: Algorithm,
        key_policy: KeyPolicy,
    ) -> Self {
        Self {
            auth,
            ports,
            algorithm,
            key_policy,
        }
    }

    pub(super) fn now(&self) -> OffsetDateTime {
        self.auth.now()
    }

    /// Checks `Authorization: Bearer wxa_…`: a live key, by its hash.
    pub async fn authenticate(&self, presented: &str) -> Result<AdminPrincipal, AuthError> {
        if !presented.starts_with("wxa_") || presented.len() > 128 {
            return Err(AuthError::AdminUnauthenticated);
        }
        let hash = HandleHash::of(presented);
        let key = self
            .ports
            .keys
            .live_admin_key(&hash.0)
            .await?
            .ok_or(AuthError::AdminUnauthenticated)?;
        Ok(AdminPrincipal::new(key.name, key.id, key.scopes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_keys_are_prefixed_and_stored_as_hashes() {
        let now = OffsetDateTime::now_utc();
        let (key, record) = new_admin_key("ops", vec![Scope::UsersRead], now).unwrap();
        assert!(key.starts_with("wxa_") && key.len() == 4 + 43);
        assert_eq!(record.hash, HandleHash::of(&key).0);
        assert!(new_admin_key("bad name", vec![Scope::UsersRead], now).is_err());
        assert!(new_admin_key("ops", vec![], now).is_err());
    }
}
