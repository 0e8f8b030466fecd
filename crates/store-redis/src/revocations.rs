//! Revoked refresh families, checked by the bearer check of logout
//! (`AuthService::authenticate`) instead of a database read. (`/v1/me` does not ask: it reads
//! the family from the database along with the user.)
//!
//! # Keys
//! `<prefix>{<family id>}:revoked` → `1`, for the TTL the caller gives (as long as an
//! access token of the family can live, plus a minute: `access_ttl + 60 s`). Revoking again
//! writes the key again and restarts its TTL. A family id is a random id (the `sid` claim),
//! not a secret.
//!
//! # When Redis is down
//! [`RevocationList::is_revoked`] fails with [`StoreError::Unavailable`] and the bearer check
//! asks the database (`RefreshStore::family_active`) instead. [`RevocationList::revoke`] fails:
//! logout answers 503 and the client retries (both steps are idempotent); after a refresh
//! token reuse, the family is revoked in the database anyway and the failure is logged.
//! Entries lost with Redis' data leave access tokens of revoked families accepted by that
//! check until they expire (at most `access_ttl`); refresh tokens stay revoked in SQL, and
//! `/v1/me` refuses those access tokens anyway.
//!
//! [`StoreError::Unavailable`]: wxlogin_core::ports::StoreError::Unavailable

use std::time::Duration;

use async_trait::async_trait;
use wxlogin_core::ids::FamilyId;
use wxlogin_core::ports::{RevocationList, StoreResult};

use crate::{RedisStore, redis_err};

/// [`RevocationList`] on Redis.
#[derive(Debug, Clone)]
pub struct RedisRevocations {
    redis: RedisStore,
}

impl RedisRevocations {
    /// Revocations in `redis`.
    pub fn new(redis: RedisStore) -> Self {
        Self { redis }
    }

    fn key(&self, family_id: &FamilyId) -> String {
        self.redis.key(family_id.as_str(), "revoked")
    }
}

#[async_trait]
impl RevocationList for RedisRevocations {
    async fn revoke(&self, family_ids: &[FamilyId], ttl: Duration) -> StoreResult<()> {
        if family_ids.is_empty() {
            return Ok(());
        }
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        // One round trip, not a transaction: the keys may live in different cluster slots,
        // and each write is idempotent, so a partial failure is repaired by the retry.
        let mut pipe = redis::pipe();
        for id in family_ids {
            pipe.cmd("SET")
                .arg(self.key(id))
                .arg(1)
                .arg("PX")
                .arg(ttl_ms)
                .ignore();
        }
        let mut conn = self.redis.conn();
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(redis_err("revoke"))
    }

    async fn is_revoked(&self, family_id: &FamilyId) -> StoreResult<bool> {
        let mut conn = self.redis.conn();
        redis::cmd("EXISTS")
            .arg(self.key(family_id))
            .query_async::<u64>(&mut conn)
            .await
            .map(|n| n > 0)
            .map_err(redis_err("is_revoked"))
    }
}
