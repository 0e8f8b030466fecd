//! [`MemoryStore`]: the durable ports in one process, as the SQL store behaves.
//!
//! One mutex holds all the state; every port method takes it once and does its whole unit
//! under it, checking every constraint before changing anything. So each method is atomic
//! (all or nothing, like the SQL store's transactions) and concurrent calls serialise (of
//! many rotations of one token, one wins). The tables mirror the SQL schema's, with its
//! unique keys and foreign keys checked by hand; see `ports.rs` for what each method does.
//!
//! * `login.rs`: [`UserStore`], [`SessionStore`], [`RefreshStore`].
//! * `admin.rs`: the parts of [`AdminStore`] the login flow uses, and [`EventStore`]'s reads.
//!
//! [`UserStore`]: wxlogin_core::ports::UserStore
//! [`SessionStore`]: wxlogin_core::ports::SessionStore
//! [`RefreshStore`]: wxlogin_core::ports::RefreshStore
//! [`AdminStore`]: wxlogin_core::admin::AdminStore
//! [`EventStore`]: wxlogin_core::events::EventStore

mod admin;
mod login;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use time::OffsetDateTime;
use wxlogin_core::crypto::HandleHash;
use wxlogin_core::events::{EventRecord, EventType, UserSource};
use wxlogin_core::ids::{AppId, EventId, ExternalId, FamilyId, OpenId, UserId};
use wxlogin_core::ports::{
    FamilyRecord, Identity, RefreshRecord, SessionKeys, SessionRecord, StoreResult, TicketRecord,
    UserRecord,
};

use super::{Failure, store_error};

/// The durable ports in memory. Cloning gives another handle on the same data (as a second
/// instance on one database), so a test keeps one and gives the service the other.
#[derive(Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("MemoryStore")
            .field("users", &state.users.len())
            .field("families", &state.families.len())
            .finish_non_exhaustive()
    }
}

/// A registration ticket and whether it was used.
#[derive(Clone)]
pub struct TicketState {
    /// As stored.
    pub ticket: TicketRecord,
    /// When registration consumed it.
    pub used_at: Option<OffsetDateTime>,
}

/// A refresh family and whether it was revoked.
#[derive(Debug, Clone)]
pub struct FamilyState {
    /// As stored.
    pub family: FamilyRecord,
    /// When it was revoked (logout, reuse, disabling).
    pub revoked_at: Option<OffsetDateTime>,
}

/// A refresh token, its family and whether it was used.
#[derive(Debug, Clone)]
pub struct TokenState {
    /// As stored.
    pub token: RefreshRecord,
    /// The family it is stored in.
    pub family_id: FamilyId,
    /// When it was rotated.
    pub used_at: Option<OffsetDateTime>,
}

/// A user row: the record and its phone hash (unique).
#[derive(Clone)]
struct UserRow {
    user: UserRecord,
    phone_hash: [u8; 32],
}

/// An identity row, keyed by (appid, openid).
#[derive(Clone)]
struct IdentityRow {
    identity: Identity,
    user_id: UserId,
    /// First bound; kept when the identity moves.
    created_at: OffsetDateTime,
    /// Bound to its current user (`bound_at`).
    updated_at: OffsetDateTime,
}

