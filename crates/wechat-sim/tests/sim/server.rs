//! Serving: the handle, shutdown, and the request log.

use tokio::net::TcpListener;
use wxlogin_wechat_sim::{Sim, SimConfig, spawn};

use crate::helpers::*;

#[tokio::test]
async fn the_handle_reports_the_bound_address_and_is_ready_at_once() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();

    let handle = spawn(
        listener,
        Sim::new(SimConfig::default()),
        std::future::pending(),
    )
    .await
    .unwrap();

    assert_eq!(handle.local_addr(), addr);
    assert_eq!(
        handle.base_url(),
        format!("http://127.0.0.1:{}", addr.port())
    );
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let stats = http
        .get(format!("{}/_sim/v1/stats", handle.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(stats.status(), 200);
}

#[tokio::test]
async fn wait_returns_once_the_shutdown_future_resolves() {
    let t = TestSim::spawn().await;
    t.log_in(APP_A, "alice").await;

    tokio::time::timeout(std::time::Duration::from_secs(10), t.shut_down())
        .await
        .unwrap();
}
