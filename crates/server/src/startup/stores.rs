//! The stores behind the use cases: the database, and either the in-process state of one
//! instance or Redis shared by several (sessions, outcomes, revocations, rate limits, the
//! WeChat access-token lease); the WeChat client; the avatar store; the lookup hook.

use std::collections::HashMap;
use std::sync::Arc;

use wxlogin_core::Ports;
use wxlogin_core::clock::Clock;
use wxlogin_core::crypto::Sealer;
use wxlogin_core::limits::MemoryRateLimiter;
use wxlogin_core::ports::RateLimiter;
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

use super::StartupError;
use crate::avatars::Avatars;
use crate::config::{AvatarStorage, Settings};
use crate::integrations;
use crate::routes::SharedHealth;

/// Opens the database named in the settings and runs the migrations.
pub async fn open_store(settings: &Settings) -> Result<Arc<SqlStore>, StartupError> {
    let opts = ConnectOptions {
        max_connections: settings.database.max_connections,
        acquire_timeout: settings.database.acquire_timeout,
        synchronous: settings.database.sqlite_synchronous,
        ..ConnectOptions::default()
    };
    let store = SqlStore::connect(settings.database.url.expose_secret(), opts).await?;
    store.migrate().await?;
    Ok(Arc::new(store))
}

/// The ports, wired for one instance or for several sharing Redis.
pub(super) struct Wired {
    /// The use cases' ports.
    pub ports: Ports,
    /// The rate limiter (the HTTP layer's per-address limit uses it too).
    pub limiter: Arc<dyn RateLimiter>,
    /// Redis and the lease, for `/health/ready`, when shared.
    pub shared: Option<SharedHealth>,
    /// The avatar store, when uploads are on.
    pub avatars: Option<Avatars>,
}

/// Builds the WeChat client and the ports around `store`.
pub(super) async fn wire(
    settings: &Settings,
    store: &Arc<SqlStore>,
    clock: &Arc<dyn Clock>,
    sealer: &Sealer,
) -> Result<Wired, StartupError> {
    let mut client_config = ClientConfig::new(settings.wechat.base_url.clone());
    client_config.connect_timeout = settings.wechat.connect_timeout;
    client_config.request_timeout = settings.wechat.request_timeout;
    client_config.breaker.failure_threshold = settings.wechat.breaker_failures;
    client_config.breaker.cool_down = settings.wechat.breaker_open;
    let client =
        WeChatClient::new(client_config).map_err(|e| StartupError::WeChat(e.to_string()))?;
    let apps: HashMap<_, _> = settings.apps.iter().cloned().collect();

    let (ports, limiter, shared) = match &settings.redis {
        None => {
            let wechat = Arc::new(WeChatAdapter::in_process(client, apps));
            let ports = Ports {
                wechat,
                users: store.clone(),
                sessions: store.clone(),
                refresh: store.clone(),
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
        Some(redis) => {
            let options = RedisOptions {
                prefix: redis.prefix.clone(),
                ..RedisOptions::default()
            };
            let redis = RedisStore::connect(redis.url.expose_secret(), options)
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
                refresh: store.clone(),
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
    Ok(Wired {
        ports,
        limiter,
        shared,
        avatars,
    })
}

/// The avatar store `[avatars]` names: a private local directory (created, mode 0700) or an
/// S3-compatible bucket.
fn avatar_store(settings: &Settings) -> Result<Option<Avatars>, StartupError> {
    use object_store::ObjectStore;
    use secrecy::ExposeSecret as _;
    let store: Arc<dyn ObjectStore> = match &settings.avatars {
        AvatarStorage::Off => return Ok(None),
        AvatarStorage::Local(dir) => {
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
        AvatarStorage::S3 {
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
    Ok(Some(Avatars::new(
        store,
        format!("{}/avatars/", settings.issuer()),
    )))
}
