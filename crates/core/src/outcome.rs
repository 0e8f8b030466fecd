//! Per-code idempotency: each login or phone code is exchanged with WeChat at most once.
//!
//! WeChat accepts a code once, so a double tap or a client retry after a timeout must not
//! reach WeChat again (it would get 40163 and hide the real answer). The outcome of each
//! code is remembered for the code's lifetime, and concurrent requests with one code wait for
//! the first one's outcome instead of making their own call.
//!
//! This is the single-instance version (moka's `try_get_with` coalesces concurrent
//! computations of one key). Several instances share it through Redis instead.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::error::AuthError;

/// WeChat's login and phone codes live five minutes.
pub const CODE_LIFETIME: Duration = Duration::from_secs(300);

/// Remembers outcomes of type `T` by a 32-byte key (a hash: codes are never kept in clear).
pub struct OutcomeCache<T: Clone + Send + Sync + 'static> {
    cache: moka::future::Cache<[u8; 32], Arc<Result<T, AuthError>>>,
}

impl<T: Clone + Send + Sync + 'static> std::fmt::Debug for OutcomeCache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutcomeCache")
            .field("entries", &self.cache.entry_count())
            .finish()
    }
}

impl<T: Clone + Send + Sync + 'static> OutcomeCache<T> {
    /// A cache holding at most `capacity` outcomes, each for [`CODE_LIFETIME`].
    pub fn new(capacity: u64) -> Self {
        Self {
            cache: moka::future::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(CODE_LIFETIME)
                .build(),
        }
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
                match work.await {
                    Err(e) if !e.is_cacheable() => Err(e),
                    other => Ok(Arc::new(other)),
                }
            })
            .await;
        match outcome {
            Ok(remembered) => remembered.as_ref().clone(),
            Err(shared) => Err(shared.as_ref().clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_requests_with_one_code_run_the_work_once_and_share_the_outcome() {
        let cache = Arc::new(OutcomeCache::<String>::new(100));
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
        let cache = OutcomeCache::<String>::new(100);
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
                .once([3; 32], async { Err(AuthError::Unavailable) })
                .await,
            Err(AuthError::Unavailable)
        );
        assert_eq!(
            cache.once([3; 32], async { Ok("recovered".into()) }).await,
            Ok("recovered".into())
        );
    }
}
