//! `wxlogin copy-data` ([`wxlogin_store_sql::copy::copy_data`]): a SQLite deployment filled
//! through the ports, copied to another database, reads back the same through the ports there.
//!
//! The target is SQLite always, and PostgreSQL and MySQL (or MariaDB) when
//! `WXLOGIN_TEST_POSTGRES_URL` / `WXLOGIN_TEST_MYSQL_URL` name a server; otherwise a visible
//! NOTICE says they were not tested.
//!
//! Long file: one fixture deployment, copied to each target and read back table by table;
//! the checks are the contract of `copy-data` and read best in one place.

// Test code: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use time::OffsetDateTime;
use wxlogin_core::admin::{
    AdminKeyRecord, AdminKeyStore, AdminStore, CreateOutcome, Scope, UserChange,
};
use wxlogin_core::events::{
    DeliveryResult, EventRecord, EventStore, EventType, Subscription, UserSource,
};
use wxlogin_core::ports::{
    KeyStore, RefreshStore, RotateOutcome, SessionRecord, SessionStore, SigningKeyRecord,
    TicketRecord, UserRecord, UserStore,
};
use wxlogin_store_sql::SqlStore;
use wxlogin_store_sql::copy::{CopyError, copy_data, tables};
use wxlogin_testkit::TestDb;
use wxlogin_testkit::fixtures::{
    all_events, appid, at, external_id, fam, family, h, identity, key_login,
    new_user_with_external_id, openid, phone_hash, refresh, registered, session_login, ticket,
    unionid,
};

/// When the copy runs: after everything [`fill`] wrote, before the live ticket and session
/// expire, after the expired ones did.
fn copy_time() -> OffsetDateTime {
    at(100)
}

/// What [`fill`] made that has a generated id.
struct Filled {
    alice: UserRecord,
    bob: UserRecord,
}

/// The webhook endpoint [`fill`] fans out to.
fn hook() -> Subscription {
    let types = EventType::ALL
        .into_iter()
        .filter(|t| t.in_wildcard())
        .collect();
    Subscription {
        endpoint: "hook".to_owned(),
        types,
    }
}

/// A small deployment, written through the ports: two users (one with an identity in a second
/// app, a unionid, an external_id and a nickname changed by an operator, one without), session
/// keys (one with a previous key), a family with a used and a live token, a revoked family,
/// two signing keys, a live and an expired ticket, a live and an expired session; a deleted
/// user, a live and a revoked admin key, and the events of it all with their deliveries to one
/// endpoint: delivered, dead, leased and pending.
async fn fill(store: &SqlStore) -> Filled {
    // The endpoint's cursor, before the first event: it receives every one.
    store.fan_out(&[hook()], at(0), 100).await.unwrap();
    let alice = registered(store, 1, &identity("wx1", "o-alice", Some("u-alice"))).await;
    let bob = registered(store, 2, &identity("wx1", "o-bob", None)).await;
    store
        .bind_identity(
            &alice.id,
            &identity("wx2", "o-alice-2", Some("u-alice")),
            at(5),
        )
        .await
        .unwrap();

    // Sessions of alice's: an expired one, then a live one; each login rotates her key.
    let old = session("s-old", at(-7200), at(-3600));
    let live = session("s-alice", at(0), at(3600));
    for login in [
        session_login(&old, b"sealed key 0"),
        session_login(&live, b"sealed key 1"),
        key_login("wx1", "o-alice", b"sealed key 2", at(10)),
        key_login("wx1", "o-bob", b"sealed bob key", at(3)),
    ] {
        store.record_login(&login).await.unwrap();
    }

    family(store, &alice.id, "fam-alice", "r1").await;
    let rotated = store
        .rotate_refresh(&h("r1"), &refresh("r2", 2000), at(20))
        .await
        .unwrap();
    assert!(matches!(rotated, RotateOutcome::Rotated(_)), "{rotated:?}");
    family(store, &bob.id, "fam-bob", "rb1").await;
    store.revoke_family(&fam("fam-bob"), at(30)).await.unwrap();

    for generation in [1, 2] {
        assert!(
            store
                .insert_signing_key(&signing_key(generation))
                .await
                .unwrap()
        );
    }

    store
        .put_ticket(&ticket(
            "pending",
            &identity("wx1", "o-carol", Some("u-carol")),
        ))
        .await
        .unwrap();
    store
        .put_ticket(&TicketRecord {
            expires_at: at(50),
            ..ticket("stale", &identity("wx1", "o-dave", None))
        })
        .await
        .unwrap();

    let change = UserChange {
        nickname: Some(Some("Alice".to_owned())),
        external_id: Some(Some(external_id("crm-alice"))),
        ..UserChange::default()
    };
    store.update_user(&alice.id, &change, at(40)).await.unwrap();
    let carol = store
        .create_user(
            new_user_with_external_id(3, "crm-carol"),
            &identity("wx1", "o-carol-2", None),
            UserSource::Lookup,
            at(41),
        )
        .await
        .unwrap();
    let CreateOutcome::Created(carol) = carol else {
        panic!("{carol:?}")
    };
    store.delete_user(&carol.id, at(42)).await.unwrap().unwrap();
    for (n, name, revoked) in [(1u8, "ops", true), (2, "ops", false)] {
        let key = AdminKeyRecord {
            id: format!("key-{n}"),
            name: name.to_owned(),
            hash: [n; 32],
            scopes: vec![Scope::UsersRead, Scope::EventsRead],
            created_at: at(i64::from(n)),
            revoked_at: None,
        };
        assert!(store.insert_admin_key(&key).await.unwrap());
        if revoked {
            assert!(store.revoke_admin_key(name, at(43)).await.unwrap());
        }
    }
    store.fan_out(&[hook()], at(50), 100).await.unwrap();
    let events = all_events(store).await;
    store
        .finish_delivery("hook", &events[0].id, &DeliveryResult::Delivered, at(51))
        .await
        .unwrap();
    let dead = DeliveryResult::Dead {
        error: "HTTP 410".to_owned(),
    };
    store
        .finish_delivery("hook", &events[1].id, &dead, at(51))
        .await
        .unwrap();
    let leased = store
        .claim_deliveries(at(52), Duration::from_secs(600), 1)
        .await
        .unwrap();
    assert_eq!(leased.len(), 1);

    Filled { alice, bob }
}

