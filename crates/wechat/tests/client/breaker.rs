//! The per-API circuit breakers against the simulator: what opens them, that an open one sends
//! nothing, the half-open probe, and that no code is ever exchanged twice because of them.
//! Time moves through the test clock ([`TestEnv::advance`]); nothing sleeps to wait for state.

use std::time::{Duration, Instant};

use futures::future::join_all;
use wxlogin_core::secret::LoginCode;
use wxlogin_core::wechat::{WeChatApi, WeChatFailure};
use wxlogin_wechat::{BreakerConfig, BreakerState, Endpoint, WeChatAdapter, WeChatError};
use wxlogin_wechat_sim::{Api, Fault, SimConfig};

use crate::support::TestEnv;

/// The default threshold and cool-down.
const THRESHOLD: u64 = 5;
const COOL_DOWN: Duration = Duration::from_secs(10);
/// Far below any request timeout: a short-circuited call does no I/O at all.
const FAST: Duration = Duration::from_millis(500);

async fn login(env: &TestEnv, adapter: &WeChatAdapter) -> Result<(), WeChatFailure> {
    let (code, _) = env.login_code("alice");
    adapter
        .code_to_session(&TestEnv::app(), code)
        .await
        .map(|_| ())
}

/// Opens the login breaker with `THRESHOLD` answers of -1, plus `extra` more queued.
async fn open_login_breaker(env: &TestEnv, adapter: &WeChatAdapter, extra: u64) {
    env.fault(Api::Jscode2session, -1, THRESHOLD + extra);
    for _ in 0..THRESHOLD {
        let failure = login(env, adapter).await;
        assert_eq!(
            failure,
            Err(WeChatFailure::Unavailable { errcode: Some(-1) })
        );
    }
    assert_eq!(
        env.client.breaker_state(Endpoint::Jscode2session),
        BreakerState::Open
    );
}

#[tokio::test]
async fn a_system_error_storm_opens_the_breaker_and_later_logins_fail_fast_without_a_request() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    open_login_breaker(&env, &adapter, 100).await;

    let started = Instant::now();
    let failures = join_all((0..20).map(|_| login(&env, &adapter))).await;
    let elapsed = started.elapsed();

    for failure in failures {
        assert_eq!(failure, Err(WeChatFailure::Unavailable { errcode: None }));
    }
    assert!(elapsed < FAST, "20 short-circuited logins took {elapsed:?}");
    assert_eq!(
        env.calls("jscode2session"),
        THRESHOLD,
        "nothing sent while open"
    );
}

#[tokio::test]
async fn an_open_breaker_refuses_in_the_client_with_circuit_open() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    open_login_breaker(&env, &adapter, 0).await;
    let (code, _) = env.login_code("alice");

    let error = env
        .client
        .code_to_session(&TestEnv::app(), &TestEnv::secret(), code)
        .await
        .unwrap_err();

    assert!(
        matches!(error, WeChatError::CircuitOpen(Endpoint::Jscode2session)),
        "{error:?}"
    );
    assert!(error.is_unavailable() && error.is_circuit_open());
}

#[tokio::test]
async fn the_breaker_of_one_api_leaves_the_others_alone() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    open_login_breaker(&env, &adapter, 100).await;
    let (phone_code, _) = env.phone_code("alice");

    let phone = adapter
        .phone_number(&TestEnv::app(), phone_code, None)
        .await;

    assert!(phone.is_ok(), "{phone:?}");
    assert_eq!(
        env.client.breaker_state(Endpoint::StableToken),
        BreakerState::Closed
    );
}

#[tokio::test]
async fn after_the_cool_down_a_successful_probe_closes_the_breaker() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    open_login_breaker(&env, &adapter, 0).await;
    env.advance(COOL_DOWN - Duration::from_millis(1));
    assert_eq!(
        login(&env, &adapter).await,
        Err(WeChatFailure::Unavailable { errcode: None }),
        "still cooling down"
    );
    assert_eq!(env.calls("jscode2session"), THRESHOLD);

    env.advance(Duration::from_millis(1));
    let probe = login(&env, &adapter).await;

    assert_eq!(probe, Ok(()));
    assert_eq!(
        env.client.breaker_state(Endpoint::Jscode2session),
        BreakerState::Closed
    );
    assert_eq!(login(&env, &adapter).await, Ok(()));
    assert_eq!(env.calls("jscode2session"), THRESHOLD + 2);
}

