//! The cluster-wide WeChat access-token lease, as a port: [`TokenLease`].
//!
//! WeChat's access_token is one per app, and a forced refresh by one instance kills the token
//! the others hold. So instances share one token per appid, and only the holder of a lease
//! fetches the next one. The orchestration (this instance's copy, one refresh per appid,
//! early refresh, waiting, falling back to per-instance tokens while the store is away) is
//! `wxlogin-wechat`'s `LeasedTokenSource`; a store implements only the five atomic steps of
//! [`TokenLease`] and knows nothing about WeChat, AppSecrets or HTTP. Implementations:
//! `wxlogin-store-redis`'s `RedisTokenLease` (Lua scripts, one Redis Cluster slot per appid)
//! and [`MemoryTokenLease`] (one process: tests, and the reference for the scripts).
//!
//! # What is stored
//! Per appid, at most one [`SharedToken`]: the token sealed by the caller (core's
//! [`Sealer`](crate::crypto::Sealer)), its [`TokenHash`] (to compare it without opening it),
//! when to refresh it and when it dies (Unix ms, from the fetching instance's clock), and the
//! [`Fence`] of the lease under which it was fetched. The store never sees the token in clear.
//!
//! # Fencing
//! Every lease granted for an appid carries a fence greater than every fence before it, also
//! after the store lost its counter (it then continues above the stored token's fence).
//! [`TokenLease::publish`] writes only if no lease was granted after the publisher's, so a
//! holder that stalled past its lease cannot replace a newer holder's token.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::ids::AppId;
use crate::ports::StoreResult;
use crate::secret::WxAccessToken;

/// The fencing token of one lease: larger for every lease granted later for the same appid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fence(pub i64);

impl fmt::Display for Fence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// SHA-256 of an access token: what is compared to invalidate a token by value. A plain hash
/// is enough, as for handles: tokens are long random strings with nothing to brute-force.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    /// The hash of `token`.
    pub fn of(token: &WxAccessToken) -> Self {
        Self(Sha256::digest(token.expose_secret().as_bytes()).into())
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Safe to print: a hash of a random token reveals nothing. Short, for log lines.
        write!(f, "TokenHash({})", hex::encode(&self.0[..6]))
    }
}

/// One appid's shared token, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedToken {
    /// The token, sealed by the caller with context `wechat-token:<appid>`.
    pub sealed: Vec<u8>,
    /// [`TokenHash::of`] the token.
    pub hash: TokenHash,
    /// Unix ms after which one instance should fetch the successor (the token still works).
    pub refresh_at_ms: u64,
    /// Unix ms at which the token dies.
    pub expires_at_ms: u64,
    /// The lease under which it was fetched.
    pub fence: Fence,
}

impl fmt::Debug for SharedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedToken")
            .field("hash", &self.hash)
            .field("refresh_at_ms", &self.refresh_at_ms)
            .field("expires_at_ms", &self.expires_at_ms)
            .field("fence", &self.fence)
            .finish_non_exhaustive()
    }
}

/// What [`TokenLease::acquire`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquired {
    /// The caller holds the lease now, under this fence.
    Won(Fence),
    /// Someone else holds it, for at most `remaining` more.
    Held {
        /// What is left of the holder's lease (zero if the store could not say).
        remaining: Duration,
    },
    /// The stored token is no longer the one the caller saw: read it again.
    Changed,
}

/// The five atomic steps of the shared access token, per appid. Each step is atomic on its
/// own with respect to every instance sharing the store.
#[async_trait]
pub trait TokenLease: Send + Sync {
    /// The stored token, if there is one (also after its `expires_at_ms`: the caller compares
    /// with its own clock; the store may drop it a little earlier or later). An entry that is
    /// incomplete or unreadable counts as none.
    async fn read(&self, app: &AppId) -> StoreResult<Option<SharedToken>>;

    /// Takes the lease for `lease` if the stored token is still the one the caller saw
    /// (`seen`: its fence, or `None` for no token) and nobody holds it. A caller that read
    /// "no token" just before another instance published thus does not fetch a second time.
    async fn acquire(
        &self,
        app: &AppId,
        seen: Option<Fence>,
        lease: Duration,
    ) -> StoreResult<Acquired>;

