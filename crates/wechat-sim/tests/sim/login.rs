//! `/sns/jscode2session`, identities and the shape of WeChat's errors.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use wxlogin_wechat_sim::{SimConfig, SimHandle};

use crate::helpers::*;

fn query(appid: &str, secret: &str, code: &str, grant: &str) -> String {
    format!("/sns/jscode2session?appid={appid}&secret={secret}&js_code={code}&grant_type={grant}")
}

#[tokio::test]
async fn an_exchanged_code_returns_openid_session_key_and_unionid_without_errcode() {
    let t = TestSim::spawn().await;
    let code = t.login_code(APP_A, "alice").await;

    let reply = t.jscode2session(APP_A, &code).await;

    let obj = reply.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["openid", "session_key", "unionid"]);
    assert_eq!(
        str_field(&reply, "openid"),
        t.sim().openid_of(APP_A, "alice")
    );
    let key = str_field(&reply, "session_key");
    assert_eq!(key.len(), 24);
    assert_eq!(STANDARD.decode(key).unwrap().len(), 16);
}

#[tokio::test]
async fn a_reused_code_gets_40163() {
    let t = TestSim::spawn().await;
    let code = t.login_code(APP_A, "alice").await;
    t.jscode2session(APP_A, &code).await;

    let again = t.jscode2session(APP_A, &code).await;

    assert_eq!(errcode(&again), 40163);
    assert!(str_field(&again, "errmsg").starts_with("code been used, rid: "));
}

#[tokio::test]
async fn a_code_expires_after_300_seconds_with_40029() {
    let t = TestSim::spawn().await;
    let fresh = t.login_code(APP_A, "alice").await;
    let stale = t.login_code(APP_A, "alice").await;

    t.sim().clock().advance(Duration::from_secs(299));
    let in_time = t.jscode2session(APP_A, &fresh).await;
    t.sim().clock().advance(Duration::from_secs(2));
    let too_late = t.jscode2session(APP_A, &stale).await;

    assert!(in_time.get("errcode").is_none(), "{in_time}");
    assert_eq!(errcode(&too_late), 40029);
}

#[tokio::test]
async fn another_apps_code_gets_40029_and_stays_usable_for_its_own_app() {
    let t = TestSim::spawn().await;
    let code_of_b = t.login_code(APP_B, "alice").await;

    let wrong_app = t.jscode2session(APP_A, &code_of_b).await;
    let right_app = t.jscode2session(APP_B, &code_of_b).await;

    assert_eq!(errcode(&wrong_app), 40029);
    assert_eq!(
        str_field(&right_app, "openid"),
        t.sim().openid_of(APP_B, "alice")
    );
}

#[tokio::test]
async fn unknown_codes_and_phone_codes_get_40029() {
    let t = TestSim::spawn().await;
    let phone_code = t.phone_code(APP_A, "alice", "+8613800138000").await;

    let never_issued = t
        .jscode2session(APP_A, "0a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P")
        .await;
    let phone = t.jscode2session(APP_A, &phone_code).await;

    assert_eq!(errcode(&never_issued), 40029);
    assert_eq!(errcode(&phone), 40029);
}

#[tokio::test]
async fn credential_and_parameter_errors_follow_wechats_order() {
    let t = TestSim::spawn().await;
    let code = t.login_code(APP_A, "alice").await;
    let auth = "authorization_code";
    let cases: Vec<(String, i64)> = vec![
        (
            format!("/sns/jscode2session?secret={SECRET_A}&js_code={code}&grant_type={auth}"),
            41002,
        ),
        (query("", SECRET_A, &code, auth), 41002),
        (query("wx_not_configured", SECRET_A, &code, auth), 40013),
        (query("wx_not_configured", "wrong", "bad-code", "x"), 40013),
        (
            format!("/sns/jscode2session?appid={APP_A}&js_code={code}&grant_type={auth}"),
            41004,
        ),
        (query(APP_A, "wrong-secret", &code, auth), 40125),
        (query(APP_A, "wrong-secret", "bad-code", "x"), 40125),
        (query(APP_A, SECRET_A, &code, "client_credential"), 40002),
        (
            format!("/sns/jscode2session?appid={APP_A}&secret={SECRET_A}&js_code={code}"),
            40002,
        ),
        (query(APP_A, SECRET_A, "", auth), 41008),
        (
            format!("/sns/jscode2session?appid={APP_A}&secret={SECRET_A}&grant_type={auth}"),
            41008,
        ),
    ];
    for (path, expected) in cases {
        let reply = t.get(&path).await;
        assert_eq!(errcode(&reply), expected, "{path}");
    }
    // None of the refusals used the code.
    let ok = t.jscode2session(APP_A, &code).await;
    assert!(ok.get("errcode").is_none(), "{ok}");
}

