//! Secrets at rest and opaque handles.
//!
//! * [`MasterKey`]: the operator's 32-byte key; every other key is derived from it (HKDF-SHA256
//!   with a distinct label), so one secret backs up all encrypted columns.
//! * [`Sealer`]: AES-256-GCM for session_keys, phone numbers, signing keys and cached outcomes.
//! * [`Handle`]: opaque random strings (sessions, refresh tokens, tickets), stored only as
//!   their SHA-256 ([`HandleHash`]). They carry 256 random bits, so a plain hash is enough:
//!   there is nothing to brute-force, and the lookup stays one index probe.
//! * [`PhoneIndex`]: a keyed hash (HMAC-SHA256) of an E.164 number, so phones can be looked up
//!   without storing them in clear, and a stolen database cannot be reversed with a phone list.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The master key could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the master key must be standard base64 of exactly 32 bytes")]
pub struct InvalidMasterKey;

/// Decryption of a sealed value failed: wrong master key, or tampered data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sealed value could not be opened (wrong master key or corrupted data)")]
pub struct OpenError;

/// 32 secret bytes from the operator. Never printed.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    /// Parses standard base64 of exactly 32 bytes; surrounding whitespace is ignored.
    pub fn from_base64(text: &str) -> Result<Self, InvalidMasterKey> {
        let bytes = Zeroizing::new(STANDARD.decode(text.trim()).map_err(|_| InvalidMasterKey)?);
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| InvalidMasterKey)?;
        Ok(Self(Zeroizing::new(key)))
    }

    /// A fresh random key (dev mode writes it to the data directory).
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self(Zeroizing::new(key))
    }

    /// Whether the key looks made by hand rather than drawn at random: fewer than 12
    /// distinct byte values among the 32 (all zeros, a repeated pattern, a short ASCII
    /// phrase padded out). 32 random bytes have about 30 distinct values; fewer than 12
    /// happens with odds far below 2^-60.
    pub fn is_low_entropy(&self) -> bool {
        let mut seen = [false; 256];
        for &b in self.0.iter() {
            seen[usize::from(b)] = true;
        }
        seen.iter().filter(|&&s| s).count() < 12
    }

    /// Standard base64, for writing a generated key to a file.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(*self.0)
    }

    fn derive(&self, label: &str) -> Zeroizing<[u8; 32]> {
        let hk = hkdf::Hkdf::<Sha256>::new(Some(b"wxlogin"), self.0.as_slice());
        let mut out = Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF's 255-block limit: expand cannot fail.
        if hk.expand(label.as_bytes(), out.as_mut_slice()).is_err() {
            unreachable!("hkdf expand of 32 bytes");
        }
        out
    }

    /// The sealer for values at rest.
    pub fn sealer(&self) -> Sealer {
        let key = self.derive("wxlogin/v1/seal");
        Sealer {
            cipher: Aes256Gcm::new(key.as_slice().into()),
        }
    }

    /// The keyed hash for phone lookups.
    pub fn phone_index(&self) -> PhoneIndex {
        PhoneIndex {
            key: self.derive("wxlogin/v1/phone-index"),
        }
    }
}

/// AES-256-GCM with a random 96-bit nonce per value; output is `nonce || ciphertext+tag`.
///
/// Every sealed value is bound to a context string (the column it lives in, and the row's key
/// where one exists) as associated data, so a value copied into another row or column no
/// longer opens.
#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

impl Sealer {
    /// Encrypts `plaintext` bound to `context`.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext,
            aad: context.as_bytes(),
        };
        // AES-GCM encryption only fails for inputs beyond 64 GiB.
        let ct = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut out = Vec::with_capacity(12 + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Decrypts a value sealed with the same master key and context.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        if sealed.len() < 12 + 16 {
            return Err(OpenError);
        }
        let (nonce, ct) = sealed.split_at(12);
        let payload = Payload {
            msg: ct,
            aad: context.as_bytes(),
        };
        self.cipher
            .decrypt(Nonce::from_slice(nonce), payload)
            .map(Zeroizing::new)
            .map_err(|_| OpenError)
    }

    /// [`Sealer::open`] for UTF-8 text.
    pub fn open_string(
        &self,
        context: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<String>, OpenError> {
        let bytes = self.open(context, sealed)?;
        String::from_utf8(bytes.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| OpenError)
    }
}

