//! `/wxa/business/checkencryptedmsg`: vouching for the legacy data `encrypted_phone` produced.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::*;

const THREE_DAYS: Duration = Duration::from_secs(3 * 86_400);
const PATH: &str = "/wxa/business/checkencryptedmsg";

/// Logs `user` in, has the simulator produce legacy phone data for them, and returns the
/// ciphertext bytes (the base64-decoded `encrypted_data`).
async fn produced_ciphertext(t: &TestSim, appid: &str, user: &str) -> Vec<u8> {
    t.log_in(appid, user).await;
    let body = json!({"appid": appid, "user": user, "phone": "+8613800138000"});
    let reply = t.control_ok("/_sim/v1/encrypted_phone", body).await;
    STANDARD
        .decode(str_field(&reply, "encrypted_data"))
        .unwrap()
}

/// The hash as the client sends it: lowercase hex SHA-256 of the ciphertext bytes.
fn hash_of(ciphertext: &[u8]) -> String {
    hex::encode(Sha256::digest(ciphertext))
}

async fn check(t: &TestSim, token: &str, hash: &str) -> Value {
    t.post(
        &format!("{PATH}?access_token={token}"),
        &json!({"encrypted_msg_hash": hash}),
    )
    .await
}

async fn check_raw(t: &TestSim, query: &str, body: &str) -> Value {
    let res = t
        .http
        .post(t.url(&format!("{PATH}{query}")))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn a_ciphertext_the_simulator_produced_is_vaild_with_its_create_time() {
    let t = TestSim::spawn().await;
    let produced_at = t.sim().clock().now_unix();
    let data = produced_ciphertext(&t, APP_A, "alice").await;
    let token = t.access_token(APP_A).await;

    let reply = check(&t, &token, &hash_of(&data)).await;

    assert_eq!(
        reply,
        json!({"errcode": 0, "errmsg": "ok", "vaild": true, "create_time": produced_at})
    );
}

#[tokio::test]
async fn a_ciphertext_with_one_byte_changed_is_not_vaild() {
    let t = TestSim::spawn().await;
    let mut data = produced_ciphertext(&t, APP_A, "alice").await;
    let token = t.access_token(APP_A).await;
    data[0] ^= 0x01;

    let reply = check(&t, &token, &hash_of(&data)).await;

    assert_eq!(reply, json!({"errcode": 0, "errmsg": "ok", "vaild": false}));
}

#[tokio::test]
async fn a_hash_never_produced_is_not_vaild() {
    let t = TestSim::spawn().await;
    let token = t.access_token(APP_A).await;

    let reply = check(&t, &token, &hash_of(b"forged by a client with its own key")).await;

    assert_eq!(errcode(&reply), 0);
    assert_eq!(reply["vaild"], false);
    assert!(reply.get("create_time").is_none(), "{reply}");
}

#[tokio::test]
async fn another_apps_ciphertext_is_not_vaild() {
    let t = TestSim::spawn().await;
    let data = produced_ciphertext(&t, APP_A, "alice").await;
    let token_b = t.access_token(APP_B).await;

    let reply = check(&t, &token_b, &hash_of(&data)).await;

    assert_eq!(reply["vaild"], false, "{reply}");
}

#[tokio::test]
async fn a_ciphertext_is_vaild_for_exactly_three_days_of_the_sim_clock() {
    let t = TestSim::spawn().await;
    let data = produced_ciphertext(&t, APP_A, "alice").await;
    let hash = hash_of(&data);

    t.sim().clock().advance(THREE_DAYS);
    let token = t.access_token(APP_A).await;
    let last_moment = check(&t, &token, &hash).await;
    t.sim().clock().advance(Duration::from_millis(1));
    let too_old = check(&t, &token, &hash).await;

    assert_eq!(last_moment["vaild"], true, "{last_moment}");
    assert_eq!(
        too_old,
        json!({"errcode": 0, "errmsg": "ok", "vaild": false})
    );
}

#[tokio::test]
async fn a_bad_missing_or_expired_token_gets_getuserphonenumbers_errcodes() {
    let t = TestSim::spawn().await;
    let token = t.access_token(APP_A).await;
    let hash = hash_of(b"x");

    let unknown = check(&t, "not-a-token", &hash).await;
    let missing = check_raw(&t, "", &json!({"encrypted_msg_hash": hash}).to_string()).await;
    t.sim().clock().advance(Duration::from_secs(7201));
    let expired = check(&t, &token, &hash).await;

    assert_eq!(errcode(&unknown), 40001);
    assert!(str_field(&unknown, "errmsg").starts_with("invalid credential"));
    assert_eq!(errcode(&missing), 41001);
    assert_eq!(errcode(&expired), 42001);
}

#[tokio::test]
async fn a_malformed_body_is_47001_and_a_malformed_hash_is_40097() {
    let t = TestSim::spawn().await;
    let token = t.access_token(APP_A).await;
    let query = format!("?access_token={token}");
    let upper = hash_of(b"x").to_uppercase();

    let not_json = check_raw(&t, &query, "encrypted_msg_hash=abc").await;
    let not_object = check_raw(&t, &query, r#"["abc"]"#).await;
    let not_string = check_raw(&t, &query, r#"{"encrypted_msg_hash":42}"#).await;
    let missing = check_raw(&t, &query, "{}").await;
    let short = check(&t, &token, "abcd").await;
    let uppercase = check(&t, &token, &upper).await;

    assert_eq!(errcode(&not_json), 47001);
    assert_eq!(errcode(&not_object), 47001);
    assert_eq!(errcode(&not_string), 47001);
    assert_eq!(errcode(&missing), 40097);
    assert!(str_field(&missing, "errmsg").starts_with("invalid args, rid: "));
    assert_eq!(errcode(&short), 40097);
    assert_eq!(errcode(&uppercase), 40097);
}

#[tokio::test]
async fn only_post_is_accepted() {
    let t = TestSim::spawn().await;
    let token = t.access_token(APP_A).await;

    let reply = t.get(&format!("{PATH}?access_token={token}")).await;

    assert_eq!(errcode(&reply), 43002);
}

#[tokio::test]
async fn faults_apply_and_calls_are_counted_under_checkencryptedmsg() {
    let t = TestSim::spawn().await;
    let data = produced_ciphertext(&t, APP_A, "alice").await;
    let token = t.access_token(APP_A).await;
    let hash = hash_of(&data);
    let reply = t
        .control_ok(
            "/_sim/v1/faults",
            json!({"api": "checkencryptedmsg", "errcode": 45011}),
        )
        .await;
    assert_eq!(reply["api"], "checkencryptedmsg");
    t.control_ok(
        "/_sim/v1/faults",
        json!({"api": "checkencryptedmsg", "errcode": 0, "delay_ms": 100}),
    )
    .await;

    let limited = check(&t, &token, &hash).await;
    let started = Instant::now();
    let slow = check(&t, &token, &hash).await;
    let slow_elapsed = started.elapsed();
    let unknown = check(&t, "not-a-token", &hash).await;

    assert_eq!(errcode(&limited), 45011);
    assert_eq!(slow["vaild"], true, "{slow}");
    assert!(
        slow_elapsed >= Duration::from_millis(100),
        "{slow_elapsed:?}"
    );
    assert_eq!(errcode(&unknown), 40001);
    let (_, stats) = t.control(Method::GET, "/_sim/v1/stats", None).await;
    assert_eq!(
        stats["calls"]["checkencryptedmsg"],
        json!({"total": 3, "by_errcode": {"0": 1, "40001": 1, "45011": 1}})
    );
}
