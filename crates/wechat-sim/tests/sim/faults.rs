//! Injected faults: errcodes, delays and transport failures.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wxlogin_wechat_sim::{Api, Fault, Transport};

use crate::helpers::*;

fn login_url(t: &TestSim, code: &str) -> String {
    t.url(&format!(
        "/sns/jscode2session?appid={APP_A}&secret={SECRET_A}&js_code={code}&grant_type=authorization_code"
    ))
}

async fn fault(t: &TestSim, body: Value) -> Value {
    t.control_ok("/_sim/v1/faults", body).await
}

#[tokio::test]
async fn an_errcode_fault_answers_the_next_n_calls_and_their_code_stays_usable() {
    let t = TestSim::spawn().await;
    let code = t.login_code(APP_A, "alice").await;
    let reply = fault(
        &t,
        json!({"api": "jscode2session", "errcode": -1, "times": 3, "delay_ms": 0}),
    )
    .await;
    assert_eq!(reply["pending"], 3);

    let mut faulted = Vec::new();
    for _ in 0..3 {
        faulted.push(t.jscode2session(APP_A, &code).await);
    }
    let after = t.jscode2session(APP_A, &code).await;

    for reply in &faulted {
        assert_eq!(errcode(reply), -1);
        assert!(str_field(reply, "errmsg").starts_with("system error, rid: "));
    }
    assert_eq!(
        str_field(&after, "openid"),
        t.sim().openid_of(APP_A, "alice")
    );
}

#[tokio::test]
async fn a_fault_only_touches_its_own_api() {
    let t = TestSim::spawn().await;
    fault(&t, json!({"api": "getuserphonenumber", "errcode": 45011})).await;

    let session = t.log_in(APP_A, "alice").await;
    let token = t.access_token(APP_A).await;
    let code = t.phone_code(APP_A, "alice", "+8613800138000").await;
    let limited = t.phone_number(&token, json!({"code": code})).await;
    let retried = t.phone_number(&token, json!({"code": code})).await;

    assert!(session.get("openid").is_some());
    assert_eq!(errcode(&limited), 45011);
    assert_eq!(errcode(&retried), 0);
}

#[tokio::test]
async fn a_delay_with_errcode_zero_only_slows_the_real_answer() {
    let t = TestSim::spawn().await;
    fault(&t, json!({"api": "token", "errcode": 0, "delay_ms": 150})).await;

    let started = Instant::now();
    let slow = t.token(APP_A).await;
    let slow_elapsed = started.elapsed();

    assert!(slow.get("access_token").is_some(), "{slow}");
    assert!(
        slow_elapsed >= Duration::from_millis(150),
        "{slow_elapsed:?}"
    );
}

