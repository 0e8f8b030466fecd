//! Typed configuration: one TOML file, `WXLOGIN__SECTION__KEY` environment overrides, and
//! secrets read from files (`secret_file`, `master_key_file`, `url_file`).
//!
//! Key names are part of the contract (`docs/configuration.md`). Unknown keys are refused,
//! naming the key, so a typo never falls back to a default silently.

mod avatars;
mod integrations;

pub use avatars::{AvatarStorage, AvatarsSection};
pub use integrations::{EventsSection, HooksSection, Integrations, WebhookSection};

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;
use wxlogin_core::RegistrationPolicy;
use wxlogin_core::crypto::MasterKey;
use wxlogin_core::ids::AppId;
use wxlogin_core::ports::{Rate, RateLimits};
use wxlogin_core::secret::AppSecret;
use wxlogin_core::tokens::Algorithm;

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

/// The file as written (every field optional where the contract has a default).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// The token issuer and the base of `jwks_uri`.
    pub public_url: Option<String>,
    /// `[http]`.
    #[serde(default)]
    pub http: HttpSection,
    /// `[admin]`: the private listener (metrics; later the admin API and console).
    #[serde(default)]
    pub admin: AdminSection,
    /// `[database]`.
    #[serde(default)]
    pub database: DatabaseSection,
    /// `[redis]` (used by the scale-out setup).
    #[serde(default)]
    pub redis: RedisSection,
    /// `[wechat]`.
    #[serde(default)]
    pub wechat: WeChatSection,
    /// `[[apps]]`.
    #[serde(default)]
    pub apps: Vec<AppSection>,
    /// `[registration]`.
    #[serde(default)]
    pub registration: RegistrationSection,
    /// `[tokens]`.
    #[serde(default)]
    pub tokens: TokensSection,
    /// `[sessions]`.
    #[serde(default)]
    pub sessions: SessionsSection,
    /// `[rate_limits]`.
    #[serde(default)]
    pub rate_limits: RateLimitsSection,
    /// `[secrets]`.
    #[serde(default)]
    pub secrets: SecretsSection,
    /// `[[webhooks]]`: endpoints that receive events.
    #[serde(default)]
    pub webhooks: Vec<WebhookSection>,
    /// `[hooks]`: the lookup hook.
    #[serde(default)]
    pub hooks: HooksSection,
    /// `[events]`.
    #[serde(default)]
    pub events: EventsSection,
    /// `[avatars]`: where uploaded avatars are kept.
    #[serde(default)]
    pub avatars: AvatarsSection,
}

/// `[http]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSection {
    /// Bind address.
    pub host: String,
    /// Bind port.
    pub port: u16,
    /// Whole-request time limit, seconds.
    pub request_timeout_secs: u64,
    /// How long a client may take to send a request head, seconds, counted from when the
    /// server waits for it: from the accept, or from the previous response on a keep-alive
    /// connection (so it is the idle limit too). Closes slowloris connections.
    pub header_read_timeout_secs: u64,
    /// Connections open at once on the public listener; more are answered 503 and closed.
    /// Keep it below the process' file-descriptor limit (`ulimit -n`).
    pub max_connections: usize,
    /// On SIGTERM: how long requests in flight may take to finish before their connections
    /// are dropped and the process exits, seconds.
    pub shutdown_grace_secs: u64,
}

impl Default for HttpSection {
    fn default() -> Self {
        Self {
            host: "0.0.0.0".into(),
            port: 9012,
            request_timeout_secs: 15,
            header_read_timeout_secs: 10,
            max_connections: 4096,
            shutdown_grace_secs: 10,
        }
    }
}

/// `[admin]`: where `/metrics` (and the admin API) listen. Never the public listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSection {
    /// Bind address; loopback by default. Anything else must be a private network.
    pub host: String,
    /// Bind port.
    pub port: u16,
    /// Admin API requests per second per admin key (0: unlimited).
    pub requests_per_second: u32,
    /// Burst per admin key.
    pub burst: u32,
}