fn signing_key(generation: i64) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: format!("kid-{generation}"),
        generation,
        public_key: vec![u8::try_from(generation).unwrap(); 32],
        private_sealed: format!("sealed private key {generation}").into_bytes(),
        created_at: at(generation),
    }
}

fn session(name: &str, created_at: OffsetDateTime, expires_at: OffsetDateTime) -> SessionRecord {
    SessionRecord {
        hash: h(name),
        identity: identity("wx1", "o-alice", Some("u-alice")),
        created_at,
        expires_at,
    }
}

/// A user as the ports return it, comparable: id, phone sealed, nickname, avatar, created at,
/// external_id, disabled, last login.
type User = (
    String,
    Vec<u8>,
    Option<String>,
    Option<String>,
    OffsetDateTime,
    Option<String>,
    bool,
    Option<OffsetDateTime>,
);

fn user(record: Option<UserRecord>) -> Option<User> {
    record.map(|u| {
        (
            u.id.as_str().to_owned(),
            u.phone_sealed,
            u.nickname,
            u.avatar_url,
            u.created_at,
            u.external_id.map(String::from),
            u.disabled,
            u.last_login_at,
        )
    })
}

/// An event as the ports return it, with its deliveries, comparable (`Debug` leaves out
/// openids).
fn event(e: EventRecord) -> String {
    format!(
        "{} {} {} {} {:?} {:?} {:?} {:?} {:?} {} {:?}",
        e.seq,
        e.id.as_str(),
        e.kind.as_str(),
        e.user_id.as_str(),
        e.external_id.map(String::from),
        e.appid.map(String::from),
        e.openid.map(String::from),
        e.unionid.map(String::from),
        e.source.map(UserSource::as_str),
        e.at,
        e.deliveries,
    )
}

/// A session_key history as the ports return it: current, previous, rotated at.
type Keys = (Vec<u8>, Option<Vec<u8>>, OffsetDateTime);
/// A signing key as the ports return it: kid, generation, public, private sealed, created at.
type SigningKey = (String, i64, Vec<u8>, Vec<u8>, OffsetDateTime);

