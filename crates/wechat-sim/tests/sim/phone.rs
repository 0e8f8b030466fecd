//! `/wxa/business/getuserphonenumber` and phone codes.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use wxlogin_wechat_sim::SimConfig;

use crate::helpers::*;

#[tokio::test]
async fn a_phone_code_gives_the_mainland_number_in_wechats_shape() {
    let t = TestSim::spawn().await;
    let token = t.access_token(APP_A).await;
    let code = t.phone_code(APP_A, "alice", "+8613800138000").await;
    let minted_at = t.sim().clock().now_unix();
    t.sim().clock().advance(Duration::from_secs(60));

    let reply = t.phone_number(&token, json!({"code": code})).await;

    assert_eq!(
        reply,
        json!({"errcode": 0, "errmsg": "ok", "phone_info": {
            "phoneNumber": "13800138000", "purePhoneNumber": "13800138000", "countryCode": "86",
            "watermark": {"timestamp": minted_at, "appid": APP_A},
        }})
    );
}

#[tokio::test]
async fn foreign_numbers_include_the_country_code_in_phone_number() {
    let t = TestSim::spawn().await;
    let token = t.access_token(APP_A).await;
    let code = t.phone_code(APP_A, "alice", "+85291234567").await;

    let reply = t.phone_number(&token, json!({"code": code})).await;

    let info = &reply["phone_info"];
    assert_eq!(info["phoneNumber"], "+85291234567");
    assert_eq!(info["purePhoneNumber"], "91234567");
    assert_eq!(info["countryCode"], "852");
}

#[tokio::test]
async fn the_number_switch_writes_country_code_as_a_number() {
    let t = TestSim::spawn_with(SimConfig {
        country_code_as_number: true,
        ..test_config()
    })
    .await;
    let token = t.access_token(APP_A).await;
    let code = t.phone_code(APP_A, "alice", "+8613800138000").await;

    let reply = t.phone_number(&token, json!({"code": code})).await;

    assert_eq!(reply["phone_info"]["countryCode"], 86);
}

#[tokio::test]
async fn a_phone_code_works_once_then_gets_40029() {
    let t = TestSim::spawn().await;
    let token = t.access_token(APP_A).await;
    let code = t.phone_code(APP_A, "alice", "+8613800138000").await;
    t.phone_number(&token, json!({"code": code})).await;

    let again = t.phone_number(&token, json!({"code": code})).await;

    assert_eq!(errcode(&again), 40029);
    assert!(str_field(&again, "errmsg").starts_with("invalid code, rid: "));
}

#[tokio::test]
async fn a_login_code_an_unknown_code_or_an_empty_code_is_not_a_phone_code() {
    let t = TestSim::spawn().await;
    let token = t.access_token(APP_A).await;
    let login_code = t.login_code(APP_A, "alice").await;

    let login = t.phone_number(&token, json!({"code": login_code})).await;
    let unknown = t
        .phone_number(&token, json!({"code": "e31968a7f94cc5ee25fafc2aef2773f0"}))
        .await;
    let empty = t.phone_number(&token, json!({"code": ""})).await;

    assert_eq!(errcode(&login), 40029);
    assert_eq!(errcode(&unknown), 40029);
    assert_eq!(errcode(&empty), 40029);
    // The login code is still good for its own API.
    let session = t.jscode2session(APP_A, &login_code).await;
    assert!(session.get("openid").is_some(), "{session}");
}

#[tokio::test]
async fn a_phone_code_expires_after_300_seconds() {
    let t = TestSim::spawn().await;
    let code = t.phone_code(APP_A, "alice", "+8613800138000").await;

    t.sim().clock().advance(Duration::from_secs(301));
    let token = t.access_token(APP_A).await;
    let reply = t.phone_number(&token, json!({"code": code})).await;

    assert_eq!(errcode(&reply), 40029);
}

#[tokio::test]
async fn an_openid_of_another_user_gets_40029_and_leaves_the_code_usable() {
    let t = TestSim::spawn().await;
    let token = t.access_token(APP_A).await;
    let code = t.phone_code(APP_A, "alice", "+8613800138000").await;
    let bob = t.sim().openid_of(APP_A, "bob");
    let alice = t.sim().openid_of(APP_A, "alice");

    let mismatch = t
        .phone_number(&token, json!({"code": code, "openid": bob}))
        .await;
    let matching = t
        .phone_number(&token, json!({"code": code, "openid": alice}))
        .await;

    assert_eq!(errcode(&mismatch), 40029);
    assert_eq!(errcode(&matching), 0);
}

#[tokio::test]
async fn another_apps_token_cannot_redeem_this_apps_phone_code() {
    let t = TestSim::spawn().await;
    let token_of_b = t.access_token(APP_B).await;
    let token_of_a = t.access_token(APP_A).await;
    let code = t.phone_code(APP_A, "alice", "+8613800138000").await;

    let wrong = t.phone_number(&token_of_b, json!({"code": code})).await;
    let right = t.phone_number(&token_of_a, json!({"code": code})).await;

    assert_eq!(errcode(&wrong), 40029);
    assert_eq!(errcode(&right), 0);
}

#[tokio::test]
async fn a_token_error_comes_before_the_code_is_looked_at() {
    let t = TestSim::spawn().await;
    let code = t.phone_code(APP_A, "alice", "+8613800138000").await;

    let bad_token = t.phone_number("stale-token", json!({"code": code})).await;
    let token = t.access_token(APP_A).await;
    let retry = t.phone_number(&token, json!({"code": code})).await;

    assert_eq!(errcode(&bad_token), 40001);
    assert_eq!(errcode(&retry), 0);
}

#[tokio::test]
async fn malformed_requests_get_wechats_errcodes() {
    let t = TestSim::spawn().await;
    let token = t.access_token(APP_A).await;
    let url = t.url(&format!(
        "/wxa/business/getuserphonenumber?access_token={token}"
    ));

    let get = t
        .http
        .get(&url)
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let not_json = t.http.post(&url).body("code=abc").send().await.unwrap();
    let not_json = not_json.json::<serde_json::Value>().await.unwrap();
    let no_code = t.phone_number(&token, json!({"openid": "x"})).await;

    assert_eq!(errcode(&get), 43002);
    assert_eq!(errcode(&not_json), 47001);
    assert_eq!(errcode(&no_code), 40029);
}

#[tokio::test]
async fn the_control_api_refuses_numbers_that_are_not_e164() {
    let t = TestSim::spawn().await;
    for phone in [
        "13800138000",
        "+86 138",
        "+8613800138000000000",
        "+0123456789",
        "+86abc",
    ] {
        let body = json!({"appid": APP_A, "user": "alice", "phone": phone}).to_string();
        let (status, reply) = t
            .control(Method::POST, "/_sim/v1/phone_codes", Some(&body))
            .await;
        assert_eq!(status, 400, "{phone}");
        assert!(str_field(&reply, "error").contains("phone"), "{reply}");
    }
}