impl Default for AdminSection {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 9013,
            requests_per_second: 20,
            burst: 100,
        }
    }
}

/// `[database]`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSection {
    /// `sqlite://…`, `postgres://…` or `mysql://…`.
    pub url: Option<String>,
    /// A file holding the URL (when it carries a password).
    pub url_file: Option<PathBuf>,
    /// Pool size.
    pub max_connections: u32,
    /// How long a request waits for a connection (or for the database to come back) before
    /// it is answered 503 `unavailable`, milliseconds.
    pub acquire_timeout_ms: u64,
}

impl Default for DatabaseSection {
    fn default() -> Self {
        Self {
            url: None,
            url_file: None,
            max_connections: 8,
            acquire_timeout_ms: 5000,
        }
    }
}

impl std::fmt::Debug for DatabaseSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSection")
            .field(
                "url",
                &self.url.as_deref().map(wxlogin_core::redact::redact_url),
            )
            .field("url_file", &self.url_file)
            .finish_non_exhaustive()
    }
}

/// `[redis]`.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSection {
    /// `redis://…`.
    pub url: Option<String>,
    /// A file holding the URL.
    pub url_file: Option<PathBuf>,
    /// Prefix of every key (default `wxlogin:`), so that deployments can share one Redis.
    pub prefix: Option<String>,
}

impl std::fmt::Debug for RedisSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSection")
            .field(
                "url",
                &self.url.as_deref().map(wxlogin_core::redact::redact_url),
            )
            .field("url_file", &self.url_file)
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// `[wechat]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WeChatSection {
    /// WeChat's API host, or the simulator's.
    pub base_url: String,
    /// TCP connect limit, milliseconds.
    pub connect_timeout_ms: u64,
    /// Whole-call limit, milliseconds.
    pub request_timeout_ms: u64,
    /// Consecutive failures (-1, timeouts, 5xx) of one WeChat API that open its circuit
    /// breaker; 0 turns the breakers off.
    pub breaker_failures: u32,
    /// How long an open breaker answers 503 at once before one probe call is let through.
    pub breaker_open_secs: u64,
    /// Before trusting a legacy `encrypted_data` payload, ask WeChat whether it issued it
    /// (`checkencryptedmsg`): one more WeChat call per legacy phone verification.
    pub verify_legacy_payloads: bool,
}

impl Default for WeChatSection {
    fn default() -> Self {
        Self {
            base_url: wxlogin_wechat::WECHAT_BASE_URL.into(),
            connect_timeout_ms: 2000,
            request_timeout_ms: 5000,
            breaker_failures: wxlogin_wechat::breaker::DEFAULT_FAILURE_THRESHOLD,
            breaker_open_secs: wxlogin_wechat::breaker::DEFAULT_COOL_DOWN.as_secs(),
            verify_legacy_payloads: false,
        }
    }
}

/// One `[[apps]]` entry.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSection {
    /// The Mini Program's AppID.
    pub appid: String,
    /// The AppSecret in clear (prefer `secret_file`).
    pub secret: Option<String>,
    /// A file holding the AppSecret.
    pub secret_file: Option<PathBuf>,
    /// Extra access-token claims for this app, opt in: any of `openid`, `unionid`,
    /// `external_id` (for back ends that call WeChat Pay or send subscribe messages).
    #[serde(default)]
    pub claims: Vec<String>,
}

impl std::fmt::Debug for AppSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppSection")
            .field("appid", &self.appid)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("secret_file", &self.secret_file)
            .field("claims", &self.claims)
            .finish()
    }
}

/// `[registration]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationSection {
    /// `open` or `closed`.
    pub policy: RegistrationPolicy,
    /// `refuse_if_bound` (default) or `sign_in`: a verified phone whose user already has
    /// another WeChat account in this app.
    pub phone_match: wxlogin_core::PhoneMatch,
    /// Registration ticket lifetime, seconds.
    pub ticket_ttl_secs: u64,
}

