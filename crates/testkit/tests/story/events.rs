//! EventStore: reading the outbox by pages, webhook fan-out, claims, attempts, redelivery and
//! retention, on one store and on several at once.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use wxlogin_core::events::{
    DeliveryResult, DeliveryStatus, EventQuery, EventRecord, EventStore, EventType, Subscription,
};
use wxlogin_core::ids::EventId;
use wxlogin_store_sql::SqlStore;
use wxlogin_testkit::TestDb;
use wxlogin_testkit::fixtures::{all_events, at, identity, kinds, registered, user};

/// Registers users `from..to` (each: user.registered, identity.bound).
async fn register_many(store: &SqlStore, from: u8, to: u8) {
    for n in from..to {
        user(store, n).await;
    }
}

fn subscription(endpoint: &str, types: &[EventType]) -> Subscription {
    Subscription {
        endpoint: endpoint.to_owned(),
        types: types.to_vec(),
    }
}

fn everything(endpoint: &str) -> Subscription {
    let types: Vec<_> = EventType::ALL
        .into_iter()
        .filter(|t| t.in_wildcard())
        .collect();
    subscription(endpoint, &types)
}

async fn page(store: &SqlStore, query: EventQuery) -> Vec<EventRecord> {
    store.events(&query).await.unwrap().unwrap()
}

