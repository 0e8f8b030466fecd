//! The main flow: login, phone (both variants), register, silent login, me.

use serde_json::json;

use crate::helpers::{APP, APP2, PHONE, TestApp};

#[tokio::test]
async fn a_new_user_logs_in_verifies_a_phone_code_registers_and_reads_me() {
    let app = TestApp::spawn().await;

    let login = app.login(&app.login_code("alice")).await;
    let body = login.ok();
    assert_eq!(body["registered"], false);
    assert_eq!(body["session_expires_in"], 2_592_000);
    assert!(
        body["session"].as_str().unwrap().len() >= 43,
        "at least 256 bits of randomness"
    );
    assert!(body.get("user").is_none() && body.get("tokens").is_none());
    let session = body["session"].as_str().unwrap().to_owned();

    let phone = app
        .phone_by_code(&session, &app.phone_code("alice", PHONE))
        .await;
    let body = phone.ok();
    assert_eq!(body["registered"], false);
    assert_eq!(
        body["phone"],
        json!({"phone_number": PHONE, "pure_phone_number": "13800138000", "country_code": "86"})
    );
    assert_eq!(body["ticket_expires_in"], 600);
    let ticket = body["registration_ticket"].as_str().unwrap().to_owned();

    let reg = app
        .post("/v1/register", json!({"registration_ticket": ticket, "nickname": "Alice", "avatar_url": "https://cdn.example.com/a.png"}))
        .await;
    assert_eq!(reg.status, 201, "{}", reg.body);
    assert_eq!(reg.body["user"]["nickname"], "Alice");
    assert_eq!(reg.body["user"]["phone_masked"], "+86 138****8000");
    assert_eq!(reg.body["tokens"]["token_type"], "Bearer");
    assert_eq!(reg.body["tokens"]["expires_in"], 900);
    assert_eq!(reg.body["tokens"]["refresh_expires_in"], 2_592_000);
    let token = reg.body["tokens"]["access_token"].as_str().unwrap();

    let me = app.me(token).await;
    let user = &me.ok()["user"];
    assert_eq!(user["user_id"], reg.body["user"]["user_id"]);
    assert_eq!(user["nickname"], "Alice");
    assert_eq!(user["avatar_url"], "https://cdn.example.com/a.png");
    assert_eq!(user["phone_masked"], "+86 138****8000");
    assert!(
        time::OffsetDateTime::parse(
            user["created_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339
        )
        .is_ok()
    );
    assert_eq!(
        user["identities"],
        json!([{"appid": APP, "has_unionid": true}])
    );
}

#[tokio::test]
async fn a_new_user_verifies_legacy_encrypted_data_and_registers() {
    let app = TestApp::spawn().await;
    let session = app.session_for("bob").await;
    let res = app
        .phone_by_data(&session, &app.encrypted_phone("bob", "+8613900139000"))
        .await;
    assert_eq!(res.ok()["registered"], false);
    assert_eq!(res.body["phone"]["phone_number"], "+8613900139000");
    let ticket = res.body["registration_ticket"].as_str().unwrap();
    let reg = app.register(ticket, None).await;
    assert_eq!(reg.status, 201);
    assert_eq!(reg.body["user"]["nickname"], serde_json::Value::Null);
    assert_eq!(reg.body["user"]["phone_masked"], "+86 139****9000");
}

#[tokio::test]
async fn the_next_wx_login_of_a_registered_user_is_a_silent_login() {
    let app = TestApp::spawn().await;
    let alice = app.register_user("alice", PHONE).await;
    let res = app.login(&app.login_code("alice")).await;
    let body = res.ok();
    assert_eq!(body["registered"], true);
    assert_eq!(body["user"]["user_id"], alice.user_id.as_str());
    assert_eq!(body["user"]["phone_masked"], "+86 138****8000");
    let token = body["tokens"]["access_token"].as_str().unwrap();
    assert_eq!(
        app.me(token).await.ok()["user"]["user_id"],
        alice.user_id.as_str()
    );
}

#[tokio::test]
async fn a_registered_phone_signs_its_owner_in_by_code_and_by_legacy_data() {
    let app = TestApp::spawn().await;
    let alice = app.register_user("alice", PHONE).await;

    // Alice on a second device of hers: same WeChat user, phone by code.
    let session = app.session_for("alice").await;
    let res = app
        .phone_by_code(&session, &app.phone_code("alice", PHONE))
        .await;
    assert_eq!(res.ok()["registered"], true);
    assert_eq!(res.body["user"]["user_id"], alice.user_id.as_str());
    assert!(res.body["tokens"]["access_token"].is_string());

    // And by legacy data.
    let session = app.session_for("alice").await;
    let res = app
        .phone_by_data(&session, &app.encrypted_phone("alice", PHONE))
        .await;
    assert_eq!(res.ok()["registered"], true);
    assert_eq!(res.body["user"]["user_id"], alice.user_id.as_str());
}

#[tokio::test]
async fn a_recycled_number_does_not_hand_over_the_account_by_default() {
    let app = TestApp::spawn().await;
    let alice = app.register_user("alice", PHONE).await;
    // The number's new holder (another WeChat account) proves it: refused, nothing bound.
    let session = app.session_for("new-holder").await;
    app.phone_by_code(&session, &app.phone_code("new-holder", PHONE))
        .await
        .assert_error(409, "phone_bound_elsewhere");
    let login = app.login(&app.login_code("new-holder")).await;
    assert_eq!(login.ok()["registered"], false);
    // Alice herself still signs in by phone.
    let session = app.session_for("alice").await;
    let res = app
        .phone_by_code(&session, &app.phone_code("alice", PHONE))
        .await;
    assert_eq!(res.ok()["user"]["user_id"], alice.user_id.as_str());
    // Once an operator unbinds her WeChat account, the number's holder gets in.
    let key = app.root_key().await;
    let unbind = format!("/admin/v1/users/{}/identities/{APP}", alice.user_id);
    app.admin(reqwest::Method::DELETE, &unbind, None, Some(&key))
        .await;
    let session = app.session_for("new-holder").await;
    let res = app
        .phone_by_code(&session, &app.phone_code("new-holder", PHONE))
        .await;
    assert_eq!(res.ok()["user"]["user_id"], alice.user_id.as_str());
}

#[tokio::test]
async fn with_phone_match_sign_in_a_phone_owned_by_a_user_binds_the_new_openid_to_that_user() {
    let app = TestApp::spawn_with(crate::helpers::Options {
        tweak: Some(std::sync::Arc::new(|raw| {
            raw.registration.phone_match = wxlogin_core::PhoneMatch::SignIn;
        })),
        ..crate::helpers::Options::default()
    })
    .await;
    let alice = app.register_user("alice", PHONE).await;
    // Another WeChat account proves the same phone: it becomes a way into Alice's account.
    let session = app.session_for("alice-second-wechat").await;
    let res = app
        .phone_by_code(&session, &app.phone_code("alice-second-wechat", PHONE))
        .await;
    assert_eq!(res.ok()["user"]["user_id"], alice.user_id.as_str());
    let silent = app.login(&app.login_code("alice-second-wechat")).await;
    assert_eq!(silent.ok()["registered"], true);
    assert_eq!(silent.body["user"]["user_id"], alice.user_id.as_str());
}

#[tokio::test]
async fn a_unionid_seen_under_another_app_signs_in_the_same_user() {
    let app = TestApp::spawn().await;
    let alice = app.register_user("alice", PHONE).await;
    let code = app.login_code_for(APP2, "alice");
    let res = app
        .post("/v1/login", json!({"code": code, "appid": APP2}))
        .await;
    assert_eq!(res.ok()["registered"], true);
    assert_eq!(res.body["user"]["user_id"], alice.user_id.as_str());
    let token = res.body["tokens"]["access_token"].as_str().unwrap();
    let identities = app.me(token).await.ok()["user"]["identities"].clone();
    let mut apps: Vec<&str> = identities
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["appid"].as_str().unwrap())
        .collect();
    apps.sort_unstable();
    assert_eq!(apps, [APP, APP2]);
}

#[tokio::test]
async fn with_several_apps_configured_the_appid_is_required() {
    let app = TestApp::spawn().await;
    let res = app
        .post("/v1/login", json!({"code": app.login_code("alice")}))
        .await; // two apps configured
    res.assert_error(400, "unknown_app");
    let res = app
        .post(
            "/v1/login",
            json!({"code": app.login_code("alice"), "appid": "wx-not-configured"}),
        )
        .await;
    res.assert_error(400, "unknown_app");
}

#[tokio::test]
async fn with_one_app_configured_the_appid_may_be_left_out() {
    let app = TestApp::spawn_with(crate::helpers::Options {
        single_app: true,
        ..Default::default()
    })
    .await;
    let res = app
        .post("/v1/login", json!({"code": app.login_code("alice")}))
        .await;
    assert_eq!(res.ok()["registered"], false);
}
