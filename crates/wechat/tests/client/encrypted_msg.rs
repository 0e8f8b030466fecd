//! `checkencryptedmsg` end to end: the client, its breaker, and the adapter's port method
//! with its one token resend.

use std::time::Duration;

use wxlogin_core::secret::WxAccessToken;
use wxlogin_core::wechat::{WeChatApi, WeChatFailure};
use wxlogin_core::wxcrypt::Payload;
use wxlogin_wechat::{BreakerState, Endpoint, Errcode, Outcome, WeChatAdapter};
use wxlogin_wechat_sim::Api;

use crate::support::{APP, PHONE, TestEnv, assert_free_of};

const API: &str = "checkencryptedmsg";

/// Logs `user` in through the client (the simulator encrypts under the current
/// session_key), has the simulator produce legacy phone data, and returns its hash.
async fn produced_hash(env: &TestEnv, user: &str) -> [u8; 32] {
    let (code, _) = env.login_code(user);
    env.client
        .code_to_session(&TestEnv::app(), &TestEnv::secret(), code)
        .await
        .expect("login gives the user a session_key");
    let (data, iv) = env
        .sim()
        .encrypted_phone(APP, user, PHONE)
        .expect("simulator produces legacy data");
    Payload::parse(&data, &iv)
        .expect("simulator's legacy data parses")
        .ciphertext_sha256()
}

async fn token(env: &TestEnv) -> WxAccessToken {
    env.client
        .stable_token(&TestEnv::app(), &TestEnv::secret(), false)
        .await
        .expect("simulator issues a token")
        .token
}

fn tampered(mut hash: [u8; 32]) -> [u8; 32] {
    hash[31] ^= 0x80;
    hash
}

#[tokio::test]
async fn the_client_is_told_a_produced_ciphertext_is_valid_and_when_it_was_made() {
    let env = TestEnv::spawn().await;
    let made_at = env.sim().clock().now_unix();
    let hash = produced_hash(&env, "alice").await;
    let token = token(&env).await;

    let check = env.client.check_encrypted_msg(&token, &hash).await.unwrap();

    assert!(check.valid);
    assert_eq!(check.create_time, Some(made_at));
    assert_eq!(env.calls_with(API, "0"), 1);
}

#[tokio::test]
async fn the_client_is_told_a_tampered_or_old_ciphertext_is_not_valid() {
    let env = TestEnv::spawn().await;
    let hash = produced_hash(&env, "alice").await;
    let token = token(&env).await;

    let forged = env
        .client
        .check_encrypted_msg(&token, &tampered(hash))
        .await
        .unwrap();
    env.sim()
        .clock()
        .advance(Duration::from_secs(3 * 86_400 + 1));
    let fresh_token = self::token(&env).await;
    let old = env
        .client
        .check_encrypted_msg(&fresh_token, &hash)
        .await
        .unwrap();

    assert!(!forged.valid);
    assert_eq!(forged.create_time, None);
    assert!(!old.valid);
}

#[tokio::test]
async fn a_refused_token_is_a_token_outcome_that_does_not_print_the_token() {
    let env = TestEnv::spawn().await;
    let hash = produced_hash(&env, "alice").await;
    let token = token(&env).await;
    env.sim().invalidate_tokens(APP).unwrap();

    let error = env
        .client
        .check_encrypted_msg(&token, &hash)
        .await
        .unwrap_err();

    assert_eq!(error.errcode(), Some(Errcode::InvalidCredential));
    assert_eq!(error.outcome(), Outcome::Token);
    assert_free_of(&error, &[token.expose_secret()]);
}

#[tokio::test]
async fn a_system_error_storm_opens_only_the_checkencryptedmsg_breaker() {
    let env = TestEnv::spawn().await;
    let token = token(&env).await;
    env.fault(Api::CheckEncryptedMsg, -1, 5);

    for _ in 0..5 {
        let _ = env.client.check_encrypted_msg(&token, &[7; 32]).await;
    }
    let refused = env
        .client
        .check_encrypted_msg(&token, &[7; 32])
        .await
        .unwrap_err();

    assert!(refused.is_circuit_open(), "{refused:?}");
    assert_eq!(
        env.client.breaker_state(Endpoint::CheckEncryptedMsg),
        BreakerState::Open
    );
    for other in [Endpoint::GetUserPhoneNumber, Endpoint::CheckSession] {
        assert_eq!(env.client.breaker_state(other), BreakerState::Closed);
    }
    assert_eq!(env.calls(API), 5, "the sixth call was not sent");
}

#[tokio::test]
async fn the_port_says_true_for_a_produced_ciphertext_and_false_for_a_forged_one() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    let hash = produced_hash(&env, "alice").await;

    let genuine = adapter.check_encrypted_msg(&TestEnv::app(), hash).await;
    let forged = adapter
        .check_encrypted_msg(&TestEnv::app(), tampered(hash))
        .await;

    assert_eq!(genuine, Ok(true));
    assert_eq!(forged, Ok(false));
    assert_eq!(env.calls("stable_token"), 1, "one token for both checks");
    assert_eq!(env.calls(API), 2);
}

#[tokio::test]
async fn a_token_killed_upstream_costs_the_port_one_refetch_and_one_resend() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    let hash = produced_hash(&env, "alice").await;
    adapter
        .check_encrypted_msg(&TestEnv::app(), hash)
        .await
        .unwrap();
    env.sim().invalidate_tokens(APP).unwrap();

    let valid = adapter.check_encrypted_msg(&TestEnv::app(), hash).await;

    assert_eq!(valid, Ok(true));
    assert_eq!(env.calls("stable_token"), 2, "one extra token fetch");
    assert_eq!(env.calls(API), 3, "one resend");
    assert_eq!(env.calls_with(API, "40001"), 1);
}

#[tokio::test]
async fn a_token_refused_twice_is_not_resent_a_third_time() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    env.fault(Api::CheckEncryptedMsg, 42001, 2);

    let failure = adapter
        .check_encrypted_msg(&TestEnv::app(), [1; 32])
        .await
        .unwrap_err();

    assert_eq!(failure, WeChatFailure::Other { errcode: 42001 });
    assert_eq!(env.calls(API), 2);
}

#[tokio::test]
async fn a_busy_or_rate_limited_check_is_reported_without_a_resend() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    env.fault(Api::CheckEncryptedMsg, -1, 1);
    env.fault(Api::CheckEncryptedMsg, 45011, 1);

    let busy = adapter.check_encrypted_msg(&TestEnv::app(), [1; 32]).await;
    let limited = adapter.check_encrypted_msg(&TestEnv::app(), [1; 32]).await;

    assert_eq!(busy, Err(WeChatFailure::Unavailable { errcode: Some(-1) }));
    assert_eq!(limited, Err(WeChatFailure::RateLimited { errcode: 45011 }));
    assert_eq!(env.calls(API), 2);
}

#[tokio::test]
async fn an_unconfigured_app_is_40013_and_nothing_is_sent() {
    let env = TestEnv::spawn().await;
    let adapter = WeChatAdapter::in_process(env.client.clone(), TestEnv::apps());
    let stranger = wxlogin_core::ids::AppId::parse("wx9999999999999999").unwrap();

    let failure = adapter.check_encrypted_msg(&stranger, [1; 32]).await;

    assert_eq!(failure, Err(WeChatFailure::Other { errcode: 40013 }));
    assert_eq!(env.calls(API) + env.calls("stable_token"), 0);
}
