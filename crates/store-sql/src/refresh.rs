//! [`RefreshStore`] on [`SqlStore`]: refresh families and their tokens (creation, rotation,
//! reuse, revocation), and the sign-in helpers `record_login` shares.

use async_trait::async_trait;
use time::OffsetDateTime;
use wxlogin_core::crypto::HandleHash;
use wxlogin_core::events::EventType;
use wxlogin_core::ids::{FamilyId, UserId};
use wxlogin_core::ports::{FamilyRecord, RefreshRecord, RefreshStore, RotateOutcome, StoreResult};

use crate::outbox::{NewEvent, write_events};
use crate::rows::{self, unix};
use crate::sql::{Exec, Query, Step, args};
use crate::store::SqlStore;

static INSERT_TOKEN: Query = Query::new(
    "INSERT INTO refresh_tokens (hash, family_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
);

async fn insert_token(
    db: &mut dyn Exec,
    family_id: &FamilyId,
    token: &RefreshRecord,
) -> StoreResult<()> {
    let args = args![
        token.hash.0.as_slice(),
        family_id.as_str(),
        unix(token.created_at),
        unix(token.expires_at),
    ];
    db.execute(&INSERT_TOKEN, &args).await?;
    Ok(())
}

/// A new refresh family and its first token, in the caller's unit.
async fn insert_family(
    db: &mut dyn Exec,
    family: &FamilyRecord,
    first: &RefreshRecord,
) -> StoreResult<()> {
    static INSERT: Query = Query::new(
        "INSERT INTO refresh_families (id, user_id, appid, created_at) VALUES (?, ?, ?, ?)",
    );
    let args = args![
        family.id.as_str(),
        family.user_id.as_str(),
        family.appid.as_str(),
        unix(family.created_at),
    ];
    db.execute(&INSERT, &args).await?;
    insert_token(db, &family.id, first).await
}

/// A sign-in, in the caller's unit: the user's `last_login_at` becomes `at`, then the new
/// family and its first token. The user's row comes first: on MySQL the family's foreign-key
/// check takes a shared lock on it, and two sign-ins of one user that both held that lock and
/// then wanted to update the row would deadlock.
pub(crate) async fn sign_in(
    db: &mut dyn Exec,
    family: &FamilyRecord,
    first: &RefreshRecord,
    at: OffsetDateTime,
) -> StoreResult<()> {
    static TOUCH: Query = Query::new("UPDATE users SET last_login_at = ? WHERE id = ?");
    db.execute(&TOUCH, &args![unix(at), family.user_id.as_str()])
        .await?;
    insert_family(db, family, first).await
}

#[async_trait]
impl RefreshStore for SqlStore {
    async fn create_family(
        &self,
        family: &FamilyRecord,
        first: &RefreshRecord,
        announce: bool,
    ) -> StoreResult<()> {
        // The identity `user.signed_in` names: the user's in the family's app, as
        // `identity_in_app` reads it.
        static SIGNED_IN_AS: Query = Query::new(
            "SELECT u.external_id, i.appid, i.openid, i.unionid
             FROM users u LEFT JOIN identities i ON i.user_id = u.id AND i.appid = ?
             WHERE u.id = ?
             ORDER BY i.created_at DESC, i.openid LIMIT 1",
        );
        let (family, first) = (family.clone(), first.clone());
        self.atomic("create_family", move |db| {
            Box::pin(async move {
                sign_in(db, &family, &first, family.created_at).await?;
                if announce {
                    let args = args![family.appid.as_str(), family.user_id.as_str()];
                    let mut row = db.fetch_one(&SIGNED_IN_AS, &args).await?;
                    let external_id = row.opt_text()?;
                    let mut event = NewEvent::new(
                        EventType::UserSignedIn,
                        &family.user_id,
                        external_id.as_deref(),
                    );
                    event.identity = rows::opt_identity(&mut row)?;
                    write_events(db, &[event], family.created_at).await?;
                }
                Ok(Step::Keep(()))
            })
        })
        .await
    }

