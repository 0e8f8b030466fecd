//! [`RedisTokenLease`]: core's [`TokenLease`] port on Redis, for the cluster-wide WeChat
//! access token. Only storage lives here: who fetches, when, and what happens while Redis
//! is away is `wxlogin-wechat`'s `LeasedTokenSource`, which seals the token before it
//! arrives here.
//!
//! # Keys
//! Every key of one appid carries the hash tag `{wechat-token:<appid>}`, so the scripts below,
//! which touch several of them, stay in one Redis Cluster slot.
//!
//! | key | value | TTL |
//! |---|---|---|
//! | `<prefix>{wechat-token:<appid>}:token` | hash: `sealed` (AES-256-GCM of the token, context `wechat-token:<appid>`), `sha256` (hex SHA-256 of the token), `refresh_at` and `expires_at` (Unix ms), `fence` (the lease that wrote it) | until `expires_at` |
//! | `<prefix>{wechat-token:<appid>}:lease` | the holder's fence | the lease duration (default 20 s); deleted when the holder publishes or fails |
//! | `<prefix>{wechat-token:<appid>}:fence` | a counter, raised by `INCR` for every lease | none: it must only grow |
//!
//! The token itself is never stored in clear; the hash only serves to compare it.
//!
//! # Scripts
//! * acquire: takes the lease if the token's fence is still the one the caller saw and nobody
//!   holds the lease; the fence comes from `INCR` on the counter, bumped past the stored
//!   token's fence if the counter was lost, so fences only grow.
//! * publish: writes only if the counter still equals the publisher's fence, i.e. no lease was
//!   granted after its own, then frees that lease. Both run atomically on one slot, so once a
//!   later holder has taken the lease, an earlier one can no longer write. A token is written
//!   only together with the fence of the lease that fetched it.
//! * release: frees the lease if it is still the caller's.
//! * invalidate: deletes the token hash only if its `sha256` is the refused token's.

use std::time::Duration;

use async_trait::async_trait;
use redis::Script;
use wxlogin_core::ids::AppId;
use wxlogin_core::lease::{Acquired, Fence, SharedToken, TokenHash, TokenLease};
use wxlogin_core::ports::StoreResult;

use crate::{RedisStore, redis_err};

/// Takes the lease if the token is still the one seen (`ARGV[1]`, its fence or `""`) and
/// nobody holds it. Returns `{1, fence}`, `{0, lease pttl}` or `{2, 0}` (token changed).
const ACQUIRE: &str = r"
local stored = redis.call('HGET', KEYS[1], 'fence')
if (stored or '') ~= ARGV[1] then return {2, 0} end
if redis.call('EXISTS', KEYS[2]) == 1 then return {0, redis.call('PTTL', KEYS[2])} end
local fence = redis.call('INCR', KEYS[3])
local newest = tonumber(stored or '0') or 0
if fence <= newest then
  fence = newest + 1
  redis.call('SET', KEYS[3], fence)
end
redis.call('SET', KEYS[2], fence, 'NX', 'PX', ARGV[2])
return {1, fence}
";

/// Writes the token if no lease was granted after `ARGV[1]`'s, then frees that lease.
const PUBLISH: &str = r"
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'sealed', ARGV[2], 'sha256', ARGV[3], 'refresh_at', ARGV[4],
  'expires_at', ARGV[5], 'fence', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
";

/// Frees the lease if it is still `ARGV[1]`'s.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// Deletes the token if its hash is `ARGV[1]`.
const INVALIDATE: &str = r"
if redis.call('HGET', KEYS[1], 'sha256') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// The access-token lease on Redis. Cheap to clone.
#[derive(Clone)]
pub struct RedisTokenLease {
    redis: RedisStore,
    scripts: Scripts,
}

#[derive(Clone)]
struct Scripts {
    acquire: Script,
    publish: Script,
    release: Script,
    invalidate: Script,
}

/// One appid's three keys.
struct Keys {
    token: String,
    lease: String,
    fence: String,
}

impl RedisTokenLease {
    /// The lease on `redis`, under its prefix.
    pub fn new(redis: RedisStore) -> Self {
        Self {
            redis,
            scripts: Scripts {
                acquire: Script::new(ACQUIRE),
                publish: Script::new(PUBLISH),
                release: Script::new(RELEASE),
                invalidate: Script::new(INVALIDATE),
            },
        }
    }

