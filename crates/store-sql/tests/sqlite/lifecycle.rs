//! SQLite specifics and URL handling: memory databases, files, WAL, connect errors.

use wxlogin_core::ports::{KeyStore, SigningKeyRecord, StoreError, UserStore};
use wxlogin_store_sql::{ConnectOptions, SqlStore};

use crate::support::{FileDb, at, identity, memory_store, phone_hash, registered};

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

        assert!(matches!(err, StoreError::Other { .. }), "{url}: {err:?}");
        // The whole chain, as the log line shows it, and Debug.
        let shown = format!("{} {err:?}", wxlogin_core::cause::chain(&err));
        assert!(!shown.contains("hunter2"), "{shown}");
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

        assert!(
            matches!(err, StoreError::Unavailable { .. }),
            "{url}: {err:?}"
        );
        // The whole chain, as the log line shows it, and Debug.
        let shown = format!("{} {err:?}", wxlogin_core::cause::chain(&err));
        assert!(!shown.contains("hunter2"), "{shown}");
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
