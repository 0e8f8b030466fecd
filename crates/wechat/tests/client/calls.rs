//! Every client call against the simulator, including its transport faults.

use std::time::Duration;

use wxlogin_core::ids::OpenId;
use wxlogin_core::secret::{LoginCode, SessionKey};
use wxlogin_wechat::{DecodeError, SessionKeyCheck, WeChatError};
use wxlogin_wechat_sim::{Api, Fault, SimApp, SimConfig, Transport};

use crate::support::{APP, TestEnv, assert_free_of};

#[tokio::test]
async fn code_to_session_returns_the_users_openid_unionid_and_current_session_key() {
    let env = TestEnv::spawn().await;
    let (code, _) = env.login_code("alice");

    let session = env
        .client
        .code_to_session(&TestEnv::app(), &TestEnv::secret(), code)
        .await
        .unwrap();

    assert_eq!(session.openid.as_str(), env.sim().openid_of(APP, "alice"));
    let unionid = env.sim().unionid_of(APP, "alice").unwrap();
    assert_eq!(session.unionid.unwrap().as_str(), unionid);
    let current = env.sim().current_session_key(APP, "alice").unwrap();
    assert_eq!(session.session_key.expose_secret(), current);
    assert_eq!(env.calls_with("jscode2session", "0"), 1);
}

#[tokio::test]
async fn an_app_without_an_open_platform_binding_gets_no_unionid() {
    let config = SimConfig::with_apps(vec![SimApp::new(APP, crate::support::SECRET)]);
    let env = TestEnv::spawn_with(config).await;
    let (code, _) = env.login_code("bob");

    let session = env
        .client
        .code_to_session(&TestEnv::app(), &TestEnv::secret(), code)
        .await
        .unwrap();

    assert!(session.unionid.is_none());
}

#[tokio::test]
async fn a_success_with_an_explicit_errcode_zero_is_still_a_success() {
    let env = TestEnv::spawn_with(SimConfig {
        jscode2session_errcode_zero: true,
        ..SimConfig::default()
    })
    .await;
    let (code, _) = env.login_code("carol");

    let session = env
        .client
        .code_to_session(&TestEnv::app(), &TestEnv::secret(), code)
        .await;

    assert!(session.is_ok(), "{session:?}");
}

#[tokio::test]
async fn stable_token_in_normal_mode_returns_the_same_token_twice() {
    let env = TestEnv::spawn().await;
    let (app, secret) = (TestEnv::app(), TestEnv::secret());

    let first = env.client.stable_token(&app, &secret, false).await.unwrap();
    let second = env.client.stable_token(&app, &secret, false).await.unwrap();

    assert_eq!(first.token, second.token);
    assert_eq!(first.expires_in, Duration::from_secs(7200));
    assert_eq!(env.calls("stable_token"), 2);
}

#[tokio::test]
async fn a_force_refresh_replaces_the_stable_token() {
    let env = TestEnv::spawn().await;
    let (app, secret) = (TestEnv::app(), TestEnv::secret());

    let first = env.client.stable_token(&app, &secret, false).await.unwrap();
    let forced = env.client.stable_token(&app, &secret, true).await.unwrap();

    assert!(first.token != forced.token);
}

#[tokio::test]
async fn token_issues_a_new_token_on_every_call() {
    let env = TestEnv::spawn().await;
    let (app, secret) = (TestEnv::app(), TestEnv::secret());

    let first = env.client.token(&app, &secret).await.unwrap();
    let second = env.client.token(&app, &secret).await.unwrap();

    assert!(first.token != second.token);
    assert_eq!(second.expires_in, Duration::from_secs(7200));
    assert_eq!(env.calls_with("token", "0"), 2);
}

#[tokio::test]
async fn the_phone_number_comes_back_normalised_with_a_string_country_code() {
    let env = TestEnv::spawn().await;
    let token = env
        .client
        .stable_token(&TestEnv::app(), &TestEnv::secret(), false)
        .await
        .unwrap();
    let (code, _) = env.phone_code("alice");

    let phone = env
        .client
        .get_user_phone_number(&token.token, code, None)
        .await
        .unwrap();

    assert_eq!(phone.phone_number, "13800138000");
    assert_eq!(phone.pure_phone_number, "13800138000");
    assert_eq!(phone.country_code, "86");
    assert_eq!(phone.watermark_appid, APP);
    assert!(phone.watermark_timestamp > 1_600_000_000);
}

#[tokio::test]
async fn a_numeric_country_code_is_normalised_to_the_same_string() {
    let env = TestEnv::spawn_with(SimConfig {
        country_code_as_number: true,
        ..SimConfig::default()
    })
    .await;
    let token = env
        .client
        .stable_token(&TestEnv::app(), &TestEnv::secret(), false)
        .await
        .unwrap();
    let (code, _) = env.phone_code("alice");

    let phone = env
        .client
        .get_user_phone_number(&token.token, code, None)
        .await
        .unwrap();

    assert_eq!(phone.country_code, "86");
}