/// The keyed hash of a phone number.
#[derive(Clone)]
pub struct PhoneIndex {
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for PhoneIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PhoneIndex([redacted])")
    }
}

impl PhoneIndex {
    /// HMAC-SHA256 of the E.164 text.
    pub fn hash(&self, e164: &str) -> [u8; 32] {
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(self.key.as_slice()) else {
            unreachable!("HMAC accepts any key length");
        };
        mac.update(e164.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// An opaque bearer handle as handed to a client: a prefix and 256 random bits, base64url.
pub struct Handle(String);

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Handle([redacted])")
    }
}

impl Handle {
    /// A fresh handle. The prefix says what it is (`wxs_` session, `wxr_` refresh token,
    /// `wxt_` ticket), which helps secret scanners and humans, and costs nothing.
    pub fn generate(prefix: &str) -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The text for the client. Exposes the secret.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Gives up the text for the client. Exposes the secret.
    pub fn into_secret(self) -> String {
        self.0
    }

    /// What the store keeps.
    pub fn hash(&self) -> HandleHash {
        HandleHash::of(&self.0)
    }
}

/// SHA-256 of a handle, the only form in which handles are stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct HandleHash(pub [u8; 32]);

impl std::fmt::Debug for HandleHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Safe to print: a hash of 256 random bits reveals nothing. Short, for log lines.
        write!(f, "HandleHash({})", hex::encode(&self.0[..6]))
    }
}

impl HandleHash {
    /// Hashes a handle as presented by a client (any string; unknown ones just find nothing).
    pub fn of(presented: &str) -> Self {
        Self(Sha256::digest(presented.as_bytes()).into())
    }
}

/// SHA-256 of anything, for cache keys (codes are never kept in clear, even in memory).
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_in_their_own_context() {
        let sealer = MasterKey::generate().sealer();
        let sealed = sealer.seal("session_key:wx1:o1", b"tiihtNczf5v6AKRyjwEUhQ==");
        assert_eq!(
            sealer
                .open("session_key:wx1:o1", &sealed)
                .unwrap()
                .as_slice(),
            b"tiihtNczf5v6AKRyjwEUhQ=="
        );
        assert_eq!(sealer.open("session_key:wx1:o2", &sealed), Err(OpenError));
        assert_eq!(
            MasterKey::generate()
                .sealer()
                .open("session_key:wx1:o1", &sealed),
            Err(OpenError)
        );
        assert_eq!(sealer.open("x", &sealed[..20]), Err(OpenError));
    }

    #[test]
    fn a_master_key_needs_exactly_32_bytes_of_base64_and_ignores_surrounding_whitespace() {
        let key = MasterKey::generate();
        let text = format!("  {}\n", key.to_base64());
        assert!(MasterKey::from_base64(&text).is_ok());
        assert_eq!(
            MasterKey::from_base64("c2hvcnQ=").unwrap_err(),
            InvalidMasterKey
        );
        assert_eq!(
            MasterKey::from_base64("not base64!").unwrap_err(),
            InvalidMasterKey
        );
        assert!(!format!("{key:?}").contains(&key.to_base64()));
    }

    #[test]
    fn phone_hashes_depend_on_the_master_key() {
        let a = MasterKey::generate().phone_index();
        let b = MasterKey::generate().phone_index();
        assert_eq!(a.hash("+8613800138000"), a.hash("+8613800138000"));
        assert_ne!(a.hash("+8613800138000"), b.hash("+8613800138000"));
    }

    #[test]
    fn handles_are_long_random_and_stored_as_hashes() {
        let h = Handle::generate("wxs_");
        assert!(h.expose_secret().starts_with("wxs_"));
        assert_eq!(h.expose_secret().len(), 4 + 43);
        assert_ne!(h.expose_secret(), Handle::generate("wxs_").expose_secret());
        assert_eq!(h.hash(), HandleHash::of(h.expose_secret()));
        assert!(!format!("{h:?}").contains(h.expose_secret()));
    }
}
