//! What the login ports write beside their change: events (registration, binding, sign-in,
//! reuse), `last_login_at`, and the refusal of a disabled user's refresh tokens.

use wxlogin_core::admin::{AdminStore, UpdateOutcome, UserChange};
use wxlogin_core::events::{EventStore, UserSource};
use wxlogin_core::ports::{
    FamilyRecord, LoginRecord, RefreshStore, RegisterOutcome, RotateOutcome, SessionRecord,
    SessionStore, UserStore,
};
use wxlogin_testkit::fixtures::{
    all_events, appid, at, events_of, fam, family, h, identity, kinds, new_user, refresh,
    registered, session_login, ticket, user,
};

pub async fn registering_writes_user_registered_then_identity_bound_with_the_identity(
    db: &impl crate::Db,
) {
    let store = db.open(1).await;
    let me = identity("wx1", "o-alice", Some("u-alice"));

    let alice = registered(&store, 1, &me).await;

    let events = all_events(&store).await;
    assert_eq!(kinds(&events), ["user.registered", "identity.bound"]);
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2],
        "numbered from 1, in commit order"
    );
    for event in &events {
        assert_eq!(event.user_id, alice.id);
        assert_eq!(event.appid.as_ref(), Some(&me.appid));
        assert_eq!(event.openid.as_ref(), Some(&me.openid));
        assert_eq!(event.unionid, me.unionid);
        assert_eq!((event.source, &event.external_id), (None, &None));
        assert_eq!(event.at, at(1));
        assert!(event.id.as_str().starts_with("evt_"), "{:?}", event.id);
        assert!(event.deliveries.is_empty());
    }
    assert_ne!(events[0].id, events[1].id);
}

pub async fn a_registration_that_changes_nothing_writes_no_event_and_leaves_no_gap(
    db: &impl crate::Db,
) {
    let store = db.open(1).await;
    registered(&store, 1, &identity("wx1", "o-alice", None)).await;
    let bob = identity("wx1", "o-bob", None);
    store.put_ticket(&ticket("t-bob", &bob)).await.unwrap();

    let taken = store
        .register(&h("t-bob"), at(2), new_user(1), &bob)
        .await
        .unwrap();
    let unknown = store
        .register(&h("never issued"), at(2), new_user(3), &bob)
        .await
        .unwrap();

    assert!(matches!(taken, RegisterOutcome::PhoneTaken), "{taken:?}");
    assert!(
        matches!(unknown, RegisterOutcome::TicketInvalid),
        "{unknown:?}"
    );
    assert_eq!(all_events(&store).await.len(), 2, "alice's two only");
    let created = store
        .register(&h("t-bob"), at(3), new_user(2), &bob)
        .await
        .unwrap();
    assert!(
        matches!(created, RegisterOutcome::Created(_)),
        "{created:?}"
    );
    let seqs: Vec<_> = all_events(&store).await.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        [1, 2, 3, 4],
        "a rolled-back unit gives its numbers back"
    );
}

/// The time `user`'s identity in `app` was bound, as the admin API shows it.
async fn bound_at(store: &impl AdminStore, user: &wxlogin_core::ids::UserId, open: &str) -> i64 {
    let detail = store.user_detail(user, at(0)).await.unwrap().unwrap();
    let found = detail
        .identities
        .iter()
        .find(|i| i.identity.openid.as_str() == open)
        .unwrap_or_else(|| panic!("{open} is not bound to the user"));
    found.bound_at.unix_timestamp() - wxlogin_testkit::fixtures::T0
}

pub async fn binding_writes_identity_bound_only_when_the_binding_is_new_or_moved(
    db: &impl crate::Db,
) {
    let store = db.open(1).await;
    let alice = registered(&store, 1, &identity("wx1", "o-alice", None)).await;
    let bob = registered(&store, 2, &identity("wx1", "o-bob", None)).await;
    let second = identity("wx2", "o-alice-2", None);
    let before = all_events(&store).await.len();

    let new = store
        .bind_identity(&alice.id, &second, at(10))
        .await
        .unwrap();
    let again = store
        .bind_identity(&alice.id, &second, at(11))
        .await
        .unwrap();
    let with_unionid = identity("wx2", "o-alice-2", Some("u-alice"));
    let learned = store
        .bind_identity(&alice.id, &with_unionid, at(12))
        .await
        .unwrap();

    assert_eq!((new, again, learned), (true, false, false));
    let events = all_events(&store).await;
    assert_eq!(kinds(&events[before..]), ["identity.bound"]);
    assert_eq!(events[before].user_id, alice.id);
    assert_eq!(events[before].openid.as_ref(), Some(&second.openid));
    assert_eq!(
        bound_at(&store, &alice.id, "o-alice-2").await,
        10,
        "a no-op keeps bound_at"
    );
    assert!(store.identities(&alice.id).await.unwrap()[1].has_unionid);

    let moved = store.bind_identity(&bob.id, &second, at(20)).await.unwrap();

    assert!(moved);
    let events = all_events(&store).await;
    assert_eq!(
        kinds(&events[before..]),
        ["identity.bound", "identity.bound"]
    );
    let last = events.last().unwrap();
    assert_eq!(last.user_id, bob.id);
    assert_eq!(last.unionid.as_ref().map(|u| u.as_str()), Some("u-alice"));
    assert_eq!(bound_at(&store, &bob.id, "o-alice-2").await, 20);
}

