//! An in-memory outbox and user table with the semantics of the ports' contracts, and a
//! clock moved by hand.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
pub use wxlogin_core::clock::ManualClock;
use wxlogin_core::crypto::{HandleHash, MasterKey, Sealer};
use wxlogin_core::events::{
    Delivery, DeliveryResult, DeliveryState, DeliveryStatus, EventQuery, EventRecord, EventStore,
    EventType, Subscription,
};
use wxlogin_core::ids::{AppId, EventId, FamilyId, OpenId, UnionId, UserId};
use wxlogin_core::ports::{
    Identity, IdentitySummary, NewUser, RegisterOutcome, StoreError, StoreResult, TicketRecord,
    UserRecord, UserStore,
};
use wxlogin_hooks::{
    Deliverer, DelivererConfig, WebhookEndpoint, WebhookSecret, parse_event_types,
};

/// The store, the clock and a deliverer over them for `endpoints`.
pub fn setup(
    endpoints: Vec<WebhookEndpoint>,
    config: DelivererConfig,
) -> (Arc<FakeStore>, Arc<ManualClock>, Deliverer) {
    let store = Arc::new(FakeStore::default());
    let clock = Arc::new(ManualClock::at(t0()));
    let deliverer = deliverer(&store, &clock, endpoints, config);
    (store, clock, deliverer)
}

pub fn deliverer(
    store: &Arc<FakeStore>,
    clock: &Arc<ManualClock>,
    endpoints: Vec<WebhookEndpoint>,
    config: DelivererConfig,
) -> Deliverer {
    Deliverer::new(
        store.clone(),
        store.clone(),
        sealer(),
        endpoints,
        clock.clone(),
        config,
    )
    .unwrap()
}

/// An endpoint at `url` receiving `types`.
pub fn endpoint(
    url: url::Url,
    secret: &WebhookSecret,
    types: &[&str],
    include_phone: bool,
) -> WebhookEndpoint {
    WebhookEndpoint {
        url,
        secret: secret.clone(),
        types: parse_event_types(types).unwrap(),
        include_phone,
    }
}

/// Sets an identity event's app and openid, as the store writes them.
pub fn with_identity(event: &mut EventRecord) {
    event.appid = Some(AppId::parse("wx4f4bc4dec97d474b").unwrap());
    event.openid = Some(OpenId::parse("o6_bmjrPTlm6_2sgVt7hMZOPfL2M").unwrap());
}

/// 2026-01-01T00:00:00Z: the tests' usual start.
pub fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap()
}

pub fn sealer() -> Sealer {
    MasterKey::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
        .unwrap()
        .sealer()
}

#[derive(Clone)]
struct Row {
    status: DeliveryStatus,
    attempts: u32,
    next_attempt_at: Option<OffsetDateTime>,
    last_error: Option<String>,
}

#[derive(Default)]
struct Inner {
    events: Vec<EventRecord>,
    cursors: HashMap<String, i64>,
    deliveries: BTreeMap<(String, i64), Row>,
    users: HashMap<UserId, UserRecord>,
}

impl Inner {
    fn seq_of(&self, id: &EventId) -> Option<i64> {
        self.events.iter().find(|e| &e.id == id).map(|e| e.seq)
    }

    fn with_deliveries(&self, event: &EventRecord) -> EventRecord {
        let mut event = event.clone();
        event.deliveries = self
            .deliveries
            .iter()
            .filter(|((_, seq), _)| *seq == event.seq)
            .map(|((endpoint, _), row)| state(endpoint, row))
            .collect();
        event
    }
}

fn state(endpoint: &str, row: &Row) -> DeliveryState {
    DeliveryState {
        endpoint: endpoint.to_owned(),
        status: row.status,
        attempts: row.attempts,
        next_attempt_at: row.next_attempt_at,
        last_error: row.last_error.clone(),
    }
}

/// The outbox and the users, behind one lock, as one database would keep them.
#[derive(Default)]
pub struct FakeStore {
    inner: Mutex<Inner>,
    /// While set, reading a user fails as an unreachable database does.
    pub users_down: AtomicBool,
    /// How many times deliveries were claimed: one per deliverer round.
    pub claims: AtomicUsize,
}

impl FakeStore {
    /// A user with `phone` (E.164 parts `cc:pure`), sealed as the core seals it.
    pub fn add_user(&self, sealer: &Sealer, phone_storage_text: &str) -> UserId {
        let id = UserId::generate();
        let record = UserRecord {
            phone_sealed: sealer.seal(&format!("phone:{id}"), phone_storage_text.as_bytes()),
            id: id.clone(),
            nickname: None,
            avatar_url: None,
            created_at: t0(),
            external_id: None,
            disabled: false,
            last_login_at: None,
        };
        self.inner.lock().unwrap().users.insert(id.clone(), record);
        id
    }

