//! Secrets in the configuration: types that deserialize straight from the file or the
//! environment and whose `Debug` never shows the value, and the one rule every secret key
//! follows: `x` can be given in clear or as `x_file`, a file holding it (whitespace trimmed),
//! never both. Files read are remembered, so that `serve --config` can warn about one that
//! others can read.
//!
//! The sections in `file.rs` derive `Debug`: a secret is safe there because of its type, not
//! because someone remembered to leave a field out of a hand-written impl.

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::de::{Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::{ConfigError, invalid};

/// The name secret types hand to `deserialize_newtype_struct`. Formats (figment, toml) read
/// the plain string inside; the key listing of the tests (`keys.rs`) recognises secret keys by
/// it, to check that each has its `_file` twin.
pub(crate) const SECRET_MARKER: &str = "wxlogin::config::Secret";

/// Deserializes a string through the secret marker.
fn deserialize_secret<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    struct Text;
    impl<'de> Visitor<'de> for Text {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
            String::deserialize(d)
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
    }
    deserializer.deserialize_newtype_struct(SECRET_MARKER, Text)
}

/// A secret as configured: an AppSecret, the master key, a webhook secret, a secret access
/// key. `Debug` prints `Secret([redacted])`; the value comes out through `expose_secret()`.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// The value. Every call site is a place where the secret leaves its box.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value.into())
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.into())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_secret(deserializer).map(Self::from)
    }
}

/// Serialized in clear: [`super::load`] hands a [`super::RawConfig`] to figment as the bottom
/// layer (the dev defaults, with the published dev secret), and figment takes it serialized.
/// Nothing else serializes a configuration.
impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.expose_secret())
    }
}

/// A database or Redis URL: it may carry a password, so `Debug` masks it
/// ([`wxlogin_core::redact::redact_url`]) and the rest says which server is meant.
#[derive(Clone)]
pub struct DatabaseUrl(SecretString);

impl DatabaseUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self(SecretString::from(url.into()))
    }

    /// The full URL, to connect with.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl From<String> for DatabaseUrl {
    fn from(url: String) -> Self {
        Self::new(url)
    }
}

impl From<&str> for DatabaseUrl {
    fn from(url: &str) -> Self {
        Self::new(url)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl")
            .field(&wxlogin_core::redact::redact_url(self.expose_secret()))
            .finish()
    }
}

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_secret(deserializer).map(Self::new)
    }
}

/// In clear, for the same reason as [`Secret`]'s.
impl Serialize for DatabaseUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.expose_secret())
    }
}

/// The URL of a webhook receiver or of the lookup hook, as written. Not a secret, but its
/// query may carry a token of the receiver's, so `Debug` leaves the query out (as the hooks
/// crate's own types do) and masks a password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EndpointUrl(String);

impl EndpointUrl {
    /// The URL as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for EndpointUrl {
    fn from(url: String) -> Self {
        Self(url)
    }
}

impl From<&str> for EndpointUrl {
    fn from(url: &str) -> Self {
        Self(url.to_owned())
    }
}

impl fmt::Debug for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let without_query = self.0.split(['?', '#']).next().unwrap_or_default();
        f.debug_tuple("EndpointUrl")
            .field(&wxlogin_core::redact::redact_url(without_query))
            .finish()
    }
}

/// Reads secrets under the `x` / `x_file` rule and remembers the files it read.
#[derive(Debug, Default)]
pub(super) struct SecretReader {
    files: Vec<(String, PathBuf)>,
}

impl SecretReader {
    /// The value of `key`, given in clear (`clear`) or as `key_file` (`file`); at most one of
    /// them. `None` when neither is set: whether that is allowed is the caller's to say.
    pub(super) fn read(
        &mut self,
        key: &str,
        clear: Option<&str>,
        file: Option<&Path>,
    ) -> Result<Option<Secret>, ConfigError> {
        match (clear, file) {
            (Some(_), Some(_)) => Err(invalid(
                key,
                format!("give either `{key}` or `{key}_file`, not both"),
            )),
            (Some(v), None) if v.trim().is_empty() => Err(invalid(key, "is empty")),
            (Some(v), None) => Ok(Some(Secret::from(v.trim()))),
            (None, Some(path)) => {
                let file_key = format!("{key}_file");
                let value = read_secret_file(&file_key, path)?;
                self.files.push((file_key, path.to_owned()));
                Ok(Some(value))
            }
            (None, None) => Ok(None),
        }
    }

    /// The secret files read, by key (`apps[0].secret_file`).
    pub(super) fn into_files(self) -> Vec<(String, PathBuf)> {
        self.files
    }
}

fn read_secret_file(key: &str, path: &Path) -> Result<Secret, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid(key, format!("cannot read {}: {e}", path.display())))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(invalid(key, format!("{} is empty", path.display())));
    }
    Ok(Secret::from(text))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests

    use super::*;

    #[test]
    fn secrets_print_redacted_and_urls_without_their_password_or_query() {
        let secret = Secret::from("hunter2-app-secret");
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
        let db = DatabaseUrl::new("postgres://wx:hunter2@db:5432/wx");
        assert_eq!(
            format!("{db:?}"),
            "DatabaseUrl(\"postgres://wx:***@db:5432/wx\")"
        );
        let hook = EndpointUrl::from("https://u:hunter2@hooks.example.com/in?token=hunter2#x");
        let shown = format!("{hook:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("hooks.example.com/in"), "{shown}");
    }

    #[test]
    fn a_secret_is_given_in_clear_or_in_a_file_never_both() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, "  from-file\n").unwrap();
        let mut reader = SecretReader::default();
        let clear = reader.read("a.secret", Some(" in-clear "), None).unwrap();
        assert_eq!(clear.unwrap().expose_secret(), "in-clear");
        let filed = reader.read("b.secret", None, Some(&path)).unwrap();
        assert_eq!(filed.unwrap().expose_secret(), "from-file");
        assert!(reader.read("c.secret", None, None).unwrap().is_none());
        let both = reader
            .read("d.secret", Some("x"), Some(&path))
            .unwrap_err()
            .to_string();
        assert!(
            both.contains("`d.secret` or `d.secret_file`, not both"),
            "{both}"
        );
        assert_eq!(
            reader.into_files(),
            vec![("b.secret_file".to_owned(), path)]
        );
    }
}
