//! Legacy encrypted data (WXBizDataCrypt): AES-128-CBC, PKCS#7, base64, watermark check.
//!
//! Strict where WeChat's own demos are lax: the key and iv must decode to exactly 16 bytes (a
//! length-agnostic AES would happily run AES-192 on a 24-byte key), the ciphertext must be a
//! non-zero multiple of 16, every pad byte is checked, and the watermark must name our appid.
//! The input checks run in a fixed order, so each malformed input has one well-defined kind.
//! Nothing here panics on any input (a property test feeds it noise).
//!
//! **No padding oracle.** AES-CBC has no integrity: an attacker who can tell "bad padding"
//! from "good padding, bad content" forges any plaintext under their own session_key
//! (CBC-R), including a phone number that is not theirs. So once the lengths are right, every
//! failure of the plaintext — padding, UTF-8, JSON — is the one kind
//! [`DecryptError::Undecryptable`], and the work done does not depend on which check failed:
//! the padding is checked in constant time and the JSON parse runs whatever the padding said.

use aes::cipher::{BlockDecryptMut, KeyIvInit, block_padding::NoPadding};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;

/// Why a decryption failed, in the order the checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    /// One of the three inputs is not strict standard base64.
    #[error("malformed base64")]
    MalformedBase64,
    /// The session_key does not decode to 16 bytes (our own stored value is wrong).
    #[error("session_key is not 16 bytes")]
    BadKeyLength,
    /// The iv does not decode to 16 bytes.
    #[error("iv is not 16 bytes")]
    BadIvLength,
    /// The ciphertext is empty or not a multiple of 16 bytes.
    #[error("ciphertext length is not a non-zero multiple of 16")]
    BadCiphertextLength,
    /// The plaintext does not end in strict PKCS#7 padding or is not a UTF-8 JSON object:
    /// nearly always a wrong (rotated) key or a wrong iv. Deliberately one kind (see the
    /// module docs): padding and content failures must look the same to every observer.
    #[error("the data does not decrypt")]
    Undecryptable,
    /// `watermark.appid` is missing or is another app's.
    #[error("watermark appid mismatch")]
    AppidMismatch,
}

impl DecryptError {
    /// A stable label for metrics and logs.
    pub fn reason(self) -> &'static str {
        match self {
            Self::MalformedBase64 => "malformed_base64",
            Self::BadKeyLength => "bad_key_length",
            Self::BadIvLength => "bad_iv_length",
            Self::BadCiphertextLength => "bad_ciphertext_length",
            Self::Undecryptable => "undecryptable",
            Self::AppidMismatch => "appid_mismatch",
        }
    }

    /// True when the input itself is broken, whatever key we try (base64, iv or data length).
    pub fn is_malformed_input(self) -> bool {
        matches!(
            self,
            Self::MalformedBase64 | Self::BadIvLength | Self::BadCiphertextLength
        )
    }

    /// True when the cause is most likely a session_key other than the one that encrypted it.
    pub fn is_wrong_key(self) -> bool {
        matches!(self, Self::Undecryptable)
    }
}

/// A successful decryption: the exact plaintext and its parsed JSON object.
#[derive(Clone)]
pub struct Decrypted {
    /// The unpadded plaintext, byte for byte.
    pub plaintext: String,
    /// The plaintext parsed as a JSON object.
    pub json: Map<String, Value>,
}

impl std::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Holds phone numbers and openids: never print the content.
        f.write_str("Decrypted([redacted])")
    }
}

impl Decrypted {
    /// `watermark.timestamp`, when present and an integer.
    pub fn watermark_timestamp(&self) -> Option<i64> {
        self.json.get("watermark")?.get("timestamp")?.as_i64()
    }
}

fn b64(input: &str) -> Result<Vec<u8>, DecryptError> {
    // The standard engine is strict: canonical padding, no whitespace, no URL alphabet.
    STANDARD
        .decode(input)
        .map_err(|_| DecryptError::MalformedBase64)
}

