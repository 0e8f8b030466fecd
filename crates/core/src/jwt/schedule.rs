//! When each stored key signs: rotation publishes a key before it signs.
//!
//! Computed from the stored rows and the clock alone, so every instance reaches the same
//! answer without talking to the others (and no column records a state):
//!
//! * a key signs from `created_at + publish_delay` (the JWKS `max-age` plus the instances'
//!   key-reload interval: by then every instance serves it and every cached JWKS has it);
//!   the oldest key signs from its `created_at` (a new deployment: nothing has cached a JWKS);
//! * the newest key that signs is `current`, newer ones are `next` (published, not signing);
//! * an older key is `retiring` (published, still verifies) until the key after it started
//!   signing plus `retire_after` (the longest access-token lifetime and margins), then gone.

use std::time::Duration;

use time::OffsetDateTime;

use crate::ports::SigningKeyRecord;

/// Who signs, for whom, and how keys move through their states.
#[derive(Debug, Clone)]
pub struct KeyPolicy {
    /// `iss`.
    pub issuer: String,
    /// `aud`.
    pub audience: String,
    /// A new key is published this long before it signs.
    pub publish_delay: Duration,
    /// A replaced key still verifies (and stays in the JWKS) this long after its successor
    /// started signing.
    pub retire_after: Duration,
}

/// Where a key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// In the JWKS, not signing yet.
    Next,
    /// Signs new tokens.
    Current,
    /// In the JWKS until the last token it signed has expired.
    Retiring,
    /// No longer loaded.
    Retired,
}

impl KeyState {
    /// The name `keys list` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Current => "current",
            Self::Retiring => "retiring",
            Self::Retired => "retired",
        }
    }
}

/// One stored key and its times.
#[derive(Clone)]
pub struct ScheduledKey {
    /// The row.
    pub record: SigningKeyRecord,
    /// The state at the `now` it was computed for.
    pub state: KeyState,
    /// When it starts (or started) signing.
    pub signs_from: OffsetDateTime,
    /// When it leaves the JWKS: known once a newer key has replaced it.
    pub gone_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for ScheduledKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The record holds the sealed private key: only its kid is shown.
        f.debug_struct("ScheduledKey")
            .field("kid", &self.record.kid)
            .field("state", &self.state)
            .field("signs_from", &self.signs_from)
            .field("gone_at", &self.gone_at)
            .finish()
    }
}

fn span(d: Duration) -> time::Duration {
    time::Duration::seconds(i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4))
}

/// Every stored key with its state at `now`, oldest first.
pub fn schedule(
    mut records: Vec<SigningKeyRecord>,
    policy: &KeyPolicy,
    now: OffsetDateTime,
) -> Vec<ScheduledKey> {
    records.sort_by_key(|r| r.generation);
    let signs_from: Vec<OffsetDateTime> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if i == 0 {
                r.created_at
            } else {
                r.created_at + span(policy.publish_delay)
            }
        })
        .collect();
    // The newest key whose time has come; the oldest when none has (a clock set back).
    let current = signs_from.iter().rposition(|t| *t <= now).unwrap_or(0);
    records
        .into_iter()
        .enumerate()
        .map(|(i, record)| {
            let (state, gone_at) = if i > current {
                (KeyState::Next, None)
            } else if i == current {
                (KeyState::Current, None)
            } else {
                // Stopped signing when the key after it started (never later than the current
                // key did, should rows' clocks disagree).
                let replaced = signs_from[i + 1].min(signs_from[current]);
                let gone = replaced + span(policy.retire_after);
                let state = if now < gone {
                    KeyState::Retiring
                } else {
                    KeyState::Retired
                };
                (state, Some(gone))
            };
            ScheduledKey {
                record,
                state,
                signs_from: signs_from[i],
                gone_at,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(generation: i64, created_at: OffsetDateTime) -> SigningKeyRecord {
        SigningKeyRecord {
            kid: format!("k{generation}"),
            generation,
            public_key: vec![],
            private_sealed: vec![],
            created_at,
        }
    }

    fn states(records: &[SigningKeyRecord], now: OffsetDateTime) -> Vec<KeyState> {
        let policy = KeyPolicy {
            issuer: "i".into(),
            audience: "a".into(),
            publish_delay: Duration::from_secs(360),
            retire_after: Duration::from_secs(1020),
        };
        schedule(records.to_vec(), &policy, now)
            .into_iter()
            .map(|k| k.state)
            .collect()
    }

    #[test]
    fn a_rotation_publishes_then_signs_then_retires_the_old_key() {
        use KeyState::*;
        let t0 = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let s = |n| t0 + time::Duration::seconds(n);
        let first = record(1, t0);
        assert_eq!(states(std::slice::from_ref(&first), t0), [Current]);

        let keys = [first, record(2, s(1000))];
        assert_eq!(states(&keys, s(1000)), [Current, Next]);
        assert_eq!(states(&keys, s(1359)), [Current, Next]);
        assert_eq!(states(&keys, s(1360)), [Retiring, Current]);
        assert_eq!(states(&keys, s(1360 + 1019)), [Retiring, Current]);
        assert_eq!(states(&keys, s(1360 + 1020)), [Retired, Current]);

        // Rotated twice before the first rotation took effect: the newest waits its own delay.
        let keys = [keys[0].clone(), keys[1].clone(), record(3, s(1100))];
        assert_eq!(states(&keys, s(1365)), [Retiring, Current, Next]);
        assert_eq!(states(&keys, s(1460)), [Retiring, Retiring, Current]);
    }

    #[test]
    fn the_first_key_of_a_deployment_signs_at_once() {
        let t0 = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        assert_eq!(states(&[record(1, t0)], t0), [KeyState::Current]);
        // Even with a clock that is behind the row's.
        assert_eq!(
            states(&[record(1, t0)], t0 - time::Duration::seconds(5)),
            [KeyState::Current]
        );
    }
}