#[tokio::test]
async fn a_failed_probe_opens_the_breaker_for_another_cool_down() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    open_login_breaker(&env, &adapter, 1).await;
    env.advance(COOL_DOWN);

    let probe = login(&env, &adapter).await;

    assert_eq!(probe, Err(WeChatFailure::Unavailable { errcode: Some(-1) }));
    assert_eq!(
        env.client.breaker_state(Endpoint::Jscode2session),
        BreakerState::Open
    );
    assert_eq!(
        login(&env, &adapter).await,
        Err(WeChatFailure::Unavailable { errcode: None })
    );
    assert_eq!(env.calls("jscode2session"), THRESHOLD + 1);
    env.advance(COOL_DOWN);
    assert_eq!(login(&env, &adapter).await, Ok(()), "the next probe");
}

#[tokio::test]
async fn while_the_probe_is_in_flight_every_other_call_fails_fast() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    open_login_breaker(&env, &adapter, 0).await;
    env.advance(COOL_DOWN);
    // Holds the probe long enough for the others to arrive while it is out.
    env.sim().inject_fault(Fault::delay_only(
        Api::Jscode2session,
        Duration::from_millis(300),
    ));

    let results = join_all((0..10).map(|_| login(&env, &adapter))).await;

    let succeeded = results.iter().filter(|r| r.is_ok()).count();
    let refused = results
        .iter()
        .filter(|r| **r == Err(WeChatFailure::Unavailable { errcode: None }))
        .count();
    assert_eq!((succeeded, refused), (1, 9), "{results:?}");
    assert_eq!(env.calls("jscode2session"), THRESHOLD + 1);
    assert_eq!(
        env.client.breaker_state(Endpoint::Jscode2session),
        BreakerState::Closed
    );
}

#[tokio::test]
async fn a_reply_slower_than_the_request_timeout_fails_within_the_timeout_and_counts() {
    let timeout = Duration::from_millis(200);
    let env = TestEnv::spawn_configured(SimConfig::default(), |config| {
        config.request_timeout = timeout;
        config.breaker.failure_threshold = 2;
    })
    .await;
    let (adapter, _) = env.adapter();
    env.sim()
        .inject_fault(Fault::delay_only(Api::Jscode2session, Duration::from_secs(30)).times(2));

    for _ in 0..2 {
        let started = Instant::now();
        let failure = login(&env, &adapter).await;
        let elapsed = started.elapsed();
        assert_eq!(failure, Err(WeChatFailure::Unavailable { errcode: None }));
        assert!(
            elapsed >= timeout && elapsed < timeout + FAST,
            "failed after {elapsed:?}"
        );
    }
    let (code, _) = env.login_code("alice");
    let started = Instant::now();
    let third = env
        .client
        .code_to_session(&TestEnv::app(), &TestEnv::secret(), code)
        .await;

    // Had it been sent, it would have succeeded: the two delays were used up.
    assert!(
        matches!(third, Err(WeChatError::CircuitOpen(_))),
        "{third:?}"
    );
    assert!(started.elapsed() < timeout, "{:?}", started.elapsed());
}

#[tokio::test]
async fn business_errcodes_never_open_the_breaker() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    let rounds = 2 * THRESHOLD;

    for _ in 0..rounds {
        let unknown = adapter
            .code_to_session(&TestEnv::app(), LoginCode::new("never-issued"))
            .await
            .map(|_| ());
        assert_eq!(unknown, Err(WeChatFailure::CodeInvalid { errcode: 40029 }));
    }
    env.fault(Api::Jscode2session, 45011, rounds);
    for _ in 0..rounds {
        let limited = login(&env, &adapter).await;
        assert_eq!(limited, Err(WeChatFailure::RateLimited { errcode: 45011 }));
    }
    env.fault(Api::Jscode2session, 40226, rounds);
    for _ in 0..rounds {
        let blocked = login(&env, &adapter).await;
        assert_eq!(blocked, Err(WeChatFailure::Blocked { errcode: 40226 }));
    }
    env.fault(Api::GetUserPhoneNumber, 45011, rounds);
    for _ in 0..rounds {
        let (code, _) = env.phone_code("alice");
        let limited = adapter.phone_number(&TestEnv::app(), code, None).await;
        assert_eq!(limited, Err(WeChatFailure::RateLimited { errcode: 45011 }));
    }

    assert_eq!(env.calls("jscode2session"), 3 * rounds, "all sent");
    assert_eq!(env.calls("getuserphonenumber"), rounds, "all sent");
    for endpoint in [Endpoint::Jscode2session, Endpoint::GetUserPhoneNumber] {
        assert_eq!(env.client.breaker_state(endpoint), BreakerState::Closed);
    }
}