/// Inputs decoded and length-checked, ready to try against one or more keys.
pub struct Payload {
    iv: [u8; 16],
    ciphertext: Vec<u8>,
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payload")
            .field("ciphertext_len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

impl Payload {
    /// Decodes and checks `encrypted_data` and `iv` as a client sent them.
    ///
    /// Order: iv base64, iv length, data base64, data length (the key is checked per try).
    pub fn parse(encrypted_data: &str, iv: &str) -> Result<Self, DecryptError> {
        let iv = b64(iv)?;
        let iv: [u8; 16] = iv.try_into().map_err(|_| DecryptError::BadIvLength)?;
        let ciphertext = b64(encrypted_data)?;
        if ciphertext.is_empty() || ciphertext.len() % 16 != 0 {
            return Err(DecryptError::BadCiphertextLength);
        }
        Ok(Self { iv, ciphertext })
    }

    /// SHA-256 of the ciphertext bytes (the base64-decoded `encrypted_data`): what
    /// [`crate::wechat::WeChatApi::check_encrypted_msg`] asks WeChat about.
    pub fn ciphertext_sha256(&self) -> [u8; 32] {
        Sha256::digest(&self.ciphertext).into()
    }

    /// Decrypts with one session_key (base64 text) and checks the watermark against `appid`.
    pub fn decrypt_with(&self, session_key: &str, appid: &str) -> Result<Decrypted, DecryptError> {
        let key = b64(session_key)?;
        let key: [u8; 16] = key.try_into().map_err(|_| DecryptError::BadKeyLength)?;
        let mut buf = self.ciphertext.clone();
        // Lengths are checked above, so this cannot fail; map rather than unwrap anyway.
        let plain = Aes128CbcDec::new(&key.into(), &self.iv.into())
            .decrypt_padded_mut::<NoPadding>(&mut buf)
            .map_err(|_| DecryptError::BadCiphertextLength)?;
        let (padding_ok, len) = strip_pkcs7(plain);
        // Parse whatever the padding said (the whole buffer when it was bad), so that a bad
        // pad does not answer measurably sooner than a good pad with bad content.
        buf.truncate(len);
        let parsed = std::str::from_utf8(&buf)
            .ok()
            .and_then(|text| serde_json::from_str::<Value>(text).ok());
        let (true, Some(Value::Object(json))) = (padding_ok, parsed) else {
            return Err(DecryptError::Undecryptable);
        };
        let plaintext = String::from_utf8(buf).map_err(|_| DecryptError::Undecryptable)?;
        let watermark_appid = json
            .get("watermark")
            .and_then(|w| w.get("appid"))
            .and_then(Value::as_str);
        if watermark_appid != Some(appid) {
            return Err(DecryptError::AppidMismatch);
        }
        Ok(Decrypted { plaintext, json })
    }
}

/// Checks strict PKCS#7 (n in 1..=16, all n bytes equal to n) in constant time: the same
/// operations whatever the bytes, so the time taken says nothing about the padding. Returns
/// whether it holds and the unpadded length (the whole length when it does not).
fn strip_pkcs7(block_aligned: &[u8]) -> (bool, usize) {
    use subtle::{ConditionallySelectable, ConstantTimeEq, ConstantTimeGreater, ConstantTimeLess};
    let len = block_aligned.len();
    // Callers pass at least one whole block; anything shorter is simply not padded.
    let Some(last_block) = len.checked_sub(16).map(|start| &block_aligned[start..]) else {
        return (false, len);
    };
    let n = last_block[15];
    let mut ok = n.ct_gt(&0) & n.ct_lt(&17);
    for (i, &b) in last_block.iter().enumerate() {
        // Byte i of the last block is padding when it is among the last n bytes.
        let distance = u8::try_from(16 - i).unwrap_or(u8::MAX);
        let in_pad = !distance.ct_gt(&n);
        ok &= !in_pad | b.ct_eq(&n);
    }
    let unpadded = u64::conditional_select(
        &(len as u64),
        &(len.saturating_sub(usize::from(n)) as u64),
        ok,
    );
    (bool::from(ok), usize::try_from(unpadded).unwrap_or(len))
}

/// The whole pipeline for one key, in the documented check order:
/// key base64 → key length → iv base64 → iv length → data base64 → data length → AES →
/// strict PKCS#7 → UTF-8 JSON object → watermark appid.
pub fn decrypt(
    session_key: &str,
    encrypted_data: &str,
    iv: &str,
    appid: &str,
) -> Result<Decrypted, DecryptError> {
    let key = b64(session_key)?;
    if key.len() != 16 {
        return Err(DecryptError::BadKeyLength);
    }
    Payload::parse(encrypted_data, iv)?.decrypt_with(session_key, appid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_ciphertext_hash_is_sha256_of_the_decoded_bytes_not_of_the_base64_text() {
        let zeros = Payload::parse("AAAAAAAAAAAAAAAAAAAAAA==", "AAAAAAAAAAAAAAAAAAAAAA==").unwrap();

        assert_eq!(
            hex::encode(zeros.ciphertext_sha256()),
            "374708fff7719dd5979ec875d56cd2286f6d3cf7ec317a3b25632aab28ec37bb"
        );
    }

    #[derive(serde::Deserialize)]
    struct Vector {
        name: String,
        kind: String,
        appid: String,
        session_key: String,
        iv: String,
        encrypted_data: String,
        expected_plaintext: Option<String>,
        expected: Option<Value>,
        expected_error: Option<String>,
    }

    fn vectors_from(path: &std::path::Path) -> Vec<Vector> {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap()
    }

    /// The vectors name the failing check (`bad_padding`, `not_json`); we report both as one
    /// kind on purpose (no padding oracle, see the module docs).
    fn merged_reason(expected: &str) -> &str {
        match expected {
            "bad_padding" | "not_json" => "undecryptable",
            other => other,
        }
    }

    fn check_all(vectors: &[Vector]) {
        assert!(vectors.len() >= 10, "expected the full vector set");
        for v in vectors {
            let got = decrypt(&v.session_key, &v.encrypted_data, &v.iv, &v.appid);
            match v.kind.as_str() {
                "positive" => {
                    let d = got.unwrap_or_else(|e| panic!("{}: {e:?}", v.name));
                    assert_eq!(
                        Some(&d.plaintext),
                        v.expected_plaintext.as_ref(),
                        "{}",
                        v.name
                    );
                    assert_eq!(
                        Some(&Value::Object(d.json)),
                        v.expected.as_ref(),
                        "{}",
                        v.name
                    );
                }
                "negative" => {
                    let err = got.err().unwrap_or_else(|| panic!("{} decrypted", v.name));
                    assert_eq!(
                        Some(err.reason()),
                        v.expected_error.as_deref().map(merged_reason),
                        "{}",
                        v.name
                    );
                }
                other => panic!("unknown kind {other}"),
            }
        }
    }

    #[test]
    fn every_vector_in_the_repository_copy_behaves_as_specified() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/wx-vectors.json");
        check_all(&vectors_from(&path));
    }

    #[test]
    fn a_wrong_key_is_reported_as_a_wrong_key_not_as_bad_input() {
        assert!(DecryptError::Undecryptable.is_wrong_key());
        assert!(!DecryptError::AppidMismatch.is_wrong_key());
        assert!(DecryptError::BadIvLength.is_malformed_input());
    }

    #[test]
    fn ivs_of_impossible_lengths_are_malformed() {
        for len in [0usize, 15, 17, 1000] {
            let iv = STANDARD.encode(vec![7u8; len]);
            let err = Payload::parse(&STANDARD.encode([0u8; 32]), &iv).unwrap_err();
            assert_eq!(err, DecryptError::BadIvLength, "len {len}");
        }
    }

    #[test]
    fn ciphertexts_of_odd_lengths_are_malformed() {
        let iv = STANDARD.encode([1u8; 16]);
        for len in [0usize, 1, 15, 17, 31, 33] {
            let err = Payload::parse(&STANDARD.encode(vec![0u8; len]), &iv).unwrap_err();
            assert_eq!(err, DecryptError::BadCiphertextLength, "len {len}");
        }
    }

    /// The obvious, early-returning check the constant-time one must agree with.
    fn naive_pkcs7(block_aligned: &[u8]) -> Option<usize> {
        let n = usize::from(*block_aligned.last()?);
        if n == 0 || n > 16 || n > block_aligned.len() {
            return None;
        }
        let (body, pad) = block_aligned.split_at(block_aligned.len() - n);
        pad.iter()
            .all(|&b| usize::from(b) == n)
            .then_some(body.len())
    }

    #[test]
    fn the_constant_time_padding_check_agrees_with_the_obvious_one_on_every_pad() {
        for n in 0..=255u8 {
            for bad_at in [None, Some(0usize), Some(7), Some(15)] {
                let mut block = vec![0xAAu8; 32];
                let pad = usize::from(n).min(16);
                block[32 - pad..].fill(n);
                if let Some(i) = bad_at {
                    block[31 - i.min(31)] ^= 1;
                }
                let want = naive_pkcs7(&block);
                let (ok, len) = strip_pkcs7(&block);
                assert_eq!(ok.then_some(len), want, "n {n} bad_at {bad_at:?}");
                if !ok {
                    assert_eq!(len, block.len());
                }
            }
        }
    }

    proptest! {
        #[test]
        fn the_padding_check_agrees_with_the_obvious_one_on_noise(block in proptest::collection::vec(any::<u8>(), 16..64)) {
            let (ok, len) = strip_pkcs7(&block);
            prop_assert_eq!(ok.then_some(len), naive_pkcs7(&block));
        }

        #[test]
        fn arbitrary_strings_never_panic(key in ".{0,40}", data in ".{0,200}", iv in ".{0,40}", appid in ".{0,20}") {
            let _ = decrypt(&key, &data, &iv, &appid);
        }

        #[test]
        fn arbitrary_bytes_under_a_valid_key_never_panic_and_never_decrypt_to_another_app(
            key in proptest::array::uniform16(any::<u8>()),
            iv in proptest::array::uniform16(any::<u8>()),
            data in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            let res = decrypt(&STANDARD.encode(key), &STANDARD.encode(&data), &STANDARD.encode(iv), "wx-proptest");
            // Random bytes can't carry a watermark naming this appid (or only with negligible odds).
            prop_assert!(res.is_err());
        }

        #[test]
        fn lengths_alone_decide_the_error_for_impossible_inputs(
            key in proptest::array::uniform16(any::<u8>()),
            iv in proptest::collection::vec(any::<u8>(), 0..40),
            data in proptest::collection::vec(any::<u8>(), 0..100),
        ) {
            let res = decrypt(&STANDARD.encode(key), &STANDARD.encode(&data), &STANDARD.encode(&iv), "wx-proptest");
            let err = res.expect_err("random data decrypted");
            if iv.len() != 16 {
                prop_assert_eq!(err, DecryptError::BadIvLength);
            } else if data.is_empty() || data.len() % 16 != 0 {
                prop_assert_eq!(err, DecryptError::BadCiphertextLength);
            } else {
                // Possible lengths: only a wrong-key kind (or the appid) can fail.
                prop_assert!(err.is_wrong_key() || err == DecryptError::AppidMismatch, "{:?}", err);
            }
        }

        #[test]
        fn lenient_base64_forms_are_refused(
            iv in proptest::array::uniform16(any::<u8>()),
            blocks in 1usize..5,
            fill in any::<u8>(),
            which in 0usize..4,
            at in any::<usize>(),
        ) {
            let strict_data = STANDARD.encode(vec![fill; 16 * blocks]);
            let strict_iv = STANDARD.encode(iv);
            prop_assert!(Payload::parse(&strict_data, &strict_iv).is_ok());
            // One lenient form of the iv (which always carries "==" padding).
            let lenient = match which {
                0 => strict_iv.trim_end_matches('=').to_owned(),
                1 => strict_iv.replace('+', "-").replace('/', "_").replace('=', ""),
                2 => {
                    let mut s = strict_iv.clone();
                    s.insert(at % (s.len() + 1), ' ');
                    s
                }
                _ => format!("{strict_iv}\n"),
            };
            prop_assert_eq!(Payload::parse(&strict_data, &lenient).unwrap_err(), DecryptError::MalformedBase64);
            let mut spaced = strict_data.clone();
            spaced.insert(at % (spaced.len() + 1), '\n');
            prop_assert_eq!(Payload::parse(&spaced, &strict_iv).unwrap_err(), DecryptError::MalformedBase64);
        }

        #[test]
        fn whatever_was_encrypted_with_pkcs7_decrypts_to_itself_or_fails_on_its_content(
            key in proptest::array::uniform16(any::<u8>()),
            other_key in proptest::array::uniform16(any::<u8>()),
            iv in proptest::array::uniform16(any::<u8>()),
            plaintext in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..100),
                ".{0,40}".prop_map(|s| format!(r#"{{"phoneNumber":"{}","watermark":{{"appid":"wx-proptest","timestamp":1}}}}"#, s.replace(['"', '\\'], "")).into_bytes()),
            ],
        ) {
            use aes::cipher::{BlockEncryptMut, block_padding::Pkcs7};
            let ciphertext = cbc::Encryptor::<aes::Aes128>::new(&key.into(), &iv.into())
                .encrypt_padded_vec_mut::<Pkcs7>(&plaintext);
            let (data, iv) = (STANDARD.encode(&ciphertext), STANDARD.encode(iv));
            let json = std::str::from_utf8(&plaintext).ok().and_then(|s| serde_json::from_str::<Value>(s).ok());
            let names_us = json.as_ref().and_then(|j| j.get("watermark")?.get("appid")?.as_str()) == Some("wx-proptest");
            match decrypt(&STANDARD.encode(key), &data, &iv, "wx-proptest") {
                Ok(d) => {
                    prop_assert!(names_us);
                    prop_assert_eq!(d.plaintext.as_bytes(), &plaintext[..]);
                }
                Err(e) => {
                    prop_assert!(!names_us, "{:?}", e);
                    let want = if json.is_some_and(|j| j.is_object()) { DecryptError::AppidMismatch } else { DecryptError::Undecryptable };
                    prop_assert_eq!(e, want);
                }
            }
            if other_key != key {
                // Another key: strict padding and the JSON check refuse it (odds of a pass
                // are far below one in a billion).
                let err = decrypt(&STANDARD.encode(other_key), &data, &iv, "wx-proptest").unwrap_err();
                prop_assert!(err.is_wrong_key() || err == DecryptError::AppidMismatch, "{:?}", err);
            }
        }
    }
}
