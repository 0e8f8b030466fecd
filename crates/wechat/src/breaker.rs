//! A circuit breaker per WeChat API, so that a WeChat outage costs each login one fast `503`
//! instead of a full request timeout, and WeChat is not hammered while it recovers.
//!
//! * **Closed**: calls go through. `failure_threshold` *consecutive* failures of one API open
//!   its breaker. A failure is what says "WeChat is not answering": errcode -1, a transport
//!   error (connection refused or reset, DNS, TLS, timeout), HTTP 5xx, or an unreadable reply.
//!   Any other answer (success, or a business errcode such as 40029, 40163, 45011) shows WeChat
//!   is up, and resets the count.
//! * **Open**: for `cool_down`, every call fails at once with [`WeChatError::CircuitOpen`]
//!   (the port's `Unavailable`, so `503 wechat_unavailable`); **nothing is sent**.
//! * **Half-open**: after the cool-down, exactly one call goes through as a probe; the others
//!   keep failing fast. A healthy answer closes the breaker, a failure re-opens it for another
//!   `cool_down`. A probe whose caller gave up (its future dropped) lets the next call probe.
//!
//! The breaker only ever *refuses before sending*; it never resends anything, so it cannot
//! exchange a login or phone code twice (`docs/wechat.md` §9.2, the hard rule).
//!
//! Results of calls admitted before the breaker last changed state are ignored: a slow call
//! from before an outage must not close a breaker that has since opened, and a late failure
//! must not re-open one a probe has just closed.
//!
//! Written by hand rather than taken from a crate: `failsafe`, the established Rust one, lets
//! *every* call through while half-open (we want one probe, since each call may carry a
//! single-use code), reads the system clock directly (tests here drive time through
//! core's [`Clock`]), and would be a new workspace dependency for about a hundred lines.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::errcode::{Endpoint, Errcode};
use crate::error::WeChatError;
use crate::telemetry;
use wxlogin_core::clock::{Clock, SystemClock};

/// Consecutive failures of one API that open its breaker, by default.
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 5;
/// How long an open breaker refuses calls before it lets a probe through, by default.
pub const DEFAULT_COOL_DOWN: Duration = Duration::from_secs(10);

/// Tuning for the per-API circuit breakers of a [`crate::WeChatClient`].
#[derive(Clone)]
pub struct BreakerConfig {
    /// Consecutive failures of one API that open its breaker (default 5). `0` turns the
    /// breakers off.
    pub failure_threshold: u32,
    /// How long an open breaker refuses calls before one probe goes through (default 10 s).
    pub cool_down: Duration,
    /// The time source for the cool-down (default: the [`SystemClock`], whose monotonic time
    /// is tokio's, so a paused test runtime drives it too).
    pub clock: Arc<dyn Clock>,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: DEFAULT_FAILURE_THRESHOLD,
            cool_down: DEFAULT_COOL_DOWN,
            clock: Arc::new(SystemClock),
        }
    }
}

impl BreakerConfig {
    /// No breaker: every call is sent, whatever happened before.
    pub fn disabled() -> Self {
        Self {
            failure_threshold: 0,
            ..Self::default()
        }
    }
}

impl fmt::Debug for BreakerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerConfig")
            .field("failure_threshold", &self.failure_threshold)
            .field("cool_down", &self.cool_down)
            .finish_non_exhaustive()
    }
}

/// Where one API's breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls fail at once. Stays reported as open after the cool-down until the next call,
    /// which becomes the probe.
    Open,
    /// One probe is in flight (or was abandoned); other calls fail at once.
    HalfOpen,
}

/// The breakers of every API, shared by all clones of a client.
pub(crate) struct Breakers {
    config: BreakerConfig,
    apis: Mutex<HashMap<Endpoint, Circuit>>,
}

#[derive(Default)]
struct Circuit {
    state: State,
    /// Bumped on every state change; a permit from an older generation records nothing.
    generation: u64,
}

enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

impl Default for State {
    fn default() -> Self {
        Self::Closed { failures: 0 }
    }
}

impl Circuit {
    fn set(&mut self, state: State) {
        self.state = state;
        self.generation += 1;
    }
}

impl Breakers {
    pub(crate) fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            apis: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn config(&self) -> &BreakerConfig {
        &self.config
    }

    fn enabled(&self) -> bool {
        self.config.failure_threshold > 0
    }

