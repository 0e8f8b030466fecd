//! AdminKeyStore: admin keys, found by their hash while live, names unique among live keys.

use wxlogin_core::admin::{AdminKeyRecord, AdminKeyStore, Scope};
use wxlogin_testkit::TestDb;
use wxlogin_testkit::fixtures::at;

fn admin_key(name: &str, n: u8, scopes: &[Scope]) -> AdminKeyRecord {
    AdminKeyRecord {
        id: format!("key-{n}"),
        name: name.to_owned(),
        hash: [n; 32],
        scopes: scopes.to_vec(),
        created_at: at(i64::from(n)),
        revoked_at: None,
    }
}

pub async fn an_admin_key_works_until_revoked_and_live_keys_have_unique_names(db: &TestDb) {
    let store = db.open(1).await;
    let all = Scope::ALL.to_vec();

    assert!(
        store
            .insert_admin_key(&admin_key("ops", 1, &all))
            .await
            .unwrap()
    );
    assert!(
        !store
            .insert_admin_key(&admin_key("ops", 2, &[Scope::UsersRead]))
            .await
            .unwrap(),
        "a live key has the name"
    );
    assert!(
        store
            .insert_admin_key(&admin_key(
                "support",
                3,
                &[Scope::UsersRead, Scope::EventsRead]
            ))
            .await
            .unwrap()
    );

    let live = store.live_admin_key(&[1; 32]).await.unwrap().unwrap();
    assert_eq!((live.id.as_str(), live.name.as_str()), ("key-1", "ops"));
    assert_eq!(live.scopes, all);
    assert_eq!((live.created_at, live.revoked_at), (at(1), None));
    assert!(store.live_admin_key(&[2; 32]).await.unwrap().is_none());

    assert!(store.revoke_admin_key("ops", at(10)).await.unwrap());
    assert!(!store.revoke_admin_key("ops", at(11)).await.unwrap());
    assert!(!store.revoke_admin_key("nobody", at(11)).await.unwrap());
    assert!(store.live_admin_key(&[1; 32]).await.unwrap().is_none());
    assert!(
        store
            .insert_admin_key(&admin_key("ops", 4, &[Scope::KeysWrite]))
            .await
            .unwrap(),
        "the name is free again"
    );

    let keys = store.admin_keys().await.unwrap();
    let listed: Vec<_> = keys.iter().map(|k| (k.id.as_str(), k.revoked_at)).collect();
    assert_eq!(
        listed,
        [("key-1", Some(at(10))), ("key-3", None), ("key-4", None)]
    );
    assert_eq!(keys[1].scopes, [Scope::UsersRead, Scope::EventsRead]);
}
