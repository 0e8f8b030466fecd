//! [`AdminStore`] and [`EventStore`] on [`MemoryStore`], as far as the login flow and its
//! tests use them: a user's detail, changes (disabling above all), lookup-hook creation, and
//! reading the events written. The rest answers an error naming the method, so a test that
//! needs it finds out at once.

use async_trait::async_trait;
use time::OffsetDateTime;
use wxlogin_core::admin::{
    Activity, AdminStore, CreateOutcome, Holdings, IdentityDetail, ImportOutcome, ImportUser,
    PhoneChange, Stats, UnbindOutcome, UpdateOutcome, UserChange, UserDetail, UserQuery,
};
use wxlogin_core::events::{
    Delivery, DeliveryResult, EventQuery, EventRecord, EventStore, EventType, Subscription,
    UserSource,
};
use wxlogin_core::ids::{AppId, EventId, FamilyId, UserId};
use wxlogin_core::ports::{Identity, NewUser, StoreResult};

use super::{MemoryStore, UserRow};
use crate::fakes::{Failure, store_error};

/// The error of a method the fake leaves out.
fn not_faked<T>(method: &str) -> StoreResult<T> {
    Err(store_error(
        Failure::Other,
        format!("MemoryStore does not implement {method}"),
    ))
}

#[async_trait]
impl AdminStore for MemoryStore {
    async fn search_users(
        &self,
        _query: &UserQuery,
    ) -> StoreResult<Vec<wxlogin_core::ports::UserRecord>> {
        not_faked("AdminStore::search_users")
    }

    async fn user_detail(
        &self,
        id: &UserId,
        now: OffsetDateTime,
    ) -> StoreResult<Option<UserDetail>> {
        let state = self.unit("user_detail")?;
        let Some(row) = state.users.get(id) else {
            return Ok(None);
        };
        let mut identities: Vec<IdentityDetail> = state
            .bound_to(id)
            .map(|r| IdentityDetail {
                identity: r.identity.clone(),
                bound_at: r.updated_at,
            })
            .collect();
        identities.sort_by(|a, b| {
            (a.bound_at, &a.identity.appid, &a.identity.openid).cmp(&(
                b.bound_at,
                &b.identity.appid,
                &b.identity.openid,
            ))
        });
        // Signed-in devices: active families with a token not yet expired.
        let live = (state.families.values())
            .filter(|f| f.family.user_id == *id && f.revoked_at.is_none())
            .filter(|f| {
                (state.tokens.values())
                    .any(|t| t.family_id == f.family.id && t.token.expires_at > now)
            })
            .count();
        Ok(Some(UserDetail {
            user: row.user.clone(),
            identities,
            live_sessions: u64::try_from(live).unwrap_or(u64::MAX),
        }))
    }

    async fn update_user(
        &self,
        id: &UserId,
        change: &UserChange,
        now: OffsetDateTime,
    ) -> StoreResult<UpdateOutcome> {
        let mut state = self.unit("update_user")?;
        let Some(mut user) = state.users.get(id).map(|r| r.user.clone()) else {
            return Ok(UpdateOutcome::NotFound);
        };
        let changed = change.apply_profile(&mut user);
        if changed.external_id
            && state
                .external_id_holder(user.external_id.as_ref())
                .is_some_and(|holder| holder != *id)
        {
            return Ok(UpdateOutcome::ExternalIdTaken);
        }
        let status = change.disabled.filter(|d| *d != user.disabled);
        user.disabled = status.unwrap_or(user.disabled);
        if let Some(row) = state.users.get_mut(id) {
            row.user = user.clone();
        }
        if changed.profile {
            state.event(EventType::UserUpdated, id, None, None, now);
        }
        let mut revoked = Vec::new();
        match status {
            Some(true) => {
                // Disabling signs the user out everywhere and closes their sessions.
                revoked = state.revoke_families_of(id, now);
                let identities: Vec<Identity> =
                    state.bound_to(id).map(|r| r.identity.clone()).collect();
                state.sessions.retain(|_, s| {
                    !identities
                        .iter()
                        .any(|i| i.appid == s.identity.appid && i.openid == s.identity.openid)
                });
                state.event(EventType::UserDisabled, id, None, None, now);
            }
            Some(false) => state.event(EventType::UserEnabled, id, None, None, now),
            None => {}
        }
        Ok(UpdateOutcome::Updated { user, revoked })
    }

    async fn delete_user(
        &self,
        _id: &UserId,
        _now: OffsetDateTime,
    ) -> StoreResult<Option<Vec<FamilyId>>> {
        not_faked("AdminStore::delete_user")
    }

    async fn revoke_sessions(
        &self,
        _id: &UserId,
        _now: OffsetDateTime,
    ) -> StoreResult<Option<Vec<FamilyId>>> {
        not_faked("AdminStore::revoke_sessions")
    }

