//! AdminStore: the search, a user's detail, changes, deletion, sign-out, unbinding, stats and
//! the lookup hook's user, each with its events; and admin keys.

use std::collections::HashSet;
use std::sync::Arc;

use wxlogin_core::admin::{
    AdminKeyRecord, AdminKeyStore, AdminStore, CreateOutcome, Scope, Stats, UnbindOutcome,
    UpdateOutcome, UserChange, UserQuery,
};
use wxlogin_core::events::UserSource;
use wxlogin_core::ids::UserId;
use wxlogin_core::ports::{
    RegisterOutcome, RotateOutcome, SessionRecord, SessionStore, TokenStore, UserRecord, UserStore,
};
use wxlogin_store_sql::SqlStore;
use wxlogin_testkit::TestDb;
use wxlogin_testkit::fixtures::{
    all_events, appid, at, events_of, external_id, fam, family, h, identity, key_login, kinds,
    new_user, new_user_with_external_id, openid, phone_hash, refresh, registered, session_login,
    ticket, unionid, user,
};

fn ids(users: &[UserRecord]) -> Vec<UserId> {
    users.iter().map(|u| u.id.clone()).collect()
}

async fn search(store: &SqlStore, query: UserQuery) -> Vec<String> {
    ids(&store.search_users(&query).await.unwrap())
        .iter()
        .map(|id| id.as_str().to_owned())
        .collect()
}

fn query() -> UserQuery {
    UserQuery {
        limit: 100,
        ..UserQuery::default()
    }
}

async fn set_nickname(store: &SqlStore, user: &UserId, nickname: &str) {
    let change = UserChange {
        nickname: Some(Some(nickname.to_owned())),
        ..UserChange::default()
    };
    store.update_user(user, &change, at(2)).await.unwrap();
}

pub async fn a_search_ands_its_filters_and_matches_nicknames_literally(db: &TestDb) {
    let store = db.open(1).await;
    let a = registered(&store, 1, &identity("wx1", "o-a", Some("u-a")))
        .await
        .id;
    let b = registered(&store, 2, &identity("wx1", "o-b", Some("u-shared")))
        .await
        .id;
    let c = registered(&store, 3, &identity("wx1", "o-c", Some("u-shared")))
        .await
        .id;
    // `a` has the same openid in a second app: still one result.
    store
        .bind_identity(&a, &identity("wx2", "o-a", Some("u-a")), at(3))
        .await
        .unwrap();
    set_nickname(&store, &a, "100% real_name").await;
    set_nickname(&store, &b, "1000 realname").await;
    set_nickname(&store, &c, r"back\slash REAL").await;
    let change = UserChange {
        external_id: Some(Some(external_id("crm-b"))),
        ..UserChange::default()
    };
    store.update_user(&b, &change, at(4)).await.unwrap();
    let nick = |s: &str| UserQuery {
        nickname_contains: Some(s.to_owned()),
        ..query()
    };

    assert_eq!(
        search(&store, query()).await,
        [c.as_str(), b.as_str(), a.as_str()],
        "newest first"
    );
    let by_phone = UserQuery {
        phone_hash: Some(phone_hash(2)),
        ..query()
    };
    assert_eq!(search(&store, by_phone).await, [b.as_str()]);
    let by_openid = UserQuery {
        openid: Some(openid("o-a")),
        ..query()
    };
    assert_eq!(search(&store, by_openid).await, [a.as_str()]);
    let by_unionid = UserQuery {
        unionid: Some(unionid("u-shared")),
        ..query()
    };
    assert_eq!(search(&store, by_unionid).await, [c.as_str(), b.as_str()]);
    let by_external = UserQuery {
        external_id: Some(external_id("crm-b")),
        ..query()
    };
    assert_eq!(search(&store, by_external).await, [b.as_str()]);
    assert_eq!(
        search(&store, nick("0% r")).await,
        [a.as_str()],
        "% is literal"
    );
    assert_eq!(
        search(&store, nick("l_n")).await,
        [a.as_str()],
        "_ is literal"
    );
    assert_eq!(
        search(&store, nick(r"k\s")).await,
        [c.as_str()],
        r"\ is literal"
    );
    assert_eq!(
        search(&store, nick("real")).await,
        [b.as_str(), a.as_str()],
        "case counts"
    );
    assert_eq!(search(&store, nick("REAL")).await, [c.as_str()]);
    assert_eq!(search(&store, nick("%")).await, [a.as_str()]);
    let and = UserQuery {
        unionid: Some(unionid("u-shared")),
        nickname_contains: Some("real".to_owned()),
        ..query()
    };
    assert_eq!(search(&store, and).await, [b.as_str()]);
    let none = UserQuery {
        openid: Some(openid("o-a")),
        external_id: Some(external_id("crm-b")),
        ..query()
    };
    assert!(search(&store, none).await.is_empty());
    let empty = UserQuery {
        limit: 0,
        ..query()
    };
    assert!(search(&store, empty).await.is_empty());
}

pub async fn paging_users_newest_first_while_others_register_neither_skips_nor_repeats(
    db: &TestDb,
) {
    let store = Arc::new(db.open(4).await);
    let mut existing = Vec::new();
    for n in 1..=30u8 {
        existing.push(user(&store, n).await);
    }
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for n in 31..=60u8 {
                user(&store, n).await;
                tokio::task::yield_now().await;
            }
        })
    };

    let mut seen: Vec<UserId> = Vec::new();
    loop {
        let page = UserQuery {
            before: seen.last().cloned(),
            limit: 7,
            ..UserQuery::default()
        };
        let page = store.search_users(&page).await.unwrap();
        if page.is_empty() {
            break;
        }
        seen.extend(ids(&page));
        tokio::task::yield_now().await;
    }
    writer.await.unwrap();

    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "strictly newest first"
    );
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no repeats");
    for id in &existing {
        assert!(unique.contains(id), "{id:?} was skipped");
    }
}

