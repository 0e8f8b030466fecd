//! AdminStore's changes to a user: profile and status, deletion, signing out everywhere and
//! unbinding an app, each with its events.

use wxlogin_core::admin::{AdminStore, CreateOutcome, UnbindOutcome, UpdateOutcome, UserChange};
use wxlogin_core::events::UserSource;
use wxlogin_core::ids::UserId;
use wxlogin_core::ports::{
    RefreshStore, RegisterOutcome, RotateOutcome, SessionRecord, SessionStore, UserStore,
};
use wxlogin_testkit::TestDb;
use wxlogin_testkit::fixtures::{
    all_events, appid, at, events_of, external_id, fam, family, h, identity, key_login, kinds,
    new_user, new_user_with_external_id, openid, phone_hash, refresh, registered, session_login,
    ticket, unionid, user,
};

use crate::admin::{query, search};

pub async fn updating_a_user_writes_what_changed_and_only_then_an_event(db: &TestDb) {
    let store = db.open(1).await;
    let alice = registered(&store, 1, &identity("wx1", "o-alice", None)).await;
    let before = all_events(&store).await.len();
    let change = UserChange {
        nickname: Some(Some("Alice".to_owned())),
        avatar_url: Some(Some("https://example.com/a.png".to_owned())),
        external_id: Some(Some(external_id("crm-1"))),
        disabled: None,
    };

    let updated = store.update_user(&alice.id, &change, at(10)).await.unwrap();
    let same = store.update_user(&alice.id, &change, at(11)).await.unwrap();
    let nothing = store
        .update_user(&alice.id, &UserChange::default(), at(12))
        .await
        .unwrap();
    let clear = UserChange {
        avatar_url: Some(None),
        ..UserChange::default()
    };
    let cleared = store.update_user(&alice.id, &clear, at(13)).await.unwrap();

    let UpdateOutcome::Updated { user, revoked } = updated else {
        panic!("{updated:?}")
    };
    assert_eq!(user.nickname.as_deref(), Some("Alice"));
    assert_eq!(user.external_id, Some(external_id("crm-1")));
    assert!(revoked.is_empty());
    for outcome in [&same, &nothing] {
        assert!(
            matches!(outcome, UpdateOutcome::Updated { .. }),
            "{outcome:?}"
        );
    }
    let UpdateOutcome::Updated { user: now, .. } = cleared else {
        panic!("{cleared:?}")
    };
    assert_eq!(now.avatar_url, None);
    assert_eq!(now.nickname.as_deref(), Some("Alice"), "left alone");
    let stored = store.user(&alice.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.nickname, stored.avatar_url, stored.external_id),
        (now.nickname, None, Some(external_id("crm-1")))
    );
    let events = all_events(&store).await;
    assert_eq!(kinds(&events[before..]), ["user.updated", "user.updated"]);
    assert_eq!(events[before].at, at(10));
    assert_eq!(events[before].external_id, Some(external_id("crm-1")));
    assert_eq!(events[before + 1].at, at(13));
}

pub async fn an_external_id_of_another_user_changes_nothing(db: &TestDb) {
    let store = db.open(1).await;
    let alice = store
        .create_user(
            new_user_with_external_id(1, "crm-1"),
            &identity("wx1", "o-alice", None),
            UserSource::Lookup,
            at(1),
        )
        .await
        .unwrap();
    assert!(matches!(alice, CreateOutcome::Created(_)), "{alice:?}");
    let bob = user(&store, 2).await;
    let before = all_events(&store).await.len();
    let change = UserChange {
        nickname: Some(Some("Mallory".to_owned())),
        external_id: Some(Some(external_id("crm-1"))),
        disabled: Some(true),
        ..UserChange::default()
    };

    let outcome = store.update_user(&bob, &change, at(10)).await.unwrap();

    assert!(
        matches!(outcome, UpdateOutcome::ExternalIdTaken),
        "{outcome:?}"
    );
    let stored = store.user(&bob).await.unwrap().unwrap();
    assert_eq!(stored.nickname.as_deref(), Some("user 2"));
    assert_eq!((stored.external_id, stored.disabled), (None, false));
    assert_eq!(all_events(&store).await.len(), before);
    // Keeping one's own external_id is no conflict.
    let CreateOutcome::Created(alice) = alice else {
        unreachable!()
    };
    let own = UserChange {
        nickname: Some(Some("Alice".to_owned())),
        external_id: Some(Some(external_id("crm-1"))),
        ..UserChange::default()
    };
    let outcome = store.update_user(&alice.id, &own, at(11)).await.unwrap();
    assert!(
        matches!(outcome, UpdateOutcome::Updated { .. }),
        "{outcome:?}"
    );
}