    async fn unbind_identity(
        &self,
        _id: &UserId,
        _appid: &AppId,
        _now: OffsetDateTime,
    ) -> StoreResult<UnbindOutcome> {
        not_faked("AdminStore::unbind_identity")
    }

    async fn stats(&self, _now: OffsetDateTime) -> StoreResult<Stats> {
        not_faked("AdminStore::stats")
    }

    async fn activity(
        &self,
        _since: OffsetDateTime,
        _bucket: std::time::Duration,
        _buckets: u32,
    ) -> StoreResult<Activity> {
        not_faked("AdminStore::activity")
    }

    async fn create_user(
        &self,
        user: NewUser,
        identity: &Identity,
        source: UserSource,
        now: OffsetDateTime,
    ) -> StoreResult<CreateOutcome> {
        let mut state = self.unit("create_user")?;
        if state.phone_holder(&user.phone_hash).is_some() {
            return Ok(CreateOutcome::PhoneTaken);
        }
        if let Some(holder) = state.external_id_holder(user.user.external_id.as_ref()) {
            return Ok(CreateOutcome::ExternalIdTaken(holder));
        }
        let row = UserRow {
            user: user.user,
            phone_hash: user.phone_hash,
        };
        state.check_new_user(&row)?;
        let record = row.user.clone();
        state.users.insert(record.id.clone(), row);
        state.upsert_identity(&record.id, identity, now);
        let id = &record.id;
        state.event(
            EventType::UserRegistered,
            id,
            Some(identity),
            Some(source),
            now,
        );
        state.event(EventType::IdentityBound, id, Some(identity), None, now);
        Ok(CreateOutcome::Created(record))
    }

    async fn change_phone(
        &self,
        _id: &UserId,
        _phone_hash: &[u8; 32],
        _phone_sealed: &[u8],
        _now: OffsetDateTime,
    ) -> StoreResult<PhoneChange> {
        not_faked("AdminStore::change_phone")
    }

    async fn holdings(&self, _id: &UserId, _now: OffsetDateTime) -> StoreResult<Holdings> {
        not_faked("AdminStore::holdings")
    }

    async fn import_users(
        &self,
        _users: Vec<ImportUser>,
        _now: OffsetDateTime,
    ) -> StoreResult<Vec<ImportOutcome>> {
        not_faked("AdminStore::import_users")
    }
}

#[async_trait]
impl EventStore for MemoryStore {
    async fn events(&self, query: &EventQuery) -> StoreResult<Option<Vec<EventRecord>>> {
        let state = self.unit("events")?;
        let seq_of = |id: &Option<EventId>| match id {
            None => Some(None),
            Some(id) => state
                .events
                .iter()
                .find(|e| e.id == *id)
                .map(|e| Some(e.seq)),
        };
        let (Some(after), Some(before)) = (seq_of(&query.after), seq_of(&query.before)) else {
            return Ok(None);
        };
        let matching = state.events.iter().filter(|e| {
            after.is_none_or(|a| e.seq > a)
                && before.is_none_or(|b| e.seq < b)
                && query.kind.is_none_or(|k| e.kind == k)
                && query.user_id.as_ref().is_none_or(|u| e.user_id == *u)
                // No deliveries here: a delivery filter matches nothing.
                && query.delivery.is_none()
        });
        let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
        let page = if query.newest_first {
            matching.rev().take(limit).cloned().collect()
        } else {
            matching.take(limit).cloned().collect()
        };
        Ok(Some(page))
    }

    async fn event(&self, id: &EventId) -> StoreResult<Option<EventRecord>> {
        let state = self.unit("event")?;
        Ok(state.events.iter().find(|e| e.id == *id).cloned())
    }

    async fn purge_events(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let mut state = self.unit("purge_events")?;
        let count = state.events.len();
        state.events.retain(|e| e.at >= before);
        Ok(u64::try_from(count - state.events.len()).unwrap_or(u64::MAX))
    }

    async fn fan_out(
        &self,
        _subscriptions: &[Subscription],
        _now: OffsetDateTime,
        _limit: u32,
    ) -> StoreResult<u64> {
        not_faked("EventStore::fan_out")
    }

    async fn claim_deliveries(
        &self,
        _now: OffsetDateTime,
        _lease: std::time::Duration,
        _limit: u32,
    ) -> StoreResult<Vec<Delivery>> {
        not_faked("EventStore::claim_deliveries")
    }

    async fn finish_delivery(
        &self,
        _endpoint: &str,
        _event: &EventId,
        _result: &DeliveryResult,
        _now: OffsetDateTime,
    ) -> StoreResult<()> {
        not_faked("EventStore::finish_delivery")
    }

    async fn redeliver(&self, _event: &EventId, _now: OffsetDateTime) -> StoreResult<u64> {
        not_faked("EventStore::redeliver")
    }

    async fn delivery_backlog(&self) -> StoreResult<(u64, u64)> {
        not_faked("EventStore::delivery_backlog")
    }
}
