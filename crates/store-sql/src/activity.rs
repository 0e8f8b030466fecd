//! [`AdminStore::activity`](wxlogin_core::admin::AdminStore::activity): registrations and
//! sign-ins per period, counted by the database in one grouped statement per table, so that a
//! busy month costs two index range scans, not a row per sign-in sent to the process.

use std::time::Duration;

use time::OffsetDateTime;
use wxlogin_core::admin::Activity;
use wxlogin_core::ports::StoreResult;

use crate::rows::unix;
use crate::sql::{Query, args};
use crate::store::SqlStore;

/// `(period index, count)` of the users created in `[since, until)`. Integer division: `/` of
/// two integers is one on SQLite and PostgreSQL; MySQL's `/` is decimal, its `DIV` is not.
static USERS: Query = Query::new(
    "SELECT (created_at - ?) / ?, count(*) FROM users
     WHERE created_at >= ? AND created_at < ? GROUP BY 1",
)
.mysql(
    "SELECT (created_at - ?) DIV ?, count(*) FROM users
     WHERE created_at >= ? AND created_at < ? GROUP BY 1",
);

/// The same for refresh families: sign-ins.
static SIGN_INS: Query = Query::new(
    "SELECT (created_at - ?) / ?, count(*) FROM refresh_families
     WHERE created_at >= ? AND created_at < ? GROUP BY 1",
)
.mysql(
    "SELECT (created_at - ?) DIV ?, count(*) FROM refresh_families
     WHERE created_at >= ? AND created_at < ? GROUP BY 1",
);

/// See the trait method.
pub(crate) async fn activity(
    store: &SqlStore,
    since: OffsetDateTime,
    bucket: Duration,
    buckets: u32,
) -> StoreResult<Activity> {
    let width = i64::try_from(bucket.as_secs().max(1)).unwrap_or(i64::MAX);
    let from = unix(since);
    let until = from.saturating_add(width.saturating_mul(i64::from(buckets)));
    let n = buckets as usize;
    store
        .read("activity", move |db| {
            Box::pin(async move {
                let mut counts = [vec![0u64; n], vec![0u64; n]];
                for (query, out) in [&USERS, &SIGN_INS].into_iter().zip(counts.iter_mut()) {
                    for mut row in db.fetch(query, &args![from, width, from, until]).await? {
                        let (index, count) = (row.int()?, row.int()?);
                        if let Some(slot) = usize::try_from(index).ok().and_then(|i| out.get_mut(i))
                        {
                            *slot = u64::try_from(count).unwrap_or(0);
                        }
                    }
                }
                let [registrations, sign_ins] = counts;
                Ok(Activity {
                    registrations,
                    sign_ins,
                })
            })
        })
        .await
}
