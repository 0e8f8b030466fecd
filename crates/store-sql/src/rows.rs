//! Rows as every backend reads them (text, 64-bit integers, byte strings), and their
//! conversion to and from the ports' records.
//!
//! Each backend's SQL selects the columns under the field names below.
//!
//! Times are stored as unix seconds; sub-second parts are dropped on the way in
//! ([`unix`]), so "live at `now`" (`expires_at > now`) is decided on whole seconds.

use time::OffsetDateTime;
use wxlogin_core::crypto::HandleHash;
use wxlogin_core::ids::{AppId, InvalidValue, OpenId, UnionId, UserId};
use wxlogin_core::ports::{
    FamilyRecord, Identity, IdentitySummary, SessionKeys, SessionRecord, SigningKeyRecord,
    StoreResult, TicketRecord, UserRecord,
};

use crate::errors::corrupt;

/// A time as stored: whole unix seconds.
pub(crate) fn unix(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

fn time(secs: i64) -> StoreResult<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(secs).map_err(|_| corrupt("timestamp out of range"))
}

fn id<T: TryFrom<String, Error = InvalidValue>>(raw: String) -> StoreResult<T> {
    // InvalidValue names the kind of id, never the value.
    T::try_from(raw).map_err(|e| corrupt(&e.to_string()))
}

fn hash(raw: Vec<u8>) -> StoreResult<HandleHash> {
    <[u8; 32]>::try_from(raw)
        .map(HandleHash)
        .map_err(|_| corrupt("hash is not 32 bytes"))
}

fn identity(appid: String, openid: String, unionid: Option<String>) -> StoreResult<Identity> {
    Ok(Identity {
        appid: id::<AppId>(appid)?,
        openid: id::<OpenId>(openid)?,
        unionid: unionid.map(id::<UnionId>).transpose()?,
    })
}

/// `users`, without `phone_hash` (which no record carries).
#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: String,
    phone_sealed: Vec<u8>,
    nickname: Option<String>,
    avatar_url: Option<String>,
    created_at: i64,
}

impl UserRow {
    pub(crate) fn into_record(self) -> StoreResult<UserRecord> {
        Ok(UserRecord {
            id: id::<UserId>(self.id)?,
            phone_sealed: self.phone_sealed,
            nickname: self.nickname,
            avatar_url: self.avatar_url,
            created_at: time(self.created_at)?,
        })
    }
}

/// What `identities(user)` reads of one identity.
#[derive(sqlx::FromRow)]
pub(crate) struct IdentitySummaryRow {
    appid: String,
    unionid: Option<String>,
}

impl IdentitySummaryRow {
    pub(crate) fn into_summary(self) -> StoreResult<IdentitySummary> {
        Ok(IdentitySummary {
            appid: id::<AppId>(self.appid)?,
            has_unionid: self.unionid.is_some(),
        })
    }
}

/// One row of `user_by_identity_and_unionid`: the user's columns as [`UserRow`], and the
/// unionid the identity records (as `identity_unionid`).
#[derive(sqlx::FromRow)]
pub(crate) struct UserByIdentityRow {
    #[sqlx(flatten)]
    user: UserRow,
    identity_unionid: Option<String>,
}

impl UserByIdentityRow {
    /// The user, and whether the identity already records `unionid` (always so for `None`).
    pub(crate) fn into_record(self, unionid: Option<&UnionId>) -> StoreResult<(UserRecord, bool)> {
        let recorded = unionid.is_none_or(|u| self.identity_unionid.as_deref() == Some(u.as_str()));
        Ok((self.user.into_record()?, recorded))
    }
}

/// One row of `signed_in_user`: the user's columns as [`UserRow`], and one of their
/// identities as [`IdentitySummaryRow`] under `identity_`-prefixed names, both NULL when the
/// user has none (the `LEFT JOIN` found nothing).
#[derive(sqlx::FromRow)]
pub(crate) struct SignedInRow {
    #[sqlx(flatten)]
    user: UserRow,
    identity_appid: Option<String>,
    identity_unionid: Option<String>,
}

