//! Each user's current session_key in one app, and the login-state signature over it.
//!
//! One key per (appid, openid). Exchanging a login code replaces it (the previous key dies),
//! unless the stable mode keeps a live key; `resetusersessionkey` replaces it but keeps its
//! expiry (`docs/wechat.md` §6.4).

use std::collections::HashMap;

use hmac::{Hmac, Mac};
use sha2::Sha256;

struct Slot {
    key: String,
    expires_at_ms: Option<i64>,
}

impl Slot {
    fn alive(&self, now_ms: i64) -> bool {
        self.expires_at_ms.is_none_or(|at| now_ms < at)
    }
}

/// The current session_keys of one app's users, by openid.
#[derive(Default)]
pub(crate) struct SessionKeys {
    by_openid: HashMap<String, Slot>,
}

impl SessionKeys {
    /// What a code exchange does to the user's key: returns the key to hand out. `fresh` is
    /// drawn by the caller, outside the lock; in stable mode it is dropped if the old key lives.
    pub(crate) fn exchange(
        &mut self,
        openid: &str,
        fresh: String,
        now_ms: i64,
        lifetime_ms: Option<i64>,
        stable: bool,
    ) -> String {
        if stable && let Some(slot) = self.by_openid.get(openid).filter(|s| s.alive(now_ms)) {
            return slot.key.clone();
        }
        let slot = Slot {
            key: fresh.clone(),
            expires_at_ms: lifetime_ms.map(|l| now_ms.saturating_add(l)),
        };
        // Returning users are the common case: replace in place, no key allocation.
        match self.by_openid.get_mut(openid) {
            Some(existing) => *existing = slot,
            None => {
                self.by_openid.insert(openid.to_owned(), slot);
            }
        }
        fresh
    }

    /// The user's live key, if any.
    pub(crate) fn current(&self, openid: &str, now_ms: i64) -> Option<&str> {
        self.by_openid
            .get(openid)
            .filter(|s| s.alive(now_ms))
            .map(|s| s.key.as_str())
    }

    /// Replaces a live key with `fresh`, keeping its expiry. `None` if the user has no live key.
    pub(crate) fn reset(&mut self, openid: &str, fresh: String, now_ms: i64) -> Option<String> {
        let slot = self.by_openid.get_mut(openid).filter(|s| s.alive(now_ms))?;
        slot.key = fresh.clone();
        Some(fresh)
    }
}

/// The login-state signature (`docs/wechat.md` §6.2): lowercase hex HMAC-SHA256 of the empty
/// message, keyed by the ASCII bytes of the base64 session_key (not its decoded bytes).
pub(crate) fn login_signature(session_key: &str) -> String {
    let Ok(mac) = Hmac::<Sha256>::new_from_slice(session_key.as_bytes()) else {
        unreachable!("HMAC accepts keys of any length")
    };
    hex::encode(mac.finalize().into_bytes())
}

/// Whether a presented signature is the one for this key; hex case does not matter.
pub(crate) fn signature_matches(session_key: &str, presented: &str) -> bool {
    login_signature(session_key).eq_ignore_ascii_case(presented)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_documented_vectors() {
        assert_eq!(
            login_signature("o0q0otL8aEzpcZL/FT9WsQ=="),
            "46e043c5525c2d817c44be603d30837a808a1d930d038f6fdc3e62a201fed128"
        );
        assert_eq!(
            login_signature("tiihtNczf5v6AKRyjwEUhQ=="),
            "7154f9f8b4b76b92f541cbf0e37d48840fa06e5e42da92a6f80168a1516a4735"
        );
    }

    #[test]
    fn the_official_example_with_a_body_reproduces_with_the_ascii_key() {
        // The general login-state page's worked example: same key convention, non-empty body.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"o0q0otL8aEzpcZL/FT9WsQ==").unwrap();
        mac.update(br#"{"foo":"bar"}"#);
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "654571f79995b2ce1e149e53c0a33dc39c0a74090db514261454e8dbe432aa0b"
        );
    }

    #[test]
    fn uppercase_signatures_match_and_decoded_key_signatures_do_not() {
        let key = "tiihtNczf5v6AKRyjwEUhQ==";
        let upper = "7154F9F8B4B76B92F541CBF0E37D48840FA06E5E42DA92A6F80168A1516A4735";
        assert!(signature_matches(key, upper));
        let decoded_key_variant =
            "96502defeaf026b55cdc22f97e6c092b0959a2f92c5ec30c571353bb88391bf0";
        assert!(!signature_matches(key, decoded_key_variant));
    }

    #[test]
    fn each_exchange_rotates_the_key_unless_stable() {
        let mut keys = SessionKeys::default();
        assert_eq!(keys.exchange("o1", "k1".into(), 0, None, false), "k1");
        assert_eq!(keys.exchange("o1", "k2".into(), 1, None, false), "k2");
        assert_eq!(keys.current("o1", 2), Some("k2"));
        assert_eq!(keys.exchange("o1", "k3".into(), 3, None, true), "k2");
    }

    #[test]
    fn a_stable_key_is_replaced_once_it_expires() {
        let mut keys = SessionKeys::default();
        keys.exchange("o1", "k1".into(), 0, Some(100), true);
        assert_eq!(keys.current("o1", 99), Some("k1"));
        assert_eq!(keys.current("o1", 100), None);
        assert_eq!(keys.exchange("o1", "k2".into(), 100, Some(100), true), "k2");
    }

    #[test]
    fn a_reset_replaces_the_key_but_keeps_its_expiry() {
        let mut keys = SessionKeys::default();
        keys.exchange("o1", "k1".into(), 0, Some(100), false);
        assert_eq!(keys.reset("o1", "k2".into(), 50), Some("k2".into()));
        assert_eq!(keys.current("o1", 99), Some("k2"));
        assert_eq!(keys.current("o1", 100), None);
        assert_eq!(keys.reset("o1", "k3".into(), 100), None);
        assert_eq!(keys.reset("nobody", "k4".into(), 0), None);
    }
}
