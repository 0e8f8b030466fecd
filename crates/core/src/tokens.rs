//! Our own access tokens: Ed25519-signed JWTs (`alg: EdDSA`), their keys and the JWKS.
//!
//! Keys are generated on first start and stored with the private half sealed. Every instance
//! signs with the newest key and verifies with all of them, so `wxlogin keys rotate` adds a
//! key without breaking tokens already out there.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use jsonwebtoken::{Algorithm, Header};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::crypto::Sealer;
use crate::ports::{KeyStore, SigningKeyRecord, StoreError};

/// The claims of an access token (the contract's list; nothing personal in them).
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
    kid: String,
    generation: i64,
    public_key: [u8; 32],
    signing: SigningKey,
    verifying: VerifyingKey,
    /// The first part of every token this key signs: base64url of the JSON header
    /// `{"typ":"JWT","alg":"EdDSA","kid":…}`, serialised by jsonwebtoken's `Header` as before.
    encoded_header: String,
}

/// The signing keys in use: the newest signs, all verify.
pub struct KeyRing {
    keys: Vec<LoadedKey>,
    issuer: String,
    audience: String,
    /// Tokens this ring has verified, by SHA-256 of the token: an Ed25519 verification is
    /// the largest piece of CPU in `GET /v1/me` (~50 µs here, docs/benchmarks.md), a hash and
    /// a lookup ~1 µs. Safe because what was checked (signature, `kid`, `iss`, `aud`) cannot
    /// change for a given token and ring; expiry is checked again on every hit. It lives in
    /// the ring, so a reloaded ring (a key added or retired) starts empty.
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

fn kid_for(public_key: &[u8; 32]) -> String {
    // RFC 7638-style: derived from the key itself, so the same key always has the same kid.
    let digest = Sha256::digest(public_key);
    URL_SAFE_NO_PAD.encode(&digest[..12])
}

fn seal_context(kid: &str) -> String {
    format!("signing-key:{kid}")
}

/// Who signs, for whom, and how long a replaced key stays in the ring.
#[derive(Debug, Clone)]
pub struct KeyPolicy {
    /// `iss`.
    pub issuer: String,
    /// `aud`.
    pub audience: String,
    /// A key replaced by a newer one still verifies (and stays in the JWKS) this long after
    /// the newer one was created: the longest access-token lifetime plus a margin for skew.
    pub retire_after: std::time::Duration,
}

/// The newest key, and every older key whose successor is younger than `retire_after`:
/// tokens it signed may still be alive.
pub fn live_records(
    mut records: Vec<SigningKeyRecord>,
    retire_after: std::time::Duration,
    now: OffsetDateTime,
) -> Vec<SigningKeyRecord> {
    records.sort_by_key(|r| r.generation);
    let retire =
        time::Duration::seconds(i64::try_from(retire_after.as_secs()).unwrap_or(i64::MAX / 2));
    let successors: Vec<Option<OffsetDateTime>> = (0..records.len())
        .map(|i| records.get(i + 1).map(|next| next.created_at))
        .collect();
    records
        .into_iter()
        .zip(successors)
        .filter(|(_, successor)| successor.is_none_or(|created| now < created + retire))
        .map(|(record, _)| record)
        .collect()
}

/// Creates a new key record with `generation` (not stored yet).
pub fn new_key_record(
    sealer: &Sealer,
    generation: i64,
    now: OffsetDateTime,
) -> Result<SigningKeyRecord, KeyRingError> {
    let signing = SigningKey::generate(&mut rand::rngs::OsRng);
    let public_key = signing.verifying_key().to_bytes();
    let kid = kid_for(&public_key);
    let der = signing
        .to_pkcs8_der()
        .map_err(|_| KeyRingError::Malformed(kid.clone()))?;
    let private_sealed = sealer.seal(&seal_context(&kid), der.as_bytes());
    Ok(SigningKeyRecord {
        kid,
        generation,
        public_key: public_key.to_vec(),
        private_sealed,
        created_at: now,
    })
}

impl KeyRing {
    /// Loads the stored keys; on an empty store, creates the first one (safe when several
    /// instances start at once: the unique generation elects one key, the others reload it).
    pub async fn load_or_create(
        store: &dyn KeyStore,
        sealer: &Sealer,
        policy: &KeyPolicy,
        now: OffsetDateTime,
    ) -> Result<Self, KeyRingError> {
        let mut records = store.signing_keys().await?;
        if records.is_empty() {
            let first = new_key_record(sealer, 1, now)?;
            store.insert_signing_key(&first).await?;
            records = store.signing_keys().await?;
        }
        Self::from_records(
            &live_records(records, policy.retire_after, now),
            sealer,
            policy.issuer.clone(),
            policy.audience.clone(),
        )
    }