pub async fn events_come_oldest_first_and_page_after_an_id_with_filters_anded(db: &TestDb) {
    let store = db.open(1).await;
    let alice = registered(&store, 1, &identity("wx1", "o-alice", None))
        .await
        .id;
    register_many(&store, 2, 5).await;
    let all = all_events(&store).await;
    assert_eq!(all.len(), 8);
    assert_eq!(
        all.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=8).collect::<Vec<_>>()
    );

    let mut paged = Vec::new();
    loop {
        let query = EventQuery {
            after: paged.last().map(|e: &EventRecord| e.id.clone()),
            limit: 3,
            ..EventQuery::default()
        };
        let got = page(&store, query).await;
        if got.is_empty() {
            break;
        }
        assert!(got.len() <= 3);
        paged.extend(got);
    }
    let ids = |events: &[EventRecord]| events.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&paged), ids(&all));

    let bound = EventQuery {
        kind: Some(EventType::IdentityBound),
        limit: 100,
        ..EventQuery::default()
    };
    assert_eq!(
        kinds(&page(&store, bound.clone()).await),
        ["identity.bound"; 4]
    );
    let alices = EventQuery {
        user_id: Some(alice.clone()),
        ..bound.clone()
    };
    let alices = page(&store, alices).await;
    assert_eq!(alices.len(), 1);
    assert_eq!((alices[0].user_id.clone(), alices[0].seq), (alice, 2));
    let after_alices = EventQuery {
        after: Some(alices[0].id.clone()),
        ..bound
    };
    assert_eq!(page(&store, after_alices).await.len(), 3);
    let unknown = EventQuery {
        after: Some(EventId::parse("evt_unknown").unwrap()),
        limit: 10,
        ..EventQuery::default()
    };
    assert!(store.events(&unknown).await.unwrap().is_none());
    let dead = EventQuery {
        delivery: Some(DeliveryStatus::Dead),
        limit: 10,
        ..EventQuery::default()
    };
    assert!(page(&store, dead).await.is_empty());
    let one = store.event(&all[3].id).await.unwrap().unwrap();
    assert_eq!((one.seq, one.kind), (4, EventType::IdentityBound));
    assert!(
        store
            .event(&EventId::parse("evt_unknown").unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn paging_events_while_others_write_neither_skips_nor_repeats(db: &TestDb) {
    const WRITERS: u8 = 4;
    const USERS_EACH: u8 = 15;
    let store = Arc::new(db.open(6).await);
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..WRITERS {
        let store = store.clone();
        writers.spawn(async move {
            let first = 1 + w * USERS_EACH;
            for n in first..first + USERS_EACH {
                user(&*store, n).await;
            }
        });
    }

    // Page until the writers are done and a page comes back empty.
    let mut seen: Vec<EventRecord> = Vec::new();
    loop {
        let finished = writers.is_empty();
        let query = EventQuery {
            after: seen.last().map(|e| e.id.clone()),
            limit: 5,
            ..EventQuery::default()
        };
        let got = page(&store, query).await;
        if got.is_empty() && finished {
            break;
        }
        seen.extend(got);
        while let Some(done) = writers.try_join_next() {
            done.unwrap();
        }
        tokio::task::yield_now().await;
    }

    let expected = usize::from(WRITERS) * usize::from(USERS_EACH) * 2;
    let seqs: Vec<i64> = seen.iter().map(|e| e.seq).collect();
    let contiguous: Vec<i64> = (1..=i64::try_from(expected).unwrap()).collect();
    assert_eq!(
        seqs, contiguous,
        "every event once, in seq order, none skipped"
    );
    let unique: HashSet<_> = seen.iter().map(|e| e.id.clone()).collect();
    assert_eq!(unique.len(), expected);
    // Each user's registration and binding are adjacent: one unit, one block of numbers.
    for pair in seen.chunks(2) {
        assert_eq!(kinds(pair), ["user.registered", "identity.bound"]);
        assert_eq!(pair[0].user_id, pair[1].user_id);
    }
}

pub async fn a_new_endpoint_gets_no_history_and_each_subscribed_event_once(db: &TestDb) {
    let store = db.open(1).await;
    register_many(&store, 1, 3).await; // 4 events before any fan-out
    let only_registrations = subscription("crm", &[EventType::UserRegistered]);

    let first = store
        .fan_out(std::slice::from_ref(&only_registrations), at(10), 100)
        .await
        .unwrap();
    register_many(&store, 3, 6).await; // 6 more: 3 registrations
    let limited = store
        .fan_out(std::slice::from_ref(&only_registrations), at(11), 4)
        .await
        .unwrap();
    let rest = store
        .fan_out(std::slice::from_ref(&only_registrations), at(12), 100)
        .await
        .unwrap();
    let again = store
        .fan_out(&[only_registrations], at(13), 100)
        .await
        .unwrap();

    assert_eq!(first, 0, "no history");
    assert_eq!(
        (limited, rest, again),
        (2, 1, 0),
        "4 events: 2 registrations, then 1"
    );
    let all = all_events(&store).await;
    let delivered: Vec<_> = all
        .iter()
        .filter(|e| !e.deliveries.is_empty())
        .map(|e| (e.seq, e.kind))
        .collect();
    assert_eq!(
        delivered,
        [
            (5, EventType::UserRegistered),
            (7, EventType::UserRegistered),
            (9, EventType::UserRegistered)
        ]
    );
    let state = &all[4].deliveries[0];
    assert_eq!(state.endpoint, "crm");
    assert_eq!((state.status, state.attempts), (DeliveryStatus::Pending, 0));
    assert_eq!(state.next_attempt_at, Some(at(11)));
    assert_eq!(state.last_error, None);

    // A second endpoint starts at the newest event too; both endpoints get what follows.
    let audit = everything("audit");
    assert_eq!(
        store
            .fan_out(std::slice::from_ref(&audit), at(14), 100)
            .await
            .unwrap(),
        0
    );
    register_many(&store, 6, 7).await;
    let both = [subscription("crm", &[EventType::UserRegistered]), audit];
    assert_eq!(store.fan_out(&both, at(15), 100).await.unwrap(), 3);
    let newest = all_events(&store).await;
    let endpoints: Vec<_> = newest[newest.len() - 2]
        .deliveries
        .iter()
        .map(|d| d.endpoint.as_str())
        .collect();
    assert_eq!(endpoints, ["audit", "crm"]);
}

pub async fn instances_fanning_out_at_once_create_each_delivery_once(db: &TestDb) {
    let stores = [Arc::new(db.open(4).await), Arc::new(db.connect(4).await)];
    let subscriptions = [everything("a"), everything("b")];
    stores[0].fan_out(&subscriptions, at(0), 100).await.unwrap(); // the cursors
    register_many(&stores[0], 1, 21).await; // 40 events

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (store, subscriptions) = (stores[i % 2].clone(), subscriptions.clone());
        tasks.spawn(async move {
            let mut created = 0;
            for _ in 0..4 {
                created += store.fan_out(&subscriptions, at(1), 7).await.unwrap();
            }
            created
        });
    }
    let created: u64 = tasks.join_all().await.into_iter().sum();
    let finally = stores[0].fan_out(&subscriptions, at(2), 100).await.unwrap();

    assert_eq!(created + finally, 80, "40 events to 2 endpoints");
    for event in all_events(&*stores[0]).await {
        let endpoints: Vec<_> = event
            .deliveries
            .iter()
            .map(|d| d.endpoint.as_str())
            .collect();
        assert_eq!(endpoints, ["a", "b"], "event {}", event.seq);
    }
}

pub async fn a_claimed_delivery_is_hidden_for_its_lease_and_comes_back_if_unfinished(db: &TestDb) {
    let store = db.open(1).await;
    store
        .fan_out(&[everything("hook")], at(0), 100)
        .await
        .unwrap();
    register_many(&store, 1, 3).await; // 4 events
    store
        .fan_out(&[everything("hook")], at(10), 100)
        .await
        .unwrap();
    let lease = Duration::from_millis(29_500); // rounded up to 30 s

    let early = store.claim_deliveries(at(9), lease, 10).await.unwrap();
    let claimed = store.claim_deliveries(at(10), lease, 3).await.unwrap();
    let rest = store.claim_deliveries(at(11), lease, 10).await.unwrap();
    let hidden = store.claim_deliveries(at(39), lease, 10).await.unwrap();
    let back = store.claim_deliveries(at(40), lease, 10).await.unwrap();

    assert!(early.is_empty(), "not due yet");
    let seqs =
        |ds: &[wxlogin_core::events::Delivery]| ds.iter().map(|d| d.event.seq).collect::<Vec<_>>();
    assert_eq!(seqs(&claimed), [1, 2, 3], "due first, then seq");
    assert_eq!(seqs(&rest), [4]);
    assert!(hidden.is_empty(), "leased until T0 + 40");
    assert_eq!(seqs(&back), [1, 2, 3], "the lease ran out unfinished");
    let d = &claimed[0];
    assert_eq!((d.endpoint.as_str(), d.attempts), ("hook", 0));
    assert_eq!(d.event.kind, EventType::UserRegistered);
    assert_eq!(d.event.openid.as_ref().map(|o| o.as_str()), Some("o-1"));
    assert!(d.event.deliveries.is_empty());
    assert!(
        store
            .claim_deliveries(at(40), lease, 0)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn concurrent_claims_never_claim_one_delivery_twice(db: &TestDb) {
    let stores = [Arc::new(db.open(4).await), Arc::new(db.connect(4).await)];
    stores[0]
        .fan_out(&[everything("hook")], at(0), 100)
        .await
        .unwrap();
    register_many(&stores[0], 1, 31).await; // 60 deliveries
    assert_eq!(
        stores[0]
            .fan_out(&[everything("hook")], at(1), 100)
            .await
            .unwrap(),
        60
    );

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = stores[i % 2].clone();
        tasks.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = store
                    .claim_deliveries(at(5), Duration::from_secs(60), 4)
                    .await
                    .unwrap();
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|d| d.event.seq));
            }
        });
    }
    let mut claimed: Vec<i64> = tasks.join_all().await.into_iter().flatten().collect();

    claimed.sort_unstable();
    assert_eq!(
        claimed,
        (1..=60).collect::<Vec<_>>(),
        "each delivery exactly once"
    );
}

