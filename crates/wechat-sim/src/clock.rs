//! The simulator's clock: real time plus an offset that tests move forward.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Wall-clock time shifted by an offset that only grows.
///
/// Every deadline in the simulator (code TTLs, token lifetimes, session_key lifetimes, the
/// Beijing day of the daily quotas) reads this clock, so a test expires things by calling
/// [`SimClock::advance`] instead of sleeping.
///
/// A frozen clock ([`SimClock::freeze`]) stops following real time and moves only through
/// `advance`, so that boundary tests ("alive at 299 s, dead at 300 s") hold however slowly
/// a loaded machine runs them.
#[derive(Debug, Default)]
pub struct SimClock {
    offset_ms: AtomicI64,
    /// Real time when frozen, in ms; 0 while the clock follows real time.
    frozen_at_ms: AtomicI64,
}

impl SimClock {
    /// A clock that reads real time (offset zero).
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops following real time: from now on only [`SimClock::advance`] moves the clock.
    pub fn freeze(&self) {
        let _ = self.frozen_at_ms.compare_exchange(
            0,
            real_millis().max(1),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Moves the clock forward. Saturates rather than wrapping on absurd durations.
    pub fn advance(&self, by: Duration) {
        let by_ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        // fetch_update never fails here: the closure always returns Some.
        let _ = self
            .offset_ms
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                Some(cur.saturating_add(by_ms))
            });
    }

    /// How far this clock runs ahead of real time.
    pub fn offset(&self) -> Duration {
        let ms = self.offset_ms.load(Ordering::Acquire);
        Duration::from_millis(u64::try_from(ms).unwrap_or(0))
    }

    /// Seconds since the Unix epoch, as WeChat writes timestamps.
    pub fn now_unix(&self) -> i64 {
        self.now_millis().div_euclid(1000)
    }

    /// Milliseconds since the Unix epoch; the resolution every TTL is kept in.
    pub fn now_millis(&self) -> i64 {
        let frozen = self.frozen_at_ms.load(Ordering::Acquire);
        let base = if frozen != 0 { frozen } else { real_millis() };
        base.saturating_add(self.offset_ms.load(Ordering::Acquire))
    }
}

fn real_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_now_forward_by_at_least_the_duration() {
        let clock = SimClock::new();
        let before = clock.now_unix();
        clock.advance(Duration::from_secs(301));
        assert!(clock.now_unix() >= before + 301);
        assert_eq!(clock.offset(), Duration::from_secs(301));
    }

    #[test]
    fn a_frozen_clock_moves_only_when_advanced() {
        let clock = SimClock::new();
        clock.freeze();
        let before = clock.now_millis();
        std::thread::yield_now();
        assert_eq!(clock.now_millis(), before);
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.now_millis(), before + 1500);
    }

    #[test]
    fn advancing_by_an_absurd_duration_saturates_instead_of_wrapping() {
        let clock = SimClock::new();
        clock.advance(Duration::MAX);
        clock.advance(Duration::MAX);
        assert!(clock.now_millis() > 0);
    }
}