#[tokio::test]
async fn the_phone_call_with_the_right_openid_succeeds() {
    let env = TestEnv::spawn().await;
    let token = env
        .client
        .stable_token(&TestEnv::app(), &TestEnv::secret(), false)
        .await
        .unwrap();
    let (code, _) = env.phone_code("alice");
    let openid = OpenId::parse(env.sim().openid_of(APP, "alice")).unwrap();

    let phone = env
        .client
        .get_user_phone_number(&token.token, code, Some(&openid))
        .await;

    assert!(phone.is_ok(), "{phone:?}");
}

#[tokio::test]
async fn check_session_accepts_the_current_key_and_flags_a_rotated_one_as_stale() {
    let env = TestEnv::spawn().await;
    let (app, secret) = (TestEnv::app(), TestEnv::secret());
    let token = env
        .client
        .stable_token(&app, &secret, false)
        .await
        .unwrap()
        .token;
    let (code, _) = env.login_code("alice");
    let old = env
        .client
        .code_to_session(&app, &secret, code)
        .await
        .unwrap();

    let fresh_check = env
        .client
        .check_session(&token, &old.openid, &old.session_key)
        .await;
    let (code, _) = env.login_code("alice");
    let new = env
        .client
        .code_to_session(&app, &secret, code)
        .await
        .unwrap();
    let old_check = env
        .client
        .check_session(&token, &old.openid, &old.session_key)
        .await;
    let new_check = env
        .client
        .check_session(&token, &new.openid, &new.session_key)
        .await;
    let wrong_key = SessionKey::new("AAAAAAAAAAAAAAAAAAAAAA==");
    let wrong_check = env
        .client
        .check_session(&token, &new.openid, &wrong_key)
        .await;

    assert_eq!(fresh_check.unwrap(), SessionKeyCheck::Current);
    assert_eq!(old_check.unwrap(), SessionKeyCheck::Stale);
    assert_eq!(new_check.unwrap(), SessionKeyCheck::Current);
    assert_eq!(wrong_check.unwrap(), SessionKeyCheck::Stale);
    assert_eq!(env.calls_with("checksession", "87009"), 2);
}

/// Runs one faulted jscode2session and checks the error is Unavailable-class and secret-free.
async fn faulted_login(env: &TestEnv, fault: Fault) -> WeChatError {
    env.sim().inject_fault(fault);
    let (code, raw) = env.login_code("alice");
    let error = env
        .client
        .code_to_session(&TestEnv::app(), &TestEnv::secret(), code)
        .await
        .expect_err("the fault fails the call");
    assert!(error.is_unavailable(), "{error:?}");
    assert_free_of(&error, &[&raw]);
    error
}

#[tokio::test]
async fn an_html_500_is_a_status_error() {
    let env = TestEnv::spawn().await;

    let error = faulted_login(
        &env,
        Fault::transport(Api::Jscode2session, Transport::Http500),
    )
    .await;

    assert!(matches!(error, WeChatError::Status(500)), "{error:?}");
}

#[tokio::test]
async fn truncated_json_is_a_decode_error() {
    let env = TestEnv::spawn().await;

    let error = faulted_login(
        &env,
        Fault::transport(Api::Jscode2session, Transport::TruncatedJson),
    )
    .await;

    assert!(
        matches!(
            error,
            WeChatError::Decode(DecodeError::Json {
                category: "eof",
                ..
            })
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_connection_reset_mid_reply_is_a_transport_error() {
    let env = TestEnv::spawn().await;

    let error = faulted_login(
        &env,
        Fault::transport(Api::Jscode2session, Transport::Reset),
    )
    .await;

    assert!(matches!(error, WeChatError::Transport(_)), "{error:?}");
}

#[tokio::test]
async fn a_call_dropped_after_a_hang_is_a_transport_error() {
    let env = TestEnv::spawn().await;
    let hang =
        Fault::transport(Api::Jscode2session, Transport::Hang).with_delay(Duration::from_millis(1));

    let error = faulted_login(&env, hang).await;

    assert!(matches!(error, WeChatError::Transport(_)), "{error:?}");
}

#[tokio::test]
async fn token_fetch_errors_from_the_simulator_carry_no_secret() {
    let env = TestEnv::spawn().await;
    env.sim()
        .inject_fault(Fault::transport(Api::StableToken, Transport::Reset).times(3));

    let error = env
        .client
        .stable_token(&TestEnv::app(), &TestEnv::secret(), false)
        .await
        .unwrap_err();

    assert!(matches!(error, WeChatError::Transport(_)), "{error:?}");
    assert_free_of(&error, &[]);
    assert_eq!(
        env.calls_with("stable_token", "reset"),
        3,
        "three attempts, then give up"
    );
}

#[tokio::test]
async fn an_empty_login_code_is_41008() {
    let env = TestEnv::spawn().await;

    let error = env
        .client
        .code_to_session(&TestEnv::app(), &TestEnv::secret(), LoginCode::new(""))
        .await
        .unwrap_err();

    assert_eq!(error.errcode().map(|e| e.code()), Some(41008));
}
