//! UserStore: lookups, identity binding, tickets.

use wxlogin_core::ids::UserId;
use wxlogin_core::ports::{IdentitySummary, UserStore};

use crate::support::{
    appid, at, h, identity, memory_store, openid, phone_hash, registered, ticket, unionid,
};

#[tokio::test]
async fn a_registered_user_is_found_by_identity_phone_and_id() {
    let store = memory_store().await;
    let me = identity("wx1", "o-alice", None);

    let user = registered(&store, 1, &me).await;

    let by_identity = store
        .user_by_identity(&me.appid, &me.openid)
        .await
        .unwrap()
        .unwrap();
    let by_phone = store.user_by_phone(&phone_hash(1)).await.unwrap().unwrap();
    let by_id = store.user(&user.id).await.unwrap().unwrap();
    for found in [&by_identity, &by_phone, &by_id] {
        assert_eq!(found.id, user.id);
        assert_eq!(found.phone_sealed, vec![1; 45]);
        assert_eq!(found.nickname.as_deref(), Some("user 1"));
        assert_eq!(found.avatar_url, None);
        assert_eq!(found.created_at, at(0));
    }
}

#[tokio::test]
async fn unknown_identity_phone_id_and_unionid_find_nobody() {
    let store = memory_store().await;
    registered(&store, 1, &identity("wx1", "o-alice", Some("u-alice"))).await;

    assert!(
        store
            .user_by_identity(&appid("wx1"), &openid("o-bob"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .user_by_identity(&appid("wx2"), &openid("o-alice"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.user_by_phone(&phone_hash(2)).await.unwrap().is_none());
    assert!(store.user(&UserId::generate()).await.unwrap().is_none());
    assert!(
        store
            .user_by_unionid(&unionid("u-bob"))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_unionid_finds_its_user_from_any_app() {
    let store = memory_store().await;
    let user = registered(&store, 1, &identity("wx1", "o-alice-1", Some("u-alice"))).await;
    store
        .bind_identity(
            &user.id,
            &identity("wx2", "o-alice-2", Some("u-alice")),
            at(5),
        )
        .await
        .unwrap();

    let found = store
        .user_by_unionid(&unionid("u-alice"))
        .await
        .unwrap()
        .unwrap();

    assert_eq!(found.id, user.id);
    let mut apps: Vec<_> = store
        .identities(&user.id)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.appid)
        .collect();
    apps.sort();
    assert_eq!(apps, [appid("wx1"), appid("wx2")]);
}

#[tokio::test]
async fn binding_an_identity_moves_it_from_its_previous_user() {
    let store = memory_store().await;
    let shared = identity("wx1", "o-shared", None);
    let alice = registered(&store, 1, &shared).await;
    let bob = registered(&store, 2, &identity("wx1", "o-bob", None)).await;

    store.bind_identity(&bob.id, &shared, at(10)).await.unwrap();

    let owner = store
        .user_by_identity(&shared.appid, &shared.openid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(owner.id, bob.id);
    assert!(store.identities(&alice.id).await.unwrap().is_empty());
    assert_eq!(store.identities(&bob.id).await.unwrap().len(), 2);
}

#[tokio::test]
async fn binding_is_idempotent_and_keeps_a_known_unionid() {
    let store = memory_store().await;
    let user = registered(&store, 1, &identity("wx1", "o-alice", Some("u-alice"))).await;

    // The same binding again, once without the unionid (WeChat does not always send it).
    store
        .bind_identity(
            &user.id,
            &identity("wx1", "o-alice", Some("u-alice")),
            at(5),
        )
        .await
        .unwrap();
    store
        .bind_identity(&user.id, &identity("wx1", "o-alice", None), at(6))
        .await
        .unwrap();

    let summaries = store.identities(&user.id).await.unwrap();
    assert_eq!(
        summaries,
        [IdentitySummary {
            appid: appid("wx1"),
            has_unionid: true
        }]
    );
    assert_eq!(
        store
            .user_by_unionid(&unionid("u-alice"))
            .await
            .unwrap()
            .unwrap()
            .id,
        user.id
    );
}

#[tokio::test]
async fn a_unionid_learned_later_is_recorded() {
    let store = memory_store().await;
    let user = registered(&store, 1, &identity("wx1", "o-alice", None)).await;
    assert!(!store.identities(&user.id).await.unwrap()[0].has_unionid);

    store
        .bind_identity(
            &user.id,
            &identity("wx1", "o-alice", Some("u-alice")),
            at(5),
        )
        .await
        .unwrap();

    assert!(store.identities(&user.id).await.unwrap()[0].has_unionid);
    assert_eq!(
        store
            .user_by_unionid(&unionid("u-alice"))
            .await
            .unwrap()
            .unwrap()
            .id,
        user.id
    );
}

#[tokio::test]
async fn binding_to_a_user_that_does_not_exist_is_an_error() {
    let store = memory_store().await;

    let result = store
        .bind_identity(&UserId::generate(), &identity("wx1", "o-x", None), at(0))
        .await;

    assert!(result.is_err());
}

#[tokio::test]
async fn a_ticket_is_live_until_the_second_it_expires() {
    let store = memory_store().await;
    let me = identity("wx1", "o-alice", Some("u-alice"));
    let stored = ticket("t1", &me); // expires at T0 + 600
    store.put_ticket(&stored).await.unwrap();

    let live = store.live_ticket(&h("t1"), at(599)).await.unwrap().unwrap();
    let at_expiry = store.live_ticket(&h("t1"), at(600)).await.unwrap();
    let after = store.live_ticket(&h("t1"), at(601)).await.unwrap();

    assert_eq!(live.hash, stored.hash);
    assert_eq!(live.identity, me);
    assert_eq!(live.phone_sealed, stored.phone_sealed);
    assert_eq!((live.created_at, live.expires_at), (at(0), at(600)));
    assert!(at_expiry.is_none());
    assert!(after.is_none());
    assert!(
        store
            .live_ticket(&h("never issued"), at(0))
            .await
            .unwrap()
            .is_none()
    );
}
