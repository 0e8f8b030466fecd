//! Typed configuration: one TOML file, `WXLOGIN__SECTION__KEY` environment overrides, and
//! secrets in clear or read from files (every secret key `x` also takes `x_file`).
//!
//! Key names are part of the contract (`docs/configuration.md`). Unknown keys are refused,
//! naming the key, so a typo never falls back to a default silently.
//!
//! By concern:
//! * `file.rs`: the file as written, [`RawConfig`], which [`load`] fills from the layers;
//! * `secrets.rs`: the secret types (their `Debug` redacts) and the `x` / `x_file` rule;
//! * `settings.rs`: [`Settings`], checked and converted to domain types (`Duration`, `Url`,
//!   `IpNet`, enums): all that start-up and the commands use;
//! * `avatars.rs`, `integrations.rs`: the conversion of those sections;
//! * `validate.rs`: what `serve --config` adds for a real deployment ([`check_production`]);
//! * `contract.rs`, `contract_secrets.rs` (tests): `config/default.toml` and
//!   `docs/configuration.md` list exactly the keys [`RawConfig`] accepts, with its defaults;
//!   every secret key has its `_file` twin and is read from it.

mod avatars;
#[cfg(test)]
mod contract;
#[cfg(test)]
mod contract_secrets;
mod file;
mod integrations;
#[cfg(test)]
mod keys;
mod secrets;
mod settings;
#[cfg(test)]
mod tests;
mod validate;

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};

pub use avatars::AvatarStorage;
pub use file::{
    AdminSection, AppSection, AvatarsSection, DatabaseSection, EventsSection, HooksSection,
    HttpSection, RateLimitsSection, RawConfig, RedisSection, RegistrationSection, SecretsSection,
    SessionsSection, SqliteSynchronous, TokensSection, WeChatSection, WebhookSection,
};
pub use integrations::Integrations;
pub use secrets::{DatabaseUrl, EndpointUrl, Secret};
pub use settings::{
    AdminSettings, ClientAddresses, DatabaseSettings, HttpSettings, RedisSettings, Settings,
    TokenSettings, WeChatSettings,
};
pub use validate::check_production;

/// The configuration could not be used. The message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Parsing or merging failed (figment names the key and the source).
    #[error("configuration: {0}")]
    Load(Box<figment::Error>),
    /// A key is missing or malformed.
    #[error("configuration key `{key}`: {problem}")]
    Invalid {
        /// The dotted key.
        key: String,
        /// What is wrong, without its value.
        problem: String,
    },
}

fn invalid(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        problem: problem.into(),
    }
}

/// Merges the layers: `base` (dev defaults or nothing), the file, then the environment.
pub fn load(base: RawConfig, file: Option<&Path>) -> Result<RawConfig, ConfigError> {
    let mut fig = Figment::from(Serialized::defaults(base));
    if let Some(path) = file {
        if !path.exists() {
            return Err(invalid(
                "--config",
                format!("file {} does not exist", path.display()),
            ));
        }
        fig = fig.merge(Toml::file(path));
    }
    fig.merge(Env::prefixed("WXLOGIN__").split("__"))
        .extract()
        .map_err(|e| ConfigError::Load(Box::new(e)))
}
