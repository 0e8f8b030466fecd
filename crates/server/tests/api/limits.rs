//! Rate limits: per client address on login/phone/register, per openid and per phone; 429
//! `rate_limited` with `Retry-After`; `X-Forwarded-For` believed only from trusted proxies.
//!
//! The buckets refill at 1 token/s on the real clock, so each test sends more requests than
//! a second could refill on a slow machine and asserts on counts, never on timing.

use std::sync::Arc;

use serde_json::json;

use crate::helpers::{APP, Options, PHONE, Res, TestApp};

fn with_limits(ip: (u32, u32), openid: (u32, u32), phone: (u32, u32), trusted: &[&str]) -> Options {
    let trusted: Vec<String> = trusted.iter().map(|s| (*s).to_owned()).collect();
    Options {
        tweak: Some(Arc::new(move |raw| {
            raw.rate_limits.per_ip_per_second = ip.0;
            raw.rate_limits.per_ip_burst = ip.1;
            raw.rate_limits.per_openid_per_second = openid.0;
            raw.rate_limits.per_openid_burst = openid.1;
            raw.rate_limits.per_phone_per_second = phone.0;
            raw.rate_limits.per_phone_burst = phone.1;
            raw.rate_limits.trusted_proxies = trusted.clone();
        })),
        ..Options::default()
    }
}

fn assert_limited(res: &Res) {
    res.assert_error(429, "rate_limited");
    let after: u64 = res.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(after >= 1, "Retry-After {after}");
    assert!(
        res.body["error"]
            .get("wechat_errcode")
            .is_none_or(|v| v.is_null())
    );
}

async fn login_from(app: &TestApp, forwarded_for: Option<&str>) -> Res {
    let mut req = app
        .http
        .post(format!("{}/v1/login", app.addr))
        .json(&json!({"code": app.login_code("alice"), "appid": APP}));
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    app.send(req).await
}

#[tokio::test]
async fn the_per_address_limit_answers_429_with_retry_after_and_spares_other_routes() {
    let app = TestApp::spawn_with(with_limits((1, 3), (0, 0), (0, 0), &[])).await;
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(login_from(&app, None).await);
    }
    for res in &statuses[..3] {
        res.ok();
    }
    let limited: Vec<_> = statuses.iter().filter(|r| r.status == 429).collect();
    assert!(!limited.is_empty(), "10 logins at 1/s with a burst of 3");
    for res in limited {
        assert_limited(res);
    }
    // Refresh and me are not limited per address: their failures stay their own.
    for _ in 0..5 {
        app.refresh("wxr_unknown")
            .await
            .assert_error(401, "refresh_token_invalid");
    }
    let text = app.metrics().await;
    assert!(
        crate::dashboards::metric_value(&text, "wxlogin_rate_limited_total", &[("kind", "ip")])
            >= 1.0,
        "the hit is counted"
    );
}

#[tokio::test]
async fn forwarded_for_is_believed_from_trusted_proxies_only() {
    // The test client connects from 127.0.0.1: trusted here.
    let app = TestApp::spawn_with(with_limits((1, 1), (0, 0), (0, 0), &["127.0.0.1/32"])).await;
    login_from(&app, Some("198.51.100.1")).await.ok();
    login_from(&app, Some("198.51.100.2")).await.ok();
    // A client cannot pick its bucket by writing the header itself: the proxy appends the
    // address it saw, and the rightmost untrusted entry counts.
    let mut second = Vec::new();
    for _ in 0..5 {
        second.push(
            login_from(&app, Some("203.0.113.50, 198.51.100.1"))
                .await
                .status,
        );
    }
    assert!(second.contains(&429), "{second:?}");

    let direct = TestApp::spawn_with(with_limits((1, 1), (0, 0), (0, 0), &[])).await;
    login_from(&direct, Some("198.51.100.1")).await.ok();
    let mut statuses = Vec::new();
    for i in 0..5 {
        statuses.push(
            login_from(&direct, Some(&format!("198.51.100.{}", i + 2)))
                .await
                .status,
        );
    }
    assert!(
        statuses.contains(&429),
        "an untrusted peer's header is ignored: {statuses:?}"
    );
}

#[tokio::test]
async fn the_per_openid_limit_guards_phone_and_spares_other_users() {
    let app = TestApp::spawn_with(with_limits((0, 0), (1, 2), (0, 0), &[])).await;
    let alice = app.session_for("alice").await;
    let mut statuses = Vec::new();
    for i in 0..8 {
        let res = app.phone_by_code(&alice, &format!("not-a-code-{i}")).await;
        statuses.push(res.status);
        if res.status == 429 {
            assert_limited(&res);
        }
    }
    assert_eq!(&statuses[..2], &[400, 400], "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");

    let bob = app.session_for("bob").await;
    app.phone_by_code(&bob, &app.phone_code("bob", PHONE))
        .await
        .ok();
}

#[tokio::test]
async fn the_per_phone_limit_counts_one_number_across_users() {
    let app = TestApp::spawn_with(with_limits((0, 0), (0, 0), (1, 1), &[])).await;
    let mut statuses = Vec::new();
    for user in ["alice", "bob", "carol", "dave", "erin"] {
        let session = app.session_for(user).await;
        let res = app
            .phone_by_code(&session, &app.phone_code(user, PHONE))
            .await;
        if res.status == 429 {
            assert_limited(&res);
        }
        statuses.push(res.status);
    }
    assert_eq!(statuses[0], 200);
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(
        app.metrics()
            .await
            .contains(r#"wxlogin_rate_limited_total{kind="phone"}"#)
    );
}
