//! A new wx.login rotates the session_key while older encrypted data may still be in flight.

use std::time::Duration;

use crate::helpers::{PHONE, TestApp};

#[tokio::test]
async fn data_under_the_previous_key_decrypts_within_the_grace_window_and_is_stale_after_it() {
    let app = TestApp::spawn().await;
    let session = app.session_for("alice").await;
    let old_data = app.encrypted_phone("alice", PHONE);
    let old_data_2 = app.encrypted_phone("alice", PHONE);

    // A silent wx.login rotates the key.
    let session = {
        let _ = session;
        app.session_for("alice").await
    };
    let res = app.phone_by_data(&session, &old_data).await;
    assert_eq!(
        res.ok()["registered"],
        false,
        "previous key still accepted within 300 s"
    );

    app.advance(Duration::from_secs(301));
    app.phone_by_data(&session, &old_data_2)
        .await
        .assert_error(422, "session_key_stale");

    // Data under the current key still works after the window.
    let fresh = app.encrypted_phone("alice", PHONE);
    assert_eq!(
        app.phone_by_data(&session, &fresh).await.ok()["registered"],
        false
    );
}

#[tokio::test]
async fn data_two_rotations_old_is_stale_at_once() {
    let app = TestApp::spawn().await;
    let _ = app.session_for("alice").await;
    let oldest = app.encrypted_phone("alice", PHONE);
    let _ = app.session_for("alice").await;
    let session = app.session_for("alice").await;
    app.phone_by_data(&session, &oldest)
        .await
        .assert_error(422, "session_key_stale");
}

#[tokio::test]
async fn every_session_of_the_openid_uses_the_current_key() {
    let app = TestApp::spawn().await;
    let older_session = app.session_for("alice").await;
    let _newer_session = app.session_for("alice").await;
    let data = app.encrypted_phone("alice", PHONE); // under the newest key
    assert_eq!(
        app.phone_by_data(&older_session, &data).await.ok()["registered"],
        false
    );
}