/// Everything the ports show of a [`fill`]ed deployment at [`copy_time`], in comparable form.
#[derive(Debug, PartialEq)]
struct Seen {
    users_by_identity: Vec<Option<User>>,
    users_by_phone: Vec<Option<User>>,
    users_by_unionid: Vec<Option<User>>,
    identities: Vec<Vec<(String, bool)>>,
    session_keys: Vec<Option<Keys>>,
    families_active: Vec<bool>,
    signing_keys: Vec<SigningKey>,
    live_ticket: Option<(String, Vec<u8>, OffsetDateTime, OffsetDateTime)>,
    live_session: Option<(String, OffsetDateTime, OffsetDateTime)>,
    events: Vec<String>,
    delivery_backlog: (u64, u64),
    admin_keys: Vec<String>,
}

async fn seen(store: &SqlStore, filled: &Filled) -> Seen {
    let mut users_by_identity = Vec::new();
    for (app, open) in [("wx1", "o-alice"), ("wx2", "o-alice-2"), ("wx1", "o-bob")] {
        let found = store
            .user_by_identity(&appid(app), &openid(open))
            .await
            .unwrap();
        users_by_identity.push(user(found));
    }
    let mut users_by_phone = Vec::new();
    for n in [1, 2, 3] {
        users_by_phone.push(user(store.user_by_phone(&phone_hash(n)).await.unwrap()));
    }
    let mut users_by_unionid = Vec::new();
    for union in ["u-alice", "u-carol"] {
        users_by_unionid.push(user(store.user_by_unionid(&unionid(union)).await.unwrap()));
    }
    let mut identities = Vec::new();
    for id in [&filled.alice.id, &filled.bob.id] {
        let mut summaries: Vec<_> = store
            .identities(id)
            .await
            .unwrap()
            .into_iter()
            .map(|s| (s.appid.as_str().to_owned(), s.has_unionid))
            .collect();
        summaries.sort();
        identities.push(summaries);
    }
    let mut session_keys = Vec::new();
    for open in ["o-alice", "o-bob", "o-carol"] {
        let keys = store
            .session_keys(&appid("wx1"), &openid(open))
            .await
            .unwrap();
        session_keys.push(keys.map(|k| (k.current, k.previous, k.rotated_at)));
    }
    let mut families_active = Vec::new();
    for id in ["fam-alice", "fam-bob", "fam-none"] {
        families_active.push(store.family_active(&fam(id)).await.unwrap());
    }
    let signing_keys = store
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| {
            (
                k.kid,
                k.generation,
                k.public_key,
                k.private_sealed,
                k.created_at,
            )
        })
        .collect();
    let live_ticket = store
        .live_ticket(&h("pending"), copy_time())
        .await
        .unwrap()
        .map(|t| {
            (
                format!("{:?}", t.identity),
                t.phone_sealed,
                t.created_at,
                t.expires_at,
            )
        });
    let live_session = store
        .live_session(&h("s-alice"), copy_time())
        .await
        .unwrap()
        .map(|s| (format!("{:?}", s.identity), s.created_at, s.expires_at));
    let events = all_events(store).await.into_iter().map(event).collect();
    let admin_keys = store
        .admin_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| format!("{k:?}"))
        .collect();
    Seen {
        users_by_identity,
        users_by_phone,
        users_by_unionid,
        identities,
        session_keys,
        families_active,
        signing_keys,
        live_ticket,
        live_session,
        events,
        delivery_backlog: store.delivery_backlog().await.unwrap(),
        admin_keys,
    }
}