    /// Loads the stored keys again (after `wxlogin keys rotate` on another process).
    pub async fn load(
        store: &dyn KeyStore,
        sealer: &Sealer,
        policy: &KeyPolicy,
        now: OffsetDateTime,
    ) -> Result<Self, KeyRingError> {
        let records = store.signing_keys().await?;
        Self::from_records(
            &live_records(records, policy.retire_after, now),
            sealer,
            policy.issuer.clone(),
            policy.audience.clone(),
        )
    }

    /// Adds a key one generation above the newest; returns its kid.
    ///
    /// First opens every stored key with `sealer` and refuses ([`KeyRingError::Sealed`],
    /// nothing written) when one does not open: a rotation run with another master key than
    /// the deployment's would store a key no instance can open, and the next restart fail.
    pub async fn rotate(
        store: &dyn KeyStore,
        sealer: &Sealer,
        now: OffsetDateTime,
    ) -> Result<String, KeyRingError> {
        for record in store.signing_keys().await? {
            sealer
                .open(&seal_context(&record.kid), &record.private_sealed)
                .map_err(|_| KeyRingError::Sealed(record.kid.clone()))?;
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
            let record = new_key_record(sealer, next, now)?;
            if store.insert_signing_key(&record).await? {
                return Ok(record.kid);
            }
            // Another rotation took this generation at the same moment: go one higher.
        }
    }

