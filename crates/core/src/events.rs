//! Events: every change to a user, written by the store in the same transaction as the change
//! (an outbox), read by the admin API and delivered to webhooks.
//!
//! Which store method writes which event is part of that method's contract (see
//! [`crate::ports`] and [`crate::admin`]); the store numbers events in commit order (`seq`), so
//! that a reader paging with `after` never skips one that commits late.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::ids::{AppId, EventId, ExternalId, OpenId, UnionId, UserId};
use crate::ports::StoreResult;

/// The event types of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// A user was created: registration, or the lookup hook.
    UserRegistered,
    /// Nickname, avatar or external_id changed.
    UserUpdated,
    /// The user's phone number changed.
    UserPhoneChanged,
    /// An operator disabled the user.
    UserDisabled,
    /// An operator enabled the user again.
    UserEnabled,
    /// The account was deleted (by its user or an operator); only a tombstone remains.
    UserDeleted,
    /// The user came in through an import.
    UserImported,
    /// A WeChat identity was bound to the user (new, or moved from another user).
    IdentityBound,
    /// An operator unbound one of the user's WeChat identities.
    IdentityUnbound,
    /// An operator signed the user out everywhere.
    SessionRevoked,
    /// A refresh token was presented twice; its family is revoked.
    RefreshTokenReused,
    /// A known user signed in. Frequent: written only when a webhook asks for it.
    UserSignedIn,
}

impl EventType {
    /// Every type, in the contract's order.
    pub const ALL: [Self; 12] = [
        Self::UserRegistered,
        Self::UserUpdated,
        Self::UserPhoneChanged,
        Self::UserDisabled,
        Self::UserEnabled,
        Self::UserDeleted,
        Self::UserImported,
        Self::IdentityBound,
        Self::IdentityUnbound,
        Self::SessionRevoked,
        Self::RefreshTokenReused,
        Self::UserSignedIn,
    ];

    /// `user.registered`, …: in bodies, the database and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserRegistered => "user.registered",
            Self::UserUpdated => "user.updated",
            Self::UserPhoneChanged => "user.phone_changed",
            Self::UserDisabled => "user.disabled",
            Self::UserEnabled => "user.enabled",
            Self::UserDeleted => "user.deleted",
            Self::UserImported => "user.imported",
            Self::IdentityBound => "identity.bound",
            Self::IdentityUnbound => "identity.unbound",
            Self::SessionRevoked => "session.revoked",
            Self::RefreshTokenReused => "refresh_token.reused",
            Self::UserSignedIn => "user.signed_in",
        }
    }

    /// The type named `name`, if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// Whether `events = ["*"]` includes it: every type but `user.signed_in`.
    pub fn in_wildcard(self) -> bool {
        self != Self::UserSignedIn
    }
}

/// Where a user came from, when not from registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSource {
    /// The lookup hook answered with an external_id.
    Lookup,
    /// An import.
    Import,
}

impl UserSource {
    /// `lookup`, `import`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lookup => "lookup",
            Self::Import => "import",
        }
    }

    /// The source named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "lookup" => Some(Self::Lookup),
            "import" => Some(Self::Import),
            _ => None,
        }
    }
}

/// An event as stored. `openid` and `unionid` are set on identity events and
/// `user.registered`, and erased when the user is deleted. No phone number is stored: a
/// webhook with `include_phone` gets the user's current phone at delivery.
#[derive(Clone)]
pub struct EventRecord {
    /// Commit order, from 1; what `after` pages by.
    pub seq: i64,
    /// The public id.
    pub id: EventId,
    /// What happened.
    pub kind: EventType,
    /// To whom.
    pub user_id: UserId,
    /// The user's external_id when the event was written.
    pub external_id: Option<ExternalId>,
    /// The app, on identity events, `user.registered` and `user.signed_in`.
    pub appid: Option<AppId>,
    /// The openid, where `appid` is set (until the user is deleted).
    pub openid: Option<OpenId>,
    /// The unionid, where known (until the user is deleted).
    pub unionid: Option<UnionId>,
    /// `lookup` or `import` where the user came from there.
    pub source: Option<UserSource>,
    /// When.
    pub at: OffsetDateTime,
    /// Its webhook deliveries, one per subscribed endpoint once fanned out.
    pub deliveries: Vec<DeliveryState>,
}

