//! Our own access tokens: JWTs signed with ES256 (the default), EdDSA or RS256, their keys,
//! the JWKS, and the rotation schedule.
//!
//! Keys are generated on first start and stored with the private half sealed; each stored
//! key's PKCS#8 document names its algorithm ([`keys`]), so a deployment keeps its keys'
//! algorithm until a rotation creates a key with the configured one. Every instance verifies
//! with every live key and signs with the one [`schedule()`] makes current, so a rotation is
//! published in the JWKS before it signs and `wxlogin keys rotate` never breaks a verifier
//! that caches the JWKS.

pub mod keys;
pub mod schedule;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Header;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

pub use keys::{Algorithm, KeyMaterial};
pub use schedule::{KeyPolicy, KeyState, ScheduledKey, schedule};

use crate::crypto::Sealer;
use crate::ports::{KeyStore, SigningKeyRecord, StoreError};

/// The claims of an access token (the contract's list; nothing personal unless an app opts in
/// with `[[apps]] claims`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: the server's public URL.
    pub iss: String,
    /// Audience: `tokens.audience`.
    pub aud: String,
    /// The user id.
    pub sub: String,
    /// Issued at (unix seconds).
    pub iat: i64,
    /// Expires at (unix seconds).
    pub exp: i64,
    /// Token id.
    pub jti: String,
    /// The refresh family this token belongs to.
    pub sid: String,
    /// The app the user signed in through.
    pub appid: String,
    /// The user's openid in `appid`, for apps that opt in (WeChat Pay, subscribe messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openid: Option<String>,
    /// The user's unionid, for apps that opt in and when WeChat gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    /// The user's id in the operator's own systems, for apps that opt in and users that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// Why a bearer token was refused. Deliberately coarse: the client only learns "401".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT we could parse, wrong algorithm, or bad signature.
    #[error("malformed or forged token")]
    Invalid,
    /// The header names a key we don't have.
    #[error("unknown signing key")]
    UnknownKey,
    /// `iss` or `aud` is not ours.
    #[error("wrong issuer or audience")]
    WrongAudience,
    /// Past `exp`.
    #[error("expired")]
    Expired,
}

/// Failures loading or creating keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored private key did not open: the master key differs from the one that sealed it.
    #[error("signing key {0} cannot be opened: is this the master key it was created with?")]
    Sealed(String),
    /// A stored key is malformed.
    #[error("signing key {0} is malformed")]
    Malformed(String),
}

/// One key, parsed once when the ring is built: signing and verifying do no key parsing
/// (jsonwebtoken 9 re-derives the key pair from PKCS#8 on every `encode` and re-reads the
/// public key on every `decode`, which cost more than the signature itself).
struct LoadedKey {
    /// As stored. Keys created since issue #16 have their RFC 7638 thumbprint; older
    /// (EdDSA) keys keep the kid their tokens already carry until they are rotated out.
    kid: String,
    material: KeyMaterial,
    /// When this key starts signing (see [`schedule`]).
    signs_from: OffsetDateTime,
    /// The first part of every token this key signs: base64url of the JSON header
    /// `{"typ":"JWT","alg":…,"kid":…}`, serialised by jsonwebtoken's `Header`.
    encoded_header: String,
}

/// The live signing keys (next, current and retiring), oldest first.
pub struct KeyRing {
    keys: Vec<LoadedKey>,
    issuer: String,
    audience: String,
    /// Tokens this ring has verified, by SHA-256 of the token: a signature verification is
    /// the largest piece of CPU in `GET /v1/me` (docs/benchmarks.md), a hash and a lookup
    /// ~1 µs. Safe because what was checked (signature, `kid`, `iss`, `aud`) cannot change
    /// for a given token and ring; expiry is checked again on every hit. It lives in the
    /// ring, so a reloaded ring (a key added or retired) starts empty.
    verified: moka::sync::Cache<[u8; 32], Arc<Claims>>,
}

/// Tokens remembered per ring: about 300 bytes each, ~3 MiB when full.
const VERIFIED_CAPACITY: u64 = 10_000;

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|k| k.kid.as_str()).collect();
        f.debug_struct("KeyRing")
            .field("kids", &kids)
            .field("issuer", &self.issuer)
            .finish()
    }
}

fn seal_context(kid: &str) -> String {
    format!("signing-key:{kid}")
}

/// Creates a new key record with `generation` (not stored yet); its kid is the key's RFC 7638
/// thumbprint.
pub fn new_key_record(
    sealer: &Sealer,
    algorithm: Algorithm,
    generation: i64,
    now: OffsetDateTime,
) -> Result<SigningKeyRecord, KeyRingError> {
    let (key, der) = KeyMaterial::generate(algorithm)
        .map_err(|_| KeyRingError::Malformed(format!("new {algorithm} key")))?;
    let kid = key.thumbprint().to_owned();
    let private_sealed = sealer.seal(&seal_context(&kid), &der);
    Ok(SigningKeyRecord {
        kid,
        generation,
        public_key: key.public_key().to_vec(),
        private_sealed,
        created_at: now,
    })
}

