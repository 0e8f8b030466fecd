//! [`UserStore`] on MySQL and MariaDB: users, identities, registration tickets.

use async_trait::async_trait;
use sqlx::{Executor, MySql};
use time::OffsetDateTime;
use wxlogin_core::crypto::HandleHash;
use wxlogin_core::ids::{AppId, OpenId, UnionId, UserId};
use wxlogin_core::ports::{
    Identity, IdentitySummary, NewUser, RegisterOutcome, StoreResult, TicketRecord, UserRecord,
    UserStore,
};

use super::{MySqlStore, begin, db_err, is_duplicate_on};
use crate::rows::{
    IdentitySummaryRow, SignedInRow, TicketRow, UserByIdentityRow, UserRow, signed_in_user, unix,
};

/// Binds (appid, openid) to a user, moving it from any other; a known unionid is kept when
/// the new binding has none (it belongs to the WeChat identity, not to our user).
///
/// `VALUES(col)` rather than MySQL 8's `AS new` alias, which MariaDB lacks. The primary key is
/// the table's only unique key, so nothing else can send the insert to the update.
const UPSERT_IDENTITY: &str = "
    INSERT INTO identities (appid, openid, unionid, user_id, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?)
    ON DUPLICATE KEY UPDATE
        user_id = VALUES(user_id),
        unionid = COALESCE(VALUES(unionid), unionid),
        updated_at = VALUES(updated_at)";

async fn upsert_identity<'e>(
    db: impl Executor<'e, Database = MySql>,
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
impl UserStore for MySqlStore {
    async fn user_by_identity(
        &self,
        appid: &AppId,
        openid: &OpenId,
    ) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query_as::<_, UserRow>(
            "SELECT CONVERT(u.id USING utf8mb4) AS id, u.phone_sealed, CONVERT(u.nickname USING utf8mb4) AS nickname,
                    CONVERT(u.avatar_url USING utf8mb4) AS avatar_url, u.created_at
             FROM identities i JOIN users u ON u.id = i.user_id
             WHERE i.appid = ? AND i.openid = ?",
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
        sqlx::query_as::<_, UserByIdentityRow>("SELECT CONVERT(u.id USING utf8mb4) AS id, u.phone_sealed, CONVERT(u.nickname USING utf8mb4) AS nickname,
                    CONVERT(u.avatar_url USING utf8mb4) AS avatar_url, u.created_at,
                    CONVERT(i.unionid USING utf8mb4) AS identity_unionid
             FROM identities i JOIN users u ON u.id = i.user_id
             WHERE i.appid = ? AND i.openid = ?")
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
            "SELECT CONVERT(u.id USING utf8mb4) AS id, u.phone_sealed, CONVERT(u.nickname USING utf8mb4) AS nickname,
                    CONVERT(u.avatar_url USING utf8mb4) AS avatar_url, u.created_at
             FROM identities i JOIN users u ON u.id = i.user_id
             WHERE i.unionid = ?
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
            "SELECT CONVERT(u.id USING utf8mb4) AS id, u.phone_sealed, CONVERT(u.nickname USING utf8mb4) AS nickname,
                    CONVERT(u.avatar_url USING utf8mb4) AS avatar_url, u.created_at
             FROM users u WHERE u.phone_hash = ?",
        )
        .bind(phone_hash.as_slice())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err("user_by_phone"))?;
        user_record(row)
    }

    async fn user(&self, id: &UserId) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query_as::<_, UserRow>(
            "SELECT CONVERT(u.id USING utf8mb4) AS id, u.phone_sealed, CONVERT(u.nickname USING utf8mb4) AS nickname,
                    CONVERT(u.avatar_url USING utf8mb4) AS avatar_url, u.created_at
             FROM users u WHERE u.id = ?",
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
            "SELECT CONVERT(appid USING utf8mb4) AS appid, CONVERT(unionid USING utf8mb4) AS unionid FROM identities WHERE user_id = ? ORDER BY created_at, appid, openid",
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
        // sees it: one row per identity, or one with NULL identity columns. MySQL resolves an
        // unqualified ORDER BY name to a select alias first, so `identities` sorts by
        // `CONVERT(appid USING utf8mb4)` (the charset's default, case-insensitive collation),
        // not by the binary column: `identity_appid` is that same expression.
        let rows = sqlx::query_as::<_, SignedInRow>(
            "SELECT CONVERT(u.id USING utf8mb4) AS id, u.phone_sealed, CONVERT(u.nickname USING utf8mb4) AS nickname,
                    CONVERT(u.avatar_url USING utf8mb4) AS avatar_url, u.created_at,
                    CONVERT(i.appid USING utf8mb4) AS identity_appid,
                    CONVERT(i.unionid USING utf8mb4) AS identity_unionid
             FROM refresh_families f
             JOIN users u ON u.id = f.user_id
             LEFT JOIN identities i ON i.user_id = u.id
             WHERE f.id = ? AND f.user_id = ? AND f.revoked_at IS NULL
             ORDER BY i.created_at, identity_appid, i.openid",
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
             VALUES (?, ?, ?, ?, ?, ?, ?)",
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
            "SELECT hash, CONVERT(appid USING utf8mb4) AS appid, CONVERT(openid USING utf8mb4) AS openid,
                    CONVERT(unionid USING utf8mb4) AS unionid, phone_sealed, created_at, expires_at
             FROM registration_tickets
             WHERE hash = ? AND used_at IS NULL AND expires_at > ?",
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
            "UPDATE registration_tickets SET used_at = ?
             WHERE hash = ? AND used_at IS NULL AND expires_at > ? AND appid = ? AND openid = ?",
        )
        .bind(unix(now))
        .bind(ticket.0.as_slice())
        .bind(unix(now))
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

        // A plain INSERT, not INSERT IGNORE (which would also turn a bad value or a taken id
        // into a warning): only a duplicate phone means "taken". A failed statement leaves the
        // transaction open in MySQL, so the rollback below undoes the ticket's consumption.
        let record = user.user;
        let inserted = sqlx::query(
            "INSERT INTO users (id, phone_hash, phone_sealed, nickname, avatar_url, created_at)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(record.id.as_str())
        .bind(user.phone_hash.as_slice())
        .bind(record.phone_sealed.as_slice())
        .bind(record.nickname.as_deref())
        .bind(record.avatar_url.as_deref())
        .bind(unix(record.created_at))
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_duplicate_on(&e, "users_phone_hash") => {
                // Undo the ticket's consumption too: the caller may offer another way in.
                tx.rollback().await.map_err(db_err(OP))?;
                return Ok(RegisterOutcome::PhoneTaken);
            }
            Err(e) => return Err(db_err(OP)(e)),
        }

        upsert_identity(&mut *tx, &record.id, identity, now, OP).await?;
        tx.commit().await.map_err(db_err(OP))?;
        Ok(RegisterOutcome::Created(record))
    }
}
