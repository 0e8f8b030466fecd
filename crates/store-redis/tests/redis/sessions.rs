//! `RedisSessions`: sessions in Redis, session_keys in SQL.

use std::sync::Arc;
use wxlogin_testkit::fixtures::rotation;
use wxlogin_testkit::fixtures::session_login;

use time::OffsetDateTime;
use wxlogin_core::crypto::HandleHash;
use wxlogin_core::ports::{SessionRecord, SessionStore};
use wxlogin_store_redis::sessions::RedisSessions;
use wxlogin_testkit::TestDb;
use wxlogin_testkit::fixtures::{appid, at, h, identity, openid};

use super::TestRedis;

fn session(name: &str, created_at: OffsetDateTime, lifetime_secs: i64) -> SessionRecord {
    SessionRecord {
        hash: h(name),
        identity: identity("wxapp0001", "o-alice", Some("u-alice")),
        created_at,
        expires_at: created_at + time::Duration::seconds(lifetime_secs),
    }
}

fn assert_same(found: Option<SessionRecord>, expected: &SessionRecord) {
    let found = found.expect("a live session");
    assert_eq!(found.hash, expected.hash);
    assert_eq!(found.identity, expected.identity);
    assert_eq!(found.created_at, expected.created_at);
    assert_eq!(found.expires_at, expected.expires_at);
}

/// The durable store is testkit's SQLite database, seen only through the port: this crate
/// does not depend on `wxlogin-store-sql`, not even in tests.
async fn sessions(redis: &TestRedis) -> (TestDb, Arc<dyn SessionStore>, RedisSessions) {
    let db = TestDb::sqlite();
    let durable: Arc<dyn SessionStore> = Arc::new(db.open(1).await);
    let sessions = RedisSessions::new(redis.store.clone(), durable.clone());
    (db, durable, sessions)
}

#[tokio::test]
async fn a_session_round_trips_until_its_expiry_by_the_callers_clock() {
    let Some(mut redis) = TestRedis::new().await else {
        return;
    };
    let (_db, _durable, sessions) = sessions(&redis).await;

    let alice = session("alice", at(0), 60);
    sessions
        .record_login(&session_login(&alice, b"sealed-key"))
        .await
        .unwrap();
    assert_same(
        sessions.live_session(&alice.hash, at(0)).await.unwrap(),
        &alice,
    );
    assert_same(
        sessions.live_session(&alice.hash, at(59)).await.unwrap(),
        &alice,
    );
    assert!(
        sessions
            .live_session(&alice.hash, at(60))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        sessions
            .live_session(&h("nobody"), at(0))
            .await
            .unwrap()
            .is_none()
    );

    // Keyed by the handle's hash; the TTL is the session's lifetime, whatever Redis' clock.
    let key = format!("{}{{{}}}:session", redis.prefix, hex::encode(alice.hash.0));
    assert_eq!(redis.keys().await, vec![key.clone()]);
    let ttl = redis.pttl(&key).await;
    assert!((59_000..=60_000).contains(&ttl), "{ttl}");
    let value = String::from_utf8(redis.get(&key).await.unwrap()).unwrap();
    assert!(value.starts_with("1 "), "{value}");
    assert!(value.ends_with(" wxapp0001 o-alice u-alice"), "{value}");

    // A frozen clock far in the past works the same way.
    let past = OffsetDateTime::from_unix_timestamp(1_000_000_000).unwrap();
    let bob = SessionRecord {
        identity: identity("wxapp0001", "o-bob", None),
        ..session("bob", past, 30 * 86_400)
    };
    sessions
        .record_login(&session_login(&bob, b"sealed-key"))
        .await
        .unwrap();
    let thirty_days_later = bob.expires_at - time::Duration::seconds(1);
    assert_same(
        sessions
            .live_session(&bob.hash, thirty_days_later)
            .await
            .unwrap(),
        &bob,
    );
    assert!(
        sessions
            .live_session(&bob.hash, bob.expires_at)
            .await
            .unwrap()
            .is_none()
    );

    // A session dead at birth is not stored.
    let stillborn = session("stillborn", at(0), 0);
    sessions
        .record_login(&session_login(&stillborn, b"sealed-key"))
        .await
        .unwrap();
    assert!(
        sessions
            .live_session(&stillborn.hash, at(-1))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(redis.keys().await.len(), 2);

    redis.cleanup().await;
}

#[tokio::test]
async fn session_keys_live_in_the_durable_store_only() {
    let Some(mut redis) = TestRedis::new().await else {
        return;
    };
    let (_db, durable, sessions) = sessions(&redis).await;
    let (app, alice) = (appid("wxapp0001"), openid("o-alice"));

    assert!(sessions.session_keys(&app, &alice).await.unwrap().is_none());
    sessions
        .record_login(&rotation(&app, &alice, b"sealed-1", at(0)))
        .await
        .unwrap();
    sessions
        .record_login(&rotation(&app, &alice, b"sealed-2", at(10)))
        .await
        .unwrap();

    let keys = durable.session_keys(&app, &alice).await.unwrap().unwrap();
    assert_eq!(keys.current, b"sealed-2");
    assert_eq!(keys.previous.as_deref(), Some(&b"sealed-1"[..]));
    let through_redis = sessions.session_keys(&app, &alice).await.unwrap().unwrap();
    assert_eq!(through_redis.current, b"sealed-2");
    assert_eq!(through_redis.rotated_at, at(10));
    assert!(redis.keys().await.is_empty(), "no session_key in Redis");

    redis.cleanup().await;
}

#[tokio::test]
async fn another_instance_sees_the_session() {
    let Some(redis) = TestRedis::new().await else {
        return;
    };
    let (_db, durable, a) = sessions(&redis).await;
    let b = RedisSessions::new(redis.second_instance().await, durable);
    let carol = session("carol", at(0), 600);
    a.record_login(&session_login(&carol, b"sealed-key"))
        .await
        .unwrap();
    assert_same(
        b.live_session(&HandleHash::of("carol"), at(1))
            .await
            .unwrap(),
        &carol,
    );
    redis.cleanup().await;
}
