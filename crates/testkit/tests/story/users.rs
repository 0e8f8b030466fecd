//! UserStore: lookups, identity binding, tickets, the signed-in user.

use wxlogin_core::ids::UserId;
use wxlogin_core::ports::{IdentitySummary, RefreshStore, RegisterOutcome, UserStore};
use wxlogin_testkit::fixtures::fam;

use wxlogin_testkit::fixtures::{
    appid, at, family, h, identity, new_user, openid, phone_hash, registered, ticket, unionid,
};

pub async fn a_registered_user_is_found_by_identity_phone_and_id(db: &impl crate::Db) {
    let store = db.open(1).await;
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

pub async fn unknown_identity_phone_id_and_unionid_find_nobody(db: &impl crate::Db) {
    let store = db.open(1).await;
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

pub async fn a_unionid_finds_its_user_from_any_app(db: &impl crate::Db) {
    let store = db.open(1).await;
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

pub async fn binding_an_identity_moves_it_from_its_previous_user(db: &impl crate::Db) {
    let store = db.open(1).await;
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

pub async fn binding_is_idempotent_and_keeps_a_known_unionid(db: &impl crate::Db) {
    let store = db.open(1).await;
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

pub async fn a_unionid_learned_later_is_recorded(db: &impl crate::Db) {
    let store = db.open(1).await;
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

pub async fn binding_to_a_user_that_does_not_exist_is_an_error(db: &impl crate::Db) {
    let store = db.open(1).await;

    let result = store
        .bind_identity(&UserId::generate(), &identity("wx1", "o-x", None), at(0))
        .await;

    assert!(result.is_err());
}

pub async fn a_ticket_is_live_until_the_second_it_expires(db: &impl crate::Db) {
    let store = db.open(1).await;
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

pub async fn openids_differing_only_in_case_are_different_identities(db: &impl crate::Db) {
    // WeChat ids are case-sensitive; a case-insensitive collation would merge these two.
    let store = db.open(1).await;
    let upper = registered(&store, 1, &identity("wx1", "oAbC", Some("uXyZ"))).await;
    let lower = registered(&store, 2, &identity("wx1", "oabc", Some("uxyz"))).await;

    let found = store
        .user_by_identity(&appid("wx1"), &openid("oAbC"))
        .await
        .unwrap()
        .unwrap();
    let by_union = store
        .user_by_unionid(&unionid("uxyz"))
        .await
        .unwrap()
        .unwrap();

    assert_eq!(found.id, upper.id);
    assert_eq!(by_union.id, lower.id);
    assert!(
        store
            .user_by_identity(&appid("wx1"), &openid("OABC"))
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn text_and_bytes_come_back_exactly_as_stored(db: &impl crate::Db) {
    // Non-ASCII text (4-byte UTF-8 too) and every byte value survive the round trip.
    let store = db.open(1).await;
    let me = identity("wx1", "o-alice", None);
    let mut new = new_user(7);
    new.user.nickname = Some("小明 🐼".to_owned());
    new.user.avatar_url = Some("https://example.com/a.png".to_owned());
    new.user.phone_sealed = (0..=255u8).collect();
    store.put_ticket(&ticket("t1", &me)).await.unwrap();

    let outcome = store.register(&h("t1"), at(1), new, &me).await.unwrap();

    assert!(
        matches!(outcome, RegisterOutcome::Created(_)),
        "{outcome:?}"
    );
    let user = store.user_by_phone(&phone_hash(7)).await.unwrap().unwrap();
    assert_eq!(user.nickname.as_deref(), Some("小明 🐼"));
    assert_eq!(
        user.avatar_url.as_deref(),
        Some("https://example.com/a.png")
    );
    assert_eq!(user.phone_sealed, (0..=255u8).collect::<Vec<_>>());
    assert_eq!(user.created_at, at(0));
}

pub async fn looking_up_an_identity_says_whether_its_unionid_is_recorded(db: &impl crate::Db) {
    let store = db.open(1).await;
    let (app, open) = (appid("wx1"), openid("o-alice"));
    let user = registered(&store, 1, &identity("wx1", "o-alice", None)).await;
    let lookup = async |union: Option<&str>| {
        let union = union.map(unionid);
        store
            .user_by_identity_and_unionid(&app, &open, union.as_ref())
            .await
            .unwrap()
            .map(|(found, recorded)| (found.id, recorded))
    };

    assert_eq!(lookup(None).await, Some((user.id.clone(), true)));
    assert_eq!(
        lookup(Some("u-alice")).await,
        Some((user.id.clone(), false))
    );
    store
        .bind_identity(
            &user.id,
            &identity("wx1", "o-alice", Some("u-alice")),
            at(5),
        )
        .await
        .unwrap();
    assert_eq!(lookup(Some("u-alice")).await, Some((user.id.clone(), true)));
    assert_eq!(
        lookup(Some("u-other")).await,
        Some((user.id.clone(), false))
    );
    assert_eq!(lookup(None).await, Some((user.id.clone(), true)));
    assert_eq!(
        store
            .user_by_identity_and_unionid(&app, &openid("o-nobody"), Some(&unionid("u-alice")))
            .await
            .unwrap()
            .map(|(found, _)| found.id),
        None
    );
}

/// `signed_in_user(family, user)` finds the user, as `user` reads them, with `count`
/// identities, as `identities` reads them (in its order).
async fn assert_signed_in(store: &impl UserStore, family: &str, user: &UserId, count: usize) {
    let (found, identities) = store
        .signed_in_user(&fam(family), user)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{family} signs in nobody"));
    let expected = store.user(user).await.unwrap().unwrap();
    assert_eq!(found.id, expected.id);
    assert_eq!(found.phone_sealed, expected.phone_sealed);
    assert_eq!(found.nickname, expected.nickname);
    assert_eq!(found.avatar_url, expected.avatar_url);
    assert_eq!(found.created_at, expected.created_at);
    assert_eq!(identities, store.identities(user).await.unwrap());
    assert_eq!(identities.len(), count, "{identities:?}");
}

pub async fn the_signed_in_user_comes_with_their_identities_as_user_and_identities_read_them(
    db: &impl crate::Db,
) {
    let store = db.open(1).await;
    // Alice has every user column set; Bob has no avatar.
    let first = identity("wxb", "o-alice", Some("u-alice"));
    let mut new = new_user(1);
    new.user.avatar_url = Some("https://example.com/alice.png".to_owned());
    store.put_ticket(&ticket("t-alice", &first)).await.unwrap();
    let alice = match store.register(&h("t-alice"), at(1), new, &first).await {
        Ok(RegisterOutcome::Created(user)) => user,
        other => panic!("{other:?}"),
    };
    let bob_identity = identity("wx1", "o-bob", None);
    let bob = registered(&store, 2, &bob_identity).await;
    family(&store, &alice.id, "fam-alice", "r-alice").await;
    family(&store, &bob.id, "fam-bob", "r-bob").await;

    assert_signed_in(&store, "fam-alice", &alice.id, 1).await;
    assert_signed_in(&store, "fam-bob", &bob.id, 1).await;

    // Bound in the same second as the first, so the order falls to the appids, which sort
    // differently byte-wise ("wx_" first) and case-insensitively ("wxb" first).
    store
        .bind_identity(&alice.id, &identity("wx_", "o-alice-2", None), at(1))
        .await
        .unwrap();
    assert_signed_in(&store, "fam-alice", &alice.id, 2).await;

    // Bob's only identity moves to Alice: Bob is still signed in, with no identity.
    store
        .bind_identity(&alice.id, &bob_identity, at(7))
        .await
        .unwrap();
    assert_signed_in(&store, "fam-bob", &bob.id, 0).await;
    assert_signed_in(&store, "fam-alice", &alice.id, 3).await;
}

pub async fn a_revoked_family_signs_in_nobody(db: &impl crate::Db) {
    let store = db.open(1).await;
    let alice = registered(&store, 1, &identity("wx1", "o-alice", None)).await;
    family(&store, &alice.id, "alice-phone", "a1").await;
    family(&store, &alice.id, "alice-tablet", "a2").await;

    store
        .revoke_family(&fam("alice-phone"), at(5))
        .await
        .unwrap();

    assert!(
        store
            .signed_in_user(&fam("alice-phone"), &alice.id)
            .await
            .unwrap()
            .is_none()
    );
    assert_signed_in(&store, "alice-tablet", &alice.id, 1).await;

    store.revoke_user(&alice.id, at(6)).await.unwrap();

    assert!(
        store
            .signed_in_user(&fam("alice-tablet"), &alice.id)
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn an_unknown_family_or_another_users_signs_in_nobody(db: &impl crate::Db) {
    let store = db.open(1).await;
    let alice = registered(&store, 1, &identity("wx1", "o-alice", None)).await;
    let bob = registered(&store, 2, &identity("wx1", "o-bob", None)).await;
    family(&store, &alice.id, "fam-alice", "r-alice").await;
    family(&store, &bob.id, "fam-bob", "r-bob").await;

    for (family, user) in [
        ("fam-bob", &alice.id),
        ("fam-alice", &bob.id),
        ("fam-unknown", &alice.id),
        ("fam-alice", &UserId::generate()),
    ] {
        assert!(
            store
                .signed_in_user(&fam(family), user)
                .await
                .unwrap()
                .is_none(),
            "{family} signs in {user:?}"
        );
    }
    assert_signed_in(&store, "fam-alice", &alice.id, 1).await;
    assert_signed_in(&store, "fam-bob", &bob.id, 1).await;
}