    /// Changes the user's phone, as a verified phone change does.
    pub fn set_phone(&self, sealer: &Sealer, id: &UserId, phone_storage_text: &str) {
        let sealed = sealer.seal(&format!("phone:{id}"), phone_storage_text.as_bytes());
        let mut inner = self.inner.lock().unwrap();
        inner.users.get_mut(id).unwrap().phone_sealed = sealed;
    }

    pub fn delete_user(&self, id: &UserId) {
        self.inner.lock().unwrap().users.remove(id);
    }

    /// Writes an event as a store method would, committed now.
    pub fn push(&self, kind: EventType, user: &UserId, at: OffsetDateTime) -> EventRecord {
        self.push_with(kind, user, at, |_| {})
    }

    pub fn push_with(
        &self,
        kind: EventType,
        user: &UserId,
        at: OffsetDateTime,
        fill: impl FnOnce(&mut EventRecord),
    ) -> EventRecord {
        let mut inner = self.inner.lock().unwrap();
        let mut event = EventRecord {
            seq: inner.events.len() as i64 + 1,
            id: EventId::generate(),
            kind,
            user_id: user.clone(),
            external_id: None,
            appid: None,
            openid: None,
            unionid: None,
            source: None,
            at,
            deliveries: Vec::new(),
        };
        fill(&mut event);
        inner.events.push(event.clone());
        event
    }

    /// The delivery of `event` to `endpoint`, as the events API would show it.
    pub fn delivery(&self, endpoint: &str, event: &EventId) -> Option<DeliveryState> {
        let inner = self.inner.lock().unwrap();
        let seq = inner.seq_of(event)?;
        let row = inner.deliveries.get(&(endpoint.to_owned(), seq))?;
        Some(state(endpoint, row))
    }
}

#[async_trait]
impl EventStore for FakeStore {
    async fn events(&self, query: &EventQuery) -> StoreResult<Option<Vec<EventRecord>>> {
        let inner = self.inner.lock().unwrap();
        let after = match &query.after {
            Some(id) => match inner.seq_of(id) {
                Some(seq) => seq,
                None => return Ok(None),
            },
            None => 0,
        };
        let found = inner
            .events
            .iter()
            .filter(|e| e.seq > after)
            .filter(|e| query.kind.is_none_or(|k| e.kind == k))
            .filter(|e| query.user_id.as_ref().is_none_or(|u| &e.user_id == u))
            .map(|e| inner.with_deliveries(e))
            .filter(|e| {
                query
                    .delivery
                    .is_none_or(|s| e.deliveries.iter().any(|d| d.status == s))
            })
            .take(query.limit as usize)
            .collect();
        Ok(Some(found))
    }

    async fn event(&self, id: &EventId) -> StoreResult<Option<EventRecord>> {
        let inner = self.inner.lock().unwrap();
        Ok(inner
            .events
            .iter()
            .find(|e| &e.id == id)
            .map(|e| inner.with_deliveries(e)))
    }

    async fn purge_events(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let mut inner = self.inner.lock().unwrap();
        let gone: Vec<i64> = inner
            .events
            .iter()
            .filter(|e| e.at < before)
            .map(|e| e.seq)
            .collect();
        inner.events.retain(|e| e.at >= before);
        inner.deliveries.retain(|(_, seq), _| !gone.contains(seq));
        Ok(gone.len() as u64)
    }