    /// Stores `token` (fetched under the lease `token.fence`) for `ttl`, replacing any stored
    /// one, and frees that lease; but only if no lease was granted after it. `false` when a
    /// later lease was granted: nothing changed.
    async fn publish(&self, app: &AppId, token: &SharedToken, ttl: Duration) -> StoreResult<bool>;

    /// Frees the lease if it is still `fence`'s (the holder's fetch failed).
    async fn release(&self, app: &AppId, fence: Fence) -> StoreResult<()>;

    /// Deletes the stored token if its hash is `hash` (WeChat refused that token); `true` if
    /// one was deleted. A newer token, or none, stays as it is.
    async fn invalidate_if(&self, app: &AppId, hash: &TokenHash) -> StoreResult<bool>;
}

/// A [`TokenLease`] in process memory: the same semantics as the Redis scripts, for one
/// process (several "instances" in a test share one). Never fails.
#[derive(Debug, Default)]
pub struct MemoryTokenLease {
    apps: Mutex<HashMap<AppId, Entry>>,
}

#[derive(Debug, Default)]
struct Entry {
    token: Option<(SharedToken, Instant)>,
    lease: Option<(Fence, Instant)>,
    /// The last fence granted; only grows.
    counter: i64,
}

impl Entry {
    /// Drops what has expired, as Redis does with keys past their TTL.
    fn expire(&mut self, now: Instant) {
        if self.token.as_ref().is_some_and(|(_, until)| *until <= now) {
            self.token = None;
        }
        if self.lease.as_ref().is_some_and(|(_, until)| *until <= now) {
            self.lease = None;
        }
    }
}

impl MemoryTokenLease {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The fence of the lease held for `app` right now, if any: for tests and diagnostics.
    pub fn holder(&self, app: &AppId) -> Option<Fence> {
        self.entry(app, |entry, _| entry.lease.map(|(fence, _)| fence))
    }

    fn entry<T>(&self, app: &AppId, f: impl FnOnce(&mut Entry, Instant) -> T) -> T {
        // Nothing panics while holding it; the map stays coherent if something ever did.
        let mut apps = self
            .apps
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        let entry = apps.entry(app.clone()).or_default();
        entry.expire(now);
        f(entry, now)
    }
}

#[async_trait]
impl TokenLease for MemoryTokenLease {
    async fn read(&self, app: &AppId) -> StoreResult<Option<SharedToken>> {
        Ok(self.entry(app, |entry, _| {
            entry.token.as_ref().map(|(token, _)| token.clone())
        }))
    }

    async fn acquire(
        &self,
        app: &AppId,
        seen: Option<Fence>,
        lease: Duration,
    ) -> StoreResult<Acquired> {
        Ok(self.entry(app, |entry, now| {
            let stored = entry.token.as_ref().map(|(token, _)| token.fence);
            if stored != seen {
                return Acquired::Changed;
            }
            if let Some((_, until)) = entry.lease {
                return Acquired::Held {
                    remaining: until.saturating_duration_since(now),
                };
            }
            let fence = (entry.counter + 1).max(stored.map_or(0, |f| f.0) + 1);
            entry.counter = fence;
            entry.lease = Some((Fence(fence), now + lease.max(Duration::from_millis(1))));
            Acquired::Won(Fence(fence))
        }))
    }

    async fn publish(&self, app: &AppId, token: &SharedToken, ttl: Duration) -> StoreResult<bool> {
        Ok(self.entry(app, |entry, now| {
            if entry.counter != token.fence.0 {
                return false;
            }
            entry.token = Some((token.clone(), now + ttl.max(Duration::from_millis(1))));
            if entry.lease.is_some_and(|(fence, _)| fence == token.fence) {
                entry.lease = None;
            }
            true
        }))
    }

    async fn release(&self, app: &AppId, fence: Fence) -> StoreResult<()> {
        self.entry(app, |entry, _| {
            if entry.lease.is_some_and(|(held, _)| held == fence) {
                entry.lease = None;
            }
        });
        Ok(())
    }

    async fn invalidate_if(&self, app: &AppId, hash: &TokenHash) -> StoreResult<bool> {
        Ok(self.entry(app, |entry, _| {
            let matches = entry
                .token
                .as_ref()
                .is_some_and(|(token, _)| &token.hash == hash);
            if matches {
                entry.token = None;
            }
            matches
        }))
    }
}