impl std::fmt::Debug for EventRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventRecord")
            .field("seq", &self.seq)
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// Where one delivery of an event stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Not yet delivered; retried at `next_attempt_at`.
    Pending,
    /// A 2xx came back.
    Delivered,
    /// Gave up after the last retry (or an operator's redelivery is awaited).
    Dead,
}

impl DeliveryStatus {
    /// `pending`, `delivered`, `dead`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    /// The status named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "dead" => Some(Self::Dead),
            _ => None,
        }
    }
}

/// One delivery of an event to one endpoint, as the events API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryState {
    /// The endpoint ([`Subscription::endpoint`]).
    pub endpoint: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it is tried next (pending only).
    pub next_attempt_at: Option<OffsetDateTime>,
    /// Why the last attempt failed (`HTTP 500`, `timeout`, …): never a response body.
    pub last_error: Option<String>,
}

/// What `GET /admin/v1/events` (oldest first) and the console (newest first) ask for.
/// Filters are and-ed.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// Only events committed after this one.
    pub after: Option<EventId>,
    /// Only events committed before this one (the console pages back in time with it).
    pub before: Option<EventId>,
    /// Newest first instead of oldest first: the `limit` newest events matching.
    pub newest_first: bool,
    /// Only this type.
    pub kind: Option<EventType>,
    /// Only this user's.
    pub user_id: Option<UserId>,
    /// Only events with a delivery in this status (`dead`: the dead letters).
    pub delivery: Option<DeliveryStatus>,
    /// At most this many (1-1000).
    pub limit: u32,
}

/// A configured webhook endpoint, as the store sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// A stable id for the endpoint (derived from its URL): the delivery rows' key.
    pub endpoint: String,
    /// The types it receives (`["*"]` already expanded).
    pub types: Vec<EventType>,
}

/// A delivery claimed by this instance until its lease runs out.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// To which endpoint.
    pub endpoint: String,
    /// The event (its `deliveries` left empty).
    pub event: EventRecord,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryResult {
    /// A 2xx.
    Delivered,
    /// Try again at `at`.
    Retry {
        /// The next attempt.
        at: OffsetDateTime,
        /// Why this one failed.
        error: String,
    },
    /// No more attempts.
    Dead {
        /// Why the last one failed.
        error: String,
    },
}

/// The outbox: events as written with their changes, and their webhook deliveries.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Events matching `query`, oldest first (newest first with `newest_first`), with their
    /// deliveries. `None` when `after` or `before` names no event (never written, or purged).
    async fn events(&self, query: &EventQuery) -> StoreResult<Option<Vec<EventRecord>>>;
    /// One event by id, with its deliveries.
    async fn event(&self, id: &EventId) -> StoreResult<Option<EventRecord>>;
    /// Deletes events (and their deliveries) written before `before`; how many events.
    async fn purge_events(&self, before: OffsetDateTime) -> StoreResult<u64>;
    /// Creates the pending deliveries of events that no fan-out has seen yet, for each of
    /// `subscriptions` whose types include the event's: at most `limit` events per endpoint
    /// per call. An endpoint seen for the first time starts after the newest event (it
    /// receives no history). Safe on several instances at once: each event is fanned out to
    /// each endpoint once. Returns the number of deliveries created.
    async fn fan_out(
        &self,
        subscriptions: &[Subscription],
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<u64>;
    /// Claims up to `limit` pending deliveries due at `now` for `lease` (until then no other
    /// instance claims them; if this one dies, they come back). PostgreSQL and MySQL claim
    /// with `FOR UPDATE SKIP LOCKED`.
    async fn claim_deliveries(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>>;
    /// Records how an attempt of a claimed delivery ended (attempts + 1).
    async fn finish_delivery(
        &self,
        endpoint: &str,
        event: &EventId,
        result: &DeliveryResult,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Makes the event's dead deliveries pending again, due at `now`; how many.
    async fn redeliver(&self, event: &EventId, now: OffsetDateTime) -> StoreResult<u64>;
    /// How many deliveries are pending and how many are dead, for the metrics.
    async fn delivery_backlog(&self) -> StoreResult<(u64, u64)>;
}
