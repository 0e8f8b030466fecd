//! Attacks on the running server, each a test that failed before its fix: the legacy padding
//! oracle and the decrypt cap, metrics on the public port and their label cardinality, our
//! own 429 cached per code, slowloris, the connection cap and a shutdown that never ends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::NoPadding, block_padding::Pkcs7};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use wxlogin_server::config::RawConfig;
use wxlogin_wechat_sim::{Api, Fault};

use crate::helpers::{APP, Options, PHONE, TestApp};

type Enc = cbc::Encryptor<aes::Aes128>;

/// Legacy data as an attacker makes it: under the user's own current session_key, with a
/// plaintext of their choosing and, when `pad` is false, a last block that is not PKCS#7.
pub(crate) fn forged(app: &TestApp, user: &str, plaintext: &[u8], pad: bool) -> (String, String) {
    let key = STANDARD
        .decode(app.sim.current_session_key(APP, user).unwrap())
        .unwrap();
    let key: [u8; 16] = key.try_into().unwrap();
    let iv = [0x42u8; 16];
    let enc = Enc::new(&key.into(), &iv.into());
    let ciphertext = if pad {
        enc.encrypt_padded_vec_mut::<Pkcs7>(plaintext)
    } else {
        let mut block = plaintext.to_vec();
        block.resize(block.len().div_ceil(16).max(1) * 16, 0);
        *block.last_mut().unwrap() = 0; // a pad byte of 0 is never valid
        enc.encrypt_padded_vec_mut::<NoPadding>(&block)
    };
    (STANDARD.encode(ciphertext), STANDARD.encode(iv))
}

fn without_request_id(body: &Value) -> Value {
    let mut body = body.clone();
    body["error"]["request_id"] = Value::Null;
    body
}

fn tweak(f: impl Fn(&mut RawConfig) + Send + Sync + 'static) -> Options {
    Options {
        tweak: Some(Arc::new(f)),
        ..Options::default()
    }
}

#[tokio::test]
async fn bad_padding_and_bad_content_are_indistinguishable_everywhere() {
    let app = TestApp::spawn().await;
    let session = app.session_for("mallory").await;
    let bad_pad = app
        .phone_by_data(&session, &forged(&app, "mallory", b"whatever", false))
        .await;
    let bad_content = app
        .phone_by_data(&session, &forged(&app, "mallory", b"not json", true))
        .await;
    bad_pad.assert_error(422, "session_key_stale");
    bad_content.assert_error(422, "session_key_stale");
    assert_eq!(
        without_request_id(&bad_pad.body),
        without_request_id(&bad_content.body)
    );
    assert_eq!(bad_pad.headers.len(), bad_content.headers.len());

    let metrics = app.metrics().await;
    // Registered at zero on start-up: the count must have moved, not just be there.
    assert!(
        crate::dashboards::metric_value(
            &metrics,
            "wxlogin_decrypt_failures_total",
            &[("reason", "undecryptable")]
        ) >= 2.0,
        "{metrics}"
    );
    for leak in ["bad_padding", "not_json"] {
        assert!(!metrics.contains(leak), "the metrics tell {leak} apart");
    }
}

