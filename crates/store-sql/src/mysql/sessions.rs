//! [`SessionStore`] on MySQL and MariaDB: mini-program sessions and session_key history.

use async_trait::async_trait;
use sqlx::{Executor, MySql};
use time::OffsetDateTime;
use wxlogin_core::crypto::HandleHash;
use wxlogin_core::ids::{AppId, OpenId, UnionId};
use wxlogin_core::ports::{
    FamilyRecord, RefreshRecord, SessionKeys, SessionRecord, SessionStore, StoreResult,
};

use super::tokens::insert_family;
use super::{MySqlStore, begin, db_err};
use crate::rows::{SessionKeysRow, SessionRow, unix};

async fn insert_session<'e>(
    db: impl Executor<'e, Database = MySql>,
    session: &SessionRecord,
    op: &'static str,
) -> StoreResult<()> {
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
    .execute(db)
    .await
    .map_err(db_err(op))?;
    Ok(())
}

async fn rotate_key<'e>(
    db: impl Executor<'e, Database = MySql>,
    appid: &AppId,
    openid: &OpenId,
    sealed_key: &[u8],
    now: OffsetDateTime,
    op: &'static str,
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
    .execute(db)
    .await
    .map_err(db_err(op))?;
    Ok(())
}

#[async_trait]
impl SessionStore for MySqlStore {
    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()> {
        insert_session(&self.pool, session, "create_session").await
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
        rotate_key(
            &self.pool,
            appid,
            openid,
            sealed_key,
            now,
            "rotate_session_key",
        )
        .await
    }

    async fn open_session(
        &self,
        sealed_key: &[u8],
        session: &SessionRecord,
        sign_in: Option<(&FamilyRecord, &RefreshRecord)>,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        const OP: &str = "open_session";
        // One transaction, so one commit per login instead of two. The session_keys row is
        // locked first, as a lone rotation locks it: concurrent logins of one identity queue
        // on it in the same order, and the session row is new, so no deadlock.
        let identity = &session.identity;
        let mut tx = begin(&self.pool, OP).await?;
        rotate_key(
            &mut *tx,
            &identity.appid,
            &identity.openid,
            sealed_key,
            now,
            OP,
        )
        .await?;
        insert_session(&mut *tx, session, OP).await?;
        if let Some((family, first)) = sign_in {
            insert_family(&mut tx, family, first, OP).await?;
        }
        tx.commit().await.map_err(db_err(OP))?;
        Ok(sign_in.is_some())
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
