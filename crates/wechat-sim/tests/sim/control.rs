//! The control API: its additions, and JSON 4xx answers to hostile input.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn login_codes_mints_in_bulk_when_given_a_count() {
    let t = TestSim::spawn().await;

    let reply = t
        .control_ok(
            "/_sim/v1/login_codes",
            json!({"appid": APP_A, "user": "alice", "count": 500}),
        )
        .await;

    let codes: Vec<&str> = reply["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(codes.len(), 500);
    assert_eq!(reply["code"], codes[0]);
    let mut unique = codes.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 500);
    let last = t.jscode2session(APP_A, codes[499]).await;
    assert!(last.get("openid").is_some(), "{last}");
}

#[tokio::test]
async fn a_single_code_reply_has_only_code() {
    let t = TestSim::spawn().await;

    let reply = t
        .control_ok(
            "/_sim/v1/login_codes",
            json!({"appid": APP_A, "user": "alice"}),
        )
        .await;

    assert_eq!(reply.as_object().unwrap().len(), 1);
    assert_eq!(str_field(&reply, "code").len(), 32);
}

#[tokio::test]
async fn the_clock_can_be_read_and_advanced_over_http() {
    let t = TestSim::spawn().await;
    let code = t.login_code(APP_A, "alice").await;
    let (_, before) = t.control(Method::GET, "/_sim/v1/clock", None).await;

    let after = t
        .control_ok("/_sim/v1/clock", json!({"advance_secs": 301}))
        .await;

    assert!(after["now"].as_i64().unwrap() >= before["now"].as_i64().unwrap() + 301);
    assert_eq!(after["offset_secs"], 301);
    assert_eq!(t.sim().clock().offset(), Duration::from_secs(301));
    assert_eq!(errcode(&t.jscode2session(APP_A, &code).await), 40029);
}

#[tokio::test]
async fn identity_returns_the_deterministic_ids() {
    let t = TestSim::spawn().await;

    let bound = t
        .control_ok(
            "/_sim/v1/identity",
            json!({"appid": APP_A, "user": "alice"}),
        )
        .await;
    let unbound = t
        .control_ok(
            "/_sim/v1/identity",
            json!({"appid": APP_C, "user": "alice"}),
        )
        .await;
    let session = t.log_in(APP_A, "alice").await;

    assert_eq!(bound["openid"], session["openid"]);
    assert_eq!(bound["unionid"], session["unionid"]);
    assert!(unbound.get("unionid").is_none());
}

