//! RefreshStore: families, rotation, reuse detection, revocation.

use std::sync::Arc;
use wxlogin_testkit::fixtures::fam;

use wxlogin_core::ports::{FamilyRecord, RefreshStore, RotateOutcome};

use wxlogin_testkit::fixtures::{appid, at, family, h, refresh, user};

pub async fn a_new_family_is_active_and_an_unknown_one_is_not(db: &impl crate::Db) {
    let store = db.open(1).await;
    let alice = user(&store, 1).await;

    family(&store, &alice, "fam-1", "r1").await;

    assert!(store.family_active(&fam("fam-1")).await.unwrap());
    assert!(!store.family_active(&fam("fam-unknown")).await.unwrap());
}

pub async fn a_family_whose_first_token_cannot_be_stored_is_not_created(db: &impl crate::Db) {
    let store = db.open(1).await;
    let alice = user(&store, 1).await;
    family(&store, &alice, "fam-1", "r1").await;
    let second = FamilyRecord {
        id: fam("fam-2"),
        user_id: alice,
        appid: appid("wx1"),
        created_at: at(0),
    };

    // r1 is taken: the family goes with it (a token's family is the one it is stored with).
    let result = store
        .create_family(&second, &refresh("r1", 1000), false)
        .await;

    assert!(result.is_err());
    assert!(!store.family_active(&fam("fam-2")).await.unwrap());
    assert!(store.family_active(&fam("fam-1")).await.unwrap());
}

pub async fn rotating_a_live_token_returns_its_family_and_the_new_token_rotates_next(
    db: &impl crate::Db,
) {
    let store = db.open(1).await;
    let alice = user(&store, 1).await;
    family(&store, &alice, "fam-1", "r1").await;

    // The new record's family_id is not known to the caller before rotating.
    let first = store
        .rotate_refresh(&h("r1"), &refresh("r2", 2000), at(10))
        .await
        .unwrap();
    let second = store
        .rotate_refresh(&h("r2"), &refresh("r3", 3000), at(20))
        .await
        .unwrap();

    let RotateOutcome::Rotated(rotated) = first else {
        panic!("expected Rotated, got {first:?}")
    };
    assert_eq!(
        (
            rotated.id.as_str(),
            &rotated.user_id,
            &rotated.appid,
            rotated.created_at
        ),
        ("fam-1", &alice, &appid("wx1"), at(0))
    );
    assert!(
        matches!(second, RotateOutcome::Rotated(ref f) if f.id.as_str() == "fam-1"),
        "{second:?}"
    );
    assert!(store.family_active(&fam("fam-1")).await.unwrap());
}

pub async fn presenting_a_used_token_revokes_its_family_and_the_newest_token_dies_with_it(
    db: &impl crate::Db,
) {
    let store = db.open(1).await;
    let alice = user(&store, 1).await;
    family(&store, &alice, "fam-1", "r1").await;
    store
        .rotate_refresh(&h("r1"), &refresh("r2", 2000), at(10))
        .await
        .unwrap();

    let replay = store
        .rotate_refresh(&h("r1"), &refresh("r-thief", 2000), at(20))
        .await
        .unwrap();

    assert!(matches!(replay, RotateOutcome::Reused { .. }), "{replay:?}");
    assert!(!store.family_active(&fam("fam-1")).await.unwrap());
    let newest = store
        .rotate_refresh(&h("r2"), &refresh("r3", 3000), at(30))
        .await
        .unwrap();
    assert!(matches!(newest, RotateOutcome::Invalid), "{newest:?}");
    let thief = store
        .rotate_refresh(&h("r-thief"), &refresh("r4", 3000), at(30))
        .await
        .unwrap();
    assert!(
        matches!(thief, RotateOutcome::Invalid),
        "the thief's token was never stored: {thief:?}"
    );
    let replay_again = store
        .rotate_refresh(&h("r1"), &refresh("r5", 3000), at(40))
        .await
        .unwrap();
    assert!(
        matches!(replay_again, RotateOutcome::Invalid),
        "{replay_again:?}"
    );
}

pub async fn a_token_is_rotatable_until_the_second_it_expires(db: &impl crate::Db) {
    let store = db.open(1).await;
    let alice = user(&store, 1).await;
    family(&store, &alice, "fam-1", "r1").await; // r1 expires at T0 + 1000
    family(&store, &alice, "fam-2", "r2").await; // so does r2

    let at_expiry = store
        .rotate_refresh(&h("r1"), &refresh("r1-next", 2000), at(1000))
        .await
        .unwrap();
    let just_before = store
        .rotate_refresh(&h("r2"), &refresh("r2-next", 2000), at(999))
        .await
        .unwrap();

    assert!(matches!(at_expiry, RotateOutcome::Invalid), "{at_expiry:?}");
    assert!(
        store.family_active(&fam("fam-1")).await.unwrap(),
        "an expired token is not a reuse"
    );
    assert!(
        matches!(just_before, RotateOutcome::Rotated(_)),
        "{just_before:?}"
    );
}

