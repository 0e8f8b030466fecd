//! `Payload::parse`, the base64 front door of legacy decryption: `encrypted_data` and `iv`
//! exactly as a client sent them. The input is `encrypted_data`, a newline, then `iv`.
//!
//! Oracle: the documented check order (iv base64, iv length, data base64, data length) over
//! a strict standard-alphabet, padded base64 decoder; nothing lenient is ever accepted.

#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use wxlogin_core::wxcrypt::{DecryptError, Payload};

fn strict(s: &str) -> Result<Vec<u8>, DecryptError> {
    let decoded = STANDARD
        .decode(s)
        .map_err(|_| DecryptError::MalformedBase64)?;
    assert!(
        s.len() % 4 == 0
            && s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='),
        "a lenient base64 form was decoded"
    );
    Ok(decoded)
}

fn expected(data: &str, iv: &str) -> Result<(), DecryptError> {
    if strict(iv)?.len() != 16 {
        return Err(DecryptError::BadIvLength);
    }
    let ciphertext = strict(data)?;
    if ciphertext.is_empty() || ciphertext.len() % 16 != 0 {
        return Err(DecryptError::BadCiphertextLength);
    }
    Ok(())
}

fuzz_target!(|input: &[u8]| {
    let text = String::from_utf8_lossy(input);
    let (data, iv) = text.split_once('\n').unwrap_or((&text, ""));
    let got = Payload::parse(data, iv);
    let want = expected(data, iv);
    assert_eq!(got.as_ref().map(|_| ()).map_err(|e| *e), want);
    if let Err(e) = got {
        assert!(e.is_malformed_input(), "{e:?} is not a malformed-input error");
    }
});