#[tokio::test]
async fn unknown_query_parameters_such_as_an_access_token_are_ignored() {
    let t = TestSim::spawn().await;
    let code = t.login_code(APP_A, "alice").await;

    let path = format!(
        "{}&access_token=whatever&foo=bar",
        query(APP_A, SECRET_A, &code, "authorization_code")
    );
    let reply = t.get(&path).await;

    assert!(reply.get("errcode").is_none(), "{reply}");
}

#[tokio::test]
async fn unionids_are_equal_across_bound_apps_and_absent_for_unbound_ones() {
    let t = TestSim::spawn().await;

    let a = t.log_in(APP_A, "alice").await;
    let b = t.log_in(APP_B, "alice").await;
    let c = t.log_in(APP_C, "alice").await;
    let bob = t.log_in(APP_A, "bob").await;

    assert_eq!(a["unionid"], b["unionid"]);
    assert_ne!(a["openid"], b["openid"]);
    assert!(c.get("unionid").is_none(), "{c}");
    assert_ne!(a["unionid"], bob["unionid"]);
    for reply in [&a, &b, &bob] {
        let unionid = str_field(reply, "unionid");
        assert_eq!(unionid.len(), 28);
        assert!(unionid.starts_with('o'));
    }
}

#[tokio::test]
async fn openids_are_the_same_in_every_simulator_and_shaped_like_wechats() {
    let first = TestSim::spawn().await;
    let second = TestSim::spawn().await;

    let one = first.log_in(APP_A, "alice").await;
    let two = second.log_in(APP_A, "alice").await;

    assert_eq!(one["openid"], two["openid"]);
    assert_eq!(one["unionid"], two["unionid"]);
    let openid = str_field(&one, "openid");
    assert_eq!(openid.len(), 28);
    assert!(openid.starts_with('o'));
    assert!(
        openid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
}

#[tokio::test]
async fn a_seed_makes_codes_and_session_keys_reproducible() {
    let config = || SimConfig {
        seed: Some(7),
        ..test_config()
    };
    let first = TestSim::spawn_with(config()).await;
    let second = TestSim::spawn_with(config()).await;

    let code_one = first.login_code(APP_A, "alice").await;
    let code_two = second.login_code(APP_A, "alice").await;
    let key_one = first.jscode2session(APP_A, &code_one).await;
    let key_two = second.jscode2session(APP_A, &code_two).await;

    assert_eq!(code_one, code_two);
    assert_eq!(key_one["session_key"], key_two["session_key"]);
}

#[tokio::test]
async fn the_errcode_zero_switch_adds_errcode_and_errmsg_to_successes() {
    let t = TestSim::spawn_with(SimConfig {
        jscode2session_errcode_zero: true,
        ..test_config()
    })
    .await;

    let reply = t.log_in(APP_C, "alice").await;

    assert_eq!(reply["errcode"], 0);
    assert_eq!(reply["errmsg"], "ok");
    assert!(reply.get("openid").is_some());
}

fn assert_wechat_error(reply: &Value, errcode_expected: i64, text: &str) {
    assert_eq!(errcode(reply), errcode_expected);
    let errmsg = str_field(reply, "errmsg");
    let rid = errmsg
        .strip_prefix(&format!("{text}, rid: "))
        .unwrap_or_else(|| panic!("{errmsg:?}"));
    let words: Vec<&str> = rid.split('-').collect();
    assert_eq!(words.len(), 3, "{rid}");
    for word in words {
        assert_eq!(word.len(), 8, "{rid}");
        assert!(
            word.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
    }
}

#[tokio::test]
async fn unknown_and_wrong_case_paths_get_40066_with_a_rid() {
    let t = TestSim::spawn().await;

    for path in [
        "/sns/jsCode2Session?appid=x",
        "/nope",
        "/",
        "/wxa/CheckSession",
    ] {
        let reply = t.get(path).await;
        assert_wechat_error(&reply, 40066, "invalid url");
    }
}

#[tokio::test]
async fn error_bodies_are_http_200_json_with_section_9_texts_and_fresh_rids() {
    let t = TestSim::spawn().await;

    let first = t
        .get(&query("wx_unknown", "s", "c", "authorization_code"))
        .await;
    let second = t
        .get(&query("wx_unknown", "s", "c", "authorization_code"))
        .await;

    assert_wechat_error(&first, 40013, "invalid appid");
    assert_ne!(first["errmsg"], second["errmsg"]);
}

#[tokio::test]
async fn the_dev_app_is_known_by_default() {
    let t = TestSim::spawn_with(SimConfig::default()).await;
    let sim: &SimHandle = &t.handle;
    let code = sim
        .sim()
        .mint_login_code("wx0000000000000001", "alice")
        .unwrap();

    let reply = t
        .get(&query(
            "wx0000000000000001",
            "dev-secret-not-for-production",
            &code,
            "authorization_code",
        ))
        .await;

    assert!(reply.get("unionid").is_some(), "{reply}");
}
