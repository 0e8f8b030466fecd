//! [`ManualClock`]: time that moves when the test says so.

use std::sync::Mutex;
use std::time::Duration;

use time::OffsetDateTime;
use wxlogin_core::ports::Clock;

/// A [`Clock`] standing still at the time it was given until [`ManualClock::advance`] or
/// [`ManualClock::set`] moves it. Share it as `Arc<ManualClock>`: the service holds one handle
/// as `Arc<dyn Clock>`, the test the other.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<OffsetDateTime>,
}

impl ManualClock {
    /// A clock reading `now`.
    pub fn at(now: OffsetDateTime) -> Self {
        Self {
            now: Mutex::new(now),
        }
    }

    /// A clock reading `unix` seconds.
    pub fn at_unix(unix: i64) -> Self {
        Self::at(OffsetDateTime::from_unix_timestamp(unix).expect("a time in range"))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap();
        *now += by;
    }

    /// Sets the clock to `now` (backwards too).
    pub fn set(&self, now: OffsetDateTime) {
        *self.now.lock().unwrap() = now;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.now.lock().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_moves_only_when_told() {
        let clock = ManualClock::at_unix(1_800_000_000);
        assert_eq!(clock.now().unix_timestamp(), 1_800_000_000);
        assert_eq!(clock.now(), clock.now());
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.now().unix_timestamp(), 1_800_000_090);
        clock.set(OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap());
        assert_eq!(clock.now().unix_timestamp(), 1_700_000_000);
    }
}
