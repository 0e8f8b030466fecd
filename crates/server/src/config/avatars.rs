//! `[avatars]`: where uploaded avatars are kept, converted.

use std::path::PathBuf;

use super::file::AvatarsSection;
use super::secrets::SecretReader;
use super::settings::is_loopback_url;
use super::{ConfigError, invalid};

/// Where avatars go, checked.
#[derive(Debug, Clone)]
pub enum AvatarStorage {
    /// No uploads: `POST /v1/avatar` is 404.
    Off,
    /// A local directory.
    Local(PathBuf),
    /// An S3-compatible bucket.
    S3 {
        /// Bucket.
        bucket: String,
        /// Endpoint (`None`: AWS).
        endpoint: Option<String>,
        /// Region.
        region: String,
        /// Access key id.
        access_key_id: String,
        /// Secret access key.
        secret_access_key: secrecy::SecretString,
    },
}

/// Checks and converts `[avatars]`. A local directory defaults to `avatars/` beside a SQLite
/// database file, or `./wxlogin-data/avatars` with a database server.
pub(super) fn convert(
    raw: &AvatarsSection,
    database_url: &str,
    secrets: &mut SecretReader,
) -> Result<AvatarStorage, ConfigError> {
    match raw.storage.as_str() {
        "off" => Ok(AvatarStorage::Off),
        "local" => Ok(AvatarStorage::Local(raw.dir.clone().unwrap_or_else(|| {
            database_url
                .strip_prefix("sqlite://")
                .map(|path| path.split('?').next().unwrap_or(path))
                .and_then(|path| std::path::Path::new(path).parent())
                .filter(|dir| !dir.as_os_str().is_empty())
                .map_or_else(
                    || PathBuf::from("./wxlogin-data/avatars"),
                    |dir| dir.join("avatars"),
                )
        }))),
        "s3" => {
            let bucket = raw
                .s3_bucket
                .clone()
                .filter(|b| !b.is_empty())
                .ok_or_else(|| invalid("avatars.s3_bucket", "is required with storage = \"s3\""))?;
            if let Some(endpoint) = &raw.s3_endpoint {
                let url = url::Url::parse(endpoint)
                    .map_err(|e| invalid("avatars.s3_endpoint", e.to_string()))?;
                if url.scheme() != "https" && !is_loopback_url(&url) {
                    return Err(invalid(
                        "avatars.s3_endpoint",
                        "must be https (plain http only on a loopback address)",
                    ));
                }
            }
            let access_key_id = raw
                .s3_access_key_id
                .clone()
                .ok_or_else(|| invalid("avatars.s3_access_key_id", "is required with s3"))?;
            let secret = secrets
                .read(
                    "avatars.s3_secret_access_key",
                    raw.s3_secret_access_key.as_ref().map(|s| s.expose_secret()),
                    raw.s3_secret_access_key_file.as_deref(),
                )?
                .ok_or_else(|| {
                    invalid(
                        "avatars.s3_secret_access_key",
                        "is required with s3 (or s3_secret_access_key_file)",
                    )
                })?;
            Ok(AvatarStorage::S3 {
                bucket,
                endpoint: raw.s3_endpoint.clone(),
                region: raw.s3_region.clone(),
                access_key_id,
                secret_access_key: secret.expose_secret().into(),
            })
        }
        other => Err(invalid(
            "avatars.storage",
            format!("{other:?} is not one of local, s3, off"),
        )),
    }
}
