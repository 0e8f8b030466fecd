//! Wiring `wxlogin-hooks` into the server: the lookup hook as core's `UserLookup` port, and
//! the webhook deliverer as a background task.

use std::sync::Arc;

use wxlogin_core::clock::Clock;
use wxlogin_core::events::EventStore;
use wxlogin_core::ports::{UserLookup, UserStore};
use wxlogin_hooks::{Deliverer, DelivererConfig, HttpUserLookup};

use crate::config::Settings;
use crate::startup::StartupError;

/// The lookup hook's client, when `[hooks] user_lookup_url` is set.
pub fn user_lookup(settings: &Settings) -> Result<Option<Arc<dyn UserLookup>>, StartupError> {
    let Some(config) = &settings.integrations.lookup else {
        return Ok(None);
    };
    let lookup =
        HttpUserLookup::new(config.clone()).map_err(|e| StartupError::Hooks(e.to_string()))?;
    tracing::info!(hook = ?config, "user lookup hook configured");
    Ok(Some(Arc::new(lookup)))
}

/// The deliverer, when at least one `[[webhooks]]` endpoint is configured.
pub fn deliverer(
    settings: &Settings,
    events: Arc<dyn EventStore>,
    users: Arc<dyn UserStore>,
    clock: Arc<dyn Clock>,
) -> Result<Option<Deliverer>, StartupError> {
    if settings.integrations.webhooks.is_empty() {
        return Ok(None);
    }
    for endpoint in &settings.integrations.webhooks {
        tracing::info!(webhook = ?endpoint, "webhook endpoint configured");
    }
    Deliverer::new(
        events,
        users,
        settings.master_key.sealer(),
        settings.integrations.webhooks.clone(),
        clock,
        DelivererConfig::default(),
    )
    .map(Some)
    .map_err(|e| StartupError::Hooks(e.to_string()))
}