/// Fills a SQLite deployment, copies it into `target`, and checks the target through the
/// ports: the same users, identities, keys, tokens, ticket and session, and a used refresh
/// token is still detected as reused (which revokes its family, so the live token's rotation
/// is [`a_copied_live_refresh_token_rotates_on_the_target`]).
async fn copy_from_sqlite_reads_back_the_same(target: &TestDb) {
    let source_db = TestDb::sqlite();
    let source = source_db.open(1).await;
    let filled = fill(&source).await;
    let expected = seen(&source, &filled).await;
    source.close().await;

    let report = copy_data(source_db.url(), target.url(), copy_time())
        .await
        .unwrap();

    assert_eq!(
        report.tables,
        [
            ("users", 2),
            ("identities", 3),
            ("session_keys", 2),
            ("refresh_families", 2),
            ("refresh_tokens", 3),
            ("signing_keys", 2),
            // Both registration tickets (used, not yet expired) and "pending"; not "stale".
            ("registration_tickets", 3),
            // "s-alice"; not "s-old".
            ("sessions", 1),
            ("deleted_users", 1),
            ("admin_keys", 2),
            // Registrations (2 × 2, carol's 2), alice's second identity and new profile,
            // carol's deletion; each delivered (or not) to the one endpoint.
            ("events", 9),
            ("webhook_deliveries", 9),
            ("webhook_cursors", 1),
            ("event_seq", 1),
        ]
    );
    assert_eq!(expected.events.len(), 9);
    assert_eq!(expected.delivery_backlog, (7, 1), "one delivered, one dead");
    assert_eq!(expected.admin_keys.len(), 2);
    assert!(report.tables.iter().map(|(t, _)| *t).eq(tables()));
    let store = target.connect(2).await;
    let found = seen(&store, &filled).await;
    assert_eq!(found, expected);
    assert!(found.users_by_identity[0].is_some() && found.live_session.is_some());
    let stale = store.live_ticket(&h("stale"), at(0)).await.unwrap();
    let old = store.live_session(&h("s-old"), at(-5000)).await.unwrap();
    assert!(
        stale.is_none() && old.is_none(),
        "expired rows are not copied"
    );

    let replayed = store
        .rotate_refresh(&h("r1"), &refresh("r-thief", 3000), at(200))
        .await
        .unwrap();
    assert!(
        matches!(&replayed, RotateOutcome::Reused { family_id } if family_id.as_str() == "fam-alice"),
        "{replayed:?}"
    );
    assert!(!store.family_active(&fam("fam-alice")).await.unwrap());
    // The target numbers on after the source's last event, and its copied cursor sends the
    // endpoint that one only.
    let newest = all_events(&store).await.pop().unwrap();
    assert_eq!(
        (newest.seq, newest.kind),
        (10, EventType::RefreshTokenReused)
    );
    assert_eq!(store.fan_out(&[hook()], at(201), 100).await.unwrap(), 1);
    let leased = store
        .claim_deliveries(at(201), Duration::from_secs(60), 10)
        .await
        .unwrap();
    let due: Vec<_> = leased.iter().map(|d| d.event.seq).collect();
    assert_eq!(
        due,
        [4, 5, 6, 7, 8, 9, 10],
        "1 delivered, 2 dead, 3 still leased"
    );
}

/// The live refresh token copied from SQLite rotates on `target`, into its copied family.
async fn a_copied_live_refresh_token_rotates_on_the_target(target: &TestDb) {
    let source_db = TestDb::sqlite();
    let source = source_db.open(1).await;
    let filled = fill(&source).await;
    source.close().await;

    copy_data(source_db.url(), target.url(), copy_time())
        .await
        .unwrap();

    let store = target.connect(2).await;
    let rotated = store
        .rotate_refresh(&h("r2"), &refresh("r3", 3000), at(200))
        .await
        .unwrap();
    match rotated {
        RotateOutcome::Rotated(family) => {
            assert_eq!(family.id, fam("fam-alice"));
            assert_eq!(family.user_id, filled.alice.id);
            assert_eq!(family.created_at, at(0));
        }
        other => panic!("the copied live token rotates: {other:?}"),
    }
    let again = store
        .rotate_refresh(&h("r3"), &refresh("r4", 3000), at(300))
        .await
        .unwrap();
    assert!(matches!(again, RotateOutcome::Rotated(_)), "{again:?}");
}

/// Copying into a target that already has a user is refused, and the target keeps exactly
/// what it had.
async fn a_target_with_users_is_refused_and_left_unchanged(target: &TestDb) {
    let source_db = TestDb::sqlite();
    let source = source_db.open(1).await;
    fill(&source).await;
    source.close().await;
    let existing = target.open(1).await;
    let resident = registered(&existing, 9, &identity("wx9", "o-resident", None)).await;

    let refused = copy_data(source_db.url(), target.url(), copy_time()).await;

    match refused {
        Err(CopyError::TargetNotEmpty(tables)) => {
            assert!(tables.contains(&("users", 1)), "{tables:?}");
        }
        other => panic!("copying into a target with users is refused: {other:?}"),
    }
    let still = existing
        .user_by_phone(&phone_hash(9))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(still.id, resident.id);
    let copied = existing.user_by_phone(&phone_hash(1)).await.unwrap();
    assert!(copied.is_none(), "nothing of the source was written");
    assert!(existing.signing_keys().await.unwrap().is_empty());
}