    fn keys(&self, app: &AppId) -> Keys {
        let tag = format!("wechat-token:{}", app.as_str());
        Keys {
            token: self.redis.key(&tag, "token"),
            lease: self.redis.key(&tag, "lease"),
            fence: self.redis.key(&tag, "fence"),
        }
    }
}

impl std::fmt::Debug for RedisTokenLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTokenLease")
            .field("redis", &self.redis)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl TokenLease for RedisTokenLease {
    async fn read(&self, app: &AppId) -> StoreResult<Option<SharedToken>> {
        let mut conn = self.redis.conn();
        let fields: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
            .arg(&self.keys(app).token)
            .arg(&["sealed", "sha256", "fence", "refresh_at", "expires_at"])
            .query_async(&mut conn)
            .await
            .map_err(redis_err("read access token"))?;
        let [
            Some(sealed),
            Some(sha256),
            Some(fence),
            Some(refresh_at),
            Some(expires_at),
        ] = <[Option<Vec<u8>>; 5]>::try_from(fields).unwrap_or_default()
        else {
            return Ok(None);
        };
        let text = |raw: &[u8]| std::str::from_utf8(raw).ok().map(str::to_owned);
        let number = |raw: &[u8]| text(raw)?.parse::<u64>().ok();
        // Only the publish script writes this hash, always whole; anything else is no token.
        let Some(fence) = text(&fence).and_then(|f| f.parse::<i64>().ok()) else {
            return Ok(None);
        };
        let Some(hash) = text(&sha256).and_then(|h| parse_hash(&h)) else {
            return Ok(None);
        };
        Ok(Some(SharedToken {
            sealed,
            hash,
            refresh_at_ms: number(&refresh_at).unwrap_or(0),
            expires_at_ms: number(&expires_at).unwrap_or(0),
            fence: Fence(fence),
        }))
    }

    async fn acquire(
        &self,
        app: &AppId,
        seen: Option<Fence>,
        lease: Duration,
    ) -> StoreResult<Acquired> {
        let keys = self.keys(app);
        let seen = seen.map(|f| f.0.to_string()).unwrap_or_default();
        let mut conn = self.redis.conn();
        let (outcome, value): (i64, i64) = self
            .scripts
            .acquire
            .key(&keys.token)
            .key(&keys.lease)
            .key(&keys.fence)
            .arg(seen)
            .arg(millis(lease).max(1))
            .invoke_async(&mut conn)
            .await
            .map_err(redis_err("acquire token lease"))?;
        Ok(match outcome {
            1 => Acquired::Won(Fence(value)),
            0 => Acquired::Held {
                // PTTL is negative when the lease vanished meanwhile: poll again at once.
                remaining: Duration::from_millis(value.try_into().unwrap_or(0)),
            },
            _ => Acquired::Changed,
        })
    }

    async fn publish(&self, app: &AppId, token: &SharedToken, ttl: Duration) -> StoreResult<bool> {
        let keys = self.keys(app);
        let mut conn = self.redis.conn();
        let written: i64 = self
            .scripts
            .publish
            .key(&keys.token)
            .key(&keys.lease)
            .key(&keys.fence)
            .arg(token.fence.0)
            .arg(token.sealed.as_slice())
            .arg(hex::encode(token.hash.0))
            .arg(token.refresh_at_ms)
            .arg(token.expires_at_ms)
            .arg(millis(ttl).max(1))
            .invoke_async(&mut conn)
            .await
            .map_err(redis_err("publish access token"))?;
        Ok(written == 1)
    }

    async fn release(&self, app: &AppId, fence: Fence) -> StoreResult<()> {
        let mut conn = self.redis.conn();
        self.scripts
            .release
            .key(&self.keys(app).lease)
            .arg(fence.0)
            .invoke_async::<i64>(&mut conn)
            .await
            .map_err(redis_err("release token lease"))?;
        Ok(())
    }

    async fn invalidate_if(&self, app: &AppId, hash: &TokenHash) -> StoreResult<bool> {
        let mut conn = self.redis.conn();
        let deleted: i64 = self
            .scripts
            .invalidate
            .key(&self.keys(app).token)
            .arg(hex::encode(hash.0))
            .invoke_async(&mut conn)
            .await
            .map_err(redis_err("invalidate access token"))?;
        Ok(deleted > 0)
    }
}

/// 64 hex digits to a hash.
fn parse_hash(hex_text: &str) -> Option<TokenHash> {
    let bytes = hex::decode(hex_text).ok()?;
    Some(TokenHash(<[u8; 32]>::try_from(bytes).ok()?))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
