//! WeChat's bad minutes seen through the HTTP API: a `-1` storm opens the login breaker and
//! later logins get 503 `wechat_unavailable` without reaching WeChat; a reply slower than the
//! WeChat client's timeout is a 503 within that timeout. (The breaker's own states are tested
//! in `crates/wechat/tests/client/breaker.rs`.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use wxlogin_wechat_sim::{Api, Fault};

use crate::helpers::{Options, PHONE, TestApp};

#[tokio::test]
async fn a_system_error_storm_opens_the_breaker_and_logins_fail_fast_without_reaching_wechat() {
    let app = TestApp::spawn_with(Options {
        tweak: Some(Arc::new(|raw| {
            raw.wechat.breaker_failures = 3;
            raw.wechat.breaker_open_secs = 600;
        })),
        ..Options::default()
    })
    .await;
    let bob = app.session_for("bob").await;
    let before = app.upstream_calls("jscode2session");
    app.fault(Fault::errcode(Api::Jscode2session, -1).times(1_000));

    let mut codes = Vec::new();
    for _ in 0..3 {
        let code = app.login_code("alice");
        let res = app.login(&code).await;
        res.assert_error(503, "wechat_unavailable");
        assert_eq!(res.body["error"]["wechat_errcode"], -1, "{}", res.body);
        codes.push(code);
    }
    assert_eq!(app.upstream_calls("jscode2session"), before + 3);

    // Open: fresh codes are answered at once, and WeChat sees none of them, so each can
    // still be used once WeChat is back.
    for _ in 0..5 {
        let res = app.login(&app.login_code("alice")).await;
        res.assert_error(503, "wechat_unavailable");
        assert!(
            res.headers.get("retry-after").is_some(),
            "503 without Retry-After"
        );
    }
    assert_eq!(app.upstream_calls("jscode2session"), before + 3);

    // The codes WeChat answered -1 for are remembered, never sent again.
    for code in &codes {
        app.login(code)
            .await
            .assert_error(503, "wechat_unavailable");
    }
    assert_eq!(app.upstream_calls("jscode2session"), before + 3);

    // Each API has a breaker of its own: the phone number API still answers.
    app.phone_by_code(&bob, &app.phone_code("bob", PHONE))
        .await
        .ok();
}

#[tokio::test]
async fn a_wechat_slower_than_the_client_timeout_is_a_503_within_the_timeout() {
    let timeout = Duration::from_millis(300);
    let app = TestApp::spawn_with(Options {
        tweak: Some(Arc::new(move |raw| {
            raw.wechat.request_timeout_ms = u64::try_from(timeout.as_millis()).unwrap();
        })),
        ..Options::default()
    })
    .await;
    app.fault(Fault::delay_only(Api::Jscode2session, Duration::from_secs(60)).times(1));

    let started = Instant::now();
    let res = app.login(&app.login_code("alice")).await;
    let elapsed = started.elapsed();
    res.assert_error(503, "wechat_unavailable");
    // Not before the timeout (it was the timeout that answered), and well before the delay.
    assert!(elapsed >= timeout, "answered after {elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(10),
        "answered after {elapsed:?}"
    );

    // The delay was used up: the next login goes through.
    app.login(&app.login_code("alice")).await.ok();
}
