//! The simulator's apps and behaviour switches.

use std::fmt;
use std::time::Duration;

use crate::error::SimError;

/// One simulated Mini Program.
#[derive(Clone, PartialEq, Eq)]
pub struct SimApp {
    /// The AppID, e.g. `wx0000000000000001`.
    pub appid: String,
    /// The AppSecret the simulator expects; prints as `[redacted]`.
    pub secret: String,
    /// The WeChat Open Platform account the app is bound to. `Some` makes jscode2session
    /// return a `unionid`, equal for one user across every app bound to the same account.
    pub open_platform: Option<String>,
}

impl SimApp {
    /// An app not bound to an Open Platform account (no `unionid`).
    pub fn new(appid: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            appid: appid.into(),
            secret: secret.into(),
            open_platform: None,
        }
    }

    /// Binds the app to an Open Platform account, so logins return a `unionid`.
    #[must_use]
    pub fn bound_to(mut self, account: impl Into<String>) -> Self {
        self.open_platform = Some(account.into());
        self
    }

    /// The dev app of `wxlogin serve --dev` and of `wxlogin sim` without `--app`.
    pub fn dev() -> Self {
        Self::new("wx0000000000000001", "dev-secret-not-for-production")
            .bound_to("dev-open-platform")
    }

    /// Parses the CLI form `APPID:SECRET` or `APPID:SECRET:OPEN_PLATFORM_ACCOUNT`.
    ///
    /// The error never echoes the input, as it holds the AppSecret.
    pub fn parse_cli(spec: &str) -> Result<Self, SimError> {
        let mut parts = spec.splitn(3, ':');
        let appid = parts.next().unwrap_or_default();
        let secret = parts.next().ok_or(SimError::InvalidAppSpec)?;
        let account = parts.next();
        let sane = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic());
        if !sane(appid) || !sane(secret) || account.is_some_and(|a| !sane(a)) {
            return Err(SimError::InvalidAppSpec);
        }
        let app = Self::new(appid, secret);
        Ok(match account {
            Some(account) => app.bound_to(account),
            None => app,
        })
    }
}

impl fmt::Debug for SimApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimApp")
            .field("appid", &self.appid)
            .field("secret", &"[redacted]")
            .field("open_platform", &self.open_platform)
            .finish()
    }
}

/// The simulator's apps and switches. `Default` is the dev app with WeChat's documented
/// behaviour; build others with struct update syntax:
///
/// ```
/// use wxlogin_wechat_sim::{SimApp, SimConfig};
/// let config = SimConfig {
///     apps: vec![SimApp::new("wx1111111111111111", "s3cret")],
///     stable_session_key: true,
///     ..SimConfig::default()
/// };
/// # let _ = config;
/// ```
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The apps the simulator knows; any other appid gets WeChat's 40013.
    pub apps: Vec<SimApp>,
    /// Makes codes, session_keys, tokens and ivs reproducible, and keys the openid/unionid
    /// hash (so a seed gives other ids). `None` draws randomness from the OS; ids then come
    /// from a fixed built-in key, the same in every process.
    pub seed: Option<u64>,
    /// How long a login code lives (WeChat: 5 minutes).
    pub login_code_ttl: Duration,
    /// How long a phone code lives (WeChat: 5 minutes).
    pub phone_code_ttl: Duration,
    /// How long a session_key lives after it is issued; `None` = until replaced. WeChat does
    /// not publish a lifetime.
    pub session_key_lifetime: Option<Duration>,
    /// Keep a user's session_key across code exchanges (until it expires) instead of the
    /// default, harshest reading of the docs: every exchanged code rotates it.
    pub stable_session_key: bool,
    /// Add `"errcode":0,"errmsg":"ok"` to jscode2session successes (WeChat does both).
    pub jscode2session_errcode_zero: bool,
    /// Write `countryCode` as the number `86` instead of the string `"86"` (the doc example's
    /// shape), in getuserphonenumber answers and legacy phone data.
    pub country_code_as_number: bool,
    /// Answer an expired access_token with 40014 instead of 42001 (one report saw that).
    pub expired_token_as_40014: bool,
    /// `/cgi-bin/token` calls per app per Beijing day before 45009.
    pub token_daily_quota: u32,
    /// `/cgi-bin/stable_token` calls per app per Beijing day before 45009.
    pub stable_token_daily_quota: u32,
    /// `force_refresh:true` refreshes per app per Beijing day; the next one gets 45009.
    pub force_refresh_daily_limit: u32,
}

impl SimConfig {
    /// The defaults with these apps.
    pub fn with_apps(apps: Vec<SimApp>) -> Self {
        Self {
            apps,
            ..Self::default()
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            apps: vec![SimApp::dev()],
            seed: None,
            login_code_ttl: Duration::from_secs(300),
            phone_code_ttl: Duration::from_secs(300),
            session_key_lifetime: None,
            stable_session_key: false,
            jscode2session_errcode_zero: false,
            country_code_as_number: false,
            expired_token_as_40014: false,
            // One Mini Program's quota query showed 10000 (`docs/wechat.md` §8).
            token_daily_quota: 10_000,
            stable_token_daily_quota: 500_000,
            force_refresh_daily_limit: 20,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dev_app_matches_the_documented_defaults() {
        let dev = SimApp::dev();
        assert_eq!(dev.appid, "wx0000000000000001");
        assert_eq!(dev.secret, "dev-secret-not-for-production");
        assert_eq!(dev.open_platform.as_deref(), Some("dev-open-platform"));
        assert_eq!(SimConfig::default().apps, vec![dev]);
    }

    #[test]
    fn parse_cli_accepts_appid_secret_and_an_optional_account() {
        let app = SimApp::parse_cli("wx1:s1").unwrap();
        assert_eq!(app, SimApp::new("wx1", "s1"));
        let bound = SimApp::parse_cli("wx2:s2:acct").unwrap();
        assert_eq!(bound, SimApp::new("wx2", "s2").bound_to("acct"));
    }

    #[test]
    fn parse_cli_refuses_malformed_values_without_echoing_the_secret() {
        for bad in ["", "wx1", "wx1:", ":s", "wx1:s:", "wx1:s e", "wx1:s:a:b c"] {
            let err = SimApp::parse_cli(bad).unwrap_err();
            assert_eq!(err, SimError::InvalidAppSpec, "{bad:?}");
        }
        let shown = SimApp::parse_cli("wx1:hunter2 x").unwrap_err().to_string();
        assert!(!shown.contains("hunter2"));
    }

    #[test]
    fn debug_masks_the_secret_but_keeps_the_appid() {
        let shown = format!("{:?}", SimApp::new("wx9", "hunter2"));
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains("wx9"));
    }
}
