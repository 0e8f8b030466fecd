//! What the admin API, the import and the lookup hook need from storage, and the admin keys.
//!
//! Every method that changes a user writes that change's events in the same transaction
//! (see [`crate::events`]); each method's documentation names them.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::events::UserSource;
use crate::ids::{AppId, ExternalId, FamilyId, OpenId, UnionId, UserId};
use crate::ports::{Identity, NewUser, StoreResult, UserRecord};

/// What an admin key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Search and read users (phones masked, no openids), stats.
    UsersRead,
    /// Change, disable, delete, sign out, unbind and import users.
    UsersWrite,
    /// Full phone numbers and openids in replies.
    UsersPii,
    /// Read events and redeliver dead letters.
    EventsRead,
    /// Rotate the token-signing keys.
    KeysWrite,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Self; 5] = [
        Self::UsersRead,
        Self::UsersWrite,
        Self::UsersPii,
        Self::EventsRead,
        Self::KeysWrite,
    ];

    /// `users:read`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UsersRead => "users:read",
            Self::UsersWrite => "users:write",
            Self::UsersPii => "users:pii",
            Self::EventsRead => "events:read",
            Self::KeysWrite => "keys:write",
        }
    }

    /// The scope named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// An admin key as stored: only the SHA-256 of the key (`wxa_` + 256 random bits, so a plain
/// hash is enough, as for every handle).
#[derive(Debug, Clone)]
pub struct AdminKeyRecord {
    /// Random id.
    pub id: String,
    /// The operator's name for it, shown in logs and `admin-keys list`.
    pub name: String,
    /// SHA-256 of the key.
    pub hash: [u8; 32],
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// Created at.
    pub created_at: OffsetDateTime,
    /// Revoked at, if it was.
    pub revoked_at: Option<OffsetDateTime>,
}

/// Admin keys.
#[async_trait]
pub trait AdminKeyStore: Send + Sync {
    /// Stores a new key, unless a live (unrevoked) key has the same name: `false` then.
    async fn insert_admin_key(&self, key: &AdminKeyRecord) -> StoreResult<bool>;
    /// Every key, revoked ones included, oldest first.
    async fn admin_keys(&self) -> StoreResult<Vec<AdminKeyRecord>>;
    /// The live key with this hash.
    async fn live_admin_key(&self, hash: &[u8; 32]) -> StoreResult<Option<AdminKeyRecord>>;
    /// Revokes the live key named `name`; `false` when there is none.
    async fn revoke_admin_key(&self, name: &str, now: OffsetDateTime) -> StoreResult<bool>;
}

/// A user search. Given filters are and-ed; newest first (by id: user ids are UUIDv7, so id
/// order is creation order), keyset-paged so that concurrent inserts neither repeat nor skip
/// a row.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// [`crate::crypto::PhoneIndex::hash`] of the E.164 number.
    pub phone_hash: Option<[u8; 32]>,
    /// Bound to this openid (any app).
    pub openid: Option<OpenId>,
    /// Bound to an identity with this unionid.
    pub unionid: Option<UnionId>,
    /// This external_id.
    pub external_id: Option<ExternalId>,
    /// Nickname contains this (a literal substring: `%` and `_` match themselves).
    pub nickname_contains: Option<String>,
    /// Only users whose id sorts before this one (the cursor).
    pub before: Option<UserId>,
    /// At most this many.
    pub limit: u32,
}

/// An identity with when it was bound, for the admin API.
#[derive(Debug, Clone)]
pub struct IdentityDetail {
    /// The identity.
    pub identity: Identity,
    /// When it was bound to this user (last moved).
    pub bound_at: OffsetDateTime,
}

/// A user with what the admin API shows of them.
#[derive(Debug, Clone)]
pub struct UserDetail {
    /// The user.
    pub user: UserRecord,
    /// Their identities, oldest binding first.
    pub identities: Vec<IdentityDetail>,
    /// Refresh families neither revoked nor past their last token's expiry at the time of
    /// the read: signed-in devices.
    pub live_sessions: u64,
}

/// A change to a user. `None` leaves a field alone; `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    /// New nickname.
    pub nickname: Option<Option<String>>,
    /// New avatar URL.
    pub avatar_url: Option<Option<String>>,
    /// New external_id.
    pub external_id: Option<Option<ExternalId>>,
    /// Disable or enable.
    pub disabled: Option<bool>,
}

/// What [`UserChange::apply_profile`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileChanges {
    /// The nickname, the avatar URL or the external_id now differs.
    pub profile: bool,
    /// The external_id now differs (the store checks that nobody else holds it).
    pub external_id: bool,
}