impl Default for RegistrationSection {
    fn default() -> Self {
        Self {
            policy: RegistrationPolicy::Open,
            phone_match: wxlogin_core::PhoneMatch::RefuseIfBound,
            ticket_ttl_secs: 600,
        }
    }
}

/// `[tokens]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokensSection {
    /// `aud` of access tokens.
    pub audience: String,
    /// Access token lifetime, seconds.
    pub access_ttl_secs: u64,
    /// Refresh token lifetime, seconds (renewed on each rotation).
    pub refresh_ttl_secs: u64,
    /// `ES256` (default), `EdDSA` or `RS256`: the algorithm of the key the first start or a
    /// `keys rotate` creates. Existing keys keep theirs until rotated out.
    pub algorithm: String,
    /// How long a rotated-in key is published in the JWKS before it signs. Default: the
    /// JWKS `max-age` (300 s) plus the key-reload interval (60 s). Smaller values shorten the
    /// reload interval and the JWKS `max-age` with it, so a caching verifier stays correct
    /// (for tests and demos).
    pub publish_delay_secs: Option<u64>,
}

impl Default for TokensSection {
    fn default() -> Self {
        Self {
            audience: "wxlogin".into(),
            access_ttl_secs: 900,
            refresh_ttl_secs: 30 * 24 * 3600,
            algorithm: "ES256".into(),
            publish_delay_secs: None,
        }
    }
}

/// `[sessions]` (an addition to the contract's names).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionsSection {
    /// Mini-program session lifetime, seconds.
    pub ttl_secs: u64,
    /// How long the previous session_key still decrypts after a new login, seconds.
    pub session_key_grace_secs: u64,
    /// How old a legacy watermark may be, seconds.
    pub watermark_window_secs: u64,
    /// How far in the future a watermark may be, seconds.
    pub watermark_skew_secs: u64,
}

impl Default for SessionsSection {
    fn default() -> Self {
        Self {
            ttl_secs: 30 * 24 * 3600,
            session_key_grace_secs: 300,
            watermark_window_secs: 600,
            watermark_skew_secs: 60,
        }
    }
}

/// `[rate_limits]`: token buckets per key; a rate of 0 turns that limit off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitsSection {
    /// Per client IP, requests per second.
    pub per_ip_per_second: u32,
    /// Per client IP, burst.
    pub per_ip_burst: u32,
    /// Per openid on /v1/phone and /v1/register, per second.
    pub per_openid_per_second: u32,
    /// Per openid, burst.
    pub per_openid_burst: u32,
    /// Per phone, per second.
    pub per_phone_per_second: u32,
    /// Per phone, burst.
    pub per_phone_burst: u32,
    /// CIDRs whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<String>,
    /// IPv6 clients are limited per network of this prefix length (one subscriber usually
    /// holds a whole /64), IPv4 clients per address.
    pub ipv6_prefix: u8,
}

impl Default for RateLimitsSection {
    fn default() -> Self {
        Self {
            per_ip_per_second: 50,
            per_ip_burst: 200,
            per_openid_per_second: 5,
            per_openid_burst: 20,
            per_phone_per_second: 1,
            per_phone_burst: 10,
            trusted_proxies: Vec::new(),
            ipv6_prefix: 64,
        }
    }
}

/// `10.0.0.0/8`, or a single address.
fn parse_proxy(text: &str) -> Option<ipnet::IpNet> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(ipnet::IpNet::from))
}

impl RateLimitsSection {
    /// The limits as the core sees them: a rate of 0 turns one off; a burst of 0 with a
    /// positive rate is refused (it would refuse everything).
    pub fn to_limits(&self) -> Result<RateLimits, ConfigError> {
        let one = |name: &str, per_second: u32, burst: u32| {
            if per_second == 0 {
                return Ok(None);
            }
            if burst == 0 {
                return Err(invalid(
                    format!("rate_limits.per_{name}_burst"),
                    format!("must be positive when per_{name}_per_second is"),
                ));
            }
            Ok(Some(Rate { per_second, burst }))
        };
        Ok(RateLimits {
            ip: one("ip", self.per_ip_per_second, self.per_ip_burst)?,
            openid: one("openid", self.per_openid_per_second, self.per_openid_burst)?,
            phone: one("phone", self.per_phone_per_second, self.per_phone_burst)?,
        })
    }

