//! `/cgi-bin/token`, `/cgi-bin/stable_token` and the checks of token-taking APIs.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use wxlogin_wechat_sim::SimConfig;

use crate::helpers::*;

/// What a token-taking API says about a token: 0 if it is accepted. The probe is a
/// checksession without openid, which a valid token turns into 40003.
async fn token_errcode(t: &TestSim, token: &str) -> i64 {
    let reply = t
        .get(&format!(
            "/wxa/checksession?access_token={token}&sig_method=hmac_sha256"
        ))
        .await;
    match errcode(&reply) {
        40003 => 0,
        other => other,
    }
}

fn access_token(reply: &Value) -> String {
    str_field(reply, "access_token").to_owned()
}

#[tokio::test]
async fn token_issues_a_new_token_each_call_and_the_previous_one_lives_300_seconds() {
    let t = TestSim::spawn().await;
    let first = t.token(APP_A).await;
    assert_eq!(first.as_object().unwrap().len(), 2, "{first}");
    assert_eq!(first["expires_in"], 7200);
    t.sim().clock().advance(Duration::from_secs(100));

    let second = t.token(APP_A).await;

    let (old, new) = (access_token(&first), access_token(&second));
    assert_ne!(old, new);
    t.sim().clock().advance(Duration::from_secs(299));
    assert_eq!(token_errcode(&t, &old).await, 0);
    t.sim().clock().advance(Duration::from_secs(1));
    assert_eq!(token_errcode(&t, &old).await, 40001);
    assert_eq!(token_errcode(&t, &new).await, 0);
}

#[tokio::test]
async fn a_token_past_7200_seconds_gets_42001() {
    let t = TestSim::spawn().await;
    let token = access_token(&t.token(APP_A).await);

    t.sim().clock().advance(Duration::from_secs(7199));
    let before = token_errcode(&t, &token).await;
    t.sim().clock().advance(Duration::from_secs(1));
    let after = token_errcode(&t, &token).await;

    assert_eq!(before, 0);
    assert_eq!(after, 42001);
}

#[tokio::test]
async fn the_40014_switch_reports_expired_tokens_as_40014() {
    let t = TestSim::spawn_with(SimConfig {
        expired_token_as_40014: true,
        ..test_config()
    })
    .await;
    let token = access_token(&t.token(APP_A).await);

    t.sim().clock().advance(Duration::from_secs(7200));

    assert_eq!(token_errcode(&t, &token).await, 40014);
}

#[tokio::test]
async fn token_refuses_bad_credentials_with_wechats_errcodes() {
    let t = TestSim::spawn().await;
    let cases = [
        (
            format!("/cgi-bin/token?grant_type=client_credential&secret={SECRET_A}"),
            41002,
        ),
        (
            "/cgi-bin/token?grant_type=client_credential&appid=wx_unknown&secret=x".to_owned(),
            40013,
        ),
        (
            format!("/cgi-bin/token?grant_type=client_credential&appid={APP_A}"),
            41004,
        ),
        (
            format!("/cgi-bin/token?grant_type=client_credential&appid={APP_A}&secret=wrong"),
            40001,
        ),
        (
            format!("/cgi-bin/token?grant_type=authorization_code&appid={APP_A}&secret={SECRET_A}"),
            40002,
        ),
        (
            format!("/cgi-bin/token?appid={APP_A}&secret={SECRET_A}"),
            40002,
        ),
    ];
    for (path, expected) in cases {
        assert_eq!(errcode(&t.get(&path).await), expected, "{path}");
    }
}

#[tokio::test]
async fn stable_token_returns_the_same_token_with_the_remaining_lifetime() {
    let t = TestSim::spawn().await;
    let first = t.stable_token(APP_A, false).await;
    t.sim().clock().advance(Duration::from_secs(1000));

    let again = t.stable_token(APP_A, false).await;

    assert_eq!(first["expires_in"], 7200);
    assert_eq!(again["access_token"], first["access_token"]);
    assert_eq!(again["expires_in"], 6200);
}

