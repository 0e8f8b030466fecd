//! KeyStore: signing keys and the election of each generation.

use wxlogin_core::ports::{KeyStore, SigningKeyRecord};

use wxlogin_testkit::TestDb;
use wxlogin_testkit::fixtures::at;

fn key(kid: &str, generation: i64) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.to_owned(),
        generation,
        public_key: vec![generation as u8; 32],
        private_sealed: format!("sealed {kid}").into_bytes(),
        created_at: at(generation),
    }
}

pub async fn a_new_database_has_no_signing_keys(db: &TestDb) {
    let store = db.open(1).await;

    assert!(store.signing_keys().await.unwrap().is_empty());
}

pub async fn a_taken_generation_is_refused_and_keys_come_back_oldest_first(db: &TestDb) {
    let store = db.open(1).await;

    let second = store.insert_signing_key(&key("k2", 2)).await.unwrap();
    let first = store.insert_signing_key(&key("k1", 1)).await.unwrap();
    let rival = store.insert_signing_key(&key("k1-rival", 1)).await.unwrap();

    assert!(second && first && !rival);
    let keys = store.signing_keys().await.unwrap();
    let summary: Vec<_> = keys
        .iter()
        .map(|k| (k.kid.as_str(), k.generation))
        .collect();
    assert_eq!(summary, [("k1", 1), ("k2", 2)]);
    assert_eq!(keys[0].public_key, vec![1; 32]);
    assert_eq!(keys[0].private_sealed, b"sealed k1");
    assert_eq!(keys[0].created_at, at(1));
}

pub async fn a_taken_kid_with_a_free_generation_is_an_error_not_a_lost_race(db: &TestDb) {
    let store = db.open(1).await;
    store.insert_signing_key(&key("k1", 1)).await.unwrap();

    let result = store.insert_signing_key(&key("k1", 2)).await;

    assert!(result.is_err());
}

pub async fn two_instances_inserting_the_first_key_at_once_elect_exactly_one(db: &TestDb) {
    let (a, b) = tokio::join!(db.open(2), db.open(2));
    let (key_a, key_b) = (key("k-a", 1), key("k-b", 1));

    let (won_a, won_b) = tokio::join!(a.insert_signing_key(&key_a), b.insert_signing_key(&key_b));

    let (won_a, won_b) = (won_a.unwrap(), won_b.unwrap());
    assert!(won_a != won_b, "exactly one insert wins: {won_a} {won_b}");
    let winner = if won_a { "k-a" } else { "k-b" };
    for store in [&a, &b] {
        let keys = store.signing_keys().await.unwrap();
        assert_eq!(
            keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
            [winner]
        );
    }
}