#[cfg(test)]
mod tests {
    // Tests: a panic is how a test fails.
    #![allow(clippy::unwrap_used)]

    use super::*;

    const LEASE: Duration = Duration::from_secs(20);

    fn app() -> AppId {
        AppId::parse("wx0000000000000001").unwrap()
    }

    fn token(value: &str, fence: Fence) -> SharedToken {
        SharedToken {
            sealed: value.as_bytes().to_vec(),
            hash: TokenHash::of(&WxAccessToken::new(value)),
            refresh_at_ms: 1,
            expires_at_ms: 2,
            fence,
        }
    }

    #[tokio::test]
    async fn one_caller_wins_the_lease_and_the_next_one_finds_it_held() {
        let lease = MemoryTokenLease::new();
        let won = lease.acquire(&app(), None, LEASE).await.unwrap();
        assert_eq!(won, Acquired::Won(Fence(1)));
        let Acquired::Held { remaining } = lease.acquire(&app(), None, LEASE).await.unwrap() else {
            panic!("the lease is held");
        };
        assert!(remaining <= LEASE && remaining > Duration::ZERO);
    }

    #[tokio::test]
    async fn a_caller_that_saw_an_older_token_is_told_it_changed() {
        let lease = MemoryTokenLease::new();
        let Acquired::Won(fence) = lease.acquire(&app(), None, LEASE).await.unwrap() else {
            panic!("won");
        };
        assert!(
            lease
                .publish(&app(), &token("t1", fence), LEASE)
                .await
                .unwrap()
        );
        assert_eq!(
            lease.acquire(&app(), None, LEASE).await.unwrap(),
            Acquired::Changed
        );
        assert_eq!(
            lease.acquire(&app(), Some(fence), LEASE).await.unwrap(),
            Acquired::Won(Fence(2)),
            "publishing freed the lease"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_holder_whose_lease_was_taken_over_cannot_publish() {
        let lease = MemoryTokenLease::new();
        let short = Duration::from_millis(300);
        let Acquired::Won(first) = lease.acquire(&app(), None, short).await.unwrap() else {
            panic!("won");
        };
        tokio::time::advance(Duration::from_secs(1)).await;
        let Acquired::Won(second) = lease.acquire(&app(), None, short).await.unwrap() else {
            panic!("the first lease expired");
        };
        assert!(second > first);
        assert!(
            !lease
                .publish(&app(), &token("old", first), LEASE)
                .await
                .unwrap()
        );
        assert!(lease.read(&app()).await.unwrap().is_none());
        assert!(
            lease
                .publish(&app(), &token("new", second), LEASE)
                .await
                .unwrap()
        );
        assert_eq!(lease.read(&app()).await.unwrap().unwrap().fence, second);
    }

    #[tokio::test]
    async fn invalidation_deletes_only_the_refused_token_and_release_only_its_own_lease() {
        let lease = MemoryTokenLease::new();
        let Acquired::Won(fence) = lease.acquire(&app(), None, LEASE).await.unwrap() else {
            panic!("won");
        };
        lease.release(&app(), Fence(fence.0 + 7)).await.unwrap();
        assert!(matches!(
            lease.acquire(&app(), None, LEASE).await.unwrap(),
            Acquired::Held { .. }
        ));
        lease.release(&app(), fence).await.unwrap();
        let Acquired::Won(fence) = lease.acquire(&app(), None, LEASE).await.unwrap() else {
            panic!("released");
        };
        lease
            .publish(&app(), &token("t", fence), LEASE)
            .await
            .unwrap();
        let other = TokenHash::of(&WxAccessToken::new("other"));
        assert!(!lease.invalidate_if(&app(), &other).await.unwrap());
        let refused = TokenHash::of(&WxAccessToken::new("t"));
        assert!(lease.invalidate_if(&app(), &refused).await.unwrap());
        assert!(lease.read(&app()).await.unwrap().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_is_gone_after_its_ttl() {
        let lease = MemoryTokenLease::new();
        let Acquired::Won(fence) = lease.acquire(&app(), None, LEASE).await.unwrap() else {
            panic!("won");
        };
        let ttl = Duration::from_secs(60);
        lease
            .publish(&app(), &token("t", fence), ttl)
            .await
            .unwrap();
        tokio::time::advance(ttl).await;
        assert!(lease.read(&app()).await.unwrap().is_none());
    }
}
