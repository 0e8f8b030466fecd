//! [`Settings`]: the configuration checked and converted to what the server runs with
//! (`Duration`s, parsed URLs and addresses, the core's types). Start-up and the commands see
//! only this; the file's structs stay in `file.rs`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use url::Url;
use wxlogin_core::AppClaims;
use wxlogin_core::crypto::MasterKey;
use wxlogin_core::ids::AppId;
use wxlogin_core::jwt::Algorithm;
use wxlogin_core::ports::{Rate, RateLimits};
use wxlogin_core::secret::AppSecret;
use wxlogin_core::service::AuthSettings;

use super::avatars::{self, AvatarStorage};
use super::file::{AppSection, RateLimitsSection, RawConfig, SqliteSynchronous};
use super::integrations::{self, Integrations};
use super::secrets::{DatabaseUrl, SecretReader};
use super::{ConfigError, invalid};
use crate::serve::ServeOptions;

/// The database when `database.url` (and `url_file`) is unset. Applied here rather than as
/// the file's default, since a default `url` would clash with a configured `url_file`.
pub(crate) const DEFAULT_DATABASE_URL: &str = "sqlite://./wxlogin-data/wxlogin.db";

/// The configuration, checked and converted to domain types.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The issuer.
    pub public_url: Url,
    /// `[http]`: the public listener.
    pub http: HttpSettings,
    /// `[admin]`: the admin listener.
    pub admin: AdminSettings,
    /// `[database]`.
    pub database: DatabaseSettings,
    /// `[redis]`, when several instances share state.
    pub redis: Option<RedisSettings>,
    /// `[wechat]`.
    pub wechat: WeChatSettings,
    /// The apps and their secrets.
    pub apps: Vec<(AppId, AppSecret)>,
    /// The master key.
    pub master_key: MasterKey,
    /// `[tokens]`: what the key ring needs.
    pub tokens: TokenSettings,
    /// What the use cases run with: lifetimes, registration, per-openid and per-phone
    /// limits (and the per-address one, which the HTTP layer applies), claims.
    pub auth: AuthSettings,
    /// How the client's address is found and counted.
    pub client_addresses: ClientAddresses,
    /// Webhooks, the lookup hook, event retention.
    pub integrations: Integrations,
    /// Where uploaded avatars are kept.
    pub avatars: AvatarStorage,
    /// The secret files read, by key (`apps[0].secret_file`), for the permission check.
    pub secret_files: Vec<(String, PathBuf)>,
}

/// `[http]`, converted.
#[derive(Debug, Clone, Copy)]
pub struct HttpSettings {
    /// Where the public listener binds (port 0 picks one).
    pub addr: SocketAddr,
    /// Whole-request limit.
    pub request_timeout: Duration,
    /// Connection handling.
    pub serve: ServeOptions,
}

/// `[admin]`, converted.
#[derive(Debug, Clone, Copy)]
pub struct AdminSettings {
    /// Where the admin listener binds.
    pub addr: SocketAddr,
    /// Admin API requests per admin key (`None`: unlimited).
    pub rate: Option<Rate>,
}

/// `[database]`, converted.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// The URL (may hold a password: its `Debug` masks it).
    pub url: DatabaseUrl,
    /// Pool size, at least 1.
    pub max_connections: u32,
    /// How long a query waits for a connection.
    pub acquire_timeout: Duration,
    /// SQLite's durability level.
    pub sqlite_synchronous: wxlogin_store_sql::Synchronous,
}

/// `[redis]`, converted.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// The URL (may hold a password: its `Debug` masks it).
    pub url: DatabaseUrl,
    /// Prefix of every key.
    pub prefix: String,
}

/// `[wechat]`, converted.
#[derive(Debug, Clone)]
pub struct WeChatSettings {
    /// WeChat, or a simulator on loopback.
    pub base_url: Url,
    /// Connect limit.
    pub connect_timeout: Duration,
    /// Whole-call limit.
    pub request_timeout: Duration,
    /// Consecutive failures that open a breaker (0: breakers off).
    pub breaker_failures: u32,
    /// How long an open breaker refuses calls.
    pub breaker_open: Duration,
}

/// `[tokens]`, what the key ring needs (the lifetimes are in [`Settings::auth`]).
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// `aud` of access tokens.
    pub audience: String,
    /// What new signing keys use.
    pub algorithm: Algorithm,
    /// `publish_delay_secs`, when set (at least a second).
    pub publish_delay: Option<Duration>,
}

