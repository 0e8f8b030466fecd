//! [`Deliverer`]: moves events from the outbox to the webhook endpoints.
//!
//! Each round fans new events out into pending deliveries, claims the due ones under a
//! lease (so several instances never send one delivery at once, and a dead instance's claims
//! come back), POSTs them a few at a time and records how each attempt ended. Delivery is
//! at least once: an attempt whose outcome could not be recorded is sent again, with the
//! same `webhook-id`, which is the receiver's key for dropping duplicates.
//!
//! The deliverer runs in its own task ([`Deliverer::run`]); a login only writes its event
//! in its own transaction and may poke the task ([`Deliverer::notifier`]), which never
//! waits.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use tokio::sync::Notify;
use wxlogin_core::cause::chain;
use wxlogin_core::clock::Clock;
use wxlogin_core::crypto::Sealer;
use wxlogin_core::events::{
    Delivery, DeliveryResult, EventRecord, EventStore, EventType, Subscription,
};
use wxlogin_core::ids::UserId;
use wxlogin_core::phone::Phone;
use wxlogin_core::ports::UserStore;
use zeroize::Zeroizing;

use crate::endpoint::{EndpointError, WebhookEndpoint, check_url};
use crate::http::{self, Failure};
use crate::payload::event_body;
use crate::signing::signed;

/// Counter of finished delivery attempts, by `result` ([`DELIVERY_RESULTS`]).
pub const DELIVERIES_TOTAL: &str = "wxlogin_webhook_deliveries_total";
/// Histogram of the seconds one attempt's HTTP exchange took (answered or not).
pub const DELIVERY_SECONDS: &str = "wxlogin_webhook_delivery_seconds";
/// Every value of the `result` label of [`DELIVERIES_TOTAL`].
pub const DELIVERY_RESULTS: [&str; 3] = ["delivered", "retry", "dead"];

/// The waits after the first five failed attempts: 5 s, 30 s, 2 min, 10 min, 1 h.
const FIRST_DELAYS: [Duration; 5] = [
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(2 * 60),
    Duration::from_secs(10 * 60),
    Duration::from_secs(60 * 60),
];
/// The wait after every later failed attempt.
pub const STEADY_DELAY: Duration = Duration::from_secs(4 * 60 * 60);
/// No attempt is scheduled later than this after the event: the delivery is dead instead,
/// and an operator may redeliver it.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(3 * 24 * 60 * 60);

/// The wait after failed attempt number `attempt` (1 for the first).
pub fn retry_delay(attempt: u32) -> Duration {
    usize::try_from(attempt.max(1) - 1)
        .ok()
        .and_then(|i| FIRST_DELAYS.get(i).copied())
        .unwrap_or(STEADY_DELAY)
}

/// What failed attempt number `attempt` of an event written at `event_at` leads to, at
/// `now`: a retry after [`retry_delay`], or dead when that retry would fall more than
/// [`GIVE_UP_AFTER`] after the event.
pub fn after_failure(
    attempt: u32,
    event_at: time::OffsetDateTime,
    now: time::OffsetDateTime,
    error: String,
) -> DeliveryResult {
    let at = now + retry_delay(attempt);
    if at > event_at + GIVE_UP_AFTER {
        DeliveryResult::Dead { error }
    } else {
        DeliveryResult::Retry { at, error }
    }
}

/// How the deliverer paces itself.
#[derive(Debug, Clone)]
pub struct DelivererConfig {
    /// The pause between rounds when nothing pokes the deliverer (1 s).
    pub tick: Duration,
    /// How long a claim keeps other instances off a delivery (60 s). It must outlast a
    /// round: `batch / concurrency` attempts of `attempt_timeout` each.
    pub lease: Duration,
    /// Deliveries claimed per round (32: at 8 at a time and 10 s each, 40 s at worst).
    pub batch: u32,
    /// Requests in flight at once (8).
    pub concurrency: usize,
    /// The limit of one attempt, connect to status (10 s).
    pub attempt_timeout: Duration,
    /// Events fanned out per endpoint per round (500).
    pub fan_out_limit: u32,
}

impl Default for DelivererConfig {
    fn default() -> Self {
        Self {
            tick: Duration::from_secs(1),
            lease: Duration::from_secs(60),
            batch: 32,
            concurrency: 8,
            attempt_timeout: Duration::from_secs(10),
            fan_out_limit: 500,
        }
    }
}

