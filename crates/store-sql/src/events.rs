//! [`EventStore`] for [`SqlStore`]: reading the outbox, and webhook deliveries.
//!
//! **Fan-out.** Each endpoint has a cursor (`webhook_cursors.last_seq`): the last event seq
//! fanned out to it. A fan-out locks the cursor row (`FOR UPDATE` on the servers; SQLite's
//! writer runs one unit at a time), creates the pending deliveries of the events after it and
//! moves it, in one unit: instances fanning out at once take turns per endpoint, and each
//! event reaches each endpoint once. Events commit in `seq` order ([`crate::outbox`]), so
//! every snapshot holds a prefix of them, and no event can commit behind a cursor.
//!
//! **Claims.** A claim moves a due delivery's `next_attempt_at` to the end of the lease:
//! other instances see it due again only if this one dies before finishing it. The servers
//! select with `FOR UPDATE SKIP LOCKED`, so concurrent claimers pass each other's rows by
//! instead of waiting for them and then claiming them a second time.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
use wxlogin_core::events::{
    Delivery, DeliveryResult, DeliveryStatus, EventQuery, EventRecord, EventStore, Subscription,
};
use wxlogin_core::ids::EventId;
use wxlogin_core::ports::StoreResult;

use crate::rows::{self, unix};
use crate::sql::{Arg, Exec, Query, Row, Step, args, composed};
use crate::store::SqlStore;

/// The columns [`rows::event`] reads, of `events e`.
macro_rules! event_columns {
    () => {
        "e.seq, e.id, e.type, e.user_id, e.external_id, e.appid, e.openid, e.unionid, e.source, \
         e.created_at"
    };
}

/// The most characters of `last_error` kept (the column's width on MySQL).
const LAST_ERROR_CHARS: usize = 255;

fn events_of(rows: Vec<Row>) -> StoreResult<Vec<EventRecord>> {
    rows.into_iter()
        .map(|mut row| rows::event(&mut row))
        .collect()
}

/// The `WHERE … ORDER BY … LIMIT` of an event page for the filters `query` sets (16 texts).
/// Arguments: the `after` and `before` seqs, then the filters set, then the limit.
fn page_clauses(query: &EventQuery) -> String {
    let mut text = String::from(" WHERE e.seq > ? AND e.seq < ?");
    if query.kind.is_some() {
        text.push_str(" AND e.type = ?");
    }
    if query.user_id.is_some() {
        text.push_str(" AND e.user_id = ?");
    }
    if query.delivery.is_some() {
        text.push_str(
            " AND EXISTS (SELECT 1 FROM webhook_deliveries x
                          WHERE x.event_seq = e.seq AND x.status = ?)",
        );
    }
    text.push_str(if query.newest_first {
        " ORDER BY e.seq DESC LIMIT ?"
    } else {
        " ORDER BY e.seq LIMIT ?"
    });
    text
}

/// Attaches `deliveries` (`event_seq` then the columns of [`rows::delivery_state`], ordered
/// by seq) to their events.
fn attach(events: &mut [EventRecord], deliveries: Vec<Row>) -> StoreResult<()> {
    for mut row in deliveries {
        let seq = row.int()?;
        if let Ok(i) = events.binary_search_by_key(&seq, |e| e.seq) {
            events[i].deliveries.push(rows::delivery_state(&mut row)?);
        }
    }
    Ok(())
}

/// The seq of the event with this id.
static SEQ_OF: Query = Query::new("SELECT seq FROM events WHERE id = ?");

/// A delivery as [`attach`] reads it.
macro_rules! delivery_columns {
    () => {
        "d.event_seq, d.endpoint, d.status, d.attempts, d.next_attempt_at, d.last_error"
    };
}

