//! How fast `import_users` runs on SQLite, in batches of 1,000 as the caller sends them: an
//! ignored test that prints the figure (`cargo test --release -p wxlogin-store-sql --test
//! sqlite -- --ignored --nocapture import`). The target is 10,000 users a second.

use std::time::Instant;

use wxlogin_core::admin::{AdminStore, ImportOutcome, ImportUser};
use wxlogin_core::ids::{ExternalId, UserId};
use wxlogin_core::ports::{NewUser, UserRecord};

use crate::support::{FileDb, at, identity};

const BATCHES: u32 = 20;
const BATCH: u32 = 1_000;

fn import(n: u32) -> ImportUser {
    let mut phone_hash = [0; 32];
    phone_hash[..4].copy_from_slice(&n.to_be_bytes());
    ImportUser {
        user: NewUser {
            user: UserRecord {
                id: UserId::generate(),
                phone_sealed: vec![7; 45],
                nickname: Some(format!("user {n}")),
                avatar_url: None,
                created_at: at(0),
                external_id: Some(ExternalId::parse(format!("crm-{n}")).expect("external_id")),
                disabled: false,
                last_login_at: None,
            },
            phone_hash,
        },
        identities: vec![identity("wx1", &format!("o-{n}"), Some(&format!("u-{n}")))],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run it with --release"]
async fn importing_in_batches_of_a_thousand_users() {
    let db = FileDb::new();
    let store = db.open(1).await;
    let batches: Vec<Vec<ImportUser>> = (0..BATCHES)
        .map(|b| (b * BATCH..(b + 1) * BATCH).map(import).collect())
        .collect();

    let started = Instant::now();
    let mut created = 0;
    for batch in batches {
        let outcomes = store.import_users(batch, at(1)).await.unwrap();
        created += outcomes
            .iter()
            .filter(|o| matches!(o, ImportOutcome::Created(_)))
            .count();
    }
    let took = started.elapsed();

    let per_second = f64::from(BATCHES * BATCH) / took.as_secs_f64();
    println!(
        "imported {created} users (1 identity, 2 events each) in {took:?}: {per_second:.0} users/s"
    );
    assert_eq!(created, (BATCHES * BATCH) as usize);
    // A second run finds everyone: the idempotency checks cost about as much as the inserts.
    let started = Instant::now();
    let again = store
        .import_users((0..BATCH).map(import).collect(), at(2))
        .await
        .unwrap();
    println!(
        "re-importing {BATCH} existing users took {:?}",
        started.elapsed()
    );
    assert!(
        again
            .iter()
            .all(|o| matches!(o, ImportOutcome::Existing(_)))
    );
}