pub async fn a_used_token_presented_after_its_expiry_still_counts_as_reuse(db: &impl crate::Db) {
    let store = db.open(1).await;
    let alice = user(&store, 1).await;
    family(&store, &alice, "fam-1", "r1").await; // r1 expires at T0 + 1000
    store
        .rotate_refresh(&h("r1"), &refresh("r2", 5000), at(10))
        .await
        .unwrap();

    let replay = store
        .rotate_refresh(&h("r1"), &refresh("r-thief", 9000), at(2000))
        .await
        .unwrap();

    assert!(matches!(replay, RotateOutcome::Reused { .. }), "{replay:?}");
    assert!(!store.family_active(&fam("fam-1")).await.unwrap());
}

pub async fn an_unknown_token_is_invalid(db: &impl crate::Db) {
    let store = db.open(1).await;

    let outcome = store
        .rotate_refresh(&h("never issued"), &refresh("r2", 2000), at(0))
        .await
        .unwrap();

    assert!(matches!(outcome, RotateOutcome::Invalid), "{outcome:?}");
}

pub async fn a_live_token_of_a_revoked_family_is_invalid_and_revoking_is_idempotent(
    db: &impl crate::Db,
) {
    let store = db.open(1).await;
    let alice = user(&store, 1).await;
    family(&store, &alice, "fam-1", "r1").await;

    store.revoke_family(&fam("fam-1"), at(5)).await.unwrap();
    store.revoke_family(&fam("fam-1"), at(6)).await.unwrap();
    store
        .revoke_family(&fam("fam-unknown"), at(6))
        .await
        .unwrap();

    assert!(!store.family_active(&fam("fam-1")).await.unwrap());
    let outcome = store
        .rotate_refresh(&h("r1"), &refresh("r2", 2000), at(10))
        .await
        .unwrap();
    assert!(matches!(outcome, RotateOutcome::Invalid), "{outcome:?}");
}

pub async fn revoking_a_user_revokes_all_their_families_and_nobody_elses(db: &impl crate::Db) {
    let store = db.open(1).await;
    let alice = user(&store, 1).await;
    let bob = user(&store, 2).await;
    family(&store, &alice, "alice-phone", "a1").await;
    family(&store, &alice, "alice-tablet", "a2").await;
    family(&store, &bob, "bob-phone", "b1").await;

    store.revoke_user(&alice, at(5)).await.unwrap();
    store.revoke_user(&alice, at(6)).await.unwrap();

    assert!(!store.family_active(&fam("alice-phone")).await.unwrap());
    assert!(!store.family_active(&fam("alice-tablet")).await.unwrap());
    assert!(store.family_active(&fam("bob-phone")).await.unwrap());
    let outcome = store
        .rotate_refresh(&h("a2"), &refresh("a3", 2000), at(10))
        .await
        .unwrap();
    assert!(matches!(outcome, RotateOutcome::Invalid), "{outcome:?}");
}

pub async fn of_fifty_concurrent_rotations_of_one_token_exactly_one_succeeds(db: &impl crate::Db) {
    let store = Arc::new(db.open(4).await);
    let alice = user(&*store, 1).await;
    family(&*store, &alice, "fam-1", "r1").await;

    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..50 {
        let store = store.clone();
        tasks.spawn(async move {
            let new = refresh(&format!("r2-{n}"), 2000);
            store
                .rotate_refresh(&h("r1"), &new, at(10))
                .await
                .map(|outcome| (n, outcome))
        });
    }
    let outcomes: Vec<_> = tasks
        .join_all()
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    let winners: Vec<_> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, RotateOutcome::Rotated(_)))
        .collect();
    let reused = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, RotateOutcome::Reused { .. }))
        .count();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    // The first loser sees a used token in an active family; the rest, a revoked family.
    assert_eq!(reused, 1, "{outcomes:?}");
    assert!(!store.family_active(&fam("fam-1")).await.unwrap());
    let winner_token = h(&format!("r2-{}", winners[0].0));
    let next = store
        .rotate_refresh(&winner_token, &refresh("r3", 3000), at(20))
        .await
        .unwrap();
    assert!(matches!(next, RotateOutcome::Invalid), "{next:?}");
}
