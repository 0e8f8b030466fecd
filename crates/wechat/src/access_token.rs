//! Access tokens: the [`AccessTokenSource`] port and the in-process [`AccessTokenManager`].
//!
//! The manager keeps one token per appid, fetched with `stable_token` in normal mode (so
//! several processes sharing an appid get the *same* token, and none invalidates another's),
//! renews it before expiry, and runs at most one fetch per appid at a time: every caller that
//! needs a token while a fetch is running waits for that fetch and shares its result.
//!
//! The single flight is a `futures` [`Shared`] fetch per appid, not moka's `try_get_with`:
//! that runs only when the key is absent, whereas past the refresh point this manager keeps
//! serving the still-valid token while one fetch runs in the background; moka's expiry reads
//! its own clock, not the injected [`Clock`] the tests move; and `invalidate_if` removes the
//! token only if it is still the one held, which moka's `invalidate` cannot check.
//!
//! The cluster-wide version, a lease around the fetch shared through a store, is
//! [`crate::lease::LeasedTokenSource`].

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use wxlogin_core::ids::AppId;
use wxlogin_core::secret::{AppSecret, WxAccessToken};

use crate::client::WeChatClient;
use crate::error::WeChatError;
use crate::telemetry;
use wxlogin_core::clock::{Clock, SystemClock};

/// Where the phone path gets its access token.
#[async_trait]
pub trait AccessTokenSource: Send + Sync {
    /// A token for `app` that WeChat should accept.
    ///
    /// Errors: [`WeChatError::NotConfigured`] for an unknown appid (nothing sent); otherwise
    /// the fetch's failure, wrapped in [`WeChatError::TokenRefresh`] when it was shared.
    async fn get(&self, app: &AppId) -> Result<WxAccessToken, WeChatError>;

    /// WeChat refused `refused` for `app`: forget it, but only if it is still the token held,
    /// so a slow caller cannot throw away a fresh one. The next [`AccessTokenSource::get`]
    /// fetches. Idempotent.
    async fn invalidate_if(&self, app: &AppId, refused: &WxAccessToken);
}

/// Refresh this long before expiry. WeChat renews stable tokens 5 minutes early and honours
/// the old one for those 5 minutes, so a fetch in this window gets the successor.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Tuning for [`AccessTokenManager`].
#[derive(Clone)]
pub struct AccessTokenOptions {
    /// Refresh this long before expiry, but never before half the token's lifetime has passed.
    pub refresh_margin: Duration,
    /// The time source for expiry.
    pub clock: Arc<dyn Clock>,
}

impl Default for AccessTokenOptions {
    fn default() -> Self {
        Self {
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            clock: Arc::new(SystemClock),
        }
    }
}

impl fmt::Debug for AccessTokenOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessTokenOptions")
            .field("refresh_margin", &self.refresh_margin)
            .finish_non_exhaustive()
    }
}

/// The in-process [`AccessTokenSource`]: one cached token per configured appid.
///
/// Proactive refresh happens on demand: the first [`AccessTokenSource::get`] inside the
/// refresh window starts a background fetch and still returns the current, valid token; later
/// callers keep getting it until the fetch lands. Only once a token has *expired* do callers
/// wait.
#[derive(Clone)]
pub struct AccessTokenManager {
    inner: Arc<Inner>,
}

struct Inner {
    client: WeChatClient,
    apps: HashMap<AppId, Arc<Slot>>,
    refresh_margin: Duration,
    clock: Arc<dyn Clock>,
}

struct Slot {
    app: AppId,
    secret: AppSecret,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    cached: Option<Cached>,
    inflight: Option<Refresh>,
}

struct Cached {
    token: WxAccessToken,
    refresh_at: Instant,
    expires_at: Instant,
}

/// A running fetch, awaitable by any number of callers. The error is shared, hence the `Arc`.
type Refresh = Shared<BoxFuture<'static, Result<WxAccessToken, Arc<WeChatError>>>>;

impl AccessTokenManager {
    /// A manager with the default margin and the [`SystemClock`].
    pub fn new(client: WeChatClient, apps: HashMap<AppId, AppSecret>) -> Self {
        Self::with_options(client, apps, AccessTokenOptions::default())
    }

