//! The user's own account changes that [`AdminStore`](wxlogin_core::admin::AdminStore) also
//! carries: a phone change and what an export lists. Called from `admin.rs`'s impl.

use time::OffsetDateTime;
use wxlogin_core::admin::{Holdings, PhoneChange, SessionSummary};
use wxlogin_core::events::EventType;
use wxlogin_core::ids::{ExternalId, UserId};
use wxlogin_core::ports::StoreResult;

use crate::admin::{identities_of, locked_user};
use crate::outbox::{NewEvent, write_events};
use crate::rows::{self, unix};
use crate::sql::{Query, Step, args};
use crate::store::SqlStore;

/// [`wxlogin_core::admin::AdminStore::change_phone`].
pub(crate) async fn change_phone(
    store: &SqlStore,
    id: &UserId,
    phone_hash: &[u8; 32],
    phone_sealed: &[u8],
    now: OffsetDateTime,
) -> StoreResult<PhoneChange> {
    static OWNER: Query = Query::new("SELECT id FROM users WHERE phone_hash = ?");
    // A concurrent change to the same number may commit between the check and the update on
    // the servers; the unique index then refuses it, and that is `PhoneTaken` too.
    static UPDATE: Query =
        Query::new("UPDATE users SET phone_hash = ?, phone_sealed = ? WHERE id = ?")
            .server_duplicate_is_noop(&["users_phone_hash_key", "users_phone_hash"]);
    let (id, hash, sealed) = (id.clone(), *phone_hash, phone_sealed.to_vec());
    store
        .atomic("change_phone", move |db| {
            Box::pin(async move {
                let Some(mut user) = locked_user(db, &id).await? else {
                    return Ok(Step::Keep(PhoneChange::UserNotFound));
                };
                if let Some(mut row) = db.fetch_optional(&OWNER, &args![hash.as_slice()]).await? {
                    let owner = row.text()?;
                    return Ok(Step::Keep(if owner == id.as_str() {
                        PhoneChange::Changed(user)
                    } else {
                        PhoneChange::PhoneTaken
                    }));
                }
                let args = args![hash.as_slice(), sealed.as_slice(), id.as_str()];
                if db.execute(&UPDATE, &args).await? == 0 {
                    return Ok(Step::Undo(PhoneChange::PhoneTaken));
                }
                user.phone_sealed = sealed;
                let external_id = user.external_id.as_ref().map(ExternalId::as_str);
                let event = NewEvent::new(EventType::UserPhoneChanged, &id, external_id);
                write_events(db, &[event], now).await?;
                Ok(Step::Keep(PhoneChange::Changed(user)))
            })
        })
        .await
}

/// [`wxlogin_core::admin::AdminStore::holdings`].
pub(crate) async fn holdings(
    store: &SqlStore,
    id: &UserId,
    now: OffsetDateTime,
) -> StoreResult<Holdings> {
    static FAMILIES: Query = Query::new(
        "SELECT f.appid, f.created_at, max(t.expires_at)
         FROM refresh_families f JOIN refresh_tokens t ON t.family_id = f.id
         WHERE f.user_id = ? AND f.revoked_at IS NULL
         GROUP BY f.id, f.appid, f.created_at
         HAVING max(t.expires_at) > ?
         ORDER BY f.created_at, f.id",
    );
    static SESSIONS: Query = Query::new(
        "SELECT appid, created_at, expires_at FROM sessions
         WHERE appid = ? AND openid = ? AND expires_at > ?
         ORDER BY created_at",
    );
    let id = id.clone();
    store
        .read("holdings", move |db| {
            Box::pin(async move {
                let summary = |mut row: crate::sql::Row| -> StoreResult<SessionSummary> {
                    Ok(SessionSummary {
                        appid: rows::id(row.text()?)?,
                        created_at: rows::time(row.int()?)?,
                        expires_at: rows::time(row.int()?)?,
                    })
                };
                let mut out = Holdings::default();
                for row in db.fetch(&FAMILIES, &args![id.as_str(), unix(now)]).await? {
                    out.families.push(summary(row)?);
                }
                for i in identities_of(db, &id).await? {
                    let i = &i.identity;
                    let args = args![i.appid.as_str(), i.openid.as_str(), unix(now)];
                    for row in db.fetch(&SESSIONS, &args).await? {
                        out.sessions.push(summary(row)?);
                    }
                }
                out.sessions.sort_by_key(|s| s.created_at);
                Ok(out)
            })
        })
        .await
}