/// `user`'s `last_login_at`, as seconds after T0.
async fn last_login(store: &impl UserStore, user: &wxlogin_core::ids::UserId) -> Option<i64> {
    let found = store.user(user).await.unwrap().unwrap();
    found
        .last_login_at
        .map(|t| t.unix_timestamp() - wxlogin_testkit::fixtures::T0)
}

pub async fn a_sign_in_sets_last_login_at_and_is_announced_only_when_asked(db: &impl crate::Db) {
    let store = db.open(1).await;
    let me = identity("wx1", "o-1", Some("u-1"));
    let alice = registered(&store, 1, &me).await.id;
    let registered_events = all_events(&store).await.len();
    assert_eq!(last_login(&store, &alice).await, None, "as the record said");
    let family_at = |id: &str, t: i64| FamilyRecord {
        id: fam(id),
        user_id: alice.clone(),
        appid: appid("wx1"),
        created_at: at(t),
    };
    let session = |name: &str, t: i64| SessionRecord {
        hash: h(name),
        identity: me.clone(),
        created_at: at(t),
        expires_at: at(t + 3600),
    };
    let login = |name: &str, t: i64, announce: bool| LoginRecord {
        at: at(t),
        sign_in: Some((family_at(name, t), refresh(name, 5000))),
        announce,
        ..session_login(&session(name, t), b"key")
    };

    // PostgreSQL's one-statement login, then the unit (no session: RedisSessions' case).
    store.record_login(&login("s1", 10, false)).await.unwrap();
    assert_eq!(last_login(&store, &alice).await, Some(10));
    let no_session = LoginRecord {
        session: None,
        ..login("s2", 20, false)
    };
    store.record_login(&no_session).await.unwrap();
    assert_eq!(last_login(&store, &alice).await, Some(20));
    // A login that signs nobody in leaves it alone.
    store
        .record_login(&session_login(&session("s3", 25), b"key"))
        .await
        .unwrap();
    assert_eq!(last_login(&store, &alice).await, Some(20));
    assert_eq!(all_events(&store).await.len(), registered_events);

    store.record_login(&login("s4", 30, true)).await.unwrap();
    store
        .create_family(&family_at("f5", 40), &refresh("r5", 5000), false)
        .await
        .unwrap();
    assert_eq!(last_login(&store, &alice).await, Some(40));
    store
        .create_family(&family_at("f6", 50), &refresh("r6", 5000), true)
        .await
        .unwrap();

    assert_eq!(last_login(&store, &alice).await, Some(50));
    let events = all_events(&store).await;
    assert_eq!(
        kinds(&events[registered_events..]),
        ["user.signed_in", "user.signed_in"]
    );
    for (event, t) in events[registered_events..].iter().zip([30, 50]) {
        assert_eq!(event.user_id, alice);
        assert_eq!(event.at, at(t));
        assert_eq!(event.appid.as_ref(), Some(&me.appid));
        assert_eq!(event.openid.as_ref(), Some(&me.openid));
        assert_eq!(event.unionid, me.unionid);
    }
    assert!(store.family_active(&fam("s4")).await.unwrap());
}

pub async fn a_reused_refresh_token_writes_refresh_token_reused_once(db: &impl crate::Db) {
    let store = db.open(1).await;
    let alice = user(&store, 1).await;
    store
        .update_user(
            &alice,
            &UserChange {
                external_id: Some(Some(wxlogin_testkit::fixtures::external_id("crm-1"))),
                ..UserChange::default()
            },
            at(2),
        )
        .await
        .unwrap();
    family(&store, &alice, "fam-1", "r1").await;
    store
        .rotate_refresh(&h("r1"), &refresh("r2", 2000), at(10))
        .await
        .unwrap();
    let before = all_events(&store).await.len();

    let reuse = store
        .rotate_refresh(&h("r1"), &refresh("r-thief", 2000), at(20))
        .await
        .unwrap();
    let replay = store
        .rotate_refresh(&h("r1"), &refresh("r-thief-2", 2000), at(21))
        .await
        .unwrap();

    assert!(matches!(reuse, RotateOutcome::Reused { .. }), "{reuse:?}");
    assert!(matches!(replay, RotateOutcome::Invalid), "{replay:?}");
    let events = all_events(&store).await;
    assert_eq!(kinds(&events[before..]), ["refresh_token.reused"]);
    let reused = &events[before];
    assert_eq!(reused.user_id, alice);
    assert_eq!(
        reused.external_id.as_ref().map(|e| e.as_str()),
        Some("crm-1")
    );
    assert_eq!(reused.at, at(20));
    assert_eq!(
        store.event(&reused.id).await.unwrap().unwrap().seq,
        reused.seq
    );
}