/// Opens a stored key: unseals it, recognises its algorithm and checks the stored public key.
pub fn open_record(
    record: &SigningKeyRecord,
    sealer: &Sealer,
) -> Result<KeyMaterial, KeyRingError> {
    let der = sealer
        .open(&seal_context(&record.kid), &record.private_sealed)
        .map_err(|_| KeyRingError::Sealed(record.kid.clone()))?;
    let key =
        KeyMaterial::from_pkcs8(&der).map_err(|_| KeyRingError::Malformed(record.kid.clone()))?;
    if key.public_key() != record.public_key.as_slice() {
        return Err(KeyRingError::Malformed(record.kid.clone()));
    }
    Ok(key)
}

/// What [`KeyRing::rotate`] scheduled.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// The new key's kid.
    pub kid: String,
    /// Its algorithm.
    pub algorithm: Algorithm,
    /// When it starts signing; until then it is `next`: published, not signing.
    pub signs_from: OffsetDateTime,
}

impl KeyRing {
    /// Loads the stored keys; on an empty store, creates the first one with `algorithm` (safe
    /// when several instances start at once: the unique generation elects one key, the others
    /// reload it). It signs at once: nothing can have cached a JWKS of a new deployment.
    pub async fn load_or_create(
        store: &dyn KeyStore,
        sealer: &Sealer,
        policy: &KeyPolicy,
        algorithm: Algorithm,
        now: OffsetDateTime,
    ) -> Result<Self, KeyRingError> {
        let mut records = store.signing_keys().await?;
        if records.is_empty() {
            let first = new_key_record(sealer, algorithm, 1, now)?;
            store.insert_signing_key(&first).await?;
            records = store.signing_keys().await?;
        }
        Self::from_records(records, sealer, policy, now)
    }

    /// Loads the stored keys again (after `wxlogin keys rotate` on another process).
    pub async fn load(
        store: &dyn KeyStore,
        sealer: &Sealer,
        policy: &KeyPolicy,
        now: OffsetDateTime,
    ) -> Result<Self, KeyRingError> {
        let records = store.signing_keys().await?;
        Self::from_records(records, sealer, policy, now)
    }

    /// Schedules a rotation: stores a new `algorithm` key one generation above the newest,
    /// which is published at once and signs from `created_at + policy.publish_delay`. What
    /// `wxlogin keys rotate` runs, and what `POST /admin/v1/keys/rotate` will.
    ///
    /// First opens every stored key with `sealer` and refuses ([`KeyRingError::Sealed`],
    /// nothing written) when one does not open: a rotation run with another master key than
    /// the deployment's would store a key no instance can open, and the next restart fail.
    pub async fn rotate(
        store: &dyn KeyStore,
        sealer: &Sealer,
        algorithm: Algorithm,
        policy: &KeyPolicy,
        now: OffsetDateTime,
    ) -> Result<Rotation, KeyRingError> {
        for record in store.signing_keys().await? {
            open_record(&record, sealer)?;
        }
        loop {
            let next = store
                .signing_keys()
                .await?
                .iter()
                .map(|k| k.generation)
                .max()
                .unwrap_or(0)
                + 1;
            let record = new_key_record(sealer, algorithm, next, now)?;
            if store.insert_signing_key(&record).await? {
                let signs_from = schedule(store.signing_keys().await?, policy, now)
                    .into_iter()
                    .find(|k| k.record.kid == record.kid)
                    .map_or(now, |k| k.signs_from);
                return Ok(Rotation {
                    kid: record.kid,
                    algorithm,
                    signs_from,
                });
            }
            // Another rotation took this generation at the same moment: go one higher.
        }
    }

    /// Builds the ring from stored records: the keys [`schedule()`] does not retire at `now`.
    pub fn from_records(
        records: Vec<SigningKeyRecord>,
        sealer: &Sealer,
        policy: &KeyPolicy,
        now: OffsetDateTime,
    ) -> Result<Self, KeyRingError> {
        let mut keys = Vec::new();
        for k in schedule(records, policy, now) {
            if k.state == KeyState::Retired {
                continue;
            }
            let r = &k.record;
            let material = open_record(r, sealer)?;
            let mut header = Header::new(material.algorithm().jwt());
            header.kid = Some(r.kid.clone());
            let header =
                serde_json::to_vec(&header).map_err(|_| KeyRingError::Malformed(r.kid.clone()))?;
            keys.push(LoadedKey {
                kid: r.kid.clone(),
                material,
                signs_from: k.signs_from,
                encoded_header: URL_SAFE_NO_PAD.encode(header),
            });
        }
        if keys.is_empty() {
            return Err(KeyRingError::Malformed("no keys".into()));
        }
        Ok(Self {
            keys,
            issuer: policy.issuer.clone(),
            audience: policy.audience.clone(),
            verified: moka::sync::Cache::new(VERIFIED_CAPACITY),
        })
    }