#[async_trait]
impl EventStore for SqlStore {
    async fn events(&self, query: &EventQuery) -> StoreResult<Option<Vec<EventRecord>>> {
        let clauses = page_clauses(query);
        let page = composed(
            format!(
                concat!("SELECT ", event_columns!(), " FROM events e{}"),
                clauses
            ),
            None,
        );
        // The page's deliveries, by the same filters: one statement whatever the page size.
        // A page that was not full may have grown since; `attach` drops what is not in it.
        let deliveries = composed(
            format!(
                concat!(
                    "SELECT ",
                    delivery_columns!(),
                    " FROM webhook_deliveries d JOIN (SELECT e.seq FROM events e{}) p
                     ON p.seq = d.event_seq ORDER BY d.event_seq, d.endpoint"
                ),
                clauses
            ),
            None,
        );
        let query = query.clone();
        self.read("events", move |db| {
            Box::pin(async move {
                let mut bounds = [0, i64::MAX];
                for (bound, id) in bounds.iter_mut().zip([&query.after, &query.before]) {
                    if let Some(id) = id {
                        match db.fetch_optional(&SEQ_OF, &args![id.as_str()]).await? {
                            Some(mut row) => *bound = row.int()?,
                            None => return Ok(None),
                        }
                    }
                }
                let mut args: Vec<Arg<'_>> = vec![bounds[0].into(), bounds[1].into()];
                if let Some(kind) = query.kind {
                    args.push(kind.as_str().into());
                }
                if let Some(user) = &query.user_id {
                    args.push(user.as_str().into());
                }
                if let Some(status) = query.delivery {
                    args.push(status.as_str().into());
                }
                args.push(i64::from(query.limit).into());
                let mut events = events_of(db.fetch(page, &args).await?)?;
                if !events.is_empty() {
                    // `attach` finds events by seq in ascending order.
                    if query.newest_first {
                        events.reverse();
                    }
                    attach(&mut events, db.fetch(deliveries, &args).await?)?;
                    if query.newest_first {
                        events.reverse();
                    }
                }
                Ok(Some(events))
            })
        })
        .await
    }

    async fn event(&self, id: &EventId) -> StoreResult<Option<EventRecord>> {
        static EVENT: Query = Query::new(concat!(
            "SELECT ",
            event_columns!(),
            " FROM events e WHERE e.id = ?"
        ));
        static DELIVERIES: Query = Query::new(concat!(
            "SELECT ",
            delivery_columns!(),
            " FROM webhook_deliveries d WHERE d.event_seq = ? ORDER BY d.endpoint"
        ));
        let id = id.clone();
        self.read("event", move |db| {
            Box::pin(async move {
                let Some(mut row) = db.fetch_optional(&EVENT, &args![id.as_str()]).await? else {
                    return Ok(None);
                };
                let mut events = vec![rows::event(&mut row)?];
                let deliveries = db.fetch(&DELIVERIES, &args![events[0].seq]).await?;
                attach(&mut events, deliveries)?;
                Ok(events.pop())
            })
        })
        .await
    }

    async fn purge_events(&self, before: OffsetDateTime) -> StoreResult<u64> {
        // Their deliveries go with them (ON DELETE CASCADE).
        static Q: Query = Query::new("DELETE FROM events WHERE created_at < ?");
        self.write("purge_events", move |db| {
            Box::pin(async move { db.execute(&Q, &args![unix(before)]).await })
        })
        .await
    }

