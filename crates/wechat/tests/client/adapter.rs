//! The adapter: the core port end to end, including the one permitted phone resend.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use wxlogin_core::ids::AppId;
use wxlogin_core::secret::WxAccessToken;
use wxlogin_core::wechat::{WeChatApi, WeChatFailure};
use wxlogin_wechat::{AccessTokenSource, WeChatAdapter, WeChatError};
use wxlogin_wechat_sim::Api;

use crate::support::{APP, SECRET, TestEnv};

/// A token source that must never be used.
struct Untouchable;

#[async_trait]
impl AccessTokenSource for Untouchable {
    async fn get(&self, _: &AppId) -> Result<WxAccessToken, WeChatError> {
        panic!("the login path asked for an access token");
    }
    async fn invalidate_if(&self, _: &AppId, _: &WxAccessToken) {
        panic!("the login path touched the token source");
    }
}

#[tokio::test]
async fn login_never_touches_the_token_source() {
    let env = TestEnv::spawn().await;
    let adapter = WeChatAdapter::new(env.client.clone(), TestEnv::apps(), Arc::new(Untouchable));
    let (code, _) = env.login_code("alice");

    let session = adapter
        .code_to_session(&TestEnv::app(), code)
        .await
        .unwrap();

    assert_eq!(session.openid.as_str(), env.sim().openid_of(APP, "alice"));
    assert_eq!(env.calls("stable_token") + env.calls("token"), 0);
}

#[tokio::test]
async fn login_works_while_token_fetching_is_broken() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    env.fault(Api::StableToken, -1, 100);
    let (code, _) = env.login_code("alice");

    let session = adapter.code_to_session(&TestEnv::app(), code).await;

    assert!(session.is_ok(), "{session:?}");
}

#[tokio::test]
async fn the_phone_path_fetches_one_token_and_makes_one_call() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    let (code, _) = env.phone_code("alice");

    let phone = adapter
        .phone_number(&TestEnv::app(), code, None)
        .await
        .unwrap();

    assert_eq!(phone.pure_phone_number, "13800138000");
    assert_eq!(phone.country_code, "86");
    assert_eq!(env.calls("stable_token"), 1);
    assert_eq!(env.calls("getuserphonenumber"), 1);
}

#[tokio::test]
async fn a_token_killed_upstream_costs_one_refetch_and_one_resend_then_succeeds() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    let (warm_up, _) = env.phone_code("alice");
    adapter
        .phone_number(&TestEnv::app(), warm_up, None)
        .await
        .unwrap();
    env.sim().invalidate_tokens(APP).unwrap();
    let (code, _) = env.phone_code("alice");

    let phone = adapter.phone_number(&TestEnv::app(), code, None).await;

    assert!(phone.is_ok(), "{phone:?}");
    assert_eq!(env.calls("stable_token"), 2, "one extra token fetch");
    assert_eq!(env.calls("getuserphonenumber"), 3, "one extra phone call");
    assert_eq!(env.calls_with("getuserphonenumber", "40001"), 1);
}

#[tokio::test]
async fn a_token_expired_upstream_is_replaced_and_the_call_resent_once() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    let (warm_up, _) = env.phone_code("alice");
    adapter
        .phone_number(&TestEnv::app(), warm_up, None)
        .await
        .unwrap();
    // Only WeChat's clock moves: the manager still believes its token is fresh.
    env.sim().clock().advance(Duration::from_secs(7201));
    let (code, _) = env.phone_code("alice");

    let phone = adapter.phone_number(&TestEnv::app(), code, None).await;

    assert!(phone.is_ok(), "{phone:?}");
    assert_eq!(env.calls_with("getuserphonenumber", "42001"), 1);
    assert_eq!(env.calls("stable_token"), 2);
}

#[tokio::test]
async fn a_token_refused_twice_is_not_resent_a_third_time() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    env.fault(Api::GetUserPhoneNumber, 40001, 2);
    let (code, _) = env.phone_code("alice");

    let failure = adapter
        .phone_number(&TestEnv::app(), code, None)
        .await
        .unwrap_err();

    assert_eq!(failure, WeChatFailure::Other { errcode: 40001 });
    assert_eq!(env.calls("getuserphonenumber"), 2);
}

#[tokio::test]
async fn a_busy_phone_api_is_unavailable_and_the_code_is_not_resent() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    env.fault(Api::GetUserPhoneNumber, -1, 1);
    let (code, _) = env.phone_code("alice");

    let failure = adapter
        .phone_number(&TestEnv::app(), code, None)
        .await
        .unwrap_err();

    assert_eq!(failure, WeChatFailure::Unavailable { errcode: Some(-1) });
    assert_eq!(env.calls("getuserphonenumber"), 1);
}

#[tokio::test]
async fn a_rate_limited_phone_api_is_rate_limited() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    env.fault(Api::GetUserPhoneNumber, 45011, 1);
    let (code, _) = env.phone_code("alice");

    let failure = adapter
        .phone_number(&TestEnv::app(), code, None)
        .await
        .unwrap_err();

    assert_eq!(failure, WeChatFailure::RateLimited { errcode: 45011 });
    assert_eq!(env.calls("getuserphonenumber"), 1);
}

#[tokio::test]
async fn when_no_token_can_be_had_the_phone_api_is_never_called() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    env.fault(Api::StableToken, -1, 3);
    let (code, _) = env.phone_code("alice");

    let failure = adapter
        .phone_number(&TestEnv::app(), code, None)
        .await
        .unwrap_err();

    assert_eq!(failure, WeChatFailure::Unavailable { errcode: Some(-1) });
    assert_eq!(env.calls("getuserphonenumber"), 0);
}

#[tokio::test]
async fn the_adapter_prints_its_apps_but_no_secret() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();

    let shown = format!("{adapter:?}");

    assert!(shown.contains(APP), "{shown}");
    assert!(!shown.contains(SECRET), "{shown}");
}