pub async fn a_users_detail_shows_their_identities_and_live_sessions(db: &TestDb) {
    let store = db.open(1).await;
    let alice = registered(&store, 1, &identity("wx1", "o-alice", Some("u-alice"))).await;
    store
        .bind_identity(&alice.id, &identity("wx2", "o-alice-2", None), at(5))
        .await
        .unwrap();
    family(&store, &alice.id, "live", "r-live").await; // expires at T0 + 1000
    family(&store, &alice.id, "revoked", "r-revoked").await;
    store.revoke_family(&fam("revoked"), at(6)).await.unwrap();
    let short = wxlogin_core::ports::FamilyRecord {
        id: fam("short"),
        user_id: alice.id.clone(),
        appid: appid("wx1"),
        created_at: at(0),
    };
    store
        .create_family(&short, &refresh("r-short", 100), false)
        .await
        .unwrap();

    let detail = store.user_detail(&alice.id, at(50)).await.unwrap().unwrap();
    let later = store
        .user_detail(&alice.id, at(500))
        .await
        .unwrap()
        .unwrap();

    assert_eq!(detail.user.id, alice.id);
    assert_eq!(detail.user.phone_sealed, alice.phone_sealed);
    let bound: Vec<_> = detail
        .identities
        .iter()
        .map(|i| (i.identity.clone(), i.bound_at))
        .collect();
    assert_eq!(
        bound,
        [
            (identity("wx1", "o-alice", Some("u-alice")), at(1)),
            (identity("wx2", "o-alice-2", None), at(5)),
        ]
    );
    assert_eq!(detail.live_sessions, 2, "live and short; not revoked");
    assert_eq!(later.live_sessions, 1, "short's only token expired");
    assert!(
        store
            .user_detail(&UserId::generate(), at(0))
            .await
            .unwrap()
            .is_none()
    );
}

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

pub async fn stats_count_users_recent_registrations_sign_ins_and_disabled_users(db: &TestDb) {
    let store = db.open(1).await;
    let old = new_user(1); // created at T0
    let mut recent = new_user(2);
    recent.user.created_at = at(90_000);
    let mut third = new_user(3);
    third.user.created_at = at(95_000);
    let mut ids = Vec::new();
    for (n, new) in [old, recent, third].into_iter().enumerate() {
        let me = identity("wx1", &format!("o-{n}"), None);
        let CreateOutcome::Created(u) = store
            .create_user(new, &me, UserSource::Lookup, at(1))
            .await
            .unwrap()
        else {
            panic!("created")
        };
        ids.push(u.id);
    }
    family(&store, &ids[0], "fam-old", "r-old").await; // created at T0
    let late = wxlogin_core::ports::FamilyRecord {
        id: fam("fam-late"),
        user_id: ids[1].clone(),
        appid: appid("wx1"),
        created_at: at(95_000),
    };
    store
        .create_family(&late, &refresh("r-late", 99_000), false)
        .await
        .unwrap();
    let disable = UserChange {
        disabled: Some(true),
        ..UserChange::default()
    };
    store
        .update_user(&ids[2], &disable, at(95_500))
        .await
        .unwrap();

    let stats = store.stats(at(100_000)).await.unwrap();

    assert_eq!(
        stats,
        Stats {
            users: 3,
            registrations_24h: 2,
            logins_24h: 1,
            disabled: 1
        }
    );
}

pub async fn a_lookup_user_is_created_with_its_identity_or_names_who_holds_the_phone_or_id(
    db: &TestDb,
) {
    let store = db.open(1).await;
    let me = identity("wx1", "o-alice", Some("u-alice"));
    let mut new = new_user_with_external_id(1, "crm-1");
    new.user.last_login_at = Some(at(1));
    let id = new.user.id.clone();

    let created = store
        .create_user(new, &me, UserSource::Lookup, at(1))
        .await
        .unwrap();

    let CreateOutcome::Created(alice) = created else {
        panic!("{created:?}")
    };
    assert_eq!(alice.id, id);
    let stored = store
        .user_by_identity(&me.appid, &me.openid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.id, id);
    assert_eq!(stored.external_id, Some(external_id("crm-1")));
    assert_eq!(stored.last_login_at, Some(at(1)));
    let events = all_events(&store).await;
    assert_eq!(kinds(&events), ["user.registered", "identity.bound"]);
    assert_eq!(events[0].source, Some(UserSource::Lookup));
    assert_eq!(events[1].source, None);
    assert!(
        events
            .iter()
            .all(|e| e.external_id == Some(external_id("crm-1")))
    );
    assert!(events.iter().all(|e| e.openid == Some(me.openid.clone())));

    let other = identity("wx1", "o-other", None);
    let phone = store
        .create_user(
            new_user_with_external_id(1, "crm-2"),
            &other,
            UserSource::Lookup,
            at(2),
        )
        .await
        .unwrap();
    let external = store
        .create_user(
            new_user_with_external_id(2, "crm-1"),
            &other,
            UserSource::Lookup,
            at(2),
        )
        .await
        .unwrap();

    assert!(matches!(phone, CreateOutcome::PhoneTaken), "{phone:?}");
    assert!(
        matches!(external, CreateOutcome::ExternalIdTaken(ref owner) if *owner == id),
        "{external:?}"
    );
    assert!(
        store
            .user_by_identity(&other.appid, &other.openid)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.user_by_phone(&phone_hash(2)).await.unwrap().is_none());
    assert_eq!(all_events(&store).await.len(), 2);
}

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
