//! AdminStore::import_users: a batch in one unit, in order, idempotent by phone and
//! external_id, each user whole or not at all.

use wxlogin_core::admin::{AdminStore, ImportOutcome, ImportUser};
use wxlogin_core::events::UserSource;
use wxlogin_core::ports::{Identity, UserStore};
use wxlogin_testkit::TestDb;
use wxlogin_testkit::fixtures::{
    all_events, at, events_of, external_id, identity, kinds, new_user, new_user_with_external_id,
    phone_hash, registered,
};

fn import(n: u8, external: Option<&str>, identities: &[Identity]) -> ImportUser {
    ImportUser {
        user: match external {
            Some(e) => new_user_with_external_id(n, e),
            None => new_user(n),
        },
        identities: identities.to_vec(),
    }
}

pub async fn importing_creates_users_with_their_identities_and_events_in_order(db: &TestDb) {
    let store = db.open(1).await;
    let a1 = identity("wx1", "o-a", Some("u-a"));
    let a2 = identity("wx2", "o-a-2", Some("u-a"));
    let batch = vec![
        import(1, Some("crm-1"), &[a1.clone(), a2.clone(), a1.clone()]),
        import(2, None, &[]),
    ];
    let ids: Vec<_> = batch.iter().map(|u| u.user.user.id.clone()).collect();

    let outcomes = store.import_users(batch, at(5)).await.unwrap();

    assert_eq!(
        outcomes,
        [
            ImportOutcome::Created(ids[0].clone()),
            ImportOutcome::Created(ids[1].clone())
        ]
    );
    let first = store
        .user_by_identity(&a2.appid, &a2.openid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.id, ids[0]);
    assert_eq!(first.external_id, Some(external_id("crm-1")));
    assert_eq!(store.identities(&ids[0]).await.unwrap().len(), 2, "a1 once");
    assert_eq!(
        store
            .user_by_phone(&phone_hash(2))
            .await
            .unwrap()
            .unwrap()
            .id,
        ids[1]
    );
    let events = all_events(&store).await;
    assert_eq!(
        kinds(&events),
        [
            "user.imported",
            "identity.bound",
            "identity.bound",
            "user.imported"
        ]
    );
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(events[0].source, Some(UserSource::Import));
    assert_eq!(
        (events[0].appid.clone(), events[1].appid.clone()),
        (None, Some(a1.appid.clone()))
    );
    assert!(
        events[..3]
            .iter()
            .all(|e| e.external_id == Some(external_id("crm-1")))
    );
    assert!(events.iter().all(|e| e.at == at(5)));
    assert_eq!(events[3].user_id, ids[1]);
}

pub async fn importing_again_finds_everyone_existing_and_writes_nothing(db: &TestDb) {
    let store = db.open(1).await;
    let batch = || {
        vec![
            import(1, Some("crm-1"), &[identity("wx1", "o-1", None)]),
            import(2, Some("crm-2"), &[identity("wx1", "o-2", None)]),
        ]
    };
    let first = store.import_users(batch(), at(5)).await.unwrap();
    let before = all_events(&store).await.len();

    let second = store.import_users(batch(), at(6)).await.unwrap();
    // The same people under new phones (their external_ids match), and under new
    // external_ids (their phones match).
    let by_external = vec![import(3, Some("crm-1"), &[]), import(4, Some("crm-2"), &[])];
    let by_phone = vec![import(1, Some("crm-9"), &[]), import(2, None, &[])];
    let third = store.import_users(by_external, at(7)).await.unwrap();
    let fourth = store.import_users(by_phone, at(8)).await.unwrap();

    let created: Vec<_> = first
        .iter()
        .map(|o| match o {
            ImportOutcome::Created(id) => ImportOutcome::Existing(id.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(second, created);
    assert_eq!(third, created);
    assert_eq!(fourth, created);
    assert_eq!(all_events(&store).await.len(), before);
    assert!(store.user_by_phone(&phone_hash(3)).await.unwrap().is_none());
}

pub async fn a_user_with_an_identity_of_someone_else_is_refused_whole(db: &TestDb) {
    let store = db.open(1).await;
    let taken = identity("wx1", "o-taken", None);
    let owner = registered(&store, 9, &taken).await;
    let before = all_events(&store).await.len();
    let refused = import(
        1,
        Some("crm-1"),
        &[identity("wx2", "o-free", None), taken.clone()],
    );
    let refused_id = refused.user.user.id.clone();
    let fine = import(2, None, &[identity("wx1", "o-fine", None)]);
    // Later in the batch: the same phone as `fine` (existing by then), and an identity that
    // `fine` took a moment before.
    let same_phone = import(2, None, &[]);
    let same_identity = import(3, None, &[identity("wx1", "o-fine", None)]);
    let fine_id = fine.user.user.id.clone();

    let outcomes = store
        .import_users(vec![refused, fine, same_phone, same_identity], at(5))
        .await
        .unwrap();

    assert_eq!(
        outcomes,
        [
            ImportOutcome::IdentityTaken,
            ImportOutcome::Created(fine_id.clone()),
            ImportOutcome::Existing(fine_id.clone()),
            ImportOutcome::IdentityTaken,
        ]
    );
    assert!(store.user(&refused_id).await.unwrap().is_none());
    assert!(store.user_by_phone(&phone_hash(1)).await.unwrap().is_none());
    let free = identity("wx2", "o-free", None);
    assert!(
        store
            .user_by_identity(&free.appid, &free.openid)
            .await
            .unwrap()
            .is_none()
    );
    let still = store
        .user_by_identity(&taken.appid, &taken.openid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(still.id, owner.id);
    assert!(store.user_by_phone(&phone_hash(3)).await.unwrap().is_none());
    assert!(events_of(&store, &refused_id).await.is_empty());
    assert_eq!(all_events(&store).await.len(), before + 2, "fine's two");
}
