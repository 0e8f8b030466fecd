//! The cluster-wide WeChat access token: [`RedisTokenSource`] keeps one token per appid in
//! Redis, sealed, and lets exactly one instance at a time fetch it; while Redis is away each
//! instance falls back to its own [`TokenManager`].
//!
//! # Keys
//! Every key of one appid carries the hash tag `{wechat-token:<appid>}`, so the scripts below,
//! which touch several of them, stay in one Redis Cluster slot.
//!
//! | key | value | TTL |
//! |---|---|---|
//! | `<prefix>{wechat-token:<appid>}:token` | hash: `sealed` (AES-256-GCM of the token, context `wechat-token:<appid>`), `sha256` (hex SHA-256 of the token), `refresh_at` and `expires_at` (Unix ms), `fence` (the lease that wrote it) | until `expires_at` |
//! | `<prefix>{wechat-token:<appid>}:lease` | the holder's fence | the lease duration (default 20 s); deleted when the holder publishes or fails |
//! | `<prefix>{wechat-token:<appid>}:fence` | a counter, raised by `INCR` for every lease | none: it must only grow |
//!
//! The token itself is never stored in clear; the hash only serves to compare it.
//!
//! # Reading and refreshing
//! A `get` first tries the instance's own copy (at most [`LeaseOptions::local_ttl`], default
//! 5 s, old, and never past the token's refresh time), then reads the hash. A token before its
//! `refresh_at` is served. After `refresh_at` (expiry minus the 300 s margin, never before
//! half the token's lifetime) it is still served, and one instance takes the lease in the
//! background and fetches the successor (`stable_token`, normal mode), so readers rarely wait.
//! Only when there is no valid token does a caller take the lease itself or, if another
//! instance holds it, poll (10 ms doubling to 200 ms) until the token appears or the lease
//! goes; it gives up ([`WeChatError::RefreshAborted`], a 503) after the lease duration plus
//! one poll. In each instance, one task per appid does this and the other callers await it.
//! A holder whose fetch fails releases the lease and returns the error; a waiter that then
//! finds neither token nor lease takes the lease and tries once more itself (the client's
//! circuit breaker stops this when WeChat is down).
//!
//! Taking the lease is a script that also checks that the token is still the one the caller
//! looked at (by its fence), so a caller that read "absent" just before another instance
//! published does not fetch a second time.
//!
//! # Fencing
//! The lease carries a fence from `INCR` on the counter (bumped past the stored token's fence
//! if the counter was lost, so fences only grow). The holder publishes with a script that
//! writes only if the counter still equals its fence, i.e. no lease was granted after its own.
//! Both scripts run atomically on one slot, so once a later holder has taken the lease, an
//! earlier one (paused past its lease, or slow at WeChat) can no longer write: its stale token
//! never replaces a newer one. An expired holder that nobody replaced may still publish; its
//! token was fetched after every other lease, so it is the newest. A token is written only
//! together with the fence of the lease that fetched it.
//!
//! # Invalidation
//! `invalidate_if(app, refused)` deletes the hash only if its `sha256` is the refused token's
//! (a script). When WeChat kills a token, every instance that sees 40001 invalidates by value:
//! the first delete wins, later ones find a newer or no token, and the lease makes the refetch
//! one call, not a stampede. The instance's own copy of the refused token is dropped too.
//!
//! # When Redis is down
//! On any Redis error the source turns **degraded** ([`LeaseStatus::Degraded`], for
//! `/readyz`): it warns at most once a minute, counts
//! `wxlogin_redis_fallbacks_total{what="access_token"}` per operation served without Redis,
//! and serves first its own copy of the last shared token (until that token's refresh time), then a per-instance [`TokenManager`]
//! (single-flight, early refresh), so phone numbers keep working, with one fetch per instance
//! instead of one per cluster. Its refetches on a refused token are limited: within
//! [`LeaseOptions::degraded_refetch_interval`] (default 10 s) of the last one, a refusal
//! keeps the token, so a 40001 loop costs at most one fetch per appid per instance per
//! interval. At most one call per [`LeaseOptions::probe_interval`] (default 1 s) tries Redis
//! again; the first that succeeds makes the source shared again. Tokens fetched while
//! degraded are not written to Redis afterwards (the stored one may meanwhile have been
//! refused; a 40001 then drops it by value as above).
//!
//! # Times
//! `refresh_at` and `expires_at` are Unix ms from the instance that fetched, so instances'
//! clocks should agree to well within the 300 s margin (NTP does). The key's TTL only
//! reclaims memory; readers also compare `expires_at` with their own clock.
//!
//! # Metrics
//! `wxlogin_access_token_refreshes_total{result}` (the token manager's counter, one per
//! lease holder's fetch), [`LEASE_WAITS_TOTAL`] and [`FALLBACKS_TOTAL`].

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use redis::Script;
use tokio::sync::watch;
use wxlogin_core::crypto::{HandleHash, Sealer};
use wxlogin_core::ids::AppId;
use wxlogin_core::secret::{AppSecret, WxAccessToken};
use wxlogin_wechat::telemetry::ACCESS_TOKEN_REFRESHES_TOTAL;
use wxlogin_wechat::token::DEFAULT_REFRESH_MARGIN;
use wxlogin_wechat::{
    AccessTokenSource, Clock, TokenManager, TokenOptions, TokioClock, WeChatClient, WeChatError,
};

