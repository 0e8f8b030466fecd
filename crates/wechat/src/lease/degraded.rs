//! The degraded path: while the shared store fails, tokens come from this instance (its copy
//! of the last shared token, then its own [`AccessTokenManager`](crate::AccessTokenManager)), refetches
//! on a refused token are limited, and at most one call per probe interval tries the store
//! again.

use std::time::{Duration, Instant};

use wxlogin_core::secret::WxAccessToken;

use super::{Inner, Slot, lock};
use crate::access_token::AccessTokenSource;
use crate::error::WeChatError;
use crate::telemetry::FALLBACKS_TOTAL;

/// How often "Redis is unavailable" may be logged.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Shared or degraded, for the whole source.
pub(super) struct Mode {
    pub(super) degraded: bool,
    next_probe: Instant,
    last_warning: Option<Instant>,
}

impl Mode {
    pub(super) fn shared() -> Self {
        Self {
            degraded: false,
            next_probe: Instant::now(),
            last_warning: None,
        }
    }
}

impl Inner {
    pub(super) async fn degraded_get(&self, slot: &Slot) -> Result<WxAccessToken, WeChatError> {
        metrics::counter!(FALLBACKS_TOTAL, "what" => "access_token").increment(1);
        let now = self.now_ms();
        let copy = lock(&slot.state)
            .copy
            .as_ref()
            .filter(|c| now < c.refresh_at)
            .map(|c| c.token.clone());
        if let Some(token) = copy {
            return Ok(token);
        }
        let token = self.fallback.get(&slot.app).await?;
        lock(&slot.state).fallback_token = Some(token.clone());
        Ok(token)
    }

    pub(super) async fn degraded_invalidate(&self, slot: &Slot, refused: &WxAccessToken) {
        metrics::counter!(FALLBACKS_TOTAL, "what" => "access_token").increment(1);
        let now = Instant::now();
        {
            let mut state = lock(&slot.state);
            let in_copy = state.copy.as_ref().is_some_and(|c| &c.token == refused);
            let in_fallback = state.fallback_token.as_ref() == Some(refused);
            if !in_copy && !in_fallback {
                return;
            }
            let interval = self.options.degraded_refetch_interval;
            if state
                .last_degraded_drop
                .is_some_and(|at| now.duration_since(at) < interval)
            {
                tracing::info!(app = %slot.app, "access token refused, but refetching is limited while redis is unavailable");
                return;
            }
            state.last_degraded_drop = Some(now);
            if in_copy {
                state.copy = None;
            }
            if in_fallback {
                state.fallback_token = None;
            }
        }
        self.fallback.invalidate_if(&slot.app, refused).await;
        tracing::info!(app = %slot.app, "access token refused by wechat; dropped locally (redis unavailable)");
    }

    /// Whether to use the store now: always when shared, once per probe interval when
    /// degraded.
    pub(super) fn try_store(&self) -> bool {
        let mut mode = lock(&self.mode);
        if !mode.degraded {
            return true;
        }
        let now = Instant::now();
        if now < mode.next_probe {
            return false;
        }
        mode.next_probe = now + self.options.probe_interval;
        true
    }

    pub(super) fn store_ok(&self) {
        let mut mode = lock(&self.mode);
        if mode.degraded {
            mode.degraded = false;
            tracing::info!("redis answers again; access tokens are shared again");
        }
    }

    /// Swallows a store failure (this instance carries on alone), so it is logged here.
    pub(super) fn store_failed(&self, error: &wxlogin_core::ports::StoreError) {
        let mut mode = lock(&self.mode);
        let now = Instant::now();
        mode.degraded = true;
        mode.next_probe = now + self.options.probe_interval;
        if mode
            .last_warning
            .is_none_or(|at| now.duration_since(at) >= WARN_EVERY)
        {
            mode.last_warning = Some(now);
            let error = wxlogin_core::cause::chain(error);
            tracing::warn!(%error, "redis unavailable; access tokens are fetched per instance until it answers");
        }
    }
}
