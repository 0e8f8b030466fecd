//! No response carries a session_key, AppSecret, code or WeChat access_token. Every
//! `TestApp` checks its own responses when dropped; this test proves the check bites and
//! runs a flow that touches every secret.

use crate::helpers::{APP_SECRET, PHONE, TestApp};

#[tokio::test]
async fn a_full_flow_with_errors_leaks_no_secret_and_the_scan_would_notice_one() {
    let app = TestApp::spawn().await;
    let alice = app.register_user("alice", PHONE).await;
    let session = app.session_for("bob").await;
    let _ = app
        .phone_by_data(&session, &app.encrypted_phone("bob", "+8613900139000"))
        .await;
    let code = app.login_code("carol");
    let _ = app.login(&code).await;
    let _ = app.login(&code).await;
    let _ = app.phone_by_code(&session, "never-issued").await;
    let _ = app.refresh(&alice.refresh_token).await;
    let _ = app.refresh(&alice.refresh_token).await;
    app.note_wechat_access_token().await;

    let secrets = app.recorded_secrets();
    assert!(
        secrets.len() >= 8,
        "codes, session_keys, secrets and a token recorded: {}",
        secrets.len()
    );
    assert!(app.bodies().len() >= 10);
    assert!(app.leaks().is_empty(), "{:?}", app.leaks());

    // The scan itself works: a planted leak is found (then removed so Drop passes).
    let probe = TestApp::spawn().await;
    probe.record_body(&format!(r#"{{"oops":"{APP_SECRET}"}}"#));
    assert_eq!(probe.leaks().len(), 1);
    std::mem::forget(probe); // its Drop would (rightly) fail the test
}
