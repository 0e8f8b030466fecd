//! What `serve --config` checks on top of [`Settings::from_raw`] before a real deployment
//! starts: no published or malformed secrets, no guessable master key, and a warning for a
//! secret file others can read.

use std::path::Path;

use super::settings::is_loopback_url;
use super::{ConfigError, Settings, invalid};

/// The checks `serve --config` adds to [`Settings::from_raw`] for a real deployment: no
/// published or malformed secrets, no guessable master key. Warns (does not refuse) when a
/// secret file can be read by its group or by others.
///
/// AppSecrets must be WeChat's format (32 hex characters) unless `wechat.base_url` is a
/// loopback address (a simulator, whose apps may use any secret).
pub fn check_production(settings: &Settings) -> Result<(), ConfigError> {
    let simulated = is_loopback_url(&settings.wechat.base_url);
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
    for (key, path) in &settings.secret_files {
        warn_if_shared(key, path);
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