    /// Every limit off (`serve --dev` without a config file).
    pub fn off() -> Self {
        Self {
            per_ip_per_second: 0,
            per_ip_burst: 0,
            per_openid_per_second: 0,
            per_openid_burst: 0,
            per_phone_per_second: 0,
            per_phone_burst: 0,
            trusted_proxies: Vec::new(),
            ipv6_prefix: 64,
        }
    }
}

/// `[secrets]`.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsSection {
    /// Standard base64 of 32 bytes (prefer `master_key_file`).
    pub master_key: Option<String>,
    /// A file holding it.
    pub master_key_file: Option<PathBuf>,
}

impl std::fmt::Debug for SecretsSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsSection")
            .field(
                "master_key",
                &self.master_key.as_ref().map(|_| "[redacted]"),
            )
            .field("master_key_file", &self.master_key_file)
            .finish()
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

/// The checks `serve --config` adds to [`Settings::from_raw`] for a real deployment: no
/// published or malformed secrets, no guessable master key. Warns (does not refuse) when a
/// secret file can be read by its group or by others.
///
/// AppSecrets must be WeChat's format (32 hex characters) unless `wechat.base_url` is a
/// loopback address (a simulator, whose apps may use any secret).
pub fn check_production(settings: &Settings) -> Result<(), ConfigError> {
    let simulated = is_loopback_url(&settings.wechat_base_url);
    for (i, (_, secret)) in settings.apps.iter().enumerate() {
        let secret = secret.expose_secret();
        if secret == crate::dev::DEV_SECRET {
            return Err(invalid(
                format!("apps[{i}].secret"),
                "is the published dev secret; use the app's own AppSecret",
            ));
        }
        let appsecret_format = secret.len() == 32 && secret.bytes().all(|b| b.is_ascii_hexdigit());
        if !simulated && !appsecret_format {
            return Err(invalid(
                format!("apps[{i}].secret"),
                "is not an AppSecret (32 hex characters, from the mini program's admin console)",
            ));
        }
    }
    if settings.master_key.is_low_entropy() {
        return Err(invalid(
            "secrets.master_key",
            "looks hand-made (too few distinct bytes); create one with `wxlogin gen-master-key`",
        ));
    }
    let raw = &settings.raw;
    let files = raw
        .apps
        .iter()
        .enumerate()
        .filter_map(|(i, a)| Some((format!("apps[{i}].secret_file"), a.secret_file.as_ref()?)))
        .chain(
            [
                (
                    "secrets.master_key_file",
                    raw.secrets.master_key_file.as_ref(),
                ),
                ("database.url_file", raw.database.url_file.as_ref()),
                ("redis.url_file", raw.redis.url_file.as_ref()),
                ("hooks.secret_file", raw.hooks.secret_file.as_ref()),
                (
                    "avatars.s3_secret_access_key_file",
                    raw.avatars.s3_secret_access_key_file.as_ref(),
                ),
            ]
            .into_iter()
            .filter_map(|(k, p)| Some((k.to_owned(), p?))),
        )
        .chain(raw.webhooks.iter().enumerate().filter_map(|(i, w)| {
            Some((
                format!("webhooks[{i}].secret_file"),
                w.secret_file.as_ref()?,
            ))
        }));
    for (key, path) in files {
        warn_if_shared(&key, path);
    }
    Ok(())
}

/// Logs a warning when `path` can be read by its group or by others.
fn warn_if_shared(key: &str, path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(key, file = %path.display(), mode = format!("{mode:o}"), "a secret file is readable by group or others; chmod 600 it");
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (key, path);
}

