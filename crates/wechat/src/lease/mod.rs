//! The cluster-wide WeChat access token: [`LeasedTokenSource`] shares one token per appid
//! through a [`TokenLease`] (in production `wxlogin-store-redis`'s `RedisTokenLease`), sealed,
//! and lets exactly one instance at a time fetch it; while the store is away each instance
//! falls back to its own [`AccessTokenManager`].
//!
//! The store keeps only the sealed token, the lease and the fences ([`wxlogin_core::lease`]);
//! everything about WeChat (the AppSecrets, the fetch, when to refresh, what to do while the
//! store fails) is here, next to the in-process [`AccessTokenManager`].
//!
//! # Reading and refreshing
//! A `get` first tries the instance's own copy (at most [`LeaseOptions::local_ttl`], default
//! 5 s, old, and never past the token's refresh time), then reads the shared token. A token
//! before its `refresh_at` is served. After `refresh_at` (expiry minus the 300 s margin, never
//! before half the token's lifetime) it is still served, and one instance takes the lease in
//! the background and fetches the successor (`stable_token`, normal mode), so readers rarely
//! wait. Only when there is no valid token does a caller take the lease itself or, if another
//! instance holds it, poll (10 ms doubling to 200 ms) until the token appears or the lease
//! goes; it gives up ([`WeChatError::RefreshAborted`], a 503) after the lease duration plus
//! one poll. In each instance, one task per appid does this and the other callers await it.
//! A holder whose fetch fails releases the lease and returns the error; a waiter that then
//! finds neither token nor lease takes the lease and tries once more itself (the client's
//! circuit breaker stops this when WeChat is down).
//!
//! Taking the lease also checks that the token is still the one the caller looked at (by its
//! fence), so a caller that read "absent" just before another instance published does not
//! fetch a second time.
//!
//! # Fencing
//! Every lease carries a fence larger than every earlier one, and the store accepts a token
//! only from the holder of the latest lease ([`TokenLease::publish`]). So once a later holder
//! has taken the lease, an earlier one (paused past its lease, or slow at WeChat) can no
//! longer write: its stale token never replaces a newer one. An expired holder that nobody
//! replaced may still publish; its token was fetched after every other lease, so it is the
//! newest.
//!
//! # Invalidation
//! `invalidate_if(app, refused)` deletes the shared token only if its hash is the refused
//! token's ([`TokenLease::invalidate_if`]). When WeChat kills a token, every instance that sees
//! 40001 invalidates by value: the first delete wins, later ones find a newer or no token, and
//! the lease makes the refetch one call, not a stampede. The instance's own copy of the refused
//! token is dropped too.
//!
//! # When the store is down
//! On any store error the source turns **degraded** ([`LeaseStatus::Degraded`], for
//! `/readyz`): it warns at most once a minute, counts [`FALLBACKS_TOTAL`]`{what="access_token"}`
//! per operation served without the store, and serves first its own copy of the last shared
//! token (until that token's refresh time), then a per-instance [`AccessTokenManager`]
//! (single-flight, early refresh), so phone numbers keep working, with one fetch per instance
//! instead of one per cluster. Its refetches on a refused token are limited: within
//! [`LeaseOptions::degraded_refetch_interval`] (default 10 s) of the last one, a refusal
//! keeps the token, so a 40001 loop costs at most one fetch per appid per instance per
//! interval. At most one call per [`LeaseOptions::probe_interval`] (default 1 s) tries the
//! store again; the first that succeeds makes the source shared again. Tokens fetched while
//! degraded are not written to the store afterwards (the stored one may meanwhile have been
//! refused; a 40001 then drops it by value as above).
//!
//! The only shared store is Redis, and operators search for these words: the log lines say
//! "redis".
//!
//! # Times
//! `refresh_at` and `expires_at` are Unix ms from the instance that fetched, so instances'
//! clocks should agree to well within the 300 s margin (NTP does). The store's expiry only
//! reclaims memory; readers also compare `expires_at` with their own clock.
//!
//! # Metrics
//! [`ACCESS_TOKEN_REFRESHES_TOTAL`]`{result}` (the token manager's counter, one per lease
//! holder's fetch), [`LEASE_WAITS_TOTAL`] and [`FALLBACKS_TOTAL`].
//!
//! # Layout
//! * this module: [`LeaseOptions`], [`LeaseStatus`], [`LeasedTokenSource`] and its
//!   [`AccessTokenSource`] methods, which pick the shared or the degraded path;
//! * `shared`: the shared path: the instance's copy, single flight, waiting, early refresh,
//!   fetching and publishing under a fence;
//! * `degraded`: the per-instance fallback, its refetch limit, and probing the store again.
//!
//! [`ACCESS_TOKEN_REFRESHES_TOTAL`]: crate::telemetry::ACCESS_TOKEN_REFRESHES_TOTAL
//! [`LEASE_WAITS_TOTAL`]: crate::telemetry::LEASE_WAITS_TOTAL
//! [`FALLBACKS_TOTAL`]: crate::telemetry::FALLBACKS_TOTAL

