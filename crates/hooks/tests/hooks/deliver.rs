//! The deliverer against the in-memory outbox and real loopback receivers.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use wxlogin_core::events::{DeliveryStatus, EventStore, EventType};
use wxlogin_hooks::{DelivererConfig, WebhookSecret};

use crate::receiver::{Answer, Receiver, closed_port_url};
use crate::support::{deliverer, endpoint, sealer, setup, t0, with_identity};

const PHONE: &str = "86:13800138000";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[tokio::test]
async fn a_delivery_is_signed_with_the_endpoints_secret_and_recorded_as_delivered() {
    let receiver = Receiver::start(vec![], Answer::With(204, "")).await;
    let secret = WebhookSecret::generate();
    let hook = endpoint(receiver.url("/hooks/wx"), &secret, &["*"], false);
    let id = hook.id();
    let (store, clock, deliverer) = setup(vec![hook], DelivererConfig::default());
    assert_eq!(
        deliverer.run_once().await,
        0,
        "nothing before the endpoint existed"
    );
    let user = store.add_user(&sealer(), PHONE);
    let event = store.push_with(EventType::UserRegistered, &user, t0(), with_identity);
    clock.advance(secs(2));

    assert_eq!(deliverer.run_once().await, 1);

    let got = receiver.received();
    assert_eq!(got.len(), 1);
    let request = &got[0];
    assert_eq!(request.path, "/hooks/wx");
    assert_eq!(request.header("content-type"), "application/json");
    assert_eq!(request.header("webhook-id"), event.id.as_str());
    let sent_at = (t0() + secs(2)).unix_timestamp().to_string();
    assert_eq!(request.header("webhook-timestamp"), sent_at);
    // Recomputed here from the secret's text, apart from the crate's signing code.
    let key = STANDARD
        .decode(secret.expose_secret().strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{sent_at}.", event.id).as_bytes());
    mac.update(&request.body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    assert_eq!(request.header("webhook-signature"), expected);
    assert_eq!(
        secret.verify_headers(&request.headers, &request.body, t0() + secs(2)),
        Ok(())
    );
    assert_eq!(
        request.json(),
        json!({
            "id": event.id.as_str(),
            "type": "user.registered",
            "timestamp": "2026-01-01T00:00:00Z",
            "data": {
                "user_id": user.as_str(),
                "external_id": null,
                "appid": "wx4f4bc4dec97d474b",
                "openid": "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"
            }
        })
    );
    let state = store.delivery(&id, &event.id).unwrap();
    assert_eq!(state.status, DeliveryStatus::Delivered);
    assert_eq!(state.attempts, 1);
    assert_eq!(state.last_error, None);
    assert_eq!(deliverer.run_once().await, 0, "delivered once");
}

#[tokio::test]
async fn a_receiver_failing_three_times_gets_the_event_once_after_four_attempts() {
    let failing = Answer::With(500, r#"{"error": "stack trace with secrets"}"#);
    let script = vec![failing.clone(), Answer::With(503, "busy"), failing];
    let receiver = Receiver::start(script, Answer::With(200, "ok")).await;
    let secret = WebhookSecret::generate();
    // A token in the query must not reach last_error either.
    let hook = endpoint(
        receiver.url("/hook?token=QUERY-TOKEN"),
        &secret,
        &["*"],
        false,
    );
    let id = hook.id();
    let (store, clock, deliverer) = setup(vec![hook], DelivererConfig::default());
    deliverer.run_once().await;
    let user = store.add_user(&sealer(), PHONE);
    let event = store.push(EventType::UserUpdated, &user, t0());
    let state = || store.delivery(&id, &event.id).unwrap();

    // (when, attempts after it, the recorded error, the next attempt's time)
    let steps = [
        (0, 1, "HTTP 500", 5),
        (5, 2, "HTTP 503", 35),
        (35, 3, "HTTP 500", 155),
    ];
    for (at, attempts, error, next) in steps {
        clock.set(t0() + secs(at));
        assert_eq!(deliverer.run_once().await, 1, "attempt {attempts}");
        let s = state();
        assert_eq!(s.status, DeliveryStatus::Pending);
        assert_eq!(s.attempts, attempts);
        assert_eq!(s.last_error.as_deref(), Some(error));
        assert_eq!(s.next_attempt_at, Some(t0() + secs(next)));
        clock.set(t0() + secs(next - 1));
        assert_eq!(deliverer.run_once().await, 0, "not due before {next} s");
    }
    clock.set(t0() + secs(155));
    assert_eq!(deliverer.run_once().await, 1);
    let s = state();
    assert_eq!(s.status, DeliveryStatus::Delivered);
    assert_eq!(s.attempts, 4);
    clock.set(t0() + secs(86_400));
    assert_eq!(deliverer.run_once().await, 0, "never sent again");

    let got = receiver.received();
    assert_eq!(got.len(), 4);
    let stamps: Vec<&str> = got.iter().map(|r| r.header("webhook-timestamp")).collect();
    let expected: Vec<String> = [0, 5, 35, 155]
        .iter()
        .map(|s| (t0() + secs(*s)).unix_timestamp().to_string())
        .collect();
    assert_eq!(stamps, expected);
    assert!(
        got.iter()
            .all(|r| r.header("webhook-id") == event.id.as_str())
    );
    assert!(
        got.iter().all(|r| r.body == got[0].body),
        "same body each time"
    );
}

#[tokio::test]
async fn a_delivery_is_dead_once_its_next_retry_would_fall_past_three_days() {
    let receiver = Receiver::start(vec![], Answer::With(500, "")).await;
    let hook = endpoint(receiver.url("/"), &WebhookSecret::generate(), &["*"], false);
    let id = hook.id();
    let (store, clock, deliverer) = setup(vec![hook], DelivererConfig::default());
    deliverer.run_once().await;
    let user = store.add_user(&sealer(), PHONE);
    let event = store.push(EventType::UserDisabled, &user, t0());

    assert_eq!(deliverer.run_once().await, 1, "the first attempt, at once");
    let mut attempts_at = vec![0];
    loop {
        let s = store.delivery(&id, &event.id).unwrap();
        if s.status != DeliveryStatus::Pending {
            assert_eq!(s.status, DeliveryStatus::Dead);
            assert_eq!(s.last_error.as_deref(), Some("HTTP 500"));
            assert_eq!(s.next_attempt_at, None);
            assert_eq!(s.attempts as usize, attempts_at.len());
            break;
        }
        let at = s.next_attempt_at.unwrap();
        clock.set(at);
        assert_eq!(deliverer.run_once().await, 1);
        attempts_at.push((at - t0()).whole_seconds());
    }
    let gaps: Vec<i64> = attempts_at.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(gaps[..5], [5, 30, 120, 600, 3600]);
    assert!(gaps[5..].iter().all(|&g| g == 4 * 3600), "{gaps:?}");
    let last = *attempts_at.last().unwrap();
    assert!(
        last <= 3 * 86_400 && last + 4 * 3600 > 3 * 86_400,
        "{attempts_at:?}"
    );
    assert_eq!(attempts_at.len(), 23);
    assert_eq!(receiver.received().len(), 23);
}

#[tokio::test]
async fn the_current_phone_goes_only_to_endpoints_that_ask_and_only_while_the_user_exists() {
    let receiver = Receiver::start(vec![], Answer::With(204, "")).await;
    let secret = WebhookSecret::generate();
    let with = endpoint(receiver.url("/with"), &secret, &["*"], true);
    let without = endpoint(receiver.url("/without"), &secret, &["*"], false);
    let (store, _clock, deliverer) = setup(vec![with, without], DelivererConfig::default());
    deliverer.run_once().await;
    let sealer = sealer();
    let kept = store.add_user(&sealer, PHONE);
    let gone = store.add_user(&sealer, "86:13900139000");
    let kept_event = store.push(EventType::UserUpdated, &kept, t0());
    let gone_event = store.push(EventType::UserDeleted, &gone, t0());
    // After the event: the body carries the phone as it is at delivery.
    store.set_phone(&sealer, &kept, "852:91234567");
    store.delete_user(&gone);

    assert_eq!(deliverer.run_once().await, 4);

    let got = receiver.received();
    let body = |path: &str, event: &wxlogin_core::events::EventRecord| {
        let request = got
            .iter()
            .find(|r| r.path == path && r.header("webhook-id") == event.id.as_str())
            .unwrap();
        request.json()["data"].clone()
    };
    assert_eq!(body("/with", &kept_event)["phone"], "+85291234567");
    let no_phone = |data: serde_json::Value| !data.as_object().unwrap().contains_key("phone");
    assert!(no_phone(body("/without", &kept_event)));
    assert!(no_phone(body("/with", &gone_event)), "the user is gone");
    assert!(no_phone(body("/without", &gone_event)));
}

#[tokio::test]
async fn endpoints_receive_only_their_types_and_the_wildcard_leaves_out_sign_ins() {
    let receiver = Receiver::start(vec![], Answer::With(204, "")).await;
    let secret = WebhookSecret::generate();
    let all = endpoint(receiver.url("/all"), &secret, &["*"], false);
    let sign_ins = endpoint(
        receiver.url("/sign-ins"),
        &secret,
        &["user.signed_in"],
        false,
    );
    let (store, clock, wildcard_only) = setup(vec![all.clone()], DelivererConfig::default());
    assert!(!wildcard_only.announces_sign_ins());
    let deliverer = deliverer(
        &store,
        &clock,
        vec![all, sign_ins],
        DelivererConfig::default(),
    );
    assert!(deliverer.announces_sign_ins());
    deliverer.run_once().await;
    let user = store.add_user(&sealer(), PHONE);
    store.push_with(EventType::UserSignedIn, &user, t0(), with_identity);
    store.push(EventType::UserEnabled, &user, t0());

    assert_eq!(deliverer.run_once().await, 2);
    let mut seen: Vec<(String, String)> = receiver
        .received()
        .iter()
        .map(|r| {
            (
                r.path.clone(),
                r.json()["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    let expected = [("/all", "user.enabled"), ("/sign-ins", "user.signed_in")]
        .map(|(path, kind)| (path.to_owned(), kind.to_owned()));
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn an_unreachable_receiver_is_a_connect_error_and_a_stalled_one_a_timeout() {
    let stalled = Receiver::start(vec![], Answer::Stall).await;
    let secret = WebhookSecret::generate();
    let closed = endpoint(closed_port_url(), &secret, &["*"], false);
    let slow = endpoint(stalled.url("/"), &secret, &["*"], false);
    let (closed_id, slow_id) = (closed.id(), slow.id());
    let config = DelivererConfig {
        attempt_timeout: Duration::from_millis(300),
        ..DelivererConfig::default()
    };
    let (store, _clock, deliverer) = setup(vec![closed, slow], config);
    deliverer.run_once().await;
    let user = store.add_user(&sealer(), PHONE);
    let event = store.push(EventType::UserUpdated, &user, t0());

    let started = Instant::now();
    assert_eq!(deliverer.run_once().await, 2);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    let closed_state = store.delivery(&closed_id, &event.id).unwrap();
    assert_eq!(closed_state.last_error.as_deref(), Some("connect error"));
    assert_eq!(closed_state.next_attempt_at, Some(t0() + secs(5)));
    let slow_state = store.delivery(&slow_id, &event.id).unwrap();
    assert_eq!(slow_state.last_error.as_deref(), Some("timeout"));
    assert_eq!(slow_state.status, DeliveryStatus::Pending);
}

#[tokio::test]
async fn a_store_outage_while_reading_the_user_spends_no_attempt() {
    let receiver = Receiver::start(vec![], Answer::With(204, "")).await;
    let hook = endpoint(receiver.url("/"), &WebhookSecret::generate(), &["*"], true);
    let id = hook.id();
    let (store, clock, deliverer) = setup(vec![hook], DelivererConfig::default());
    deliverer.run_once().await;
    let user = store.add_user(&sealer(), PHONE);
    let event = store.push(EventType::UserUpdated, &user, t0());

    store.users_down.store(true, Ordering::SeqCst);
    assert_eq!(deliverer.run_once().await, 1);
    assert!(receiver.received().is_empty());
    let s = store.delivery(&id, &event.id).unwrap();
    assert_eq!(
        (s.attempts, s.next_attempt_at),
        (0, Some(t0() + secs(60))),
        "the lease"
    );

    store.users_down.store(false, Ordering::SeqCst);
    clock.set(t0() + secs(60));
    assert_eq!(deliverer.run_once().await, 1);
    let s = store.delivery(&id, &event.id).unwrap();
    assert_eq!((s.status, s.attempts), (DeliveryStatus::Delivered, 1));
    assert_eq!(
        receiver.received()[0].json()["data"]["phone"],
        "+8613800138000"
    );
}

#[tokio::test]
async fn a_delivery_for_an_endpoint_this_instance_lacks_is_retried_on_schedule() {
    let receiver = Receiver::start(vec![], Answer::With(204, "")).await;
    let hook = endpoint(
        receiver.url("/new"),
        &WebhookSecret::generate(),
        &["*"],
        false,
    );
    let id = hook.id();
    // An instance that already has the new endpoint fans the event out...
    let (store, clock, newer) = setup(vec![hook.clone()], DelivererConfig::default());
    newer.run_once().await;
    let user = store.add_user(&sealer(), PHONE);
    let event = store.push(EventType::UserUpdated, &user, t0());
    store
        .fan_out(&[hook.subscription()], t0(), 500)
        .await
        .unwrap();
    // ...and an instance still on the old configuration claims it first.
    let older = deliverer(&store, &clock, vec![], DelivererConfig::default());
    assert_eq!(older.run_once().await, 1);
    let s = store.delivery(&id, &event.id).unwrap();
    assert_eq!(s.last_error.as_deref(), Some("endpoint not configured"));
    assert_eq!(s.next_attempt_at, Some(t0() + secs(5)));

    clock.set(t0() + secs(5));
    assert_eq!(newer.run_once().await, 1);
    assert_eq!(
        store.delivery(&id, &event.id).unwrap().status,
        DeliveryStatus::Delivered
    );
}

#[tokio::test]
async fn a_poke_starts_a_round_without_waiting_for_the_tick_and_shutdown_stops_the_loop() {
    let receiver = Receiver::start(vec![], Answer::With(204, "")).await;
    let hook = endpoint(receiver.url("/"), &WebhookSecret::generate(), &["*"], false);
    let config = DelivererConfig {
        tick: Duration::from_secs(3600),
        ..DelivererConfig::default()
    };
    let (store, _clock, deliverer) = setup(vec![hook], config);
    let notifier = deliverer.notifier();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(deliverer.run(async {
        let _ = stopped.await;
    }));
    // The first round registers the endpoint; the event comes after it.
    wait_for(|| store.claims.load(Ordering::SeqCst) >= 1).await;
    let user = store.add_user(&sealer(), PHONE);
    store.push(EventType::UserUpdated, &user, t0());
    notifier.notify_one();
    wait_for(|| receiver.received().len() == 1).await;

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("run returns on shutdown")
        .unwrap();
}

/// Polls `condition` for at most 5 s: the tick is an hour, so only a poke can meet it.
async fn wait_for(condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(Instant::now() < deadline, "condition not met within 5 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn the_deliverer_prints_no_secret_and_no_url_query() {
    let secret = WebhookSecret::generate();
    let url = url::Url::parse("https://hooks.example.com/wx?token=QUERY-TOKEN").unwrap();
    let hook = endpoint(url, &secret, &["*"], true);
    let (_store, _clock, deliverer) = setup(vec![hook], DelivererConfig::default());
    let shown = format!("{deliverer:?}");
    let text = secret.expose_secret();
    assert!(!shown.contains(&text["whsec_".len()..]), "{shown}");
    assert!(!shown.contains("QUERY-TOKEN"), "{shown}");
    assert!(shown.contains("hooks.example.com/wx"), "{shown}");
}

#[test]
fn endpoints_sharing_a_url_or_breaking_the_url_policy_are_refused() {
    let secret = WebhookSecret::generate();
    let url = url::Url::parse("https://hooks.example.com/wx").unwrap();
    let twice = vec![
        endpoint(url.clone(), &secret, &["*"], false),
        endpoint(url, &secret, &["user.deleted"], true),
    ];
    let store = std::sync::Arc::new(crate::support::FakeStore::default());
    let clock = std::sync::Arc::new(crate::support::ManualClock::at(t0()));
    let build = |endpoints| {
        wxlogin_hooks::Deliverer::new(
            store.clone(),
            store.clone(),
            sealer(),
            endpoints,
            clock.clone(),
            DelivererConfig::default(),
        )
    };
    assert!(matches!(
        build(twice),
        Err(wxlogin_hooks::BuildError::DuplicateEndpoint(_))
    ));
    let plain = url::Url::parse("http://hooks.example.com/wx").unwrap();
    assert!(matches!(
        build(vec![endpoint(plain, &secret, &["*"], false)]),
        Err(wxlogin_hooks::BuildError::Url(_))
    ));
}
