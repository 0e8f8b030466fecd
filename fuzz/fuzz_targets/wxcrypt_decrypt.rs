//! The whole legacy decryptor, `wxlogin_core::wxcrypt::decrypt`, three ways (first byte):
//!
//! * 0, strings: `session_key`, `encrypted_data`, `iv`, `appid` as arbitrary text, separated
//!   by newlines. Never panics; a success names `appid` in its watermark and came from
//!   strictly decoded 16-byte key and iv and a block-aligned ciphertext.
//! * 1, lengths: a 16-byte key, an iv of any length (0-39 bytes, from the next byte) and a
//!   ciphertext of any length, all validly encoded. The error is exactly the one the lengths
//!   call for; with possible lengths only a wrong-key kind or the appid check can fail.
//! * 2, round trip: key, iv, appid and a plaintext; the plaintext is encrypted with PKCS#7 and
//!   must decrypt to itself, or fail exactly as its content calls for (not a JSON object, or
//!   no watermark naming the appid), never with a padding error.

#![no_main]

use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use wxlogin_core::wxcrypt::{DecryptError, Decrypted, decrypt};

type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;

const APPID: &str = "wx4f4bc4dec97d474b";

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

fn watermark_appid(json: &serde_json::Map<String, Value>) -> Option<&str> {
    json.get("watermark")?.get("appid")?.as_str()
}

fn check_success(d: &Decrypted, appid: &str) {
    assert_eq!(watermark_appid(&d.json), Some(appid));
    let reparsed: Value = serde_json::from_str(&d.plaintext).expect("plaintext is JSON");
    assert_eq!(reparsed, Value::Object(d.json.clone()));
}

fn strings(rest: &[u8]) {
    let text = String::from_utf8_lossy(rest);
    let mut fields = text.splitn(4, '\n');
    let mut next = || fields.next().unwrap_or("");
    let (key, data, iv, appid) = (next(), next(), next(), next());
    if let Ok(d) = decrypt(key, data, iv, appid) {
        check_success(&d, appid);
        let len = |s: &str| STANDARD.decode(s).map(|v| v.len()).ok();
        assert_eq!(len(key), Some(16));
        assert_eq!(len(iv), Some(16));
        assert!(len(data).is_some_and(|n| n > 0 && n % 16 == 0));
    }
}

fn lengths(rest: &[u8]) {
    let Some((&iv_len, rest)) = rest.split_first() else {
        return;
    };
    let iv_len = usize::from(iv_len) % 40;
    if rest.len() < 16 + iv_len {
        return;
    }
    let (key, rest) = rest.split_at(16);
    let (iv, data) = rest.split_at(iv_len);
    let got = decrypt(&b64(key), &b64(data), &b64(iv), APPID);
    let early = if iv_len != 16 {
        Some(DecryptError::BadIvLength)
    } else if data.is_empty() || data.len() % 16 != 0 {
        Some(DecryptError::BadCiphertextLength)
    } else {
        None
    };
    match (got, early) {
        (Err(e), Some(want)) => assert_eq!(e, want),
        (Ok(_), Some(want)) => panic!("decrypted where {want:?} was due"),
        (Err(e), None) => assert!(
            e.is_wrong_key() || e == DecryptError::AppidMismatch,
            "{e:?} for valid lengths"
        ),
        (Ok(d), None) => check_success(&d, APPID),
    }
}

fn round_trip(rest: &[u8]) {
    if rest.len() < 33 {
        return;
    }
    let (key, rest) = rest.split_at(16);
    let (iv, rest) = rest.split_at(16);
    let (&appid_len, rest) = rest.split_first().expect("checked length");
    let (appid, plaintext) = rest.split_at(usize::from(appid_len).min(rest.len()));
    let appid = String::from_utf8_lossy(appid);
    let key: [u8; 16] = key.try_into().expect("16 bytes");
    let iv: [u8; 16] = iv.try_into().expect("16 bytes");
    let ciphertext =
        Aes128CbcEnc::new(&key.into(), &iv.into()).encrypt_padded_vec_mut::<Pkcs7>(plaintext);
    let got = decrypt(&b64(&key), &b64(&ciphertext), &b64(&iv), &appid);
    let json = std::str::from_utf8(plaintext)
        .ok()
        .and_then(|s| serde_json::from_str::<Value>(s).ok());
    let want = match json {
        Some(Value::Object(map)) if watermark_appid(&map) == Some(&*appid) => Ok(()),
        Some(Value::Object(_)) => Err(DecryptError::AppidMismatch),
        _ => Err(DecryptError::Undecryptable),
    };
    match (got, want) {
        (Ok(d), Ok(())) => {
            assert_eq!(d.plaintext.as_bytes(), plaintext);
            check_success(&d, &appid);
        }
        (Err(e), Err(w)) => assert_eq!(e, w),
        (got, want) => panic!("got {got:?}, want {want:?}"),
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    match mode % 3 {
        0 => strings(rest),
        1 => lengths(rest),
        _ => round_trip(rest),
    }
});
