//! [`SessionStore`] on SQLite: mini-program sessions and session_key history.

use async_trait::async_trait;
use sqlx::{Executor, Sqlite};
use time::OffsetDateTime;
use wxlogin_core::crypto::HandleHash;
use wxlogin_core::ids::{AppId, OpenId, UnionId};
use wxlogin_core::ports::{
    FamilyRecord, RefreshRecord, SessionKeys, SessionRecord, SessionStore, StoreResult,
};

use super::tokens::insert_family;
use super::{SqliteStore, begin_write, db_err};
use crate::rows::{SessionKeysRow, SessionRow, unix};

async fn insert_session<'e>(
    db: impl Executor<'e, Database = Sqlite>,
    session: &SessionRecord,
    op: &'static str,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO sessions (hash, appid, openid, unionid, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
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
    db: impl Executor<'e, Database = Sqlite>,
    appid: &AppId,
    openid: &OpenId,
    sealed_key: &[u8],
    now: OffsetDateTime,
    op: &'static str,
) -> StoreResult<()> {
    // One statement, so concurrent rotations serialise on the row. SQLite (like
    // PostgreSQL) evaluates every SET expression against the old row, so `previous`
    // gets the old `current`. (MySQL assigns left to right: its version must set
    // previous_sealed before current_sealed.)
    sqlx::query(
        "INSERT INTO session_keys (appid, openid, current_sealed, previous_sealed, rotated_at)
             VALUES (?1, ?2, ?3, NULL, ?4)
             ON CONFLICT (appid, openid) DO UPDATE SET
                 previous_sealed = session_keys.current_sealed,
                 current_sealed = excluded.current_sealed,
                 rotated_at = excluded.rotated_at",
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
impl SessionStore for SqliteStore {
    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()> {
        insert_session(&self.writer, session, "create_session").await
    }

    async fn live_session(
        &self,
        hash: &HandleHash,
        now: OffsetDateTime,
    ) -> StoreResult<Option<SessionRecord>> {
        sqlx::query_as::<_, SessionRow>(
            "SELECT hash, appid, openid, unionid, created_at, expires_at
             FROM sessions WHERE hash = ?1 AND expires_at > ?2",
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
            &self.writer,
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
        // One `BEGIN IMMEDIATE` transaction: one wait for the write lock and one commit (WAL
        // append) per login instead of two.
        let identity = &session.identity;
        let mut tx = begin_write(&self.writer, OP).await?;
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
             FROM session_keys WHERE appid = ?1 AND openid = ?2",
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