/// Enough rows for several pages (of 500), with keys that sort differently case-sensitively
/// and not (`O-…` before `o-…` in binary order, interleaved otherwise): copied from SQLite to
/// `target` and from `target` to SQLite again, every row arrives once.
async fn tables_larger_than_a_page_are_copied_whole_both_ways(target: &TestDb) {
    const PER_CASE: usize = 550;
    let (first, last) = (TestDb::sqlite(), TestDb::sqlite());
    let source = first.open(1).await;
    let wx1 = appid("wx1");
    let openids: Vec<String> = (0..PER_CASE)
        .flat_map(|i| [format!("o-{i:04}"), format!("O-{i:04}")])
        .collect();
    for (i, open) in openids.iter().enumerate() {
        source
            .record_login(&key_login(
                "wx1",
                open,
                format!("key {i}").as_bytes(),
                at(0),
            ))
            .await
            .unwrap();
    }
    source.close().await;

    let there = copy_data(first.url(), target.url(), copy_time())
        .await
        .unwrap();
    let back = copy_data(target.url(), last.url(), copy_time())
        .await
        .unwrap();

    assert_eq!(there.rows("session_keys"), 2 * PER_CASE as u64);
    assert_eq!(back, there);
    let store = last.connect(1).await;
    for (i, open) in openids.iter().enumerate() {
        let keys = store.session_keys(&wx1, &openid(open)).await.unwrap();
        assert_eq!(
            keys.map(|k| k.current),
            Some(format!("key {i}").into_bytes()),
            "{open}"
        );
    }
}

/// Runs each scenario on one backend as target (`None` after a NOTICE when not configured).
macro_rules! on_targets {
    ($($scenario:ident),* $(,)?) => {
        on_targets!(@backend sqlite, Sqlite; $($scenario),*);
        on_targets!(@backend postgres, Postgres; $($scenario),*);
        on_targets!(@backend mysql, Mysql; $($scenario),*);
    };
    (@backend $backend:ident, $kind:ident; $($scenario:ident),*) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let backend = wxlogin_testkit::Backend::$kind;
                    if let Some(target) = wxlogin_testkit::TestDb::new(backend).await {
                        super::$scenario(&target).await;
                    }
                }
            )*
        }
    };
}

on_targets! {
    copy_from_sqlite_reads_back_the_same,
    a_copied_live_refresh_token_rotates_on_the_target,
    a_target_with_users_is_refused_and_left_unchanged,
    tables_larger_than_a_page_are_copied_whole_both_ways,
}

#[tokio::test]
async fn a_missing_sqlite_source_is_an_error_and_is_not_created() {
    let source = TestDb::sqlite();
    let target = TestDb::sqlite();

    let result = copy_data(source.url(), target.url(), copy_time()).await;

    assert!(
        matches!(result, Err(CopyError::Store(_))),
        "{:?}",
        result.map(|r| r.tables)
    );
    let path = source.url().trim_start_matches("sqlite://");
    assert!(!std::path::Path::new(path).exists());
}

#[tokio::test]
async fn an_in_memory_database_is_refused_on_either_side() {
    let file = TestDb::sqlite();
    file.open(1).await;

    let from_memory = copy_data("sqlite::memory:", file.url(), copy_time()).await;
    let to_memory = copy_data(file.url(), "sqlite::memory:", copy_time()).await;

    assert!(matches!(from_memory, Err(CopyError::Store(_))));
    assert!(matches!(to_memory, Err(CopyError::Store(_))));
}

/// SQLite → PostgreSQL → MySQL → SQLite: each backend as a source too, and nothing lost on the
/// way. Needs both servers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_survives_a_round_trip_through_every_backend() {
    let (Some(pg), Some(my)) = (TestDb::postgres().await, TestDb::mysql().await) else {
        return;
    };
    let (first, last) = (TestDb::sqlite(), TestDb::sqlite());
    let source = first.open(1).await;
    let filled = fill(&source).await;
    let expected = seen(&source, &filled).await;
    source.close().await;

    let mut reports = Vec::new();
    for (from, to) in [(&first, &pg), (&pg, &my), (&my, &last)] {
        reports.push(copy_data(from.url(), to.url(), copy_time()).await.unwrap());
    }

    assert!(reports.windows(2).all(|w| w[0] == w[1]), "{reports:?}");
    let store = last.connect(1).await;
    assert_eq!(seen(&store, &filled).await, expected);
}