    /// Permission to send one request to `endpoint`, or [`WeChatError::CircuitOpen`].
    pub(crate) fn acquire(&self, endpoint: Endpoint) -> Result<Permit<'_>, WeChatError> {
        let mut permit = Permit {
            breakers: self,
            endpoint,
            generation: 0,
            probe: false,
            settled: false,
        };
        if !self.enabled() {
            permit.settled = true;
            return Ok(permit);
        }
        let now = self.config.clock.instant();
        let mut apis = self.lock();
        let circuit = apis.entry(endpoint).or_default();
        match circuit.state {
            State::Closed { .. } => {}
            State::Open { until } if now >= until => {
                circuit.set(State::HalfOpen { probing: true });
                permit.probe = true;
                tracing::info!(api = %endpoint, "wechat circuit breaker half-open; sending one probe");
            }
            State::HalfOpen { probing: false } => {
                circuit.state = State::HalfOpen { probing: true };
                permit.probe = true;
            }
            State::Open { .. } | State::HalfOpen { probing: true } => {
                drop(apis);
                telemetry::record_short_circuit(endpoint);
                return Err(WeChatError::CircuitOpen(endpoint));
            }
        }
        permit.generation = circuit.generation;
        Ok(permit)
    }

    /// The state of `endpoint`'s breaker (always [`BreakerState::Closed`] when disabled).
    pub(crate) fn state(&self, endpoint: Endpoint) -> BreakerState {
        match self.lock().get(&endpoint).map(|c| &c.state) {
            None | Some(State::Closed { .. }) => BreakerState::Closed,
            Some(State::Open { .. }) => BreakerState::Open,
            Some(State::HalfOpen { .. }) => BreakerState::HalfOpen,
        }
    }

    fn record(&self, permit: &Permit<'_>, failed: bool) {
        let now = self.config.clock.instant();
        let mut apis = self.lock();
        let Some(circuit) = apis.get_mut(&permit.endpoint) else {
            return;
        };
        if circuit.generation != permit.generation {
            return;
        }
        let endpoint = permit.endpoint;
        let open_until = now + self.config.cool_down;
        match circuit.state {
            State::Closed { failures } if failed => {
                let failures = failures.saturating_add(1);
                if failures >= self.config.failure_threshold {
                    circuit.set(State::Open { until: open_until });
                    drop(apis);
                    telemetry::record_breaker_open(endpoint);
                    tracing::warn!(api = %endpoint, failures, cool_down = ?self.config.cool_down,
                        "wechat circuit breaker opened; failing fast");
                } else {
                    circuit.state = State::Closed { failures };
                }
            }
            State::Closed { .. } => circuit.state = State::Closed { failures: 0 },
            State::HalfOpen { .. } if failed => {
                circuit.set(State::Open { until: open_until });
                drop(apis);
                telemetry::record_breaker_open(endpoint);
                tracing::warn!(api = %endpoint, cool_down = ?self.config.cool_down,
                    "wechat circuit breaker probe failed; open again");
            }
            State::HalfOpen { .. } => {
                circuit.set(State::Closed { failures: 0 });
                drop(apis);
                tracing::info!(api = %endpoint, "wechat circuit breaker closed");
            }
            // A state change always bumps the generation, so no permit can match an open one.
            State::Open { .. } => {}
        }
    }

    /// A probe's caller gave up before WeChat answered: let the next call probe.
    fn abandon(&self, permit: &Permit<'_>) {
        let mut apis = self.lock();
        if let Some(circuit) = apis.get_mut(&permit.endpoint)
            && circuit.generation == permit.generation
            && matches!(circuit.state, State::HalfOpen { probing: true })
        {
            circuit.state = State::HalfOpen { probing: false };
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Endpoint, Circuit>> {
        // Nothing panics while holding it; if something ever did, the states are still valid.
        self.apis
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl fmt::Debug for Breakers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.config.fmt(f)
    }
}

/// Leave to send one request; hand it the result with [`Permit::settle`].
pub(crate) struct Permit<'a> {
    breakers: &'a Breakers,
    endpoint: Endpoint,
    generation: u64,
    probe: bool,
    settled: bool,
}

impl Permit<'_> {
    /// Records how the request went.
    pub(crate) fn settle<T>(mut self, result: &Result<T, WeChatError>) {
        self.settled = true;
        let failed = matches!(result, Err(error) if counts_as_failure(error));
        self.breakers.record(&self, failed);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.settled && self.probe {
            self.breakers.abandon(self);
        }
    }
}

