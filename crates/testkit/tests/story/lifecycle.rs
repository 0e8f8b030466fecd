//! The store's life cycle: connecting, migrating, reopening, purging, closing.

use std::sync::Arc;
use wxlogin_testkit::fixtures::fam;
use wxlogin_testkit::fixtures::session_login;

use tokio::sync::Barrier;
use wxlogin_core::ports::{
    FamilyRecord, Health, RefreshRecord, RefreshStore, SessionRecord, SessionStore, StoreError,
    UserStore,
};
use wxlogin_store_sql::{ConnectOptions, Purged, SqlStore};

use wxlogin_testkit::TestDb;
use wxlogin_testkit::fixtures::{appid, at, h, identity, registered, ticket};

pub async fn migrating_twice_is_a_no_op_that_keeps_the_data(db: &TestDb) {
    let store = db.open(1).await;
    let user = registered(&store, 1, &identity("wx1", "o-alice", None)).await;

    store.migrate().await.unwrap();

    assert_eq!(store.user(&user.id).await.unwrap().unwrap().id, user.id);
}

pub async fn several_instances_connecting_and_migrating_a_new_database_at_once_all_succeed(
    db: &TestDb,
) {
    const INSTANCES: usize = 4;
    // SQLite: connecting races on creating the file and switching it to WAL. Every backend:
    // the barrier then lines the migrations up, the other race.
    let barrier = Arc::new(Barrier::new(INSTANCES));
    let start = |_| {
        let (url, barrier) = (db.url().to_owned(), barrier.clone());
        tokio::spawn(async move {
            let store = SqlStore::connect(&url, ConnectOptions::default()).await;
            barrier.wait().await;
            let store = store?;
            store.migrate().await?;
            Ok::<_, StoreError>(store)
        })
    };
    let handles: Vec<_> = (0..INSTANCES).map(start).collect();

    let mut stores = Vec::new();
    for handle in handles {
        stores.push(handle.await.unwrap().unwrap());
    }

    let user = registered(&stores[0], 1, &identity("wx1", "o-alice", None)).await;
    assert_eq!(
        stores[INSTANCES - 1]
            .user(&user.id)
            .await
            .unwrap()
            .unwrap()
            .id,
        user.id
    );
}

pub async fn purging_deletes_what_expired_and_families_left_without_tokens(db: &TestDb) {
    let store = db.open(1).await;
    let me = identity("wx1", "o-alice", None);
    let alice = registered(&store, 1, &me).await.id; // its ticket expires at T0 + 600
    store.put_ticket(&ticket("t-later", &me)).await.unwrap();
    let session = |name: &str, expires| SessionRecord {
        hash: h(name),
        identity: me.clone(),
        created_at: at(0),
        expires_at: at(expires),
    };
    store
        .record_login(&session_login(&session("s-old", 100), b"sealed-key"))
        .await
        .unwrap();
    store
        .record_login(&session_login(&session("s-new", 10_000), b"sealed-key"))
        .await
        .unwrap();
    let family = |id: &str| FamilyRecord {
        id: fam(id),
        user_id: alice.clone(),
        appid: appid("wx1"),
        created_at: at(0),
    };
    let refresh = |name: &str, expires| RefreshRecord {
        hash: h(name),
        created_at: at(0),
        expires_at: at(expires),
    };
    store
        .create_family(&family("fam-old"), &refresh("r-old", 100), false)
        .await
        .unwrap();
    store
        .create_family(&family("fam-new"), &refresh("r-new-1", 100), false)
        .await
        .unwrap();
    store
        .rotate_refresh(&h("r-new-1"), &refresh("r-new-2", 10_000), at(50))
        .await
        .unwrap();

    let purged = store.purge_expired(at(600)).await.unwrap();

    assert_eq!(
        purged,
        Purged {
            sessions: 1,
            tickets: 2,
            refresh_tokens: 2,
            families: 1
        }
    );
    assert!(
        store
            .live_session(&h("s-new"), at(600))
            .await
            .unwrap()
            .is_some()
    );
    assert!(!store.family_active(&fam("fam-old")).await.unwrap());
    assert!(store.family_active(&fam("fam-new")).await.unwrap());
    let next = store
        .rotate_refresh(&h("r-new-2"), &refresh("r-new-3", 20_000), at(700))
        .await
        .unwrap();
    assert!(
        matches!(next, wxlogin_core::ports::RotateOutcome::Rotated(_)),
        "{next:?}"
    );
    assert_eq!(
        store.purge_expired(at(600)).await.unwrap(),
        Purged::default()
    );
}

pub async fn a_closed_store_is_unavailable(db: &TestDb) {
    let store = db.open(1).await;
    store.ping().await.unwrap();

    store.close().await;

    assert!(matches!(
        store.ping().await,
        Err(StoreError::Unavailable { .. })
    ));
}
