//! The ciphertexts the simulator produced as legacy `encryptedData`, per app, so that
//! `checkencryptedmsg` can vouch for them, as WeChat does, for 3 days.
//!
//! Kept by SHA-256 in production order. The store is bounded: entries past the 3 days are
//! dropped from the old end on every insert, and beyond [`MAX_PRODUCED`] the oldest entry goes
//! even if still young (it then checks as never produced, as a test tool may afford).

use std::collections::{HashMap, VecDeque};

/// How long WeChat vouches for encrypted data it produced.
pub(crate) const VALID_FOR_MS: i64 = 3 * 86_400 * 1000;

/// Most ciphertexts remembered per app (about 6 MiB at most).
pub(crate) const MAX_PRODUCED: usize = 65_536;

/// One app's produced ciphertexts: hash → production time (unix ms).
pub(crate) struct Produced {
    at: HashMap<[u8; 32], i64>,
    order: VecDeque<[u8; 32]>,
    cap: usize,
}

impl Produced {
    pub(crate) fn new() -> Self {
        Self::with_cap(MAX_PRODUCED)
    }

    fn with_cap(cap: usize) -> Self {
        Self {
            at: HashMap::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    /// Remembers a ciphertext produced at `now_ms`. The same bytes again (which a random iv
    /// makes all but impossible) keep their first time.
    pub(crate) fn record(&mut self, hash: [u8; 32], now_ms: i64) {
        // The clock only moves forward, so the oldest entries sit at the front.
        while let Some(front) = self.order.front() {
            if self
                .at
                .get(front)
                .is_some_and(|&at| now_ms.saturating_sub(at) <= VALID_FOR_MS)
            {
                break;
            }
            self.pop_oldest();
        }
        if self.at.contains_key(&hash) {
            return;
        }
        while self.order.len() >= self.cap {
            self.pop_oldest();
        }
        self.at.insert(hash, now_ms);
        self.order.push_back(hash);
    }

    /// When the ciphertext was produced (unix ms), if it was and is at most 3 days old.
    pub(crate) fn produced_at(&self, hash: &[u8; 32], now_ms: i64) -> Option<i64> {
        self.at
            .get(hash)
            .copied()
            .filter(|&at| now_ms.saturating_sub(at) <= VALID_FOR_MS)
    }

    fn pop_oldest(&mut self) {
        if let Some(oldest) = self.order.pop_front() {
            self.at.remove(&oldest);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(n: u8) -> [u8; 32] {
        [n; 32]
    }

    #[test]
    fn a_ciphertext_is_vouched_for_exactly_three_days() {
        let mut produced = Produced::new();
        produced.record(hash(1), 1_000);

        assert_eq!(produced.produced_at(&hash(1), 1_000), Some(1_000));
        assert_eq!(
            produced.produced_at(&hash(1), 1_000 + VALID_FOR_MS),
            Some(1_000)
        );
        assert_eq!(produced.produced_at(&hash(1), 1_001 + VALID_FOR_MS), None);
        assert_eq!(produced.produced_at(&hash(2), 1_000), None);
    }

    #[test]
    fn past_the_cap_the_oldest_entry_goes_first() {
        let mut produced = Produced::with_cap(3);
        for n in 1..=4 {
            produced.record(hash(n), i64::from(n));
        }

        assert_eq!(produced.len(), 3);
        assert_eq!(produced.produced_at(&hash(1), 10), None);
        assert_eq!(produced.produced_at(&hash(4), 10), Some(4));
        assert_eq!(produced.produced_at(&hash(2), 10), Some(2));
    }

    #[test]
    fn expired_entries_are_dropped_on_the_next_insert() {
        let mut produced = Produced::new();
        produced.record(hash(1), 0);
        produced.record(hash(2), 10);

        produced.record(hash(3), VALID_FOR_MS + 5);

        assert_eq!(produced.len(), 2, "only the first had expired");
        assert_eq!(produced.produced_at(&hash(2), VALID_FOR_MS + 5), Some(10));
    }

    #[test]
    fn the_same_ciphertext_twice_keeps_its_first_time() {
        let mut produced = Produced::new();
        produced.record(hash(1), 5);
        produced.record(hash(1), 50);

        assert_eq!(produced.len(), 1);
        assert_eq!(produced.produced_at(&hash(1), 60), Some(5));
    }
}
