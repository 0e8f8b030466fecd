//! The shared path: the instance's copy, one task per appid that takes the lease or waits for
//! its holder, the early refresh in the background, and the holder's fetch and publish.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use wxlogin_core::lease::{Acquired, Fence, SharedToken, TokenHash};
use wxlogin_core::secret::WxAccessToken;

use super::{Flight, FlightError, Inner, LocalCopy, Slot, lock, millis, store_failure};
use crate::telemetry::{self, LEASE_WAITS_TOTAL};

/// The shared token as read and opened; `token` is `None` if it does not open.
struct Stored {
    token: Option<WxAccessToken>,
    fence: Fence,
    refresh_at: u64,
    expires_at: u64,
}

impl Inner {
    pub(super) fn fresh_copy(&self, slot: &Slot) -> Option<WxAccessToken> {
        let now = self.now_ms();
        let local_ttl = millis(self.options.local_ttl);
        let state = lock(&slot.state);
        let copy = state.copy.as_ref()?;
        (now < copy.refresh_at && now < copy.read_at.saturating_add(local_ttl))
            .then(|| copy.token.clone())
    }

    fn remember(&self, slot: &Slot, token: &WxAccessToken, refresh_at: u64) {
        lock(&slot.state).copy = Some(LocalCopy {
            token: token.clone(),
            refresh_at,
            read_at: self.now_ms(),
        });
    }

    /// Reads the token; serves a valid one (starting the early refresh once it is due), or
    /// joins this instance's task that takes the lease or waits for it.
    pub(super) async fn shared_get(self: &Arc<Self>, slot: &Arc<Slot>) -> Flight {
        if let Some(stored) = self.read(slot).await? {
            let now = self.now_ms();
            if let Some(token) = stored.token.filter(|_| now < stored.expires_at) {
                self.remember(slot, &token, stored.refresh_at);
                if now >= stored.refresh_at {
                    self.refresh_early(slot, stored.fence);
                }
                return Ok(token);
            }
        }
        self.join_flight(slot).await
    }

    async fn join_flight(self: &Arc<Self>, slot: &Arc<Slot>) -> Flight {
        let mut flight = {
            let mut state = lock(&slot.state);
            match &state.flight {
                // `has_changed` fails only if the task died without answering.
                Some(running) if running.has_changed().is_ok() => running.clone(),
                _ => {
                    let (done, running) = watch::channel(None);
                    state.flight = Some(running.clone());
                    let (inner, slot) = (Arc::clone(self), Arc::clone(slot));
                    tokio::spawn(async move {
                        let result = inner.refresh_or_wait(&slot).await;
                        lock(&slot.state).flight = None;
                        done.send_replace(Some(result));
                    });
                    running
                }
            }
        };
        match flight.wait_for(Option::is_some).await {
            Ok(result) => result.clone().unwrap_or(Err(FlightError::GaveUp)),
            Err(_) => Err(FlightError::GaveUp),
        }
    }

