//! The login flow's ports on [`MemoryStore`]: users, tickets, sessions, refresh tokens.

use async_trait::async_trait;
use time::OffsetDateTime;
use wxlogin_core::crypto::HandleHash;
use wxlogin_core::events::EventType;
use wxlogin_core::ids::{AppId, FamilyId, OpenId, UnionId, UserId};
use wxlogin_core::ports::{
    FamilyRecord, Identity, IdentitySummary, LoginRecord, NewUser, RefreshRecord, RefreshStore,
    RegisterOutcome, RotateOutcome, SessionKeys, SessionRecord, SessionStore, StoreResult,
    TicketRecord, UserRecord, UserStore,
};

use super::{IdentityRow, MemoryStore, State, TicketState, UserRow};
use crate::fakes::{Failure, store_error};

impl State {
    /// `identities`' order: first bound first, then appid, then openid.
    fn summaries(&self, user: &UserId) -> Vec<IdentitySummary> {
        let mut rows: Vec<&IdentityRow> = self.bound_to(user).collect();
        rows.sort_by(|a, b| {
            (a.created_at, &a.identity.appid, &a.identity.openid).cmp(&(
                b.created_at,
                &b.identity.appid,
                &b.identity.openid,
            ))
        });
        rows.into_iter()
            .map(|r| IdentitySummary {
                appid: r.identity.appid.clone(),
                has_unionid: r.identity.unionid.is_some(),
            })
            .collect()
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn user_by_identity_and_unionid(
        &self,
        appid: &AppId,
        openid: &OpenId,
        unionid: Option<&UnionId>,
    ) -> StoreResult<Option<(UserRecord, bool)>> {
        let state = self.unit("user_by_identity")?;
        let Some(row) = state.identities.get(&(appid.clone(), openid.clone())) else {
            return Ok(None);
        };
        let user = state.user_row(&row.user_id)?.user.clone();
        let known = unionid.is_none_or(|u| row.identity.unionid.as_ref() == Some(u));
        Ok(Some((user, known)))
    }

    async fn user_by_unionid(&self, unionid: &UnionId) -> StoreResult<Option<UserRecord>> {
        let state = self.unit("user_by_unionid")?;
        // Should several users have it, the oldest answers, every time.
        let holders = (state.identities.values())
            .filter(|r| r.identity.unionid.as_ref() == Some(unionid))
            .filter_map(|r| state.users.get(&r.user_id));
        Ok(holders
            .min_by(|a, b| (a.user.created_at, &a.user.id).cmp(&(b.user.created_at, &b.user.id)))
            .map(|r| r.user.clone()))
    }

    async fn user_by_phone(&self, phone_hash: &[u8; 32]) -> StoreResult<Option<UserRecord>> {
        let state = self.unit("user_by_phone")?;
        Ok(state.phone_holder(phone_hash).map(|r| r.user.clone()))
    }

    async fn user(&self, id: &UserId) -> StoreResult<Option<UserRecord>> {
        let state = self.unit("user")?;
        Ok(state.users.get(id).map(|r| r.user.clone()))
    }

    async fn bind_identity(
        &self,
        user: &UserId,
        identity: &Identity,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let mut state = self.unit("bind_identity")?;
        state.user_row(user)?;
        let key = (identity.appid.clone(), identity.openid.clone());
        let bound = match state.identities.get_mut(&key) {
            Some(row) if row.user_id == *user => {
                // Already this user's: at most a unionid learned; `bound_at` stays.
                if identity.unionid.is_some() {
                    row.identity.unionid.clone_from(&identity.unionid);
                }
                return Ok(false);
            }
            // Moved from another user: the event names the identity as now stored.
            Some(row) => Identity {
                unionid: identity.unionid.clone().or(row.identity.unionid.clone()),
                ..identity.clone()
            },
            None => identity.clone(),
        };
        state.upsert_identity(user, identity, now);
        state.event(EventType::IdentityBound, user, Some(&bound), None, now);
        Ok(true)
    }

    async fn identities(&self, user: &UserId) -> StoreResult<Vec<IdentitySummary>> {
        let state = self.unit("identities")?;
        Ok(state.summaries(user))
    }

    async fn identity_in_app(&self, user: &UserId, appid: &AppId) -> StoreResult<Option<Identity>> {
        let state = self.unit("identity_in_app")?;
        Ok(state.identity_in_app(user, appid))
    }

    async fn signed_in_user(
        &self,
        family_id: &FamilyId,
        user: &UserId,
    ) -> StoreResult<Option<(UserRecord, Vec<IdentitySummary>)>> {
        let state = self.unit("signed_in_user")?;
        let active = state
            .families
            .get(family_id)
            .is_some_and(|f| f.family.user_id == *user && f.revoked_at.is_none());
        let Some(row) = state.users.get(user).filter(|_| active) else {
            return Ok(None);
        };
        Ok(Some((row.user.clone(), state.summaries(user))))
    }

    async fn put_ticket(&self, ticket: &TicketRecord) -> StoreResult<()> {
        let mut state = self.unit("put_ticket")?;
        if state.tickets.contains_key(&ticket.hash) {
            return Err(store_error(
                Failure::Other,
                "UNIQUE constraint failed: registration_tickets.hash",
            ));
        }
        let stored = TicketState {
            ticket: ticket.clone(),
            used_at: None,
        };
        state.tickets.insert(ticket.hash, stored);
        Ok(())
    }

    async fn live_ticket(
        &self,
        hash: &HandleHash,
        now: OffsetDateTime,
    ) -> StoreResult<Option<TicketRecord>> {
        let state = self.unit("live_ticket")?;
        Ok(state
            .tickets
            .get(hash)
            .filter(|t| t.used_at.is_none() && t.ticket.expires_at > now)
            .map(|t| t.ticket.clone()))
    }

    async fn register(
        &self,
        ticket: &HandleHash,
        now: OffsetDateTime,
        user: NewUser,
        identity: &Identity,
    ) -> StoreResult<RegisterOutcome> {
        let mut state = self.unit("register")?;
        // A ticket registers only the identity it was issued to, once, while live.
        let live = state.tickets.get(ticket).is_some_and(|t| {
            t.used_at.is_none()
                && t.ticket.expires_at > now
                && t.ticket.identity.appid == identity.appid
                && t.ticket.identity.openid == identity.openid
        });
        if !live {
            return Ok(RegisterOutcome::TicketInvalid);
        }
        if state.phone_holder(&user.phone_hash).is_some() {
            // The ticket stays unused: the caller may offer another way in.
            return Ok(RegisterOutcome::PhoneTaken);
        }
        let row = UserRow {
            user: user.user,
            phone_hash: user.phone_hash,
        };
        state.check_new_user(&row)?;
        if state
            .external_id_holder(row.user.external_id.as_ref())
            .is_some()
        {
            return Err(store_error(
                Failure::Other,
                "UNIQUE constraint failed: users.external_id",
            ));
        }
        if let Some(t) = state.tickets.get_mut(ticket) {
            t.used_at = Some(now);
        }
        let record = row.user.clone();
        state.users.insert(record.id.clone(), row);
        state.upsert_identity(&record.id, identity, now);
        state.event(
            EventType::UserRegistered,
            &record.id,
            Some(identity),
            None,
            now,
        );
        state.event(
            EventType::IdentityBound,
            &record.id,
            Some(identity),
            None,
            now,
        );
        Ok(RegisterOutcome::Created(record))
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn record_login(&self, login: &LoginRecord) -> StoreResult<()> {
        let mut state = self.unit("record_login")?;
        if let Some(session) = &login.session
            && state.sessions.contains_key(&session.hash)
        {
            return Err(store_error(
                Failure::Other,
                "UNIQUE constraint failed: sessions.hash",
            ));
        }
        if let Some((family, first)) = &login.sign_in {
            state.check_new_family(family, first)?;
        }
        let id = &login.identity;
        let key = (id.appid.clone(), id.openid.clone());
        let previous = state.session_keys.get(&key).map(|k| k.current.clone());
        let keys = SessionKeys {
            current: login.sealed_key.clone(),
            previous,
            rotated_at: login.at,
        };
        state.session_keys.insert(key, keys);
        if let Some(session) = &login.session {
            state.sessions.insert(session.hash, session.clone());
        }
        if let Some((family, first)) = &login.sign_in {
            state.sign_in(family, first, login.at);
            if login.announce {
                state.event(
                    EventType::UserSignedIn,
                    &family.user_id,
                    Some(id),
                    None,
                    login.at,
                );
            }
        }
        Ok(())
    }

    async fn live_session(
        &self,
        hash: &HandleHash,
        now: OffsetDateTime,
    ) -> StoreResult<Option<SessionRecord>> {
        let state = self.unit("live_session")?;
        let session = state.sessions.get(hash).filter(|s| s.expires_at > now);
        Ok(session.cloned())
    }

    async fn session_keys(
        &self,
        appid: &AppId,
        openid: &OpenId,
    ) -> StoreResult<Option<SessionKeys>> {
        let state = self.unit("session_keys")?;
        Ok(state
            .session_keys
            .get(&(appid.clone(), openid.clone()))
            .cloned())
    }
}

#[async_trait]
impl RefreshStore for MemoryStore {
    async fn create_family(
        &self,
        family: &FamilyRecord,
        first: &RefreshRecord,
        announce: bool,
    ) -> StoreResult<()> {
        let mut state = self.unit("create_family")?;
        state.check_new_family(family, first)?;
        state.sign_in(family, first, family.created_at);
        if announce {
            let identity = state.identity_in_app(&family.user_id, &family.appid);
            let (kind, at) = (EventType::UserSignedIn, family.created_at);
            state.event(kind, &family.user_id, identity.as_ref(), None, at);
        }
        Ok(())
    }

    async fn rotate_refresh(
        &self,
        presented: &HandleHash,
        new: &RefreshRecord,
        now: OffsetDateTime,
    ) -> StoreResult<RotateOutcome> {
        let mut state = self.unit("rotate_refresh")?;
        let Some(token) = state.tokens.get(presented).cloned() else {
            return Ok(RotateOutcome::Invalid);
        };
        let Some(family) = state.families.get(&token.family_id).cloned() else {
            return Ok(RotateOutcome::Invalid);
        };
        let Some(user) = state
            .users
            .get(&family.family.user_id)
            .map(|r| r.user.clone())
        else {
            return Ok(RotateOutcome::Invalid);
        };
        if user.disabled {
            // Known, whatever its state: the user's being disabled is the answer.
            return Ok(RotateOutcome::UserDisabled);
        }
        if family.revoked_at.is_some() {
            return Ok(RotateOutcome::Invalid);
        }
        match token.used_at {
            None if token.token.expires_at > now => {
                // `new` joins the presented token's family.
                state.check_new_token(new)?;
                if let Some(t) = state.tokens.get_mut(presented) {
                    t.used_at = Some(now);
                }
                state.insert_token(&family.family.id, new);
                Ok(RotateOutcome::Rotated(family.family))
            }
            // Expired, never used.
            None => Ok(RotateOutcome::Invalid),
            // Presented again after its one rotation: someone holds a copy.
            Some(_) => {
                let family_id = family.family.id;
                if let Some(f) = state.families.get_mut(&family_id) {
                    f.revoked_at = Some(now);
                }
                state.event(EventType::RefreshTokenReused, &user.id, None, None, now);
                Ok(RotateOutcome::Reused { family_id })
            }
        }
    }

    async fn revoke_family(&self, family_id: &FamilyId, now: OffsetDateTime) -> StoreResult<()> {
        let mut state = self.unit("revoke_family")?;
        if let Some(f) = state.families.get_mut(family_id)
            && f.revoked_at.is_none()
        {
            f.revoked_at = Some(now);
        }
        Ok(())
    }

    async fn revoke_user(&self, user: &UserId, now: OffsetDateTime) -> StoreResult<Vec<FamilyId>> {
        let mut state = self.unit("revoke_user")?;
        state.revoke_families_of(user, now);
        let families = state.families.values();
        Ok(families
            .filter(|f| f.family.user_id == *user)
            .map(|f| f.family.id.clone())
            .collect())
    }

    async fn family_active(&self, family_id: &FamilyId) -> StoreResult<bool> {
        let state = self.unit("family_active")?;
        let family = state.families.get(family_id);
        Ok(family.is_some_and(|f| f.revoked_at.is_none()))
    }
}