    async fn fan_out(
        &self,
        subscriptions: &[Subscription],
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<u64> {
        let mut created = 0;
        for subscription in subscriptions {
            let subscription = subscription.clone();
            created += self
                .atomic("fan_out", move |db| {
                    Box::pin(async move {
                        fan_out_one(db, &subscription, now, limit)
                            .await
                            .map(Step::Keep)
                    })
                })
                .await?;
        }
        Ok(created)
    }

    async fn claim_deliveries(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>> {
        static DUE: Query = Query::new(
            "SELECT endpoint, event_seq, attempts FROM webhook_deliveries
             WHERE status = 'pending' AND next_attempt_at <= ?
             ORDER BY next_attempt_at, event_seq LIMIT ?",
        )
        .servers(
            "SELECT endpoint, event_seq, attempts FROM webhook_deliveries
             WHERE status = 'pending' AND next_attempt_at <= ?
             ORDER BY next_attempt_at, event_seq LIMIT ?
             FOR UPDATE SKIP LOCKED",
        );
        static LEASE: Query = Query::new(
            "UPDATE webhook_deliveries SET next_attempt_at = ?, updated_at = ?
             WHERE endpoint = ? AND event_seq = ?",
        );
        static EVENT: Query = Query::new(concat!(
            "SELECT ",
            event_columns!(),
            " FROM events e WHERE e.seq = ?"
        ));
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Whole seconds, rounded up: a lease never ends before it was asked to.
        let lease = i64::try_from(lease.as_secs() + u64::from(lease.subsec_nanos() > 0))
            .unwrap_or(i64::MAX);
        let (now, until) = (unix(now), unix(now).saturating_add(lease));
        self.atomic("claim_deliveries", move |db| {
            Box::pin(async move {
                let due = db.fetch(&DUE, &args![now, i64::from(limit)]).await?;
                let mut claimed = Vec::with_capacity(due.len());
                for mut row in due {
                    let (endpoint, seq) = (row.text()?, row.int()?);
                    let attempts = u32::try_from(row.int()?).unwrap_or(u32::MAX);
                    db.execute(&LEASE, &args![until, now, endpoint.as_str(), seq])
                        .await?;
                    let event = rows::event(&mut db.fetch_one(&EVENT, &args![seq]).await?)?;
                    claimed.push(Delivery {
                        endpoint,
                        event,
                        attempts,
                    });
                }
                Ok(Step::Keep(claimed))
            })
        })
        .await
    }

    async fn finish_delivery(
        &self,
        endpoint: &str,
        event: &EventId,
        result: &DeliveryResult,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        static Q: Query = Query::new(
            "UPDATE webhook_deliveries
             SET attempts = attempts + 1, status = ?, next_attempt_at = ?, last_error = ?,
                 updated_at = ?
             WHERE endpoint = ? AND event_seq = (SELECT seq FROM events WHERE id = ?)",
        );
        let (status, next, error) = match result {
            DeliveryResult::Delivered => (DeliveryStatus::Delivered, None, None),
            DeliveryResult::Retry { at, error } => {
                (DeliveryStatus::Pending, Some(unix(*at)), Some(error))
            }
            DeliveryResult::Dead { error } => (DeliveryStatus::Dead, None, Some(error)),
        };
        let error: Option<String> = error.map(|e| e.chars().take(LAST_ERROR_CHARS).collect());
        let (endpoint, event) = (endpoint.to_owned(), event.clone());
        self.write("finish_delivery", move |db| {
            Box::pin(async move {
                let args = args![
                    status.as_str(),
                    next,
                    error.as_deref(),
                    unix(now),
                    endpoint.as_str(),
                    event.as_str(),
                ];
                db.execute(&Q, &args).await.map(drop)
            })
        })
        .await
    }

    async fn redeliver(&self, event: &EventId, now: OffsetDateTime) -> StoreResult<u64> {
        // The attempts made stay counted: the operator asked for one more try now, and the
        // retry schedule past it is the deliverer's to decide from them.
        static Q: Query = Query::new(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?, updated_at = ?
             WHERE status = 'dead' AND event_seq = (SELECT seq FROM events WHERE id = ?)",
        );
        let event = event.clone();
        self.write("redeliver", move |db| {
            Box::pin(async move {
                db.execute(&Q, &args![unix(now), unix(now), event.as_str()])
                    .await
            })
        })
        .await
    }

    async fn delivery_backlog(&self) -> StoreResult<(u64, u64)> {
        // Two counts on the (status, next_attempt_at) index rather than one scan.
        static Q: Query = Query::new(
            "SELECT (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'),
                    (SELECT count(*) FROM webhook_deliveries WHERE status = 'dead')",
        );
        self.read("delivery_backlog", move |db| {
            Box::pin(async move {
                let mut row = db.fetch_one(&Q, &[]).await?;
                let count = |v: i64| u64::try_from(v).unwrap_or(0);
                Ok((count(row.int()?), count(row.int()?)))
            })
        })
        .await
    }
}

/// One endpoint's fan-out, in the caller's unit: the number of deliveries created.
async fn fan_out_one(
    db: &mut dyn Exec,
    subscription: &Subscription,
    now: OffsetDateTime,
    limit: u32,
) -> StoreResult<u64> {
    // A plain read first: on MySQL a locking read of a missing row locks the gap before it,
    // and two instances meeting a new endpoint at once would deadlock on their inserts.
    static CURSOR: Query = Query::new("SELECT last_seq FROM webhook_cursors WHERE endpoint = ?");
    static LOCK_CURSOR: Query =
        Query::new("SELECT last_seq FROM webhook_cursors WHERE endpoint = ?")
            .servers("SELECT last_seq FROM webhook_cursors WHERE endpoint = ? FOR UPDATE");
    // The newest event committed: a new endpoint starts after it (it gets no history). A
    // plain read, not `INSERT … SELECT`, which would hold a shared lock on event_seq (MySQL)
    // and keep every event-writing unit waiting until this one ends.
    static NEWEST: Query = Query::new("SELECT n FROM event_seq WHERE id = 1");
    // MySQL: `ON DUPLICATE KEY UPDATE` takes the existing row's exclusive lock at once, where
    // a duplicate-key error would take a shared one, which two units could not both upgrade.
    static CREATE_CURSOR: Query = Query::new(
        "INSERT INTO webhook_cursors (endpoint, last_seq) VALUES (?, ?)
         ON CONFLICT (endpoint) DO NOTHING",
    )
    .mysql(
        "INSERT INTO webhook_cursors (endpoint, last_seq) VALUES (?, ?)
         ON DUPLICATE KEY UPDATE last_seq = last_seq",
    );
    static AFTER: Query =
        Query::new("SELECT seq, type FROM events WHERE seq > ? ORDER BY seq LIMIT ?");
    static DELIVER: Query = Query::new(
        "INSERT INTO webhook_deliveries
             (endpoint, event_seq, status, attempts, next_attempt_at, last_error, updated_at)
         VALUES (?, ?, 'pending', 0, ?, NULL, ?)
         ON CONFLICT (endpoint, event_seq) DO NOTHING",
    )
    .mysql(
        "INSERT INTO webhook_deliveries
             (endpoint, event_seq, status, attempts, next_attempt_at, last_error, updated_at)
         VALUES (?, ?, 'pending', 0, ?, NULL, ?)",
    )
    .mysql_duplicate_is_noop(&["PRIMARY"]);
    static ADVANCE: Query =
        Query::new("UPDATE webhook_cursors SET last_seq = ? WHERE endpoint = ?");

    let endpoint = args![subscription.endpoint.as_str()];
    if db.fetch_optional(&CURSOR, &endpoint).await?.is_none() {
        let newest = db.fetch_one(&NEWEST, &[]).await?.int()?;
        let create = args![subscription.endpoint.as_str(), newest];
        db.execute(&CREATE_CURSOR, &create).await?;
    }
    let last = db.fetch_one(&LOCK_CURSOR, &endpoint).await?.int()?;
    let events = db.fetch(&AFTER, &args![last, i64::from(limit)]).await?;
    let (mut created, mut seen) = (0, None);
    for mut row in events {
        let (seq, kind) = (row.int()?, row.text()?);
        seen = Some(seq);
        if subscription.types.iter().any(|t| t.as_str() == kind) {
            let args = args![subscription.endpoint.as_str(), seq, unix(now), unix(now)];
            created += db.execute(&DELIVER, &args).await?;
        }
    }
    if let Some(seq) = seen {
        db.execute(&ADVANCE, &args![seq, subscription.endpoint.as_str()])
            .await?;
    }
    Ok(created)
}
