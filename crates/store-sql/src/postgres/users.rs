//! [`UserStore`] on PostgreSQL: users, identities, registration tickets.

use async_trait::async_trait;
use sqlx::{Executor, Postgres};
use time::OffsetDateTime;
use wxlogin_core::crypto::HandleHash;
use wxlogin_core::ids::{AppId, OpenId, UnionId, UserId};
use wxlogin_core::ports::{
    Identity, IdentitySummary, NewUser, RegisterOutcome, StoreResult, TicketRecord, UserRecord,
    UserStore,
};

use super::{PgStore, begin, db_err};
use crate::rows::{
    IdentitySummaryRow, SignedInRow, TicketRow, UserByIdentityRow, UserRow, signed_in_user, unix,
};

/// Binds (appid, openid) to a user, moving it from any other; a known unionid is kept when
/// the new binding has none (it belongs to the WeChat identity, not to our user).
const UPSERT_IDENTITY: &str = "
    INSERT INTO identities (appid, openid, unionid, user_id, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $5)
    ON CONFLICT (appid, openid) DO UPDATE SET
        user_id = excluded.user_id,
        unionid = COALESCE(excluded.unionid, identities.unionid),
        updated_at = excluded.updated_at";

async fn upsert_identity<'e>(
    db: impl Executor<'e, Database = Postgres>,
    user: &UserId,
    identity: &Identity,
    now: OffsetDateTime,
    op: &'static str,
) -> StoreResult<()> {
    sqlx::query(UPSERT_IDENTITY)
        .bind(identity.appid.as_str())
        .bind(identity.openid.as_str())
        .bind(identity.unionid.as_ref().map(UnionId::as_str))
        .bind(user.as_str())
        .bind(unix(now))
        .execute(db)
        .await
        .map_err(db_err(op))?;
    Ok(())
}

fn user_record(row: Option<UserRow>) -> StoreResult<Option<UserRecord>> {
    row.map(UserRow::into_record).transpose()
}