/// The user and their identities from the rows of `signed_in_user`, in the rows' order: no
/// row, no user (the family is unknown, revoked or another user's); a user without
/// identities comes as one row with NULL identity columns.
pub(crate) fn signed_in_user(
    rows: Vec<SignedInRow>,
) -> StoreResult<Option<(UserRecord, Vec<IdentitySummary>)>> {
    let mut rows = rows.into_iter();
    let Some(first) = rows.next() else {
        return Ok(None);
    };
    // Every row repeats the same user's columns: the first one's make the record.
    let user = first.user.into_record()?;
    let identities = std::iter::once((first.identity_appid, first.identity_unionid))
        .chain(rows.map(|row| (row.identity_appid, row.identity_unionid)))
        .filter_map(|(appid, unionid)| {
            appid.map(|appid| IdentitySummaryRow { appid, unionid }.into_summary())
        })
        .collect::<StoreResult<_>>()?;
    Ok(Some((user, identities)))
}

/// `registration_tickets`, without `used_at` (only live tickets are read).
#[derive(sqlx::FromRow)]
pub(crate) struct TicketRow {
    hash: Vec<u8>,
    appid: String,
    openid: String,
    unionid: Option<String>,
    phone_sealed: Vec<u8>,
    created_at: i64,
    expires_at: i64,
}

impl TicketRow {
    pub(crate) fn into_record(self) -> StoreResult<TicketRecord> {
        Ok(TicketRecord {
            hash: hash(self.hash)?,
            identity: identity(self.appid, self.openid, self.unionid)?,
            phone_sealed: self.phone_sealed,
            created_at: time(self.created_at)?,
            expires_at: time(self.expires_at)?,
        })
    }
}

/// `sessions`.
#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    hash: Vec<u8>,
    appid: String,
    openid: String,
    unionid: Option<String>,
    created_at: i64,
    expires_at: i64,
}

impl SessionRow {
    pub(crate) fn into_record(self) -> StoreResult<SessionRecord> {
        Ok(SessionRecord {
            hash: hash(self.hash)?,
            identity: identity(self.appid, self.openid, self.unionid)?,
            created_at: time(self.created_at)?,
            expires_at: time(self.expires_at)?,
        })
    }
}

/// `session_keys`, without its key columns.
#[derive(sqlx::FromRow)]
pub(crate) struct SessionKeysRow {
    current_sealed: Vec<u8>,
    previous_sealed: Option<Vec<u8>>,
    rotated_at: i64,
}

impl SessionKeysRow {
    pub(crate) fn into_record(self) -> StoreResult<SessionKeys> {
        Ok(SessionKeys {
            current: self.current_sealed,
            previous: self.previous_sealed,
            rotated_at: time(self.rotated_at)?,
        })
    }
}

/// `refresh_families`, without `revoked_at`.
#[derive(sqlx::FromRow)]
pub(crate) struct FamilyRow {
    id: String,
    user_id: String,
    appid: String,
    created_at: i64,
}

impl FamilyRow {
    /// The family's id, as stored.
    #[cfg_attr(not(feature = "mysql"), allow(dead_code))]
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn into_record(self) -> StoreResult<FamilyRecord> {
        Ok(FamilyRecord {
            id: self.id,
            user_id: id::<UserId>(self.user_id)?,
            appid: id::<AppId>(self.appid)?,
            created_at: time(self.created_at)?,
        })
    }
}

/// `signing_keys`.
#[derive(sqlx::FromRow)]
pub(crate) struct SigningKeyRow {
    kid: String,
    generation: i64,
    public_key: Vec<u8>,
    private_sealed: Vec<u8>,
    created_at: i64,
}

impl SigningKeyRow {
    pub(crate) fn into_record(self) -> StoreResult<SigningKeyRecord> {
        Ok(SigningKeyRecord {
            kid: self.kid,
            generation: self.generation,
            public_key: self.public_key,
            private_sealed: self.private_sealed,
            created_at: time(self.created_at)?,
        })
    }
}
