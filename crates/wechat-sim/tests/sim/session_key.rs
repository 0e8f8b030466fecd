//! session_key rotation, `/wxa/checksession` and `/wxa/resetusersessionkey`.

use std::time::Duration;

use serde_json::json;
use wxlogin_wechat_sim::SimConfig;

use crate::helpers::*;

#[test]
fn the_independent_signature_matches_the_section_6_2_vectors() {
    assert_eq!(
        signature("o0q0otL8aEzpcZL/FT9WsQ=="),
        "46e043c5525c2d817c44be603d30837a808a1d930d038f6fdc3e62a201fed128"
    );
    assert_eq!(
        signature("tiihtNczf5v6AKRyjwEUhQ=="),
        "7154f9f8b4b76b92f541cbf0e37d48840fa06e5e42da92a6f80168a1516a4735"
    );
}

#[tokio::test]
async fn each_exchanged_code_rotates_the_session_key_and_only_the_newest_checks_ok() {
    let t = TestSim::spawn().await;
    let token = t.access_token(APP_A).await;

    let first = t.log_in(APP_A, "alice").await;
    let second = t.log_in(APP_A, "alice").await;
    let openid = str_field(&second, "openid");
    let old_key = str_field(&first, "session_key");
    let new_key = str_field(&second, "session_key");

    assert_ne!(old_key, new_key);
    assert_eq!(
        t.sim().current_session_key(APP_A, "alice").as_deref(),
        Some(new_key)
    );
    let ok = t.checksession(&token, openid, &signature(new_key)).await;
    assert_eq!(ok, json!({"errcode": 0, "errmsg": "ok"}));
    let dead = t.checksession(&token, openid, &signature(old_key)).await;
    assert_eq!(errcode(&dead), 87009);
    assert!(str_field(&dead, "errmsg").starts_with("invalid signature, rid: "));
}

#[tokio::test]
async fn minting_a_code_alone_does_not_rotate_the_key() {
    let t = TestSim::spawn().await;
    let session = t.log_in(APP_A, "alice").await;

    let _unused = t.login_code(APP_A, "alice").await;

    let key = str_field(&session, "session_key");
    assert_eq!(
        t.sim().current_session_key(APP_A, "alice").as_deref(),
        Some(key)
    );
}

#[tokio::test]
async fn checksession_compares_signatures_case_insensitively_and_keys_by_the_base64_text() {
    let t = TestSim::spawn().await;
    let token = t.access_token(APP_A).await;
    let session = t.log_in(APP_A, "alice").await;
    let openid = str_field(&session, "openid");
    let key = str_field(&session, "session_key");

    let upper = t
        .checksession(&token, openid, &signature(key).to_uppercase())
        .await;
    let decoded_key_sig = {
        use base64::Engine as _;
        use hmac::{Hmac, Mac};
        let raw = base64::engine::general_purpose::STANDARD
            .decode(key)
            .unwrap();
        let mac = Hmac::<sha2::Sha256>::new_from_slice(&raw).unwrap();
        hex::encode(mac.finalize().into_bytes())
    };
    let decoded = t.checksession(&token, openid, &decoded_key_sig).await;

    assert_eq!(errcode(&upper), 0);
    assert_eq!(errcode(&decoded), 87009);
}

#[tokio::test]
async fn checksession_refuses_other_sig_methods_missing_openids_and_strangers() {
    let t = TestSim::spawn().await;
    let token = t.access_token(APP_A).await;
    let session = t.log_in(APP_A, "alice").await;
    let openid = str_field(&session, "openid");
    let sig = signature(str_field(&session, "session_key"));
    let base = format!("/wxa/checksession?access_token={token}");

    let sha1 = t
        .get(&format!(
            "{base}&openid={openid}&signature={sig}&sig_method=hmac_sha1"
        ))
        .await;
    let no_method = t
        .get(&format!("{base}&openid={openid}&signature={sig}"))
        .await;
    let no_openid = t
        .get(&format!("{base}&signature={sig}&sig_method=hmac_sha256"))
        .await;
    let no_sig = t
        .get(&format!("{base}&openid={openid}&sig_method=hmac_sha256"))
        .await;
    let stranger = t
        .checksession(&token, &t.sim().openid_of(APP_A, "nobody"), &sig)
        .await;

    assert_eq!(errcode(&sha1), 87008);
    assert_eq!(errcode(&no_method), 87008);
    assert_eq!(errcode(&no_openid), 40003);
    assert_eq!(errcode(&no_sig), 87009);
    assert_eq!(errcode(&stranger), 87009);
}

#[tokio::test]
async fn checksession_reads_parameters_from_a_json_body_too() {
    let t = TestSim::spawn().await;
    let token = t.access_token(APP_A).await;
    let session = t.log_in(APP_A, "alice").await;
    let body = json!({
        "openid": session["openid"],
        "signature": signature(str_field(&session, "session_key")),
        "sig_method": "hmac_sha256",
    });

    let reply = t
        .post(&format!("/wxa/checksession?access_token={token}"), &body)
        .await;

    assert_eq!(errcode(&reply), 0);
}

