//! Each errcode the simulator produces, through the client (its [`Errcode`] and [`Outcome`])
//! and through the adapter (the port's [`WeChatFailure`]), plus the hard no-retry rule.

use std::collections::HashMap;
use std::time::Duration;

use wxlogin_core::ids::AppId;
use wxlogin_core::secret::{AppSecret, LoginCode, PhoneCode, WxAccessToken};
use wxlogin_core::wechat::{WeChatApi, WeChatFailure};
use wxlogin_wechat::{Errcode, Outcome, PhoneNumberError, WeChatAdapter};
use wxlogin_wechat_sim::{Api, Fault, Transport};

use crate::support::{APP, TestEnv, assert_free_of};

async fn login_failure(env: &TestEnv, adapter: &WeChatAdapter) -> WeChatFailure {
    let (code, raw) = env.login_code("alice");
    let failure = adapter
        .code_to_session(&TestEnv::app(), code)
        .await
        .expect_err("the login fails");
    assert_free_of(&failure, &[&raw]);
    failure
}

#[tokio::test]
async fn an_unknown_login_code_is_40029_code_invalid() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();

    let failure = adapter
        .code_to_session(&TestEnv::app(), LoginCode::new("never-issued"))
        .await
        .unwrap_err();

    assert_eq!(failure, WeChatFailure::CodeInvalid { errcode: 40029 });
}

#[tokio::test]
async fn a_phone_code_used_as_a_login_code_is_40029() {
    let env = TestEnv::spawn().await;
    let (_, raw) = env.phone_code("alice");

    let error = env
        .client
        .code_to_session(
            &TestEnv::app(),
            &TestEnv::secret(),
            LoginCode::new(raw.as_str()),
        )
        .await
        .unwrap_err();

    assert_eq!(error.errcode(), Some(Errcode::InvalidCode));
    assert_eq!(error.outcome(), Outcome::Relogin);
}

#[tokio::test]
async fn a_replayed_login_code_is_40163_code_used() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    let (code, raw) = env.login_code("alice");
    adapter
        .code_to_session(&TestEnv::app(), code)
        .await
        .unwrap();

    let failure = adapter
        .code_to_session(&TestEnv::app(), LoginCode::new(raw.as_str()))
        .await
        .unwrap_err();

    assert_eq!(failure, WeChatFailure::CodeUsed { errcode: 40163 });
}

#[tokio::test]
async fn an_empty_login_code_is_41008_code_invalid() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();

    let failure = adapter
        .code_to_session(&TestEnv::app(), LoginCode::new(""))
        .await
        .unwrap_err();

    assert_eq!(failure, WeChatFailure::CodeInvalid { errcode: 41008 });
}

#[tokio::test]
async fn a_wrong_app_secret_is_40125_a_config_error() {
    let env = TestEnv::spawn().await;
    let apps = HashMap::from([(TestEnv::app(), AppSecret::new("not-the-secret"))]);
    let adapter = WeChatAdapter::in_process(env.client.clone(), apps);
    let (code, _) = env.login_code("alice");

    let failure = adapter
        .code_to_session(&TestEnv::app(), code)
        .await
        .unwrap_err();
    let (phone, _) = env.phone_code("alice");
    let phone_failure = adapter
        .phone_number(&TestEnv::app(), phone, None)
        .await
        .unwrap_err();

    assert_eq!(failure, WeChatFailure::Other { errcode: 40125 });
    assert_eq!(phone_failure, WeChatFailure::Other { errcode: 40125 });
    assert_eq!(
        env.calls("getuserphonenumber"),
        0,
        "no token, no phone call"
    );
}

#[tokio::test]
async fn an_appid_wechat_does_not_know_is_40013_a_config_error() {
    let env = TestEnv::spawn().await;
    let stranger = AppId::parse("wx9999999999999999").unwrap();

    let error = env
        .client
        .code_to_session(&stranger, &TestEnv::secret(), LoginCode::new("c"))
        .await
        .unwrap_err();
    let token_error = env
        .client
        .stable_token(&stranger, &TestEnv::secret(), false)
        .await
        .unwrap_err();

    assert_eq!(error.errcode(), Some(Errcode::InvalidAppid));
    assert_eq!(error.outcome(), Outcome::Config);
    assert_eq!(token_error.errcode(), Some(Errcode::InvalidAppid));
    assert_eq!(
        env.calls("stable_token"),
        1,
        "a config error is not retried"
    );
}

#[tokio::test]
async fn an_appid_we_have_no_secret_for_is_other_40013_and_nothing_is_sent() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    let stranger = AppId::parse("wx9999999999999999").unwrap();

    let login = adapter
        .code_to_session(&stranger, LoginCode::new("c"))
        .await
        .unwrap_err();
    let phone = adapter
        .phone_number(&stranger, PhoneCode::new("c"), None)
        .await
        .unwrap_err();

    assert_eq!(login, WeChatFailure::Other { errcode: 40013 });
    assert_eq!(phone, WeChatFailure::Other { errcode: 40013 });
    for api in ["jscode2session", "stable_token", "getuserphonenumber"] {
        assert_eq!(env.calls(api), 0, "{api}");
    }
}

#[tokio::test]
async fn forced_41002_maps_to_a_config_error() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    env.fault(Api::Jscode2session, 41002, 1);

    let failure = login_failure(&env, &adapter).await;

    assert_eq!(failure, WeChatFailure::Other { errcode: 41002 });
}

#[tokio::test]
async fn forced_system_error_is_unavailable() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    env.fault(Api::Jscode2session, -1, 1);

    let failure = login_failure(&env, &adapter).await;

    assert_eq!(failure, WeChatFailure::Unavailable { errcode: Some(-1) });
}