pub async fn disabling_revokes_every_family_and_deletes_the_sessions_of_the_users_identities(
    db: &TestDb,
) {
    let store = db.open(1).await;
    let me = identity("wx1", "o-alice", None);
    let alice = registered(&store, 1, &me).await.id;
    let bob_identity = identity("wx1", "o-bob", None);
    let bob = registered(&store, 2, &bob_identity).await.id;
    family(&store, &alice, "fam-1", "r1").await;
    family(&store, &alice, "fam-2", "r2").await;
    store.revoke_family(&fam("fam-2"), at(3)).await.unwrap();
    family(&store, &bob, "fam-bob", "rb").await;
    for (name, who) in [("s-alice", &me), ("s-bob", &bob_identity)] {
        let session = SessionRecord {
            hash: h(name),
            identity: who.clone(),
            created_at: at(0),
            expires_at: at(3600),
        };
        store
            .record_login(&session_login(&session, b"k"))
            .await
            .unwrap();
    }
    let disable = |disabled| UserChange {
        disabled: Some(disabled),
        ..UserChange::default()
    };
    let before = all_events(&store).await.len();

    let disabled = store
        .update_user(&alice, &disable(true), at(10))
        .await
        .unwrap();
    let again = store
        .update_user(&alice, &disable(true), at(11))
        .await
        .unwrap();

    let UpdateOutcome::Updated { user, revoked } = disabled else {
        panic!("{disabled:?}")
    };
    assert!(user.disabled);
    assert_eq!(revoked, [fam("fam-1")], "the families that were live");
    assert!(!store.family_active(&fam("fam-1")).await.unwrap());
    assert!(store.family_active(&fam("fam-bob")).await.unwrap());
    assert!(
        store
            .live_session(&h("s-alice"), at(10))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .live_session(&h("s-bob"), at(10))
            .await
            .unwrap()
            .is_some()
    );
    assert!(store.user(&alice).await.unwrap().unwrap().disabled);
    assert!(matches!(again, UpdateOutcome::Updated { ref revoked, .. } if revoked.is_empty()));

    let enabled = store
        .update_user(&alice, &disable(false), at(20))
        .await
        .unwrap();

    assert!(matches!(enabled, UpdateOutcome::Updated { ref user, .. } if !user.disabled));
    assert!(
        !store.family_active(&fam("fam-1")).await.unwrap(),
        "not restored"
    );
    let events = all_events(&store).await;
    assert_eq!(kinds(&events[before..]), ["user.disabled", "user.enabled"]);
    assert_eq!(events[before].at, at(10));
}

