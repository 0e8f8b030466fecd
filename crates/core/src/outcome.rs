//! Per-code idempotency: each login or phone code is exchanged with WeChat at most once.
//!
//! WeChat accepts a code once, so a double tap or a client retry after a timeout must not
//! reach WeChat again (it would get 40163 and hide the real answer). The outcome of each
//! code is remembered for the code's lifetime, and concurrent requests with one code wait for
//! the first one's outcome instead of making their own call.
//!
//! Two layers:
//! * in process, moka's `try_get_with` coalesces concurrent requests with one code and keeps
//!   the outcome;
//! * across instances, when an [`OutcomeStore`] (Redis) is configured, the first instance
//!   claims the code and the others wait for its sealed outcome. Waiting is a poll with
//!   backoff (5 ms doubling to 100 ms): a code is contended by a double tap, not by
//!   thousands, so a poll costs less than a pub/sub subscription per request.
//!
//! If the shared store fails, the instance falls back to the in-process layer alone and says
//! so in a log line and `wxlogin_outcome_store_errors_total`: a login that works beats a
//! perfect guard against a double tap landing on two instances during an outage.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cause::{Cause, chain};
use crate::crypto::Sealer;
use crate::error::AuthError;
use crate::ports::{Claim, OutcomeStore};

/// WeChat's login and phone codes live five minutes.
pub const CODE_LIFETIME: Duration = Duration::from_secs(300);

/// How long an instance may hold a code's claim before others may try themselves: longer
/// than a WeChat call (5 s) plus the store writes that follow it.
pub const CLAIM_LEASE: Duration = Duration::from_secs(30);

/// Remembers outcomes of type `T` by a 32-byte key (a hash: codes are never kept in clear).
///
/// A successful outcome is kept as its JSON bytes, not as `T`: one allocation of known size
/// instead of a dozen small strings per entry. Measured on the login benchmark, structured
/// views cost about 4.5 times their JSON length in resident memory (allocator overhead and
/// fragmentation from the constant churn of entries); the bytes are what the budget counts.
/// A hit (a retry) pays one JSON parse.
pub struct OutcomeCache<T: Clone + Send + Sync + 'static> {
    cache: moka::future::Cache<[u8; 32], Arc<Stored>>,
    shared: Option<Shared>,
    outcome: PhantomData<fn() -> T>,
}

/// A remembered outcome.
enum Stored {
    /// `T` as JSON.
    Value(Box<[u8]>),
    Error(AuthError),
}

struct Shared {
    store: Arc<dyn OutcomeStore>,
    sealer: Sealer,
    /// `login` or `phone`: part of the seal's context, so one kind never opens as the other.
    kind: &'static str,
}

impl<T: Clone + Send + Sync + 'static> std::fmt::Debug for OutcomeCache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutcomeCache")
            .field("entries", &self.cache.entry_count())
            .field("shared", &self.shared.is_some())
            .finish()
    }
}

impl<T> OutcomeCache<T>
where
    T: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// A cache holding outcomes for [`CODE_LIFETIME`], at most about `budget` bytes of them.
    ///
    /// Bounded by bytes, not entries: an outcome holds tokens and a user (about 1 KiB for a
    /// silent login), and an entry bound sized for a busy day is a memory bound nobody chose.
    /// When the budget is full, the least useful outcomes go first (moka's TinyLFU); a retry
    /// of an evicted code then reaches WeChat, which answers that the code is used. The
    /// retention that matters (a double tap, a retry after a timeout) is seconds.
    pub fn new(budget: u64) -> Self {
        Self {
            cache: moka::future::Cache::builder()
                .max_capacity(budget)
                .weigher(|_key, stored: &Arc<Stored>| stored.weight())
                .time_to_live(CODE_LIFETIME)
                .build(),
            shared: None,
            outcome: PhantomData,
        }
    }

    /// Also shares outcomes through `store`, sealed with `sealer` (they carry sessions and
    /// tokens).
    pub fn shared(
        mut self,
        store: Arc<dyn OutcomeStore>,
        sealer: Sealer,
        kind: &'static str,
    ) -> Self {
        self.shared = Some(Shared {
            store,
            sealer,
            kind,
        });
        self
    }

    /// Runs `work` unless an outcome for `key` is remembered or being computed; returns that
    /// outcome. Outcomes that are not [`AuthError::is_cacheable`] are handed to the callers
    /// waiting at that moment but not remembered.
    pub async fn once<F>(&self, key: [u8; 32], work: F) -> Result<T, AuthError>
    where
        F: Future<Output = Result<T, AuthError>> + Send,
    {
        let outcome = self
            .cache
            .try_get_with(key, async move {
                match self.once_across_instances(key, work).await {
                    Ok(value) => Ok(Arc::new(Stored::Value(
                        serde_json::to_vec(&value)
                            .map_err(|e| AuthError::Internal(Cause::new(e)))?
                            .into_boxed_slice(),
                    ))),
                    Err(e) if !e.is_cacheable() => Err(e),
                    Err(e) => Ok(Arc::new(Stored::Error(e))),
                }
            })
            .await;
        match outcome.as_deref() {
            Ok(Stored::Value(json)) => {
                serde_json::from_slice(json).map_err(|e| AuthError::Internal(Cause::new(e)))
            }
            Ok(Stored::Error(e)) => Err(e.clone()),
            Err(shared) => Err(shared.as_ref().clone()),
        }
    }

    async fn once_across_instances<F>(&self, key: [u8; 32], work: F) -> Result<T, AuthError>
    where
        F: Future<Output = Result<T, AuthError>> + Send,
    {
        let Some(shared) = &self.shared else {
            return work.await;
        };
        let mut backoff = Duration::from_millis(5);
        let give_up = tokio::time::Instant::now() + CLAIM_LEASE + Duration::from_secs(1);
        loop {
            match shared.store.claim(&key, CLAIM_LEASE).await {
                Ok(Claim::Won) => break,
                Ok(Claim::Done(sealed)) => match shared.open::<T>(&key, &sealed) {
                    Ok(outcome) => return outcome,
                    // Unreadable (another master key, another version): do not guess.
                    Err(why) => {
                        let cause = format!("the shared {} outcome {why}", shared.kind);
                        return Err(AuthError::Unavailable(cause.into()));
                    }
                },
                Ok(Claim::Pending) if tokio::time::Instant::now() < give_up => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(100));
                }
                Ok(Claim::Pending) => {
                    let cause = "another instance still holds the claim on this code";
                    return Err(AuthError::Unavailable(cause.into()));
                }
                Err(e) => {
                    shared.degraded("claim", &e);
                    return work.await;
                }
            }
        }
        let outcome = work.await;
        let written = match &outcome {
            Err(e) if !e.is_cacheable() => shared.store.release(&key).await,
            _ => {
                let sealed = shared.seal(&key, &outcome);
                shared.store.complete(&key, &sealed, CODE_LIFETIME).await
            }
        };
        if let Err(e) = written {
            shared.degraded("complete", &e);
        }
        outcome
    }
}

