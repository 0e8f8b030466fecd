//! Two server instances in one process on distinct ports, sharing one PostgreSQL database,
//! one Redis and one WeChat simulator: any request may land on either instance.
//! Runs when `WXLOGIN_TEST_POSTGRES_URL` and `WXLOGIN_TEST_REDIS_URL` are set (CI sets both);
//! otherwise prints a notice.

use serde_json::json;
use wxlogin_core::crypto::MasterKey;
use wxlogin_testkit::{TestDb, backend_url};

use crate::helpers::{APP, Account, Options, PHONE, TestApp};

/// Instances A and B of one deployment, and the database they share (dropped last).
struct Cluster {
    a: TestApp,
    b: TestApp,
    _db: TestDb,
}

async fn cluster() -> Option<Cluster> {
    let redis = backend_url("WXLOGIN_TEST_REDIS_URL", "Redis")?;
    let db = TestDb::postgres().await?;
    let prefix = format!("wxlogin-test-{}:", uuid::Uuid::new_v4().simple());
    let master_key = MasterKey::generate();
    let options = |sim| Options {
        database_url: Some(db.url().to_owned()),
        redis_url: Some(redis.clone()),
        redis_prefix: Some(prefix.clone()),
        master_key: Some(master_key.clone()),
        sim,
        ..Options::default()
    };
    let a = TestApp::spawn_with(options(None)).await;
    let b = TestApp::spawn_with(options(Some(a.sim.clone()))).await;
    assert_ne!(a.addr, b.addr);
    Some(Cluster { a, b, _db: db })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_signs_up_across_instances_and_a_logout_on_one_is_seen_by_the_other() {
    let Some(Cluster { a, b, _db }) = cluster().await else {
        return;
    };
    // Both report Redis and the shared token source.
    for app in [&a, &b] {
        let ready = app.get("/readyz", None).await;
        assert_eq!(ready.ok()["checks"]["redis"], "ok");
        assert_eq!(ready.body["checks"]["access_token"], "shared");
    }

    let login = a.login(&a.login_code("alice")).await;
    let session = login.ok()["session"].as_str().unwrap().to_owned();
    let phone = b
        .phone_by_code(&session, &b.phone_code("alice", PHONE))
        .await;
    assert_eq!(phone.ok()["registered"], false);
    let ticket = phone.body["registration_ticket"].as_str().unwrap();
    let registered = a.register(ticket, Some("Alice")).await;
    assert_eq!(registered.status, 201, "{}", registered.body);
    let first = Account::from_tokens(&registered.body);

    let refreshed = b.refresh(&first.refresh_token).await;
    let access = refreshed.ok()["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    b.me(&access).await.ok();
    a.me(&access).await.ok();

    let out = a
        .request(
            reqwest::Method::POST,
            "/v1/logout",
            Some(&json!({})),
            Some(&access),
        )
        .await;
    assert_eq!(out.status, 204, "{}", out.body);
    b.me(&access).await.assert_error(401, "unauthenticated");
    a.me(&access).await.assert_error(401, "unauthenticated");

    // A silent login on B now finds the user A registered.
    let again = b.login(&b.login_code("alice")).await;
    assert_eq!(again.ok()["registered"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_login_code_sent_to_both_instances_at_once_reaches_wechat_once() {
    let Some(Cluster { a, b, _db }) = cluster().await else {
        return;
    };
    for round in 0..5 {
        let before = a.upstream_calls("jscode2session");
        let code = a.login_code(&format!("user-{round}"));
        let (ra, rb) = tokio::join!(a.login(&code), b.login(&code));
        assert_eq!(
            ra.ok()["session"],
            rb.ok()["session"],
            "both get the one outcome"
        );
        assert_eq!(
            a.upstream_calls("jscode2session") - before,
            1,
            "round {round}"
        );
    }
    let stats = a.sim.stats();
    assert!(
        stats["calls"]["jscode2session"]["by_errcode"]
            .get("40163")
            .is_none(),
        "{stats}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_40001_seen_by_both_instances_causes_one_token_refresh() {
    let Some(Cluster { a, b, _db }) = cluster().await else {
        return;
    };
    // Warm up: the first phone call fetches the one shared token.
    let s = a.session_for("warm").await;
    a.phone_by_code(&s, &a.phone_code("warm", PHONE)).await.ok();
    let s = b.session_for("warm-b").await;
    b.phone_by_code(&s, &b.phone_code("warm-b", PHONE))
        .await
        .ok();
    assert_eq!(a.upstream_calls("stable_token"), 1, "one fetch for both");

    // WeChat revokes the token: every call with it now gets 40001.
    a.sim.invalidate_tokens(APP).unwrap();
    let mut sessions = Vec::new();
    for i in 0..6 {
        let (app, user) = if i % 2 == 0 {
            (&a, format!("ua{i}"))
        } else {
            (&b, format!("ub{i}"))
        };
        let session = app.session_for(&user).await;
        sessions.push((
            app,
            session,
            app.phone_code(&user, &format!("+86139001390{i:02}")),
        ));
    }
    let results = futures::future::join_all(
        sessions
            .iter()
            .map(|(app, session, code)| app.phone_by_code(session, code)),
    )
    .await;
    for res in &results {
        assert_eq!(res.ok()["registered"], false);
    }
    let stats = a.sim.stats();
    assert!(
        stats["calls"]["getuserphonenumber"]["by_errcode"]["40001"]
            .as_u64()
            .is_some_and(|n| n >= 2),
        "both instances saw the revoked token: {stats}"
    );
    assert_eq!(
        a.upstream_calls("stable_token"),
        2,
        "one refresh after the 40001s: {stats}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_refreshes_over_both_instances_succeed_exactly_once() {
    let Some(Cluster { a, b, _db }) = cluster().await else {
        return;
    };
    let alice = a.register_user("alice", PHONE).await;
    let results = futures::future::join_all((0..50).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        app.refresh(&alice.refresh_token)
    }))
    .await;
    let ok = results.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        ok,
        1,
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for res in results.iter().filter(|r| r.status != 200) {
        assert_eq!(res.status, 401, "{}", res.body);
        assert!(
            ["refresh_token_reused", "refresh_token_invalid"].contains(&res.code()),
            "{}",
            res.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legacy_decrypt_cap_counts_failures_on_every_instance() {
    let Some(Cluster { a, b, _db }) = cluster().await else {
        return;
    };
    let session = a.session_for("mallory").await;
    // Five failures on each instance: spreading the queries gains nothing.
    for i in 0..10 {
        let app = if i % 2 == 0 { &a } else { &b };
        app.phone_by_data(
            &session,
            &crate::security::forged(app, "mallory", b"x", false),
        )
        .await
        .assert_error(422, "session_key_stale");
    }
    let genuine = a.encrypted_phone("mallory", PHONE);
    for app in [&a, &b] {
        app.phone_by_data(&session, &genuine)
            .await
            .assert_error(422, "session_key_stale");
    }
}

/// A webhook receiver on loopback that records every `webhook-id` it is sent and answers 204.
async fn recording_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::sync::{Arc, Mutex};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let handler = move |headers: axum::http::HeaderMap| {
        let s = s.clone();
        async move {
            if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) {
                s.lock().unwrap().push(id.to_owned());
            }
            axum::http::StatusCode::NO_CONTENT
        }
    };
    let router = axum::Router::new().route("/hook", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_deliver_each_event_once() {
    let Some(redis) = backend_url("WXLOGIN_TEST_REDIS_URL", "Redis") else {
        return;
    };
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let (url, seen) = recording_receiver().await;
    let secret = wxlogin_hooks::WebhookSecret::generate().expose_secret();
    let prefix = format!("wxlogin-test-{}:", uuid::Uuid::new_v4().simple());
    let master_key = MasterKey::generate();
    let options = |sim| Options {
        database_url: Some(db.url().to_owned()),
        redis_url: Some(redis.clone()),
        redis_prefix: Some(prefix.clone()),
        master_key: Some(master_key.clone()),
        sim,
        tweak: Some(std::sync::Arc::new({
            let (url, secret) = (url.clone(), secret.clone());
            move |raw| {
                raw.webhooks = vec![wxlogin_server::config::WebhookSection {
                    url: url.clone().into(),
                    secret: Some(secret.clone().into()),
                    secret_file: None,
                    events: vec!["*".into()],
                    include_phone: false,
                }];
            }
        })),
        ..Options::default()
    };
    let a = TestApp::spawn_with(options(None)).await;
    let b = TestApp::spawn_with(options(Some(a.sim.clone()))).await;
    for i in 0..10 {
        let app = if i % 2 == 0 { &a } else { &b };
        app.register_user(&format!("u{i}"), &format!("+86138001380{i:02}"))
            .await;
    }
    // Each registration writes user.registered and identity.bound: 20 events, each delivered
    // by one of the two instances.
    for _ in 0..1500 {
        if seen.lock().unwrap().len() >= 20 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Every delivery is recorded as delivered after one attempt: two instances claiming one
    // delivery would both have sent it (and counted two attempts).
    let key = a.root_key().await;
    let mut settled = false;
    for _ in 0..1500 {
        let res = a.admin_get("/admin/v1/events?limit=100", &key).await;
        let events = res.ok()["events"].as_array().unwrap().clone();
        if events.len() == 20
            && events
                .iter()
                .all(|e| e["deliveries"][0]["status"] == "delivered")
        {
            for e in &events {
                assert_eq!(e["deliveries"][0]["attempts"], 1, "{e}");
            }
            settled = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        settled,
        "the 20 deliveries were not all recorded as delivered"
    );
    let delivered = seen.lock().unwrap().clone();
    let mut distinct = delivered.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 20, "{delivered:?}");
    assert_eq!(
        delivered.len(),
        20,
        "an event was delivered twice: {delivered:?}"
    );
    drop((a, b));
    drop(db);
}
