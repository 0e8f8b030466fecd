//! `[[webhooks]]`, `[hooks]` and `[events]`: how wxlogin talks to the operator's own systems.
//! Raw sections as written, and their conversion into the `wxlogin-hooks` types.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wxlogin_hooks::{LookupConfig, WebhookEndpoint, WebhookSecret};

use super::{ConfigError, invalid, secret_value};

/// One `[[webhooks]]` endpoint.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    /// `https://…`, or `http://` on a loopback address.
    pub url: String,
    /// `whsec_` + base64 of 24-64 random bytes, in clear (prefer `secret_file`).
    pub secret: Option<String>,
    /// A file holding the secret.
    pub secret_file: Option<PathBuf>,
    /// Event types, or `["*"]` for every type but `user.signed_in`.
    pub events: Vec<String>,
    /// Bodies carry the user's current phone number (E.164).
    #[serde(default)]
    pub include_phone: bool,
}

impl std::fmt::Debug for WebhookSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSection")
            .field("events", &self.events)
            .field("include_phone", &self.include_phone)
            .finish_non_exhaustive()
    }
}

/// `[hooks]`: the lookup hook.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HooksSection {
    /// Where `user.lookup` is POSTed; unset: no lookup.
    pub user_lookup_url: Option<String>,
    /// The signing secret (`whsec_…`), in clear (prefer `secret_file`).
    pub secret: Option<String>,
    /// A file holding the secret.
    pub secret_file: Option<PathBuf>,
    /// How long a phone sign-in waits for the hook, milliseconds (3000).
    pub timeout_ms: u64,
}

impl Default for HooksSection {
    fn default() -> Self {
        Self {
            user_lookup_url: None,
            secret: None,
            secret_file: None,
            timeout_ms: 3000,
        }
    }
}

impl std::fmt::Debug for HooksSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HooksSection")
            .field("user_lookup_url", &self.user_lookup_url.is_some())
            .field("timeout_ms", &self.timeout_ms)
            .finish_non_exhaustive()
    }
}

/// `[events]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsSection {
    /// Events (and their deliveries) older than this are purged, days (30).
    pub retention_days: u32,
}

impl Default for EventsSection {
    fn default() -> Self {
        Self { retention_days: 30 }
    }
}

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

/// Checks and converts the three sections.
pub fn convert(
    webhooks: &[WebhookSection],
    hooks: &HooksSection,
    events: &EventsSection,
) -> Result<Integrations, ConfigError> {
    let mut endpoints: Vec<WebhookEndpoint> = Vec::with_capacity(webhooks.len());
    for (i, w) in webhooks.iter().enumerate() {
        let key = format!("webhooks[{i}]");
        let secret = secret_value(
            &format!("{key}.secret"),
            w.secret.as_ref(),
            w.secret_file.as_ref(),
        )?
        .ok_or_else(|| invalid(format!("{key}.secret"), "is required (or secret_file)"))?;
        let endpoint = WebhookEndpoint::new(&w.url, &secret, &w.events, w.include_phone)
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
            let url = wxlogin_hooks::parse_url(url)
                .map_err(|e| invalid("hooks.user_lookup_url", e.to_string()))?;
            let secret = secret_value(
                "hooks.secret",
                hooks.secret.as_ref(),
                hooks.secret_file.as_ref(),
            )?
            .ok_or_else(|| invalid("hooks.secret", "is required (or secret_file)"))?;
            let secret = WebhookSecret::parse(&secret)
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
