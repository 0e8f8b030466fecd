//! Health, readiness, metrics, request ids.

use crate::helpers::{PHONE, TestApp};

#[tokio::test]
async fn healthz_and_readyz_answer_while_the_store_is_up() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz", None).await.status, 200);
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.body["checks"]["store"], "ok");
}

#[tokio::test]
async fn metrics_count_requests_wechat_calls_and_decrypt_failures_without_secrets() {
    let app = TestApp::spawn().await;
    let session = app.session_for("alice").await;
    let _ = app
        .phone_by_data(
            &session,
            &("AAAA".repeat(8), "AAAAAAAAAAAAAAAAAAAAAA==".to_owned()),
        )
        .await;
    let _ = app
        .phone_by_code(&session, &app.phone_code("alice", PHONE))
        .await;
    let res = app
        .http
        .get(format!("{}/metrics", app.admin_addr))
        .send()
        .await
        .unwrap();
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = res.text().await.unwrap();
    for metric in [
        "wxlogin_http_requests_total",
        "wxlogin_http_request_duration_seconds",
        "wxlogin_wechat_calls_total",
        "wxlogin_wechat_request_duration_seconds",
        "wxlogin_access_token_refreshes_total",
        "wxlogin_decrypt_failures_total",
    ] {
        assert!(text.contains(metric), "{metric} missing from /metrics");
    }
    assert!(
        text.contains(r#"route="/v1/login""#),
        "requests are labelled by route pattern"
    );
    assert!(!text.contains(&session), "no session in metrics");
}

#[tokio::test]
async fn a_sane_request_id_is_kept_and_echoed_and_a_hostile_one_replaced() {
    let app = TestApp::spawn().await;
    let res = app
        .send(
            app.http
                .get(format!("{}/v1/nope", app.addr))
                .header("x-request-id", "lb-123.abc"),
        )
        .await;
    assert_eq!(res.headers["x-request-id"], "lb-123.abc");
    assert_eq!(res.body["error"]["request_id"], "lb-123.abc");
    let res = app
        .send(
            app.http
                .get(format!("{}/v1/nope", app.addr))
                .header("x-request-id", "<script>"),
        )
        .await;
    let id = res.body["error"]["request_id"].as_str().unwrap();
    assert_ne!(id, "<script>");
    assert_eq!(res.headers["x-request-id"], id);
}
