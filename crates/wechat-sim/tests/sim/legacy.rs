//! Legacy encrypted phone data, checked with an independent copy of WeChat's demo decrypter,
//! and `encrypt_legacy` against the byte-exact vectors.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, KeyIvInit};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::Method;
use serde_json::{Value, json};
use wxlogin_wechat_sim::encrypt_legacy;

use crate::helpers::*;

/// The official Python demo (WXBizDataCrypt.decrypt), step by step: base64-decode key, data
/// and iv; AES-128-CBC decrypt; unpad by the value of the last byte; json.loads; compare
/// `watermark.appid`.
fn demo_decrypt(app_id: &str, session_key: &str, encrypted_data: &str, iv: &str) -> Value {
    let key = STANDARD.decode(session_key).unwrap();
    let data = STANDARD.decode(encrypted_data).unwrap();
    let iv = STANDARD.decode(iv).unwrap();
    let decrypted = cbc::Decryptor::<aes::Aes128>::new_from_slices(&key, &iv)
        .unwrap()
        .decrypt_padded_vec_mut::<NoPadding>(&data)
        .unwrap();
    let pad = usize::from(*decrypted.last().unwrap());
    let unpadded = &decrypted[..decrypted.len() - pad];
    let decoded: Value = serde_json::from_slice(unpadded).unwrap();
    assert_eq!(decoded["watermark"]["appid"], app_id, "Invalid Buffer");
    decoded
}

async fn encrypted_phone(t: &TestSim, appid: &str, user: &str, phone: &str) -> (String, String) {
    let body = json!({"appid": appid, "user": user, "phone": phone});
    let reply = t.control_ok("/_sim/v1/encrypted_phone", body).await;
    (
        str_field(&reply, "encrypted_data").to_owned(),
        str_field(&reply, "iv").to_owned(),
    )
}

#[tokio::test]
async fn encrypted_phone_decrypts_with_the_official_demo_algorithm_under_the_current_key() {
    let t = TestSim::spawn().await;
    t.log_in(APP_A, "alice").await;
    let session = t.log_in(APP_A, "alice").await;
    let now = t.sim().clock().now_unix();

    let (data, iv) = encrypted_phone(&t, APP_A, "alice", "+8613800138000").await;

    assert_eq!(STANDARD.decode(&iv).unwrap().len(), 16);
    let plain = demo_decrypt(APP_A, str_field(&session, "session_key"), &data, &iv);
    assert_eq!(plain["phoneNumber"], "13800138000");
    assert_eq!(plain["purePhoneNumber"], "13800138000");
    assert_eq!(plain["countryCode"], "86");
    let stamp = plain["watermark"]["timestamp"].as_i64().unwrap();
    assert!((now..=now + 5).contains(&stamp), "{stamp} vs {now}");
}

#[tokio::test]
async fn the_plaintext_keeps_wechats_field_order() {
    let t = TestSim::spawn().await;
    let session = t.log_in(APP_A, "alice").await;

    let (data, iv) = encrypted_phone(&t, APP_A, "alice", "+8613800138000").await;

    let key = STANDARD.decode(str_field(&session, "session_key")).unwrap();
    let raw = cbc::Decryptor::<aes::Aes128>::new_from_slices(&key, &STANDARD.decode(&iv).unwrap())
        .unwrap()
        .decrypt_padded_vec_mut::<aes::cipher::block_padding::Pkcs7>(
            &STANDARD.decode(&data).unwrap(),
        )
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    assert!(
        text.starts_with(r#"{"phoneNumber":"13800138000","purePhoneNumber":"13800138000","countryCode":"86","watermark":{"timestamp":"#),
        "{text}"
    );
}

#[tokio::test]
async fn each_call_uses_a_fresh_iv() {
    let t = TestSim::spawn().await;
    t.log_in(APP_A, "alice").await;

    let (_, first) = encrypted_phone(&t, APP_A, "alice", "+8613800138000").await;
    let (_, second) = encrypted_phone(&t, APP_A, "alice", "+8613800138000").await;

    assert_ne!(first, second);
}

#[tokio::test]
async fn encrypted_phone_without_a_session_key_is_a_409() {
    let t = TestSim::spawn().await;
    let body = json!({"appid": APP_A, "user": "never-logged-in", "phone": "+8613800138000"});

    let (status, reply) = t
        .control(
            Method::POST,
            "/_sim/v1/encrypted_phone",
            Some(&body.to_string()),
        )
        .await;

    assert_eq!(status, 409);
    assert!(
        str_field(&reply, "error").contains("session_key"),
        "{reply}"
    );
}

#[test]
fn encrypt_legacy_reproduces_every_positive_vector_byte_for_byte() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/wx-vectors.json"
    );
    let vectors: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let positives: Vec<&Value> = vectors.iter().filter(|v| v["kind"] == "positive").collect();
    assert!(positives.len() >= 4);

    for v in positives {
        let name = str_field(v, "name");
        let out = encrypt_legacy(
            str_field(v, "session_key"),
            str_field(v, "iv"),
            str_field(v, "expected_plaintext").as_bytes(),
        )
        .unwrap();
        assert_eq!(out, str_field(v, "encrypted_data"), "{name}");
        let back = demo_decrypt(
            str_field(v, "appid"),
            str_field(v, "session_key"),
            &out,
            str_field(v, "iv"),
        );
        assert_eq!(&back, &v["expected"], "{name}");
    }
}
