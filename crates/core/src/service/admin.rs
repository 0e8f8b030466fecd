//! The admin API's use cases: admin keys and scopes, user search and detail, changes,
//! deletion, sign-out, unbinding, stats, import, events and signing keys.
//!
//! [`AdminService`] shares the [`AuthService`]'s sealer, phone index and key ring, so a phone
//! searched here hashes as a verified one does and a rotation shows in the JWKS at once.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use super::AuthService;
use super::admin_views::*;
use crate::admin::{
    AdminKeyRecord, AdminKeyStore, AdminStore, Scope, UnbindOutcome, UpdateOutcome, UserChange,
    UserDetail, UserQuery,
};
use crate::cause::{Cause, chain};
use crate::crypto::{Handle, HandleHash};
use crate::error::AuthError;
use crate::events::{DeliveryStatus, EventQuery, EventRecord, EventStore, EventType};
use crate::ids::{AppId, EventId, ExternalId, FamilyId, OpenId, UnionId, UserId};
use crate::phone::Phone;
use crate::ports::KeyStore;
use crate::service::Profile;
use crate::tokens::{Algorithm, KeyPolicy, KeyRing, schedule};

pub use super::import::Importer;

/// Most rows of one import request.
pub const MAX_IMPORT_ROWS: usize = 1000;

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

/// `GET /admin/v1/users` parameters, as sent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserSearch {
    /// E.164, or 11 digits taken as +86.
    pub phone: Option<String>,
    /// An openid in any app.
    pub openid: Option<String>,
    /// A unionid.
    pub unionid: Option<String>,
    /// The operator's id.
    pub external_id: Option<String>,
    /// Nickname substring.
    pub q: Option<String>,
    /// 1-200 (50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

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
pub(super) fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
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

/// `GET /admin/v1/events` parameters, as sent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EventSearch {
    /// Only events after this id.
    pub after: Option<String>,
    /// Only this type.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Only this user's.
    pub user_id: Option<String>,
    /// Only events with a delivery in this status (`dead`: dead letters).
    pub delivery: Option<String>,
    /// 1-1000 (100).
    pub limit: Option<u32>,
    /// Only events before this id (the console's paging; not an API parameter).
    #[serde(skip)]
    pub before: Option<String>,
    /// Newest first (the console's order; not an API parameter).
    #[serde(skip)]
    pub newest_first: bool,
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

