//! One code, one upstream call: double taps, retries and races get the first outcome.

use futures::future::join_all;
use serde_json::json;
use wxlogin_wechat_sim::{Api, Fault};

use crate::helpers::{PHONE, TestApp};

#[tokio::test]
async fn the_same_login_code_sent_twice_gets_the_same_body_and_one_upstream_call() {
    let app = TestApp::spawn().await;
    let code = app.login_code("alice");
    let first = app.login(&code).await;
    let second = app.login(&code).await;
    assert_eq!(first.ok(), second.ok());
    assert_eq!(app.upstream_calls("jscode2session"), 1);
}

#[tokio::test]
async fn the_same_login_code_sent_concurrently_makes_one_upstream_call() {
    let app = TestApp::spawn().await;
    // Slow WeChat down so that all requests are in flight together.
    app.fault(Fault::delay_only(
        Api::Jscode2session,
        std::time::Duration::from_millis(200),
    ));
    let code = app.login_code("alice");
    let responses = join_all((0..10).map(|_| app.login(&code))).await;
    let first = responses[0].ok().clone();
    for res in &responses {
        assert_eq!(res.ok(), &first);
    }
    assert_eq!(app.upstream_calls("jscode2session"), 1);
}

#[tokio::test]
async fn a_failed_exchange_is_remembered_too_and_never_resent() {
    let app = TestApp::spawn().await;
    app.fault(Fault::errcode(Api::Jscode2session, -1));
    let code = app.login_code("alice");
    app.login(&code)
        .await
        .assert_error(503, "wechat_unavailable");
    // WeChat may have consumed the code: a retry with it must not reach WeChat again.
    app.login(&code)
        .await
        .assert_error(503, "wechat_unavailable");
    assert_eq!(app.upstream_calls("jscode2session"), 1);
}

#[tokio::test]
async fn the_same_phone_code_sent_twice_gets_the_same_body_and_one_upstream_call() {
    let app = TestApp::spawn().await;
    let session = app.session_for("alice").await;
    let code = app.phone_code("alice", PHONE);
    let first = app.phone_by_code(&session, &code).await;
    let second = app.phone_by_code(&session, &code).await;
    assert_eq!(first.ok(), second.ok());
    assert_eq!(app.upstream_calls("getuserphonenumber"), 1);
}

#[tokio::test]
async fn a_phone_code_replayed_under_another_session_does_not_get_the_first_sessions_outcome() {
    let app = TestApp::spawn().await;
    let alice = app.session_for("alice").await;
    let mallory = app.session_for("mallory").await;
    let code = app.phone_code("alice", PHONE);
    let first = app.phone_by_code(&alice, &code).await;
    assert_eq!(first.ok()["registered"], false);
    let replay = app
        .post("/v1/phone", json!({"session": mallory, "code": code}))
        .await;
    replay.assert_error(400, "phone_code_invalid");
    assert_eq!(replay.body["error"]["wechat_errcode"], 40029);
}

#[tokio::test]
async fn a_client_that_hangs_up_mid_exchange_does_not_cancel_it_and_its_retry_gets_the_outcome() {
    let app = TestApp::spawn().await;
    app.fault(Fault::delay_only(
        Api::Jscode2session,
        std::time::Duration::from_millis(600),
    ));
    let code = app.login_code("alice");
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(150))
        .build()
        .unwrap();
    let gave_up = impatient
        .post(format!("{}/v1/login", app.addr))
        .json(&json!({"code": code, "appid": crate::helpers::APP}))
        .send()
        .await;
    assert!(
        gave_up.is_err(),
        "the client timed out and closed the connection"
    );
    // The retry joins the still-running exchange (or finds its outcome): no second call.
    let retry = app.login(&code).await;
    assert_eq!(retry.ok()["registered"], false);
    assert_eq!(app.upstream_calls("jscode2session"), 1);
}
