//! When signing keys are published, sign and retire, and how running instances pick up the
//! keys a `wxlogin keys rotate` added.

use std::sync::Arc;
use std::time::Duration;

use wxlogin_core::AuthService;
use wxlogin_core::clock::Clock;
use wxlogin_core::jwt::{KeyPolicy, KeyRing};
use wxlogin_store_sql::SqlStore;

use crate::config::Settings;

/// Picks up keys added by `wxlogin keys rotate` (run against the same database) and drops
/// retired ones, every `key_reload_interval`. A `next` key starts signing at its scheduled
/// second without a reload (the ring picks the signing key by `iat`).
pub(super) async fn reload_keys_loop(
    store: Arc<SqlStore>,
    auth: Arc<AuthService>,
    policy: KeyPolicy,
    interval: Duration,
    clock: Arc<dyn Clock>,
) {
    let mut every = tokio::time::interval(interval);
    every.tick().await; // the first tick is immediate; keys were just loaded
    loop {
        every.tick().await;
        if let Err(e) = reload_keys(store.as_ref(), &auth, &policy, clock.now()).await {
            // A background task: the failure ends here, so it is logged here.
            let error = wxlogin_core::cause::chain(&e);
            tracing::warn!(%error, "reloading signing keys failed; keeping the current ones")
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
) -> Result<(), wxlogin_core::jwt::KeyRingError> {
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
pub const KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(60);

/// The JWKS `Cache-Control: max-age`, at most.
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(300);

/// `tokens.publish_delay_secs`, or the JWKS `max-age` plus the reload interval.
fn publish_delay(settings: &Settings) -> Duration {
    settings
        .tokens
        .publish_delay
        .unwrap_or(JWKS_MAX_AGE + KEY_RELOAD_INTERVAL)
}

/// How often instances reload keys: a third of the publish delay, at most a minute, at least
/// a second. A key created at `t` is in every instance's JWKS by `t + reload`.
pub fn key_reload_interval(settings: &Settings) -> Duration {
    (publish_delay(settings) / 3).clamp(Duration::from_secs(1), KEY_RELOAD_INTERVAL)
}

/// The JWKS `max-age`: what is left of the publish delay after the reload interval, at most
/// 300 s. A verifier that fetched the JWKS just before an instance loaded a new key refetches
/// it by `t + reload + max-age <= t + publish_delay`, before the key signs.
pub fn jwks_max_age(settings: &Settings) -> Duration {
    publish_delay(settings)
        .saturating_sub(key_reload_interval(settings))
        .min(JWKS_MAX_AGE)
}

/// When keys sign and retire. A replaced key stays as long as an access token it signed can
/// live, plus a reload interval (an instance that missed a reload) and a minute of clock skew.
pub fn key_policy(settings: &Settings) -> KeyPolicy {
    KeyPolicy {
        issuer: settings.issuer(),
        audience: settings.tokens.audience.clone(),
        publish_delay: publish_delay(settings),
        retire_after: settings.auth.access_ttl
            + Duration::from_secs(60)
            + key_reload_interval(settings),
    }
}