/// The deliverer or the lookup client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Two endpoints share a URL, so they would share their deliveries.
    #[error("two webhook endpoints have the same URL (endpoint {0})")]
    DuplicateEndpoint(String),
    /// A URL breaks the policy of [`crate::check_url`].
    #[error(transparent)]
    Url(#[from] EndpointError),
    /// reqwest could not build its client (TLS backend initialisation).
    #[error("could not build the HTTP client")]
    Http(#[source] reqwest::Error),
}

/// Delivers the outbox's events to the configured webhook endpoints.
pub struct Deliverer {
    events: Arc<dyn EventStore>,
    users: Arc<dyn UserStore>,
    sealer: Sealer,
    endpoints: HashMap<String, WebhookEndpoint>,
    subscriptions: Vec<Subscription>,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    config: DelivererConfig,
    notify: Arc<Notify>,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer")
            .field("endpoints", &self.endpoints.values().collect::<Vec<_>>())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What preparing a delivery's body came to.
enum Prepared {
    Body(Vec<u8>),
    /// Counts as a failed attempt.
    Failed(Failure),
    /// The store did not answer: leave the claim to expire and try again after the lease,
    /// without spending an attempt.
    Later,
}

impl Deliverer {
    /// A deliverer for `endpoints` over the given stores; `sealer` opens phones for
    /// endpoints with `include_phone`; `clock` dates attempts and their `webhook-timestamp`.
    /// Refuses endpoints that break [`check_url`] or share a URL.
    pub fn new(
        events: Arc<dyn EventStore>,
        users: Arc<dyn UserStore>,
        sealer: Sealer,
        endpoints: Vec<WebhookEndpoint>,
        clock: Arc<dyn Clock>,
        config: DelivererConfig,
    ) -> Result<Self, BuildError> {
        let mut by_id = HashMap::new();
        let mut subscriptions = Vec::new();
        for endpoint in endpoints {
            check_url(&endpoint.url)?;
            let id = endpoint.id();
            subscriptions.push(endpoint.subscription());
            if by_id.insert(id.clone(), endpoint).is_some() {
                return Err(BuildError::DuplicateEndpoint(id));
            }
        }
        Ok(Self {
            events,
            users,
            sealer,
            endpoints: by_id,
            subscriptions,
            http: http::client(config.attempt_timeout).map_err(BuildError::Http)?,
            clock,
            config,
            notify: Arc::new(Notify::new()),
        })
    }

    /// What the event store fans out to, one per endpoint.
    pub fn subscriptions(&self) -> &[Subscription] {
        &self.subscriptions
    }

    /// Whether an endpoint receives `user.signed_in`: only then should sign-ins write it
    /// (`AuthSettings::announce_sign_ins`).
    pub fn announces_sign_ins(&self) -> bool {
        self.subscriptions
            .iter()
            .any(|s| s.types.contains(&EventType::UserSignedIn))
    }

    /// A handle to wake the running deliverer at once (`notify_one()` after a commit that
    /// wrote events); it never blocks, and a poke while a round runs starts the next one.
    pub fn notifier(&self) -> Arc<Notify> {
        Arc::clone(&self.notify)
    }

    /// One round: fan out new events, claim due deliveries, attempt them (at most
    /// `concurrency` at once) and record the outcomes. Returns the number of deliveries
    /// attempted. A failed fan-out is logged and the round goes on with what is already due;
    /// a failed claim is logged and ends it.
    pub async fn run_once(&self) -> usize {
        let now = self.clock.now();
        if let Err(error) = self
            .events
            .fan_out(&self.subscriptions, now, self.config.fan_out_limit)
            .await
        {
            // A background task: its failures end here, so they are logged here.
            tracing::warn!(error = %chain(&error), "webhook fan-out failed");
        }
        let claimed = match self
            .events
            .claim_deliveries(now, self.config.lease, self.config.batch)
            .await
        {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(error = %chain(&error), "claiming webhook deliveries failed");
                return 0;
            }
        };
        let count = claimed.len();
        futures::stream::iter(claimed)
            .for_each_concurrent(self.config.concurrency.max(1), |d| self.deliver(d))
            .await;
        count
    }

    /// Runs rounds until `shutdown` completes: at once while rounds come back full, else
    /// after `tick` or a poke through [`Deliverer::notifier`]. An attempt in flight at
    /// shutdown is abandoned; its claim expires and it is sent again later (at least once).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        let full = usize::try_from(self.config.batch).unwrap_or(usize::MAX);
        loop {
            let attempted = tokio::select! {
                biased;
                () = &mut shutdown => return,
                attempted = self.run_once() => attempted,
            };
            if attempted >= full && full > 0 {
                continue;
            }
            tokio::select! {
                biased;
                () = &mut shutdown => return,
                () = self.notify.notified() => {}
                () = tokio::time::sleep(self.config.tick) => {}
            }
        }
    }

    async fn deliver(&self, delivery: Delivery) {
        let outcome = match self.endpoints.get(&delivery.endpoint) {
            None => Err(Failure::UnknownEndpoint),
            Some(endpoint) => match self.prepare(endpoint, &delivery.event).await {
                Prepared::Later => return,
                Prepared::Failed(failure) => Err(failure),
                Prepared::Body(body) => self.post(endpoint, &delivery, body).await,
            },
        };
        let now = self.clock.now();
        let attempt = delivery.attempts.saturating_add(1);
        let result = match outcome {
            Ok(()) => DeliveryResult::Delivered,
            Err(failure) => after_failure(attempt, delivery.event.at, now, failure.to_string()),
        };
        let label = match &result {
            DeliveryResult::Delivered => "delivered",
            DeliveryResult::Retry { .. } => "retry",
            DeliveryResult::Dead { .. } => "dead",
        };
        metrics::counter!(DELIVERIES_TOTAL, "result" => label).increment(1);
        match &result {
            DeliveryResult::Delivered => {}
            DeliveryResult::Retry { error, .. } | DeliveryResult::Dead { error } => {
                tracing::info!(
                    endpoint = %delivery.endpoint, event = %delivery.event.id, attempt,
                    %error, result = label, "webhook attempt failed"
                );
            }
        }
        if let Err(error) = self
            .events
            .finish_delivery(&delivery.endpoint, &delivery.event.id, &result, now)
            .await
        {
            tracing::warn!(
                endpoint = %delivery.endpoint, event = %delivery.event.id, error = %chain(&error),
                "recording a webhook attempt failed; it will be sent again"
            );
        }
    }

    async fn prepare(&self, endpoint: &WebhookEndpoint, event: &EventRecord) -> Prepared {
        let phone = if endpoint.include_phone {
            match self.current_phone(&event.user_id).await {
                Ok(phone) => phone,
                Err(prepared) => return prepared,
            }
        } else {
            None
        };
        match event_body(event, phone.as_ref().map(|p| p.as_str())) {
            Some(body) => Prepared::Body(body),
            None => Prepared::Failed(Failure::Unencodable),
        }
    }

    /// The user's phone as it is now, E.164; `None` when the user is gone (deleted).
    async fn current_phone(&self, user: &UserId) -> Result<Option<Zeroizing<String>>, Prepared> {
        let record = match self.users.user(user).await {
            Ok(Some(record)) => record,
            Ok(None) => return Ok(None),
            Err(error) => {
                tracing::warn!(error = %chain(&error), "reading a user for a webhook failed");
                return Err(Prepared::Later);
            }
        };
        let text = self
            .sealer
            .open_string(&format!("phone:{user}"), &record.phone_sealed)
            .map_err(|_| Prepared::Failed(Failure::PhoneUnreadable))?;
        // Sealed as `86:13800138000` (`Phone::storage_text`); plain E.164 is taken as is.
        if text.starts_with('+') {
            return Ok(Some(text));
        }
        Phone::from_storage_text(&text)
            .map(|phone| Some(Zeroizing::new(phone.phone_number)))
            .map_err(|_| Prepared::Failed(Failure::PhoneUnreadable))
    }

    async fn post(
        &self,
        endpoint: &WebhookEndpoint,
        delivery: &Delivery,
        body: Vec<u8>,
    ) -> Result<(), Failure> {
        let timestamp = self.clock.now().unix_timestamp();
        let request = self
            .http
            .post(endpoint.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        let request = signed(
            request,
            &endpoint.secret,
            delivery.event.id.as_str(),
            timestamp,
            &body,
        )
        .body(body);
        let started = Instant::now();
        let sent = request.send().await;
        metrics::histogram!(DELIVERY_SECONDS).record(started.elapsed().as_secs_f64());
        // The answer's body is not read: only the status counts, and a receiver's text
        // must never reach our logs or the events API.
        let status = sent.map_err(|e| Failure::of(&e))?.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(Failure::Status(status.as_u16()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_schedule_waits_5s_30s_2min_10min_1h_then_4h() {
        let secs: Vec<u64> = (1..=8).map(|n| retry_delay(n).as_secs()).collect();
        assert_eq!(secs, [5, 30, 120, 600, 3600, 14400, 14400, 14400]);
    }

    #[test]
    fn a_retry_past_three_days_after_the_event_is_dead_instead() {
        let at = datetime!(2026-01-01 00:00 UTC);
        let error = || "HTTP 500".to_owned();
        assert_eq!(
            after_failure(1, at, at, error()),
            DeliveryResult::Retry {
                at: at + Duration::from_secs(5),
                error: error()
            }
        );
        let late = at + GIVE_UP_AFTER - STEADY_DELAY;
        assert!(matches!(
            after_failure(9, at, late, error()),
            DeliveryResult::Retry { .. }
        ));
        let later = late + Duration::from_secs(1);
        assert_eq!(
            after_failure(9, at, later, error()),
            DeliveryResult::Dead { error: error() }
        );
    }
}
