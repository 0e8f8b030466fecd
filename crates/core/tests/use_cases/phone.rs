//! `POST /v1/phone`: the proof (a phone code, or legacy encrypted data decrypted with the
//! login's session_key), then who the phone belongs to.

use wxlogin_core::crypto::HandleHash;
use wxlogin_core::ports::UserStore;
use wxlogin_core::secret::PhoneCode;
use wxlogin_core::service::PhoneProof;
use wxlogin_core::views::PhoneView;
use wxlogin_core::wechat::WeChatFailure;
use wxlogin_core::{AuthError, PhoneMatch};
use wxlogin_testkit::fakes::{phone, session};

use crate::harness::{APP, Harness, KEY, OTHER_APP, T0, app, openid, refused};

const ALICE_PHONE: &str = "13800138000";

/// A legacy phone vector of `testdata/wx-vectors.json` (made for [`APP`], watermarked at
/// [`T0`]): its session_key and the proof a client sends.
fn legacy_vector() -> (String, PhoneProof) {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/wx-vectors.json");
    let all: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let v = all
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "synthetic-phone-countrycode-string-1")
        .unwrap();
    let field = |k: &str| v[k].as_str().unwrap().to_owned();
    let proof = PhoneProof::Encrypted {
        encrypted_data: field("encrypted_data"),
        iv: field("iv"),
    };
    (field("session_key"), proof)
}

/// A session of `openid` in `appid` whose login gave the legacy vector's session_key.
async fn legacy_session(h: &Harness, appid: &str, openid: &str) -> (String, PhoneProof) {
    let (key, proof) = legacy_vector();
    let code = h.fresh_code("login");
    h.wechat.login(&code, session(openid, None, &key));
    (h.login_in(appid, &code).await.unwrap().session, proof)
}

fn ticket_of(view: PhoneView) -> (String, String) {
    match view {
        PhoneView::NotRegistered {
            registration_ticket,
            phone,
            ..
        } => (registration_ticket, phone.phone_number),
        PhoneView::Registered { .. } => panic!("expected a registration ticket"),
    }
}

#[tokio::test]
async fn an_unknown_phone_gets_a_registration_ticket_for_the_session() {
    let h = Harness::new();
    let session = h.session("o-new").await;

    let (ticket, phone) = ticket_of(h.phone_by_code(&session, ALICE_PHONE).await.unwrap());

    assert_eq!(phone, "+8613800138000");
    let stored = h.store.ticket(&HandleHash::of(&ticket)).unwrap();
    assert_eq!(stored.ticket.identity.openid.as_str(), "o-new");
    assert_eq!(stored.ticket.expires_at.unix_timestamp(), T0 + 600);
    assert!(stored.used_at.is_none());
    assert_eq!(
        h.wechat.phone_call_openids(),
        [Some(openid("o-new"))],
        "WeChat checks the code was issued to this user"
    );
    assert!(h.store.users().is_empty());
}

#[tokio::test]
async fn a_phone_code_watermarked_for_another_app_is_refused() {
    let h = Harness::new();
    let session = h.session("o-new").await;
    h.wechat
        .phone("p1", phone(OTHER_APP, "86", ALICE_PHONE, T0));

    let proof = PhoneProof::Code(PhoneCode::new("p1"));
    let refusal = refused(h.service.phone(&session, None, proof).await);

    assert_eq!(refusal, AuthError::AppidMismatch);
    assert!(h.store.tickets().is_empty());
}

#[tokio::test]
async fn a_phone_code_wechat_refuses_is_phone_code_invalid() {
    let h = Harness::new();
    let session = h.session("o-new").await;
    h.wechat
        .phone_fails("p1", WeChatFailure::CodeInvalid { errcode: 40029 });

    let proof = PhoneProof::Code(PhoneCode::new("p1"));
    let refusal = refused(h.service.phone(&session, None, proof).await);

    let expected = AuthError::PhoneCodeInvalid {
        wechat_errcode: Some(40029),
    };
    assert_eq!(refusal, expected);
}

#[tokio::test]
async fn a_registered_users_phone_signs_them_in_and_binds_the_session() {
    let h = Harness::new();
    let (alice, _) = h
        .registered_in(OTHER_APP, "o-alice-other", ALICE_PHONE)
        .await;
    let session = h.session("o-alice").await;

    let view = h.phone_by_code(&session, ALICE_PHONE).await.unwrap();

    let PhoneView::Registered { user, tokens, .. } = view else {
        panic!("expected a sign-in")
    };
    assert_eq!(user.user_id, alice.as_str());
    assert_eq!(user.phone_masked, "+86 138****8000");
    let claims = h.service.authenticate(&tokens.access_token).await.unwrap();
    assert_eq!(claims.appid, APP);
    let bound = h
        .store
        .user_by_identity(&app(APP), &openid("o-alice"))
        .await;
    assert_eq!(bound.unwrap().unwrap().id, alice);
    assert_eq!(h.store.families_of(&alice).len(), 2);
}

