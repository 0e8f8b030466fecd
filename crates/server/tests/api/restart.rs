//! A restart on the same data directory keeps users, sessions, refresh tokens and keys.

use crate::helpers::{PHONE, TestApp};

#[tokio::test]
async fn restarting_on_the_same_data_directory_keeps_everything() {
    let app = TestApp::spawn().await;
    let alice = app.register_user("alice", PHONE).await;
    let bob_session = app.session_for("bob").await;
    let jwks_before = app.get("/.well-known/jwks.json", None).await.ok().clone();

    let app = app.restart().await;

    assert_eq!(
        app.get("/.well-known/jwks.json", None).await.ok(),
        &jwks_before,
        "signing keys kept"
    );
    assert_eq!(
        app.me(&alice.access_token).await.ok()["user"]["user_id"],
        alice.user_id.as_str()
    );
    assert!(app.refresh(&alice.refresh_token).await.ok()["tokens"]["refresh_token"].is_string());
    let res = app
        .phone_by_code(&bob_session, &app.phone_code("bob", "+8613900139000"))
        .await;
    assert_eq!(res.ok()["registered"], false, "sessions kept");
    let silent = app.login(&app.login_code("alice")).await;
    assert_eq!(
        silent.ok()["user"]["user_id"],
        alice.user_id.as_str(),
        "users and identities kept"
    );
}