use crate::{RedisStore, redis_err};

/// Counter: operations served without Redis, `{what}`; here `what="access_token"`.
pub const FALLBACKS_TOTAL: &str = "wxlogin_redis_fallbacks_total";
/// Counter: refreshes a caller waited for because another instance held the lease.
pub const LEASE_WAITS_TOTAL: &str = "wxlogin_access_token_lease_waits_total";

/// How often "Redis is unavailable" may be logged.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Takes the lease if the token is still the one seen (`ARGV[1]`, its fence or `""`) and
/// nobody holds it. Returns `{1, fence}`, `{0, lease pttl}` or `{2, 0}` (token changed).
const ACQUIRE: &str = r"
local stored = redis.call('HGET', KEYS[1], 'fence')
if (stored or '') ~= ARGV[1] then return {2, 0} end
if redis.call('EXISTS', KEYS[2]) == 1 then return {0, redis.call('PTTL', KEYS[2])} end
local fence = redis.call('INCR', KEYS[3])
local newest = tonumber(stored or '0') or 0
if fence <= newest then
  fence = newest + 1
  redis.call('SET', KEYS[3], fence)
end
redis.call('SET', KEYS[2], fence, 'NX', 'PX', ARGV[2])
return {1, fence}
";

/// Writes the token if no lease was granted after `ARGV[1]`'s, then frees that lease.
const PUBLISH: &str = r"
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'sealed', ARGV[2], 'sha256', ARGV[3], 'refresh_at', ARGV[4],
  'expires_at', ARGV[5], 'fence', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
";

/// Frees the lease if it is still `ARGV[1]`'s.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// Deletes the token if its hash is `ARGV[1]`.
const INVALIDATE: &str = r"
if redis.call('HGET', KEYS[1], 'sha256') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// Tuning for [`RedisTokenSource`].
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
    /// How long an instance serves its own copy without reading Redis.
    pub local_ttl: Duration,
    /// While degraded, a refused token is dropped (and refetched) at most once per this.
    pub degraded_refetch_interval: Duration,
    /// While degraded, at most one call per this tries Redis again.
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
            clock: Arc::new(TokioClock),
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
    /// From Redis: one token and one refresher per appid for the whole cluster.
    Shared,
    /// Redis failed: each instance fetches its own (same stable_token), locally limited.
    Degraded,
}

/// The cluster-wide [`AccessTokenSource`]. Cheap to clone.
#[derive(Clone)]
pub struct RedisTokenSource {
    inner: Arc<Inner>,
}

struct Inner {
    redis: RedisStore,
    client: WeChatClient,
    sealer: Sealer,
    slots: HashMap<AppId, Arc<Slot>>,
    fallback: TokenManager,
    options: LeaseOptions,
    scripts: Scripts,
    mode: Mutex<Mode>,
    /// The clock's reading at construction and the Unix time (ms) then.
    epoch: (Instant, u64),
}

struct Scripts {
    acquire: Script,
    publish: Script,
    release: Script,
    invalidate: Script,
}

struct Slot {
    app: AppId,
    secret: AppSecret,
    context: String,
    token_key: String,
    lease_key: String,
    fence_key: String,
    state: Mutex<SlotState>,
}

#[derive(Default)]
struct SlotState {
    copy: Option<Copy>,
    flight: Option<watch::Receiver<Option<Flight>>>,
    refreshing_early: bool,
    /// What the fallback last served, to tell whether a refusal concerns it.
    fallback_token: Option<WxAccessToken>,
    last_degraded_drop: Option<Instant>,
}