    /// Builds the ring from stored records.
    pub fn from_records(
        records: &[SigningKeyRecord],
        sealer: &Sealer,
        issuer: String,
        audience: String,
    ) -> Result<Self, KeyRingError> {
        let mut keys = Vec::with_capacity(records.len());
        for r in records {
            let der = sealer
                .open(&seal_context(&r.kid), &r.private_sealed)
                .map_err(|_| KeyRingError::Sealed(r.kid.clone()))?;
            let public_key: [u8; 32] = r
                .public_key
                .as_slice()
                .try_into()
                .map_err(|_| KeyRingError::Malformed(r.kid.clone()))?;
            let malformed = || KeyRingError::Malformed(r.kid.clone());
            let mut header = Header::new(Algorithm::EdDSA);
            header.kid = Some(r.kid.clone());
            let header = serde_json::to_vec(&header).map_err(|_| malformed())?;
            keys.push(LoadedKey {
                kid: r.kid.clone(),
                generation: r.generation,
                public_key,
                signing: SigningKey::from_pkcs8_der(&der).map_err(|_| malformed())?,
                verifying: VerifyingKey::from_bytes(&public_key).map_err(|_| malformed())?,
                encoded_header: URL_SAFE_NO_PAD.encode(header),
            });
        }
        keys.sort_by_key(|k| k.generation);
        if keys.is_empty() {
            return Err(KeyRingError::Malformed("no keys".into()));
        }
        Ok(Self {
            keys,
            issuer,
            audience,
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

    /// The kid that signs new tokens.
    pub fn current_kid(&self) -> &str {
        self.keys.last().map_or("", |k| k.kid.as_str())
    }

    /// Signs claims with the newest key: the compact JWS
    /// `base64url(header).base64url(claims).base64url(Ed25519 signature)`, byte for byte what
    /// `jsonwebtoken::encode` writes (Ed25519 signatures are deterministic).
    pub fn sign(&self, claims: &Claims) -> Result<String, KeyRingError> {
        let key = self
            .keys
            .last()
            .ok_or_else(|| KeyRingError::Malformed("no keys".into()))?;
        let payload =
            serde_json::to_vec(claims).map_err(|_| KeyRingError::Malformed(key.kid.clone()))?;
        // header + claims (4/3 of the JSON) + signature (86) + two dots.
        let mut token =
            String::with_capacity(key.encoded_header.len() + payload.len() * 4 / 3 + 92);
        token.push_str(&key.encoded_header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = key.signing.sign(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
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
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Invalid);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(TokenError::UnknownKey)?;
        // Split as jsonwebtoken splits: the signature after the last dot, the claims before
        // it. `decode_header` has already refused a token with fewer than three parts.
        let (message, signature) = token.rsplit_once('.').ok_or(TokenError::Invalid)?;
        let (_, payload) = message.rsplit_once('.').ok_or(TokenError::Invalid)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Invalid)?;
        let signature = Signature::from_slice(&signature).map_err(|_| TokenError::Invalid)?;
        key.verifying
            .verify(message.as_bytes(), &signature)
            .map_err(|_| TokenError::Invalid)?;
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

    /// The JWKS document: every key this ring verifies with.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .keys
            .iter()
            .rev()
            .map(|k| {
                serde_json::json!({
                    "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA",
                    "kid": k.kid, "x": URL_SAFE_NO_PAD.encode(k.public_key),
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

/// A key ring that can be swapped when keys are reloaded, without locking readers for long.
pub type SharedKeyRing = Arc<std::sync::RwLock<Arc<KeyRing>>>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MasterKey;

    fn ring() -> (KeyRing, Sealer) {
        let sealer = MasterKey::generate().sealer();
        let rec = new_key_record(&sealer, 1, OffsetDateTime::now_utc()).unwrap();
        let ring =
            KeyRing::from_records(&[rec], &sealer, "https://iss".into(), "wxlogin".into()).unwrap();
        (ring, sealer)
    }

    fn claims(exp: i64) -> Claims {
        Claims {
            iss: "https://iss".into(),
            aud: "wxlogin".into(),
            sub: "u1".into(),
            iat: 0,
            exp,
            jti: "j".into(),
            sid: "s".into(),
            appid: "wx1".into(),
        }
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let (ring, _) = ring();
        let now = OffsetDateTime::now_utc();
        let c = claims(now.unix_timestamp() + 60);
        let token = ring.sign(&c).unwrap();
        assert_eq!(ring.verify(&token, now).unwrap(), c);
        assert_eq!(
            ring.verify(&token, now + time::Duration::seconds(60)),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn tokens_from_another_ring_or_tampered_are_refused() {
        let ((mine, _), (other, _)) = (ring(), ring());
        let ring = mine;
        let now = OffsetDateTime::now_utc();
        let token = other.sign(&claims(now.unix_timestamp() + 60)).unwrap();
        assert_eq!(ring.verify(&token, now), Err(TokenError::UnknownKey));
        let good = ring.sign(&claims(now.unix_timestamp() + 60)).unwrap();
        let mut parts: Vec<&str> = good.split('.').collect();
        let forged = URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&claims(now.unix_timestamp() + 9999)).unwrap());
        parts[1] = &forged;
        assert_eq!(ring.verify(&parts.join("."), now), Err(TokenError::Invalid));
        assert_eq!(ring.verify("garbage", now), Err(TokenError::Invalid));
    }

    #[test]
    fn a_private_key_sealed_under_another_master_key_is_reported() {
        let sealer = MasterKey::generate().sealer();
        let rec = new_key_record(&sealer, 1, OffsetDateTime::now_utc()).unwrap();
        let err = KeyRing::from_records(
            &[rec],
            &MasterKey::generate().sealer(),
            "i".into(),
            "a".into(),
        )
        .unwrap_err();
        assert!(matches!(err, KeyRingError::Sealed(_)));
    }

    #[test]
    fn a_replaced_key_stays_in_the_ring_for_the_token_lifetime_then_leaves() {
        let sealer = MasterKey::generate().sealer();
        let t0 = OffsetDateTime::now_utc();
        let first = new_key_record(&sealer, 1, t0).unwrap();
        let second = new_key_record(&sealer, 2, t0 + time::Duration::seconds(100)).unwrap();
        let records = vec![second.clone(), first.clone()];
        let window = std::time::Duration::from_secs(960);
        let kids = |now| {
            live_records(records.clone(), window, now)
                .into_iter()
                .map(|r| r.kid)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            kids(t0 + time::Duration::seconds(1000)),
            [first.kid.as_str(), second.kid.as_str()]
        );
        assert_eq!(
            kids(t0 + time::Duration::seconds(1060)),
            [second.kid.as_str()]
        );

        // Signed with the old key before the rotation, verified after it.
        let old_ring = KeyRing::from_records(&[first], &sealer, "i".into(), "a".into()).unwrap();
        let c = Claims {
            iss: "i".into(),
            aud: "a".into(),
            ..claims(t0.unix_timestamp() + 900)
        };
        let token = old_ring.sign(&c).unwrap();
        let both = KeyRing::from_records(
            &live_records(records.clone(), window, t0 + time::Duration::seconds(200)),
            &sealer,
            "i".into(),
            "a".into(),
        )
        .unwrap();
        assert_eq!(both.verify(&token, t0).unwrap(), c);
        assert_eq!(both.current_kid(), second.kid);
        assert_eq!(both.jwks()["keys"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_token_for_another_issuer_or_audience_is_refused() {
        let (ring, _) = ring();
        let now = OffsetDateTime::now_utc();
        let wrong_aud = Claims {
            aud: "other".into(),
            ..claims(now.unix_timestamp() + 60)
        };
        let wrong_iss = Claims {
            iss: "https://evil".into(),
            ..claims(now.unix_timestamp() + 60)
        };
        assert_eq!(
            ring.verify(&ring.sign(&wrong_aud).unwrap(), now),
            Err(TokenError::WrongAudience)
        );
        assert_eq!(
            ring.verify(&ring.sign(&wrong_iss).unwrap(), now),
            Err(TokenError::WrongAudience)
        );
    }

    #[test]
    fn tokens_are_byte_for_byte_what_jsonwebtoken_signs_and_verifies() {
        use jsonwebtoken::{DecodingKey, EncodingKey, Validation};

        let sealer = MasterKey::generate().sealer();
        let rec = new_key_record(&sealer, 1, OffsetDateTime::now_utc()).unwrap();
        let ring = KeyRing::from_records(
            std::slice::from_ref(&rec),
            &sealer,
            "https://iss".into(),
            "wxlogin".into(),
        )
        .unwrap();
        let now = OffsetDateTime::now_utc();
        let c = claims(now.unix_timestamp() + 60);
        let der = sealer
            .open(&seal_context(&rec.kid), &rec.private_sealed)
            .unwrap();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(rec.kid.clone());

        let theirs = jsonwebtoken::encode(&header, &c, &EncodingKey::from_ed_der(&der)).unwrap();
        let ours = ring.sign(&c).unwrap();
        assert_eq!(ours, theirs);

        let key =
            DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode(&rec.public_key)).unwrap();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        validation.validate_aud = false;
        assert_eq!(
            jsonwebtoken::decode::<Claims>(&ours, &key, &validation)
                .unwrap()
                .claims,
            c
        );
    }

    #[test]
    fn tokens_with_another_algorithm_or_a_mangled_signature_are_invalid() {
        let (ring, _) = ring();
        let now = OffsetDateTime::now_utc();
        let good = ring.sign(&claims(now.unix_timestamp() + 60)).unwrap();
        let (message, signature) = good.rsplit_once('.').unwrap();
        let (_, payload) = message.split_once('.').unwrap();
        let kid = ring.current_kid();

        let none = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","kid":"{kid}"}}"#));
        let hs256 = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"HS256","kid":"{kid}"}}"#));
        let no_kid = URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA"}"#);
        assert_eq!(
            ring.verify(&format!("{none}.{payload}."), now),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            ring.verify(&format!("{hs256}.{payload}.{signature}"), now),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            ring.verify(&format!("{no_kid}.{payload}.{signature}"), now),
            Err(TokenError::UnknownKey)
        );
        for mangled in [
            format!("{message}."),
            format!("{message}.{}", &signature[..signature.len() - 2]),
            format!("{message}.{signature}AA"),
            format!("{message}.{signature}="),
            format!("{message}.{}", "A".repeat(signature.len())),
            format!("{message}.x.{signature}"),
            message.to_owned(),
        ] {
            assert_eq!(
                ring.verify(&mangled, now),
                Err(TokenError::Invalid),
                "{mangled}"
            );
        }
    }

    #[test]
    fn the_jwks_lists_every_key_as_okp_ed25519() {
        let (ring, _) = ring();
        let jwks = ring.jwks();
        assert_eq!(jwks["keys"][0]["kty"], "OKP");
        assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
        assert_eq!(jwks["keys"][0]["kid"], ring.current_kid());
    }

    #[test]
    fn a_verified_token_is_remembered_until_it_expires_and_only_by_its_ring() {
        let sealer = MasterKey::generate().sealer();
        let t0 = OffsetDateTime::now_utc();
        let first = new_key_record(&sealer, 1, t0).unwrap();
        let second = new_key_record(&sealer, 2, t0).unwrap();
        let load = |records: &[SigningKeyRecord]| {
            KeyRing::from_records(records, &sealer, "https://iss".into(), "wxlogin".into()).unwrap()
        };
        let ring = load(std::slice::from_ref(&first));
        let c = claims(t0.unix_timestamp() + 60);
        let token = ring.sign(&c).unwrap();

        assert_eq!(ring.verify(&token, t0), Ok(c.clone()));
        assert!(
            ring.verified
                .contains_key(&<[u8; 32]>::from(Sha256::digest(&token)))
        );
        assert_eq!(ring.verify(&token, t0), Ok(c.clone()), "from the cache");
        // Expiry holds for a remembered token, to the second.
        let at_exp = t0 + time::Duration::seconds(60);
        assert_eq!(ring.verify(&token, at_exp), Err(TokenError::Expired));
        assert_eq!(
            ring.verify(&token, t0 + time::Duration::seconds(59)),
            Ok(c.clone())
        );
        // A token that only differs in its signature is not the remembered one.
        let mut forged = token.clone();
        forged.truncate(forged.len() - 2);
        forged.push_str(if token.ends_with("AA") { "AB" } else { "AA" });
        assert_eq!(ring.verify(&forged, t0), Err(TokenError::Invalid));

        // The ring reloaded without the token's key refuses it, remembered or not.
        let reloaded = load(std::slice::from_ref(&second));
        assert_eq!(reloaded.verify(&token, t0), Err(TokenError::UnknownKey));
    }
}
