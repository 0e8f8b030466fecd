//! [`SessionStore`] on MySQL and MariaDB: mini-program sessions and session_key history.

use async_trait::async_trait;
use time::OffsetDateTime;
use wxlogin_core::crypto::HandleHash;
use wxlogin_core::ids::{AppId, OpenId, UnionId};
use wxlogin_core::ports::{SessionKeys, SessionRecord, SessionStore, StoreResult};

use super::{MySqlStore, db_err};
use crate::rows::{SessionKeysRow, SessionRow, unix};

#[async_trait]
impl SessionStore for MySqlStore {
    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (hash, appid, openid, unionid, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(session.hash.0.as_slice())
        .bind(session.identity.appid.as_str())
        .bind(session.identity.openid.as_str())
        .bind(session.identity.unionid.as_ref().map(UnionId::as_str))
        .bind(unix(session.created_at))
        .bind(unix(session.expires_at))
        .execute(&self.pool)
        .await
        .map_err(db_err("create_session"))?;
        Ok(())
    }

    async fn live_session(
        &self,
        hash: &HandleHash,
        now: OffsetDateTime,
    ) -> StoreResult<Option<SessionRecord>> {
        sqlx::query_as::<_, SessionRow>(
            "SELECT hash, CONVERT(appid USING utf8mb4) AS appid, CONVERT(openid USING utf8mb4) AS openid,
                    CONVERT(unionid USING utf8mb4) AS unionid, created_at, expires_at
             FROM sessions WHERE hash = ? AND expires_at > ?",
        )
        .bind(hash.0.as_slice())
        .bind(unix(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err("live_session"))?
        .map(SessionRow::into_record)
        .transpose()
    }

    async fn rotate_session_key(
        &self,
        appid: &AppId,
        openid: &OpenId,
        sealed_key: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        // One statement, so concurrent rotations serialise on the row. MySQL assigns
        // ON DUPLICATE KEY UPDATE's SET list left to right, each seeing the ones before: so
        // `previous_sealed` first, while `current_sealed` still holds the old key.
        sqlx::query(
            "INSERT INTO session_keys (appid, openid, current_sealed, previous_sealed, rotated_at)
             VALUES (?, ?, ?, NULL, ?)
             ON DUPLICATE KEY UPDATE
                 previous_sealed = current_sealed,
                 current_sealed = VALUES(current_sealed),
                 rotated_at = VALUES(rotated_at)",
        )
        .bind(appid.as_str())
        .bind(openid.as_str())
        .bind(sealed_key)
        .bind(unix(now))
        .execute(&self.pool)
        .await
        .map_err(db_err("rotate_session_key"))?;
        Ok(())
    }

    async fn session_keys(
        &self,
        appid: &AppId,
        openid: &OpenId,
    ) -> StoreResult<Option<SessionKeys>> {
        sqlx::query_as::<_, SessionKeysRow>(
            "SELECT current_sealed, previous_sealed, rotated_at
             FROM session_keys WHERE appid = ? AND openid = ?",
        )
        .bind(appid.as_str())
        .bind(openid.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err("session_keys"))?
        .map(SessionKeysRow::into_record)
        .transpose()
    }
}
