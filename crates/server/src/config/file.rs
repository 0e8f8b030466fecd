//! The configuration as written: the serde structs that mirror the TOML file and the
//! `WXLOGIN__SECTION__KEY` variables, with the contract's defaults, and nothing else.
//!
//! Every field name here is a key of the contract (`docs/configuration.md`), and every key is
//! listed with its default in `config/default.toml`; the tests in `contract.rs` (beside this
//! file) fail when one of the three differs from the others. Unknown keys are refused
//! (`deny_unknown_fields` on every section). Checks and conversions are `settings.rs`'s.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use wxlogin_core::{PhoneMatch, RegistrationPolicy};

use super::secrets::{DatabaseUrl, EndpointUrl, Secret};

/// The file as written (every field optional where the contract has a default).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// The token issuer and the base of `jwks_uri`.
    pub public_url: Option<String>,
    /// `[http]`.
    #[serde(default)]
    pub http: HttpSection,
    /// `[admin]`: the private listener (metrics, the admin API and console).
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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSection {
    /// `sqlite://…`, `postgres://…` or `mysql://…`. Unset: a SQLite file in `./wxlogin-data`
    /// (not a default here, since `url_file` may give it instead).
    pub url: Option<DatabaseUrl>,
    /// A file holding the URL (when it carries a password).
    pub url_file: Option<PathBuf>,
    /// Pool size.
    pub max_connections: u32,
    /// How long a request waits for a connection (or for the database to come back) before
    /// it is answered 503 `unavailable`, milliseconds.
    pub acquire_timeout_ms: u64,
    /// SQLite only: `"full"` (an acknowledged write survives a power loss) or `"normal"`
    /// (it survives the process being killed, not a crash of the machine).
    pub sqlite_synchronous: SqliteSynchronous,
}

/// `database.sqlite_synchronous`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    /// Every commit fsynced before it is acknowledged.
    #[default]
    Full,
    /// The WAL fsynced at checkpoints only.
    Normal,
}

impl Default for DatabaseSection {
    fn default() -> Self {
        Self {
            url: None,
            url_file: None,
            max_connections: 8,
            acquire_timeout_ms: 5000,
            sqlite_synchronous: SqliteSynchronous::Full,
        }
    }
}

/// `[redis]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSection {
    /// `redis://…`.
    pub url: Option<DatabaseUrl>,
    /// A file holding the URL.
    pub url_file: Option<PathBuf>,
    /// Prefix of every key, so that deployments can share one Redis.
    pub prefix: String,
}

impl Default for RedisSection {
    fn default() -> Self {
        Self {
            url: None,
            url_file: None,
            prefix: wxlogin_store_redis::RedisOptions::default().prefix,
        }
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
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSection {
    /// The Mini Program's AppID.
    pub appid: String,
    /// The AppSecret in clear (prefer `secret_file`).
    pub secret: Option<Secret>,
    /// A file holding the AppSecret.
    pub secret_file: Option<PathBuf>,
    /// Extra access-token claims for this app, opt in: any of `openid`, `unionid`,
    /// `external_id` (for back ends that call WeChat Pay or send subscribe messages).
    #[serde(default)]
    pub claims: Vec<String>,
}

/// `[registration]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationSection {
    /// `open` or `closed`.
    pub policy: RegistrationPolicy,
    /// `refuse_if_bound` (default) or `sign_in`: a verified phone whose user already has
    /// another WeChat account in this app.
    pub phone_match: PhoneMatch,
    /// Registration ticket lifetime, seconds.
    pub ticket_ttl_secs: u64,
}

impl Default for RegistrationSection {
    fn default() -> Self {
        Self {
            policy: RegistrationPolicy::Open,
            phone_match: PhoneMatch::RefuseIfBound,
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

impl RateLimitsSection {
    /// Every limit off (`serve --dev` without a config file).
    pub fn off() -> Self {
        Self {
            per_ip_per_second: 0,
            per_ip_burst: 0,
            per_openid_per_second: 0,
            per_openid_burst: 0,
            per_phone_per_second: 0,
            per_phone_burst: 0,
            ..Self::default()
        }
    }
}

/// `[secrets]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsSection {
    /// Standard base64 of 32 bytes (prefer `master_key_file`).
    pub master_key: Option<Secret>,
    /// A file holding it.
    pub master_key_file: Option<PathBuf>,
}

/// One `[[webhooks]]` endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    /// `https://…`, or `http://` on a loopback address.
    pub url: EndpointUrl,
    /// `whsec_` + base64 of 24-64 random bytes, in clear (prefer `secret_file`).
    pub secret: Option<Secret>,
    /// A file holding the secret.
    pub secret_file: Option<PathBuf>,
    /// Event types, or `["*"]` for every type but `user.signed_in`.
    pub events: Vec<String>,
    /// Bodies carry the user's current phone number (E.164).
    #[serde(default)]
    pub include_phone: bool,
}

/// `[hooks]`: the lookup hook.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HooksSection {
    /// Where `user.lookup` is POSTed; unset: no lookup.
    pub user_lookup_url: Option<EndpointUrl>,
    /// The signing secret (`whsec_…`), in clear (prefer `secret_file`).
    pub secret: Option<Secret>,
    /// A file holding the secret.
    pub secret_file: Option<PathBuf>,
    /// How long a phone sign-in waits for the hook, milliseconds.
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

/// `[events]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsSection {
    /// Events (and their deliveries) older than this are purged, days.
    pub retention_days: u32,
}

impl Default for EventsSection {
    fn default() -> Self {
        Self { retention_days: 30 }
    }
}

/// `[avatars]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AvatarsSection {
    /// `local` (a directory), `s3` (an S3-compatible bucket) or `off` (no uploads).
    pub storage: String,
    /// `local`: the directory (default `avatars/` beside a SQLite database file, else
    /// `./wxlogin-data/avatars`; dev mode: the data directory's).
    pub dir: Option<PathBuf>,
    /// `s3`: the bucket.
    pub s3_bucket: Option<String>,
    /// `s3`: the endpoint, for S3-compatible services (MinIO, COS, OSS…); unset: AWS.
    pub s3_endpoint: Option<String>,
    /// `s3`: the region.
    pub s3_region: String,
    /// `s3`: the access key id.
    pub s3_access_key_id: Option<String>,
    /// `s3`: the secret access key, in clear (prefer `s3_secret_access_key_file`).
    pub s3_secret_access_key: Option<Secret>,
    /// `s3`: a file holding the secret access key.
    pub s3_secret_access_key_file: Option<PathBuf>,
}

impl Default for AvatarsSection {
    fn default() -> Self {
        Self {
            storage: "local".into(),
            dir: None,
            s3_bucket: None,
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_access_key_id: None,
            s3_secret_access_key: None,
            s3_secret_access_key_file: None,
        }
    }
}
