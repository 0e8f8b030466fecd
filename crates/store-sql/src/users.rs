//! [`UserStore`] on [`SqlStore`]: users and the WeChat identities bound to them, and the
//! user-row helpers the admin API and the batch import share (`user_columns!`,
//! `insert_user!`, `new_user_args`, `upsert_identity`).

use async_trait::async_trait;
use time::OffsetDateTime;
use wxlogin_core::crypto::HandleHash;
use wxlogin_core::events::EventType;
use wxlogin_core::ids::{AppId, ExternalId, FamilyId, OpenId, UnionId, UserId};
use wxlogin_core::ports::{
    Identity, IdentitySummary, NewUser, RegisterOutcome, StoreResult, TicketRecord, UserRecord,
    UserStore,
};

use crate::outbox::{NewEvent, insert_event, write_events};
use crate::rows::{self, unix};
use crate::sql::{Arg, Exec, Query, Step, args};
use crate::store::SqlStore;

/// The columns [`rows::user`] reads, of `users u`.
macro_rules! user_columns {
    () => {
        "u.id, u.phone_sealed, u.nickname, u.avatar_url, u.created_at, u.external_id, \
         u.disabled_at, u.last_login_at"
    };
}
pub(crate) use user_columns;

/// `INSERT INTO users` with every column, then `$tail` (an `ON CONFLICT` clause, or nothing);
/// the arguments are [`new_user_args`].
macro_rules! insert_user {
    ($tail:literal) => {
        concat!(
            "INSERT INTO users (id, phone_hash, phone_sealed, nickname, avatar_url, created_at,
                                external_id, disabled_at, last_login_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            $tail
        )
    };
}
pub(crate) use insert_user;

/// The arguments of [`insert_user!`]. A user created disabled is disabled from its creation.
pub(crate) fn new_user_args(new: &NewUser) -> [Arg<'_>; 9] {
    let u = &new.user;
    let created_at = unix(u.created_at);
    args![
        u.id.as_str(),
        new.phone_hash.as_slice(),
        u.phone_sealed.as_slice(),
        u.nickname.as_deref(),
        u.avatar_url.as_deref(),
        created_at,
        u.external_id.as_ref().map(ExternalId::as_str),
        u.disabled.then_some(created_at),
        u.last_login_at.map(unix),
    ]
}

/// Binds (appid, openid) to a user, moving it from any other; a known unionid is kept when
/// the new binding has none (it belongs to the WeChat identity, not to our user). MySQL:
/// `VALUES(col)` rather than MySQL 8's `AS new` alias, which MariaDB lacks; the primary key
/// is the table's only unique key, so nothing else can send the insert to the update.
static UPSERT_IDENTITY: Query = Query::new(
    "INSERT INTO identities (appid, openid, unionid, user_id, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (appid, openid) DO UPDATE SET
         user_id = excluded.user_id,
         unionid = COALESCE(excluded.unionid, identities.unionid),
         updated_at = excluded.updated_at",
)
.mysql(
    "INSERT INTO identities (appid, openid, unionid, user_id, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?)
     ON DUPLICATE KEY UPDATE
         user_id = VALUES(user_id),
         unionid = COALESCE(VALUES(unionid), unionid),
         updated_at = VALUES(updated_at)",
);

pub(crate) async fn upsert_identity(
    db: &mut dyn Exec,
    user: &UserId,
    identity: &Identity,
    now: OffsetDateTime,
) -> StoreResult<()> {
    let unionid = identity.unionid.as_ref().map(UnionId::as_str);
    let args = args![
        identity.appid.as_str(),
        identity.openid.as_str(),
        unionid,
        user.as_str(),
        unix(now),
        unix(now),
    ];
    db.execute(&UPSERT_IDENTITY, &args).await?;
    Ok(())
}

/// Who (appid, openid) is bound to, and the unionid it records. The plain read comes first:
/// on MySQL a locking read of a row that does not exist locks the gap before it, and two
/// units binding one new identity would then deadlock on their inserts.
static IDENTITY_OWNER: Query =
    Query::new("SELECT user_id, unionid FROM identities WHERE appid = ? AND openid = ?");
