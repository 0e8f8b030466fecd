//! UserStore::register: its three outcomes, all or nothing.

use std::sync::Arc;

use wxlogin_core::ports::{RegisterOutcome, UserStore};

use wxlogin_testkit::fixtures::{at, h, identity, new_user, phone_hash, registered, ticket};

pub async fn registering_consumes_the_ticket_and_binds_the_identity(db: &impl crate::Db) {
    let store = db.open(1).await;
    let me = identity("wx1", "o-alice", Some("u-alice"));
    store.put_ticket(&ticket("t1", &me)).await.unwrap();
    let new = new_user(1);
    let id = new.user.id.clone();

    let outcome = store.register(&h("t1"), at(599), new, &me).await.unwrap();

    let RegisterOutcome::Created(user) = outcome else {
        panic!("expected Created, got {outcome:?}")
    };
    assert_eq!(user.id, id);
    assert!(
        store
            .live_ticket(&h("t1"), at(599))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .user_by_identity(&me.appid, &me.openid)
            .await
            .unwrap()
            .unwrap()
            .id,
        id
    );
    assert_eq!(
        store
            .user_by_phone(&phone_hash(1))
            .await
            .unwrap()
            .unwrap()
            .id,
        id
    );
}

pub async fn a_used_ticket_registers_nobody_else(db: &impl crate::Db) {
    let store = db.open(1).await;
    let me = identity("wx1", "o-alice", None);
    store.put_ticket(&ticket("t1", &me)).await.unwrap();
    assert!(matches!(
        store
            .register(&h("t1"), at(1), new_user(1), &me)
            .await
            .unwrap(),
        RegisterOutcome::Created(_)
    ));

    let again = store
        .register(&h("t1"), at(2), new_user(2), &me)
        .await
        .unwrap();

    assert!(matches!(again, RegisterOutcome::TicketInvalid), "{again:?}");
    assert!(store.user_by_phone(&phone_hash(2)).await.unwrap().is_none());
}

pub async fn an_expired_or_unknown_ticket_changes_nothing(db: &impl crate::Db) {
    let store = db.open(1).await;
    let me = identity("wx1", "o-alice", None);
    store.put_ticket(&ticket("t1", &me)).await.unwrap(); // expires at T0 + 600

    let expired = store
        .register(&h("t1"), at(600), new_user(1), &me)
        .await
        .unwrap();
    let unknown = store
        .register(&h("never issued"), at(1), new_user(1), &me)
        .await
        .unwrap();

    assert!(
        matches!(expired, RegisterOutcome::TicketInvalid),
        "{expired:?}"
    );
    assert!(
        matches!(unknown, RegisterOutcome::TicketInvalid),
        "{unknown:?}"
    );
    assert!(store.user_by_phone(&phone_hash(1)).await.unwrap().is_none());
    assert!(
        store
            .user_by_identity(&me.appid, &me.openid)
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn a_ticket_only_registers_the_identity_it_was_issued_to(db: &impl crate::Db) {
    let store = db.open(1).await;
    store
        .put_ticket(&ticket("t1", &identity("wx1", "o-alice", None)))
        .await
        .unwrap();
    let mallory = identity("wx1", "o-mallory", None);

    let outcome = store
        .register(&h("t1"), at(1), new_user(1), &mallory)
        .await
        .unwrap();

    assert!(
        matches!(outcome, RegisterOutcome::TicketInvalid),
        "{outcome:?}"
    );
    assert!(store.live_ticket(&h("t1"), at(1)).await.unwrap().is_some());
    assert!(
        store
            .user_by_identity(&mallory.appid, &mallory.openid)
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn a_taken_phone_leaves_the_ticket_unused_and_no_half_created_user(db: &impl crate::Db) {
    let store = db.open(1).await;
    let alice = registered(&store, 1, &identity("wx1", "o-alice", None)).await;
    let bob = identity("wx1", "o-bob", None);
    store.put_ticket(&ticket("t-bob", &bob)).await.unwrap();
    let clash = new_user(1); // alice's phone
    let clash_id = clash.user.id.clone();

    let outcome = store
        .register(&h("t-bob"), at(2), clash, &bob)
        .await
        .unwrap();

    assert!(
        matches!(outcome, RegisterOutcome::PhoneTaken),
        "{outcome:?}"
    );
    assert!(
        store
            .live_ticket(&h("t-bob"), at(2))
            .await
            .unwrap()
            .is_some()
    );
    assert!(store.user(&clash_id).await.unwrap().is_none());
    assert!(
        store
            .user_by_identity(&bob.appid, &bob.openid)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .user_by_phone(&phone_hash(1))
            .await
            .unwrap()
            .unwrap()
            .id,
        alice.id
    );
    // The ticket still works, with another phone.
    let retry = store
        .register(&h("t-bob"), at(3), new_user(2), &bob)
        .await
        .unwrap();
    assert!(matches!(retry, RegisterOutcome::Created(_)), "{retry:?}");
}

pub async fn of_concurrent_registrations_with_one_ticket_exactly_one_creates_a_user(
    db: &impl crate::Db,
) {
    let store = Arc::new(db.open(4).await);
    let me = identity("wx1", "o-alice", None);
    store.put_ticket(&ticket("t1", &me)).await.unwrap();

    let mut tasks = tokio::task::JoinSet::new();
    for n in 1..=10u8 {
        let (store, me) = (store.clone(), me.clone());
        tasks.spawn(async move { store.register(&h("t1"), at(1), new_user(n), &me).await });
    }
    let outcomes = tasks.join_all().await;

    let created = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(RegisterOutcome::Created(_))))
        .count();
    let invalid = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(RegisterOutcome::TicketInvalid)))
        .count();
    assert_eq!((created, invalid), (1, 9), "{outcomes:?}");
}
