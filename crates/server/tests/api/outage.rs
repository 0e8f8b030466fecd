//! The database made unreachable mid-run: 503 `unavailable` (never 500), `/readyz` 503,
//! nothing lost, and recovery without a restart. PostgreSQL and MySQL run behind a loopback
//! proxy the test cuts; they run when their `WXLOGIN_TEST_*_URL` is set (CI sets both).

use std::sync::Arc;
use std::time::Duration;

use wxlogin_testkit::{TcpProxy, TestDb};

use crate::helpers::{Options, PHONE, Res, TestApp};

fn assert_unavailable(res: &Res) {
    res.assert_error(503, "unavailable");
    assert!(res.headers.contains_key("retry-after"), "{:?}", res.headers);
}

async fn wait_until_ready(app: &TestApp) {
    // Readiness polling, bounded: the pool reconnects on the next checkout.
    for _ in 0..200 {
        if app.get("/readyz", None).await.status == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not ready 10 s after the database came back");
}

async fn database_vanishes_and_comes_back(db: TestDb) {
    let url = url::Url::parse(db.url()).unwrap();
    let upstream = format!(
        "{}:{}",
        url.host_str().unwrap(),
        url.port_or_known_default().unwrap()
    );
    let proxy = TcpProxy::start(&upstream).await;
    let app = TestApp::spawn_with(Options {
        database_url: Some(proxy.url_through(db.url())),
        tweak: Some(Arc::new(|raw| raw.database.acquire_timeout_ms = 500)),
        ..Options::default()
    })
    .await;
    let alice = app.register_user("alice", PHONE).await;
    app.get("/readyz", None).await.ok();

    proxy.cut();
    let code = app.login_code("bob");
    assert_unavailable(&app.login(&code).await);
    assert_unavailable(&app.me(&alice.access_token).await);
    assert_unavailable(&app.refresh(&alice.refresh_token).await);
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.body["checks"]["store"], "down");
    // Liveness is not readiness: the process still answers.
    app.get("/healthz", None).await.ok();

    proxy.restore();
    wait_until_ready(&app).await;
    // Nothing was lost or half-done: the refresh token refused during the outage still
    // rotates once, and the login code that WeChat accepted while our database was away
    // still signs in: its exchange is resumed, not repeated (WeChat would say 40163).
    app.me(&alice.access_token).await.ok();
    app.refresh(&alice.refresh_token).await.ok();
    app.login(&code).await.ok();
    let exchanges = &app.sim.stats()["calls"]["jscode2session"];
    assert!(
        exchanges["by_errcode"].get("40163").is_none(),
        "{exchanges}"
    );
    app.login(&app.login_code("carol")).await.ok();
}

#[tokio::test]
async fn postgres_unreachable_answers_503_and_recovers_without_a_restart() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    database_vanishes_and_comes_back(db).await;
}

#[tokio::test]
async fn mysql_unreachable_answers_503_and_recovers_without_a_restart() {
    let Some(db) = TestDb::mysql().await else {
        return;
    };
    database_vanishes_and_comes_back(db).await;
}