/// The configuration, checked and converted to domain types.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The issuer.
    pub public_url: Url,
    /// Bind host.
    pub host: IpAddr,
    /// Bind port (0 picks one).
    pub port: u16,
    /// Whole-request limit.
    pub request_timeout: std::time::Duration,
    /// Connection handling of the public listener.
    pub serve: crate::serve::ServeOptions,
    /// The admin listener's address.
    pub admin_addr: std::net::SocketAddr,
    /// Admin API requests per admin key (`None`: unlimited).
    pub admin_rate: Option<Rate>,
    /// Database URL (may hold a password: never print it).
    pub database_url: DatabaseUrl,
    /// Pool size.
    pub database_max_connections: u32,
    /// WeChat base URL.
    pub wechat_base_url: Url,
    /// WeChat connect limit.
    pub wechat_connect_timeout: std::time::Duration,
    /// WeChat call limit.
    pub wechat_request_timeout: std::time::Duration,
    /// The apps and their secrets.
    pub apps: Vec<(AppId, AppSecret)>,
    /// The extra token claims each app opted into.
    pub claims: std::collections::HashMap<AppId, wxlogin_core::AppClaims>,
    /// The master key.
    pub master_key: MasterKey,
    /// `tokens.algorithm`: what new signing keys use.
    pub algorithm: Algorithm,
    /// Redis, when several instances share state (may hold a password: never print it).
    pub redis_url: Option<DatabaseUrl>,
    /// The rate limits in force (`None` where a rate is 0).
    pub rate_limits: RateLimits,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Webhooks, the lookup hook, event retention.
    pub integrations: Integrations,
    /// Where uploaded avatars are kept.
    pub avatars: AvatarStorage,
    /// The rest, as written.
    pub raw: RawConfig,
}

/// A database URL that prints with its password masked.
#[derive(Clone)]
pub struct DatabaseUrl(SecretString);

impl DatabaseUrl {
    /// Wraps a URL.
    pub fn new(url: String) -> Self {
        Self(SecretString::from(url))
    }

    /// The full URL, to connect with.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DatabaseUrl")
            .field(&wxlogin_core::redact::redact_url(self.0.expose_secret()))
            .finish()
    }
}

fn read_secret_file(key: &str, path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid(key, format!("cannot read {}: {e}", path.display())))?;
    let text = text.trim().to_owned();
    if text.is_empty() {
        return Err(invalid(key, format!("{} is empty", path.display())));
    }
    Ok(text)
}

/// The value of `key`, given in clear or as `key_file`; exactly one of them.
fn secret_value(
    key: &str,
    clear: Option<&String>,
    file: Option<&PathBuf>,
) -> Result<Option<String>, ConfigError> {
    match (clear, file) {
        (Some(_), Some(_)) => Err(invalid(
            key,
            format!("give either `{key}` or `{key}_file`, not both"),
        )),
        (Some(v), None) if v.trim().is_empty() => Err(invalid(key, "is empty")),
        (Some(v), None) => Ok(Some(v.trim().to_owned())),
        (None, Some(path)) => read_secret_file(&format!("{key}_file"), path).map(Some),
        (None, None) => Ok(None),
    }
}

