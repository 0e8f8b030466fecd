//! The store's life cycle: connecting, migrating, reopening, purging, closing.

use std::sync::Arc;
use wxlogin_core::ports::{FamilyRecord, SigningKeyRecord};

use tokio::sync::Barrier;
use wxlogin_core::ports::{
    Health, KeyStore, RefreshRecord, SessionRecord, SessionStore, StoreError, TokenStore, UserStore,
};
use wxlogin_store_sql::{ConnectOptions, Purged, SqlStore};

use crate::support::{
    FileDb, appid, at, h, identity, memory_store, phone_hash, registered, ticket,
};

#[tokio::test]
async fn migrating_twice_is_a_no_op_that_keeps_the_data() {
    let store = memory_store().await;
    let user = registered(&store, 1, &identity("wx1", "o-alice", None)).await;

    store.migrate().await.unwrap();

    assert_eq!(store.user(&user.id).await.unwrap().unwrap().id, user.id);
}

#[tokio::test]
async fn each_memory_store_is_its_own_database() {
    let one = memory_store().await;
    let two = memory_store().await;

    registered(&one, 1, &identity("wx1", "o-alice", None)).await;

    assert!(two.user_by_phone(&phone_hash(1)).await.unwrap().is_none());
}

#[tokio::test]
async fn a_file_database_is_created_with_its_directory_and_survives_reopening() {
    let db = FileDb::new();
    let store = db.open(2).await;
    let user = registered(&store, 1, &identity("wx1", "o-alice", None)).await;
    let key = SigningKeyRecord {
        kid: "k1".into(),
        generation: 1,
        public_key: vec![7; 32],
        private_sealed: b"sealed".to_vec(),
        created_at: at(0),
    };
    store.insert_signing_key(&key).await.unwrap();
    assert!(db.path.exists());
    assert!(
        db.path.with_extension("db-wal").exists(),
        "WAL journal mode"
    );
    store.close().await;
    drop(store);

    let reopened = db.open(2).await;

    assert_eq!(
        reopened.user(&user.id).await.unwrap().unwrap().phone_sealed,
        vec![1; 45]
    );
    assert_eq!(reopened.signing_keys().await.unwrap()[0].kid, "k1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_instances_connecting_and_migrating_a_new_file_at_once_all_succeed() {
    const INSTANCES: usize = 4;
    let db = FileDb::new();
    // Connecting races on creating the file and switching it to WAL; the barrier then lines
    // the migrations up, the other race.
    let barrier = Arc::new(Barrier::new(INSTANCES));
    let start = |_| {
        let (url, barrier) = (db.url.clone(), barrier.clone());
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

#[tokio::test]
async fn purging_deletes_what_expired_and_families_left_without_tokens() {
    let store = memory_store().await;
    let me = identity("wx1", "o-alice", None);
    let alice = registered(&store, 1, &me).await.id; // its ticket expires at T0 + 600
    store.put_ticket(&ticket("t-later", &me)).await.unwrap();
    let session = |name: &str, expires| SessionRecord {
        hash: h(name),
        identity: me.clone(),
        created_at: at(0),
        expires_at: at(expires),
    };
    store.create_session(&session("s-old", 100)).await.unwrap();
    store
        .create_session(&session("s-new", 10_000))
        .await
        .unwrap();
    let family = |id: &str| FamilyRecord {
        id: id.into(),
        user_id: alice.clone(),
        appid: appid("wx1"),
        created_at: at(0),
    };
    let refresh = |name: &str, fam: &str, expires| RefreshRecord {
        hash: h(name),
        family_id: fam.into(),
        created_at: at(0),
        expires_at: at(expires),
    };
    store
        .create_family(&family("fam-old"), &refresh("r-old", "fam-old", 100))
        .await
        .unwrap();
    store
        .create_family(&family("fam-new"), &refresh("r-new-1", "fam-new", 100))
        .await
        .unwrap();
    store
        .rotate_refresh(&h("r-new-1"), &refresh("r-new-2", "", 10_000), at(50))
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
    assert!(!store.family_active("fam-old").await.unwrap());
    assert!(store.family_active("fam-new").await.unwrap());
    let next = store
        .rotate_refresh(&h("r-new-2"), &refresh("r-new-3", "", 20_000), at(700))
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

#[tokio::test]
async fn a_closed_store_is_unavailable() {
    let store = memory_store().await;
    store.ping().await.unwrap();

    store.close().await;

    assert!(matches!(
        store.ping().await,
        Err(StoreError::Unavailable(_))
    ));
}

#[tokio::test]
async fn unsupported_schemes_are_refused_without_echoing_the_url() {
    for url in [
        "redis://:hunter2@cache/0",
        "mssql://sa:hunter2@db/wx",
        "wxlogin.db",
    ] {
        let err = SqlStore::connect(url, ConnectOptions::default())
            .await
            .unwrap_err();

        assert!(matches!(err, StoreError::Other(_)), "{url}: {err:?}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_without_echoing_the_password() {
    // Port 1 on loopback: nothing listens, so the connection is refused at once. sqlx retries
    // a refused connection until the acquire timeout: keep it short.
    let opts = ConnectOptions {
        acquire_timeout: std::time::Duration::from_millis(300),
        ..ConnectOptions::default()
    };
    for url in [
        "postgres://wx:hunter2@127.0.0.1:1/wx",
        "postgresql://wx:hunter2@127.0.0.1:1/wx",
        "mysql://wx:hunter2@127.0.0.1:1/wx",
        "mariadb://wx:hunter2@127.0.0.1:1/wx",
    ] {
        let err = SqlStore::connect(url, opts.clone()).await.unwrap_err();

        assert!(matches!(err, StoreError::Unavailable(_)), "{url}: {err:?}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}

#[tokio::test]
async fn debug_names_the_backend_and_the_database() {
    let db = FileDb::new();
    let store = db.open(1).await;

    let shown = format!("{store:?}");

    assert!(
        shown.contains("sqlite") && shown.contains("wxlogin.db"),
        "{shown}"
    );
    assert_eq!(store.backend_name(), "sqlite");
}
