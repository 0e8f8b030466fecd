//! The outbox as the admin API shows it: events, and redelivering dead letters.

use serde::Deserialize;

use super::{AdminPrincipal, AdminService, invalid, rfc3339};
use crate::admin::Scope;
use crate::error::AuthError;
use crate::events::{DeliveryStatus, EventQuery, EventRecord, EventType};
use crate::ids::{EventId, UserId};
use crate::service::admin_views::{DeliveryView, EventDataView, EventView, EventsView};

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

impl AdminService {
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
        let parsed =
            EventId::parse(id).map_err(|_| AuthError::InvalidRequest("no such event".into()))?;
        self.ports.events.redeliver(&parsed, self.now()).await?;
        // The event as it now reads, as `GET /admin/v1/events/{id}` shows it.
        self.event(who, id).await
    }
}

pub(in crate::service) fn event_view(e: EventRecord, pii: bool) -> Result<EventView, AuthError> {
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
