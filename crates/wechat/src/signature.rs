//! The login-state signature (`docs/wechat.md` §6.2).
//!
//! `signature = lowercase_hex(HMAC-SHA256(key = the ASCII bytes of the base64 session_key
//! string, message))`. The key is the 24-character text, not its 16 decoded bytes: only that
//! reading reproduces WeChat's worked example. For `checksession` the message is `""`.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use wxlogin_core::secret::SessionKey;

/// `sig_method` value that goes with [`login_state_signature`]; the only one WeChat supports.
pub const SIG_METHOD: &str = "hmac_sha256";

/// Lowercase hex HMAC-SHA256 of `message`, keyed by the session_key *string*.
///
/// The result proves possession of the session_key, so treat it as a secret too.
pub fn login_state_signature(session_key: &SessionKey, message: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(session_key.expose_secret().as_bytes()) else {
        unreachable!("HMAC accepts keys of any length")
    };
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(key: &str, message: &str) -> String {
        login_state_signature(&SessionKey::new(key), message.as_bytes())
    }

    #[test]
    fn the_official_worked_example_reproduces_with_the_ascii_key() {
        assert_eq!(
            sign("o0q0otL8aEzpcZL/FT9WsQ==", r#"{"foo":"bar"}"#),
            "654571f79995b2ce1e149e53c0a33dc39c0a74090db514261454e8dbe432aa0b"
        );
    }

    #[test]
    fn the_empty_message_vectors_match_section_6_2() {
        assert_eq!(
            sign("o0q0otL8aEzpcZL/FT9WsQ==", ""),
            "46e043c5525c2d817c44be603d30837a808a1d930d038f6fdc3e62a201fed128"
        );
        assert_eq!(
            sign("tiihtNczf5v6AKRyjwEUhQ==", ""),
            "7154f9f8b4b76b92f541cbf0e37d48840fa06e5e42da92a6f80168a1516a4735"
        );
    }

    #[test]
    fn the_decoded_bytes_reading_is_not_what_we_compute() {
        assert_ne!(
            sign("tiihtNczf5v6AKRyjwEUhQ==", ""),
            "96502defeaf026b55cdc22f97e6c092b0959a2f92c5ec30c571353bb88391bf0"
        );
        assert_ne!(
            sign("o0q0otL8aEzpcZL/FT9WsQ==", r#"{"foo":"bar"}"#),
            "bfa6883695fed51bb7e5897ce895842574a58f8a9cc5c4343f47c515ab337b89"
        );
    }

    #[test]
    fn the_signature_is_lowercase_hex_of_32_bytes() {
        let signature = sign("tiihtNczf5v6AKRyjwEUhQ==", "");
        assert_eq!(signature.len(), 64);
        assert!(
            signature
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
    }
}