#[tokio::test]
async fn an_errcode_fault_can_be_delayed_too() {
    let t = TestSim::spawn().await;
    fault(
        &t,
        json!({"api": "stable_token", "errcode": 45009, "delay_ms": 100}),
    )
    .await;

    let started = Instant::now();
    let reply = t.stable_token(APP_A, false).await;

    assert_eq!(errcode(&reply), 45009);
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn http_500_answers_an_html_error_page_and_leaves_the_code_unused() {
    let t = TestSim::spawn().await;
    let code = t.login_code(APP_A, "alice").await;
    fault(
        &t,
        json!({"api": "jscode2session", "transport": "http_500"}),
    )
    .await;

    let res = t.http.get(login_url(&t, &code)).send().await.unwrap();

    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(res.text().await.unwrap().contains("500"));
    assert!(t.jscode2session(APP_A, &code).await.get("openid").is_some());
}

#[tokio::test]
async fn truncated_json_is_a_200_whose_body_does_not_parse() {
    let t = TestSim::spawn().await;
    let code = t.login_code(APP_A, "alice").await;
    fault(
        &t,
        json!({"api": "jscode2session", "transport": "truncated_json"}),
    )
    .await;

    let res = t.http.get(login_url(&t, &code)).send().await.unwrap();

    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    assert!(text.starts_with('{'));
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
}

async fn send_and_read(t: &TestSim, url: &str) -> Result<String, reqwest::Error> {
    t.http.get(url).send().await?.text().await
}

#[tokio::test]
async fn reset_breaks_the_connection_mid_response() {
    let t = TestSim::spawn().await;
    let code = t.login_code(APP_A, "alice").await;
    fault(&t, json!({"api": "jscode2session", "transport": "reset"})).await;

    let outcome = send_and_read(&t, &login_url(&t, &code)).await;

    assert!(outcome.is_err(), "{outcome:?}");
    assert!(t.jscode2session(APP_A, &code).await.get("openid").is_some());
}

#[tokio::test]
async fn hang_answers_nothing_for_the_delay_then_drops_the_connection() {
    let t = TestSim::spawn().await;
    let code = t.login_code(APP_A, "alice").await;
    fault(
        &t,
        json!({"api": "jscode2session", "transport": "hang", "delay_ms": 100}),
    )
    .await;

    let started = Instant::now();
    let outcome = send_and_read(&t, &login_url(&t, &code)).await;

    assert!(outcome.is_err(), "{outcome:?}");
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn hang_without_a_delay_lasts_until_the_client_times_out() {
    let t = TestSim::spawn().await;
    fault(&t, json!({"api": "token", "transport": "hang"})).await;

    let outcome = t
        .http
        .get(t.url(&format!(
            "/cgi-bin/token?grant_type=client_credential&appid={APP_A}&secret={SECRET_A}"
        )))
        .timeout(Duration::from_millis(200))
        .send()
        .await;

    assert!(outcome.unwrap_err().is_timeout());
    assert_eq!(t.stats().await["calls"]["token"]["by_errcode"]["hang"], 1);
}

#[tokio::test]
async fn shutting_down_releases_a_hanging_call() {
    let t = TestSim::spawn().await;
    fault(&t, json!({"api": "token", "transport": "hang"})).await;
    let url = t.url(&format!(
        "/cgi-bin/token?grant_type=client_credential&appid={APP_A}&secret={SECRET_A}"
    ));
    let http = t.http.clone();
    let call = tokio::spawn(async move { http.get(url).send().await?.text().await });

    // Ready when the call is counted, which happens as it starts hanging.
    tokio::time::timeout(Duration::from_secs(10), async {
        while t.sim().stats()["calls"]["token"]["total"] != 1 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    tokio::time::timeout(Duration::from_secs(10), t.shut_down())
        .await
        .unwrap();

    let outcome = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .unwrap()
        .unwrap();
    assert!(outcome.is_err(), "{outcome:?}");
}

#[tokio::test]
async fn after_processing_uses_up_the_code_before_answering_with_the_fault() {
    let t = TestSim::spawn().await;
    let code = t.login_code(APP_A, "alice").await;
    fault(
        &t,
        json!({"api": "jscode2session", "errcode": -1, "after_processing": true}),
    )
    .await;

    let faulted = t.jscode2session(APP_A, &code).await;
    let retry = t.jscode2session(APP_A, &code).await;

    assert_eq!(errcode(&faulted), -1);
    assert_eq!(errcode(&retry), 40163);
    assert!(t.sim().current_session_key(APP_A, "alice").is_some());
}

#[tokio::test]
async fn deleting_faults_clears_every_pending_one() {
    let t = TestSim::spawn().await;
    fault(&t, json!({"api": "token", "errcode": -1, "times": 5})).await;
    fault(
        &t,
        json!({"api": "jscode2session", "errcode": -1, "times": 5}),
    )
    .await;

    let (status, _) = t.control(Method::DELETE, "/_sim/v1/faults", None).await;
    let token = t.token(APP_A).await;
    let session = t.log_in(APP_A, "alice").await;

    assert_eq!(status, StatusCode::OK);
    assert!(token.get("access_token").is_some());
    assert!(session.get("openid").is_some());
}

#[tokio::test]
async fn faults_injected_from_rust_behave_the_same() {
    let t = TestSim::spawn().await;
    t.sim()
        .inject_fault(Fault::errcode(Api::Token, 40164).times(2));
    t.sim()
        .inject_fault(Fault::transport(Api::CheckSession, Transport::Http500));

    let first = t.token(APP_A).await;
    let second = t.token(APP_A).await;
    let third = t.token(APP_A).await;
    let check = t.http.get(t.url("/wxa/checksession")).send().await.unwrap();

    assert_eq!(errcode(&first), 40164);
    assert!(str_field(&first, "errmsg").contains("not in whitelist"));
    assert_eq!(errcode(&second), 40164);
    assert!(third.get("access_token").is_some());
    assert_eq!(check.status(), 500);

    t.sim().inject_fault(Fault::errcode(Api::Token, -1));
    t.sim().clear_faults();
    assert!(t.token(APP_A).await.get("access_token").is_some());
}

#[tokio::test]
async fn resetusersessionkey_can_be_faulted() {
    let t = TestSim::spawn().await;
    fault(&t, json!({"api": "resetusersessionkey", "errcode": 45011})).await;

    let reply = t.get("/wxa/resetusersessionkey").await;

    assert_eq!(errcode(&reply), 45011);
}
