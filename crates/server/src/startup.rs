//! Building the application from settings, then running it: routes and listeners here, the
//! stores and WeChat in `stores.rs`, the signing keys' timing and reloads in `keys.rs`.

mod keys;
mod stores;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use wxlogin_core::AuthService;
use wxlogin_core::clock::{Clock, SystemClock};
use wxlogin_core::jwt::{KeyPolicy, KeyRing};
use wxlogin_core::service::admin::{AdminPorts, AdminService};
use wxlogin_store_sql::SqlStore;

pub use keys::{
    JWKS_MAX_AGE, KEY_RELOAD_INTERVAL, jwks_max_age, key_policy, key_reload_interval, reload_keys,
};
pub use stores::open_store;

use crate::config::Settings;
use crate::integrations;
use crate::routes::admin::AdminState;
use crate::routes::{self, AddressLimit, AppState};
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
    Redis(#[source] wxlogin_core::ports::StoreError),
    /// Signing keys could not be loaded or created.
    #[error("signing keys: {0}")]
    Keys(#[from] wxlogin_core::jwt::KeyRingError),
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
            settings.tokens.algorithm,
            clock.now(),
        )
        .await?;
        let stores::Wired {
            ports,
            limiter,
            shared,
            avatars,
        } = stores::wire(settings, &store, &clock, &sealer).await?;

        let auth = Arc::new(AuthService::new(
            settings.auth.clone(),
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
            settings.tokens.algorithm,
            key_policy.clone(),
        ));
        let admin_state = AdminState {
            admin,
            limiter: limiter.clone(),
            per_key: settings.admin.rate,
        };
        telemetry::describe_and_zero();
        let state = AppState {
            auth: auth.clone(),
            health: store.clone(),
            metrics: telemetry::metrics_handle(),
            request_timeout: settings.http.request_timeout,
            limits: AddressLimit {
                limiter,
                per_address: settings.auth.limits.ip,
                trusted_proxies: settings.client_addresses.trusted_proxies.clone().into(),
                ipv6_prefix: settings.client_addresses.ipv6_prefix,
            },
            shared,
            jwks_max_age: jwks_max_age(settings),
            avatars,
        };

        let deliverer =
            integrations::deliverer(settings, store.clone(), store.clone(), clock.clone())?;
        let (listener, addr) = bind(settings.http.addr).await?;
        let (admin_listener, admin_addr) = bind(settings.admin.addr).await?;
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
            serve: settings.http.serve,
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
        let reload = tokio::spawn(keys::reload_keys_loop(
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
///
/// Background tasks: their failures end here, so they are logged here (`wxlogin_core::cause`).
async fn purge_loop(store: Arc<SqlStore>, event_retention: std::time::Duration) {
    use wxlogin_core::cause::chain;
    use wxlogin_core::events::EventStore as _;
    let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        every.tick().await;
        let now = time::OffsetDateTime::now_utc();
        match store.purge_expired(now).await {
            Ok(purged) => tracing::info!(?purged, "purged expired rows"),
            Err(e) => tracing::warn!(error = %chain(&e), "purge failed"),
        }
        let before = now - time::Duration::seconds(event_retention.as_secs() as i64);
        match store.purge_events(before).await {
            Ok(events) => tracing::info!(events, "purged old events"),
            Err(e) => tracing::warn!(error = %chain(&e), "event purge failed"),
        }
    }
}
