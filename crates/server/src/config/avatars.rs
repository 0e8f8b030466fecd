//! `[avatars]`: where uploaded avatars are kept.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid, secret_value};

/// `[avatars]` as written.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AvatarsSection {
    /// `local` (a directory), `s3` (an S3-compatible bucket) or `off` (no uploads).
    pub storage: String,
    /// `local`: the directory (default `./wxlogin-data/avatars`; dev mode: the data directory's).
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
    pub s3_secret_access_key: Option<String>,
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

impl std::fmt::Debug for AvatarsSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AvatarsSection")
            .field("storage", &self.storage)
            .field("dir", &self.dir)
            .field("s3_bucket", &self.s3_bucket)
            .field("s3_endpoint", &self.s3_endpoint)
            .finish_non_exhaustive()
    }
}

/// Where avatars go, checked.
#[derive(Clone)]
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

impl std::fmt::Debug for AvatarStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Off => f.write_str("Off"),
            Self::Local(dir) => f.debug_tuple("Local").field(dir).finish(),
            Self::S3 {
                bucket, endpoint, ..
            } => f
                .debug_struct("S3")
                .field("bucket", bucket)
                .field("endpoint", endpoint)
                .finish_non_exhaustive(),
        }
    }
}

/// Checks and converts `[avatars]`. A local directory defaults to `avatars/` beside a SQLite
/// database file, or `./wxlogin-data/avatars` with a database server.
pub fn convert(raw: &AvatarsSection, database_url: &str) -> Result<AvatarStorage, ConfigError> {
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
                if url.scheme() != "https" && !super::is_loopback_url(&url) {
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
            let secret = secret_value(
                "avatars.s3_secret_access_key",
                raw.s3_secret_access_key.as_ref(),
                raw.s3_secret_access_key_file.as_ref(),
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
                secret_access_key: secret.into(),
            })
        }
        other => Err(invalid(
            "avatars.storage",
            format!("{other:?} is not one of local, s3, off"),
        )),
    }
}
