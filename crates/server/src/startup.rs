//! Building the application from settings: stores, keys, WeChat, routes, listener.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use wxlogin_core::limits::MemoryRateLimiter;
use wxlogin_core::ports::{Clock, RateLimiter, SystemClock};
use wxlogin_core::service::AuthSettings;
use wxlogin_core::service::admin::{AdminPorts, AdminService};
use wxlogin_core::tokens::{KeyPolicy, KeyRing};
use wxlogin_core::{AuthService, Ports};
use wxlogin_store_redis::attempts::RedisAttempts;
use wxlogin_store_redis::lease::RedisTokenLease;
use wxlogin_store_redis::limits::RedisRateLimiter;
use wxlogin_store_redis::outcomes::RedisOutcomes;
use wxlogin_store_redis::revocations::RedisRevocations;
use wxlogin_store_redis::sessions::RedisSessions;
use wxlogin_store_redis::{RedisOptions, RedisStore};
use wxlogin_store_sql::{ConnectOptions, SqlStore};
use wxlogin_wechat::{
    ClientConfig, LeaseOptions, LeaseStatus, LeasedTokenSource, WeChatAdapter, WeChatClient,
};

use crate::config::Settings;
use crate::integrations;
use crate::routes::admin::AdminState;
use crate::routes::{self, AddressLimit, AppState, SharedHealth};
use crate::serve::{self, ServeOptions};
use crate::telemetry;

/// Start-up failed; the message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Store(#[from] wxlogin_core::ports::StoreError),
    /// Redis could not be reached.
    #[error("redis: {0}")]
    Redis(wxlogin_core::ports::StoreError),
    /// Signing keys could not be loaded or created.
    #[error("signing keys: {0}")]
    Keys(#[from] wxlogin_core::tokens::KeyRingError),
    /// The WeChat client could not be built.
    #[error("wechat client: {0}")]
    WeChat(String),
    /// The avatar store could not be opened.
    #[error("avatars: {0}")]
    Avatars(String),
    /// The webhook deliverer or the lookup hook's client could not be built.
    #[error("hooks: {0}")]
    Hooks(String),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Where.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Overrides for tests: a clock they can move.
#[derive(Clone, Default)]
pub struct Overrides {
    /// Replaces the system clock.
    pub clock: Option<Arc<dyn Clock>>,
}

/// A built application, listening, ready to run.
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    router: axum::Router,
    admin_listener: TcpListener,
    admin_addr: SocketAddr,
    admin_router: axum::Router,
    serve: ServeOptions,
    store: Arc<SqlStore>,
    auth: Arc<AuthService>,
    key_policy: KeyPolicy,
    key_reload: std::time::Duration,
    clock: Arc<dyn Clock>,
    deliverer: Option<wxlogin_hooks::Deliverer>,
    event_retention: std::time::Duration,
}

/// Opens the database named in the settings and runs the migrations.
pub async fn open_store(settings: &Settings) -> Result<Arc<SqlStore>, StartupError> {
    let opts = ConnectOptions {
        max_connections: settings.database_max_connections,
        acquire_timeout: std::time::Duration::from_millis(
            settings.raw.database.acquire_timeout_ms.max(1),
        ),
        ..ConnectOptions::default()
    };
    let store = SqlStore::connect(settings.database_url.expose_secret(), opts).await?;
    store.migrate().await?;
    Ok(Arc::new(store))
}