#[tokio::test]
async fn another_apps_token_cannot_check_this_apps_users() {
    let t = TestSim::spawn().await;
    let token_of_b = t.access_token(APP_B).await;
    let session = t.log_in(APP_A, "alice").await;

    let reply = t
        .checksession(
            &token_of_b,
            str_field(&session, "openid"),
            &signature(str_field(&session, "session_key")),
        )
        .await;

    assert_eq!(errcode(&reply), 87009);
}

#[tokio::test]
async fn the_stable_switch_keeps_the_session_key_across_exchanges() {
    let t = TestSim::spawn_with(SimConfig {
        stable_session_key: true,
        ..test_config()
    })
    .await;

    let first = t.log_in(APP_A, "alice").await;
    let second = t.log_in(APP_A, "alice").await;

    assert_eq!(first["session_key"], second["session_key"]);
}

#[tokio::test]
async fn a_session_key_with_a_lifetime_dies_when_it_ends() {
    let t = TestSim::spawn_with(SimConfig {
        session_key_lifetime: Some(Duration::from_secs(3600)),
        ..test_config()
    })
    .await;
    let token = t.access_token(APP_A).await;
    let session = t.log_in(APP_A, "alice").await;
    let openid = str_field(&session, "openid");
    let sig = signature(str_field(&session, "session_key"));

    t.sim().clock().advance(Duration::from_secs(3599));
    let alive = t.checksession(&token, openid, &sig).await;
    t.sim().clock().advance(Duration::from_secs(1));
    let token = t.access_token(APP_A).await;
    let dead = t.checksession(&token, openid, &sig).await;

    assert_eq!(errcode(&alive), 0);
    assert_eq!(errcode(&dead), 87009);
    assert_eq!(t.sim().current_session_key(APP_A, "alice"), None);
}

#[tokio::test]
async fn reset_issues_a_new_key_and_kills_the_old_one() {
    let t = TestSim::spawn().await;
    let token = t.access_token(APP_A).await;
    let session = t.log_in(APP_A, "alice").await;
    let openid = str_field(&session, "openid");
    let old_key = str_field(&session, "session_key");

    let reset = t
        .get(&format!(
            "/wxa/resetusersessionkey?access_token={token}&openid={openid}&signature={}&sig_method=hmac_sha256",
            signature(old_key)
        ))
        .await;

    assert_eq!(errcode(&reset), 0);
    assert_eq!(reset["errmsg"], "ok");
    assert_eq!(reset["openid"], openid);
    let new_key = str_field(&reset, "session_key");
    assert_ne!(new_key, old_key);
    assert_eq!(
        errcode(&t.checksession(&token, openid, &signature(new_key)).await),
        0
    );
    assert_eq!(
        errcode(&t.checksession(&token, openid, &signature(old_key)).await),
        87009
    );
}

#[tokio::test]
async fn reset_keeps_the_old_keys_expiry() {
    let t = TestSim::spawn_with(SimConfig {
        session_key_lifetime: Some(Duration::from_secs(1000)),
        ..test_config()
    })
    .await;
    t.log_in(APP_A, "alice").await;

    t.sim().clock().advance(Duration::from_secs(600));
    let token = t.access_token(APP_A).await;
    let old = t.sim().current_session_key(APP_A, "alice").unwrap();
    let openid = t.sim().openid_of(APP_A, "alice");
    let reset = t
        .get(&format!(
            "/wxa/resetusersessionkey?access_token={token}&openid={openid}&signature={}&sig_method=hmac_sha256",
            signature(&old)
        ))
        .await;
    let new_key = str_field(&reset, "session_key").to_owned();
    t.sim().clock().advance(Duration::from_secs(400));

    assert_ne!(new_key, old);
    assert_eq!(t.sim().current_session_key(APP_A, "alice"), None);
}

#[tokio::test]
async fn reset_with_a_wrong_signature_or_method_changes_nothing() {
    let t = TestSim::spawn().await;
    let token = t.access_token(APP_A).await;
    let session = t.log_in(APP_A, "alice").await;
    let openid = str_field(&session, "openid");
    let base = format!("/wxa/resetusersessionkey?access_token={token}&openid={openid}");

    let wrong = t
        .get(&format!("{base}&signature=00&sig_method=hmac_sha256"))
        .await;
    let method = t
        .get(&format!(
            "{base}&signature={}&sig_method=md5",
            signature(str_field(&session, "session_key"))
        ))
        .await;

    assert_eq!(errcode(&wrong), 87009);
    assert_eq!(errcode(&method), 87008);
    assert_eq!(
        t.sim().current_session_key(APP_A, "alice").as_deref(),
        Some(str_field(&session, "session_key"))
    );
}
