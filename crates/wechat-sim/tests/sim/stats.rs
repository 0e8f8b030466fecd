//! `GET|DELETE /_sim/v1/stats` and `Sim::stats`.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

const APIS: [&str; 7] = [
    "jscode2session",
    "getuserphonenumber",
    "stable_token",
    "token",
    "checksession",
    "resetusersessionkey",
    "checkencryptedmsg",
];

#[tokio::test]
async fn every_api_is_listed_at_zero_before_any_call() {
    let t = TestSim::spawn().await;

    let stats = t.stats().await;

    let calls = stats["calls"].as_object().unwrap();
    assert_eq!(calls.len(), APIS.len());
    for api in APIS {
        assert_eq!(calls[api], json!({"total": 0, "by_errcode": {}}), "{api}");
    }
}

#[tokio::test]
async fn calls_are_counted_by_api_and_errcode() {
    let t = TestSim::spawn().await;
    let mut last_code = String::new();
    for _ in 0..11 {
        last_code = t.login_code(APP_A, "alice").await;
        t.jscode2session(APP_A, &last_code).await;
    }
    t.jscode2session(APP_A, &last_code).await;
    let token = t.access_token(APP_A).await;
    let code = t.phone_code(APP_A, "alice", "+8613800138000").await;
    t.phone_number(&token, json!({"code": code})).await;
    t.phone_number(&token, json!({"code": code})).await;
    t.get("/cgi-bin/token?appid=wx_unknown").await;

    let stats = t.stats().await;

    assert_eq!(
        stats["calls"]["jscode2session"],
        json!({"total": 12, "by_errcode": {"0": 11, "40163": 1}})
    );
    assert_eq!(
        stats["calls"]["getuserphonenumber"],
        json!({"total": 2, "by_errcode": {"0": 1, "40029": 1}})
    );
    assert_eq!(stats["calls"]["stable_token"]["total"], 1);
    assert_eq!(
        stats["calls"]["token"],
        json!({"total": 1, "by_errcode": {"40013": 1}})
    );
    assert_eq!(t.sim().stats(), stats);
}

#[tokio::test]
async fn faulted_calls_are_counted_under_their_errcode_or_transport_label() {
    let t = TestSim::spawn().await;
    let body = json!({"api": "token", "errcode": -1, "times": 2}).to_string();
    t.control(Method::POST, "/_sim/v1/faults", Some(&body))
        .await;
    let body = json!({"api": "token", "transport": "http_500"}).to_string();
    t.control(Method::POST, "/_sim/v1/faults", Some(&body))
        .await;

    for _ in 0..4 {
        let _ = t
            .http
            .get(t.url(&format!(
                "/cgi-bin/token?grant_type=client_credential&appid={APP_A}&secret={SECRET_A}"
            )))
            .send()
            .await
            .unwrap();
    }

    assert_eq!(
        t.stats().await["calls"]["token"],
        json!({"total": 4, "by_errcode": {"-1": 2, "0": 1, "http_500": 1}})
    );
}

#[tokio::test]
async fn deleting_stats_resets_the_counters() {
    let t = TestSim::spawn().await;
    t.log_in(APP_A, "alice").await;

    let (status, reset) = t.control(Method::DELETE, "/_sim/v1/stats", None).await;

    assert_eq!(status, 200);
    assert_eq!(reset["calls"]["jscode2session"]["total"], 0);
    assert_eq!(t.stats().await["calls"]["jscode2session"]["total"], 0);
}

#[tokio::test]
async fn control_api_calls_and_unknown_paths_are_not_counted() {
    let t = TestSim::spawn().await;
    t.login_code(APP_A, "alice").await;
    t.get("/sns/jsCode2Session").await;

    let stats = t.stats().await;

    for api in APIS {
        assert_eq!(stats["calls"][api]["total"], 0, "{api}");
    }
}
