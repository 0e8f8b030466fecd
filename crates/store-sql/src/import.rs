//! [`AdminStore::import_users`]: a batch of users in one unit, idempotent by phone and
//! external_id.
//!
//! Each user is checked before anything of theirs is written (an existing phone or
//! external_id, an identity bound to someone else), so a refused user leaves nothing behind
//! and the unit needs no savepoint per user. The checks are final on SQLite (one writer); on
//! the servers a concurrent registration of the same phone or identity makes the insert fail
//! and the whole batch with it, which the caller retries: what the first attempt created
//! comes back `Existing`.
//!
//! Speed: the statements are the same for every user (prepared once, then cached), and the
//! batch's events are numbered with one update of `event_seq` ([`write_events`]).
//!
//! [`AdminStore::import_users`]: wxlogin_core::admin::AdminStore::import_users

use std::collections::HashSet;

use time::OffsetDateTime;
use wxlogin_core::admin::{ImportOutcome, ImportUser};
use wxlogin_core::events::{EventType, UserSource};
use wxlogin_core::ids::{ExternalId, UnionId};
use wxlogin_core::ports::{Identity, StoreResult};

use crate::outbox::{NewEvent, write_events};
use crate::rows::{self, unix};
use crate::sql::{Exec, Query, Step, args};
use crate::store::SqlStore;
use crate::users::{insert_user, new_user_args};

/// Imports `users` in one unit; see [`AdminStore::import_users`].
///
/// [`AdminStore::import_users`]: wxlogin_core::admin::AdminStore::import_users
pub(crate) async fn import_users(
    store: &SqlStore,
    users: Vec<ImportUser>,
    now: OffsetDateTime,
) -> StoreResult<Vec<ImportOutcome>> {
    store
        .atomic("import_users", move |db| {
            Box::pin(async move {
                let mut outcomes = Vec::with_capacity(users.len());
                let mut events = Vec::with_capacity(users.len() * 2);
                for user in &users {
                    outcomes.push(import_one(db, user, now, &mut events).await?);
                }
                write_events(db, &events, now).await?;
                Ok(Step::Keep(outcomes))
            })
        })
        .await
}

/// One user: checked, then created with their identities; their events added to `events`.
async fn import_one(
    db: &mut dyn Exec,
    import: &ImportUser,
    now: OffsetDateTime,
    events: &mut Vec<NewEvent>,
) -> StoreResult<ImportOutcome> {
    static BY_PHONE: Query = Query::new("SELECT id FROM users WHERE phone_hash = ?");
    static BY_EXTERNAL_ID: Query = Query::new("SELECT id FROM users WHERE external_id = ?");
    static OWNER: Query =
        Query::new("SELECT user_id FROM identities WHERE appid = ? AND openid = ?");
    static INSERT_USER: Query = Query::new(insert_user!(""));
    static INSERT_IDENTITY: Query = Query::new(
        "INSERT INTO identities (appid, openid, unionid, user_id, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?)",
    );
    let new = &import.user;
    let record = &new.user;
    let phone = args![new.phone_hash.as_slice()];
    if let Some(mut row) = db.fetch_optional(&BY_PHONE, &phone).await? {
        return Ok(ImportOutcome::Existing(rows::user_id(&mut row)?));
    }
    let external_id = record.external_id.as_ref().map(ExternalId::as_str);
    if let Some(external_id) = external_id
        && let Some(mut row) = db
            .fetch_optional(&BY_EXTERNAL_ID, &args![external_id])
            .await?
    {
        return Ok(ImportOutcome::Existing(rows::user_id(&mut row)?));
    }
    // The same identity twice in one user is bound once.
    let mut seen = HashSet::new();
    let identities: Vec<&Identity> = import
        .identities
        .iter()
        .filter(|i| seen.insert((i.appid.as_str(), i.openid.as_str())))
        .collect();
    for identity in &identities {
        let key = args![identity.appid.as_str(), identity.openid.as_str()];
        if db.fetch_optional(&OWNER, &key).await?.is_some() {
            return Ok(ImportOutcome::IdentityTaken);
        }
    }

    db.execute(&INSERT_USER, &new_user_args(new)).await?;
    events.push(
        NewEvent::new(EventType::UserImported, &record.id, external_id).source(UserSource::Import),
    );
    for identity in identities {
        let args = args![
            identity.appid.as_str(),
            identity.openid.as_str(),
            identity.unionid.as_ref().map(UnionId::as_str),
            record.id.as_str(),
            unix(now),
            unix(now),
        ];
        db.execute(&INSERT_IDENTITY, &args).await?;
        events.push(
            NewEvent::new(EventType::IdentityBound, &record.id, external_id).identity(identity),
        );
    }
    Ok(ImportOutcome::Created(record.id.clone()))
}