impl Application {
    /// Connects, migrates, loads keys and binds the listener.
    pub async fn build(settings: &Settings, overrides: Overrides) -> Result<Self, StartupError> {
        for (_, secret) in &settings.apps {
            crate::redact::register_secret(secret.expose_secret());
        }
        let clock = overrides.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let store = open_store(settings).await?;
        let sealer = settings.master_key.sealer();
        let key_policy = key_policy(settings);
        let keys = KeyRing::load_or_create(
            store.as_ref(),
            &sealer,
            &key_policy,
            settings.algorithm,
            clock.now(),
        )
        .await?;

        let mut client_config = ClientConfig::new(settings.wechat_base_url.clone());
        client_config.connect_timeout = settings.wechat_connect_timeout;
        client_config.request_timeout = settings.wechat_request_timeout;
        client_config.breaker.failure_threshold = settings.raw.wechat.breaker_failures;
        client_config.breaker.cool_down =
            std::time::Duration::from_secs(settings.raw.wechat.breaker_open_secs.max(1));
        let client =
            WeChatClient::new(client_config).map_err(|e| StartupError::WeChat(e.to_string()))?;
        let apps: HashMap<_, _> = settings.apps.iter().cloned().collect();

        let (ports, limiter, shared) = match &settings.redis_url {
            None => {
                let wechat = Arc::new(WeChatAdapter::in_process(client, apps));
                let ports = Ports {
                    wechat,
                    users: store.clone(),
                    sessions: store.clone(),
                    tokens: store.clone(),
                    clock: clock.clone(),
                    outcomes: None,
                    limiter: None,
                    revocations: None,
                    attempts: None,
                    accounts: store.clone(),
                    events: store.clone(),
                    lookup: None,
                    avatars: None,
                };
                let limiter: Arc<dyn RateLimiter> = Arc::new(MemoryRateLimiter::new());
                (ports, limiter, None)
            }
            Some(url) => {
                let options = RedisOptions {
                    prefix: settings
                        .raw
                        .redis
                        .prefix
                        .clone()
                        .unwrap_or_else(|| RedisOptions::default().prefix),
                    ..RedisOptions::default()
                };
                let redis = RedisStore::connect(url.expose_secret(), options)
                    .await
                    .map_err(StartupError::Redis)?;
                let lease = Arc::new(LeasedTokenSource::new(
                    Arc::new(RedisTokenLease::new(redis.clone())),
                    client.clone(),
                    apps.clone(),
                    sealer.clone(),
                    LeaseOptions::default(),
                ));
                let wechat = Arc::new(WeChatAdapter::new(client, apps, lease.clone()));
                let limiter: Arc<dyn RateLimiter> = Arc::new(RedisRateLimiter::new(redis.clone()));
                let ports = Ports {
                    wechat,
                    users: store.clone(),
                    sessions: Arc::new(RedisSessions::new(redis.clone(), store.clone())),
                    tokens: store.clone(),
                    clock: clock.clone(),
                    outcomes: Some(Arc::new(RedisOutcomes::new(redis.clone()))),
                    limiter: None,
                    revocations: Some(Arc::new(RedisRevocations::new(redis.clone()))),
                    attempts: Some(Arc::new(RedisAttempts::new(redis.clone()))),
                    accounts: store.clone(),
                    events: store.clone(),
                    lookup: None,
                    avatars: None,
                };
                let shared = SharedHealth {
                    redis: Arc::new(redis),
                    lease_shared: Arc::new(move || lease.status() == LeaseStatus::Shared),
                };
                (ports, limiter, Some(shared))
            }
        };
        let avatars = avatar_store(settings)?;
        let ports = Ports {
            limiter: Some(limiter.clone()),
            lookup: integrations::user_lookup(settings)?,
            avatars: avatars
                .clone()
                .map(|a| Arc::new(a) as Arc<dyn wxlogin_core::ports::AvatarStore>),
            ..ports
        };

        let auth = Arc::new(AuthService::new(
            auth_settings(settings),
            ports,
            &settings.master_key,
            keys,
        ));
        let admin = Arc::new(AdminService::new(
            auth.clone(),
            AdminPorts {
                users: store.clone(),
                keys: store.clone(),
                events: store.clone(),
                signing: store.clone(),
            },
            settings.algorithm,
            key_policy.clone(),
        ));
        let admin_state = AdminState {
            admin,
            limiter: limiter.clone(),
            per_key: settings.admin_rate,
        };
        telemetry::describe_and_zero();
        let state = AppState {
            auth: auth.clone(),
            health: store.clone(),
            metrics: telemetry::metrics_handle(),
            request_timeout: settings.request_timeout,
            limits: AddressLimit {
                limiter,
                per_address: settings.rate_limits.ip,
                trusted_proxies: settings.trusted_proxies.clone().into(),
                ipv6_prefix: settings.raw.rate_limits.ipv6_prefix,
            },
            shared,
            jwks_max_age: jwks_max_age(settings),
            avatars,
        };

        let deliverer =
            integrations::deliverer(settings, store.clone(), store.clone(), clock.clone())?;
        let (listener, addr) = bind(SocketAddr::new(settings.host, settings.port)).await?;
        let (admin_listener, admin_addr) = bind(settings.admin_addr).await?;
        if !admin_addr.ip().is_loopback() {
            tracing::warn!(addr = %admin_addr, "the admin listener is not on a loopback address: keep it off public networks");
        }
        Ok(Self {
            listener,
            addr,
            router: routes::router(state.clone()),
            admin_listener,
            admin_addr,
            admin_router: routes::admin_router(state, admin_state, !admin_addr.ip().is_loopback()),
            serve: settings.serve,
            store,
            auth,
            key_policy,
            key_reload: key_reload_interval(settings),
            clock,
            deliverer,
            event_retention: settings.integrations.event_retention,
        })
    }