pub async fn a_disabled_users_known_tokens_are_refused_as_user_disabled_and_nothing_changes(
    db: &impl crate::Db,
) {
    let store = db.open(1).await;
    let alice = user(&store, 1).await;
    let bob = user(&store, 2).await;
    family(&store, &alice, "fam-1", "r1").await; // r1 expires at T0 + 1000
    store
        .rotate_refresh(&h("r1"), &refresh("r2", 2000), at(10))
        .await
        .unwrap();
    family(&store, &bob, "fam-bob", "b1").await;
    let disable = |disabled| UserChange {
        disabled: Some(disabled),
        ..UserChange::default()
    };
    let outcome = store
        .update_user(&alice, &disable(true), at(20))
        .await
        .unwrap();
    assert!(
        matches!(outcome, UpdateOutcome::Updated { .. }),
        "{outcome:?}"
    );
    // A family created after disabling (the use cases refuse the user before that; the
    // store does not): its token is live, in an active family.
    family(&store, &alice, "fam-2", "r3").await;
    let before = all_events(&store).await.len();

    // Used (a replay would otherwise revoke), live in a revoked family, live in an active
    // family, expired: all known, all refused as the user's.
    for (token, t) in [("r1", 30), ("r2", 30), ("r3", 30), ("r3", 5000)] {
        let outcome = store
            .rotate_refresh(&h(token), &refresh(&format!("{token}-next"), 9000), at(t))
            .await
            .unwrap();
        assert!(
            matches!(outcome, RotateOutcome::UserDisabled),
            "{token} at {t}: {outcome:?}"
        );
    }

    let unknown = store
        .rotate_refresh(&h("never issued"), &refresh("x", 9000), at(30))
        .await
        .unwrap();
    assert!(matches!(unknown, RotateOutcome::Invalid), "{unknown:?}");
    assert_eq!(
        all_events(&store).await.len(),
        before,
        "no reuse was reported"
    );
    assert!(store.family_active(&fam("fam-2")).await.unwrap());
    let bobs = store
        .rotate_refresh(&h("b1"), &refresh("b2", 2000), at(30))
        .await
        .unwrap();
    assert!(matches!(bobs, RotateOutcome::Rotated(_)), "{bobs:?}");

    store
        .update_user(&alice, &disable(false), at(40))
        .await
        .unwrap();
    let after_enabling = store
        .rotate_refresh(&h("r3"), &refresh("r3-next", 9000), at(50))
        .await
        .unwrap();
    assert!(
        matches!(after_enabling, RotateOutcome::Rotated(ref f) if f.id == fam("fam-2")),
        "the refused presentations left r3 unused: {after_enabling:?}"
    );
    let reuse = store
        .rotate_refresh(&h("r1"), &refresh("r1-next", 9000), at(50))
        .await
        .unwrap();
    assert!(
        matches!(reuse, RotateOutcome::Invalid),
        "fam-1 was revoked by disabling: {reuse:?}"
    );
}

pub async fn of_concurrent_lookups_creating_one_phone_exactly_one_creates_a_user(
    db: &impl crate::Db,
) {
    let store = std::sync::Arc::new(db.open(4).await);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..8 {
        let store = store.clone();
        tasks.spawn(async move {
            let me = identity("wx1", &format!("o-{n}"), None);
            store
                .create_user(new_user(1), &me, UserSource::Lookup, at(1))
                .await
        });
    }
    let outcomes = tasks.join_all().await;

    let created = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(wxlogin_core::admin::CreateOutcome::Created(_))))
        .count();
    let taken = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(wxlogin_core::admin::CreateOutcome::PhoneTaken)))
        .count();
    assert_eq!((created, taken), (1, 7), "{outcomes:?}");
    let events = all_events(&*store).await;
    assert_eq!(kinds(&events), ["user.registered", "identity.bound"]);
    assert_eq!(events_of(&*store, &events[0].user_id).await.len(), 2);
}
