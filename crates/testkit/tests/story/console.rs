//! What the admin console reads beyond the admin API: activity per period (its charts) and
//! events newest first, paged back in time.

use std::time::Duration;

use wxlogin_core::admin::{Activity, AdminStore, CreateOutcome};
use wxlogin_core::events::{EventQuery, EventStore, EventType, UserSource};
use wxlogin_core::ids::EventId;
use wxlogin_core::ports::{FamilyRecord, RefreshStore};
use wxlogin_store_sql::SqlStore;
use wxlogin_testkit::TestDb;
use wxlogin_testkit::fixtures::{all_events, at, fam, identity, new_user, refresh, user};

/// A user created at `secs` after T0 (through the lookup hook's path, which takes any time).
async fn created_at(store: &SqlStore, n: u8, secs: i64) -> wxlogin_core::ids::UserId {
    let mut new = new_user(n);
    new.user.created_at = at(secs);
    let me = identity("wx1", &format!("o-{n}"), None);
    match store
        .create_user(new, &me, UserSource::Lookup, at(secs))
        .await
        .unwrap()
    {
        CreateOutcome::Created(u) => u.id,
        other => panic!("created: {other:?}"),
    }
}

async fn signed_in(store: &SqlStore, user: &wxlogin_core::ids::UserId, name: &str, secs: i64) {
    let family = FamilyRecord {
        id: fam(name),
        user_id: user.clone(),
        appid: wxlogin_core::ids::AppId::parse("wx1").unwrap(),
        created_at: at(secs),
    };
    store
        .create_family(&family, &refresh(name, secs + 1000), false)
        .await
        .unwrap();
}

pub async fn activity_counts_registrations_and_sign_ins_per_period_with_exact_edges(db: &TestDb) {
    let store = db.open(1).await;
    const H: i64 = 3600;
    // Periods of an hour from T0: [T0, T0+1h), [T0+1h, T0+2h), [T0+2h, T0+3h).
    let before = created_at(&store, 1, -1).await; // just before the first period
    let first = created_at(&store, 2, 0).await; // its first second
    created_at(&store, 3, H - 1).await; // its last second
    let second = created_at(&store, 4, H).await; // the second period's first second
    created_at(&store, 5, 3 * H).await; // just after the last period
    signed_in(&store, &before, "f-before", -1).await;
    signed_in(&store, &first, "f-first", 10).await;
    signed_in(&store, &first, "f-again", 2 * H + 5).await;
    signed_in(&store, &second, "f-late", 3 * H).await;

    let got = store
        .activity(at(0), Duration::from_secs(3600), 3)
        .await
        .unwrap();

    assert_eq!(
        got,
        Activity {
            registrations: vec![2, 1, 0],
            sign_ins: vec![1, 0, 1],
        }
    );
    let empty = store
        .activity(at(100 * H), Duration::from_secs(86_400), 30)
        .await
        .unwrap();
    assert_eq!(empty.registrations, vec![0; 30]);
    assert_eq!(empty.sign_ins, vec![0; 30]);
}

pub async fn events_come_newest_first_and_page_back_before_an_id(db: &TestDb) {
    let store = db.open(1).await;
    for n in 1..5 {
        user(&store, n).await; // user.registered, identity.bound each
    }
    let all = all_events(&store).await;
    assert_eq!(all.len(), 8);
    let newest = |before: Option<EventId>, kind: Option<EventType>| EventQuery {
        before,
        kind,
        newest_first: true,
        limit: 3,
        ..EventQuery::default()
    };
    let seqs = |events: &[wxlogin_core::events::EventRecord]| {
        events.iter().map(|e| e.seq).collect::<Vec<_>>()
    };

    let page = store.events(&newest(None, None)).await.unwrap().unwrap();
    assert_eq!(seqs(&page), [8, 7, 6]);
    let next = newest(Some(page[2].id.clone()), None);
    let page = store.events(&next).await.unwrap().unwrap();
    assert_eq!(seqs(&page), [5, 4, 3]);
    let bound = newest(Some(page[0].id.clone()), Some(EventType::IdentityBound));
    let page = store.events(&bound).await.unwrap().unwrap();
    assert_eq!(seqs(&page), [4, 2]);

    let between = EventQuery {
        after: Some(all[1].id.clone()),
        before: Some(all[5].id.clone()),
        limit: 10,
        ..EventQuery::default()
    };
    assert_eq!(
        seqs(&store.events(&between).await.unwrap().unwrap()),
        [3, 4, 5]
    );
    let unknown = newest(Some(EventId::parse("evt_unknown").unwrap()), None);
    assert!(store.events(&unknown).await.unwrap().is_none());
}