#[tokio::test]
async fn ten_failed_legacy_decrypts_lock_the_session_key_until_a_new_login() {
    let app = TestApp::spawn().await;
    let session = app.session_for("mallory").await;
    for _ in 0..9 {
        app.phone_by_data(&session, &forged(&app, "mallory", b"{}", false))
            .await
            .assert_error(422, "session_key_stale");
    }
    // Under the cap, genuine data still works.
    let genuine = app.encrypted_phone("mallory", PHONE);
    assert_eq!(
        app.phone_by_data(&session, &genuine).await.ok()["registered"],
        false
    );
    // The tenth failure reaches the cap: now even genuine data is refused.
    app.phone_by_data(&session, &forged(&app, "mallory", b"not json", true))
        .await
        .assert_error(422, "session_key_stale");
    let genuine = app.encrypted_phone("mallory", PHONE);
    app.phone_by_data(&session, &genuine)
        .await
        .assert_error(422, "session_key_stale");
    assert!(
        app.metrics()
            .await
            .contains(r#"wxlogin_decrypt_failures_total{reason="locked"}"#)
    );
    // The phone-code path is not affected, and a new login code starts a new count.
    let session = app.session_for("mallory").await;
    let genuine = app.encrypted_phone("mallory", PHONE);
    assert_eq!(
        app.phone_by_data(&session, &genuine).await.ok()["registered"],
        false
    );
}

#[tokio::test]
async fn the_cap_is_per_user_not_global() {
    let app = TestApp::spawn().await;
    let mallory = app.session_for("mallory").await;
    for _ in 0..12 {
        let _ = app
            .phone_by_data(&mallory, &forged(&app, "mallory", b"x", false))
            .await;
    }
    let alice = app.session_for("alice").await;
    let genuine = app.encrypted_phone("alice", PHONE);
    assert_eq!(
        app.phone_by_data(&alice, &genuine).await.ok()["registered"],
        false
    );
}

#[tokio::test]
async fn metrics_live_on_the_admin_listener_only() {
    let app = TestApp::spawn().await;
    app.get("/metrics", None)
        .await
        .assert_error(404, "not_found");
    assert!(app.metrics().await.contains("wxlogin_http_requests_total"));
    // The admin listener serves nothing of the public API.
    let res = app
        .http
        .get(format!("{}/healthz", app.admin_addr))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn invented_methods_do_not_create_metric_series() {
    let app = TestApp::spawn().await;
    for i in 0..20 {
        let method = reqwest::Method::from_bytes(format!("XQZ{i:04}RND").as_bytes()).unwrap();
        let res = app.request(method, "/v1/me", None, None).await;
        assert!(res.status == 405 || res.status == 404, "{}", res.status);
    }
    let metrics = app.metrics().await;
    assert!(
        !metrics.contains("XQZ"),
        "a request-chosen method became a label"
    );
    assert!(metrics.contains(r#"method="other""#));
}

#[tokio::test]
async fn our_own_phone_rate_limit_is_not_remembered_for_the_code() {
    let app = TestApp::spawn_with(tweak(|raw| {
        raw.rate_limits.per_phone_per_second = 1;
        raw.rate_limits.per_phone_burst = 1;
    }))
    .await;
    let alice = app.session_for("alice").await;
    app.phone_by_code(&alice, &app.phone_code("alice", PHONE))
        .await
        .ok();
    let bob = app.session_for("bob").await;
    let code = app.phone_code("bob", PHONE);
    let limited = app.phone_by_code(&bob, &code).await;
    limited.assert_error(429, "rate_limited");
    // Retried as Retry-After says, the same code is served (from what WeChat already
    // answered: no second exchange), not refused again for its five minutes.
    let deadline = Instant::now() + Duration::from_secs(10);
    let res = loop {
        let res = app.phone_by_code(&bob, &code).await;
        if res.status != 429 || Instant::now() > deadline {
            break res;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(res.ok()["registered"], false, "{}", res.body);
    assert_eq!(app.upstream_calls("getuserphonenumber"), 2);
}

fn host_port(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection, at most `limit`; what it sent, or `None`
/// when it was still open then.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn a_half_sent_request_head_is_cut_off_at_the_header_deadline() {
    let app = TestApp::spawn_with(tweak(|raw| raw.http.header_read_timeout_secs = 1)).await;
    let mut slow = TcpStream::connect(host_port(&app.addr)).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let started = Instant::now();
    let got = read_until_closed(&mut slow, Duration::from_secs(8))
        .await
        .expect("the server closed the connection");
    assert!(
        got.is_empty() || got.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert!(started.elapsed() >= Duration::from_millis(800));
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = TestApp::spawn_with(tweak(|raw| raw.http.header_read_timeout_secs = 1)).await;
    let mut conn = TcpStream::connect(host_port(&app.addr)).await.unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = conn.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // Then nothing: the connection is closed when the next head does not come.
    let rest = read_until_closed(&mut conn, Duration::from_secs(8))
        .await
        .expect("the idle connection was closed");
    assert!(rest.is_empty() || !rest.starts_with(b"HTTP/1.1 200"));
}

#[tokio::test]
async fn past_the_connection_cap_new_connections_get_503_and_the_server_recovers() {
    let app = TestApp::spawn_with(tweak(|raw| {
        raw.http.max_connections = 3;
        raw.http.header_read_timeout_secs = 30;
    }))
    .await;
    let addr = host_port(&app.addr);
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut c = TcpStream::connect(&addr).await.unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        held.push(c);
    }
    // The three are accepted in order; the fourth finds no room.
    let mut extra = TcpStream::connect(&addr).await.unwrap();
    let got = read_until_closed(&mut extra, Duration::from_secs(5))
        .await
        .expect("refused and closed");
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("\"unavailable\""), "{text}");

    // One stalled client leaves: a new connection is served again.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = TcpStream::connect(&addr).await.unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let got = read_until_closed(&mut c, Duration::from_secs(5))
            .await
            .unwrap_or_default();
        if got.starts_with(b"HTTP/1.1 200") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never recovered: {}",
            String::from_utf8_lossy(&got)
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn shutdown_ends_within_the_grace_despite_a_stalled_client_and_finishes_requests_in_flight() {
    let mut app = TestApp::spawn_with(tweak(|raw| {
        raw.http.header_read_timeout_secs = 60;
        raw.http.shutdown_grace_secs = 2;
    }))
    .await;
    let mut stalled = TcpStream::connect(host_port(&app.addr)).await.unwrap();
    stalled
        .write_all(b"POST /v1/login HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();

    // A login held up by a slow WeChat is in flight when the stop comes.
    app.fault(Fault::delay_only(
        Api::Jscode2session,
        Duration::from_millis(700),
    ));
    let url = format!("{}/v1/login", app.addr);
    let body = serde_json::json!({ "code": app.login_code("alice"), "appid": APP });
    let http = app.http.clone();
    let in_flight = tokio::spawn(async move { http.post(url).json(&body).send().await });
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.sim.pending_faults(Api::Jscode2session) > 0 {
        assert!(Instant::now() < deadline, "the login never reached WeChat");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = Instant::now();
    assert!(
        app.stop_within(Duration::from_secs(6)).await,
        "still running after the grace"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let res = in_flight
        .await
        .unwrap()
        .expect("the request in flight was answered");
    assert_eq!(res.status(), 200);
    assert!(
        read_until_closed(&mut stalled, Duration::from_secs(2))
            .await
            .is_some()
    );
}

/// A complete, well-formed phone payload forged under the user's own session_key: what a
/// padding oracle (or any other flaw) would let an attacker build.
fn forged_phone(app: &TestApp, user: &str, pure: &str) -> (String, String) {
    let plaintext = serde_json::json!({
        "phoneNumber": pure,
        "purePhoneNumber": pure,
        "countryCode": "86",
        "watermark": { "timestamp": app.sim.clock().now_unix(), "appid": APP },
    });
    forged(app, user, plaintext.to_string().as_bytes(), true)
}

#[tokio::test]
async fn verify_legacy_payloads_refuses_what_wechat_did_not_issue() {
    // Without the check, a payload that decrypts is trusted: the trade-off in the docs.
    let trusting = TestApp::spawn().await;
    let session = trusting.session_for("mallory").await;
    let res = trusting
        .phone_by_data(&session, &forged_phone(&trusting, "mallory", "13900139000"))
        .await;
    assert_eq!(res.ok()["phone"]["phone_number"], "+8613900139000");
    assert_eq!(trusting.upstream_calls("checkencryptedmsg"), 0);

    let app = TestApp::spawn_with(tweak(|raw| raw.wechat.verify_legacy_payloads = true)).await;
    let session = app.session_for("mallory").await;
    app.phone_by_data(&session, &forged_phone(&app, "mallory", "13900139000"))
        .await
        .assert_error(422, "session_key_stale");
    assert!(
        app.metrics()
            .await
            .contains(r#"wxlogin_decrypt_failures_total{reason="unverified"}"#)
    );
    // Genuine data, which WeChat (the simulator) issued, passes with one more call.
    let genuine = app.encrypted_phone("mallory", PHONE);
    assert_eq!(
        app.phone_by_data(&session, &genuine).await.ok()["registered"],
        false
    );
    assert_eq!(app.upstream_calls("checkencryptedmsg"), 2);
    // Data that does not decrypt never reaches WeChat.
    app.phone_by_data(&session, &forged(&app, "mallory", b"x", false))
        .await
        .assert_error(422, "session_key_stale");
    assert_eq!(app.upstream_calls("checkencryptedmsg"), 2);
}