pub async fn finishing_records_attempts_and_outcomes_and_dead_letters_can_be_redelivered(
    db: &TestDb,
) {
    let store = db.open(1).await;
    store
        .fan_out(&[everything("hook")], at(0), 100)
        .await
        .unwrap();
    register_many(&store, 1, 3).await; // 4 events
    store
        .fan_out(&[everything("hook")], at(10), 100)
        .await
        .unwrap();
    let events = all_events(&store).await;
    let long_error: String = "错".repeat(300);

    let finish = |i: usize, result: DeliveryResult| {
        let (store, id) = (&store, events[i].id.clone());
        async move {
            store
                .finish_delivery("hook", &id, &result, at(20))
                .await
                .unwrap()
        }
    };
    finish(0, DeliveryResult::Delivered).await;
    let retry = DeliveryResult::Retry {
        at: at(80),
        error: "HTTP 500".to_owned(),
    };
    finish(1, retry.clone()).await;
    finish(1, retry).await;
    finish(2, DeliveryResult::Dead { error: long_error }).await;

    let state = |event: &EventRecord| event.deliveries[0].clone();
    let now = all_events(&store).await;
    let delivered = state(&now[0]);
    assert_eq!(
        (delivered.status, delivered.attempts),
        (DeliveryStatus::Delivered, 1)
    );
    assert_eq!(
        (delivered.next_attempt_at, delivered.last_error),
        (None, None)
    );
    let retried = state(&now[1]);
    assert_eq!(
        (retried.status, retried.attempts),
        (DeliveryStatus::Pending, 2)
    );
    assert_eq!(retried.next_attempt_at, Some(at(80)));
    assert_eq!(retried.last_error.as_deref(), Some("HTTP 500"));
    let dead = state(&now[2]);
    assert_eq!(
        (dead.status, dead.attempts, dead.next_attempt_at),
        (DeliveryStatus::Dead, 1, None)
    );
    assert_eq!(
        dead.last_error.unwrap(),
        "错".repeat(255),
        "cut to 255 characters"
    );
    assert_eq!(
        store.delivery_backlog().await.unwrap(),
        (2, 1),
        "seqs 2 and 4 pending"
    );
    let dead_letters = EventQuery {
        delivery: Some(DeliveryStatus::Dead),
        limit: 10,
        ..EventQuery::default()
    };
    assert_eq!(
        page(&store, dead_letters.clone())
            .await
            .iter()
            .map(|e| e.seq)
            .collect::<Vec<_>>(),
        [3]
    );
    let due: Vec<_> = store
        .claim_deliveries(at(30), Duration::from_secs(100), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.event.seq, d.attempts))
        .collect();
    assert_eq!(
        due,
        [(4, 0)],
        "delivered, retrying later and dead ones are not due"
    );

    assert_eq!(store.redeliver(&events[2].id, at(50)).await.unwrap(), 1);
    assert_eq!(
        store.redeliver(&events[2].id, at(51)).await.unwrap(),
        0,
        "no longer dead"
    );
    assert_eq!(
        store.redeliver(&events[0].id, at(51)).await.unwrap(),
        0,
        "delivered stays"
    );
    assert!(page(&store, dead_letters).await.is_empty());
    let redelivered: Vec<_> = store
        .claim_deliveries(at(50), Duration::from_secs(10), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.event.seq, d.attempts))
        .collect();
    assert_eq!(redelivered, [(3, 1)], "due at once, its attempts kept");
    assert_eq!(store.delivery_backlog().await.unwrap(), (3, 0));
}

