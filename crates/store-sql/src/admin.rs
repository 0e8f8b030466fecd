//! [`AdminStore`] for [`SqlStore`]: users as an operator searches and manages them. Every
//! change writes its events in its own unit ([`crate::outbox`]), after its other writes.
//!
//! Units that change a user start by reading the user's row with `FOR UPDATE` on the servers,
//! so that two operators' changes to one user take turns, and read the `external_id` the
//! events carry there.
//!
//! Long file: over 500 lines on purpose: this is the one `impl AdminStore`, and a trait's impl cannot be
//! split across files; the parts that stand on their own are already beside it (`activity`,
//! `import`, `account`), and what is left is user changes under the one locking rule above.

use async_trait::async_trait;
use time::OffsetDateTime;
use wxlogin_core::admin::{
    AdminStore, CreateOutcome, Holdings, IdentityDetail, ImportOutcome, ImportUser, PhoneChange,
    Stats, UnbindOutcome, UpdateOutcome, UserChange, UserDetail, UserQuery,
};
use wxlogin_core::events::{EventType, UserSource};
use wxlogin_core::ids::{AppId, ExternalId, FamilyId, UserId};
use wxlogin_core::ports::{Identity, NewUser, StoreError, StoreResult, UserRecord};

use crate::outbox::{NewEvent, erase_identities, write_events};
use crate::rows::{self, unix};
use crate::sql::{Arg, Exec, Query, Row, Step, args, composed};
use crate::store::SqlStore;
use crate::users::{insert_user, new_user_args, upsert_identity, user_columns};

/// The user's row, locked until the unit ends on the servers.
static LOCK_USER: Query = Query::new(concat!(
    "SELECT ",
    user_columns!(),
    " FROM users u WHERE u.id = ?"
))
.servers(concat!(
    "SELECT ",
    user_columns!(),
    " FROM users u WHERE u.id = ? FOR UPDATE"
));

/// The user's families that are not revoked.
static LIVE_FAMILIES: Query =
    Query::new("SELECT id FROM refresh_families WHERE user_id = ? AND revoked_at IS NULL");

/// Revokes every family of the user.
static REVOKE_FAMILIES: Query = Query::new(
    "UPDATE refresh_families SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
);

pub(crate) async fn locked_user(db: &mut dyn Exec, id: &UserId) -> StoreResult<Option<UserRecord>> {
    db.fetch_optional(&LOCK_USER, &args![id.as_str()])
        .await?
        .map(|mut row| rows::user(&mut row))
        .transpose()
}

fn family_ids(rows: Vec<Row>) -> StoreResult<Vec<FamilyId>> {
    rows.into_iter()
        .map(|mut row| rows::family_id(&mut row))
        .collect()
}

/// The user's identities, oldest binding first.
pub(crate) async fn identities_of(
    db: &mut dyn Exec,
    user: &UserId,
) -> StoreResult<Vec<IdentityDetail>> {
    static Q: Query = Query::new(
        "SELECT appid, openid, unionid, updated_at FROM identities WHERE user_id = ?
         ORDER BY updated_at, appid, openid",
    );
    let mut out = Vec::new();
    for mut row in db.fetch(&Q, &args![user.as_str()]).await? {
        let identity = rows::identity(&mut row)?;
        let bound_at = rows::time(row.int()?)?;
        out.push(IdentityDetail { identity, bound_at });
    }
    Ok(out)
}

/// Deletes the mini-program sessions of `identities` (one indexed statement each: a user has
/// a few identities, and a join in a `DELETE` is planned differently by each server).
async fn delete_sessions(db: &mut dyn Exec, identities: &[IdentityDetail]) -> StoreResult<()> {
    static Q: Query = Query::new("DELETE FROM sessions WHERE appid = ? AND openid = ?");
    for i in identities {
        let i = &i.identity;
        db.execute(&Q, &args![i.appid.as_str(), i.openid.as_str()])
            .await?;
    }
    Ok(())
}

/// `%`-wrapped `LIKE` pattern matching `text` literally: `%`, `_` and the escape `\` escaped.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The nickname filter. MySQL reads `'\\'` as one backslash in a literal (it escapes with
/// backslashes); SQLite and PostgreSQL read `'\'` as one.
const NICKNAME: &str = " AND u.nickname LIKE ? ESCAPE '\\'";
const NICKNAME_MYSQL: &str = " AND u.nickname LIKE ? ESCAPE '\\\\'";

