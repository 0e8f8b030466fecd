//! The outbox: events written by the unit that makes the change, in its transaction.
//!
//! **Numbering.** Events are numbered from the one-row `event_seq` table: the unit adds the
//! number of its events to `n` (an `UPDATE`, which holds the row until commit) and inserts
//! them with the numbers just below the new `n`. The next unit that writes events waits for
//! that row, so on PostgreSQL and MySQL `seq` order is commit order, and a reader paging by
//! `seq` never skips an event that commits late; SQLite's single writer gives the same for
//! free. Rolled-back units give their numbers back with the rest of their writes: no gaps.
//!
//! **Lock order.** `event_seq` is one row that every event-writing unit takes, so a unit takes
//! it last: it writes its events after every other change ([`write_events`] at the end of the
//! unit), and reads what the events carry (the user's `external_id`) before. A unit that held
//! `event_seq` and then waited for a user row that another unit holds while waiting for
//! `event_seq` would deadlock; that is also why the `external_id` is not read by the
//! `INSERT … SELECT` itself (on MySQL at REPEATABLE READ, an `INSERT … SELECT` takes shared
//! locks on the rows it reads).

use time::OffsetDateTime;
use wxlogin_core::events::{EventType, UserSource};
use wxlogin_core::ids::{EventId, UnionId, UserId};
use wxlogin_core::ports::{Identity, StoreResult};

use crate::rows::unix;
use crate::sql::{Exec, Query, args};

/// One event to write.
#[derive(Debug, Clone)]
pub(crate) struct NewEvent {
    /// What happened.
    pub(crate) kind: EventType,
    /// To whom.
    pub(crate) user_id: UserId,
    /// The user's external_id at the time (the caller read it in its unit).
    pub(crate) external_id: Option<String>,
    /// The WeChat identity, on identity events, `user.registered` and `user.signed_in`.
    pub(crate) identity: Option<Identity>,
    /// `lookup` or `import`.
    pub(crate) source: Option<UserSource>,
}

impl NewEvent {
    /// An event with neither identity nor source.
    pub(crate) fn new(kind: EventType, user_id: &UserId, external_id: Option<&str>) -> Self {
        Self {
            kind,
            user_id: user_id.clone(),
            external_id: external_id.map(str::to_owned),
            identity: None,
            source: None,
        }
    }

    /// With the identity it is about.
    pub(crate) fn identity(mut self, identity: &Identity) -> Self {
        self.identity = Some(identity.clone());
        self
    }

    /// With where the user came from.
    pub(crate) fn source(mut self, source: UserSource) -> Self {
        self.source = Some(source);
        self
    }
}

/// Writes `events` in this order, numbered after every event committed before, at `now`.
/// Call it last in the unit (see the module docs).
pub(crate) async fn write_events(
    db: &mut dyn Exec,
    events: &[NewEvent],
    now: OffsetDateTime,
) -> StoreResult<()> {
    static RESERVE: Query = Query::new("UPDATE event_seq SET n = n + ? WHERE id = 1");
    // `n` is already ours: the numbers are n - (count - 1) … n, in order.
    static INSERT: Query = Query::new(
        "INSERT INTO events
             (seq, id, type, user_id, external_id, appid, openid, unionid, source, created_at)
         SELECT n - ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM event_seq WHERE id = 1",
    );
    let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
    if count == 0 {
        return Ok(());
    }
    if db.execute(&RESERVE, &args![count]).await? != 1 {
        return Err(crate::errors::corrupt("event_seq has no row 1"));
    }
    for (offset, event) in (0..count).rev().zip(events) {
        let id = EventId::generate();
        let identity = event.identity.as_ref();
        let args = args![
            offset,
            id.as_str(),
            event.kind.as_str(),
            event.user_id.as_str(),
            event.external_id.as_deref(),
            identity.map(|i| i.appid.as_str()),
            identity.map(|i| i.openid.as_str()),
            identity.and_then(|i| i.unionid.as_ref().map(UnionId::as_str)),
            event.source.map(UserSource::as_str),
            unix(now),
        ];
        db.execute(&INSERT, &args).await?;
    }
    Ok(())
}

/// The user's external_id as stored now (`None` also when there is no such user). A plain
/// read: no row lock (see the module docs).
pub(crate) async fn external_id_of(
    db: &mut dyn Exec,
    user: &UserId,
) -> StoreResult<Option<String>> {
    static Q: Query = Query::new("SELECT external_id FROM users WHERE id = ?");
    match db.fetch_optional(&Q, &args![user.as_str()]).await? {
        Some(mut row) => row.opt_text(),
        None => Ok(None),
    }
}

/// Writes one event about `user_id`, carrying the user's current external_id: the outbox in
/// one call, for a unit with one event. Call it last in the unit.
pub(crate) async fn insert_event(
    db: &mut dyn Exec,
    kind: EventType,
    user_id: &UserId,
    identity: Option<&Identity>,
    source: Option<UserSource>,
    now: OffsetDateTime,
) -> StoreResult<()> {
    let external_id = external_id_of(db, user_id).await?;
    let event = NewEvent {
        kind,
        user_id: user_id.clone(),
        external_id,
        identity: identity.cloned(),
        source,
    };
    write_events(db, &[event], now).await
}

/// Erases the openids and unionids of every stored event of `user` (their account is being
/// deleted: these identify the person).
pub(crate) async fn erase_identities(db: &mut dyn Exec, user: &UserId) -> StoreResult<u64> {
    static Q: Query = Query::new(
        "UPDATE events SET openid = NULL, unionid = NULL
         WHERE user_id = ? AND (openid IS NOT NULL OR unionid IS NOT NULL)",
    );
    db.execute(&Q, &args![user.as_str()]).await
}