pub async fn purging_events_deletes_them_with_their_deliveries(db: &TestDb) {
    let store = db.open(1).await;
    store
        .fan_out(&[everything("hook")], at(0), 100)
        .await
        .unwrap();
    user(&store, 1).await; // 2 events at T0 + 1
    let change = wxlogin_core::admin::UserChange {
        nickname: Some(Some("later".to_owned())),
        ..Default::default()
    };
    wxlogin_core::admin::AdminStore::update_user(&store, &user(&store, 2).await, &change, at(500))
        .await
        .unwrap(); // 2 at T0 + 1, 1 at T0 + 500
    store
        .fan_out(&[everything("hook")], at(600), 100)
        .await
        .unwrap();
    let before = all_events(&store).await;
    assert_eq!(store.delivery_backlog().await.unwrap(), (5, 0));

    let purged = store.purge_events(at(500)).await.unwrap();

    assert_eq!(purged, 4);
    let left = all_events(&store).await;
    assert_eq!(kinds(&left), ["user.updated"]);
    assert_eq!(left[0].deliveries.len(), 1);
    assert_eq!(store.delivery_backlog().await.unwrap(), (1, 0));
    let after_purged = EventQuery {
        after: Some(before[0].id.clone()),
        limit: 10,
        ..EventQuery::default()
    };
    assert!(store.events(&after_purged).await.unwrap().is_none());
    assert!(store.event(&before[0].id).await.unwrap().is_none());
    // Numbering goes on after the newest, purged or not.
    user(&store, 3).await;
    assert_eq!(all_events(&store).await.last().unwrap().seq, 7);
}