/// How the HTTP layer finds and counts a client's address.
#[derive(Debug, Clone)]
pub struct ClientAddresses {
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// IPv6 clients are counted per network of this many bits.
    pub ipv6_prefix: u8,
}

pub(super) fn is_loopback_url(url: &Url) -> bool {
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
        let mut secrets = SecretReader::default();
        let public_url = public_url(raw.public_url.as_deref())?;
        let (http, admin) = listeners(&raw)?;
        if raw.rate_limits.ipv6_prefix == 0 || raw.rate_limits.ipv6_prefix > 128 {
            return Err(invalid(
                "rate_limits.ipv6_prefix",
                "must be between 1 and 128",
            ));
        }

        let db = secrets
            .read(
                "database.url",
                raw.database.url.as_ref().map(DatabaseUrl::expose_secret),
                raw.database.url_file.as_deref(),
            )?
            .map_or_else(
                || DEFAULT_DATABASE_URL.to_owned(),
                |url| url.expose_secret().to_owned(),
            );
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
        let redis = secrets.read(
            "redis.url",
            raw.redis.url.as_ref().map(DatabaseUrl::expose_secret),
            raw.redis.url_file.as_deref(),
        )?;
        if let Some(url) = &redis
            && !(url.expose_secret().starts_with("redis://")
                || url.expose_secret().starts_with("rediss://"))
        {
            return Err(invalid(
                "redis.url",
                "must start with redis:// or rediss://",
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

        let (apps, claims) = apps(&raw.apps, &mut secrets)?;
        let master_key = match secrets.read(
            "secrets.master_key",
            raw.secrets.master_key.as_ref().map(|s| s.expose_secret()),
            raw.secrets.master_key_file.as_deref(),
        )? {
            Some(text) => MasterKey::from_base64(text.expose_secret())
                .map_err(|e| invalid("secrets.master_key", e.to_string()))?,
            None => dev_master_key.ok_or_else(|| {
                invalid(
                    "secrets.master_key_file",
                    "is required (or secrets.master_key)",
                )
            })?,
        };
        let tokens = TokenSettings {
            audience: raw.tokens.audience.clone(),
            algorithm: raw
                .tokens
                .algorithm
                .parse()
                .map_err(|e: String| invalid("tokens.algorithm", e))?,
            publish_delay: match raw.tokens.publish_delay_secs {
                Some(0) => return Err(invalid("tokens.publish_delay_secs", "must be at least 1")),
                secs => secs.map(Duration::from_secs),
            },
        };
        if tokens.audience.is_empty() {
            return Err(invalid("tokens.audience", "is empty"));
        }
        if raw.tokens.access_ttl_secs == 0
            || raw.tokens.refresh_ttl_secs == 0
            || raw.sessions.ttl_secs == 0
        {
            return Err(invalid("tokens", "lifetimes must be positive"));
        }
        let limits = rate_limits(&raw.rate_limits)?;
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
        let integrations =
            integrations::convert(&raw.webhooks, &raw.hooks, &raw.events, &mut secrets)?;
        let avatars = avatars::convert(&raw.avatars, &db, &mut secrets)?;

        let issuer = public_url.as_str().trim_end_matches('/').to_owned();
        let mut auth = AuthSettings::with_apps(apps.iter().map(|(a, _)| a.clone()).collect());
        auth.session_ttl = Duration::from_secs(raw.sessions.ttl_secs);
        auth.access_ttl = Duration::from_secs(raw.tokens.access_ttl_secs);
        auth.refresh_ttl = Duration::from_secs(raw.tokens.refresh_ttl_secs);
        auth.ticket_ttl = Duration::from_secs(raw.registration.ticket_ttl_secs);
        auth.session_key_grace = Duration::from_secs(raw.sessions.session_key_grace_secs);
        auth.watermark_window = Duration::from_secs(raw.sessions.watermark_window_secs);
        auth.watermark_skew = Duration::from_secs(raw.sessions.watermark_skew_secs);
        auth.registration = raw.registration.policy;
        auth.phone_match = raw.registration.phone_match;
        auth.limits = limits;
        auth.verify_legacy_payloads = raw.wechat.verify_legacy_payloads;
        auth.claims = claims;
        auth.announce_sign_ins = integrations.announces_sign_ins();
        auth.avatar_base = Some(format!("{issuer}/avatars/"));

        Ok(Self {
            public_url,
            http,
            admin,
            database: DatabaseSettings {
                url: DatabaseUrl::new(db),
                max_connections: raw.database.max_connections.max(1),
                acquire_timeout: Duration::from_millis(raw.database.acquire_timeout_ms.max(1)),
                sqlite_synchronous: match raw.database.sqlite_synchronous {
                    SqliteSynchronous::Full => wxlogin_store_sql::Synchronous::Full,
                    SqliteSynchronous::Normal => wxlogin_store_sql::Synchronous::Normal,
                },
            },
            redis: redis.map(|url| RedisSettings {
                url: DatabaseUrl::new(url.expose_secret()),
                prefix: raw.redis.prefix.clone(),
            }),
            wechat: WeChatSettings {
                base_url: wechat_base_url,
                connect_timeout: Duration::from_millis(raw.wechat.connect_timeout_ms.max(1)),
                request_timeout: Duration::from_millis(raw.wechat.request_timeout_ms.max(1)),
                breaker_failures: raw.wechat.breaker_failures,
                breaker_open: Duration::from_secs(raw.wechat.breaker_open_secs.max(1)),
            },
            apps,
            master_key,
            tokens,
            auth,
            client_addresses: ClientAddresses {
                trusted_proxies,
                ipv6_prefix: raw.rate_limits.ipv6_prefix,
            },
            integrations,
            avatars,
            secret_files: secrets.into_files(),
        })
    }

    /// The issuer string: the public URL without a trailing slash.
    pub fn issuer(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_owned()
    }
}

fn public_url(text: Option<&str>) -> Result<Url, ConfigError> {
    let text = text.ok_or_else(|| invalid("public_url", "is required"))?;
    let url = Url::parse(text).map_err(|e| invalid("public_url", e.to_string()))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback_url(&url) => Ok(url),
        _ => Err(invalid(
            "public_url",
            "must be https (plain http only on a loopback address)",
        )),
    }
}

/// `[http]` and `[admin]`.
fn listeners(raw: &RawConfig) -> Result<(HttpSettings, AdminSettings), ConfigError> {
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
    let http = HttpSettings {
        addr: SocketAddr::new(host, raw.http.port),
        request_timeout: Duration::from_secs(raw.http.request_timeout_secs.max(1)),
        serve: ServeOptions {
            header_read_timeout: Duration::from_secs(raw.http.header_read_timeout_secs),
            max_connections: raw.http.max_connections,
            shutdown_grace: Duration::from_secs(raw.http.shutdown_grace_secs),
        },
    };
    let admin = AdminSettings {
        addr: SocketAddr::new(admin_host, raw.admin.port),
        rate: (raw.admin.requests_per_second > 0).then(|| Rate {
            per_second: raw.admin.requests_per_second,
            burst: raw.admin.burst.max(1),
        }),
    };
    Ok((http, admin))
}

type Apps = (Vec<(AppId, AppSecret)>, HashMap<AppId, AppClaims>);

/// `[[apps]]`: at least one, no appid twice, each with its secret.
fn apps(raw: &[AppSection], secrets: &mut SecretReader) -> Result<Apps, ConfigError> {
    if raw.is_empty() {
        return Err(invalid("apps", "at least one [[apps]] entry is required"));
    }
    let mut apps: Vec<(AppId, AppSecret)> = Vec::with_capacity(raw.len());
    let mut claims = HashMap::new();
    for (i, app) in raw.iter().enumerate() {
        let appid = AppId::parse(app.appid.clone())
            .map_err(|_| invalid(format!("apps[{i}].appid"), "is missing or malformed"))?;
        if apps.iter().any(|(a, _)| a == &appid) {
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
            AppClaims {
                openid: wants("openid"),
                unionid: wants("unionid"),
                external_id: wants("external_id"),
            },
        );
        let secret = secrets
            .read(
                &format!("apps[{i}].secret"),
                app.secret.as_ref().map(|s| s.expose_secret()),
                app.secret_file.as_deref(),
            )?
            .ok_or_else(|| invalid(format!("apps[{i}].secret"), "is required (or secret_file)"))?;
        apps.push((appid, AppSecret::new(secret.expose_secret())));
    }
    Ok((apps, claims))
}

/// The limits as the core sees them: a rate of 0 turns one off; a burst of 0 with a positive
/// rate is refused (it would refuse everything).
fn rate_limits(raw: &RateLimitsSection) -> Result<RateLimits, ConfigError> {
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
        ip: one("ip", raw.per_ip_per_second, raw.per_ip_burst)?,
        openid: one("openid", raw.per_openid_per_second, raw.per_openid_burst)?,
        phone: one("phone", raw.per_phone_per_second, raw.per_phone_burst)?,
    })
}

/// `10.0.0.0/8`, or a single address.
fn parse_proxy(text: &str) -> Option<ipnet::IpNet> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(ipnet::IpNet::from))
}