impl UserChange {
    /// Applies the nickname, avatar URL and external_id of this change to `user` (absent
    /// leaves a field alone, `Some(None)` clears it); what changed. `disabled` is left to the
    /// store, which revokes and deletes with it.
    pub fn apply_profile(&self, user: &mut UserRecord) -> ProfileChanges {
        fn set<T: Clone + PartialEq>(field: &mut T, new: Option<&T>) -> bool {
            match new {
                Some(value) if value != field => {
                    field.clone_from(value);
                    true
                }
                _ => false,
            }
        }
        let nickname = set(&mut user.nickname, self.nickname.as_ref());
        let avatar_url = set(&mut user.avatar_url, self.avatar_url.as_ref());
        let external_id = set(&mut user.external_id, self.external_id.as_ref());
        ProfileChanges {
            profile: nickname || avatar_url || external_id,
            external_id,
        }
    }
}

/// What [`AdminStore::update_user`] did.
#[derive(Debug)]
pub enum UpdateOutcome {
    /// Changed (or nothing to change): the user as now stored, and the families that
    /// disabling revoked (for the revocation list).
    Updated {
        /// The user now.
        user: UserRecord,
        /// Families revoked by this change.
        revoked: Vec<FamilyId>,
    },
    /// No such user. Nothing changed.
    NotFound,
    /// Another user has this external_id. Nothing changed.
    ExternalIdTaken,
}

/// What [`AdminStore::create_user`] did.
#[derive(Debug)]
pub enum CreateOutcome {
    /// The user exists now, bound to the identity.
    Created(UserRecord),
    /// Another user has the phone (a concurrent registration won). Nothing changed.
    PhoneTaken,
    /// Another user has the external_id. Nothing changed.
    ExternalIdTaken(UserId),
}

/// One user of an import, sealed and hashed like a registration's.
#[derive(Debug)]
pub struct ImportUser {
    /// The user (`external_id` included; `disabled` false).
    pub user: NewUser,
    /// WeChat identities to bind.
    pub identities: Vec<Identity>,
}

/// What became of one imported user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Created, with `user.imported` and an `identity.bound` per identity.
    Created(UserId),
    /// A user with this phone or external_id exists: nothing changed.
    Existing(UserId),
    /// Refused as a whole: one of its identities is bound to another user.
    IdentityTaken,
}

/// Counts for `GET /admin/v1/stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Users (deleted ones not counted).
    pub users: u64,
    /// Users created in the 24 hours before `now`.
    pub registrations_24h: u64,
    /// Sign-ins (refresh families started) in the 24 hours before `now`.
    pub logins_24h: u64,
    /// Disabled users.
    pub disabled: u64,
}

/// Registrations and sign-ins per period, for the console's charts: what
/// [`AdminStore::activity`] counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Activity {
    /// Users created in each period (users deleted since are not counted).
    pub registrations: Vec<u64>,
    /// Sign-ins (refresh families started) in each period.
    pub sign_ins: Vec<u64>,
}

/// What [`AdminStore::unbind_identity`] did.
#[derive(Debug)]
pub enum UnbindOutcome {
    /// Unbound; the user's families signed in through that app are revoked.
    Unbound {
        /// Families revoked.
        revoked: Vec<FamilyId>,
    },
    /// No such user.
    UserNotFound,
    /// The user has no identity in that app.
    NotBound,
}

/// What [`AdminStore::change_phone`] did.
#[derive(Debug)]
pub enum PhoneChange {
    /// The user has the new phone (the old one is released); `user.phone_changed` written.
    /// Also when the number was already theirs (then nothing is written).
    Changed(UserRecord),
    /// Another user holds the number. Nothing changed.
    PhoneTaken,
    /// No such user.
    UserNotFound,
}

/// A signed-in device or an open mini-program session, as an export shows it: never a handle
/// or a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    /// Through which app.
    pub appid: AppId,
    /// Opened at.
    pub created_at: OffsetDateTime,
    /// Dead after (a family: its newest refresh token's expiry).
    pub expires_at: OffsetDateTime,
}

/// What `GET /v1/me/export` reads, besides the user and their events.
#[derive(Debug, Clone, Default)]
pub struct Holdings {
    /// Live refresh families (signed-in devices).
    pub families: Vec<SessionSummary>,
    /// Live mini-program sessions of the user's identities held in the database (sessions
    /// kept in Redis are not listed: they are keyed by handle only).
    pub sessions: Vec<SessionSummary>,
}

