//! AdminStore's reads: the search, a user's detail and the stats; and the lookup hook's user.

use std::collections::HashSet;
use std::sync::Arc;

use wxlogin_core::admin::{AdminStore, CreateOutcome, Stats, UserChange, UserQuery};
use wxlogin_core::events::UserSource;
use wxlogin_core::ids::UserId;
use wxlogin_core::ports::{RefreshStore, UserRecord, UserStore};
use wxlogin_store_sql::SqlStore;
use wxlogin_testkit::TestDb;
use wxlogin_testkit::fixtures::{
    all_events, appid, at, external_id, fam, family, identity, kinds, new_user,
    new_user_with_external_id, openid, phone_hash, refresh, registered, unionid, user,
};

pub(crate) fn ids(users: &[UserRecord]) -> Vec<UserId> {
    users.iter().map(|u| u.id.clone()).collect()
}

pub(crate) async fn search(store: &SqlStore, query: UserQuery) -> Vec<String> {
    ids(&store.search_users(&query).await.unwrap())
        .iter()
        .map(|id| id.as_str().to_owned())
        .collect()
}

pub(crate) fn query() -> UserQuery {
    UserQuery {
        limit: 100,
        ..UserQuery::default()
    }
}

pub(crate) async fn set_nickname(store: &SqlStore, user: &UserId, nickname: &str) {
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
        existing.push(user(&*store, n).await);
    }
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for n in 31..=60u8 {
                user(&*store, n).await;
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