/// The same, locking the row until the unit ends (the servers; SQLite's writer is alone).
static LOCK_IDENTITY_OWNER: Query = Query::new(
    "SELECT user_id, unionid FROM identities WHERE appid = ? AND openid = ?",
)
.servers("SELECT user_id, unionid FROM identities WHERE appid = ? AND openid = ? FOR UPDATE");

/// [`UserStore::bind_identity`]'s change, in the caller's unit: the identity as now stored
/// (its unionid kept if the call has none) when the binding is new or moved from another
/// user, for the caller's `identity.bound`; `None` when it was bound to `user` already.
/// Binding an identity to the user it already belongs to changes at most its unionid, and
/// keeps `updated_at`, the time it was bound.
pub(crate) async fn bind(
    db: &mut dyn Exec,
    user: &UserId,
    identity: &Identity,
    now: OffsetDateTime,
) -> StoreResult<Option<Identity>> {
    static RECORD_UNIONID: Query =
        Query::new("UPDATE identities SET unionid = ? WHERE appid = ? AND openid = ?");
    let key = args![identity.appid.as_str(), identity.openid.as_str()];
    let owner = match db.fetch_optional(&IDENTITY_OWNER, &key).await? {
        // Unbound: the upsert binds it (or moves it from whoever bound it meanwhile).
        None => None,
        Some(_) => db.fetch_optional(&LOCK_IDENTITY_OWNER, &key).await?,
    };
    let Some(mut owner) = owner else {
        upsert_identity(db, user, identity, now).await?;
        return Ok(Some(identity.clone()));
    };
    let (owner, recorded) = (rows::user_id(&mut owner)?, owner.opt_text()?);
    if owner != *user {
        upsert_identity(db, user, identity, now).await?;
        let mut stored = identity.clone();
        if stored.unionid.is_none() {
            stored.unionid = recorded.map(rows::id).transpose()?;
        }
        return Ok(Some(stored));
    }
    let unionid = identity.unionid.as_ref().map(UnionId::as_str);
    if unionid.is_some() && unionid != recorded.as_deref() {
        let args = args![unionid, identity.appid.as_str(), identity.openid.as_str()];
        db.execute(&RECORD_UNIONID, &args).await?;
    }
    Ok(None)
}

/// The first user among `rows`.
fn first_user(rows: Option<crate::sql::Row>) -> StoreResult<Option<UserRecord>> {
    rows.map(|mut row| rows::user(&mut row)).transpose()
}

#[async_trait]
impl UserStore for SqlStore {
    async fn user_by_identity_and_unionid(
        &self,
        appid: &AppId,
        openid: &OpenId,
        unionid: Option<&UnionId>,
    ) -> StoreResult<Option<(UserRecord, bool)>> {
        static Q: Query = Query::new(concat!(
            "SELECT ",
            user_columns!(),
            ", i.unionid FROM identities i JOIN users u ON u.id = i.user_id
             WHERE i.appid = ? AND i.openid = ?"
        ));
        let (appid, openid, unionid) = (appid.clone(), openid.clone(), unionid.cloned());
        self.read("user_by_identity", move |db| {
            Box::pin(async move {
                let Some(mut row) = db
                    .fetch_optional(&Q, &args![appid.as_str(), openid.as_str()])
                    .await?
                else {
                    return Ok(None);
                };
                let user = rows::user(&mut row)?;
                let recorded = row.opt_text()?;
                let known = unionid.is_none_or(|u| recorded.as_deref() == Some(u.as_str()));
                Ok(Some((user, known)))
            })
        })
        .await
    }