    async fn rotate_refresh(
        &self,
        presented: &HandleHash,
        new: &RefreshRecord,
        now: OffsetDateTime,
    ) -> StoreResult<RotateOutcome> {
        // The conditional UPDATE decides: of N concurrent calls, the first marks the token
        // used; each later one runs after it (SQLite: the writer runs units one at a time) or
        // waits for its row lock and then finds it used (servers), and changes nothing.
        // A disabled user's tokens do not rotate: the unit below says `UserDisabled`.
        static USE: Query = Query::new(
            "UPDATE refresh_tokens SET used_at = ?
             WHERE hash = ? AND used_at IS NULL AND expires_at > ?
               AND EXISTS (SELECT 1 FROM refresh_families f JOIN users u ON u.id = f.user_id
                           WHERE f.id = refresh_tokens.family_id AND f.revoked_at IS NULL
                             AND u.disabled_at IS NULL)",
        );
        static FAMILY: Query = Query::new(
            "SELECT f.id, f.user_id, f.appid, f.created_at
             FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id
             WHERE t.hash = ?",
        );
        // Not live: why. MySQL: FOR UPDATE reads the latest committed rows, not the
        // transaction's snapshot, and holds the family row we may revoke next.
        static STATE: Query = Query::new(
            "SELECT t.used_at, f.revoked_at, t.family_id, f.user_id, u.disabled_at, u.external_id
             FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id
             JOIN users u ON u.id = f.user_id
             WHERE t.hash = ?",
        )
        .mysql(
            "SELECT t.used_at, f.revoked_at, t.family_id, f.user_id, u.disabled_at, u.external_id
             FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id
             JOIN users u ON u.id = f.user_id
             WHERE t.hash = ? FOR UPDATE",
        );
        let (presented, new) = (*presented, new.clone());
        let (at, now) = (now, unix(now));
        if self.is_postgres() {
            // The common case in one statement: the token rotates. Otherwise (reuse, unknown)
            // the unit below says why, in a transaction.
            let new = new.clone();
            let rotated = self
                .write("rotate_refresh", move |db| {
                    Box::pin(async move { pg_rotate_refresh(db, &presented, &new, now).await })
                })
                .await?;
            if let Some(family) = rotated {
                return Ok(RotateOutcome::Rotated(family));
            }
        }
        self.atomic("rotate_refresh", move |db| {
            Box::pin(async move {
                let token = presented.0.as_slice();
                if db.execute(&USE, &args![now, token, now]).await? == 1 {
                    // `new` joins the presented token's family: the caller could not know it,
                    // so `new.family_id` is not read.
                    let family = rows::family(&mut db.fetch_one(&FAMILY, &args![token]).await?)?;
                    insert_token(db, &family.id, &new).await?;
                    return Ok(Step::Keep(RotateOutcome::Rotated(family)));
                }
                let Some(mut state) = db.fetch_optional(&STATE, &args![token]).await? else {
                    return Ok(Step::Keep(RotateOutcome::Invalid));
                };
                let (used_at, revoked_at) = (state.opt_int()?, state.opt_int()?);
                let family_id = rows::family_id(&mut state)?;
                let user = rows::user_id(&mut state)?;
                let (disabled_at, external_id) = (state.opt_int()?, state.opt_text()?);
                if disabled_at.is_some() {
                    // Known, whatever its state: the user's being disabled is the answer.
                    return Ok(Step::Keep(RotateOutcome::UserDisabled));
                }
                if used_at.is_none() || revoked_at.is_some() {
                    // Unknown, expired and unused, or its family is already revoked.
                    return Ok(Step::Keep(RotateOutcome::Invalid));
                }
                // Presented again after its one rotation: someone holds a copy. Revoke the
                // whole family. The read above may predate another reuse's revocation:
                // whoever flips revoked_at reports the reuse; the others found a revoked
                // family, as if they had come after.
                let revoked = db
                    .execute(&REVOKE_FAMILY, &args![now, family_id.as_str()])
                    .await?;
                if revoked != 1 {
                    return Ok(Step::Keep(RotateOutcome::Invalid));
                }
                let reused =
                    NewEvent::new(EventType::RefreshTokenReused, &user, external_id.as_deref());
                write_events(db, &[reused], at).await?;
                Ok(Step::Keep(RotateOutcome::Reused { family_id }))
            })
        })
        .await
    }

    async fn revoke_family(&self, family_id: &FamilyId, now: OffsetDateTime) -> StoreResult<()> {
        let family_id = family_id.clone();
        self.write("revoke_family", move |db| {
            Box::pin(async move {
                db.execute(&REVOKE_FAMILY, &args![unix(now), family_id.as_str()])
                    .await
                    .map(drop)
            })
        })
        .await
    }

    async fn revoke_user(&self, user: &UserId, now: OffsetDateTime) -> StoreResult<Vec<FamilyId>> {
        static REVOKE: Query = Query::new(
            "UPDATE refresh_families SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
        );
        static IDS: Query = Query::new("SELECT id FROM refresh_families WHERE user_id = ?");
        let user = user.clone();
        self.atomic("revoke_user", move |db| {
            Box::pin(async move {
                db.execute(&REVOKE, &args![unix(now), user.as_str()])
                    .await?;
                let mut ids = Vec::new();
                for mut row in db.fetch(&IDS, &args![user.as_str()]).await? {
                    ids.push(rows::family_id(&mut row)?);
                }
                Ok(Step::Keep(ids))
            })
        })
        .await
    }

    async fn family_active(&self, family_id: &FamilyId) -> StoreResult<bool> {
        static Q: Query = Query::new("SELECT revoked_at FROM refresh_families WHERE id = ?");
        let family_id = family_id.clone();
        self.read("family_active", move |db| {
            Box::pin(async move {
                match db.fetch_optional(&Q, &args![family_id.as_str()]).await? {
                    Some(mut row) => Ok(row.opt_int()?.is_none()),
                    None => Ok(false),
                }
            })
        })
        .await
    }
}

/// The rotation of a live token on PostgreSQL, in one statement: its family, or `None` when
/// the token did not rotate (used, expired, unknown, or its family revoked).
async fn pg_rotate_refresh(
    db: &mut dyn Exec,
    presented: &HandleHash,
    new: &RefreshRecord,
    now: i64,
) -> StoreResult<Option<FamilyRecord>> {
    static Q: Query = Query::new(
        "WITH used AS (
             UPDATE refresh_tokens SET used_at = ?
             WHERE hash = ? AND used_at IS NULL AND expires_at > ?
               AND EXISTS (SELECT 1 FROM refresh_families f JOIN users u ON u.id = f.user_id
                           WHERE f.id = refresh_tokens.family_id AND f.revoked_at IS NULL
                             AND u.disabled_at IS NULL)
             RETURNING family_id
         ), added AS (
             INSERT INTO refresh_tokens (hash, family_id, created_at, expires_at)
             SELECT ?, family_id, ?, ? FROM used
         )
         SELECT f.id, f.user_id, f.appid, f.created_at
         FROM refresh_families f JOIN used ON f.id = used.family_id",
    );
    let args = args![
        now,
        presented.0.as_slice(),
        now,
        new.hash.0.as_slice(),
        unix(new.created_at),
        unix(new.expires_at),
    ];
    db.fetch_optional(&Q, &args)
        .await?
        .map(|mut row| rows::family(&mut row))
        .transpose()
}

static REVOKE_FAMILY: Query =
    Query::new("UPDATE refresh_families SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL");
