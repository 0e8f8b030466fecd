//! The one clock: wall time for what is stored and signed, monotonic time for cool-downs and
//! in-memory expiry, from the same injectable source so that a test moves both at once.
//!
//! [`SystemClock`] is the real one. Its monotonic half is tokio's, so a runtime paused with
//! `#[tokio::test(start_paused = true)]` drives cool-downs and token expiry without sleeping
//! (outside a paused runtime tokio's instant is the system's). [`ManualClock`] moves only when
//! the test moves it, both halves together.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

/// Now, as the use cases and adapters see it.
pub trait Clock: Send + Sync + 'static {
    /// The current wall time: what is stored, signed and compared with stored times.
    fn now(&self) -> OffsetDateTime;

    /// The current monotonic instant: for durations measured in this process (cool-downs,
    /// the expiry of tokens held in memory).
    fn instant(&self) -> Instant;
}

/// The real clock: the system's wall time and tokio's monotonic time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn instant(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

/// A clock standing still until [`ManualClock::advance`] or [`ManualClock::set`] moves it;
/// both readings move together. Share it as `Arc<ManualClock>`: the code under test holds one
/// handle as `Arc<dyn Clock>`, the test the other. Unlike tokio's paused clock it does not
/// jump ahead on its own while real sockets are waited on.
pub struct ManualClock {
    state: Mutex<Readings>,
}

struct Readings {
    now: OffsetDateTime,
    instant: Instant,
}

impl ManualClock {
    /// A clock reading the real current time.
    pub fn new() -> Self {
        Self::at(OffsetDateTime::now_utc())
    }

    /// A clock reading `now` (its instant starts at the real current one).
    pub fn at(now: OffsetDateTime) -> Self {
        Self {
            state: Mutex::new(Readings {
                now,
                instant: Instant::now(),
            }),
        }
    }

    /// A clock reading `unix` seconds.
    pub fn at_unix(unix: i64) -> Self {
        Self::at(OffsetDateTime::from_unix_timestamp(unix).expect("a time in range"))
    }

    /// Moves both readings forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut state = self.lock();
        state.now += by;
        state.instant += by;
    }

    /// Sets the wall time to `now`, backwards too. The instant moves forward by as much when
    /// `now` is later, and stays put when it is earlier: monotonic time never goes back.
    pub fn set(&self, now: OffsetDateTime) {
        let mut state = self.lock();
        if let Ok(ahead) = Duration::try_from(now - state.now) {
            state.instant += ahead;
        }
        state.now = now;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Readings> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.lock().now)
            .finish_non_exhaustive()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        self.lock().now
    }

    fn instant(&self) -> Instant {
        self.lock().instant
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_both_readings_only_when_told() {
        let clock = ManualClock::at_unix(1_800_000_000);
        let (wall, mono) = (clock.now(), clock.instant());
        assert_eq!((clock.now(), clock.instant()), (wall, mono));

        clock.advance(Duration::from_secs(7200));
        assert_eq!(clock.now() - wall, time::Duration::seconds(7200));
        assert_eq!(clock.instant() - mono, Duration::from_secs(7200));

        clock.set(wall + Duration::from_secs(7300));
        assert_eq!(clock.instant() - mono, Duration::from_secs(7300));
        clock.set(wall);
        assert_eq!(clock.now(), wall);
        assert_eq!(
            clock.instant() - mono,
            Duration::from_secs(7300),
            "never back"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_system_clock_follows_a_paused_runtime() {
        let before = SystemClock.instant();
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(SystemClock.instant() - before >= Duration::from_secs(30));
    }
}