#[async_trait]
impl UserStore for PgStore {
    async fn user_by_identity(
        &self,
        appid: &AppId,
        openid: &OpenId,
    ) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query_as::<_, UserRow>(
            "SELECT u.id, u.phone_sealed, u.nickname, u.avatar_url, u.created_at
             FROM identities i JOIN users u ON u.id = i.user_id
             WHERE i.appid = $1 AND i.openid = $2",
        )
        .bind(appid.as_str())
        .bind(openid.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err("user_by_identity"))?;
        user_record(row)
    }

    async fn user_by_identity_and_unionid(
        &self,
        appid: &AppId,
        openid: &OpenId,
        unionid: Option<&UnionId>,
    ) -> StoreResult<Option<(UserRecord, bool)>> {
        sqlx::query_as::<_, UserByIdentityRow>(
            "SELECT u.id, u.phone_sealed, u.nickname, u.avatar_url, u.created_at,
                    i.unionid AS identity_unionid
             FROM identities i JOIN users u ON u.id = i.user_id
             WHERE i.appid = $1 AND i.openid = $2",
        )
        .bind(appid.as_str())
        .bind(openid.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err("user_by_identity"))?
        .map(|row| row.into_record(unionid))
        .transpose()
    }

    async fn user_by_unionid(&self, unionid: &UnionId) -> StoreResult<Option<UserRecord>> {
        // Normally one user has the unionid; should several, the oldest answers, every time.
        let row = sqlx::query_as::<_, UserRow>(
            "SELECT u.id, u.phone_sealed, u.nickname, u.avatar_url, u.created_at
             FROM identities i JOIN users u ON u.id = i.user_id
             WHERE i.unionid = $1
             ORDER BY u.created_at, u.id
             LIMIT 1",
        )
        .bind(unionid.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err("user_by_unionid"))?;
        user_record(row)
    }

    async fn user_by_phone(&self, phone_hash: &[u8; 32]) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query_as::<_, UserRow>(
            "SELECT u.id, u.phone_sealed, u.nickname, u.avatar_url, u.created_at
             FROM users u WHERE u.phone_hash = $1",
        )
        .bind(phone_hash.as_slice())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err("user_by_phone"))?;
        user_record(row)
    }

    async fn user(&self, id: &UserId) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query_as::<_, UserRow>(
            "SELECT u.id, u.phone_sealed, u.nickname, u.avatar_url, u.created_at
             FROM users u WHERE u.id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err("user"))?;
        user_record(row)
    }

    async fn bind_identity(
        &self,
        user: &UserId,
        identity: &Identity,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        upsert_identity(&self.pool, user, identity, now, "bind_identity").await
    }

    async fn identities(&self, user: &UserId) -> StoreResult<Vec<IdentitySummary>> {
        sqlx::query_as::<_, IdentitySummaryRow>(
            "SELECT appid, unionid FROM identities WHERE user_id = $1 ORDER BY created_at, appid, openid",
        )
        .bind(user.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("identities"))?
        .into_iter()
        .map(IdentitySummaryRow::into_summary)
        .collect()
    }

    async fn signed_in_user(
        &self,
        family_id: &str,
        user: &UserId,
    ) -> StoreResult<Option<(UserRecord, Vec<IdentitySummary>)>> {
        // `user` plus `identities` in their order, joined to the family as `family_active`
        // sees it: one row per identity, or one with NULL identity columns.
        let rows = sqlx::query_as::<_, SignedInRow>(
            "SELECT u.id, u.phone_sealed, u.nickname, u.avatar_url, u.created_at,
                    i.appid AS identity_appid, i.unionid AS identity_unionid
             FROM refresh_families f
             JOIN users u ON u.id = f.user_id
             LEFT JOIN identities i ON i.user_id = u.id
             WHERE f.id = $1 AND f.user_id = $2 AND f.revoked_at IS NULL
             ORDER BY i.created_at, i.appid, i.openid",
        )
        .bind(family_id)
        .bind(user.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("signed_in_user"))?;
        signed_in_user(rows)
    }

    async fn put_ticket(&self, ticket: &TicketRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO registration_tickets
                 (hash, appid, openid, unionid, phone_sealed, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(ticket.hash.0.as_slice())
        .bind(ticket.identity.appid.as_str())
        .bind(ticket.identity.openid.as_str())
        .bind(ticket.identity.unionid.as_ref().map(UnionId::as_str))
        .bind(ticket.phone_sealed.as_slice())
        .bind(unix(ticket.created_at))
        .bind(unix(ticket.expires_at))
        .execute(&self.pool)
        .await
        .map_err(db_err("put_ticket"))?;
        Ok(())
    }

    async fn live_ticket(
        &self,
        hash: &HandleHash,
        now: OffsetDateTime,
    ) -> StoreResult<Option<TicketRecord>> {
        sqlx::query_as::<_, TicketRow>(
            "SELECT hash, appid, openid, unionid, phone_sealed, created_at, expires_at
             FROM registration_tickets
             WHERE hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(hash.0.as_slice())
        .bind(unix(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err("live_ticket"))?
        .map(TicketRow::into_record)
        .transpose()
    }

    async fn register(
        &self,
        ticket: &HandleHash,
        now: OffsetDateTime,
        user: NewUser,
        identity: &Identity,
    ) -> StoreResult<RegisterOutcome> {
        const OP: &str = "register";
        let mut tx = begin(&self.pool, OP).await?;

        // Consume the ticket first: of two concurrent registrations with it, the second finds
        // it used. A ticket only registers the identity it was issued to.
        let consumed = sqlx::query(
            "UPDATE registration_tickets SET used_at = $1
             WHERE hash = $2 AND used_at IS NULL AND expires_at > $1 AND appid = $3 AND openid = $4",
        )
        .bind(unix(now))
        .bind(ticket.0.as_slice())
        .bind(identity.appid.as_str())
        .bind(identity.openid.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_err(OP))?
        .rows_affected();
        if consumed == 0 {
            tx.rollback().await.map_err(db_err(OP))?;
            return Ok(RegisterOutcome::TicketInvalid);
        }

        let record = user.user;
        let inserted = sqlx::query(
            "INSERT INTO users (id, phone_hash, phone_sealed, nickname, avatar_url, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (phone_hash) DO NOTHING",
        )
        .bind(record.id.as_str())
        .bind(user.phone_hash.as_slice())
        .bind(record.phone_sealed.as_slice())
        .bind(record.nickname.as_deref())
        .bind(record.avatar_url.as_deref())
        .bind(unix(record.created_at))
        .execute(&mut *tx)
        .await
        .map_err(db_err(OP))?
        .rows_affected();
        if inserted == 0 {
            // Undo the ticket's consumption too: the caller may offer another way in.
            tx.rollback().await.map_err(db_err(OP))?;
            return Ok(RegisterOutcome::PhoneTaken);
        }

        upsert_identity(&mut *tx, &record.id, identity, now, OP).await?;
        tx.commit().await.map_err(db_err(OP))?;
        Ok(RegisterOutcome::Created(record))
    }
}