#[tokio::test]
async fn an_answer_between_failures_resets_the_count() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    env.fault(Api::Jscode2session, -1, THRESHOLD - 1);
    env.fault(Api::Jscode2session, 40029, 1);
    env.fault(Api::Jscode2session, -1, THRESHOLD - 1);

    for _ in 0..2 * THRESHOLD - 1 {
        assert!(login(&env, &adapter).await.is_err());
    }

    assert_eq!(
        env.client.breaker_state(Endpoint::Jscode2session),
        BreakerState::Closed
    );
    assert_eq!(login(&env, &adapter).await, Ok(()));
}

#[tokio::test]
async fn no_login_code_is_ever_exchanged_twice_through_an_outage() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    // The harsh case: WeChat uses each code up, then answers -1.
    let mut storm = Fault::errcode(Api::Jscode2session, -1).times(THRESHOLD);
    storm.after_processing = true;
    env.sim().inject_fault(storm);
    let codes: Vec<String> = (0..3 * THRESHOLD)
        .map(|i| env.login_code(&format!("user{i}")).1)
        .collect();

    let mut refused = Vec::new();
    for raw in &codes {
        let result = adapter
            .code_to_session(&TestEnv::app(), LoginCode::new(raw.as_str()))
            .await;
        match result {
            Err(WeChatFailure::Unavailable { errcode: Some(-1) }) => {}
            Err(WeChatFailure::Unavailable { errcode: None }) => refused.push(raw),
            other => panic!("unexpected {other:?}"),
        }
    }
    env.advance(COOL_DOWN);
    // A refused code never reached WeChat, so the client may still use it once.
    for raw in &refused {
        let session = adapter
            .code_to_session(&TestEnv::app(), LoginCode::new(raw.as_str()))
            .await;
        assert!(session.is_ok(), "{session:?}");
    }

    assert_eq!(refused.len() as u64, 2 * THRESHOLD);
    assert_eq!(env.calls_with("jscode2session", "-1"), THRESHOLD);
    assert_eq!(env.calls_with("jscode2session", "0"), 2 * THRESHOLD);
    assert_eq!(
        env.calls_with("jscode2session", "40163"),
        0,
        "no code was sent twice"
    );
    assert_eq!(env.calls("jscode2session"), 3 * THRESHOLD);
}

#[tokio::test]
async fn token_fetch_retries_stop_at_an_open_breaker_and_the_phone_api_is_not_called() {
    let env = TestEnv::spawn().await;
    let (adapter, _) = env.adapter();
    env.fault(Api::StableToken, -1, 100);

    // A fetch of three attempts, then one of two: the fifth failure opens the breaker, so the
    // second fetch stops there and reports WeChat's -1.
    for _ in 0..2 {
        let (code, _) = env.phone_code("alice");
        let failure = adapter.phone_number(&TestEnv::app(), code, None).await;
        assert_eq!(
            failure,
            Err(WeChatFailure::Unavailable { errcode: Some(-1) })
        );
    }
    let (code, _) = env.phone_code("alice");
    let refused = adapter.phone_number(&TestEnv::app(), code, None).await;

    assert_eq!(refused, Err(WeChatFailure::Unavailable { errcode: None }));
    assert_eq!(env.calls("stable_token"), THRESHOLD);
    assert_eq!(env.calls("getuserphonenumber"), 0);
    assert_eq!(
        env.client.breaker_state(Endpoint::StableToken),
        BreakerState::Open
    );
    env.sim().clear_faults();
    env.advance(COOL_DOWN);
    let (code, _) = env.phone_code("alice");
    let phone = adapter.phone_number(&TestEnv::app(), code, None).await;
    assert!(phone.is_ok(), "{phone:?}");
}

#[tokio::test]
async fn a_disabled_breaker_sends_every_call() {
    let env = TestEnv::spawn_configured(SimConfig::default(), |config| {
        config.breaker = BreakerConfig::disabled();
    })
    .await;
    let (adapter, _) = env.adapter();
    env.fault(Api::Jscode2session, -1, 3 * THRESHOLD);

    for _ in 0..3 * THRESHOLD {
        assert_eq!(
            login(&env, &adapter).await,
            Err(WeChatFailure::Unavailable { errcode: Some(-1) })
        );
    }

    assert_eq!(env.calls("jscode2session"), 3 * THRESHOLD);
}