#[tokio::test]
async fn refuse_if_bound_refuses_a_second_wechat_account_of_the_app() {
    let h = Harness::new();
    h.registered("o-alice", ALICE_PHONE).await;
    let session = h.session("o-newcomer").await;

    let refusal = refused(h.phone_by_code(&session, ALICE_PHONE).await);

    assert_eq!(refusal, AuthError::PhoneBoundElsewhere);
    let bound = h
        .store
        .user_by_identity(&app(APP), &openid("o-newcomer"))
        .await;
    assert!(bound.unwrap().is_none(), "nothing is bound");
}

#[tokio::test]
async fn phone_match_sign_in_binds_the_second_account_and_signs_it_in() {
    let h = Harness::with(|s| s.phone_match = PhoneMatch::SignIn);
    let (alice, _) = h.registered("o-alice", ALICE_PHONE).await;
    let session = h.session("o-second").await;

    let view = h.phone_by_code(&session, ALICE_PHONE).await.unwrap();

    assert!(matches!(view, PhoneView::Registered { .. }));
    let bound = h
        .store
        .user_by_identity(&app(APP), &openid("o-second"))
        .await;
    assert_eq!(bound.unwrap().unwrap().id, alice);
    assert_eq!(h.store.identities_of(&alice).len(), 2);
}

#[tokio::test]
async fn a_disabled_users_phone_is_refused_and_nothing_is_bound() {
    let h = Harness::new();
    let (alice, _) = h
        .registered_in(OTHER_APP, "o-alice-other", ALICE_PHONE)
        .await;
    h.disable(&alice).await;
    let session = h.session("o-alice").await;

    let refusal = refused(h.phone_by_code(&session, ALICE_PHONE).await);

    assert_eq!(refusal, AuthError::UserDisabled);
    assert_eq!(h.store.identities_of(&alice).len(), 1);
    assert!(h.store.tickets().iter().all(|t| t.used_at.is_some()));
}

#[tokio::test]
async fn legacy_data_decrypts_with_the_session_key_of_the_login() {
    let h = Harness::new();
    let (session, proof) = legacy_session(&h, APP, "o-legacy").await;

    let view = h.service.phone(&session, None, proof).await.unwrap();

    let (ticket, phone) = ticket_of(view);
    assert_eq!(phone, "+8613800138000");
    assert!(h.store.ticket(&HandleHash::of(&ticket)).is_some());
    assert_eq!(
        h.wechat.phone_calls(),
        0,
        "no phone code: WeChat is not asked"
    );
}

#[tokio::test]
async fn legacy_data_watermarked_for_another_app_is_an_appid_mismatch() {
    let h = Harness::new();
    let (session, proof) = legacy_session(&h, OTHER_APP, "o-legacy").await;

    let refusal = refused(h.service.phone(&session, None, proof).await);

    assert_eq!(refusal, AuthError::AppidMismatch);
    assert!(h.store.tickets().is_empty());
}

#[tokio::test]
async fn the_previous_session_key_still_decrypts_within_its_grace_period() {
    let h = Harness::new();
    let (handle, proof) = legacy_session(&h, APP, "o-legacy").await;
    let code = h.fresh_code("login");
    h.wechat.login(&code, session("o-legacy", None, KEY));
    h.login(&code).await.unwrap();
    h.advance(299);

    let view = h.service.phone(&handle, None, proof).await.unwrap();

    assert!(matches!(view, PhoneView::NotRegistered { .. }));
}

#[tokio::test]
async fn legacy_data_under_a_rotated_out_session_key_is_stale() {
    let h = Harness::new();
    let (handle, proof) = legacy_session(&h, APP, "o-legacy").await;
    let code = h.fresh_code("login");
    h.wechat.login(&code, session("o-legacy", None, KEY));
    h.login(&code).await.unwrap();
    h.advance(301);

    let refusal = refused(h.service.phone(&handle, None, proof).await);

    assert_eq!(refusal, AuthError::SessionKeyStale);
    assert!(h.store.tickets().is_empty());
}

#[tokio::test]
async fn legacy_data_older_than_the_watermark_window_is_refused() {
    let h = Harness::new();
    let (session, proof) = legacy_session(&h, APP, "o-legacy").await;
    h.advance(601);

    let refusal = refused(h.service.phone(&session, None, proof).await);

    assert_eq!(refusal, AuthError::WatermarkExpired);
}