#[tokio::test]
async fn stable_token_renews_in_the_last_300_seconds_and_the_old_token_lives_out_its_time() {
    let t = TestSim::spawn().await;
    let old = access_token(&t.stable_token(APP_A, false).await);
    t.sim().clock().advance(Duration::from_secs(6899));
    let still_old = access_token(&t.stable_token(APP_A, false).await);
    t.sim().clock().advance(Duration::from_secs(1));

    let renewed = t.stable_token(APP_A, false).await;

    assert_eq!(still_old, old);
    assert_ne!(access_token(&renewed), old);
    assert_eq!(renewed["expires_in"], 7200);
    t.sim().clock().advance(Duration::from_secs(299));
    assert_eq!(token_errcode(&t, &old).await, 0);
    t.sim().clock().advance(Duration::from_secs(1));
    assert_eq!(token_errcode(&t, &old).await, 42001);
    assert_eq!(token_errcode(&t, &access_token(&renewed)).await, 0);
}

#[tokio::test]
async fn force_refresh_kills_the_current_token_and_is_ignored_within_30_seconds() {
    let t = TestSim::spawn().await;
    let normal = access_token(&t.stable_token(APP_A, false).await);

    let forced = access_token(&t.stable_token(APP_A, true).await);
    t.sim().clock().advance(Duration::from_secs(29));
    let too_soon = t.stable_token(APP_A, true).await;
    t.sim().clock().advance(Duration::from_secs(1));
    let spaced = access_token(&t.stable_token(APP_A, true).await);

    assert_ne!(forced, normal);
    assert_eq!(token_errcode(&t, &normal).await, 40001);
    assert_eq!(access_token(&too_soon), forced);
    assert_eq!(too_soon["expires_in"], 7171);
    assert_ne!(spaced, forced);
    assert_eq!(token_errcode(&t, &forced).await, 40001);
    assert_eq!(token_errcode(&t, &spaced).await, 0);
}

#[tokio::test]
async fn the_21st_force_refresh_of_a_day_gets_45009() {
    let t = TestSim::spawn().await;
    for _ in 0..20 {
        let reply = t.stable_token(APP_A, true).await;
        assert!(reply.get("access_token").is_some(), "{reply}");
        t.sim().clock().advance(Duration::from_secs(31));
    }

    let over = t.stable_token(APP_A, true).await;
    let normal = t.stable_token(APP_A, false).await;

    assert_eq!(errcode(&over), 45009);
    assert!(str_field(&over, "errmsg").starts_with("reach max api daily quota limit, rid: "));
    assert!(normal.get("access_token").is_some(), "{normal}");
}

#[tokio::test]
async fn daily_quotas_are_configurable_and_answer_45009() {
    let t = TestSim::spawn_with(SimConfig {
        token_daily_quota: 2,
        stable_token_daily_quota: 1,
        ..test_config()
    })
    .await;

    t.token(APP_A).await;
    t.token(APP_A).await;
    let token_over = t.token(APP_A).await;
    let other_app = t.token(APP_B).await;
    t.stable_token(APP_A, false).await;
    let stable_over = t.stable_token(APP_A, false).await;

    assert_eq!(errcode(&token_over), 45009);
    assert!(other_app.get("access_token").is_some());
    assert_eq!(errcode(&stable_over), 45009);
}

#[tokio::test]
async fn stable_token_accepts_only_a_json_post() {
    let t = TestSim::spawn().await;
    let query = format!("?grant_type=client_credential&appid={APP_A}&secret={SECRET_A}");

    let get = t.get(&format!("/cgi-bin/stable_token{query}")).await;
    let form = t
        .http
        .post(t.url("/cgi-bin/stable_token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credential&appid={APP_A}&secret={SECRET_A}"
        ))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let array = t
        .post(
            "/cgi-bin/stable_token",
            &json!(["client_credential", APP_A, SECRET_A]),
        )
        .await;
    let wrong_type = t
        .post(
            "/cgi-bin/stable_token",
            &json!({"grant_type": "client_credential", "appid": APP_A, "secret": SECRET_A, "force_refresh": "yes"}),
        )
        .await;

    for reply in [get, form, array, wrong_type] {
        assert_eq!(errcode(&reply), 47001, "{reply}");
    }
}