/// The search statement for the filters `query` sets (at most 64 texts): each filter is one
/// indexed condition. Identities are a semi-join (`IN`), so that a user with several matching
/// identities comes once; written as `IN` rather than `EXISTS` because SQLite runs a
/// correlated `EXISTS` once per user, newest first, scanning the table for a rare openid,
/// where `IN` starts from the identities' index (PostgreSQL and MariaDB plan both alike).
/// Arguments in the order of [`AdminStore::search_users`].
fn search_statement(query: &UserQuery) -> &'static Query {
    let mut text = String::from(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users u WHERE 1 = 1"
    ));
    if query.phone_hash.is_some() {
        text.push_str(" AND u.phone_hash = ?");
    }
    if query.openid.is_some() {
        text.push_str(" AND u.id IN (SELECT i.user_id FROM identities i WHERE i.openid = ?)");
    }
    if query.unionid.is_some() {
        text.push_str(" AND u.id IN (SELECT i.user_id FROM identities i WHERE i.unionid = ?)");
    }
    if query.external_id.is_some() {
        text.push_str(" AND u.external_id = ?");
    }
    if query.nickname_contains.is_some() {
        text.push_str(NICKNAME);
    }
    if query.before.is_some() {
        text.push_str(" AND u.id < ?");
    }
    text.push_str(" ORDER BY u.id DESC LIMIT ?");
    let mysql = query
        .nickname_contains
        .is_some()
        .then(|| text.replace(NICKNAME, NICKNAME_MYSQL));
    composed(text, mysql)
}

#[async_trait]
impl AdminStore for SqlStore {
    async fn search_users(&self, query: &UserQuery) -> StoreResult<Vec<UserRecord>> {
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        let query = query.clone();
        let statement = search_statement(&query);
        self.read("search_users", move |db| {
            Box::pin(async move {
                let pattern = query.nickname_contains.as_deref().map(contains_pattern);
                let mut args: Vec<Arg<'_>> = Vec::with_capacity(7);
                if let Some(hash) = &query.phone_hash {
                    args.push(hash.as_slice().into());
                }
                if let Some(openid) = &query.openid {
                    args.push(openid.as_str().into());
                }
                if let Some(unionid) = &query.unionid {
                    args.push(unionid.as_str().into());
                }
                if let Some(external_id) = &query.external_id {
                    args.push(external_id.as_str().into());
                }
                if let Some(pattern) = &pattern {
                    args.push(pattern.as_str().into());
                }
                if let Some(before) = &query.before {
                    args.push(before.as_str().into());
                }
                args.push(i64::from(query.limit).into());
                db.fetch(statement, &args)
                    .await?
                    .into_iter()
                    .map(|mut row| rows::user(&mut row))
                    .collect()
            })
        })
        .await
    }