#[derive(Default)]
struct State {
    users: BTreeMap<UserId, UserRow>,
    identities: BTreeMap<(AppId, OpenId), IdentityRow>,
    tickets: HashMap<HandleHash, TicketState>,
    sessions: HashMap<HandleHash, SessionRecord>,
    session_keys: HashMap<(AppId, OpenId), SessionKeys>,
    families: BTreeMap<FamilyId, FamilyState>,
    tokens: HashMap<HandleHash, TokenState>,
    events: Vec<EventRecord>,
    /// Methods whose next call fails (by name), for outage tests.
    fail_next: HashSet<&'static str>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock leaves consistent data: every unit
        // checks before it changes anything.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes the lock for port method `op`: its unit runs under the guard. Fails with
    /// `StoreError::Unavailable` if the test asked `op` to fail once ([`Self::fail_next`]).
    fn unit(&self, op: &'static str) -> StoreResult<MutexGuard<'_, State>> {
        let mut state = self.lock();
        if state.fail_next.remove(op) {
            return Err(store_error(
                Failure::Unavailable,
                format!("{op}: the test made it fail"),
            ));
        }
        Ok(state)
    }

    /// Makes the next call of the port method named `op` (`"record_login"`, `"register"`, …)
    /// fail as an unreachable database does, changing nothing. Later calls succeed.
    pub fn fail_next(&self, op: &'static str) {
        self.lock().fail_next.insert(op);
    }

    /// Every user, oldest id first.
    pub fn users(&self) -> Vec<UserRecord> {
        self.lock().users.values().map(|r| r.user.clone()).collect()
    }

    /// The identities bound to `user`, first bound first.
    pub fn identities_of(&self, user: &UserId) -> Vec<Identity> {
        let state = self.lock();
        let mut rows: Vec<&IdentityRow> = state.bound_to(user).collect();
        rows.sort_by_key(|r| r.created_at);
        rows.into_iter().map(|r| r.identity.clone()).collect()
    }

    /// Every stored mini-program session, expired ones too.
    pub fn sessions(&self) -> Vec<SessionRecord> {
        self.lock().sessions.values().cloned().collect()
    }

    /// The registration ticket with this hash, used or not.
    pub fn ticket(&self, hash: &HandleHash) -> Option<TicketState> {
        self.lock().tickets.get(hash).cloned()
    }

    /// Every registration ticket, used or not.
    pub fn tickets(&self) -> Vec<TicketState> {
        self.lock().tickets.values().cloned().collect()
    }

    /// Every refresh family of `user`, revoked ones too, by id.
    pub fn families_of(&self, user: &UserId) -> Vec<FamilyState> {
        let state = self.lock();
        let families = state.families.values();
        families
            .filter(|f| f.family.user_id == *user)
            .cloned()
            .collect()
    }

    /// The refresh tokens stored in `family`, oldest first.
    pub fn tokens_of(&self, family: &FamilyId) -> Vec<TokenState> {
        let state = self.lock();
        let mut tokens: Vec<TokenState> = (state.tokens.values())
            .filter(|t| t.family_id == *family)
            .cloned()
            .collect();
        tokens.sort_by_key(|t| t.token.created_at);
        tokens
    }

    /// The types of every event written, oldest first: `["user.registered", …]`.
    pub fn event_kinds(&self) -> Vec<&'static str> {
        self.lock().events.iter().map(|e| e.kind.as_str()).collect()
    }
}