fn is_loopback_url(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

impl Settings {
    /// Checks every rule of the contract and converts. `master_key` is passed in when dev
    /// mode generated it; otherwise it must be configured.
    pub fn from_raw(
        raw: RawConfig,
        dev_master_key: Option<MasterKey>,
    ) -> Result<Self, ConfigError> {
        let public_url = raw
            .public_url
            .as_deref()
            .ok_or_else(|| invalid("public_url", "is required"))?;
        let public_url =
            Url::parse(public_url).map_err(|e| invalid("public_url", e.to_string()))?;
        match public_url.scheme() {
            "https" => {}
            "http" if is_loopback_url(&public_url) => {}
            _ => {
                return Err(invalid(
                    "public_url",
                    "must be https (plain http only on a loopback address)",
                ));
            }
        }
        let host: IpAddr = raw
            .http
            .host
            .parse()
            .map_err(|_| invalid("http.host", "must be an IP address"))?;
        let admin_host: IpAddr = raw
            .admin
            .host
            .parse()
            .map_err(|_| invalid("admin.host", "must be an IP address"))?;
        if raw.http.header_read_timeout_secs == 0 || raw.http.header_read_timeout_secs > 60 {
            return Err(invalid(
                "http.header_read_timeout_secs",
                "must be between 1 and 60",
            ));
        }
        if raw.http.max_connections == 0 {
            return Err(invalid("http.max_connections", "must be positive"));
        }
        if raw.rate_limits.ipv6_prefix == 0 || raw.rate_limits.ipv6_prefix > 128 {
            return Err(invalid(
                "rate_limits.ipv6_prefix",
                "must be between 1 and 128",
            ));
        }

        let db = secret_value(
            "database.url",
            raw.database.url.as_ref(),
            raw.database.url_file.as_ref(),
        )?
        .unwrap_or_else(|| "sqlite://./wxlogin-data/wxlogin.db".to_owned());
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://")
            || db.starts_with("mysql://"))
        {
            return Err(invalid(
                "database.url",
                "must start with sqlite:, postgres:// or mysql://",
            ));
        }

        let wechat_base_url = Url::parse(&raw.wechat.base_url)
            .map_err(|e| invalid("wechat.base_url", e.to_string()))?;
        if !(wechat_base_url.scheme() == "https" || is_loopback_url(&wechat_base_url)) {
            return Err(invalid(
                "wechat.base_url",
                "must be https, or a loopback address where a simulator runs",
            ));
        }

        if raw.apps.is_empty() {
            return Err(invalid("apps", "at least one [[apps]] entry is required"));
        }
        let mut apps = Vec::with_capacity(raw.apps.len());
        let mut claims = std::collections::HashMap::new();
        for (i, app) in raw.apps.iter().enumerate() {
            let appid = AppId::parse(app.appid.clone())
                .map_err(|_| invalid(format!("apps[{i}].appid"), "is missing or malformed"))?;
            if apps.iter().any(|(a, _): &(AppId, AppSecret)| a == &appid) {
                return Err(invalid(format!("apps[{i}].appid"), "is configured twice"));
            }
            if let Some(c) = app
                .claims
                .iter()
                .find(|c| !["openid", "unionid", "external_id"].contains(&c.as_str()))
            {
                return Err(invalid(
                    format!("apps[{i}].claims"),
                    format!("{c:?} is not one of openid, unionid, external_id"),
                ));
            }
            let wants = |name: &str| app.claims.iter().any(|c| c == name);
            claims.insert(
                appid.clone(),
                wxlogin_core::AppClaims {
                    openid: wants("openid"),
                    unionid: wants("unionid"),
                    external_id: wants("external_id"),
                },
            );
            let secret = secret_value(
                &format!("apps[{i}].secret"),
                app.secret.as_ref(),
                app.secret_file.as_ref(),
            )?
            .ok_or_else(|| invalid(format!("apps[{i}].secret"), "is required (or secret_file)"))?;
            apps.push((appid, AppSecret::new(secret)));
        }

        let master_key = match secret_value(
            "secrets.master_key",
            raw.secrets.master_key.as_ref(),
            raw.secrets.master_key_file.as_ref(),
        )? {
            Some(text) => MasterKey::from_base64(&text)
                .map_err(|e| invalid("secrets.master_key", e.to_string()))?,
            None => dev_master_key.ok_or_else(|| {
                invalid(
                    "secrets.master_key_file",
                    "is required (or secrets.master_key)",
                )
            })?,
        };
        let algorithm: Algorithm = raw
            .tokens
            .algorithm
            .parse()
            .map_err(|e: String| invalid("tokens.algorithm", e))?;
        if raw.tokens.publish_delay_secs == Some(0) {
            return Err(invalid("tokens.publish_delay_secs", "must be at least 1"));
        }
        if raw.tokens.audience.is_empty() {
            return Err(invalid("tokens.audience", "is empty"));
        }
        if raw.tokens.access_ttl_secs == 0
            || raw.tokens.refresh_ttl_secs == 0
            || raw.sessions.ttl_secs == 0
        {
            return Err(invalid("tokens", "lifetimes must be positive"));
        }
        let redis_url = secret_value(
            "redis.url",
            raw.redis.url.as_ref(),
            raw.redis.url_file.as_ref(),
        )?;
        if let Some(url) = &redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            return Err(invalid(
                "redis.url",
                "must start with redis:// or rediss://",
            ));
        }
        let rate_limits = raw.rate_limits.to_limits()?;
        let trusted_proxies = raw
            .rate_limits
            .trusted_proxies
            .iter()
            .enumerate()
            .map(|(i, text)| {
                parse_proxy(text).ok_or_else(|| {
                    invalid(
                        format!("rate_limits.trusted_proxies[{i}]"),
                        "must be an IP address or a CIDR such as 10.0.0.0/8",
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let integrations = integrations::convert(&raw.webhooks, &raw.hooks, &raw.events)?;
        let avatars = avatars::convert(&raw.avatars, &db)?;
        Ok(Self {
            integrations,
            avatars,
            redis_url: redis_url.map(DatabaseUrl::new),
            rate_limits,
            trusted_proxies,
            public_url,
            host,
            port: raw.http.port,
            request_timeout: std::time::Duration::from_secs(raw.http.request_timeout_secs.max(1)),
            serve: crate::serve::ServeOptions {
                header_read_timeout: std::time::Duration::from_secs(
                    raw.http.header_read_timeout_secs,
                ),
                max_connections: raw.http.max_connections,
                shutdown_grace: std::time::Duration::from_secs(raw.http.shutdown_grace_secs),
            },
            admin_addr: std::net::SocketAddr::new(admin_host, raw.admin.port),
            admin_rate: (raw.admin.requests_per_second > 0).then(|| Rate {
                per_second: raw.admin.requests_per_second,
                burst: raw.admin.burst.max(1),
            }),
            database_url: DatabaseUrl::new(db),
            database_max_connections: raw.database.max_connections.max(1),
            wechat_base_url,
            wechat_connect_timeout: std::time::Duration::from_millis(
                raw.wechat.connect_timeout_ms.max(1),
            ),
            wechat_request_timeout: std::time::Duration::from_millis(
                raw.wechat.request_timeout_ms.max(1),
            ),
            apps,
            claims,
            master_key,
            algorithm,
            raw,
        })
    }

    /// The issuer string: the public URL without a trailing slash.
    pub fn issuer(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_claims_are_opt_in_and_unknown_ones_refused() {
        let mut raw = minimal();
        raw.apps[0].claims = vec!["openid".into(), "external_id".into()];
        let settings = Settings::from_raw(raw, None).unwrap();
        let claims = settings.claims.values().next().copied().unwrap();
        assert!(claims.openid && claims.external_id && !claims.unionid);
        let plain = Settings::from_raw(minimal(), None).unwrap();
        assert_eq!(
            plain.claims.values().next().copied(),
            Some(wxlogin_core::AppClaims::default())
        );
        let mut raw = minimal();
        raw.apps[0].claims = vec!["phone".into()];
        let err = Settings::from_raw(raw, None).unwrap_err().to_string();
        assert!(
            err.contains("apps[0].claims") && err.contains("is not one of"),
            "{err}"
        );
    }

    fn minimal() -> RawConfig {
        RawConfig {
            public_url: Some("https://auth.example.com".into()),
            apps: vec![AppSection {
                appid: "wx1".into(),
                secret: Some("s3cr3t-value".into()),
                secret_file: None,
                claims: Vec::new(),
            }],
            secrets: SecretsSection {
                master_key: Some(MasterKey::generate().to_base64()),
                master_key_file: None,
            },
            ..RawConfig::default()
        }
    }

    fn problem(raw: RawConfig) -> String {
        Settings::from_raw(raw, None).unwrap_err().to_string()
    }

    #[test]
    fn a_minimal_config_is_accepted_with_the_contract_defaults() {
        let s = Settings::from_raw(minimal(), None).unwrap();
        assert_eq!(s.port, 9012);
        assert_eq!(s.raw.tokens.audience, "wxlogin");
        assert_eq!(s.raw.registration.policy, RegistrationPolicy::Open);
        assert_eq!(s.wechat_base_url.as_str(), "https://api.weixin.qq.com/");
        assert_eq!(s.issuer(), "https://auth.example.com");
    }

    #[test]
    fn missing_or_bad_required_keys_are_named() {
        let mut raw = minimal();
        raw.public_url = None;
        assert!(problem(raw).contains("public_url"));
        let mut raw = minimal();
        raw.public_url = Some("http://auth.example.com".into());
        assert!(problem(raw).contains("public_url"));
        let mut raw = minimal();
        raw.wechat.base_url = "http://10.0.0.1:9100".into();
        assert!(problem(raw).contains("wechat.base_url"));
        let mut raw = minimal();
        raw.apps[0].secret = Some("  ".into());
        assert!(problem(raw).contains("apps[0].secret"));
        let mut raw = minimal();
        raw.secrets.master_key = Some("short".into());
        assert!(problem(raw).contains("secrets.master_key"));
        let mut raw = minimal();
        raw.secrets.master_key = None;
        assert!(problem(raw).contains("master_key"));
    }

    #[test]
    fn plain_http_is_allowed_on_loopback_only() {
        let mut raw = minimal();
        raw.public_url = Some("http://127.0.0.1:9012".into());
        raw.wechat.base_url = "http://localhost:9100".into();
        assert!(Settings::from_raw(raw, None).is_ok());
    }

    #[test]
    fn the_documented_default_file_uses_only_known_keys() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/default.toml");
        let raw = load(RawConfig::default(), Some(&path)).unwrap();
        assert_eq!(raw.http.port, 9012);
        assert_eq!(raw.rate_limits.per_ip_burst, 200);
        assert_eq!(raw.apps.len(), 1);
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let dir = std::env::temp_dir().join(format!("wxlogin-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(
            &file,
            "public_url = \"https://a.example\"\n[tokens]\naudiense = \"x\"\n",
        )
        .unwrap();
        let err = load(RawConfig::default(), Some(&file))
            .unwrap_err()
            .to_string();
        assert!(err.contains("audiense"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn secrets_come_from_files_trimmed_and_never_print() {
        let dir = std::env::temp_dir().join(format!("wxlogin-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("secret"), "file-secret-xyz\n").unwrap();
        std::fs::write(
            dir.join("key"),
            format!("{}\n", MasterKey::generate().to_base64()),
        )
        .unwrap();
        let mut raw = minimal();
        raw.apps[0] = AppSection {
            appid: "wx1".into(),
            secret: None,
            secret_file: Some(dir.join("secret")),
            claims: Vec::new(),
        };
        raw.secrets = SecretsSection {
            master_key: None,
            master_key_file: Some(dir.join("key")),
        };
        let s = Settings::from_raw(raw, None).unwrap();
        assert_eq!(s.apps[0].1.expose_secret(), "file-secret-xyz");
        let shown = format!("{s:?}");
        assert!(!shown.contains("file-secret-xyz"));
        std::fs::write(dir.join("empty"), "\n").unwrap();
        let mut raw = minimal();
        raw.apps[0] = AppSection {
            appid: "wx1".into(),
            secret: None,
            secret_file: Some(dir.join("empty")),
            claims: Vec::new(),
        };
        assert!(problem(raw).contains("secret_file"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