/// Users as an operator manages them.
#[async_trait]
pub trait AdminStore: Send + Sync {
    /// Users matching `query`, newest first.
    async fn search_users(&self, query: &UserQuery) -> StoreResult<Vec<UserRecord>>;
    /// One user with identities and live sessions.
    async fn user_detail(
        &self,
        id: &UserId,
        now: OffsetDateTime,
    ) -> StoreResult<Option<UserDetail>>;
    /// Applies `change`. Writes `user.updated` when nickname, avatar or external_id changed,
    /// `user.disabled` / `user.enabled` when the status changed. Disabling revokes every
    /// family of the user and deletes the mini-program sessions of their identities.
    async fn update_user(
        &self,
        id: &UserId,
        change: &UserChange,
        now: OffsetDateTime,
    ) -> StoreResult<UpdateOutcome>;
    /// Deletes the account: writes `user.deleted` (with the external_id it had), erases
    /// openid and unionid from the user's stored events, deletes identities, sessions of those
    /// identities, refresh families and tokens, and the user row (phone and profile), and
    /// keeps a tombstone (id, deleted_at). `None` when there is no such user; otherwise the
    /// families that were live (for the revocation list).
    async fn delete_user(
        &self,
        id: &UserId,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Vec<FamilyId>>>;
    /// Signs the user out everywhere: revokes every family, writes `session.revoked`. `None`
    /// when there is no such user; otherwise every family id of the user.
    async fn revoke_sessions(
        &self,
        id: &UserId,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Vec<FamilyId>>>;
    /// Unbinds the user's identities in `appid` (one `identity.unbound` each) and revokes the
    /// families signed in through that app.
    async fn unbind_identity(
        &self,
        id: &UserId,
        appid: &AppId,
        now: OffsetDateTime,
    ) -> StoreResult<UnbindOutcome>;
    /// The counts of [`Stats`] at `now`.
    async fn stats(&self, now: OffsetDateTime) -> StoreResult<Stats>;
    /// Registrations (`users.created_at`) and sign-ins (`refresh_families.created_at`) in
    /// `buckets` consecutive periods of `bucket` from `since`: period `i` holds the rows
    /// created in `[since + i * bucket, since + (i + 1) * bucket)`. Both vectors have
    /// `buckets` entries. `bucket` is whole seconds, at least one.
    async fn activity(
        &self,
        since: OffsetDateTime,
        bucket: std::time::Duration,
        buckets: u32,
    ) -> StoreResult<Activity>;
    /// Creates a user without a ticket (the lookup hook): user, identity binding,
    /// `user.registered` with `source`, and `identity.bound`, in one transaction.
    async fn create_user(
        &self,
        user: NewUser,
        identity: &Identity,
        source: UserSource,
        now: OffsetDateTime,
    ) -> StoreResult<CreateOutcome>;
    /// Gives the user a new phone (hash and sealed number), releasing the old one, and writes
    /// `user.phone_changed`; refuses a number another user holds.
    async fn change_phone(
        &self,
        id: &UserId,
        phone_hash: &[u8; 32],
        phone_sealed: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<PhoneChange>;
    /// The user's live families and database-held sessions at `now`, oldest first.
    async fn holdings(&self, id: &UserId, now: OffsetDateTime) -> StoreResult<Holdings>;
    /// Imports users in one transaction (the caller keeps batches to ~1,000), idempotent by
    /// phone and external_id; one outcome per user, in order.
    async fn import_users(
        &self,
        users: Vec<ImportUser>,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<ImportOutcome>>;
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::{ProfileChanges, UserChange};
    use crate::ids::{ExternalId, UserId};
    use crate::ports::UserRecord;

    #[test]
    fn a_profile_change_sets_clears_or_leaves_each_field_and_says_what_moved() {
        let mut user = UserRecord {
            id: UserId::generate(),
            phone_sealed: Vec::new(),
            nickname: Some("alice".into()),
            avatar_url: Some("https://a.example/1.png".into()),
            created_at: OffsetDateTime::UNIX_EPOCH,
            external_id: Some(ExternalId::parse("crm-1").unwrap()),
            disabled: false,
            last_login_at: None,
        };
        let same = UserChange {
            nickname: Some(Some("alice".into())),
            disabled: Some(true),
            ..UserChange::default()
        };
        let none = ProfileChanges {
            profile: false,
            external_id: false,
        };
        assert_eq!(same.apply_profile(&mut user), none);
        assert!(!user.disabled, "disabling is the store's");

        let change = UserChange {
            avatar_url: Some(None),
            ..UserChange::default()
        };
        let profile = ProfileChanges {
            profile: true,
            external_id: false,
        };
        assert_eq!(change.apply_profile(&mut user), profile);
        assert_eq!(user.avatar_url, None);
        assert_eq!(user.nickname.as_deref(), Some("alice"));

        let change = UserChange {
            external_id: Some(None),
            ..UserChange::default()
        };
        let both = ProfileChanges {
            profile: true,
            external_id: true,
        };
        assert_eq!(change.apply_profile(&mut user), both);
        assert_eq!(user.external_id, None);
    }
}