    /// Where it listens (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the admin listener (`/metrics`) listens.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The database, for commands that run beside the server (the dev admin key).
    pub fn store(&self) -> Arc<SqlStore> {
        self.store.clone()
    }

    /// The use cases, for tests that want to reach behind the HTTP layer.
    pub fn auth(&self) -> Arc<AuthService> {
        self.auth.clone()
    }

    /// Serves both listeners until `shutdown` completes, then lets requests in flight finish
    /// within `http.shutdown_grace_secs`, drops what is left, and closes the pool.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let store = self.store.clone();
        let purge = tokio::spawn(purge_loop(self.store.clone(), self.event_retention));
        let reload = tokio::spawn(reload_keys_loop(
            self.store.clone(),
            self.auth.clone(),
            self.key_policy.clone(),
            self.key_reload,
            self.clock.clone(),
        ));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        // Webhooks go out from their own task: a slow or dead receiver never holds a login.
        let delivery = self
            .deliverer
            .map(|d| tokio::spawn(d.run(stopped(stop_rx.clone()))));
        let admin_options = ServeOptions {
            max_connections: ADMIN_MAX_CONNECTIONS,
            ..self.serve
        };
        let (served, admin) = tokio::join!(
            serve::serve(
                "api",
                self.listener,
                self.router,
                self.serve,
                stopped(stop_rx.clone())
            ),
            serve::serve(
                "admin",
                self.admin_listener,
                self.admin_router,
                admin_options,
                stopped(stop_rx)
            ),
        );
        let served = served.and(admin);
        if let Some(delivery) = delivery {
            // It stops at the same signal; an attempt in flight finishes or times out.
            let _ = delivery.await;
        }
        purge.abort();
        reload.abort();
        store.close().await;
        served
    }
}

/// The avatar store `[avatars]` names: a private local directory (created, mode 0700) or an
/// S3-compatible bucket.
fn avatar_store(settings: &Settings) -> Result<Option<crate::avatars::Avatars>, StartupError> {
    use object_store::ObjectStore;
    use secrecy::ExposeSecret as _;
    let store: Arc<dyn ObjectStore> = match &settings.avatars {
        crate::config::AvatarStorage::Off => return Ok(None),
        crate::config::AvatarStorage::Local(dir) => {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder
                .create(dir)
                .map_err(|e| StartupError::Avatars(format!("{}: {e}", dir.display())))?;
            Arc::new(
                object_store::local::LocalFileSystem::new_with_prefix(dir)
                    .map_err(|e| StartupError::Avatars(e.to_string()))?,
            )
        }
        crate::config::AvatarStorage::S3 {
            bucket,
            endpoint,
            region,
            access_key_id,
            secret_access_key,
        } => {
            let mut builder = object_store::aws::AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_region(region)
                .with_access_key_id(access_key_id)
                .with_secret_access_key(secret_access_key.expose_secret());
            if let Some(endpoint) = endpoint {
                // Checked at load: https, or http on loopback (a local emulator).
                builder = builder
                    .with_endpoint(endpoint)
                    .with_allow_http(endpoint.starts_with("http://"))
                    .with_virtual_hosted_style_request(false);
            }
            Arc::new(
                builder
                    .build()
                    .map_err(|e| StartupError::Avatars(e.to_string()))?,
            )
        }
    };
    Ok(Some(crate::avatars::Avatars::new(
        store,
        format!("{}/avatars/", settings.issuer()),
    )))
}

/// The admin listener serves a few scrapers and operators.
const ADMIN_MAX_CONNECTIONS: usize = 64;

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), StartupError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| StartupError::Bind { addr, source })?;
    Ok((listener, bound))
}

/// Deletes expired sessions, tickets and refresh tokens, and events past their retention
/// (`events.retention_days`), once an hour.
async fn purge_loop(store: Arc<SqlStore>, event_retention: std::time::Duration) {
    use wxlogin_core::events::EventStore as _;
    let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        every.tick().await;
        let now = time::OffsetDateTime::now_utc();
        match store.purge_expired(now).await {
            Ok(purged) => tracing::info!(?purged, "purged expired rows"),
            Err(e) => tracing::warn!(error = %e, "purge failed"),
        }
        let before = now - time::Duration::seconds(event_retention.as_secs() as i64);
        match store.purge_events(before).await {
            Ok(events) => tracing::info!(events, "purged old events"),
            Err(e) => tracing::warn!(error = %e, "event purge failed"),
        }
    }
}