    async fn user_detail(
        &self,
        id: &UserId,
        now: OffsetDateTime,
    ) -> StoreResult<Option<UserDetail>> {
        static USER: Query = Query::new(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.id = ?"
        ));
        static LIVE: Query = Query::new(
            "SELECT count(*) FROM refresh_families f
             WHERE f.user_id = ? AND f.revoked_at IS NULL
               AND EXISTS (SELECT 1 FROM refresh_tokens t
                           WHERE t.family_id = f.id AND t.expires_at > ?)",
        );
        let id = id.clone();
        self.read("user_detail", move |db| {
            Box::pin(async move {
                let Some(mut row) = db.fetch_optional(&USER, &args![id.as_str()]).await? else {
                    return Ok(None);
                };
                let user = rows::user(&mut row)?;
                let identities = identities_of(db, &id).await?;
                let live = db
                    .fetch_one(&LIVE, &args![id.as_str(), unix(now)])
                    .await?
                    .int()?;
                Ok(Some(UserDetail {
                    user,
                    identities,
                    live_sessions: u64::try_from(live).unwrap_or(0),
                }))
            })
        })
        .await
    }

    async fn update_user(
        &self,
        id: &UserId,
        change: &UserChange,
        now: OffsetDateTime,
    ) -> StoreResult<UpdateOutcome> {
        static OWNER_OF_EXTERNAL_ID: Query =
            Query::new("SELECT id FROM users WHERE external_id = ? AND id <> ?");
        // The check above is final on SQLite (one writer); on the servers a concurrent change
        // may commit the same external_id in between, and the unique index refuses it here.
        static PROFILE: Query = Query::new(
            "UPDATE users SET nickname = ?, avatar_url = ?, external_id = ? WHERE id = ?",
        )
        .server_duplicate_is_noop(&["users_external_id"]);
        static STATUS: Query = Query::new("UPDATE users SET disabled_at = ? WHERE id = ?");
        let (id, change) = (id.clone(), change.clone());
        self.atomic("update_user", move |db| {
            Box::pin(async move {
                let Some(mut user) = locked_user(db, &id).await? else {
                    return Ok(Step::Keep(UpdateOutcome::NotFound));
                };
                let changed = change.apply_profile(&mut user);
                let external_id = user.external_id.as_ref().map(ExternalId::as_str);
                if let Some(external_id) = external_id.filter(|_| changed.external_id) {
                    let args = args![external_id, id.as_str()];
                    if db
                        .fetch_optional(&OWNER_OF_EXTERNAL_ID, &args)
                        .await?
                        .is_some()
                    {
                        return Ok(Step::Keep(UpdateOutcome::ExternalIdTaken));
                    }
                }
                let mut events = Vec::new();
                if changed.profile {
                    let args = args![
                        user.nickname.as_deref(),
                        user.avatar_url.as_deref(),
                        external_id,
                        id.as_str(),
                    ];
                    if db.execute(&PROFILE, &args).await? == 0 {
                        return Ok(Step::Undo(UpdateOutcome::ExternalIdTaken));
                    }
                    events.push(NewEvent::new(EventType::UserUpdated, &id, external_id));
                }
                let mut revoked = Vec::new();
                if let Some(disabled) = change.disabled.filter(|d| *d != user.disabled) {
                    let disabled_at = disabled.then_some(unix(now));
                    db.execute(&STATUS, &args![disabled_at, id.as_str()])
                        .await?;
                    user.disabled = disabled;
                    let kind = if disabled {
                        revoked = family_ids(db.fetch(&LIVE_FAMILIES, &args![id.as_str()]).await?)?;
                        db.execute(&REVOKE_FAMILIES, &args![unix(now), id.as_str()])
                            .await?;
                        let identities = identities_of(db, &id).await?;
                        delete_sessions(db, &identities).await?;
                        EventType::UserDisabled
                    } else {
                        EventType::UserEnabled
                    };
                    events.push(NewEvent::new(kind, &id, external_id));
                }
                write_events(db, &events, now).await?;
                Ok(Step::Keep(UpdateOutcome::Updated { user, revoked }))
            })
        })
        .await
    }

    async fn delete_user(
        &self,
        id: &UserId,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Vec<FamilyId>>> {
        static SESSION_KEYS: Query =
            Query::new("DELETE FROM session_keys WHERE appid = ? AND openid = ?");
        static TICKETS: Query =
            Query::new("DELETE FROM registration_tickets WHERE appid = ? AND openid = ?");
        static IDENTITIES: Query = Query::new("DELETE FROM identities WHERE user_id = ?");
        static FAMILIES: Query = Query::new("DELETE FROM refresh_families WHERE user_id = ?");
        static USER: Query = Query::new("DELETE FROM users WHERE id = ?");
        static TOMBSTONE: Query =
            Query::new("INSERT INTO deleted_users (id, deleted_at) VALUES (?, ?)");
        let id = id.clone();
        self.atomic("delete_user", move |db| {
            Box::pin(async move {
                let Some(user) = locked_user(db, &id).await? else {
                    return Ok(Step::Keep(None));
                };
                let key = args![id.as_str()];
                let live = family_ids(db.fetch(&LIVE_FAMILIES, &key).await?)?;
                erase_identities(db, &id).await?;
                let identities = identities_of(db, &id).await?;
                delete_sessions(db, &identities).await?;
                for i in &identities {
                    let i = args![i.identity.appid.as_str(), i.identity.openid.as_str()];
                    db.execute(&SESSION_KEYS, &i).await?;
                    db.execute(&TICKETS, &i).await?;
                }
                db.execute(&IDENTITIES, &key).await?;
                // Their refresh tokens go with them (ON DELETE CASCADE).
                db.execute(&FAMILIES, &key).await?;
                db.execute(&USER, &key).await?;
                db.execute(&TOMBSTONE, &args![id.as_str(), unix(now)])
                    .await?;
                // Written last like every event (see `outbox`), with the external_id read
                // above: the row it came from is gone by now.
                let external_id = user.external_id.as_ref().map(ExternalId::as_str);
                let deleted = NewEvent::new(EventType::UserDeleted, &id, external_id);
                write_events(db, &[deleted], now).await?;
                Ok(Step::Keep(Some(live)))
            })
        })
        .await
    }

    async fn revoke_sessions(
        &self,
        id: &UserId,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Vec<FamilyId>>> {
        static ALL_FAMILIES: Query =
            Query::new("SELECT id FROM refresh_families WHERE user_id = ?");
        let id = id.clone();
        self.atomic("revoke_sessions", move |db| {
            Box::pin(async move {
                let Some(user) = locked_user(db, &id).await? else {
                    return Ok(Step::Keep(None));
                };
                db.execute(&REVOKE_FAMILIES, &args![unix(now), id.as_str()])
                    .await?;
                let all = family_ids(db.fetch(&ALL_FAMILIES, &args![id.as_str()]).await?)?;
                let external_id = user.external_id.as_ref().map(ExternalId::as_str);
                let revoked = NewEvent::new(EventType::SessionRevoked, &id, external_id);
                write_events(db, &[revoked], now).await?;
                Ok(Step::Keep(Some(all)))
            })
        })
        .await
    }

    async fn unbind_identity(
        &self,
        id: &UserId,
        appid: &AppId,
        now: OffsetDateTime,
    ) -> StoreResult<UnbindOutcome> {
        static IN_APP: Query = Query::new(
            "SELECT appid, openid, unionid FROM identities WHERE user_id = ? AND appid = ?
             ORDER BY created_at, openid",
        );
        static LIVE_IN_APP: Query = Query::new(
            "SELECT id FROM refresh_families
             WHERE user_id = ? AND appid = ? AND revoked_at IS NULL",
        );
        static REVOKE_IN_APP: Query = Query::new(
            "UPDATE refresh_families SET revoked_at = ?
             WHERE user_id = ? AND appid = ? AND revoked_at IS NULL",
        );
        // Exactly the identities read above, each with its event: one bound to the user in
        // this app meanwhile (PostgreSQL reads each statement afresh) stays bound, rather
        // than going without an `identity.unbound`.
        static UNBIND: Query =
            Query::new("DELETE FROM identities WHERE appid = ? AND openid = ? AND user_id = ?");
        let (id, appid) = (id.clone(), appid.clone());
        self.atomic("unbind_identity", move |db| {
            Box::pin(async move {
                let Some(user) = locked_user(db, &id).await? else {
                    return Ok(Step::Keep(UnbindOutcome::UserNotFound));
                };
                let key = args![id.as_str(), appid.as_str()];
                let identities = db
                    .fetch(&IN_APP, &key)
                    .await?
                    .into_iter()
                    .map(|mut row| rows::identity(&mut row))
                    .collect::<StoreResult<Vec<_>>>()?;
                if identities.is_empty() {
                    return Ok(Step::Keep(UnbindOutcome::NotBound));
                }
                let revoked = family_ids(db.fetch(&LIVE_IN_APP, &key).await?)?;
                db.execute(
                    &REVOKE_IN_APP,
                    &args![unix(now), id.as_str(), appid.as_str()],
                )
                .await?;
                for i in &identities {
                    let args = args![i.appid.as_str(), i.openid.as_str(), id.as_str()];
                    db.execute(&UNBIND, &args).await?;
                }
                // Each event carries the openid and unionid read before the delete.
                let external_id = user.external_id.as_ref().map(ExternalId::as_str);
                let events: Vec<_> = identities
                    .iter()
                    .map(|i| {
                        NewEvent::new(EventType::IdentityUnbound, &id, external_id).identity(i)
                    })
                    .collect();
                write_events(db, &events, now).await?;
                Ok(Step::Keep(UnbindOutcome::Unbound { revoked }))
            })
        })
        .await
    }

    async fn stats(&self, now: OffsetDateTime) -> StoreResult<Stats> {
        // count(CASE …) rather than sum(…): a sum is NUMERIC on PostgreSQL and DECIMAL on
        // MySQL, a count a 64-bit integer everywhere.
        static USERS: Query = Query::new(
            "SELECT count(*),
                    count(CASE WHEN created_at > ? THEN 1 END),
                    count(CASE WHEN disabled_at IS NOT NULL THEN 1 END)
             FROM users",
        );
        static SIGN_INS: Query =
            Query::new("SELECT count(*) FROM refresh_families WHERE created_at > ?");
        let day_ago = unix(now) - 24 * 3600;
        self.read("stats", move |db| {
            Box::pin(async move {
                let count = |v: i64| u64::try_from(v).unwrap_or(0);
                let mut users = db.fetch_one(&USERS, &args![day_ago]).await?;
                let (all, recent, disabled) = (users.int()?, users.int()?, users.int()?);
                let logins = db.fetch_one(&SIGN_INS, &args![day_ago]).await?.int()?;
                Ok(Stats {
                    users: count(all),
                    registrations_24h: count(recent),
                    logins_24h: count(logins),
                    disabled: count(disabled),
                })
            })
        })
        .await
    }

    async fn activity(
        &self,
        since: OffsetDateTime,
        bucket: std::time::Duration,
        buckets: u32,
    ) -> StoreResult<wxlogin_core::admin::Activity> {
        crate::activity::activity(self, since, bucket, buckets).await
    }

    async fn create_user(
        &self,
        user: NewUser,
        identity: &Identity,
        source: UserSource,
        now: OffsetDateTime,
    ) -> StoreResult<CreateOutcome> {
        // Any taken unique key is a value (PostgreSQL waits for a concurrent insert of the
        // same phone or external_id to commit, then reports the conflict); which one, the
        // reads below say.
        static INSERT: Query = Query::new(insert_user!(" ON CONFLICT DO NOTHING"))
            .mysql(insert_user!(""))
            .mysql_duplicate_is_noop(&["users_phone_hash", "users_external_id"]);
        static BY_PHONE: Query = Query::new("SELECT id FROM users WHERE phone_hash = ?");
        static BY_EXTERNAL_ID: Query = Query::new("SELECT id FROM users WHERE external_id = ?");
        let identity = identity.clone();
        self.atomic("create_user", move |db| {
            Box::pin(async move {
                if db.execute(&INSERT, &new_user_args(&user)).await? == 0 {
                    let phone = args![user.phone_hash.as_slice()];
                    if db.fetch_optional(&BY_PHONE, &phone).await?.is_some() {
                        return Ok(Step::Undo(CreateOutcome::PhoneTaken));
                    }
                    let external_id = user.user.external_id.as_ref().map(ExternalId::as_str);
                    if let Some(mut row) = db
                        .fetch_optional(&BY_EXTERNAL_ID, &args![external_id])
                        .await?
                    {
                        let owner = rows::user_id(&mut row)?;
                        return Ok(Step::Undo(CreateOutcome::ExternalIdTaken(owner)));
                    }
                    // The operation's name is added by `atomic`.
                    return Err(StoreError::other("", "the new user's id is taken"));
                }
                let record = user.user;
                upsert_identity(db, &record.id, &identity, now).await?;
                let external_id = record.external_id.as_ref().map(ExternalId::as_str);
                let events = [
                    NewEvent::new(EventType::UserRegistered, &record.id, external_id)
                        .identity(&identity)
                        .source(source),
                    NewEvent::new(EventType::IdentityBound, &record.id, external_id)
                        .identity(&identity),
                ];
                write_events(db, &events, now).await?;
                Ok(Step::Keep(CreateOutcome::Created(record)))
            })
        })
        .await
    }

    async fn import_users(
        &self,
        users: Vec<ImportUser>,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<ImportOutcome>> {
        crate::import::import_users(self, users, now).await
    }

    async fn change_phone(
        &self,
        id: &UserId,
        phone_hash: &[u8; 32],
        phone_sealed: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<PhoneChange> {
        crate::account::change_phone(self, id, phone_hash, phone_sealed, now).await
    }

    async fn holdings(&self, id: &UserId, now: OffsetDateTime) -> StoreResult<Holdings> {
        crate::account::holdings(self, id, now).await
    }
}
