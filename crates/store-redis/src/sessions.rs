//! Mini-program sessions in Redis; the session_key history stays in SQL.
//!
//! # Keys
//! `<prefix>{<hex sha256 of the handle>}:session` → `1 <created_at> <expires_at> <appid>
//! <openid> [<unionid>]` (space-separated; times in Unix nanoseconds; appid, openid and
//! unionid are printable ASCII without spaces, so the split is unambiguous). The handle
//! itself is never stored: the key holds its SHA-256, as the `sessions` table does.
//!
//! # Lifetime
//! The key expires `expires_at - created_at` after it is written (`SET … PX`), computed from
//! the record, not from Redis' clock. A read also checks `expires_at > now` with the caller's
//! `now`, so validity never depends on the Redis server's clock; the TTL only reclaims
//! memory. A session whose `expires_at` is not after its `created_at` is not stored.
//!
//! # When Redis is down
//! Creating and reading sessions fail with [`StoreError::Unavailable`] (503 `unavailable`):
//! there is no fallback, since another instance could not see a session only this one
//! knows. Sessions in Redis are lost when Redis loses its data (a restart without
//! persistence); their users sign in again with `wx.login()`. The session_key history
//! and the refresh families ([`SessionStore::record_login`] without its session,
//! [`SessionStore::session_keys`]) are the durable store's, so a Redis restart never loses a
//! key needed to decrypt phone data.

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;
use wxlogin_core::crypto::HandleHash;
use wxlogin_core::ids::{AppId, OpenId, UnionId};
use wxlogin_core::ports::{
    Identity, LoginRecord, SessionKeys, SessionRecord, SessionStore, StoreError, StoreResult,
};

use crate::{RedisStore, redis_err};

/// The format version written first in every value.
const VERSION: &str = "1";

/// Sessions in Redis, the session_key history in `durable` (SQL).
#[derive(Clone)]
pub struct RedisSessions {
    redis: RedisStore,
    durable: Arc<dyn SessionStore>,
}

impl std::fmt::Debug for RedisSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessions")
            .field("redis", &self.redis)
            .finish_non_exhaustive()
    }
}

impl RedisSessions {
    /// Sessions in `redis`; session_keys read from and written to `durable`.
    pub fn new(redis: RedisStore, durable: Arc<dyn SessionStore>) -> Self {
        Self { redis, durable }
    }

    fn key(&self, hash: &HandleHash) -> String {
        self.redis.key(&hex::encode(hash.0), "session")
    }

    /// Stores the session in Redis.
    async fn put(&self, session: &SessionRecord) -> StoreResult<()> {
        let lifetime = session.expires_at - session.created_at;
        // Whole milliseconds, rounded up so the key never dies before the session does.
        let micros = lifetime.whole_microseconds();
        if micros <= 0 {
            return Ok(());
        }
        let ttl_ms = (micros + 999) / 1000;
        let mut conn = self.redis.conn();
        redis::cmd("SET")
            .arg(self.key(&session.hash))
            .arg(encode(session))
            .arg("PX")
            .arg(i64::try_from(ttl_ms).unwrap_or(i64::MAX))
            .query_async::<()>(&mut conn)
            .await
            .map_err(redis_err("create_session"))
    }
}

#[async_trait]
impl SessionStore for RedisSessions {
    /// The session_key and any family go to the database first, then the session to Redis:
    /// if Redis fails, the login fails with a rotated key and maybe a family no token was
    /// handed out for (harmless: purged when its first token expires).
    async fn record_login(&self, login: &LoginRecord) -> StoreResult<()> {
        let mut durable = login.clone();
        let session = durable.session.take();
        self.durable.record_login(&durable).await?;
        match &session {
            Some(session) => self.put(session).await,
            None => Ok(()),
        }
    }

    async fn live_session(
        &self,
        hash: &HandleHash,
        now: OffsetDateTime,
    ) -> StoreResult<Option<SessionRecord>> {
        let mut conn = self.redis.conn();
        let value: Option<String> = redis::cmd("GET")
            .arg(self.key(hash))
            .query_async(&mut conn)
            .await
            .map_err(redis_err("live_session"))?;
        let Some(value) = value else { return Ok(None) };
        let record = decode(*hash, &value)
            .ok_or_else(|| StoreError::other("redis live_session", "unreadable session"))?;
        Ok((record.expires_at > now).then_some(record))
    }

    async fn session_keys(
        &self,
        appid: &AppId,
        openid: &OpenId,
    ) -> StoreResult<Option<SessionKeys>> {
        self.durable.session_keys(appid, openid).await
    }
}

fn encode(session: &SessionRecord) -> String {
    let id = &session.identity;
    let mut value = format!(
        "{VERSION} {} {} {} {}",
        session.created_at.unix_timestamp_nanos(),
        session.expires_at.unix_timestamp_nanos(),
        id.appid.as_str(),
        id.openid.as_str(),
    );
    if let Some(unionid) = &id.unionid {
        value.push(' ');
        value.push_str(unionid.as_str());
    }
    value
}

fn decode(hash: HandleHash, value: &str) -> Option<SessionRecord> {
    let mut fields = value.split(' ');
    if fields.next()? != VERSION {
        return None;
    }
    let time =
        |field: Option<&str>| OffsetDateTime::from_unix_timestamp_nanos(field?.parse().ok()?).ok();
    let created_at = time(fields.next())?;
    let expires_at = time(fields.next())?;
    let appid = AppId::parse(fields.next()?).ok()?;
    let openid = OpenId::parse(fields.next()?).ok()?;
    let unionid = match fields.next() {
        Some(raw) => Some(UnionId::parse(raw).ok()?),
        None => None,
    };
    if fields.next().is_some() {
        return None;
    }
    Some(SessionRecord {
        hash,
        identity: Identity {
            appid,
            openid,
            unionid,
        },
        created_at,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn record(unionid: Option<&str>) -> SessionRecord {
        SessionRecord {
            hash: HandleHash::of("handle"),
            identity: Identity {
                appid: AppId::parse("wx0123456789abcdef").unwrap(),
                openid: OpenId::parse("o-open_id").unwrap(),
                unionid: unionid.map(|u| UnionId::parse(u).unwrap()),
            },
            created_at: OffsetDateTime::from_unix_timestamp_nanos(1_800_000_000_123_456_789)
                .unwrap(),
            expires_at: OffsetDateTime::from_unix_timestamp(1_802_592_000).unwrap(),
        }
    }

    #[test]
    fn values_round_trip_with_and_without_a_unionid() {
        for unionid in [None, Some("u-union")] {
            let original = record(unionid);
            let back = decode(original.hash, &encode(&original)).unwrap();
            assert_eq!(back.identity, original.identity);
            assert_eq!(back.created_at, original.created_at);
            assert_eq!(back.expires_at, original.expires_at);
        }
    }

    #[test]
    fn unreadable_values_are_refused() {
        let hash = HandleHash::of("handle");
        for bad in [
            "",
            "2 1 2 wx o",
            "1 x 2 wx o",
            "1 1 2 wx",
            "1 1 2 wx o u extra",
        ] {
            assert!(decode(hash, bad).is_none(), "{bad:?}");
        }
    }
}