/// Picks up keys added by `wxlogin keys rotate` (run against the same database) and drops
/// retired ones, every `key_reload_interval`. A `next` key starts signing at its scheduled
/// second without a reload (the ring picks the signing key by `iat`).
async fn reload_keys_loop(
    store: Arc<SqlStore>,
    auth: Arc<AuthService>,
    policy: KeyPolicy,
    interval: std::time::Duration,
    clock: Arc<dyn Clock>,
) {
    let mut every = tokio::time::interval(interval);
    every.tick().await; // the first tick is immediate; keys were just loaded
    loop {
        every.tick().await;
        if let Err(e) = reload_keys(store.as_ref(), &auth, &policy, clock.now()).await {
            tracing::warn!(error = %e, "reloading signing keys failed; keeping the current ones")
        }
    }
}

/// Loads the stored keys into `auth` (what the reload loop does each interval; tests call it
/// to stand for a tick).
pub async fn reload_keys(
    store: &SqlStore,
    auth: &AuthService,
    policy: &KeyPolicy,
    now: time::OffsetDateTime,
) -> Result<(), wxlogin_core::tokens::KeyRingError> {
    let ring = KeyRing::load(store, &auth.sealer(), policy, now).await?;
    if ring.jwks() != auth.keys().jwks() {
        tracing::info!(
            current = ring.current_kid(now),
            "signing keys changed (a key published or retired)"
        );
    }
    auth.replace_keys(ring);
    Ok(())
}

/// How often running instances reload the keys, at most.
pub const KEY_RELOAD_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// The JWKS `Cache-Control: max-age`, at most.
pub const JWKS_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(300);

/// `tokens.publish_delay_secs`, or the JWKS `max-age` plus the reload interval.
fn publish_delay(settings: &Settings) -> std::time::Duration {
    settings
        .raw
        .tokens
        .publish_delay_secs
        .map_or(JWKS_MAX_AGE + KEY_RELOAD_INTERVAL, |s| {
            std::time::Duration::from_secs(s.max(1))
        })
}

/// How often instances reload keys: a third of the publish delay, at most a minute, at least
/// a second. A key created at `t` is in every instance's JWKS by `t + reload`.
pub fn key_reload_interval(settings: &Settings) -> std::time::Duration {
    (publish_delay(settings) / 3).clamp(std::time::Duration::from_secs(1), KEY_RELOAD_INTERVAL)
}

/// The JWKS `max-age`: what is left of the publish delay after the reload interval, at most
/// 300 s. A verifier that fetched the JWKS just before an instance loaded a new key refetches
/// it by `t + reload + max-age <= t + publish_delay`, before the key signs.
pub fn jwks_max_age(settings: &Settings) -> std::time::Duration {
    publish_delay(settings)
        .saturating_sub(key_reload_interval(settings))
        .min(JWKS_MAX_AGE)
}

/// When keys sign and retire. A replaced key stays as long as an access token it signed can
/// live, plus a reload interval (an instance that missed a reload) and a minute of clock skew.
pub fn key_policy(settings: &Settings) -> KeyPolicy {
    KeyPolicy {
        issuer: settings.issuer(),
        audience: settings.raw.tokens.audience.clone(),
        publish_delay: publish_delay(settings),
        retire_after: std::time::Duration::from_secs(settings.raw.tokens.access_ttl_secs + 60)
            + key_reload_interval(settings),
    }
}

fn auth_settings(settings: &Settings) -> AuthSettings {
    use std::time::Duration;
    let raw = &settings.raw;
    let mut s = AuthSettings::with_apps(settings.apps.iter().map(|(a, _)| a.clone()).collect());
    s.session_ttl = Duration::from_secs(raw.sessions.ttl_secs);
    s.access_ttl = Duration::from_secs(raw.tokens.access_ttl_secs);
    s.refresh_ttl = Duration::from_secs(raw.tokens.refresh_ttl_secs);
    s.ticket_ttl = Duration::from_secs(raw.registration.ticket_ttl_secs);
    s.session_key_grace = Duration::from_secs(raw.sessions.session_key_grace_secs);
    s.watermark_window = Duration::from_secs(raw.sessions.watermark_window_secs);
    s.watermark_skew = Duration::from_secs(raw.sessions.watermark_skew_secs);
    s.registration = raw.registration.policy;
    s.phone_match = raw.registration.phone_match;
    s.limits = settings.rate_limits;
    s.verify_legacy_payloads = raw.wechat.verify_legacy_payloads;
    s.claims = settings.claims.clone();
    s.announce_sign_ins = integrations::announces_sign_ins(settings);
    s.avatar_base = Some(format!("{}/avatars/", settings.issuer()));
    s
}
