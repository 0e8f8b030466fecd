//! `POST /v1/token/refresh`: a refresh token rotates once; a second presentation revokes its
//! family.

use wxlogin_core::AuthError;
use wxlogin_core::crypto::HandleHash;
use wxlogin_core::ids::{FamilyId, UserId};

use crate::harness::{Harness, T0, refused};

/// A registered user, their first refresh token and its family.
async fn signed_in(h: &Harness) -> (UserId, String, FamilyId) {
    let (alice, view) = h.registered("o-alice", "13800138000").await;
    let family = h.store.families_of(&alice)[0].family.id.clone();
    (alice, view.tokens.refresh_token, family)
}

#[tokio::test]
async fn a_refresh_token_rotates_into_a_new_pair_in_its_family() {
    let h = Harness::new();
    let (alice, first, family) = signed_in(&h).await;
    h.advance(60);

    let view = h.service.refresh(&first).await.unwrap();

    let claims = h
        .service
        .authenticate(&view.tokens.access_token)
        .await
        .unwrap();
    assert_eq!(
        (claims.sub, claims.sid),
        (alice.to_string(), family.to_string())
    );
    let tokens = h.store.tokens_of(&family);
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[0].token.hash, HandleHash::of(&first));
    assert_eq!(tokens[0].used_at.unwrap().unix_timestamp(), T0 + 60);
    assert_eq!(
        tokens[1].token.hash,
        HandleHash::of(&view.tokens.refresh_token)
    );
    assert!(tokens[1].used_at.is_none());
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_its_family_and_the_newest_token_dies_with_it() {
    let h = Harness::new();
    let (alice, first, family) = signed_in(&h).await;
    let second = h.service.refresh(&first).await.unwrap().tokens;

    let reuse = refused(h.service.refresh(&first).await);
    let newest = refused(h.service.refresh(&second.refresh_token).await);

    assert_eq!(reuse, AuthError::RefreshTokenReused);
    assert_eq!(newest, AuthError::RefreshTokenInvalid);
    assert!(h.store.families_of(&alice)[0].revoked_at.is_some());
    assert_eq!(h.store.families_of(&alice)[0].family.id, family);
    let access = refused(h.service.authenticate(&second.access_token).await);
    assert_eq!(access, AuthError::Unauthenticated);
    assert_eq!(h.store.event_kinds().last(), Some(&"refresh_token.reused"));
}

#[tokio::test]
async fn an_expired_refresh_token_is_invalid() {
    let h = Harness::new();
    let (_, first, family) = signed_in(&h).await;
    h.advance(30 * 24 * 3600);

    let refusal = refused(h.service.refresh(&first).await);

    assert_eq!(refusal, AuthError::RefreshTokenInvalid);
    assert_eq!(h.store.tokens_of(&family).len(), 1, "nothing rotated");
}

#[tokio::test]
async fn a_refresh_token_of_a_logged_out_family_is_invalid() {
    let h = Harness::new();
    let (_, first, family) = signed_in(&h).await;
    let pair = h.service.refresh(&first).await.unwrap().tokens;
    h.service.logout(&pair.access_token, false).await.unwrap();

    let refusal = refused(h.service.refresh(&pair.refresh_token).await);

    assert_eq!(refusal, AuthError::RefreshTokenInvalid);
    assert_eq!(h.store.tokens_of(&family).len(), 2, "nothing rotated");
}

#[tokio::test]
async fn a_disabled_users_refresh_token_is_refused_as_user_disabled() {
    let h = Harness::new();
    let (alice, first, family) = signed_in(&h).await;
    h.disable(&alice).await;

    let refusal = refused(h.service.refresh(&first).await);

    assert_eq!(refusal, AuthError::UserDisabled);
    assert!(h.store.tokens_of(&family)[0].used_at.is_none());
}

#[tokio::test]
async fn an_unknown_refresh_token_is_invalid() {
    let h = Harness::new();
    signed_in(&h).await;

    let refusal = refused(h.service.refresh("wxr_never-issued").await);

    assert_eq!(refusal, AuthError::RefreshTokenInvalid);
}