mod degraded;
mod shared;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tokio::sync::watch;
use wxlogin_core::crypto::Sealer;
use wxlogin_core::ids::AppId;
use wxlogin_core::lease::{TokenHash, TokenLease};
use wxlogin_core::ports::StoreError;
use wxlogin_core::secret::{AppSecret, WxAccessToken};

use self::degraded::Mode;
use crate::access_token::{
    AccessTokenManager, AccessTokenOptions, AccessTokenSource, DEFAULT_REFRESH_MARGIN,
};
use crate::client::WeChatClient;
use crate::error::WeChatError;
use crate::telemetry::FALLBACKS_TOTAL;
use wxlogin_core::clock::{Clock, SystemClock};

/// Tuning for [`LeasedTokenSource`].
#[derive(Clone)]
pub struct LeaseOptions {
    /// How long a refresher holds the lease. Longer than a whole fetch with its retries
    /// (3 attempts of at most 5 s by default), so a slow holder is rarely taken over.
    pub lease: Duration,
    /// Refresh this long before expiry, but never before half the token's lifetime.
    pub refresh_margin: Duration,
    /// First wait between polls while another instance refreshes; doubles up to `poll_max`.
    pub poll_initial: Duration,
    /// Longest wait between polls.
    pub poll_max: Duration,
    /// How long an instance serves its own copy without reading the store.
    pub local_ttl: Duration,
    /// While degraded, a refused token is dropped (and refetched) at most once per this.
    pub degraded_refetch_interval: Duration,
    /// While degraded, at most one call per this tries the store again.
    pub probe_interval: Duration,
    /// The time source for token lifetimes (stored as Unix ms derived from it).
    pub clock: Arc<dyn Clock>,
}

impl Default for LeaseOptions {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(20),
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            poll_initial: Duration::from_millis(10),
            poll_max: Duration::from_millis(200),
            local_ttl: Duration::from_secs(5),
            degraded_refetch_interval: Duration::from_secs(10),
            probe_interval: Duration::from_secs(1),
            clock: Arc::new(SystemClock),
        }
    }
}

impl fmt::Debug for LeaseOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeaseOptions")
            .field("lease", &self.lease)
            .field("refresh_margin", &self.refresh_margin)
            .field("poll_initial", &self.poll_initial)
            .field("poll_max", &self.poll_max)
            .field("local_ttl", &self.local_ttl)
            .field("degraded_refetch_interval", &self.degraded_refetch_interval)
            .field("probe_interval", &self.probe_interval)
            .finish_non_exhaustive()
    }
}

/// Where tokens come from right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseStatus {
    /// From the shared store: one token and one refresher per appid for the whole cluster.
    Shared,
    /// The store failed: each instance fetches its own (same stable_token), locally limited.
    Degraded,
}

/// The cluster-wide [`AccessTokenSource`]. Cheap to clone.
#[derive(Clone)]
pub struct LeasedTokenSource {
    inner: Arc<Inner>,
}

struct Inner {
    lease: Arc<dyn TokenLease>,
    client: WeChatClient,
    sealer: Sealer,
    slots: HashMap<AppId, Arc<Slot>>,
    fallback: AccessTokenManager,
    options: LeaseOptions,
    mode: Mutex<Mode>,
    /// The clock's reading at construction and the Unix time (ms) then.
    epoch: (Instant, u64),
}

struct Slot {
    app: AppId,
    secret: AppSecret,
    /// The sealing context of this app's shared token, `wechat-token:<appid>`.
    context: String,
    state: Mutex<SlotState>,
}

#[derive(Default)]
struct SlotState {
    copy: Option<LocalCopy>,
    flight: Option<watch::Receiver<Option<Flight>>>,
    refreshing_early: bool,
    /// What the fallback last served, to tell whether a refusal concerns it.
    fallback_token: Option<WxAccessToken>,
    last_degraded_drop: Option<Instant>,
}

/// This instance's copy of the shared token.
struct LocalCopy {
    token: WxAccessToken,
    refresh_at: u64,
    read_at: u64,
}

type Flight = Result<WxAccessToken, FlightError>;

#[derive(Clone)]
enum FlightError {
    /// The shared store failed.
    Store(StoreError),
    WeChat(Arc<WeChatError>),
    GaveUp,
}

