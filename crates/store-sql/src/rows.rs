//! Rows as every engine returns them, to the ports' records. Each reader takes the columns
//! in the order that the `SELECT`s of `store` list them (the `*_COLUMNS` constants there).
//!
//! Times are stored as unix seconds; sub-second parts are dropped on the way in ([`unix`]),
//! so "live at `now`" (`expires_at > now`) is decided on whole seconds.

use time::OffsetDateTime;
use wxlogin_core::admin::{AdminKeyRecord, Scope};
use wxlogin_core::crypto::HandleHash;
use wxlogin_core::events::{DeliveryState, DeliveryStatus, EventRecord, EventType, UserSource};
use wxlogin_core::ids::{
    AppId, EventId, ExternalId, FamilyId, InvalidValue, OpenId, UnionId, UserId,
};
use wxlogin_core::ports::{
    FamilyRecord, Identity, IdentitySummary, SessionKeys, SessionRecord, SigningKeyRecord,
    StoreResult, TicketRecord, UserRecord,
};

use crate::errors::corrupt;
use crate::sql::Row;

/// A time as stored: whole unix seconds.
pub(crate) fn unix(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

pub(crate) fn time(secs: i64) -> StoreResult<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(secs).map_err(|_| corrupt("timestamp out of range"))
}

pub(crate) fn id<T: TryFrom<String, Error = InvalidValue>>(raw: String) -> StoreResult<T> {
    // InvalidValue names the kind of id, never the value.
    T::try_from(raw).map_err(|e| corrupt(&e.to_string()))
}

fn hash(raw: Vec<u8>) -> StoreResult<HandleHash> {
    <[u8; 32]>::try_from(raw)
        .map(HandleHash)
        .map_err(|_| corrupt("hash is not 32 bytes"))
}

pub(crate) fn identity(row: &mut Row) -> StoreResult<Identity> {
    Ok(Identity {
        appid: id::<AppId>(row.text()?)?,
        openid: id::<OpenId>(row.text()?)?,
        unionid: row.opt_text()?.map(id::<UnionId>).transpose()?,
    })
}

/// `appid, openid, unionid`, all NULL when a `LEFT JOIN` found no identity.
pub(crate) fn opt_identity(row: &mut Row) -> StoreResult<Option<Identity>> {
    let (appid, openid, unionid) = (row.opt_text()?, row.opt_text()?, row.opt_text()?);
    match (appid, openid) {
        (Some(appid), Some(openid)) => Ok(Some(Identity {
            appid: id::<AppId>(appid)?,
            openid: id::<OpenId>(openid)?,
            unionid: unionid.map(id::<UnionId>).transpose()?,
        })),
        _ => Ok(None),
    }
}

/// `id, phone_sealed, nickname, avatar_url, created_at, external_id, disabled_at,
/// last_login_at` of `users` (`user_columns!` in `store`).
pub(crate) fn user(row: &mut Row) -> StoreResult<UserRecord> {
    Ok(UserRecord {
        id: id::<UserId>(row.text()?)?,
        phone_sealed: row.bytes()?,
        nickname: row.opt_text()?,
        avatar_url: row.opt_text()?,
        created_at: time(row.int()?)?,
        external_id: row.opt_text()?.map(id::<ExternalId>).transpose()?,
        disabled: row.opt_int()?.is_some(),
        last_login_at: row.opt_int()?.map(time).transpose()?,
    })
}

/// `appid, unionid` of `identities`; `None` when the appid is NULL (a `LEFT JOIN` that found
/// no identity).
pub(crate) fn identity_summary(row: &mut Row) -> StoreResult<Option<IdentitySummary>> {
    let appid = row.opt_text()?;
    let has_unionid = row.opt_text()?.is_some();
    appid
        .map(|appid| {
            Ok(IdentitySummary {
                appid: id::<AppId>(appid)?,
                has_unionid,
            })
        })
        .transpose()
}

/// `hash, appid, openid, unionid, phone_sealed, created_at, expires_at` of
/// `registration_tickets`.
pub(crate) fn ticket(row: &mut Row) -> StoreResult<TicketRecord> {
    Ok(TicketRecord {
        hash: hash(row.bytes()?)?,
        identity: identity(row)?,
        phone_sealed: row.bytes()?,
        created_at: time(row.int()?)?,
        expires_at: time(row.int()?)?,
    })
}

