//! The in-process token manager: caching, single flight, proactive refresh, invalidation by
//! value, and shared failures.

use std::time::Duration;

use futures::future::join_all;
use wxlogin_core::ids::AppId;
use wxlogin_core::secret::WxAccessToken;
use wxlogin_wechat::{AccessTokenSource, Errcode, WeChatError};
use wxlogin_wechat_sim::{Api, Fault, Transport};

use crate::support::{APP, TestEnv};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_callers_with_an_empty_cache_cause_one_fetch() {
    let env = TestEnv::spawn().await;
    let tokens = env.tokens();
    let app = TestEnv::app();

    let results = join_all((0..100).map(|_| {
        let (tokens, app) = (tokens.clone(), app.clone());
        tokio::spawn(async move { tokens.get(&app).await })
    }))
    .await;

    let first = results[0].as_ref().unwrap().as_ref().unwrap().clone();
    for result in results {
        assert!(result.unwrap().unwrap() == first);
    }
    assert_eq!(env.calls("stable_token"), 1);
}

#[tokio::test]
async fn a_cached_token_is_served_without_a_call() {
    let env = TestEnv::spawn().await;
    let tokens = env.tokens();

    let first = tokens.get(&TestEnv::app()).await.unwrap();
    env.advance(Duration::from_secs(6800));
    let later = tokens.get(&TestEnv::app()).await.unwrap();

    assert!(first == later);
    assert_eq!(env.calls("stable_token"), 1);
}

#[tokio::test]
async fn inside_the_refresh_window_callers_keep_the_old_token_while_one_fetch_runs() {
    let env = TestEnv::spawn().await;
    let tokens = env.tokens();
    let app = TestEnv::app();
    let old = tokens.get(&app).await.unwrap();

    // 299 s left: inside the 300 s margin, and inside WeChat's own renewal window.
    env.advance(Duration::from_secs(6901));
    let during = tokens.get(&app).await.unwrap();
    let also_during = tokens.get(&app).await.unwrap();
    tokens.settled(&app).await;
    let after = tokens.get(&app).await.unwrap();

    assert!(during == old, "the still-valid token is served at once");
    assert!(also_during == old);
    assert!(after != old, "the background fetch got WeChat's successor");
    assert_eq!(env.calls("stable_token"), 2, "exactly one refresh");
    env.advance(Duration::from_secs(6800));
    assert!(tokens.get(&app).await.unwrap() == after);
    assert_eq!(env.calls("stable_token"), 2);
}

#[tokio::test]
async fn an_expired_token_is_refetched_before_it_is_served() {
    let env = TestEnv::spawn().await;
    let tokens = env.tokens();
    let old = tokens.get(&TestEnv::app()).await.unwrap();

    env.advance(Duration::from_secs(7201));
    let fresh = tokens.get(&TestEnv::app()).await.unwrap();

    assert!(fresh != old);
    assert_eq!(env.calls("stable_token"), 2);
}

#[tokio::test]
async fn invalidating_the_refused_token_costs_exactly_one_refetch() {
    let env = TestEnv::spawn().await;
    let tokens = env.tokens();
    let app = TestEnv::app();
    let refused = tokens.get(&app).await.unwrap();
    env.sim().invalidate_tokens(APP).unwrap();

    tokens.invalidate_if(&app, &refused).await;
    let fresh = tokens.get(&app).await.unwrap();
    // A slow caller reports the same old token again: the fresh one must survive.
    tokens.invalidate_if(&app, &refused).await;
    let still = tokens.get(&app).await.unwrap();

    assert!(fresh != refused);
    assert!(still == fresh);
    assert_eq!(env.calls("stable_token"), 2);
}

#[tokio::test]
async fn invalidating_a_value_that_is_not_cached_changes_nothing() {
    let env = TestEnv::spawn().await;
    let tokens = env.tokens();
    let app = TestEnv::app();
    let cached = tokens.get(&app).await.unwrap();

    tokens
        .invalidate_if(&app, &WxAccessToken::new("some-older-token"))
        .await;
    tokens
        .invalidate_if(&AppId::parse("wx9999999999999999").unwrap(), &cached)
        .await;

    assert!(tokens.get(&app).await.unwrap() == cached);
    assert_eq!(env.calls("stable_token"), 1);
}

#[tokio::test]
async fn a_fetch_is_retried_on_system_errors_and_transport_faults() {
    let env = TestEnv::spawn().await;
    let tokens = env.tokens();
    env.fault(Api::StableToken, -1, 1);
    env.sim()
        .inject_fault(Fault::transport(Api::StableToken, Transport::Http500));

    let token = tokens.get(&TestEnv::app()).await;

    assert!(token.is_ok(), "{token:?}");
    assert_eq!(env.calls("stable_token"), 3);
    assert_eq!(env.calls_with("stable_token", "-1"), 1);
    assert_eq!(env.calls_with("stable_token", "http_500"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fetch_is_shared_by_every_waiting_caller() {
    let env = TestEnv::spawn().await;
    let tokens = env.tokens();
    let app = TestEnv::app();
    env.fault(Api::StableToken, -1, 3);

    let results = join_all((0..100).map(|_| {
        let (tokens, app) = (tokens.clone(), app.clone());
        tokio::spawn(async move { tokens.get(&app).await })
    }))
    .await;

    for result in results {
        let error = result.unwrap().unwrap_err();
        assert!(matches!(error, WeChatError::TokenRefresh(_)), "{error:?}");
        assert_eq!(error.errcode(), Some(Errcode::SystemError));
    }
    assert_eq!(
        env.calls("stable_token"),
        3,
        "one fetch of three attempts for everyone"
    );
    assert!(
        tokens.get(&app).await.is_ok(),
        "the next caller fetches again"
    );
}

#[tokio::test]
async fn an_appid_without_a_secret_is_not_configured() {
    let env = TestEnv::spawn().await;
    let tokens = env.tokens();

    let error = tokens
        .get(&AppId::parse("wx9999999999999999").unwrap())
        .await
        .unwrap_err();

    assert!(matches!(error, WeChatError::NotConfigured(_)), "{error:?}");
    assert_eq!(env.calls("stable_token"), 0);
}

#[tokio::test]
async fn the_manager_prints_no_token() {
    let env = TestEnv::spawn().await;
    let tokens = env.tokens();
    let token = tokens.get(&TestEnv::app()).await.unwrap();

    let shown = format!("{tokens:?}");

    assert!(!shown.contains(token.expose_secret()), "{shown}");
    assert!(!shown.contains(crate::support::SECRET), "{shown}");
    assert!(shown.contains(APP));
}