/// Whether an answer (or its absence) says WeChat is not answering: -1, transport errors
/// (timeouts included), HTTP 5xx, an unreadable reply. Business errcodes say it is up.
pub(crate) fn counts_as_failure(error: &WeChatError) -> bool {
    match error {
        WeChatError::Api { errcode, .. } => *errcode == Errcode::SystemError,
        WeChatError::Transport(_) | WeChatError::Decode(_) => true,
        WeChatError::Status(status) => *status >= 500,
        WeChatError::NotConfigured(_)
        | WeChatError::TokenRefresh(_)
        | WeChatError::RefreshAborted
        | WeChatError::CircuitOpen(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DecodeError;
    use wxlogin_core::clock::ManualClock;

    const API: Endpoint = Endpoint::Jscode2session;

    fn breakers(threshold: u32) -> (Breakers, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new());
        let config = BreakerConfig {
            failure_threshold: threshold,
            cool_down: Duration::from_secs(10),
            clock: clock.clone(),
        };
        (Breakers::new(config), clock)
    }

    fn busy() -> Result<(), WeChatError> {
        Err(api_error(-1))
    }

    fn api_error(code: i64) -> WeChatError {
        WeChatError::Api {
            endpoint: API,
            errcode: Errcode::from_code(code),
            errmsg: String::new(),
        }
    }

    fn fail_times(b: &Breakers, n: u32) {
        for _ in 0..n {
            b.acquire(API).unwrap().settle(&busy());
        }
    }

    #[test]
    fn it_opens_after_the_threshold_of_consecutive_failures() {
        let (b, _) = breakers(3);
        fail_times(&b, 2);
        assert_eq!(b.state(API), BreakerState::Closed);

        fail_times(&b, 1);

        assert_eq!(b.state(API), BreakerState::Open);
        assert!(matches!(b.acquire(API), Err(WeChatError::CircuitOpen(API))));
        assert_eq!(
            b.state(Endpoint::StableToken),
            BreakerState::Closed,
            "one breaker per API"
        );
    }

    #[test]
    fn a_business_answer_resets_the_count() {
        let (b, _) = breakers(3);
        fail_times(&b, 2);
        b.acquire(API)
            .unwrap()
            .settle(&Err::<(), _>(api_error(40029)));
        fail_times(&b, 2);

        assert_eq!(b.state(API), BreakerState::Closed);
    }

    #[test]
    fn after_the_cool_down_exactly_one_probe_goes_through() {
        let (b, clock) = breakers(1);
        fail_times(&b, 1);
        clock.advance(Duration::from_millis(9_999));
        assert!(b.acquire(API).is_err(), "still cooling down");
        clock.advance(Duration::from_millis(1));

        let probe = b.acquire(API).expect("the probe");
        let second = b.acquire(API);

        assert!(matches!(second, Err(WeChatError::CircuitOpen(API))));
        assert_eq!(b.state(API), BreakerState::HalfOpen);
        probe.settle(&Ok(()));
        assert_eq!(b.state(API), BreakerState::Closed);
        assert!(b.acquire(API).is_ok());
    }

    #[test]
    fn a_failed_probe_opens_it_for_another_cool_down() {
        let (b, clock) = breakers(1);
        fail_times(&b, 1);
        clock.advance(Duration::from_secs(10));

        b.acquire(API).unwrap().settle(&busy());

        assert_eq!(b.state(API), BreakerState::Open);
        clock.advance(Duration::from_secs(9));
        assert!(b.acquire(API).is_err());
        clock.advance(Duration::from_secs(1));
        assert!(b.acquire(API).is_ok());
    }

    #[test]
    fn an_abandoned_probe_lets_the_next_call_probe() {
        let (b, clock) = breakers(1);
        fail_times(&b, 1);
        clock.advance(Duration::from_secs(10));

        drop(b.acquire(API).unwrap());

        let probe = b.acquire(API).expect("a new probe");
        probe.settle(&Ok(()));
        assert_eq!(b.state(API), BreakerState::Closed);
    }

    #[test]
    fn a_late_answer_from_before_the_breaker_opened_changes_nothing() {
        let (b, clock) = breakers(2);
        let slow_success = b.acquire(API).unwrap();
        let slow_failure = b.acquire(API).unwrap();
        fail_times(&b, 2);

        slow_success.settle(&Ok(()));
        assert_eq!(b.state(API), BreakerState::Open, "a stale success");
        clock.advance(Duration::from_secs(10));
        b.acquire(API).unwrap().settle(&Ok(()));
        slow_failure.settle(&busy());
        fail_times(&b, 1);

        assert_eq!(
            b.state(API),
            BreakerState::Closed,
            "the stale failure was not counted"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_default_clock_follows_a_paused_runtime_so_it_drives_the_cool_down() {
        let b = Breakers::new(BreakerConfig::default());
        fail_times(&b, DEFAULT_FAILURE_THRESHOLD);
        assert!(b.acquire(API).is_err());

        tokio::time::advance(DEFAULT_COOL_DOWN).await;

        assert!(b.acquire(API).is_ok(), "the probe");
    }

    #[test]
    fn a_zero_threshold_disables_it() {
        let (b, _) = breakers(0);
        fail_times(&b, 100);
        assert_eq!(b.state(API), BreakerState::Closed);
        assert!(b.acquire(API).is_ok());
    }

    #[test]
    fn only_unavailability_counts_as_failure() {
        assert!(counts_as_failure(&api_error(-1)));
        assert!(counts_as_failure(&WeChatError::Status(502)));
        assert!(counts_as_failure(&WeChatError::Decode(
            DecodeError::TooLarge { limit: 1 }
        )));
        assert!(!counts_as_failure(&WeChatError::Status(404)));
        for code in [40029, 40163, 40226, 45009, 45011, 40001, 40125] {
            assert!(!counts_as_failure(&api_error(code)), "{code}");
        }
        assert!(!counts_as_failure(&WeChatError::CircuitOpen(API)));
    }
}