pub async fn an_unknown_user_is_found_and_changed_by_no_admin_operation(db: &TestDb) {
    let store = db.open(1).await;
    user(&store, 1).await;
    let nobody = UserId::generate();
    let change = UserChange {
        disabled: Some(true),
        ..UserChange::default()
    };

    let updated = store.update_user(&nobody, &change, at(1)).await.unwrap();
    let unbound = store
        .unbind_identity(&nobody, &appid("wx1"), at(1))
        .await
        .unwrap();

    assert!(matches!(updated, UpdateOutcome::NotFound), "{updated:?}");
    assert!(
        matches!(unbound, UnbindOutcome::UserNotFound),
        "{unbound:?}"
    );
    assert!(store.delete_user(&nobody, at(1)).await.unwrap().is_none());
    assert!(
        store
            .revoke_sessions(&nobody, at(1))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(all_events(&store).await.len(), 2, "the registration's");
}

pub async fn deleting_a_user_erases_their_traces_and_frees_their_phone(db: &TestDb) {
    let store = db.open(1).await;
    let first = identity("wx1", "o-alice", Some("u-alice"));
    let second = identity("wx2", "o-alice-2", Some("u-alice"));
    let created = store
        .create_user(
            new_user_with_external_id(1, "crm-1"),
            &first,
            UserSource::Lookup,
            at(1),
        )
        .await
        .unwrap();
    let CreateOutcome::Created(alice) = created else {
        panic!("{created:?}")
    };
    store
        .bind_identity(&alice.id, &second, at(2))
        .await
        .unwrap();
    let bob = registered(&store, 2, &identity("wx1", "o-bob", Some("u-bob"))).await;
    family(&store, &alice.id, "fam-live", "r1").await;
    family(&store, &alice.id, "fam-revoked", "r2").await;
    store
        .revoke_family(&fam("fam-revoked"), at(3))
        .await
        .unwrap();
    let session = SessionRecord {
        hash: h("s-alice"),
        identity: first.clone(),
        created_at: at(0),
        expires_at: at(3600),
    };
    store
        .record_login(&session_login(&session, b"k"))
        .await
        .unwrap();
    store
        .record_login(&key_login("wx2", "o-alice-2", b"k2", at(4)))
        .await
        .unwrap();
    store.put_ticket(&ticket("t-alice", &first)).await.unwrap();

    let deleted = store.delete_user(&alice.id, at(10)).await.unwrap();
    let again = store.delete_user(&alice.id, at(11)).await.unwrap();

    assert_eq!(deleted, Some(vec![fam("fam-live")]));
    assert_eq!(again, None);
    assert!(store.user(&alice.id).await.unwrap().is_none());
    assert!(store.user_by_phone(&phone_hash(1)).await.unwrap().is_none());
    assert!(
        store
            .user_by_identity(&first.appid, &first.openid)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .user_by_unionid(&unionid("u-alice"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .user_detail(&alice.id, at(10))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(search(&store, query()).await, [bob.id.as_str()]);
    assert!(!store.family_active(&fam("fam-live")).await.unwrap());
    let replay = store
        .rotate_refresh(&h("r1"), &refresh("r1-next", 2000), at(12))
        .await
        .unwrap();
    assert!(matches!(replay, RotateOutcome::Invalid), "{replay:?}");
    assert!(
        store
            .live_session(&h("s-alice"), at(10))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .session_keys(&first.appid, &first.openid)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .session_keys(&second.appid, &second.openid)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .live_ticket(&h("t-alice"), at(10))
            .await
            .unwrap()
            .is_none()
    );

    let events = events_of(&store, &alice.id).await;
    assert_eq!(
        kinds(&events),
        [
            "user.registered",
            "identity.bound",
            "identity.bound",
            "user.deleted"
        ]
    );
    for event in &events {
        assert_eq!((&event.openid, &event.unionid), (&None, &None), "{event:?}");
    }
    assert_eq!(events[0].appid, Some(appid("wx1")), "the app stays");
    let gone = events.last().unwrap();
    assert_eq!(
        (gone.at, gone.external_id.clone()),
        (at(10), Some(external_id("crm-1")))
    );
    let bobs = events_of(&store, &bob.id).await;
    assert!(
        bobs.iter().all(|e| e.openid.is_some()),
        "others' events are kept"
    );

    // The same phone and identity can register again, as someone new.
    store.put_ticket(&ticket("t-again", &first)).await.unwrap();
    let again = store
        .register(&h("t-again"), at(20), new_user(1), &first)
        .await
        .unwrap();
    let RegisterOutcome::Created(newcomer) = again else {
        panic!("{again:?}")
    };
    assert_ne!(newcomer.id, alice.id);
    let found = store.user_by_phone(&phone_hash(1)).await.unwrap().unwrap();
    assert_eq!(found.id, newcomer.id);
}

pub async fn signing_a_user_out_everywhere_revokes_every_family_and_says_so(db: &TestDb) {
    let store = db.open(1).await;
    let alice = user(&store, 1).await;
    let bob = user(&store, 2).await;
    family(&store, &alice, "fam-1", "r1").await;
    family(&store, &alice, "fam-2", "r2").await;
    store.revoke_family(&fam("fam-2"), at(3)).await.unwrap();
    family(&store, &bob, "fam-bob", "rb").await;
    let before = all_events(&store).await.len();

    let revoked = store
        .revoke_sessions(&alice, at(10))
        .await
        .unwrap()
        .unwrap();

    let mut revoked: Vec<_> = revoked.iter().map(|f| f.as_str().to_owned()).collect();
    revoked.sort();
    assert_eq!(
        revoked,
        ["fam-1", "fam-2"],
        "every family, revoked before or now"
    );
    assert!(!store.family_active(&fam("fam-1")).await.unwrap());
    assert!(store.family_active(&fam("fam-bob")).await.unwrap());
    let events = all_events(&store).await;
    assert_eq!(kinds(&events[before..]), ["session.revoked"]);
    assert_eq!(events[before].user_id, alice);
}

pub async fn unbinding_an_app_removes_its_identities_and_revokes_its_families_only(db: &TestDb) {
    let store = db.open(1).await;
    let alice = registered(&store, 1, &identity("wx1", "o-alice", Some("u-alice")))
        .await
        .id;
    store
        .bind_identity(&alice, &identity("wx1", "o-alice-b", None), at(2))
        .await
        .unwrap();
    store
        .bind_identity(&alice, &identity("wx2", "o-alice-2", None), at(2))
        .await
        .unwrap();
    family(&store, &alice, "fam-wx1", "r1").await;
    let in_wx2 = wxlogin_core::ports::FamilyRecord {
        id: fam("fam-wx2"),
        user_id: alice.clone(),
        appid: appid("wx2"),
        created_at: at(0),
    };
    store
        .create_family(&in_wx2, &refresh("r2", 1000), false)
        .await
        .unwrap();
    let before = all_events(&store).await.len();

    let unbound = store
        .unbind_identity(&alice, &appid("wx1"), at(10))
        .await
        .unwrap();
    let again = store
        .unbind_identity(&alice, &appid("wx1"), at(11))
        .await
        .unwrap();

    let UnbindOutcome::Unbound { revoked } = unbound else {
        panic!("{unbound:?}")
    };
    assert_eq!(revoked, [fam("fam-wx1")]);
    assert!(matches!(again, UnbindOutcome::NotBound), "{again:?}");
    assert!(store.family_active(&fam("fam-wx2")).await.unwrap());
    let left: Vec<_> = store
        .identities(&alice)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.appid)
        .collect();
    assert_eq!(left, [appid("wx2")]);
    let events = all_events(&store).await;
    assert_eq!(
        kinds(&events[before..]),
        ["identity.unbound", "identity.unbound"]
    );
    let mut unbound: Vec<_> = events[before..]
        .iter()
        .map(|e| (e.openid.clone(), e.unionid.clone()))
        .collect();
    unbound.sort();
    assert_eq!(
        unbound,
        [
            (Some(openid("o-alice")), Some(unionid("u-alice"))),
            (Some(openid("o-alice-b")), None)
        ]
    );
}