impl Shared {
    fn context(&self, key: &[u8; 32]) -> String {
        format!("outcome:{}:{}", self.kind, hex::encode(key))
    }

    fn seal<T: Serialize>(&self, key: &[u8; 32], outcome: &Result<T, AuthError>) -> Vec<u8> {
        // Serialising plain structs and enums into a Vec cannot fail.
        let json = serde_json::to_vec(outcome).unwrap_or_default();
        self.sealer.seal(&self.context(key), &json)
    }

    fn open<T: DeserializeOwned>(
        &self,
        key: &[u8; 32],
        sealed: &[u8],
    ) -> Result<Result<T, AuthError>, &'static str> {
        let json = self
            .sealer
            .open(&self.context(key), sealed)
            .map_err(|_| "does not open")?;
        serde_json::from_slice(&json).map_err(|_| "does not parse")
    }

    fn degraded(&self, step: &'static str, e: &crate::ports::StoreError) {
        // Swallowed here (the instance carries on alone), so logged here.
        tracing::warn!(kind = self.kind, step, error = %chain(e),
            "shared outcome store failed; this instance guards codes on its own");
        metrics::counter!(crate::counters::OUTCOME_STORE_ERRORS_TOTAL, "step" => step).increment(1);
    }
}

impl Stored {
    /// What the entry costs in memory: its bytes plus moka's per-entry bookkeeping (key,
    /// hash, the access and write-order deque nodes, the expiry timer: a few hundred bytes).
    fn weight(&self) -> u32 {
        const ENTRY_OVERHEAD: usize = 256;
        let bytes = match self {
            Self::Value(json) => json.len(),
            Self::Error(_) => std::mem::size_of::<AuthError>(),
        };
        u32::try_from(bytes + ENTRY_OVERHEAD).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MasterKey;
    use crate::ports::{StoreError, StoreResult};
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_requests_with_one_code_run_the_work_once_and_share_the_outcome() {
        let cache = Arc::new(OutcomeCache::<String>::new(1 << 20));
        let calls = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (cache, calls, mut rx) = (cache.clone(), calls.clone(), rx.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .once([1; 32], async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        let _ = rx.wait_for(|go| *go).await; // hold until all callers are queued
                        Ok("body".to_string())
                    })
                    .await
            }));
        }
        tokio::task::yield_now().await;
        tx.send(true).unwrap();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), "body");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn wechat_errors_are_remembered_but_our_outages_are_not() {
        let cache = OutcomeCache::<String>::new(1 << 20);
        let used = AuthError::LoginCodeUsed {
            wechat_errcode: Some(40163),
        };
        assert_eq!(
            cache.once([2; 32], async { Err(used.clone()) }).await,
            Err(used.clone())
        );
        assert_eq!(
            cache.once([2; 32], async { Ok("later".into()) }).await,
            Err(used)
        );

        assert_eq!(
            cache
                .once([3; 32], async {
                    Err(AuthError::Unavailable("down".into()))
                })
                .await,
            Err(AuthError::Unavailable("down".into()))
        );
        assert_eq!(
            cache.once([3; 32], async { Ok("recovered".into()) }).await,
            Ok("recovered".into())
        );
    }

    /// An in-memory stand-in for Redis, with a switch to make it fail.
    #[derive(Default)]
    struct FakeStore {
        entries: Mutex<HashMap<[u8; 32], Option<Vec<u8>>>>,
        down: std::sync::atomic::AtomicBool,
    }

    #[async_trait::async_trait]
    impl OutcomeStore for FakeStore {
        async fn claim(&self, key: &[u8; 32], _lease: Duration) -> StoreResult<Claim> {
            if self.down.load(Ordering::SeqCst) {
                return Err(StoreError::unavailable("claim", "down"));
            }
            let mut entries = self.entries.lock().unwrap();
            Ok(match entries.get(key) {
                None => {
                    entries.insert(*key, None);
                    Claim::Won
                }
                Some(None) => Claim::Pending,
                Some(Some(sealed)) => Claim::Done(sealed.clone()),
            })
        }
        async fn complete(&self, key: &[u8; 32], sealed: &[u8], _ttl: Duration) -> StoreResult<()> {
            self.entries
                .lock()
                .unwrap()
                .insert(*key, Some(sealed.to_vec()));
            Ok(())
        }
        async fn release(&self, key: &[u8; 32]) -> StoreResult<()> {
            self.entries.lock().unwrap().remove(key);
            Ok(())
        }
    }

    fn two_instances(store: &Arc<FakeStore>) -> (OutcomeCache<String>, OutcomeCache<String>) {
        let sealer = MasterKey::generate().sealer();
        let a = OutcomeCache::new(1 << 20).shared(store.clone(), sealer.clone(), "login");
        let b = OutcomeCache::new(1 << 20).shared(store.clone(), sealer, "login");
        (a, b)
    }

    #[tokio::test]
    async fn an_outcome_computed_on_one_instance_is_served_sealed_to_another() {
        let store = Arc::new(FakeStore::default());
        let (a, b) = two_instances(&store);
        assert_eq!(
            a.once([4; 32], async { Ok("from-a".into()) }).await,
            Ok("from-a".into())
        );
        let sealed = store.entries.lock().unwrap()[&[4; 32]].clone().unwrap();
        assert!(
            !String::from_utf8_lossy(&sealed).contains("from-a"),
            "sealed at rest"
        );
        assert_eq!(
            b.once([4; 32], async { Ok("from-b".into()) }).await,
            Ok("from-a".into())
        );
    }

    #[tokio::test]
    async fn a_waiting_instance_gets_the_claim_holders_outcome() {
        let store = Arc::new(FakeStore::default());
        let (a, b) = two_instances(&store);
        let a = Arc::new(a);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let holder = tokio::spawn({
            let a = a.clone();
            async move {
                a.once([5; 32], async {
                    let _ = rx.await;
                    Ok("slow".to_string())
                })
                .await
            }
        });
        // Wait until a holds the claim.
        while store.entries.lock().unwrap().get(&[5; 32]).is_none() {
            tokio::task::yield_now().await;
        }
        let waiter = b.once([5; 32], async { Ok("should-not-run".into()) });
        tx.send(()).unwrap();
        assert_eq!(waiter.await, Ok("slow".into()));
        assert_eq!(holder.await.unwrap(), Ok("slow".into()));
    }

    #[tokio::test]
    async fn our_outages_release_the_claim_and_a_store_outage_degrades_to_local() {
        let store = Arc::new(FakeStore::default());
        let (a, b) = two_instances(&store);
        assert_eq!(
            a.once([6; 32], async {
                Err(AuthError::Unavailable("down".into()))
            })
            .await,
            Err(AuthError::Unavailable("down".into()))
        );
        assert!(store.entries.lock().unwrap().get(&[6; 32]).is_none());
        assert_eq!(
            b.once([6; 32], async { Ok("retry".into()) }).await,
            Ok("retry".into())
        );

        store.down.store(true, Ordering::SeqCst);
        assert_eq!(
            a.once([7; 32], async { Ok("local".into()) }).await,
            Ok("local".into())
        );
    }

    #[tokio::test]
    async fn the_cache_holds_a_byte_budget_not_an_entry_count() {
        let outcome = |i: u8| Ok::<_, AuthError>(format!("{i:0>1000}"));
        let json = serde_json::to_vec(&outcome(0).unwrap()).unwrap();
        let stored = Stored::Value(json.into_boxed_slice());
        assert_eq!(
            stored.weight(),
            1002 + 256,
            "a JSON string: its length and quotes"
        );

        // Room for about 10 of these outcomes: 200 go in, no more than the budget stays.
        let cache = OutcomeCache::<String>::new(10 * 1258);
        for i in 0..200u8 {
            let key = [i; 32];
            assert_eq!(cache.once(key, async move { outcome(i) }).await, outcome(i));
        }
        cache.cache.run_pending_tasks().await;
        assert!(
            cache.cache.weighted_size() <= 10 * 1258,
            "{}",
            cache.cache.weighted_size()
        );
        assert!(
            cache.cache.entry_count() <= 10,
            "{}",
            cache.cache.entry_count()
        );
        assert!(cache.cache.entry_count() > 0);
    }
}