    async fn fan_out(
        &self,
        subscriptions: &[Subscription],
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<u64> {
        let mut inner = self.inner.lock().unwrap();
        let newest = inner.events.last().map_or(0, |e| e.seq);
        let mut created = 0;
        for sub in subscriptions {
            // An endpoint seen for the first time starts after the newest event.
            let cursor = *inner.cursors.entry(sub.endpoint.clone()).or_insert(newest);
            let batch: Vec<(i64, EventType)> = inner
                .events
                .iter()
                .filter(|e| e.seq > cursor)
                .take(limit as usize)
                .map(|e| (e.seq, e.kind))
                .collect();
            for (seq, kind) in &batch {
                if sub.types.contains(kind) {
                    let row = Row {
                        status: DeliveryStatus::Pending,
                        attempts: 0,
                        next_attempt_at: Some(now),
                        last_error: None,
                    };
                    inner.deliveries.insert((sub.endpoint.clone(), *seq), row);
                    created += 1;
                }
            }
            if let Some((last, _)) = batch.last() {
                inner.cursors.insert(sub.endpoint.clone(), *last);
            }
        }
        Ok(created)
    }

    async fn claim_deliveries(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>> {
        self.claims.fetch_add(1, Ordering::SeqCst);
        let mut inner = self.inner.lock().unwrap();
        let mut due: Vec<((String, i64), OffsetDateTime)> = inner
            .deliveries
            .iter()
            .filter(|(_, row)| row.status == DeliveryStatus::Pending)
            .filter_map(|(key, row)| row.next_attempt_at.map(|at| (key.clone(), at)))
            .filter(|(_, at)| *at <= now)
            .collect();
        due.sort_by_key(|(key, at)| (*at, key.1));
        due.truncate(limit as usize);
        let mut claimed = Vec::new();
        for (key, _) in due {
            let event = inner
                .events
                .iter()
                .find(|e| e.seq == key.1)
                .unwrap()
                .clone();
            let row = inner.deliveries.get_mut(&key).unwrap();
            // As in the database: a claimed row's due time is its lease's end.
            row.next_attempt_at = Some(now + lease);
            claimed.push(Delivery {
                endpoint: key.0.clone(),
                event,
                attempts: row.attempts,
            });
        }
        Ok(claimed)
    }

    async fn finish_delivery(
        &self,
        endpoint: &str,
        event: &EventId,
        result: &DeliveryResult,
        _now: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut inner = self.inner.lock().unwrap();
        let seq = inner
            .seq_of(event)
            .ok_or_else(|| StoreError::other("finish_delivery", "no such event"))?;
        let row = inner
            .deliveries
            .get_mut(&(endpoint.to_owned(), seq))
            .ok_or_else(|| StoreError::other("finish_delivery", "no such delivery"))?;
        row.attempts += 1;
        match result {
            DeliveryResult::Delivered => {
                row.status = DeliveryStatus::Delivered;
                row.next_attempt_at = None;
            }
            DeliveryResult::Retry { at, error } => {
                row.status = DeliveryStatus::Pending;
                row.next_attempt_at = Some(*at);
                row.last_error = Some(error.clone());
            }
            DeliveryResult::Dead { error } => {
                row.status = DeliveryStatus::Dead;
                row.next_attempt_at = None;
                row.last_error = Some(error.clone());
            }
        }
        Ok(())
    }

    async fn redeliver(&self, event: &EventId, now: OffsetDateTime) -> StoreResult<u64> {
        let mut inner = self.inner.lock().unwrap();
        let Some(seq) = inner.seq_of(event) else {
            return Ok(0);
        };
        let mut count = 0;
        for ((_, s), row) in inner.deliveries.iter_mut() {
            if *s == seq && row.status == DeliveryStatus::Dead {
                row.status = DeliveryStatus::Pending;
                row.next_attempt_at = Some(now);
                count += 1;
            }
        }
        Ok(count)
    }

    async fn delivery_backlog(&self) -> StoreResult<(u64, u64)> {
        let inner = self.inner.lock().unwrap();
        let count = |s| inner.deliveries.values().filter(|r| r.status == s).count() as u64;
        Ok((count(DeliveryStatus::Pending), count(DeliveryStatus::Dead)))
    }
}

/// The deliverer reads users by id only; every other method says so if it is ever reached.
fn not_used(method: &str) -> ! {
    panic!("the deliverer does not call UserStore::{method}")
}

#[async_trait]
impl UserStore for FakeStore {
    async fn user(&self, id: &UserId) -> StoreResult<Option<UserRecord>> {
        if self.users_down.load(Ordering::SeqCst) {
            return Err(StoreError::unavailable("user", "database unreachable"));
        }
        Ok(self.inner.lock().unwrap().users.get(id).cloned())
    }

    async fn user_by_identity_and_unionid(
        &self,
        _: &AppId,
        _: &OpenId,
        _: Option<&UnionId>,
    ) -> StoreResult<Option<(UserRecord, bool)>> {
        not_used("user_by_identity_and_unionid")
    }

    async fn user_by_unionid(&self, _: &UnionId) -> StoreResult<Option<UserRecord>> {
        not_used("user_by_unionid")
    }

    async fn user_by_phone(&self, _: &[u8; 32]) -> StoreResult<Option<UserRecord>> {
        not_used("user_by_phone")
    }

    async fn bind_identity(
        &self,
        _: &UserId,
        _: &Identity,
        _: OffsetDateTime,
    ) -> StoreResult<bool> {
        not_used("bind_identity")
    }

    async fn identities(&self, _: &UserId) -> StoreResult<Vec<IdentitySummary>> {
        not_used("identities")
    }

    async fn identity_in_app(&self, _: &UserId, _: &AppId) -> StoreResult<Option<Identity>> {
        not_used("identity_in_app")
    }

    async fn signed_in_user(
        &self,
        _: &FamilyId,
        _: &UserId,
    ) -> StoreResult<Option<(UserRecord, Vec<IdentitySummary>)>> {
        not_used("signed_in_user")
    }

    async fn put_ticket(&self, _: &TicketRecord) -> StoreResult<()> {
        not_used("put_ticket")
    }

    async fn live_ticket(
        &self,
        _: &HandleHash,
        _: OffsetDateTime,
    ) -> StoreResult<Option<TicketRecord>> {
        not_used("live_ticket")
    }

    async fn register(
        &self,
        _: &HandleHash,
        _: OffsetDateTime,
        _: NewUser,
        _: &Identity,
    ) -> StoreResult<RegisterOutcome> {
        not_used("register")
    }
}
