//! [`TokenStore`] on SQLite: refresh families and their rotating tokens.

use async_trait::async_trait;
use time::OffsetDateTime;
use wxlogin_core::crypto::HandleHash;
use wxlogin_core::ids::UserId;
use wxlogin_core::ports::{
    FamilyRecord, RefreshRecord, RotateOutcome, StoreError, StoreResult, TokenStore,
};

use super::{SqliteStore, begin_write, db_err};
use crate::rows::{FamilyRow, unix};

/// Inserts a new refresh family and its first token in the caller's transaction (also
/// `open_session`'s, which signs a known user in with the login's commit).
pub(super) async fn insert_family(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    family: &FamilyRecord,
    first: &RefreshRecord,
    op: &'static str,
) -> StoreResult<()> {
    if first.family_id != family.id {
        return Err(StoreError::Other(format!(
            "{op}: the first token names another family"
        )));
    }
    sqlx::query(
        "INSERT INTO refresh_families (id, user_id, appid, created_at) VALUES (?1, ?2, ?3, ?4)",
    )
    .bind(family.id.as_str())
    .bind(family.user_id.as_str())
    .bind(family.appid.as_str())
    .bind(unix(family.created_at))
    .execute(&mut **tx)
    .await
    .map_err(db_err(op))?;
    sqlx::query("INSERT INTO refresh_tokens (hash, family_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)")
        .bind(first.hash.0.as_slice())
        .bind(family.id.as_str())
        .bind(unix(first.created_at))
        .bind(unix(first.expires_at))
        .execute(&mut **tx)
        .await
        .map_err(db_err(op))?;
    Ok(())
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn create_family(&self, family: &FamilyRecord, first: &RefreshRecord) -> StoreResult<()> {
        const OP: &str = "create_family";
        let mut tx = begin_write(&self.writer, OP).await?;
        insert_family(&mut tx, family, first, OP).await?;
        tx.commit().await.map_err(db_err(OP))
    }

    async fn rotate_refresh(
        &self,
        presented: &HandleHash,
        new: &RefreshRecord,
        now: OffsetDateTime,
    ) -> StoreResult<RotateOutcome> {
        const OP: &str = "rotate_refresh";
        let now = unix(now);
        // The write lock from the start: of N concurrent calls, the first marks the token
        // used, and each later one, running after it commits, sees it used.
        let mut tx = begin_write(&self.writer, OP).await?;

        let rotated: Option<(String,)> = sqlx::query_as(
            "UPDATE refresh_tokens SET used_at = ?1
             WHERE hash = ?2 AND used_at IS NULL AND expires_at > ?1
               AND EXISTS (SELECT 1 FROM refresh_families f
                           WHERE f.id = refresh_tokens.family_id AND f.revoked_at IS NULL)
             RETURNING family_id",
        )
        .bind(now)
        .bind(presented.0.as_slice())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err(OP))?;

        if let Some((family_id,)) = rotated {
            // `new` joins the presented token's family: the caller could not know it yet, so
            // `new.family_id` is not read.
            let family = sqlx::query_as::<_, FamilyRow>(
                "SELECT id, user_id, appid, created_at FROM refresh_families WHERE id = ?1",
            )
            .bind(family_id.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err(OP))?
            .into_record()?;
            sqlx::query("INSERT INTO refresh_tokens (hash, family_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)")
                .bind(new.hash.0.as_slice())
                .bind(family_id.as_str())
                .bind(unix(new.created_at))
                .bind(unix(new.expires_at))
                .execute(&mut *tx)
                .await
                .map_err(db_err(OP))?;
            tx.commit().await.map_err(db_err(OP))?;
            return Ok(RotateOutcome::Rotated(family));
        }

        // Not live: say why. (used_at, revoked_at, family_id)
        let found: Option<(Option<i64>, Option<i64>, String)> = sqlx::query_as(
            "SELECT t.used_at, f.revoked_at, t.family_id
             FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id
             WHERE t.hash = ?1",
        )
        .bind(presented.0.as_slice())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err(OP))?;

        match found {
            // Presented again after its one rotation: someone holds a copy. Revoke the whole
            // family, whatever the token's own expiry (until `purge_expired` removes it).
            Some((Some(_used_at), None, family_id)) => {
                sqlx::query("UPDATE refresh_families SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL")
                    .bind(now)
                    .bind(family_id.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err(OP))?;
                tx.commit().await.map_err(db_err(OP))?;
                Ok(RotateOutcome::Reused { family_id })
            }
            // Unknown, expired and unused, or its family is already revoked.
            _ => {
                tx.rollback().await.map_err(db_err(OP))?;
                Ok(RotateOutcome::Invalid)
            }
        }
    }

    async fn revoke_family(&self, family_id: &str, now: OffsetDateTime) -> StoreResult<()> {
        sqlx::query(
            "UPDATE refresh_families SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL",
        )
        .bind(unix(now))
        .bind(family_id)
        .execute(&self.writer)
        .await
        .map_err(db_err("revoke_family"))?;
        Ok(())
    }

    async fn revoke_user(&self, user: &UserId, now: OffsetDateTime) -> StoreResult<Vec<String>> {
        sqlx::query(
            "UPDATE refresh_families SET revoked_at = ?1 WHERE user_id = ?2 AND revoked_at IS NULL",
        )
        .bind(unix(now))
        .bind(user.as_str())
        .execute(&self.writer)
        .await
        .map_err(db_err("revoke_user"))?;
        let ids: Vec<(String,)> =
            sqlx::query_as("SELECT id FROM refresh_families WHERE user_id = ?1")
                .bind(user.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(db_err("revoke_user"))?;
        Ok(ids.into_iter().map(|(id,)| id).collect())
    }

    async fn family_active(&self, family_id: &str) -> StoreResult<bool> {
        let revoked_at: Option<(Option<i64>,)> =
            sqlx::query_as("SELECT revoked_at FROM refresh_families WHERE id = ?1")
                .bind(family_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err("family_active"))?;
        Ok(matches!(revoked_at, Some((None,))))
    }
}