impl LeasedTokenSource {
    /// A source for `apps`, sharing tokens through `lease`, sealed with `sealer`. The
    /// fallback [`AccessTokenManager`] uses the same client, margin and clock.
    pub fn new(
        lease: Arc<dyn TokenLease>,
        client: WeChatClient,
        apps: HashMap<AppId, AppSecret>,
        sealer: Sealer,
        options: LeaseOptions,
    ) -> Self {
        let fallback = AccessTokenManager::with_options(
            client.clone(),
            apps.clone(),
            AccessTokenOptions {
                refresh_margin: options.refresh_margin,
                clock: options.clock.clone(),
            },
        );
        let slots = apps
            .into_iter()
            .map(|(app, secret)| {
                let slot = Slot {
                    context: format!("wechat-token:{}", app.as_str()),
                    app: app.clone(),
                    secret,
                    state: Mutex::default(),
                };
                (app, Arc::new(slot))
            })
            .collect();
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, millis);
        let epoch = (options.clock.instant(), unix_ms);
        Self {
            inner: Arc::new(Inner {
                lease,
                client,
                sealer,
                slots,
                fallback,
                options,
                mode: Mutex::new(Mode::shared()),
                epoch,
            }),
        }
    }

    /// Shared, or degraded to per-instance tokens because the store failed (for `/readyz`).
    pub fn status(&self) -> LeaseStatus {
        if lock(&self.inner.mode).degraded {
            LeaseStatus::Degraded
        } else {
            LeaseStatus::Shared
        }
    }
}

#[async_trait]
impl AccessTokenSource for LeasedTokenSource {
    async fn get(&self, app: &AppId) -> Result<WxAccessToken, WeChatError> {
        let inner = &self.inner;
        let slot = inner.slot(app)?;
        if let Some(token) = inner.fresh_copy(slot) {
            return Ok(token);
        }
        if !inner.try_store() {
            return inner.degraded_get(slot).await;
        }
        match inner.shared_get(slot).await {
            Ok(token) => {
                inner.store_ok();
                Ok(token)
            }
            Err(FlightError::Store(error)) => {
                inner.store_failed(&error);
                inner.degraded_get(slot).await
            }
            Err(FlightError::WeChat(error)) => {
                inner.store_ok();
                Err(WeChatError::TokenRefresh(error))
            }
            Err(FlightError::GaveUp) => Err(WeChatError::RefreshAborted),
        }
    }

    async fn invalidate_if(&self, app: &AppId, refused: &WxAccessToken) {
        let inner = &self.inner;
        let Ok(slot) = inner.slot(app) else { return };
        if !inner.try_store() {
            inner.degraded_invalidate(slot, refused).await;
            return;
        }
        // The local forms go at once; dropping them fetches nothing by itself.
        {
            let mut state = lock(&slot.state);
            if state.copy.as_ref().is_some_and(|c| &c.token == refused) {
                state.copy = None;
            }
            if state.fallback_token.as_ref() == Some(refused) {
                state.fallback_token = None;
            }
        }
        inner.fallback.invalidate_if(app, refused).await;
        match inner
            .lease
            .invalidate_if(app, &TokenHash::of(refused))
            .await
        {
            Ok(deleted) => {
                inner.store_ok();
                if deleted {
                    tracing::info!(app = %app, "access token refused by wechat; dropped from redis");
                } else {
                    tracing::debug!(app = %app, "refused access token already replaced in redis");
                }
            }
            Err(error) => {
                inner.store_failed(&error);
                // The local drop above was this interval's refetch.
                lock(&slot.state).last_degraded_drop = Some(Instant::now());
                metrics::counter!(FALLBACKS_TOTAL, "what" => "access_token").increment(1);
            }
        }
    }
}

impl Inner {
    fn slot(&self, app: &AppId) -> Result<&Arc<Slot>, WeChatError> {
        self.slots
            .get(app)
            .ok_or_else(|| WeChatError::NotConfigured(app.clone()))
    }

    /// Now in Unix ms, as the injected clock sees it.
    fn now_ms(&self) -> u64 {
        let (at, unix_ms) = self.epoch;
        unix_ms.saturating_add(millis(
            self.options.clock.instant().saturating_duration_since(at),
        ))
    }
}

impl fmt::Debug for LeasedTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeasedTokenSource")
            .field("apps", &self.inner.slots.keys().collect::<Vec<_>>())
            .field("options", &self.inner.options)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

/// A store failure as the flight reports it.
fn store_failure(error: StoreError) -> FlightError {
    FlightError::Store(error)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these; the state stays coherent if something ever did.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
