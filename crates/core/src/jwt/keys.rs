//! One signing key: its algorithm, its parsed key pair, its JWK and RFC 7638 thumbprint.
//!
//! The algorithm is not stored beside the key: the sealed PKCS#8 document names it (the OIDs
//! of Ed25519, EC P-256 and RSA differ), so a key is recognised by which parser accepts it.
//!
//! Crates: ed25519-dalek for Ed25519 (as before, for its measured speed), ring for ES256 and
//! RS256 (the backend jsonwebtoken itself uses; here the key pair is parsed once instead of on
//! every `encode`), `rsa` only to generate RSA keys (ring cannot). The JWK thumbprint is a
//! few lines of RFC 7638 written here: no crate we use exposes it, and the tests check it
//! against the RFC's own example and against the `jose` npm package in the verify examples.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signer, Verifier};
use ring::rand::SystemRandom;
use ring::signature::{self as rs, KeyPair as _};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The JWS algorithms wxlogin signs access tokens with (`[tokens] algorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// ECDSA P-256 with SHA-256: verified by every common JWT library; the default.
    #[default]
    Es256,
    /// Ed25519: small and fast, but Spring's and Node's `jsonwebtoken` defaults lack it.
    EdDsa,
    /// RSA PKCS#1 v1.5 with SHA-256, 2048-bit keys: for verifiers that only know RSA.
    Rs256,
}

impl Algorithm {
    /// Every algorithm, for tests and docs.
    pub const ALL: [Self; 3] = [Self::Es256, Self::EdDsa, Self::Rs256];

    /// The JOSE name (`alg`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
            Self::Rs256 => "RS256",
        }
    }

    /// jsonwebtoken's name for it, for the header.
    pub(super) fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::Es256 => jsonwebtoken::Algorithm::ES256,
            Self::EdDsa => jsonwebtoken::Algorithm::EdDSA,
            Self::Rs256 => jsonwebtoken::Algorithm::RS256,
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Algorithm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("unknown algorithm {s:?}: use ES256, EdDSA or RS256"))
    }
}

/// RSA modulus size for new RS256 keys.
const RSA_BITS: usize = 2048;

enum Pair {
    Ed25519(Box<ed25519_dalek::SigningKey>),
    Es256(rs::EcdsaKeyPair),
    Rs256(rs::RsaKeyPair),
}

/// A parsed key pair. Its `Debug` shows only the algorithm and thumbprint.
pub struct KeyMaterial {
    pair: Pair,
    /// The public key as the verifier takes it: raw 32 bytes (Ed25519), the SEC1 uncompressed
    /// point (P-256), the PKCS#1 `RSAPublicKey` DER (RSA).
    public: Vec<u8>,
    /// What the store keeps as `public_key`, which must fit MySQL's `VARBINARY(64)` (the
    /// schema is not ours to change): raw 32 bytes (Ed25519, as before), the SEC1 compressed
    /// point (P-256, 33 bytes), SHA-256 of the PKCS#1 DER (RSA: 270 bytes do not fit). It is
    /// checked against the key derived from the sealed private key on every load.
    stored: Vec<u8>,
    /// The JWK's key members (`kty`, `crv`, `x`, `y`, `n`, `e`).
    members: serde_json::Map<String, serde_json::Value>,
    thumbprint: String,
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("alg", &self.algorithm())
            .field("thumbprint", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

/// The key could not be generated or parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadKey;

impl KeyMaterial {
    /// A new key pair and its PKCS#8 DER (to be sealed).
    pub fn generate(alg: Algorithm) -> Result<(Self, Zeroizing<Vec<u8>>), BadKey> {
        let der: Zeroizing<Vec<u8>> = match alg {
            Algorithm::EdDsa => {
                let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
                Zeroizing::new(key.to_pkcs8_der().map_err(|_| BadKey)?.as_bytes().to_vec())
            }
            Algorithm::Es256 => {
                let doc = rs::EcdsaKeyPair::generate_pkcs8(
                    &rs::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &SystemRandom::new(),
                )
                .map_err(|_| BadKey)?;
                Zeroizing::new(doc.as_ref().to_vec())
            }
            Algorithm::Rs256 => {
                use rsa::pkcs8::EncodePrivateKey as _;
                let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, RSA_BITS)
                    .map_err(|_| BadKey)?;
                Zeroizing::new(key.to_pkcs8_der().map_err(|_| BadKey)?.as_bytes().to_vec())
            }
        };
        let key = Self::from_pkcs8(&der)?;
        Ok((key, der))
    }

    /// Parses a PKCS#8 document; its algorithm OID decides the algorithm.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, BadKey> {
        if let Ok(key) = ed25519_dalek::SigningKey::from_pkcs8_der(der) {
            let public = key.verifying_key().to_bytes().to_vec();
            let members = members(&[
                ("kty", "OKP"),
                ("crv", "Ed25519"),
                ("x", &URL_SAFE_NO_PAD.encode(&public)),
            ]);
            return Ok(Self::new(Pair::Ed25519(Box::new(key)), public, members));
        }
        let rng = SystemRandom::new();
        if let Ok(pair) =
            rs::EcdsaKeyPair::from_pkcs8(&rs::ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
        {
            let public = pair.public_key().as_ref().to_vec();
            // SEC1 uncompressed: 0x04 || x (32) || y (32).
            let (x, y) = match public.as_slice() {
                [0x04, rest @ ..] if rest.len() == 64 => rest.split_at(32),
                _ => return Err(BadKey),
            };
            let members = members(&[
                ("kty", "EC"),
                ("crv", "P-256"),
                ("x", &URL_SAFE_NO_PAD.encode(x)),
                ("y", &URL_SAFE_NO_PAD.encode(y)),
            ]);
            return Ok(Self::new(Pair::Es256(pair), public, members));
        }
        if let Ok(pair) = rs::RsaKeyPair::from_pkcs8(der) {
            let public = pair.public().as_ref().to_vec();
            let parts = rs::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
            let members = members(&[
                ("kty", "RSA"),
                ("n", &URL_SAFE_NO_PAD.encode(&parts.n)),
                ("e", &URL_SAFE_NO_PAD.encode(&parts.e)),
            ]);
            return Ok(Self::new(Pair::Rs256(pair), public, members));
        }
        Err(BadKey)
    }

    fn new(
        pair: Pair,
        public: Vec<u8>,
        members: serde_json::Map<String, serde_json::Value>,
    ) -> Self {
        let thumbprint = thumbprint(&members);
        let stored = match (&pair, public.as_slice()) {
            (Pair::Es256(_), [0x04, x @ .., y_last]) => {
                let mut point = vec![0x02 | (y_last & 1)];
                point.extend(x.iter().take(32)); // x: 32 bytes (the length was checked above)
                point
            }
            (Pair::Rs256(_), der) => Sha256::digest(der).to_vec(),
            (_, raw) => raw.to_vec(),
        };
        Self {
            pair,
            public,
            stored,
            members,
            thumbprint,
        }
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        match self.pair {
            Pair::Ed25519(_) => Algorithm::EdDsa,
            Pair::Es256(_) => Algorithm::Es256,
            Pair::Rs256(_) => Algorithm::Rs256,
        }
    }

    /// The public key as the store keeps it (see the field `stored`).
    pub fn public_key(&self) -> &[u8] {
        &self.stored
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url): the kid of new keys.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// The public JWK, with `use`, `alg` and `kid`.
    pub fn jwk(&self, kid: &str) -> serde_json::Value {
        let mut jwk = self.members.clone();
        jwk.insert("use".into(), "sig".into());
        jwk.insert("alg".into(), self.algorithm().as_str().into());
        jwk.insert("kid".into(), kid.into());
        serde_json::Value::Object(jwk)
    }

    /// The JWS signature of `message` (for ES256, the 64-byte `r || s` JOSE wants).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, BadKey> {
        match &self.pair {
            Pair::Ed25519(key) => Ok(key.sign(message).to_bytes().to_vec()),
            Pair::Es256(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| BadKey),
            Pair::Rs256(pair) => {
                let mut sig = vec![0; pair.public().modulus_len()];
                pair.sign(
                    &rs::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut sig,
                )
                .map_err(|_| BadKey)?;
                Ok(sig)
            }
        }
    }

    /// Whether `signature` is this key's signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.pair {
            Pair::Ed25519(key) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verifying_key().verify(message, &sig).is_ok()),
            Pair::Es256(_) => {
                rs::UnparsedPublicKey::new(&rs::ECDSA_P256_SHA256_FIXED, &self.public)
                    .verify(message, signature)
                    .is_ok()
            }
            Pair::Rs256(_) => {
                rs::UnparsedPublicKey::new(&rs::RSA_PKCS1_2048_8192_SHA256, &self.public)
                    .verify(message, signature)
                    .is_ok()
            }
        }
    }
}

fn members(pairs: &[(&str, &str)]) -> serde_json::Map<String, serde_json::Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
        .collect()
}

/// RFC 7638 §3: the required members only, in lexicographic order, no whitespace, hashed with
/// SHA-256. serde_json's map (without `preserve_order`) is a BTreeMap, so it serialises in
/// that order; the members are plain ASCII strings, which it writes without escapes.
fn thumbprint(members: &serde_json::Map<String, serde_json::Value>) -> String {
    let canonical = serde_json::to_vec(members).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thumbprint_is_rfc_7638s_own_example() {
        // RFC 7638 §3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let rsa = members(&[("kty", "RSA"), ("n", n), ("e", "AQAB")]);
        assert_eq!(
            thumbprint(&rsa),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        // RFC 8037 Appendix A.3 (Ed25519).
        let okp = members(&[
            ("kty", "OKP"),
            ("crv", "Ed25519"),
            ("x", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
        ]);
        assert_eq!(
            thumbprint(&okp),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn each_algorithm_round_trips_through_pkcs8_and_is_recognised_from_it() {
        for alg in Algorithm::ALL {
            let (key, der) = KeyMaterial::generate(alg).unwrap();
            let again = KeyMaterial::from_pkcs8(&der).unwrap();
            assert_eq!(again.algorithm(), alg);
            assert_eq!(again.public_key(), key.public_key());
            // MySQL's signing_keys.public_key is VARBINARY(64).
            assert!(key.public_key().len() <= 64, "{alg}");
            assert_eq!(again.thumbprint(), key.thumbprint());
            let sig = key.sign(b"message").unwrap();
            assert!(again.verify(b"message", &sig), "{alg}");
            assert!(!again.verify(b"messagf", &sig), "{alg}");
            assert!(!again.verify(b"message", &sig[1..]), "{alg}");
            let jwk = key.jwk(key.thumbprint());
            assert_eq!(jwk["alg"], alg.as_str());
            assert_eq!(jwk["use"], "sig");
            assert!(!format!("{key:?}").contains(&URL_SAFE_NO_PAD.encode(&der[..])));
        }
        assert_eq!(KeyMaterial::from_pkcs8(b"not a key").unwrap_err(), BadKey);
    }
}
