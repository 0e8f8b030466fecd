//! `POST /v1/register`: a ticket creates one user, once, while it lives.

use wxlogin_core::AuthError;
use wxlogin_core::crypto::HandleHash;
use wxlogin_core::ports::UserStore;
use wxlogin_core::service::Profile;

use crate::harness::{APP, Harness, T0, app, openid, refused};

const PHONE: &str = "13800138000";

#[tokio::test]
async fn a_ticket_creates_the_user_bound_to_its_session_and_is_used_up() {
    let h = Harness::new();
    let session = h.session("o-alice").await;
    let ticket = h.ticket(&session, PHONE).await;
    h.advance(5);
    let profile = Profile {
        nickname: Some("Alice".into()),
        avatar_url: None,
    };

    let view = h.service.register(&ticket, profile).await.unwrap();

    assert_eq!(view.user.phone_masked, "+86 138****8000");
    let user = h
        .store
        .user_by_phone(&h.phone_hash(PHONE))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.id.as_str(), view.user.user_id);
    assert_eq!(user.nickname.as_deref(), Some("Alice"));
    assert_eq!(user.created_at.unix_timestamp(), T0 + 5);
    let bound = h
        .store
        .user_by_identity(&app(APP), &openid("o-alice"))
        .await;
    assert_eq!(bound.unwrap().unwrap().id, user.id);
    let used = h.store.ticket(&HandleHash::of(&ticket)).unwrap().used_at;
    assert_eq!(used.unwrap().unix_timestamp(), T0 + 5);
    assert_eq!(h.store.families_of(&user.id).len(), 1, "signed in at once");
    assert_eq!(h.store.event_kinds(), ["user.registered", "identity.bound"]);
}

#[tokio::test]
async fn a_used_ticket_registers_nobody_else() {
    let h = Harness::new();
    let session = h.session("o-alice").await;
    let ticket = h.ticket(&session, PHONE).await;
    h.service
        .register(&ticket, Profile::default())
        .await
        .unwrap();

    let again = refused(h.service.register(&ticket, Profile::default()).await);

    assert_eq!(again, AuthError::TicketInvalid);
    assert_eq!(h.store.users().len(), 1);
}

#[tokio::test]
async fn an_expired_ticket_registers_nobody() {
    let h = Harness::new();
    let session = h.session("o-alice").await;
    let ticket = h.ticket(&session, PHONE).await;
    h.advance(600);

    let refusal = refused(h.service.register(&ticket, Profile::default()).await);

    assert_eq!(refusal, AuthError::TicketInvalid);
    assert!(h.store.users().is_empty());
}

#[tokio::test]
async fn a_phone_registered_meanwhile_is_already_registered_and_the_ticket_stays_unused() {
    let h = Harness::new();
    let first = h.session("o-first").await;
    let second = h.session("o-second").await;
    let first_ticket = h.ticket(&first, PHONE).await;
    let second_ticket = h.ticket(&second, PHONE).await;
    h.service
        .register(&first_ticket, Profile::default())
        .await
        .unwrap();

    let refusal = refused(h.service.register(&second_ticket, Profile::default()).await);

    assert_eq!(refusal, AuthError::AlreadyRegistered);
    assert_eq!(h.store.users().len(), 1);
    let ticket = h.store.ticket(&HandleHash::of(&second_ticket)).unwrap();
    assert!(ticket.used_at.is_none());
}

#[tokio::test]
async fn a_profile_out_of_bounds_is_refused_and_the_ticket_stays_usable() {
    let h = Harness::new();
    let session = h.session("o-alice").await;
    let ticket = h.ticket(&session, PHONE).await;
    let too_long = Profile {
        nickname: Some("x".repeat(65)),
        avatar_url: None,
    };
    let plain_http = Profile {
        nickname: None,
        avatar_url: Some("http://cdn.example.com/a.png".into()),
    };

    for profile in [too_long, plain_http] {
        let refusal = refused(h.service.register(&ticket, profile).await);
        assert!(
            matches!(refusal, AuthError::InvalidRequest(_)),
            "{refusal:?}"
        );
    }

    assert!(h.store.users().is_empty());
    assert!(
        h.service
            .register(&ticket, Profile::default())
            .await
            .is_ok()
    );
}