#[tokio::test]
async fn curl_style_bodies_without_a_json_content_type_are_accepted() {
    let t = TestSim::spawn().await;

    let res = t
        .http
        .post(t.url("/_sim/v1/login_codes"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(json!({"appid": APP_A, "user": "alice"}).to_string())
        .send()
        .await
        .unwrap();

    assert_eq!(res.status(), StatusCode::OK);
}

async fn assert_refused(
    t: &TestSim,
    method: Method,
    path: &str,
    body: Option<&str>,
    expected: u16,
) {
    let (status, reply) = t.control(method.clone(), path, body).await;
    let shown: String = body.unwrap_or("").chars().take(80).collect();
    assert_eq!(
        status.as_u16(),
        expected,
        "{method} {path} {shown}: {reply}"
    );
    let error = reply["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error string: {reply}"));
    assert!(!error.is_empty());
    assert!(
        error.len() < 1000,
        "error message is too long: {}",
        error.len()
    );
}

#[tokio::test]
async fn hostile_bodies_get_json_400s() {
    let t = TestSim::spawn().await;
    let huge_user = json!({"appid": APP_A, "user": "x".repeat(20_000)}).to_string();
    let cases: Vec<(&str, String)> = vec![
        ("/_sim/v1/login_codes", String::new()),
        ("/_sim/v1/login_codes", "not json".into()),
        ("/_sim/v1/login_codes", "[1,2,3]".into()),
        ("/_sim/v1/login_codes", "null".into()),
        (
            "/_sim/v1/login_codes",
            r#"{"appid": 5, "user": "alice"}"#.into(),
        ),
        ("/_sim/v1/login_codes", r#"{"appid": "wx1"}"#.into()),
        (
            "/_sim/v1/login_codes",
            format!(r#"{{"appid": "{APP_A}", "user": ""}}"#),
        ),
        ("/_sim/v1/login_codes", huge_user),
        (
            "/_sim/v1/login_codes",
            format!(r#"{{"appid": "{APP_A}", "user": "a", "count": 0}}"#),
        ),
        (
            "/_sim/v1/login_codes",
            format!(r#"{{"appid": "{APP_A}", "user": "a", "count": 10001}}"#),
        ),
        (
            "/_sim/v1/login_codes",
            format!(r#"{{"appid": "{APP_A}", "user": "a", "count": -1}}"#),
        ),
        (
            "/_sim/v1/login_codes",
            format!(r#"{{"appid": "{APP_A}", "user": "a", "count": "5"}}"#),
        ),
        (
            "/_sim/v1/phone_codes",
            format!(r#"{{"appid": "{APP_A}", "user": "a"}}"#),
        ),
        (
            "/_sim/v1/phone_codes",
            format!(r#"{{"appid": "{APP_A}", "user": "a", "phone": 8613800138000}}"#),
        ),
        (
            "/_sim/v1/encrypted_phone",
            format!(r#"{{"appid": "{APP_A}", "user": "a", "phone": "x"}}"#),
        ),
        (
            "/_sim/v1/faults",
            r#"{"api": "jsCode2Session", "errcode": -1}"#.into(),
        ),
        (
            "/_sim/v1/faults",
            r#"{"api": "nope", "errcode": -1}"#.into(),
        ),
        ("/_sim/v1/faults", r#"{"errcode": -1}"#.into()),
        (
            "/_sim/v1/faults",
            r#"{"api": "token", "errcode": "-1"}"#.into(),
        ),
        (
            "/_sim/v1/faults",
            r#"{"api": "token", "errcode": -1, "times": -3}"#.into(),
        ),
        (
            "/_sim/v1/faults",
            r#"{"api": "token", "errcode": -1, "times": 0}"#.into(),
        ),
        (
            "/_sim/v1/faults",
            r#"{"api": "token", "errcode": -1, "delay_ms": -5}"#.into(),
        ),
        (
            "/_sim/v1/faults",
            r#"{"api": "token", "errcode": -1, "delay_ms": 99999999999}"#.into(),
        ),
        (
            "/_sim/v1/faults",
            r#"{"api": "token", "errcode": 1e400}"#.into(),
        ),
        (
            "/_sim/v1/faults",
            r#"{"api": "token", "errcode": 99999999999999999999}"#.into(),
        ),
        (
            "/_sim/v1/faults",
            r#"{"api": "token", "transport": "smoke"}"#.into(),
        ),
        (
            "/_sim/v1/faults",
            r#"{"api": "token", "errcode": -1, "transport": "hang"}"#.into(),
        ),
        (
            "/_sim/v1/faults",
            r#"{"api": "token", "probability": 2}"#.into(),
        ),
        (
            "/_sim/v1/faults",
            r#"{"api": "token", "probability": 0}"#.into(),
        ),
        ("/_sim/v1/clock", r#"{"advance_secs": -10}"#.into()),
        ("/_sim/v1/clock", r#"{"advance_secs": 1e30}"#.into()),
        (
            "/_sim/v1/clock",
            r#"{"advance_secs": 18446744073709551615}"#.into(),
        ),
        ("/_sim/v1/clock", "{}".into()),
        ("/_sim/v1/tokens/invalidate", r#"{"appid": ["wx"]}"#.into()),
        ("/_sim/v1/identity", "{\"appid\": \"".repeat(200)),
    ];
    for (path, body) in &cases {
        assert_refused(&t, Method::POST, path, Some(body), 400).await;
    }
    // Nothing above changed the clock or queued a fault.
    assert_eq!(t.sim().clock().offset(), Duration::ZERO);
    assert!(t.token(APP_A).await.get("access_token").is_some());
}

#[tokio::test]
async fn unknown_apps_and_routes_get_json_404s_and_wrong_methods_405s() {
    let t = TestSim::spawn().await;
    let unknown_app = r#"{"appid": "wx_unknown", "user": "alice", "phone": "+8613800138000"}"#;

    for path in [
        "/_sim/v1/login_codes",
        "/_sim/v1/phone_codes",
        "/_sim/v1/encrypted_phone",
        "/_sim/v1/identity",
    ] {
        assert_refused(&t, Method::POST, path, Some(unknown_app), 404).await;
    }
    for path in [
        "/_sim/v1/nope",
        "/_sim/v1",
        "/_sim/v1/",
        "/_sim/v1/stats/",
        "/_sim/v2/stats",
        "/_sim",
    ] {
        assert_refused(&t, Method::GET, path, None, 404).await;
    }
    assert_refused(&t, Method::POST, "/_sim/v1/Stats", Some("{}"), 404).await;
    assert_refused(&t, Method::GET, "/_sim/v1/login_codes", None, 405).await;
    assert_refused(&t, Method::PUT, "/_sim/v1/faults", Some("{}"), 405).await;
    assert_refused(&t, Method::POST, "/_sim/v1/stats", Some("{}"), 405).await;
}

#[tokio::test]
async fn an_oversized_body_gets_a_json_413() {
    let t = TestSim::spawn().await;
    let body = json!({"appid": APP_A, "user": "x".repeat(70_000)}).to_string();

    assert_refused(&t, Method::POST, "/_sim/v1/login_codes", Some(&body), 413).await;
}

#[tokio::test]
async fn unknown_fields_are_ignored() {
    let t = TestSim::spawn().await;

    let reply: Value = t
        .control_ok(
            "/_sim/v1/login_codes",
            json!({"appid": APP_A, "user": "alice", "extra": [1, {"a": null}]}),
        )
        .await;

    assert!(reply.get("code").is_some());
}