/// `hash, appid, openid, unionid, created_at, expires_at` of `sessions`.
pub(crate) fn session(row: &mut Row) -> StoreResult<SessionRecord> {
    Ok(SessionRecord {
        hash: hash(row.bytes()?)?,
        identity: identity(row)?,
        created_at: time(row.int()?)?,
        expires_at: time(row.int()?)?,
    })
}

/// `current_sealed, previous_sealed, rotated_at` of `session_keys`.
pub(crate) fn session_keys(row: &mut Row) -> StoreResult<SessionKeys> {
    Ok(SessionKeys {
        current: row.bytes()?,
        previous: row.opt_bytes()?,
        rotated_at: time(row.int()?)?,
    })
}

/// `id, user_id, appid, created_at` of `refresh_families`.
pub(crate) fn family(row: &mut Row) -> StoreResult<FamilyRecord> {
    Ok(FamilyRecord {
        id: id::<FamilyId>(row.text()?)?,
        user_id: id::<UserId>(row.text()?)?,
        appid: id::<AppId>(row.text()?)?,
        created_at: time(row.int()?)?,
    })
}

/// `kid, generation, public_key, private_sealed, created_at` of `signing_keys`.
pub(crate) fn signing_key(row: &mut Row) -> StoreResult<SigningKeyRecord> {
    Ok(SigningKeyRecord {
        kid: row.text()?,
        generation: row.int()?,
        public_key: row.bytes()?,
        private_sealed: row.bytes()?,
        created_at: time(row.int()?)?,
    })
}

/// A family id as stored.
pub(crate) fn family_id(row: &mut Row) -> StoreResult<FamilyId> {
    id::<FamilyId>(row.text()?)
}

/// `seq, id, type, user_id, external_id, appid, openid, unionid, source, created_at` of
/// `events` (`event_columns!` in `events`), with no deliveries yet.
pub(crate) fn event(row: &mut Row) -> StoreResult<EventRecord> {
    let seq = row.int()?;
    let event_id = id::<EventId>(row.text()?)?;
    let kind = EventType::parse(&row.text()?).ok_or_else(|| corrupt("unknown event type"))?;
    Ok(EventRecord {
        seq,
        id: event_id,
        kind,
        user_id: id::<UserId>(row.text()?)?,
        external_id: row.opt_text()?.map(id::<ExternalId>).transpose()?,
        appid: row.opt_text()?.map(id::<AppId>).transpose()?,
        openid: row.opt_text()?.map(id::<OpenId>).transpose()?,
        unionid: row.opt_text()?.map(id::<UnionId>).transpose()?,
        source: row
            .opt_text()?
            .map(|s| UserSource::parse(&s).ok_or_else(|| corrupt("unknown user source")))
            .transpose()?,
        at: time(row.int()?)?,
        deliveries: Vec::new(),
    })
}

/// `endpoint, status, attempts, next_attempt_at, last_error` of `webhook_deliveries`.
pub(crate) fn delivery_state(row: &mut Row) -> StoreResult<DeliveryState> {
    Ok(DeliveryState {
        endpoint: row.text()?,
        status: delivery_status(row.text()?)?,
        attempts: u32::try_from(row.int()?).map_err(|_| corrupt("attempts out of range"))?,
        next_attempt_at: row.opt_int()?.map(time).transpose()?,
        last_error: row.opt_text()?,
    })
}

fn delivery_status(raw: String) -> StoreResult<DeliveryStatus> {
    DeliveryStatus::parse(&raw).ok_or_else(|| corrupt("unknown delivery status"))
}

/// `id, name, hash, scopes, created_at, revoked_at` of `admin_keys`. A scope this build does
/// not know (written by a newer one) is left out: the key may do less, never more.
pub(crate) fn admin_key(row: &mut Row) -> StoreResult<AdminKeyRecord> {
    Ok(AdminKeyRecord {
        id: row.text()?,
        name: row.text()?,
        hash: <[u8; 32]>::try_from(row.bytes()?).map_err(|_| corrupt("hash is not 32 bytes"))?,
        scopes: row.text()?.split(' ').filter_map(Scope::parse).collect(),
        created_at: time(row.int()?)?,
        revoked_at: row.opt_int()?.map(time).transpose()?,
    })
}

/// A user id as stored.
pub(crate) fn user_id(row: &mut Row) -> StoreResult<UserId> {
    id::<UserId>(row.text()?)
}