    /// No valid shared token: take the lease and fetch, or wait for the holder's token.
    async fn refresh_or_wait(&self, slot: &Slot) -> Flight {
        let deadline = tokio::time::Instant::now() + self.options.lease + self.options.poll_max;
        let mut backoff = self.options.poll_initial;
        let mut waited = false;
        loop {
            let stored = self.read(slot).await?;
            let now = self.now_ms();
            let seen = match stored {
                Some(Stored {
                    token: Some(token),
                    expires_at,
                    refresh_at,
                    ..
                }) if now < expires_at => {
                    self.remember(slot, &token, refresh_at);
                    return Ok(token);
                }
                Some(stored) => Some(stored.fence),
                None => None,
            };
            let acquired = self
                .lease
                .acquire(&slot.app, seen, self.options.lease)
                .await
                .map_err(store_failure)?;
            let pause = match acquired {
                Acquired::Won(fence) => return self.fetch_and_publish(slot, fence).await,
                Acquired::Changed => Duration::ZERO,
                Acquired::Held { remaining } => {
                    if !waited {
                        waited = true;
                        metrics::counter!(LEASE_WAITS_TOTAL).increment(1);
                    }
                    let pause = backoff.min(remaining).max(Duration::from_millis(1));
                    backoff = (backoff * 2).min(self.options.poll_max);
                    pause
                }
            };
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(app = %slot.app, "gave up waiting for another instance's access-token refresh");
                return Err(FlightError::GaveUp);
            }
            tokio::time::sleep(pause).await;
        }
    }

    /// Inside the refresh window: one background attempt per instance to take the lease and
    /// fetch the successor; callers keep the current token meanwhile.
    fn refresh_early(self: &Arc<Self>, slot: &Arc<Slot>, seen: Fence) {
        {
            let mut state = lock(&slot.state);
            if state.refreshing_early || state.flight.is_some() {
                return;
            }
            state.refreshing_early = true;
        }
        let (inner, slot) = (Arc::clone(self), Arc::clone(slot));
        tokio::spawn(async move {
            let acquired = inner
                .lease
                .acquire(&slot.app, Some(seen), inner.options.lease)
                .await;
            match acquired {
                Ok(Acquired::Won(fence)) => {
                    // Nobody waits for this one: its failure ends here, so it is logged here.
                    if let Err(FlightError::WeChat(error)) =
                        inner.fetch_and_publish(&slot, fence).await
                    {
                        let error = wxlogin_core::cause::chain(error.as_ref());
                        tracing::warn!(app = %slot.app, %error, "early access token refresh failed");
                    }
                }
                Ok(Acquired::Held { .. } | Acquired::Changed) => {}
                Err(error) => inner.store_failed(&error),
            }
            lock(&slot.state).refreshing_early = false;
        });
    }

    /// The shared token, opened.
    async fn read(&self, slot: &Slot) -> Result<Option<Stored>, FlightError> {
        let Some(shared) = self.lease.read(&slot.app).await.map_err(store_failure)? else {
            return Ok(None);
        };
        let token = match self.sealer.open_string(&slot.context, &shared.sealed) {
            Ok(text) => Some(WxAccessToken::new(text.as_str())),
            Err(_) => {
                tracing::warn!(app = %slot.app, "shared access token does not open (another master key?); refetching");
                None
            }
        };
        Ok(Some(Stored {
            token,
            fence: shared.fence,
            refresh_at: shared.refresh_at_ms,
            expires_at: shared.expires_at_ms,
        }))
    }

    /// The lease holder's work: fetch, seal, publish under the fence. The fetched token is
    /// returned even if a newer holder's stands in the store, or the store failed: it is
    /// genuine.
    async fn fetch_and_publish(&self, slot: &Slot, fence: Fence) -> Flight {
        let fetched_at = self.now_ms();
        let result = self
            .client
            .stable_token(&slot.app, &slot.secret, false)
            .await;
        telemetry::record_refresh(result.is_ok());
        let fetched = match result {
            Ok(fetched) => fetched,
            Err(error) => {
                // Not logged here: the caller's request logs it (the adapter), or the early
                // refresh that swallows it does.
                let _ = self.lease.release(&slot.app, fence).await;
                return Err(FlightError::WeChat(Arc::new(error)));
            }
        };
        let lifetime = fetched.expires_in;
        let expires_at = fetched_at.saturating_add(millis(lifetime));
        let refresh_at = expires_at - millis(self.options.refresh_margin.min(lifetime / 2));
        let shared = SharedToken {
            sealed: self
                .sealer
                .seal(&slot.context, fetched.token.expose_secret().as_bytes()),
            hash: TokenHash::of(&fetched.token),
            refresh_at_ms: refresh_at,
            expires_at_ms: expires_at,
            fence,
        };
        let ttl = Duration::from_millis(expires_at.saturating_sub(self.now_ms()).max(1));
        match self.lease.publish(&slot.app, &shared, ttl).await {
            Ok(true) => {
                tracing::debug!(app = %slot.app, fence = fence.0, expires_in = ?lifetime, "access token fetched and shared");
                self.remember(slot, &fetched.token, refresh_at);
            }
            Ok(false) => {
                tracing::info!(app = %slot.app, fence = fence.0, "lease was taken over; the newer holder's token stands");
            }
            Err(error) => {
                self.store_failed(&error);
                self.remember(slot, &fetched.token, refresh_at);
            }
        }
        Ok(fetched.token)
    }
}