pub(super) fn rfc3339(t: OffsetDateTime) -> Result<String, AuthError> {
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

    /// Users matching `search`, newest first, a page at a time.
    pub async fn search(
        &self,
        who: &AdminPrincipal,
        search: UserSearch,
    ) -> Result<UsersPageView, AuthError> {
        who.require(Scope::UsersRead)?;
        let limit = search.limit.unwrap_or(50);
        if !(1..=200).contains(&limit) {
            return Err(invalid("limit must be 1-200"));
        }
        let before = match search.cursor.as_deref() {
            None | Some("") => None,
            Some(c) => Some(decode_cursor(c).ok_or_else(|| invalid("cursor is malformed"))?),
        };
        let phone_hash = match search.phone.as_deref() {
            None | Some("") => None,
            Some(raw) => Some(
                self.auth
                    .phone_index
                    .hash(&Phone::parse_input(raw)?.phone_number),
            ),
        };
        let parse =
            |raw: Option<String>, what: &'static str| -> Result<Option<String>, AuthError> {
                match raw {
                    None => Ok(None),
                    Some(s) if s.is_empty() => Ok(None),
                    Some(s) if s.len() > 128 => Err(invalid(what)),
                    Some(s) => Ok(Some(s)),
                }
            };
        let openid = parse(search.openid, "openid is malformed")?
            .map(OpenId::parse)
            .transpose()
            .map_err(|_| invalid("openid is malformed"))?;
        let unionid = parse(search.unionid, "unionid is malformed")?
            .map(UnionId::parse)
            .transpose()
            .map_err(|_| invalid("unionid is malformed"))?;
        let external_id = parse(search.external_id, "external_id is malformed")?
            .map(ExternalId::parse)
            .transpose()
            .map_err(|_| invalid("external_id is malformed"))?;
        let nickname_contains = parse(search.q, "q is at most 128 bytes")?;
        let query = UserQuery {
            phone_hash,
            openid,
            unionid,
            external_id,
            nickname_contains,
            before,
            // One more than asked: whether there is a next page, without a count.
            limit: limit + 1,
        };
        let mut found = self.ports.users.search_users(&query).await?;
        let more = found.len() > limit as usize;
        found.truncate(limit as usize);
        let next_cursor = more
            .then(|| found.last().map(|u| encode_cursor(&u.id)))
            .flatten();
        let now = self.now();
        let mut users = Vec::with_capacity(found.len());
        for user in found {
            // A user deleted between the search and this read is left out of the page.
            if let Some(detail) = self.ports.users.user_detail(&user.id, now).await? {
                users.push(self.user_view(who, detail)?);
            }
        }
        Ok(UsersPageView { users, next_cursor })
    }

    /// One user.
    pub async fn user(
        &self,
        who: &AdminPrincipal,
        id: &str,
    ) -> Result<AdminUserEnvelope, AuthError> {
        who.require(Scope::UsersRead)?;
        let detail = self.detail(id).await?;
        Ok(AdminUserEnvelope {
            user: self.user_view(who, detail)?,
        })
    }

    async fn detail(&self, id: &str) -> Result<UserDetail, AuthError> {
        let id = UserId::parse(id).map_err(|_| AuthError::UserNotFound)?;
        self.ports
            .users
            .user_detail(&id, self.now())
            .await?
            .ok_or(AuthError::UserNotFound)
    }

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

    /// Counts.
    pub async fn stats(&self, who: &AdminPrincipal) -> Result<StatsView, AuthError> {
        who.require(Scope::UsersRead)?;
        let s = self.ports.users.stats(self.now()).await?;
        Ok(StatsView {
            users: s.users,
            registrations_24h: s.registrations_24h,
            logins_24h: s.logins_24h,
            disabled: s.disabled,
        })
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

    /// Events, oldest first.
    pub async fn events(
        &self,
        who: &AdminPrincipal,
        search: EventSearch,
    ) -> Result<EventsView, AuthError> {
        who.require(Scope::EventsRead)?;
        let limit = search.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(invalid("limit must be 1-1000"));
        }
        let after = match search.after.as_deref() {
            None | Some("") => None,
            Some(raw) => Some(EventId::parse(raw).map_err(|_| invalid("after is malformed"))?),
        };
        let kind = match search.kind.as_deref() {
            None | Some("") => None,
            Some(raw) => Some(EventType::parse(raw).ok_or_else(|| invalid("unknown event type"))?),
        };
        let user_id = match search.user_id.as_deref() {
            None | Some("") => None,
            Some(raw) => Some(UserId::parse(raw).map_err(|_| invalid("user_id is malformed"))?),
        };
        let delivery = match search.delivery.as_deref() {
            None | Some("") => None,
            Some(raw) => Some(
                DeliveryStatus::parse(raw)
                    .ok_or_else(|| invalid("delivery is pending, delivered or dead"))?,
            ),
        };
        let before = match search.before.as_deref() {
            None | Some("") => None,
            Some(raw) => Some(EventId::parse(raw).map_err(|_| invalid("before is malformed"))?),
        };
        let query = EventQuery {
            after,
            before,
            newest_first: search.newest_first,
            kind,
            user_id,
            delivery,
            limit,
        };
        let events =
            self.ports.events.events(&query).await?.ok_or_else(|| {
                invalid("after or before names no event (never written, or purged)")
            })?;
        let pii = who.has(Scope::UsersPii);
        Ok(EventsView {
            events: events
                .into_iter()
                .map(|e| event_view(e, pii))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Makes an event's dead deliveries pending again.
    pub async fn redeliver(&self, who: &AdminPrincipal, id: &str) -> Result<EventView, AuthError> {
        who.require(Scope::EventsRead)?;
        let id =
            EventId::parse(id).map_err(|_| AuthError::InvalidRequest("no such event".into()))?;
        self.ports.events.redeliver(&id, self.now()).await?;
        let event = self
            .ports
            .events
            .event(&id)
            .await?
            .ok_or_else(|| AuthError::InvalidRequest("no such event".into()))?;
        event_view(event, who.has(Scope::UsersPii))
    }

    /// The signing keys with their states.
    pub async fn keys(&self, _who: &AdminPrincipal) -> Result<KeysView, AuthError> {
        let records = self.ports.signing.signing_keys().await?;
        let sealer = self.auth.sealer();
        let mut keys = Vec::new();
        for k in schedule(records, &self.key_policy, self.now()) {
            let state = match k.state {
                crate::tokens::KeyState::Retired => continue,
                s => s.as_str(),
            };
            let alg = crate::tokens::open_record(&k.record, &sealer)
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

    fn user_view(
        &self,
        who: &AdminPrincipal,
        detail: UserDetail,
    ) -> Result<AdminUserView, AuthError> {
        let pii = who.has(Scope::UsersPii);
        let phone = self.auth.open_user_phone(&detail.user)?;
        let user = detail.user;
        Ok(AdminUserView {
            user_id: user.id.to_string(),
            nickname: user.nickname,
            avatar_url: user.avatar_url,
            phone_masked: phone.masked(),
            phone: pii.then(|| phone.phone_number.clone()),
            external_id: user.external_id.map(String::from),
            status: if user.disabled { "disabled" } else { "active" },
            created_at: rfc3339(user.created_at)?,
            last_login_at: user.last_login_at.map(rfc3339).transpose()?,
            identities: detail
                .identities
                .into_iter()
                .map(|i| {
                    Ok(AdminIdentityView {
                        appid: i.identity.appid.to_string(),
                        openid: pii.then(|| i.identity.openid.to_string()),
                        has_unionid: i.identity.unionid.is_some(),
                        bound_at: rfc3339(i.bound_at)?,
                    })
                })
                .collect::<Result<_, AuthError>>()?,
            live_sessions: detail.live_sessions,
        })
    }
}

pub(super) fn event_view(e: EventRecord, pii: bool) -> Result<EventView, AuthError> {
    Ok(EventView {
        id: e.id.to_string(),
        kind: e.kind.as_str(),
        timestamp: rfc3339(e.at)?,
        data: EventDataView {
            user_id: e.user_id.to_string(),
            external_id: e.external_id.map(String::from),
            appid: e.appid.map(String::from),
            openid: e.openid.filter(|_| pii).map(String::from),
            source: e.source.map(|s| s.as_str()),
        },
        deliveries: e
            .deliveries
            .into_iter()
            .map(|d| {
                Ok(DeliveryView {
                    endpoint: d.endpoint,
                    status: d.status.as_str(),
                    attempts: d.attempts,
                    next_attempt_at: d.next_attempt_at.map(rfc3339).transpose()?,
                    last_error: d.last_error,
                })
            })
            .collect::<Result<_, AuthError>>()?,
    })
}

/// The cursor is the last user id of the page, base64url so that clients treat it as opaque.
fn encode_cursor(id: &UserId) -> String {
    URL_SAFE_NO_PAD.encode(id.as_str())
}

fn decode_cursor(cursor: &str) -> Option<UserId> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    UserId::parse(String::from_utf8(bytes).ok()?).ok()
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
    fn cursors_round_trip_and_refuse_garbage() {
        let id = UserId::generate();
        assert_eq!(decode_cursor(&encode_cursor(&id)), Some(id));
        assert_eq!(decode_cursor("!!"), None);
        assert_eq!(decode_cursor(""), None);
    }

    #[test]
    fn patch_tells_absent_from_null() {
        let p: AdminUserPatch = serde_json::from_str(r#"{"nickname": null}"#).unwrap();
        assert_eq!(p.nickname, Some(None));
        assert_eq!(p.avatar_url, None);
        let p: AdminUserPatch = serde_json::from_str(r#"{"external_id": "u-1"}"#).unwrap();
        assert_eq!(p.external_id, Some(Some("u-1".into())));
        assert!(serde_json::from_str::<AdminUserPatch>(r#"{"phone": "x"}"#).is_err());
    }

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
