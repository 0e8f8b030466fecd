//! `[[webhooks]]`, `[hooks]` and `[events]`: how wxlogin talks to the operator's own systems,
//! converted into the `wxlogin-hooks` types.

use std::time::Duration;

use wxlogin_hooks::{LookupConfig, WebhookEndpoint, WebhookSecret};

use super::file::{EventsSection, HooksSection, WebhookSection};
use super::secrets::SecretReader;
use super::{ConfigError, invalid};

/// The converted sections.
#[derive(Debug, Clone)]
pub struct Integrations {
    /// The webhook endpoints.
    pub webhooks: Vec<WebhookEndpoint>,
    /// The lookup hook, when configured.
    pub lookup: Option<LookupConfig>,
    /// How long events are kept.
    pub event_retention: Duration,
}

impl Integrations {
    /// Whether any endpoint receives `user.signed_in` (then sign-ins write it).
    pub fn announces_sign_ins(&self) -> bool {
        self.webhooks.iter().any(|w| {
            w.types
                .contains(&wxlogin_core::events::EventType::UserSignedIn)
        })
    }
}

/// Checks and converts the three sections.
pub(super) fn convert(
    webhooks: &[WebhookSection],
    hooks: &HooksSection,
    events: &EventsSection,
    secrets: &mut SecretReader,
) -> Result<Integrations, ConfigError> {
    let mut endpoints: Vec<WebhookEndpoint> = Vec::with_capacity(webhooks.len());
    for (i, w) in webhooks.iter().enumerate() {
        let key = format!("webhooks[{i}]");
        let secret = secrets
            .read(
                &format!("{key}.secret"),
                w.secret.as_ref().map(|s| s.expose_secret()),
                w.secret_file.as_deref(),
            )?
            .ok_or_else(|| invalid(format!("{key}.secret"), "is required (or secret_file)"))?;
        let endpoint = WebhookEndpoint::new(
            w.url.as_str(),
            secret.expose_secret(),
            &w.events,
            w.include_phone,
        )
        .map_err(|e| invalid(key.clone(), e.to_string()))?;
        if endpoints.iter().any(|e| e.url == endpoint.url) {
            return Err(invalid(format!("{key}.url"), "is configured twice"));
        }
        endpoints.push(endpoint);
    }
    let lookup = match &hooks.user_lookup_url {
        None => {
            if hooks.secret.is_some() || hooks.secret_file.is_some() {
                return Err(invalid(
                    "hooks.user_lookup_url",
                    "is required when hooks.secret is set",
                ));
            }
            None
        }
        Some(url) => {
            let url = wxlogin_hooks::parse_url(url.as_str())
                .map_err(|e| invalid("hooks.user_lookup_url", e.to_string()))?;
            let secret = secrets
                .read(
                    "hooks.secret",
                    hooks.secret.as_ref().map(|s| s.expose_secret()),
                    hooks.secret_file.as_deref(),
                )?
                .ok_or_else(|| invalid("hooks.secret", "is required (or secret_file)"))?;
            let secret = WebhookSecret::parse(secret.expose_secret())
                .map_err(|e| invalid("hooks.secret", e.to_string()))?;
            if !(100..=30_000).contains(&hooks.timeout_ms) {
                return Err(invalid("hooks.timeout_ms", "must be between 100 and 30000"));
            }
            let mut config = LookupConfig::new(url, secret);
            config.budget = Duration::from_millis(hooks.timeout_ms);
            Some(config)
        }
    };
    if events.retention_days == 0 {
        return Err(invalid("events.retention_days", "must be at least 1"));
    }
    Ok(Integrations {
        webhooks: endpoints,
        lookup,
        event_retention: Duration::from_secs(u64::from(events.retention_days) * 24 * 3600),
    })
}
