//! What the admin console needs beyond the admin API: a session that names a key by its
//! hash, activity per period for the charts, one event, and the webhook backlog.
//!
//! The console is served by `wxlogin-server`; these are its use cases, with the same scope
//! checks as the admin API's.

use std::time::Duration;

use time::{OffsetDateTime, Time};

use super::admin::{AdminPrincipal, AdminService, event_view};
use super::admin_views::EventView;
use crate::admin::{Activity, Scope};
use crate::error::AuthError;
use crate::ids::EventId;

/// Registrations and sign-ins over the last day (per hour) and the last 30 days (per day).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityView {
    /// The start of the first hour of [`ActivityView::hourly`] (UTC, on the hour).
    pub hours_from: OffsetDateTime,
    /// 24 hours, the last one the current (partial) hour.
    pub hourly: Activity,
    /// The start of the first day of [`ActivityView::daily`] (UTC midnight).
    pub days_from: OffsetDateTime,
    /// 30 days, the last one today (partial).
    pub daily: Activity,
}

/// How many hourly and daily periods [`AdminService::activity`] counts.
pub const ACTIVITY_HOURS: u32 = 24;
/// See [`ACTIVITY_HOURS`].
pub const ACTIVITY_DAYS: u32 = 30;

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

impl AdminService {
    /// The time on the service's clock (the console's sessions expire by it, so that tests
    /// moving the clock move them too).
    pub fn time(&self) -> OffsetDateTime {
        self.now()
    }

    /// Checks a key already presented once, by its SHA-256 (the console's session holds the
    /// hash, never the key): it must still be live, so that a revocation ends the session at
    /// its next request.
    pub async fn authenticate_hash(&self, hash: &[u8; 32]) -> Result<AdminPrincipal, AuthError> {
        let key = self
            .ports
            .keys
            .live_admin_key(hash)
            .await?
            .ok_or(AuthError::AdminUnauthenticated)?;
        Ok(AdminPrincipal::new(key.name, key.id, key.scopes))
    }

    /// Registrations and sign-ins per hour over the last 24 hours and per day over the last
    /// 30 days, in UTC periods (`users:read`).
    pub async fn activity(&self, who: &AdminPrincipal) -> Result<ActivityView, AuthError> {
        who.require(Scope::UsersRead)?;
        let now = self.now();
        let this_hour = now.replace_time(Time::MIDNIGHT) + HOUR * u32::from(now.hour());
        let hours_from = this_hour - HOUR * (ACTIVITY_HOURS - 1);
        let days_from = now.replace_time(Time::MIDNIGHT) - DAY * (ACTIVITY_DAYS - 1);
        let users = &self.ports.users;
        Ok(ActivityView {
            hours_from,
            hourly: users.activity(hours_from, HOUR, ACTIVITY_HOURS).await?,
            days_from,
            daily: users.activity(days_from, DAY, ACTIVITY_DAYS).await?,
        })
    }

    /// One event with its deliveries (`events:read`).
    pub async fn event(&self, who: &AdminPrincipal, id: &str) -> Result<EventView, AuthError> {
        who.require(Scope::EventsRead)?;
        let id =
            EventId::parse(id).map_err(|_| AuthError::InvalidRequest("no such event".into()))?;
        let event = self
            .ports
            .events
            .event(&id)
            .await?
            .ok_or_else(|| AuthError::InvalidRequest("no such event".into()))?;
        event_view(event, who.has(Scope::UsersPii))
    }

    /// Webhook deliveries pending and dead (`events:read`).
    pub async fn delivery_backlog(&self, who: &AdminPrincipal) -> Result<(u64, u64), AuthError> {
        who.require(Scope::EventsRead)?;
        Ok(self.ports.events.delivery_backlog().await?)
    }
}