/// This instance's copy of the shared token.
struct Copy {
    token: WxAccessToken,
    refresh_at: u64,
    read_at: u64,
}

/// The token hash as read; `token` is `None` if it does not open.
struct Stored {
    token: Option<WxAccessToken>,
    fence: String,
    refresh_at: u64,
    expires_at: u64,
}

struct Mode {
    degraded: bool,
    next_probe: Instant,
    last_warning: Option<Instant>,
}

type Flight = Result<WxAccessToken, FlightError>;

#[derive(Clone)]
enum FlightError {
    Redis(String),
    WeChat(Arc<WeChatError>),
    GaveUp,
}

enum Acquired {
    Won(i64),
    Held(Duration),
    Changed,
}

impl RedisTokenSource {
    /// A source for `apps`, sharing tokens through `redis`, sealed with `sealer`. The
    /// fallback [`TokenManager`] uses the same client, margin and clock.
    pub fn new(
        redis: RedisStore,
        client: WeChatClient,
        apps: HashMap<AppId, AppSecret>,
        sealer: Sealer,
        options: LeaseOptions,
    ) -> Self {
        let fallback = TokenManager::with_options(
            client.clone(),
            apps.clone(),
            TokenOptions {
                refresh_margin: options.refresh_margin,
                clock: options.clock.clone(),
            },
        );
        let slots = apps
            .into_iter()
            .map(|(app, secret)| {
                let tag = format!("wechat-token:{}", app.as_str());
                let slot = Slot {
                    context: tag.clone(),
                    token_key: redis.key(&tag, "token"),
                    lease_key: redis.key(&tag, "lease"),
                    fence_key: redis.key(&tag, "fence"),
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
        let epoch = (options.clock.now(), unix_ms);
        Self {
            inner: Arc::new(Inner {
                redis,
                client,
                sealer,
                slots,
                fallback,
                options,
                scripts: Scripts {
                    acquire: Script::new(ACQUIRE),
                    publish: Script::new(PUBLISH),
                    release: Script::new(RELEASE),
                    invalidate: Script::new(INVALIDATE),
                },
                mode: Mutex::new(Mode {
                    degraded: false,
                    next_probe: Instant::now(),
                    last_warning: None,
                }),
                epoch,
            }),
        }
    }

    /// Shared, or degraded to per-instance tokens because Redis failed (for `/readyz`).
    pub fn status(&self) -> LeaseStatus {
        if lock(&self.inner.mode).degraded {
            LeaseStatus::Degraded
        } else {
            LeaseStatus::Shared
        }
    }
}

/// Registers the descriptions of this module's metrics. Optional; call once at startup.
pub fn describe_metrics() {
    metrics::describe_counter!(
        FALLBACKS_TOTAL,
        "Operations served without Redis because it failed, by what"
    );
    metrics::describe_counter!(
        LEASE_WAITS_TOTAL,
        "Access-token requests that waited for another instance's refresh"
    );
}

#[async_trait]
impl AccessTokenSource for RedisTokenSource {
    async fn get(&self, app: &AppId) -> Result<WxAccessToken, WeChatError> {
        let inner = &self.inner;
        let slot = inner.slot(app)?;
        if let Some(token) = inner.fresh_copy(slot) {
            return Ok(token);
        }
        if !inner.try_redis() {
            return inner.degraded_get(slot).await;
        }
        match inner.shared_get(slot).await {
            Ok(token) => {
                inner.redis_ok();
                Ok(token)
            }
            Err(FlightError::Redis(detail)) => {
                inner.redis_failed(&detail);
                inner.degraded_get(slot).await
            }
            Err(FlightError::WeChat(error)) => {
                inner.redis_ok();
                Err(WeChatError::TokenRefresh(error))
            }
            Err(FlightError::GaveUp) => Err(WeChatError::RefreshAborted),
        }
    }

    async fn invalidate_if(&self, app: &AppId, refused: &WxAccessToken) {
        let inner = &self.inner;
        let Ok(slot) = inner.slot(app) else { return };
        if !inner.try_redis() {
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
        let mut conn = inner.redis.conn();
        let deleted = inner
            .scripts
            .invalidate
            .key(&slot.token_key)
            .arg(token_hash(refused))
            .invoke_async::<i64>(&mut conn)
            .await
            .map_err(redis_err("invalidate access token"));
        match deleted {
            Ok(n) => {
                inner.redis_ok();
                if n > 0 {
                    tracing::info!(app = %app, "access token refused by wechat; dropped from redis");
                } else {
                    tracing::debug!(app = %app, "refused access token already replaced in redis");
                }
            }
            Err(error) => {
                inner.redis_failed(&error.to_string());
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
            self.options.clock.now().saturating_duration_since(at),
        ))
    }

    fn fresh_copy(&self, slot: &Slot) -> Option<WxAccessToken> {
        let now = self.now_ms();
        let local_ttl = millis(self.options.local_ttl);
        let state = lock(&slot.state);
        let copy = state.copy.as_ref()?;
        (now < copy.refresh_at && now < copy.read_at.saturating_add(local_ttl))
            .then(|| copy.token.clone())
    }

    fn remember(&self, slot: &Slot, token: &WxAccessToken, refresh_at: u64) {
        lock(&slot.state).copy = Some(Copy {
            token: token.clone(),
            refresh_at,
            read_at: self.now_ms(),
        });
    }

    /// Reads the token; serves a valid one (starting the early refresh once it is due), or
    /// joins this instance's task that takes the lease or waits for it.
    async fn shared_get(self: &Arc<Self>, slot: &Arc<Slot>) -> Flight {
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

    /// No valid token in Redis: take the lease and fetch, or wait for the holder's token.
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
                Some(stored) => stored.fence,
                None => String::new(),
            };
            let pause = match self.acquire(slot, &seen).await? {
                Acquired::Won(fence) => return self.fetch_and_publish(slot, fence).await,
                Acquired::Changed => Duration::ZERO,
                Acquired::Held(left) => {
                    if !waited {
                        waited = true;
                        metrics::counter!(LEASE_WAITS_TOTAL).increment(1);
                    }
                    let pause = backoff.min(left).max(Duration::from_millis(1));
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
    fn refresh_early(self: &Arc<Self>, slot: &Arc<Slot>, seen: String) {
        {
            let mut state = lock(&slot.state);
            if state.refreshing_early || state.flight.is_some() {
                return;
            }
            state.refreshing_early = true;
        }
        let (inner, slot) = (Arc::clone(self), Arc::clone(slot));
        tokio::spawn(async move {
            match inner.acquire(&slot, &seen).await {
                Ok(Acquired::Won(fence)) => {
                    let _ = inner.fetch_and_publish(&slot, fence).await;
                }
                Ok(Acquired::Held(_) | Acquired::Changed) | Err(FlightError::GaveUp) => {}
                Err(FlightError::Redis(detail)) => inner.redis_failed(&detail),
                Err(FlightError::WeChat(_)) => {}
            }
            lock(&slot.state).refreshing_early = false;
        });
    }

    async fn read(&self, slot: &Slot) -> Result<Option<Stored>, FlightError> {
        let mut conn = self.redis.conn();
        let fields: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
            .arg(&slot.token_key)
            .arg(&["sealed", "fence", "refresh_at", "expires_at"])
            .query_async(&mut conn)
            .await
            .map_err(redis_failure("read access token"))?;
        let [
            Some(sealed),
            Some(fence),
            Some(refresh_at),
            Some(expires_at),
        ] = <[Option<Vec<u8>>; 4]>::try_from(fields).unwrap_or_default()
        else {
            return Ok(None);
        };
        let number = |raw: &[u8]| std::str::from_utf8(raw).ok()?.parse::<u64>().ok();
        let token = match self.sealer.open_string(&slot.context, &sealed) {
            Ok(text) => Some(WxAccessToken::new(text.as_str())),
            Err(_) => {
                tracing::warn!(app = %slot.app, "shared access token does not open (another master key?); refetching");
                None
            }
        };
        Ok(Some(Stored {
            token,
            fence: String::from_utf8_lossy(&fence).into_owned(),
            refresh_at: number(&refresh_at).unwrap_or(0),
            expires_at: number(&expires_at).unwrap_or(0),
        }))
    }

    async fn acquire(&self, slot: &Slot, seen: &str) -> Result<Acquired, FlightError> {
        let mut conn = self.redis.conn();
        let (outcome, value): (i64, i64) = self
            .scripts
            .acquire
            .key(&slot.token_key)
            .key(&slot.lease_key)
            .key(&slot.fence_key)
            .arg(seen)
            .arg(millis(self.options.lease).max(1))
            .invoke_async(&mut conn)
            .await
            .map_err(redis_failure("acquire token lease"))?;
        Ok(match outcome {
            1 => Acquired::Won(value),
            0 => Acquired::Held(Duration::from_millis(value.try_into().unwrap_or(0))),
            _ => Acquired::Changed,
        })
    }

    /// The lease holder's work: fetch, seal, publish under the fence. The fetched token is
    /// returned even if a newer holder's stands in Redis, or Redis failed: it is genuine.
    async fn fetch_and_publish(&self, slot: &Slot, fence: i64) -> Flight {
        let fetched_at = self.now_ms();
        let result = self
            .client
            .stable_token(&slot.app, &slot.secret, false)
            .await;
        let label = if result.is_ok() { "ok" } else { "error" };
        metrics::counter!(ACCESS_TOKEN_REFRESHES_TOTAL, "result" => label).increment(1);
        let fetched = match result {
            Ok(fetched) => fetched,
            Err(error) => {
                tracing::warn!(app = %slot.app, error = %error, "access token fetch failed");
                let mut conn = self.redis.conn();
                let _ = self
                    .scripts
                    .release
                    .key(&slot.lease_key)
                    .arg(fence)
                    .invoke_async::<i64>(&mut conn)
                    .await;
                return Err(FlightError::WeChat(Arc::new(error)));
            }
        };
        let lifetime = fetched.expires_in;
        let expires_at = fetched_at.saturating_add(millis(lifetime));
        let refresh_at = expires_at - millis(self.options.refresh_margin.min(lifetime / 2));
        let sealed = self
            .sealer
            .seal(&slot.context, fetched.token.expose_secret().as_bytes());
        let ttl = expires_at.saturating_sub(self.now_ms()).max(1);
        let mut conn = self.redis.conn();
        let written = self
            .scripts
            .publish
            .key(&slot.token_key)
            .key(&slot.lease_key)
            .key(&slot.fence_key)
            .arg(fence)
            .arg(sealed)
            .arg(token_hash(&fetched.token))
            .arg(refresh_at)
            .arg(expires_at)
            .arg(ttl)
            .invoke_async::<i64>(&mut conn)
            .await
            .map_err(redis_failure("publish access token"));
        match written {
            Ok(1) => {
                tracing::debug!(app = %slot.app, fence, expires_in = ?lifetime, "access token fetched and shared");
                self.remember(slot, &fetched.token, refresh_at);
            }
            Ok(_) => {
                tracing::info!(app = %slot.app, fence, "lease was taken over; the newer holder's token stands");
            }
            Err(FlightError::Redis(detail)) => {
                self.redis_failed(&detail);
                self.remember(slot, &fetched.token, refresh_at);
            }
            Err(_) => {}
        }
        Ok(fetched.token)
    }

    async fn degraded_get(&self, slot: &Slot) -> Result<WxAccessToken, WeChatError> {
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

    async fn degraded_invalidate(&self, slot: &Slot, refused: &WxAccessToken) {
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

    /// Whether to use Redis now: always when shared, once per probe interval when degraded.
    fn try_redis(&self) -> bool {
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

    fn redis_ok(&self) {
        let mut mode = lock(&self.mode);
        if mode.degraded {
            mode.degraded = false;
            tracing::info!("redis answers again; access tokens are shared again");
        }
    }

    fn redis_failed(&self, detail: &str) {
        let mut mode = lock(&self.mode);
        let now = Instant::now();
        mode.degraded = true;
        mode.next_probe = now + self.options.probe_interval;
        if mode
            .last_warning
            .is_none_or(|at| now.duration_since(at) >= WARN_EVERY)
        {
            mode.last_warning = Some(now);
            tracing::warn!(error = %detail, "redis unavailable; access tokens are fetched per instance until it answers");
        }
    }
}

impl fmt::Debug for RedisTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTokenSource")
            .field("redis", &self.inner.redis)
            .field("apps", &self.inner.slots.keys().collect::<Vec<_>>())
            .field("options", &self.inner.options)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

/// Hex SHA-256 of the token (a plain hash, as for handles: tokens are long random strings).
fn token_hash(token: &WxAccessToken) -> String {
    hex::encode(HandleHash::of(token.expose_secret()).0)
}

fn redis_failure(op: &'static str) -> impl Fn(redis::RedisError) -> FlightError {
    move |e| FlightError::Redis(redis_err(op)(e).to_string())
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
