//! SessionStore: sessions and the session_key history.

use wxlogin_core::ports::{
    FamilyRecord, LoginRecord, RefreshStore, RotateOutcome, SessionRecord, SessionStore, UserStore,
};

use wxlogin_testkit::fixtures::{
    appid, at, fam, h, identity, openid, refresh, rotation, session_login, user,
};

pub async fn a_session_is_live_until_the_second_it_expires(db: &impl crate::Db) {
    let store = db.open(1).await;
    let me = identity("wx1", "o-alice", Some("u-alice"));
    let session = SessionRecord {
        hash: h("s1"),
        identity: me.clone(),
        created_at: at(0),
        expires_at: at(3600),
    };
    store
        .record_login(&session_login(&session, b"sealed-key"))
        .await
        .unwrap();

    let live = store
        .live_session(&h("s1"), at(3599))
        .await
        .unwrap()
        .unwrap();
    let at_expiry = store.live_session(&h("s1"), at(3600)).await.unwrap();

    assert_eq!(live.hash, session.hash);
    assert_eq!(live.identity, me);
    assert_eq!((live.created_at, live.expires_at), (at(0), at(3600)));
    assert!(at_expiry.is_none());
    assert!(
        store
            .live_session(&h("never opened"), at(0))
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn an_identity_without_a_session_key_has_no_history(db: &impl crate::Db) {
    let store = db.open(1).await;

    let keys = store
        .session_keys(&appid("wx1"), &openid("o-alice"))
        .await
        .unwrap();

    assert!(keys.is_none());
}

pub async fn rotating_the_session_key_keeps_exactly_one_previous_key(db: &impl crate::Db) {
    let store = db.open(1).await;
    let (app, open) = (appid("wx1"), openid("o-alice"));

    store
        .record_login(&rotation(&app, &open, b"key-1", at(0)))
        .await
        .unwrap();
    let first = store.session_keys(&app, &open).await.unwrap().unwrap();
    store
        .record_login(&rotation(&app, &open, b"key-2", at(10)))
        .await
        .unwrap();
    let second = store.session_keys(&app, &open).await.unwrap().unwrap();
    store
        .record_login(&rotation(&app, &open, b"key-3", at(20)))
        .await
        .unwrap();
    let third = store.session_keys(&app, &open).await.unwrap().unwrap();

    assert_eq!(
        (
            first.current.as_slice(),
            first.previous.as_deref(),
            first.rotated_at
        ),
        (&b"key-1"[..], None, at(0))
    );
    assert_eq!(
        (second.current.as_slice(), second.previous.as_deref()),
        (&b"key-2"[..], Some(&b"key-1"[..]))
    );
    assert_eq!(second.rotated_at, at(10));
    assert_eq!(
        (third.current.as_slice(), third.previous.as_deref()),
        (&b"key-3"[..], Some(&b"key-2"[..]))
    );
    assert_eq!(third.rotated_at, at(20));
}

pub async fn session_keys_are_kept_per_app_and_openid(db: &impl crate::Db) {
    let store = db.open(1).await;

    store
        .record_login(&rotation(
            &appid("wx1"),
            &openid("o-alice"),
            b"alice-in-1",
            at(0),
        ))
        .await
        .unwrap();
    store
        .record_login(&rotation(
            &appid("wx2"),
            &openid("o-alice"),
            b"alice-in-2",
            at(0),
        ))
        .await
        .unwrap();

    let one = store
        .session_keys(&appid("wx1"), &openid("o-alice"))
        .await
        .unwrap()
        .unwrap();
    let two = store
        .session_keys(&appid("wx2"), &openid("o-alice"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (one.current.as_slice(), one.previous),
        (&b"alice-in-1"[..], None)
    );
    assert_eq!(
        (two.current.as_slice(), two.previous),
        (&b"alice-in-2"[..], None)
    );
}

pub async fn opening_a_session_rotates_the_key_and_stores_the_session_together(
    db: &impl crate::Db,
) {
    let store = db.open(1).await;
    let (app, open) = (appid("wx1"), openid("o-alice"));
    let me = identity("wx1", "o-alice", Some("u-alice"));
    let session = |name: &str, created: i64| SessionRecord {
        hash: h(name),
        identity: me.clone(),
        created_at: at(created),
        expires_at: at(created + 3600),
    };

    for (key, name, t) in [(&b"key-1"[..], "s1", 0), (&b"key-2"[..], "s2", 10)] {
        store
            .record_login(&session_login(&session(name, t), key))
            .await
            .unwrap();
    }

    let keys = store.session_keys(&app, &open).await.unwrap().unwrap();
    assert_eq!(
        (keys.current.as_slice(), keys.previous.as_deref()),
        (&b"key-2"[..], Some(&b"key-1"[..]))
    );
    assert_eq!(keys.rotated_at, at(10));
    for (name, created) in [("s1", 0), ("s2", 10)] {
        let live = store.live_session(&h(name), at(11)).await.unwrap().unwrap();
        assert_eq!(live.identity, me);
        assert_eq!(
            (live.created_at, live.expires_at),
            (at(created), at(created + 3600))
        );
    }
}

pub async fn a_session_that_cannot_be_stored_leaves_the_session_key_unrotated(db: &impl crate::Db) {
    let store = db.open(1).await;
    let (app, open) = (appid("wx1"), openid("o-alice"));
    let me = identity("wx1", "o-alice", None);
    let session = SessionRecord {
        hash: h("s1"),
        identity: me.clone(),
        created_at: at(0),
        expires_at: at(3600),
    };
    store
        .record_login(&session_login(&session, b"key-1"))
        .await
        .unwrap();

    // The same handle hash again: the session insert fails, and so the rotation with it.
    let again = store
        .record_login(&LoginRecord {
            at: at(10),
            ..session_login(&session, b"key-2")
        })
        .await;

    assert!(again.is_err());
    let keys = store.session_keys(&app, &open).await.unwrap().unwrap();
    assert_eq!(
        (keys.current.as_slice(), keys.previous.as_deref()),
        (&b"key-1"[..], None)
    );
    assert_eq!(keys.rotated_at, at(0));
}

pub async fn a_login_of_a_known_user_stores_key_session_and_family_in_one_go(db: &impl crate::Db) {
    let store = db.open(1).await;
    let alice = user(&store, 1).await;
    let me = identity("wx1", "o-1", None);
    let session = |name: &str| SessionRecord {
        hash: h(name),
        identity: me.clone(),
        created_at: at(0),
        expires_at: at(3600),
    };
    let family = |id: &str| FamilyRecord {
        id: fam(id),
        user_id: alice.clone(),
        appid: appid("wx1"),
        created_at: at(0),
    };

    store
        .record_login(&LoginRecord {
            sign_in: Some((family("fam-1"), refresh("r1", 1000))),
            ..session_login(&session("s1"), b"key-1")
        })
        .await
        .unwrap();

    assert!(store.live_session(&h("s1"), at(1)).await.unwrap().is_some());
    assert!(store.family_active(&fam("fam-1")).await.unwrap());
    let rotated = store
        .rotate_refresh(&h("r1"), &refresh("r2", 2000), at(10))
        .await
        .unwrap();
    assert!(
        matches!(rotated, RotateOutcome::Rotated(ref f) if f.id == fam("fam-1") && f.user_id == alice),
        "{rotated:?}"
    );

    // A family that cannot be stored (its first token is taken) fails the login whole: no
    // session, no rotation.
    let broken = store
        .record_login(&LoginRecord {
            at: at(20),
            sign_in: Some((family("fam-2"), refresh("r1", 1000))),
            ..session_login(&session("s2"), b"key-2")
        })
        .await;
    assert!(broken.is_err());
    assert!(
        store
            .live_session(&h("s2"), at(21))
            .await
            .unwrap()
            .is_none()
    );
    assert!(!store.family_active(&fam("fam-2")).await.unwrap());
    let keys = store
        .session_keys(&appid("wx1"), &openid("o-1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(keys.current.as_slice(), b"key-1");
}

/// With Redis, sessions live there and the durable store records the rest of a login: the
/// key rotation, and for a known user the sign-in, still all or nothing.
pub async fn a_login_recorded_without_its_session_rotates_the_key_and_signs_in(
    db: &impl crate::Db,
) {
    let store = db.open(1).await;
    let alice = user(&store, 1).await;
    let me = identity("wx1", "o-1", None);
    let login = |key: &[u8], t: i64, sign_in| LoginRecord {
        identity: me.clone(),
        at: at(t),
        sealed_key: key.to_vec(),
        session: None,
        sign_in,
        announce: false,
    };
    let family = |id: &str| FamilyRecord {
        id: fam(id),
        user_id: alice.clone(),
        appid: appid("wx1"),
        created_at: at(0),
    };
    let keys = || async {
        let keys = store
            .session_keys(&appid("wx1"), &openid("o-1"))
            .await
            .unwrap()
            .unwrap();
        (keys.current, keys.previous, keys.rotated_at)
    };

    // A new user: the key alone.
    store.record_login(&login(b"key-1", 0, None)).await.unwrap();
    assert_eq!(keys().await, (b"key-1".to_vec(), None, at(0)));

    // A known user: the key, the family and its first token, and last_login_at.
    let first = Some((family("fam-1"), refresh("r1", 1000)));
    store
        .record_login(&login(b"key-2", 10, first))
        .await
        .unwrap();
    assert_eq!(
        keys().await,
        (b"key-2".to_vec(), Some(b"key-1".to_vec()), at(10))
    );
    assert!(store.family_active(&fam("fam-1")).await.unwrap());
    let signed_in = store.user(&alice).await.unwrap().unwrap();
    assert_eq!(signed_in.last_login_at, Some(at(10)));

    // A family that cannot be stored (its first token is taken) fails the login whole.
    let broken = Some((family("fam-2"), refresh("r1", 1000)));
    assert!(
        store
            .record_login(&login(b"key-3", 20, broken))
            .await
            .is_err()
    );
    assert!(!store.family_active(&fam("fam-2")).await.unwrap());
    assert_eq!(
        keys().await,
        (b"key-2".to_vec(), Some(b"key-1".to_vec()), at(10))
    );
}