#[tokio::test]
async fn stable_token_refuses_bad_credentials_with_wechats_errcodes() {
    let t = TestSim::spawn().await;
    let cases = [
        (
            json!({"grant_type": "client_credential", "secret": SECRET_A}),
            41002,
        ),
        (
            json!({"grant_type": "client_credential", "appid": "wx_unknown", "secret": "x"}),
            40013,
        ),
        (
            json!({"grant_type": "client_credential", "appid": APP_A}),
            41004,
        ),
        (
            json!({"grant_type": "client_credential", "appid": APP_A, "secret": "wrong"}),
            40125,
        ),
        (json!({"appid": APP_A, "secret": SECRET_A}), 40002),
    ];
    for (body, expected) in cases {
        assert_eq!(
            errcode(&t.post("/cgi-bin/stable_token", &body).await),
            expected,
            "{body}"
        );
    }
}

#[tokio::test]
async fn the_two_token_endpoints_do_not_invalidate_each_other() {
    let t = TestSim::spawn().await;
    let stable = t.access_token(APP_A).await;
    let plain = access_token(&t.token(APP_A).await);

    // Reissuing plain tokens, past the overlap, leaves the stable token alone.
    t.token(APP_A).await;
    t.sim().clock().advance(Duration::from_secs(301));
    assert_eq!(token_errcode(&t, &plain).await, 40001);
    assert_eq!(token_errcode(&t, &stable).await, 0);

    // Force-refreshing the stable token leaves the current plain token alone.
    let current_plain = access_token(&t.token(APP_A).await);
    t.stable_token(APP_A, true).await;
    assert_eq!(token_errcode(&t, &stable).await, 40001);
    assert_eq!(token_errcode(&t, &current_plain).await, 0);
}

#[tokio::test]
async fn missing_and_unknown_tokens_get_41001_and_40001() {
    let t = TestSim::spawn().await;

    let missing = t.get("/wxa/checksession?sig_method=hmac_sha256").await;
    let empty = t
        .get("/wxa/checksession?access_token=&sig_method=hmac_sha256")
        .await;
    let unknown = token_errcode(&t, "not-a-token").await;

    assert_eq!(errcode(&missing), 41001);
    assert_eq!(errcode(&empty), 41001);
    assert_eq!(unknown, 40001);
}

#[tokio::test]
async fn a_token_in_the_body_instead_of_the_query_counts_as_missing() {
    let t = TestSim::spawn().await;
    let token = t.access_token(APP_A).await;
    let code = t.phone_code(APP_A, "alice", "+8613800138000").await;

    let reply = t
        .post(
            "/wxa/business/getuserphonenumber",
            &json!({"access_token": token, "code": code}),
        )
        .await;

    assert_eq!(errcode(&reply), 41001);
}

#[tokio::test]
async fn invalidating_an_apps_tokens_makes_clients_see_40001_until_they_refetch() {
    let t = TestSim::spawn().await;
    let stable = t.access_token(APP_A).await;
    let plain = access_token(&t.token(APP_A).await);
    let other = t.access_token(APP_B).await;

    let reply = t
        .control_ok("/_sim/v1/tokens/invalidate", json!({"appid": APP_A}))
        .await;

    assert_eq!(reply["invalidated"], 2);
    assert_eq!(token_errcode(&t, &stable).await, 40001);
    assert_eq!(token_errcode(&t, &plain).await, 40001);
    assert_eq!(token_errcode(&t, &other).await, 0);
    let refetched = t.access_token(APP_A).await;
    assert_ne!(refetched, stable);
    assert_eq!(token_errcode(&t, &refetched).await, 0);
    let (status, _) = t
        .control(
            Method::POST,
            "/_sim/v1/tokens/invalidate",
            Some(r#"{"appid":"wx_unknown"}"#),
        )
        .await;
    assert_eq!(status, 404);
}