impl State {
    fn bound_to<'a>(&'a self, user: &'a UserId) -> impl Iterator<Item = &'a IdentityRow> + 'a {
        self.identities.values().filter(move |r| r.user_id == *user)
    }

    fn user_row(&self, id: &UserId) -> StoreResult<&UserRow> {
        self.users.get(id).ok_or_else(|| {
            store_error(
                Failure::Other,
                "FOREIGN KEY constraint failed: no such user",
            )
        })
    }

    fn external_id_of(&self, user: &UserId) -> Option<ExternalId> {
        self.users
            .get(user)
            .and_then(|r| r.user.external_id.clone())
    }

    fn phone_holder(&self, phone_hash: &[u8; 32]) -> Option<&UserRow> {
        self.users.values().find(|r| r.phone_hash == *phone_hash)
    }

    /// Fails for a taken user id, an error in the SQL store too. (A taken phone or
    /// external_id is a value, which each caller checks and answers itself.)
    fn check_new_user(&self, new: &UserRow) -> StoreResult<()> {
        if self.users.contains_key(&new.user.id) {
            return Err(store_error(
                Failure::Other,
                "UNIQUE constraint failed: users.id",
            ));
        }
        Ok(())
    }

    fn external_id_holder(&self, external_id: Option<&ExternalId>) -> Option<UserId> {
        let external_id = external_id?;
        let mut users = self.users.values();
        users
            .find(|r| r.user.external_id.as_ref() == Some(external_id))
            .map(|r| r.user.id.clone())
    }

    /// Binds (appid, openid) to `user`, moving it from any other user; a known unionid is
    /// kept when `identity` has none. `bind`'s upsert in the SQL store.
    fn upsert_identity(&mut self, user: &UserId, identity: &Identity, now: OffsetDateTime) {
        let key = (identity.appid.clone(), identity.openid.clone());
        match self.identities.get_mut(&key) {
            Some(row) => {
                row.user_id = user.clone();
                if identity.unionid.is_some() {
                    row.identity.unionid.clone_from(&identity.unionid);
                }
                row.updated_at = now;
            }
            None => {
                let row = IdentityRow {
                    identity: identity.clone(),
                    user_id: user.clone(),
                    created_at: now,
                    updated_at: now,
                };
                self.identities.insert(key, row);
            }
        }
    }

    /// Appends an event, numbered after the last one, carrying the user's external_id now.
    fn event(
        &mut self,
        kind: EventType,
        user: &UserId,
        identity: Option<&Identity>,
        source: Option<UserSource>,
        at: OffsetDateTime,
    ) {
        let seq = self.events.last().map_or(1, |e| e.seq + 1);
        let record = EventRecord {
            seq,
            id: EventId::generate(),
            kind,
            user_id: user.clone(),
            external_id: self.external_id_of(user),
            appid: identity.map(|i| i.appid.clone()),
            openid: identity.map(|i| i.openid.clone()),
            unionid: identity.and_then(|i| i.unionid.clone()),
            source,
            at,
            deliveries: Vec::new(),
        };
        self.events.push(record);
    }

    /// Checks that `family` and its first token can be stored: a new family id and token
    /// hash, and an existing user.
    fn check_new_family(&self, family: &FamilyRecord, first: &RefreshRecord) -> StoreResult<()> {
        self.user_row(&family.user_id)?;
        if self.families.contains_key(&family.id) {
            return Err(store_error(
                Failure::Other,
                "UNIQUE constraint failed: refresh_families.id",
            ));
        }
        self.check_new_token(first)
    }

    fn check_new_token(&self, token: &RefreshRecord) -> StoreResult<()> {
        if self.tokens.contains_key(&token.hash) {
            return Err(store_error(
                Failure::Other,
                "UNIQUE constraint failed: refresh_tokens.hash",
            ));
        }
        Ok(())
    }

    /// A sign-in: the user's `last_login_at` becomes `at`, then the family and its first
    /// token. Checked by [`Self::check_new_family`] first.
    fn sign_in(&mut self, family: &FamilyRecord, first: &RefreshRecord, at: OffsetDateTime) {
        if let Some(row) = self.users.get_mut(&family.user_id) {
            row.user.last_login_at = Some(at);
        }
        let state = FamilyState {
            family: family.clone(),
            revoked_at: None,
        };
        self.families.insert(family.id.clone(), state);
        self.insert_token(&family.id, first);
    }

    fn insert_token(&mut self, family_id: &FamilyId, token: &RefreshRecord) {
        let state = TokenState {
            token: token.clone(),
            family_id: family_id.clone(),
            used_at: None,
        };
        self.tokens.insert(token.hash, state);
    }

    /// The user's identity in `appid` as `identity_in_app` reads it: the latest bound (by
    /// first binding), then the lowest openid.
    fn identity_in_app(&self, user: &UserId, appid: &AppId) -> Option<Identity> {
        self.bound_to(user)
            .filter(|r| r.identity.appid == *appid)
            .max_by(|a, b| {
                (a.created_at.cmp(&b.created_at))
                    .then_with(|| b.identity.openid.cmp(&a.identity.openid))
            })
            .map(|r| r.identity.clone())
    }

    /// Revokes every active family of `user` at `now`; the ids it revoked.
    fn revoke_families_of(&mut self, user: &UserId, now: OffsetDateTime) -> Vec<FamilyId> {
        let mut revoked = Vec::new();
        for state in self.families.values_mut() {
            if state.family.user_id == *user && state.revoked_at.is_none() {
                state.revoked_at = Some(now);
                revoked.push(state.family.id.clone());
            }
        }
        revoked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{at, h, identity, ticket};
    use wxlogin_core::ports::{StoreError, UserStore};

    #[tokio::test]
    async fn a_method_made_to_fail_fails_once_as_unavailable_and_changes_nothing() {
        let store = MemoryStore::new();
        let me = identity("wx1", "o-1", None);
        store.fail_next("put_ticket");

        let failed = store.put_ticket(&ticket("t1", &me)).await;
        let retried = store.put_ticket(&ticket("t1", &me)).await;

        assert!(
            matches!(failed, Err(StoreError::Unavailable { .. })),
            "{failed:?}"
        );
        assert!(retried.is_ok(), "{retried:?}");
        assert_eq!(store.tickets().len(), 1, "the failed call stored nothing");
        assert!(store.live_ticket(&h("t1"), at(1)).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn clones_share_one_state_like_instances_on_one_database() {
        let (a, b) = (MemoryStore::new(), MemoryStore::new());
        let a2 = a.clone();
        a.put_ticket(&ticket("t1", &identity("wx1", "o-1", None)))
            .await
            .unwrap();
        assert_eq!((a2.tickets().len(), b.tickets().len()), (1, 0));
    }
}