    /// The issuer (`iss`) of tokens signed here.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audience (`aud`) of tokens signed here.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The key that signs at `at`: the newest whose time has come (the oldest if none has).
    fn signing_key(&self, at: i64) -> Option<&LoadedKey> {
        self.keys
            .iter()
            .rev()
            .find(|k| k.signs_from.unix_timestamp() <= at)
            .or_else(|| self.keys.first())
    }

    /// The kid that signs tokens issued at `now`.
    pub fn current_kid(&self, now: OffsetDateTime) -> &str {
        self.signing_key(now.unix_timestamp())
            .map_or("", |k| k.kid.as_str())
    }

    /// The algorithms of the keys in the ring, for the discovery document.
    pub fn algorithms(&self) -> Vec<Algorithm> {
        let mut algs = Vec::new();
        for k in self.keys.iter().rev() {
            if !algs.contains(&k.material.algorithm()) {
                algs.push(k.material.algorithm());
            }
        }
        algs
    }

    /// Signs claims with the key current at `claims.iat`: the compact JWS
    /// `base64url(header).base64url(claims).base64url(signature)`. Choosing by `iat` means an
    /// instance switches to a `next` key at its scheduled second, without waiting for a reload.
    pub fn sign(&self, claims: &Claims) -> Result<String, KeyRingError> {
        let key = self
            .signing_key(claims.iat)
            .ok_or_else(|| KeyRingError::Malformed("no keys".into()))?;
        let malformed = || KeyRingError::Malformed(key.kid.clone());
        let payload = serde_json::to_vec(claims).map_err(|_| malformed())?;
        // header + claims (4/3 of the JSON) + signature (at most 342 for RSA-2048) + two dots.
        let mut token =
            String::with_capacity(key.encoded_header.len() + payload.len() * 4 / 3 + 348);
        token.push_str(&key.encoded_header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = key
            .material
            .sign(token.as_bytes())
            .map_err(|_| malformed())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }

    /// Verifies signature, algorithm, kid, issuer, audience and expiry (against `now`, not the
    /// system clock, so tests can move time).
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<Claims, TokenError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(claims) = self.verified.get(&digest) {
            if claims.exp <= now.unix_timestamp() {
                self.verified.invalidate(&digest);
                return Err(TokenError::Expired);
            }
            return Ok(claims.as_ref().clone());
        }
        let claims = self.verify_uncached(token, now)?;
        self.verified.insert(digest, Arc::new(claims.clone()));
        Ok(claims)
    }

    /// [`KeyRing::verify`] without the cache of verified tokens: the full check, every time
    /// (what the micro-benchmarks measure).
    pub fn verify_uncached(&self, token: &str, now: OffsetDateTime) -> Result<Claims, TokenError> {
        // The header is read by jsonwebtoken, so what it accepts is unchanged (it is small:
        // this costs well under a microsecond); the signature is checked here, with the key
        // parsed once.
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(TokenError::UnknownKey)?;
        // The key decides the algorithm, never the token: no `none`, no HS256 with a public key.
        if header.alg != key.material.algorithm().jwt() {
            return Err(TokenError::Invalid);
        }
        // Split as jsonwebtoken splits: the signature after the last dot, the claims before
        // it. `decode_header` has already refused a token with fewer than three parts.
        let (message, signature) = token.rsplit_once('.').ok_or(TokenError::Invalid)?;
        let (_, payload) = message.rsplit_once('.').ok_or(TokenError::Invalid)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Invalid)?;
        if !key.material.verify(message.as_bytes(), &signature) {
            return Err(TokenError::Invalid);
        }
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Invalid)?;
        // `exp`, `iss` and `aud` are checked below against our clock and settings, so the
        // error is precise.
        let claims: Claims = serde_json::from_slice(&payload).map_err(|_| TokenError::Invalid)?;
        if claims.iss != self.issuer || claims.aud != self.audience {
            return Err(TokenError::WrongAudience);
        }
        if claims.exp <= now.unix_timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    /// The JWKS document: every key this ring verifies with (next, current and retiring),
    /// newest first.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .keys
            .iter()
            .rev()
            .map(|k| k.material.jwk(&k.kid))
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

/// A key ring that can be swapped when keys are reloaded, without locking readers for long.
pub type SharedKeyRing = Arc<std::sync::RwLock<Arc<KeyRing>>>;

#[cfg(test)]
mod tests;