    async fn user_by_unionid(&self, unionid: &UnionId) -> StoreResult<Option<UserRecord>> {
        // Normally one user has the unionid; should several, the oldest answers, every time.
        static Q: Query = Query::new(concat!(
            "SELECT ",
            user_columns!(),
            " FROM identities i JOIN users u ON u.id = i.user_id
             WHERE i.unionid = ? ORDER BY u.created_at, u.id LIMIT 1"
        ));
        let unionid = unionid.clone();
        self.read("user_by_unionid", move |db| {
            Box::pin(
                async move { first_user(db.fetch_optional(&Q, &args![unionid.as_str()]).await?) },
            )
        })
        .await
    }

    async fn user_by_phone(&self, phone_hash: &[u8; 32]) -> StoreResult<Option<UserRecord>> {
        static Q: Query = Query::new(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.phone_hash = ?"
        ));
        let phone_hash = *phone_hash;
        self.read("user_by_phone", move |db| {
            Box::pin(async move {
                first_user(db.fetch_optional(&Q, &args![phone_hash.as_slice()]).await?)
            })
        })
        .await
    }

    async fn user(&self, id: &UserId) -> StoreResult<Option<UserRecord>> {
        static Q: Query = Query::new(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.id = ?"
        ));
        let id = id.clone();
        self.read("user", move |db| {
            Box::pin(async move { first_user(db.fetch_optional(&Q, &args![id.as_str()]).await?) })
        })
        .await
    }

    async fn bind_identity(
        &self,
        user: &UserId,
        identity: &Identity,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let (user, identity) = (user.clone(), identity.clone());
        self.atomic("bind_identity", move |db| {
            Box::pin(async move {
                let Some(bound) = bind(db, &user, &identity, now).await? else {
                    return Ok(Step::Keep(false));
                };
                let kind = EventType::IdentityBound;
                insert_event(db, kind, &user, Some(&bound), None, now).await?;
                Ok(Step::Keep(true))
            })
        })
        .await
    }

    async fn identities(&self, user: &UserId) -> StoreResult<Vec<IdentitySummary>> {
        static Q: Query = Query::new(
            "SELECT appid, unionid FROM identities WHERE user_id = ?
             ORDER BY created_at, appid, openid",
        );
        let user = user.clone();
        self.read("identities", move |db| {
            Box::pin(async move {
                let rows = db.fetch(&Q, &args![user.as_str()]).await?;
                let mut out = Vec::with_capacity(rows.len());
                for mut row in rows {
                    out.extend(rows::identity_summary(&mut row)?);
                }
                Ok(out)
            })
        })
        .await
    }

    async fn identity_in_app(&self, user: &UserId, appid: &AppId) -> StoreResult<Option<Identity>> {
        static Q: Query = Query::new(
            "SELECT appid, openid, unionid FROM identities WHERE user_id = ? AND appid = ?
             ORDER BY created_at DESC, openid LIMIT 1",
        );
        let (user, appid) = (user.clone(), appid.clone());
        self.read("identity_in_app", move |db| {
            Box::pin(async move {
                db.fetch_optional(&Q, &args![user.as_str(), appid.as_str()])
                    .await?
                    .map(|mut row| rows::identity(&mut row))
                    .transpose()
            })
        })
        .await
    }

    async fn signed_in_user(
        &self,
        family_id: &FamilyId,
        user: &UserId,
    ) -> StoreResult<Option<(UserRecord, Vec<IdentitySummary>)>> {
        // `user` plus `identities` in their order, joined to the family as `family_active`
        // sees it: one row per identity, or one with NULL identity columns.
        static Q: Query = Query::new(concat!(
            "SELECT ",
            user_columns!(),
            ", i.appid, i.unionid
             FROM refresh_families f
             JOIN users u ON u.id = f.user_id
             LEFT JOIN identities i ON i.user_id = u.id
             WHERE f.id = ? AND f.user_id = ? AND f.revoked_at IS NULL
             ORDER BY i.created_at, i.appid, i.openid"
        ));
        let (family_id, user) = (family_id.clone(), user.clone());
        self.read("signed_in_user", move |db| {
            Box::pin(async move {
                let rows = db
                    .fetch(&Q, &args![family_id.as_str(), user.as_str()])
                    .await?;
                let mut found = None;
                for mut row in rows {
                    // Every row repeats the user: the first one's columns make the record.
                    let user = rows::user(&mut row)?;
                    let (_, identities) = found.get_or_insert_with(|| (user, Vec::new()));
                    identities.extend(rows::identity_summary(&mut row)?);
                }
                Ok(found)
            })
        })
        .await
    }

    async fn put_ticket(&self, ticket: &TicketRecord) -> StoreResult<()> {
        static Q: Query = Query::new(
            "INSERT INTO registration_tickets
                 (hash, appid, openid, unionid, phone_sealed, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        );
        let t = ticket.clone();
        self.write("put_ticket", move |db| {
            Box::pin(async move {
                let args = args![
                    t.hash.0.as_slice(),
                    t.identity.appid.as_str(),
                    t.identity.openid.as_str(),
                    t.identity.unionid.as_ref().map(UnionId::as_str),
                    t.phone_sealed.as_slice(),
                    unix(t.created_at),
                    unix(t.expires_at),
                ];
                db.execute(&Q, &args).await.map(drop)
            })
        })
        .await
    }

    async fn live_ticket(
        &self,
        hash: &HandleHash,
        now: OffsetDateTime,
    ) -> StoreResult<Option<TicketRecord>> {
        static Q: Query = Query::new(
            "SELECT hash, appid, openid, unionid, phone_sealed, created_at, expires_at
             FROM registration_tickets
             WHERE hash = ? AND used_at IS NULL AND expires_at > ?",
        );
        let hash = *hash;
        self.read("live_ticket", move |db| {
            Box::pin(async move {
                db.fetch_optional(&Q, &args![hash.0.as_slice(), unix(now)])
                    .await?
                    .map(|mut row| rows::ticket(&mut row))
                    .transpose()
            })
        })
        .await
    }

    async fn register(
        &self,
        ticket: &HandleHash,
        now: OffsetDateTime,
        user: NewUser,
        identity: &Identity,
    ) -> StoreResult<RegisterOutcome> {
        // Consume the ticket first: of two concurrent registrations with it, the second finds
        // it used. A ticket only registers the identity it was issued to.
        static CONSUME: Query = Query::new(
            "UPDATE registration_tickets SET used_at = ?
             WHERE hash = ? AND used_at IS NULL AND expires_at > ? AND appid = ? AND openid = ?",
        );
        // Only a taken phone means "taken"; a taken id or external_id stays an error.
        static INSERT_USER: Query =
            Query::new(insert_user!(" ON CONFLICT (phone_hash) DO NOTHING"))
                .mysql(insert_user!(""))
                .mysql_duplicate_is_noop(&["users_phone_hash"]);
        let (ticket, identity) = (*ticket, identity.clone());
        self.atomic("register", move |db| {
            Box::pin(async move {
                let consume = args![
                    unix(now),
                    ticket.0.as_slice(),
                    unix(now),
                    identity.appid.as_str(),
                    identity.openid.as_str(),
                ];
                if db.execute(&CONSUME, &consume).await? == 0 {
                    return Ok(Step::Keep(RegisterOutcome::TicketInvalid));
                }
                if db.execute(&INSERT_USER, &new_user_args(&user)).await? == 0 {
                    // Undo the ticket's consumption too: the caller may offer another way in.
                    return Ok(Step::Undo(RegisterOutcome::PhoneTaken));
                }
                let record = user.user;
                upsert_identity(db, &record.id, &identity, now).await?;
                let external_id = record.external_id.as_ref().map(ExternalId::as_str);
                let events = [
                    NewEvent::new(EventType::UserRegistered, &record.id, external_id)
                        .identity(&identity),
                    NewEvent::new(EventType::IdentityBound, &record.id, external_id)
                        .identity(&identity),
                ];
                write_events(db, &events, now).await?;
                Ok(Step::Keep(RegisterOutcome::Created(record)))
            })
        })
        .await
    }
}
