//! The lookup client against real loopback endpoints.

use std::time::{Duration, Instant};

use serde_json::json;
use time::OffsetDateTime;
use wxlogin_core::ids::{AppId, ExternalId, OpenId, UnionId};
use wxlogin_core::ports::{LookupAnswer, LookupFailed, LookupRequest, UserLookup};
use wxlogin_hooks::{HttpUserLookup, LookupConfig, WebhookSecret};

use crate::receiver::{Answer, Receiver, closed_port_url};

const PHONE: &str = "+8613800138000";

pub fn request(phone: &str, unionid: Option<&str>) -> LookupRequest {
    LookupRequest {
        phone: phone.to_owned(),
        appid: AppId::parse("wx4f4bc4dec97d474b").unwrap(),
        openid: OpenId::parse("o6_bmjrPTlm6_2sgVt7hMZOPfL2M").unwrap(),
        unionid: unionid.map(|u| UnionId::parse(u).unwrap()),
    }
}

fn client(url: url::Url, secret: &WebhookSecret, budget: Duration) -> HttpUserLookup {
    let config = LookupConfig {
        budget,
        ..LookupConfig::new(url, secret.clone())
    };
    HttpUserLookup::new(config).unwrap()
}

/// Asks `answer`'s receiver once, with a 3 s budget.
async fn ask(answer: Answer) -> Result<LookupAnswer, LookupFailed> {
    let receiver = Receiver::start(vec![], answer).await;
    let lookup = client(
        receiver.url("/lookup"),
        &WebhookSecret::generate(),
        Duration::from_secs(3),
    );
    lookup.lookup(&request(PHONE, None)).await
}

fn reason(result: Result<LookupAnswer, LookupFailed>) -> String {
    result.unwrap_err().0
}

#[tokio::test]
async fn a_200_is_found_with_the_profile_and_the_request_is_signed() {
    let found = r#"{"external_id": "crm-1001", "nickname": "Li Lei", "extra": [1, 2]}"#;
    let receiver = Receiver::start(vec![], Answer::With(200, found)).await;
    let secret = WebhookSecret::generate();
    let lookup = client(receiver.url("/lookup"), &secret, Duration::from_secs(3));

    let answer = lookup
        .lookup(&request(PHONE, Some("oUnion1")))
        .await
        .unwrap();

    assert_eq!(
        answer,
        LookupAnswer::Found {
            external_id: ExternalId::parse("crm-1001").unwrap(),
            nickname: Some("Li Lei".into()),
            avatar_url: None,
        }
    );
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    let sent = &got[0];
    assert_eq!(
        secret.verify_headers(&sent.headers, &sent.body, OffsetDateTime::now_utc()),
        Ok(())
    );
    let id = sent.header("webhook-id");
    assert!(id.starts_with("msg_") && id.len() == 36, "{id}");
    assert_eq!(
        sent.json(),
        json!({"type": "user.lookup", "data": {
            "phone": PHONE, "appid": "wx4f4bc4dec97d474b",
            "openid": "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", "unionid": "oUnion1"}})
    );
    // A second lookup is a new message.
    lookup.lookup(&request(PHONE, None)).await.unwrap();
    let second = &receiver.received()[1];
    assert_ne!(second.header("webhook-id"), id);
    assert!(second.json()["data"].get("unionid").is_none());
}

#[tokio::test]
async fn a_404_is_not_found() {
    assert_eq!(
        ask(Answer::With(404, "no such user")).await.unwrap(),
        LookupAnswer::NotFound
    );
}

#[tokio::test]
async fn any_other_status_fails_with_the_status_only() {
    let body = r#"{"error": "db down", "phone": "+8613800138000"}"#;
    assert_eq!(reason(ask(Answer::With(500, body)).await), "HTTP 500");
    assert_eq!(reason(ask(Answer::With(201, body)).await), "HTTP 201");
    assert_eq!(reason(ask(Answer::With(302, "")).await), "HTTP 302");
}

#[tokio::test]
async fn a_malformed_200_fails_without_quoting_the_body() {
    for body in [
        "not json +8613800138000",
        r#"{"nickname": "no external_id"}"#,
        r#"{"external_id": ""}"#,
        r#"{"external_id": "has spaces in it"}"#,
        r#"{"external_id": 42}"#,
    ] {
        let failed = ask(Answer::With(200, body)).await.unwrap_err();
        assert_eq!(failed.0, "malformed answer", "{body}");
        assert!(!failed.to_string().contains("+86"), "{failed}");
    }
}

#[tokio::test]
async fn an_oversized_answer_fails() {
    let huge: &'static str = Box::leak(
        format!(
            r#"{{"external_id": "crm-1", "nickname": "{}"}}"#,
            "x".repeat(70_000)
        )
        .into_boxed_str(),
    );
    assert_eq!(
        reason(ask(Answer::With(200, huge)).await),
        "answer too large"
    );
}

#[tokio::test]
async fn an_endpoint_that_stalls_fails_as_a_timeout_within_the_budget() {
    let budget = Duration::from_millis(300);
    for answer in [Answer::Stall, Answer::StallBody] {
        let receiver = Receiver::start(vec![], answer.clone()).await;
        let lookup = client(receiver.url("/"), &WebhookSecret::generate(), budget);
        let started = Instant::now();
        let failed = lookup.lookup(&request(PHONE, None)).await.unwrap_err();
        let took = started.elapsed();
        assert_eq!(failed.0, "timeout", "{answer:?}");
        assert!(took >= budget, "{answer:?}: {took:?}");
        assert!(
            took < budget + Duration::from_millis(700),
            "{answer:?}: {took:?}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_connect_error_and_no_url_is_shown() {
    let lookup = client(
        closed_port_url(),
        &WebhookSecret::generate(),
        Duration::from_secs(3),
    );
    let failed = lookup.lookup(&request(PHONE, None)).await.unwrap_err();
    assert_eq!(failed.0, "connect error");
    assert!(!failed.to_string().contains("127.0.0.1"), "{failed}");
}

#[tokio::test]
async fn the_lookup_client_prints_neither_its_secret_nor_its_url_query() {
    let secret = WebhookSecret::generate();
    let url = url::Url::parse("https://crm.example.com/lookup?key=QUERY-KEY").unwrap();
    let lookup = client(url, &secret, Duration::from_secs(3));
    let shown = format!("{lookup:?}");
    assert!(
        !shown.contains(&secret.expose_secret()["whsec_".len()..]),
        "{shown}"
    );
    assert!(!shown.contains("QUERY-KEY"), "{shown}");
    assert!(shown.contains("crm.example.com/lookup"), "{shown}");
    let shown = format!("{:?}", request(PHONE, Some("oUnion1")));
    assert!(
        !shown.contains("13800138000") && !shown.contains("oUnion1"),
        "{shown}"
    );
}

#[test]
fn a_lookup_url_breaking_the_policy_is_refused() {
    let url = url::Url::parse("http://crm.example.com/lookup").unwrap();
    let config = LookupConfig::new(url, WebhookSecret::generate());
    assert!(matches!(
        HttpUserLookup::new(config),
        Err(wxlogin_hooks::BuildError::Url(_))
    ));
}
