//! Single-use codes with a TTL: login codes and phone codes, one store each per app.
//!
//! A redeemed code stays in the store, marked used, until it expires, so a replay within its
//! lifetime is told apart (40163) from an unknown code (40029). Expired entries are purged
//! lazily when the store has doubled since the last purge, which keeps inserts O(1)
//! amortised without a background task.

use std::collections::HashMap;

/// Below this size a store never bothers to purge.
const MIN_PURGE_AT: usize = 1024;

/// Why a code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Never issued here: another app's code, a code of the other kind, or garbage.
    Unknown,
    /// Past its TTL, used or not.
    Expired,
    /// Redeemed before, within its TTL.
    Used,
    /// The caller's check on the grant failed (e.g. an openid mismatch); the code stays
    /// unused.
    Rejected,
}

struct Slot<G> {
    grant: G,
    expires_at_ms: i64,
    used: bool,
}

/// The codes of one kind for one app, each mapped to what redeeming it grants.
pub(crate) struct CodeStore<G> {
    slots: HashMap<String, Slot<G>>,
    purge_at: usize,
}

impl<G: Clone> CodeStore<G> {
    pub(crate) fn new() -> Self {
        Self {
            slots: HashMap::new(),
            purge_at: MIN_PURGE_AT,
        }
    }

    /// Adds a code. Returns false (and changes nothing) if the code already exists, so the
    /// caller draws another one.
    pub(crate) fn insert(
        &mut self,
        code: String,
        grant: G,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> bool {
        if self.slots.len() >= self.purge_at {
            self.slots.retain(|_, slot| slot.expires_at_ms > now_ms);
            self.purge_at = (self.slots.len() * 2).max(MIN_PURGE_AT);
        }
        if self.slots.contains_key(&code) {
            return false;
        }
        let slot = Slot {
            grant,
            expires_at_ms,
            used: false,
        };
        self.slots.insert(code, slot);
        true
    }

    /// Redeems a code once. `check` sees the grant first; if it refuses, the code stays
    /// unused. Expiry is checked before use, so an expired code is always 40029, used or not.
    pub(crate) fn redeem(
        &mut self,
        code: &str,
        now_ms: i64,
        check: impl FnOnce(&G) -> bool,
    ) -> Result<G, Refusal> {
        let slot = self.slots.get_mut(code).ok_or(Refusal::Unknown)?;
        if now_ms >= slot.expires_at_ms {
            return Err(Refusal::Expired);
        }
        if slot.used {
            return Err(Refusal::Used);
        }
        if !check(&slot.grant) {
            return Err(Refusal::Rejected);
        }
        slot.used = true;
        Ok(slot.grant.clone())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_redeems_once_then_reports_used() {
        let mut store = CodeStore::new();
        assert!(store.insert("c".into(), 7, 1_000, 0));
        assert_eq!(store.redeem("c", 10, |_| true), Ok(7));
        assert_eq!(store.redeem("c", 20, |_| true), Err(Refusal::Used));
    }

    #[test]
    fn an_expired_code_is_expired_whether_used_or_not() {
        let mut store = CodeStore::new();
        store.insert("fresh".into(), 1, 1_000, 0);
        store.insert("used".into(), 2, 1_000, 0);
        store.redeem("used", 10, |_| true).unwrap();
        assert_eq!(
            store.redeem("fresh", 1_000, |_| true),
            Err(Refusal::Expired)
        );
        assert_eq!(store.redeem("used", 1_000, |_| true), Err(Refusal::Expired));
    }

    #[test]
    fn a_rejected_check_leaves_the_code_unused() {
        let mut store = CodeStore::new();
        store.insert("c".into(), 1, 1_000, 0);
        assert_eq!(store.redeem("c", 0, |_| false), Err(Refusal::Rejected));
        assert_eq!(store.redeem("c", 0, |_| true), Ok(1));
    }

    #[test]
    fn unknown_codes_and_duplicate_inserts_are_refused() {
        let mut store = CodeStore::new();
        assert_eq!(store.redeem("nope", 0, |_| true), Err(Refusal::Unknown));
        assert!(store.insert("c".into(), 1, 1_000, 0));
        assert!(!store.insert("c".into(), 2, 1_000, 0));
        assert_eq!(store.redeem("c", 0, |_| true), Ok(1));
    }

    #[test]
    fn expired_codes_are_purged_once_the_store_grows() {
        let mut store = CodeStore::new();
        for i in 0..MIN_PURGE_AT {
            store.insert(format!("old{i}"), (), 100, 0);
        }
        // All old codes are expired at t=100; the next insert purges them.
        store.insert("new".into(), (), 1_000, 100);
        assert_eq!(store.len(), 1);
        // Live codes survive a purge.
        for i in 0..MIN_PURGE_AT {
            store.insert(format!("live{i}"), (), 10_000, 200);
        }
        assert_eq!(store.len(), MIN_PURGE_AT + 1);
    }
}
