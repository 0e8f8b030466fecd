// Test support code: a panic is how a broken expectation is reported.
#![allow(clippy::unwrap_used, missing_docs, dead_code)]

//! A whole flow at TRACE level for every crate (ours, hyper, reqwest, sqlx, the simulator),
//! through the production log pipeline (JSON lines through the redacting writer): the
//! captured logs must not contain the AppSecret, session_keys, login and phone codes,
//! WeChat access_tokens, our refresh tokens, access tokens, sessions, tickets or phone
//! numbers. Its own binary, because it installs the process-wide subscriber.

#[path = "api/helpers.rs"]
mod helpers;
#[path = "support/log_capture.rs"]
mod log_capture;

use helpers::{PHONE, TestApp};
use log_capture::Capture;
use serde_json::json;
use wxlogin_server::redact::RedactingMakeWriter;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_flow_at_trace_level_logs_no_secret() {
    let capture = Capture::default();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(true)
        .with_writer(RedactingMakeWriter::new(capture.clone()))
        .init();

    let app = TestApp::spawn().await;
    let mut secrets = vec![PHONE.to_owned(), PHONE.trim_start_matches("+86").to_owned()];

    // New user by phone code, registered; silent login; legacy phone; refresh; me; logout.
    let alice = app.register_user("alice", PHONE).await;
    let login = app.login(&app.login_code("alice")).await;
    let session = login.ok()["session"].as_str().unwrap().to_owned();
    secrets.push(session.clone());
    secrets.push(
        login.body["tokens"]["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    app.note_session_key(helpers::APP, "alice");
    let legacy = app
        .phone_by_data(&session, &app.encrypted_phone("alice", PHONE))
        .await;
    legacy.ok();
    let bob_ticket = app.ticket_for("bob", "+8613900139000").await;
    secrets.push(bob_ticket);
    secrets.extend(["+8613900139000".to_owned(), "13900139000".to_owned()]);
    let refreshed = app.refresh(&alice.refresh_token).await;
    let new_refresh = refreshed.ok()["tokens"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let new_access = refreshed.body["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.me(&new_access).await.ok();
    app.post("/v1/logout", json!({"refresh_token": new_refresh}))
        .await;
    app.request(
        reqwest::Method::POST,
        "/v1/logout",
        Some(&json!({})),
        Some(&new_access),
    )
    .await;
    // Errors too: a used code, a forged token, a bad refresh token.
    let used = app.login_code("carol");
    app.login(&used).await.ok();
    app.note_session_key(helpers::APP, "carol");
    app.me("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.").await;
    app.refresh("wxr_forged-refresh-token-value").await;
    app.note_wechat_access_token().await;
    // A mistake a future change could make: the redacting writer must still catch it.
    let careless = app.login_code("dave");
    tracing::info!(
        "debug dump: url=/sns/jscode2session?secret={} js_code={careless}",
        helpers::APP_SECRET
    );
    tracing::info!(refresh_token = %alice.refresh_token, phone = PHONE, "careless fields");
    tracing::info!("bare: {}", helpers::APP_SECRET);

    secrets.extend(app.recorded_secrets());
    secrets.extend([
        alice.access_token.clone(),
        alice.refresh_token.clone(),
        new_refresh,
        new_access,
    ]);

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let lines = logs.lines().count();
    assert!(lines > 200, "TRACE logging was on: {lines} lines");
    assert!(logs.contains(r#""level":"TRACE""#));
    assert!(logs.contains("/v1/login") && logs.contains("jscode2session"));
    assert!(
        logs.contains("debug dump")
            && logs.contains("careless fields")
            && logs.contains("bare: [redacted]")
    );
    let mut leaks = Vec::new();
    for secret in secrets.iter().filter(|s| s.len() >= 8) {
        for line in logs.lines().filter(|l| l.contains(secret.as_str())) {
            leaks.push(format!("{}…: {line}", &secret[..4]));
        }
    }
    assert!(
        leaks.is_empty(),
        "{} leaking lines:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}