    /// A manager with explicit options.
    pub fn with_options(
        client: WeChatClient,
        apps: HashMap<AppId, AppSecret>,
        options: AccessTokenOptions,
    ) -> Self {
        let apps = apps
            .into_iter()
            .map(|(app, secret)| {
                let slot = Slot {
                    app: app.clone(),
                    secret,
                    state: Mutex::new(State::default()),
                };
                (app, Arc::new(slot))
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                client,
                apps,
                refresh_margin: options.refresh_margin,
                clock: options.clock,
            }),
        }
    }

    /// Waits for a fetch of `app`'s token that is running in the background, if any. For
    /// graceful shutdown and for tests; [`AccessTokenSource::get`] never needs it.
    pub async fn settled(&self, app: &AppId) {
        let running = self
            .inner
            .apps
            .get(app)
            .and_then(|slot| lock(&slot.state).inflight.clone());
        if let Some(refresh) = running {
            let _ = refresh.await;
        }
    }

    /// Starts a fetch in its own task, so that it completes (and fills the cache) even if
    /// every caller waiting on it gives up. Called with the slot's state locked.
    fn start_refresh(&self, slot: &Arc<Slot>) -> Refresh {
        let inner = Arc::clone(&self.inner);
        let slot = Arc::clone(slot);
        let task = tokio::spawn(async move {
            let fetched_at = inner.clock.instant();
            let result = inner
                .client
                .stable_token(&slot.app, &slot.secret, false)
                .await;
            telemetry::record_refresh(result.is_ok());
            let mut state = lock(&slot.state);
            state.inflight = None;
            match result {
                Ok(fetched) => {
                    let (refresh_at, expires_at) =
                        schedule(fetched_at, fetched.expires_in, inner.refresh_margin);
                    state.cached = Some(Cached {
                        token: fetched.token.clone(),
                        refresh_at,
                        expires_at,
                    });
                    tracing::debug!(app = %slot.app, expires_in = ?fetched.expires_in, "access token fetched");
                    Ok(fetched.token)
                }
                // Not logged here: every caller waiting on this fetch gets the error as the
                // source of its own, which the adapter logs.
                Err(error) => Err(Arc::new(error)),
            }
        });
        async move {
            task.await
                .unwrap_or_else(|_| Err(Arc::new(WeChatError::RefreshAborted)))
        }
        .boxed()
        .shared()
    }
}

#[async_trait]
impl AccessTokenSource for AccessTokenManager {
    async fn get(&self, app: &AppId) -> Result<WxAccessToken, WeChatError> {
        let slot = self
            .inner
            .apps
            .get(app)
            .ok_or_else(|| WeChatError::NotConfigured(app.clone()))?;
        let now = self.inner.clock.instant();
        let refresh = {
            let mut state = lock(&slot.state);
            let still_valid = match &state.cached {
                Some(cached) if now < cached.refresh_at => return Ok(cached.token.clone()),
                Some(cached) if now < cached.expires_at => Some(cached.token.clone()),
                _ => None,
            };
            let refresh = match &state.inflight {
                Some(running) => running.clone(),
                None => {
                    let started = self.start_refresh(slot);
                    state.inflight = Some(started.clone());
                    started
                }
            };
            if let Some(token) = still_valid {
                return Ok(token);
            }
            refresh
        };
        refresh.await.map_err(WeChatError::TokenRefresh)
    }

    async fn invalidate_if(&self, app: &AppId, refused: &WxAccessToken) {
        let Some(slot) = self.inner.apps.get(app) else {
            return;
        };
        let mut state = lock(&slot.state);
        if state
            .cached
            .as_ref()
            .is_some_and(|cached| &cached.token == refused)
        {
            state.cached = None;
            tracing::info!(app = %app, "access token refused by wechat; dropped");
        }
    }
}

impl fmt::Debug for AccessTokenManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessTokenManager")
            .field("apps", &self.inner.apps.keys().collect::<Vec<_>>())
            .field("refresh_margin", &self.inner.refresh_margin)
            .finish_non_exhaustive()
    }
}

/// When to refresh and when the token dies, counted from just before the fetch was sent (so
/// our idea of expiry is never later than WeChat's).
fn schedule(fetched_at: Instant, lifetime: Duration, margin: Duration) -> (Instant, Instant) {
    let margin = margin.min(lifetime / 2);
    let expires_at = fetched_at + lifetime;
    (expires_at - margin, expires_at)
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // Nothing panics while holding it; if something ever did, the cache is still coherent.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_two_hour_token_is_refreshed_five_minutes_early() {
        let t0 = Instant::now();
        let (refresh_at, expires_at) =
            schedule(t0, Duration::from_secs(7200), DEFAULT_REFRESH_MARGIN);
        assert_eq!(refresh_at - t0, Duration::from_secs(6900));
        assert_eq!(expires_at - t0, Duration::from_secs(7200));
    }

    #[test]
    fn a_short_lived_token_is_used_for_at_least_half_its_life() {
        let t0 = Instant::now();
        let (refresh_at, expires_at) =
            schedule(t0, Duration::from_secs(400), DEFAULT_REFRESH_MARGIN);
        assert_eq!(refresh_at - t0, Duration::from_secs(200));
        assert_eq!(expires_at - t0, Duration::from_secs(400));
    }
}
