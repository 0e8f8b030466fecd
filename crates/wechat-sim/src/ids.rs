//! Deterministic openids and unionids for simulated users.
//!
//! An id is a keyed hash of (what it is scoped to, user name), shaped like WeChat's:
//! 28 characters, `o` then 27 of the base64url alphabet. The key is fixed unless a seed is
//! configured, so the same appid and user give the same openid in every process.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The key the ids are hashed with.
pub(crate) struct IdentityKey([u8; 32]);

impl IdentityKey {
    pub(crate) fn new(seed: Option<u64>) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"wxlogin-wechat-sim identities v1");
        if let Some(seed) = seed {
            hasher.update(seed.to_be_bytes());
        }
        Self(hasher.finalize().into())
    }

    /// The user's openid in this Mini Program.
    pub(crate) fn openid(&self, appid: &str, user: &str) -> String {
        self.derive(b"openid", appid, user)
    }

    /// The user's unionid under this Open Platform account.
    pub(crate) fn unionid(&self, account: &str, user: &str) -> String {
        self.derive(b"unionid", account, user)
    }

    fn derive(&self, kind: &[u8], scope: &str, user: &str) -> String {
        let digest = hmac_sha256(&self.0, &[kind, scope.as_bytes(), user.as_bytes()]);
        let encoded = URL_SAFE_NO_PAD.encode(&digest[..21]);
        let mut id = String::with_capacity(28);
        id.push('o');
        id.push_str(&encoded[..27]);
        id
    }
}

/// HMAC-SHA256 over length-prefixed parts, so ("ab","c") and ("a","bc") differ.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        unreachable!("HMAC accepts keys of any length")
    };
    for part in parts {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openids_are_deterministic_and_shaped_like_wechats() {
        let a = IdentityKey::new(None).openid("wx1", "alice");
        let b = IdentityKey::new(None).openid("wx1", "alice");
        assert_eq!(a, b);
        assert_eq!(a.len(), 28);
        assert!(a.starts_with('o'));
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }

    #[test]
    fn openids_differ_by_app_by_user_and_by_seed() {
        let key = IdentityKey::new(None);
        let alice = key.openid("wx1", "alice");
        assert_ne!(alice, key.openid("wx2", "alice"));
        assert_ne!(alice, key.openid("wx1", "bob"));
        assert_ne!(alice, IdentityKey::new(Some(7)).openid("wx1", "alice"));
        // Length prefixes keep the parts apart.
        assert_ne!(key.openid("wx1a", "b"), key.openid("wx1", "ab"));
    }

    #[test]
    fn a_unionid_is_not_the_openid_of_an_app_named_like_the_account() {
        let key = IdentityKey::new(None);
        assert_ne!(key.unionid("acct", "alice"), key.openid("acct", "alice"));
    }
}