#[tokio::test]
async fn forced_45011_is_rate_limited() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    env.fault(Api::Jscode2session, 45011, 1);

    let failure = login_failure(&env, &adapter).await;

    assert_eq!(failure, WeChatFailure::RateLimited { errcode: 45011 });
}

/// 45009 is the *daily* quota: rate limited too (issue #6), with a Retry-After to WeChat's
/// next day set by core.
#[tokio::test]
async fn forced_45009_daily_quota_is_rate_limited() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    env.fault(Api::Jscode2session, 45009, 1);

    let failure = login_failure(&env, &adapter).await;

    assert_eq!(failure, WeChatFailure::RateLimited { errcode: 45009 });
}

#[tokio::test]
async fn forced_40226_is_blocked() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    env.fault(Api::Jscode2session, 40226, 1);

    let failure = login_failure(&env, &adapter).await;

    assert_eq!(failure, WeChatFailure::Blocked { errcode: 40226 });
}

#[tokio::test]
async fn a_transport_fault_on_login_is_unavailable_without_an_errcode() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    env.sim()
        .inject_fault(Fault::transport(Api::Jscode2session, Transport::Http500));

    let failure = login_failure(&env, &adapter).await;

    assert_eq!(failure, WeChatFailure::Unavailable { errcode: None });
}

#[tokio::test]
async fn a_faulted_code_exchange_is_sent_once_and_the_code_still_works_afterwards() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    // Answered before processing, as WeChat does when busy: the code itself stays unused.
    env.fault(Api::Jscode2session, -1, 1);
    let (code, raw) = env.login_code("alice");

    let failure = adapter
        .code_to_session(&TestEnv::app(), code)
        .await
        .unwrap_err();

    assert_eq!(failure, WeChatFailure::Unavailable { errcode: Some(-1) });
    assert_eq!(
        env.calls("jscode2session"),
        1,
        "the adapter must not resend the code"
    );
    let session = adapter
        .code_to_session(&TestEnv::app(), LoginCode::new(raw.as_str()))
        .await
        .unwrap();
    assert_eq!(session.openid.as_str(), env.sim().openid_of(APP, "alice"));
    assert_eq!(env.calls("jscode2session"), 2);
}

#[tokio::test]
async fn three_queued_faults_cost_one_call_per_login_attempt() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    env.fault(Api::Jscode2session, -1, 3);

    for expected_calls in 1..=3 {
        let failure = login_failure(&env, &adapter).await;
        assert_eq!(failure, WeChatFailure::Unavailable { errcode: Some(-1) });
        assert_eq!(env.calls("jscode2session"), expected_calls);
    }
    assert_eq!(env.calls_with("jscode2session", "-1"), 3);
}

#[tokio::test]
async fn an_unknown_or_reused_phone_code_is_40029_and_not_resent() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    let (code, raw) = env.phone_code("alice");
    adapter
        .phone_number(&TestEnv::app(), code, None)
        .await
        .unwrap();

    let reused = adapter
        .phone_number(&TestEnv::app(), PhoneCode::new(raw.as_str()), None)
        .await
        .unwrap_err();
    let unknown = adapter
        .phone_number(&TestEnv::app(), PhoneCode::new("never-issued"), None)
        .await
        .unwrap_err();

    assert_eq!(reused, WeChatFailure::CodeInvalid { errcode: 40029 });
    assert_eq!(unknown, WeChatFailure::CodeInvalid { errcode: 40029 });
    assert_eq!(env.calls("getuserphonenumber"), 3);
}

#[tokio::test]
async fn a_token_the_simulator_killed_is_40001_token_outcome() {
    let env = TestEnv::spawn().await;
    let token = env
        .client
        .stable_token(&TestEnv::app(), &TestEnv::secret(), false)
        .await
        .unwrap()
        .token;
    env.sim().invalidate_tokens(APP).unwrap();
    let (code, raw) = env.phone_code("alice");

    let error = env
        .client
        .get_user_phone_number(&token, code, None)
        .await
        .unwrap_err();

    let PhoneNumberError::TokenRefused { error, code } = error else {
        panic!("expected TokenRefused, got {error:?}");
    };
    assert_eq!(error.errcode(), Some(Errcode::InvalidCredential));
    assert_eq!(error.outcome(), Outcome::Token);
    assert_eq!(code.expose_secret(), raw);
    assert_free_of(&error, &[&raw, token.expose_secret()]);
}

#[tokio::test]
async fn an_expired_token_is_42001_token_outcome() {
    let env = TestEnv::spawn().await;
    let token = env
        .client
        .stable_token(&TestEnv::app(), &TestEnv::secret(), false)
        .await
        .unwrap()
        .token;
    env.sim().clock().advance(Duration::from_secs(7201));
    let (code, _) = env.phone_code("alice");

    let error = env
        .client
        .get_user_phone_number(&token, code, None)
        .await
        .unwrap_err();

    assert!(
        matches!(&error, PhoneNumberError::TokenRefused { error, .. }
            if error.errcode() == Some(Errcode::AccessTokenExpired)),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_unknown_token_on_checksession_is_40001() {
    let env = TestEnv::spawn().await;
    let (code, _) = env.login_code("alice");
    let session = env
        .client
        .code_to_session(&TestEnv::app(), &TestEnv::secret(), code)
        .await
        .unwrap();

    let error = env
        .client
        .check_session(
            &WxAccessToken::new("forged"),
            &session.openid,
            &session.session_key,
        )
        .await
        .unwrap_err();

    assert_eq!(error.errcode(), Some(Errcode::InvalidCredential));
    assert_free_of(&error, &["forged", session.session_key.expose_secret()]);
}
