//! `POST /v1/login`: who the code's identity is, and what is stored for it.

use wxlogin_core::AuthError;
use wxlogin_core::crypto::HandleHash;
use wxlogin_core::ports::{SessionStore, UserStore};
use wxlogin_core::wechat::WeChatFailure;
use wxlogin_testkit::fakes::session;

use crate::harness::{APP, Harness, KEY, OTHER_APP, T0, app, openid, refused};

#[tokio::test]
async fn a_new_identity_gets_a_session_and_is_not_registered() {
    let h = Harness::new();
    h.wechat.login("c1", session("o-new", None, KEY));

    let view = h.login("c1").await.unwrap();

    assert!(!view.registered);
    assert!(view.user.is_none() && view.tokens.is_none());
    assert_eq!(view.session_expires_in, 30 * 24 * 3600);
    let stored = h.store.sessions();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].hash, HandleHash::of(&view.session));
    assert_eq!(stored[0].identity.openid.as_str(), "o-new");
    assert_eq!(stored[0].expires_at.unix_timestamp(), T0 + 30 * 24 * 3600);
    let keys = h
        .store
        .session_keys(&app(APP), &stored[0].identity.openid)
        .await;
    assert!(
        keys.unwrap().is_some(),
        "the session_key is kept for legacy data"
    );
    assert!(h.store.users().is_empty());
}

#[tokio::test]
async fn a_known_user_is_signed_in_with_tokens_and_a_new_family() {
    let h = Harness::new();
    let (alice, _) = h.registered("o-alice", "13800138000").await;
    h.advance(60);
    h.wechat.login("c2", session("o-alice", None, KEY));

    let view = h.login("c2").await.unwrap();

    assert!(view.registered);
    assert_eq!(view.user.unwrap().user_id, alice.as_str());
    let tokens = view.tokens.unwrap();
    let claims = h.service.authenticate(&tokens.access_token).await.unwrap();
    assert_eq!(
        (claims.sub.as_str(), claims.appid.as_str()),
        (alice.as_str(), APP)
    );
    let families = h.store.families_of(&alice);
    assert_eq!(families.len(), 2, "registration's and this login's");
    let newest = &families
        .iter()
        .find(|f| f.family.id.as_str() == claims.sid)
        .unwrap();
    let stored = h.store.tokens_of(&newest.family.id);
    assert_eq!(stored[0].token.hash, HandleHash::of(&tokens.refresh_token));
    let user = h.store.user(&alice).await.unwrap().unwrap();
    assert_eq!(user.last_login_at.unwrap().unix_timestamp(), T0 + 60);
}

#[tokio::test]
async fn a_user_known_by_unionid_in_another_app_signs_in_and_is_bound_here() {
    let h = Harness::new();
    h.wechat
        .login("c1", session("o-alice-1", Some("u-alice"), KEY));
    let first = h.login("c1").await.unwrap();
    let ticket = h.ticket(&first.session, "13800138000").await;
    let alice = h
        .service
        .register(&ticket, Default::default())
        .await
        .unwrap();
    h.wechat
        .login("c2", session("o-alice-2", Some("u-alice"), KEY));

    let view = h.login_in(OTHER_APP, "c2").await.unwrap();

    assert!(view.registered);
    assert_eq!(view.user.unwrap().user_id, alice.user.user_id);
    let bound = h
        .store
        .user_by_identity(&app(OTHER_APP), &openid("o-alice-2"))
        .await;
    assert_eq!(bound.unwrap().unwrap().id.as_str(), alice.user.user_id);
    assert_eq!(
        h.store.event_kinds().last(),
        Some(&"identity.bound"),
        "the new binding is announced"
    );
}

#[tokio::test]
async fn a_disabled_user_is_refused_and_nothing_is_stored() {
    let h = Harness::new();
    let (alice, _) = h.registered("o-alice", "13800138000").await;
    h.disable(&alice).await;
    let families_before = h.store.families_of(&alice).len();
    h.wechat.login("c2", session("o-alice", None, KEY));

    let refusal = refused(h.login("c2").await);

    assert_eq!(refusal, AuthError::UserDisabled);
    assert!(
        h.store.sessions().is_empty(),
        "disabling closed the old one; no new one"
    );
    assert_eq!(h.store.families_of(&alice).len(), families_before);
}

#[tokio::test]
async fn a_code_sent_twice_gets_the_same_outcome_and_reaches_wechat_once() {
    let h = Harness::new();
    h.wechat.login("c1", session("o-new", None, KEY));

    let first = h.login("c1").await.unwrap();
    let second = h.login("c1").await.unwrap();

    assert_eq!(first.session, second.session);
    assert_eq!(h.wechat.login_calls_with("c1"), 1);
    assert_eq!(h.store.sessions().len(), 1);
}

#[tokio::test]
async fn wechat_refusals_become_the_contracts_errors() {
    let h = Harness::new();
    let cases = [
        (
            WeChatFailure::CodeInvalid { errcode: 40029 },
            AuthError::LoginCodeInvalid {
                wechat_errcode: Some(40029),
            },
        ),
        (
            WeChatFailure::CodeUsed { errcode: 40163 },
            AuthError::LoginCodeUsed {
                wechat_errcode: Some(40163),
            },
        ),
        (
            WeChatFailure::RateLimited { errcode: 45011 },
            AuthError::RateLimited {
                wechat_errcode: Some(45011),
                retry_after: std::time::Duration::from_secs(60),
            },
        ),
        (
            WeChatFailure::Unavailable { errcode: Some(-1) },
            AuthError::WeChatUnavailable {
                wechat_errcode: Some(-1),
            },
        ),
    ];
    for (failure, expected) in cases {
        let code = h.fresh_code("refused");
        h.wechat.login_fails(&code, failure.clone());

        assert_eq!(refused(h.login(&code).await), expected, "{failure:?}");
    }
    assert!(h.store.sessions().is_empty());
}

#[tokio::test]
async fn a_store_failure_after_wechat_answered_keeps_the_answer_for_the_retry() {
    let h = Harness::new();
    h.wechat.login("c1", session("o-new", None, KEY));
    h.store.fail_next("record_login");

    let outage = refused(h.login("c1").await);
    let retry = h.login("c1").await.unwrap();

    assert!(matches!(outage, AuthError::Unavailable(_)), "{outage:?}");
    assert_eq!(
        h.wechat.login_calls_with("c1"),
        1,
        "WeChat has used the code up"
    );
    let stored = h.store.sessions();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].hash, HandleHash::of(&retry.session));
}

#[tokio::test]
async fn an_empty_or_overlong_code_never_reaches_wechat() {
    let h = Harness::new();
    for code in [String::new(), "c".repeat(129)] {
        let refusal = refused(h.login(&code).await);
        assert_eq!(
            refusal,
            AuthError::LoginCodeInvalid {
                wechat_errcode: None
            }
        );
    }
    assert_eq!(h.wechat.login_calls(), 0);
}
