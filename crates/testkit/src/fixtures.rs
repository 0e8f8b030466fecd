//! Fixtures for store tests: fixed times, ids, tickets, users made the only way the ports
//! allow (registration), and refresh families. The helpers that write take any store (the
//! SQL store, or [`crate::fakes::MemoryStore`]).

use time::OffsetDateTime;
use wxlogin_core::crypto::HandleHash;
use wxlogin_core::events::{EventQuery, EventRecord, EventStore};
use wxlogin_core::ids::{AppId, ExternalId, FamilyId, OpenId, UnionId, UserId};
use wxlogin_core::ports::{
    FamilyRecord, Identity, LoginRecord, NewUser, RefreshRecord, RefreshStore, RegisterOutcome,
    SessionRecord, TicketRecord, UserRecord, UserStore,
};

/// A fixed "now" for every test, in whole seconds; tests move around it with [`at`].
pub const T0: i64 = 1_800_000_000;

/// `T0 + secs`.
pub fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(T0 + secs).expect("in range")
}

/// An app id.
pub fn appid(raw: &str) -> AppId {
    AppId::parse(raw).expect("appid")
}

/// An openid.
pub fn openid(raw: &str) -> OpenId {
    OpenId::parse(raw).expect("openid")
}

/// A unionid.
pub fn unionid(raw: &str) -> UnionId {
    UnionId::parse(raw).expect("unionid")
}

/// An identity in app `app`.
pub fn identity(app: &str, open: &str, union: Option<&str>) -> Identity {
    Identity {
        appid: appid(app),
        openid: openid(open),
        unionid: union.map(unionid),
    }
}

/// The hash of a handle named `name`.
pub fn h(name: &str) -> HandleHash {
    HandleHash::of(name)
}

/// A stand-in for the keyed hash of phone number `n`.
pub fn phone_hash(n: u8) -> [u8; 32] {
    [n; 32]
}

/// A new user with phone `n`, created at `T0`.
pub fn new_user(n: u8) -> NewUser {
    let user = UserRecord {
        id: UserId::generate(),
        phone_sealed: vec![n; 45],
        nickname: Some(format!("user {n}")),
        avatar_url: None,
        created_at: at(0),
        external_id: None,
        disabled: false,
        last_login_at: None,
    };
    NewUser {
        user,
        phone_hash: phone_hash(n),
    }
}

/// A ticket for `identity`, issued at `T0`, live until `T0 + 600`.
pub fn ticket(name: &str, identity: &Identity) -> TicketRecord {
    TicketRecord {
        hash: h(name),
        identity: identity.clone(),
        phone_sealed: b"sealed phone".to_vec(),
        created_at: at(0),
        expires_at: at(600),
    }
}

/// Registers a user with phone `n`, bound to `identity`.
pub async fn registered(
    store: &(impl UserStore + ?Sized),
    n: u8,
    identity: &Identity,
) -> UserRecord {
    let name = format!("ticket for user {n} {:?}", identity.appid);
    store
        .put_ticket(&ticket(&name, identity))
        .await
        .expect("put_ticket");
    match store
        .register(&h(&name), at(1), new_user(n), identity)
        .await
        .expect("register")
    {
        RegisterOutcome::Created(user) => user,
        other => panic!("registration failed: {other:?}"),
    }
}

/// A refresh token named `name`, issued at `T0`, live until `T0 + expires`.
pub fn refresh(name: &str, expires: i64) -> RefreshRecord {
    RefreshRecord {
        hash: h(name),
        created_at: at(0),
        expires_at: at(expires),
    }
}

/// The family id `raw`.
pub fn fam(raw: &str) -> FamilyId {
    FamilyId::parse(raw).expect("family id")
}

/// A login that only rotates the session_key of (`app`, `open`) to `key` at `t`: no session,
/// nobody signed in.
pub fn key_login(app: &str, open: &str, key: &[u8], t: OffsetDateTime) -> LoginRecord {
    LoginRecord {
        identity: identity(app, open, None),
        at: t,
        sealed_key: key.to_vec(),
        session: None,
        sign_in: None,
        announce: false,
    }
}

/// A login that only rotates the session_key of (`app`, `open`) to `key` at `t`.
pub fn rotation(app: &AppId, open: &OpenId, key: &[u8], t: OffsetDateTime) -> LoginRecord {
    key_login(app.as_str(), open.as_str(), key, t)
}

/// A login that opens `session` with session_key `key`, at the session's `created_at`.
pub fn session_login(session: &SessionRecord, key: &[u8]) -> LoginRecord {
    LoginRecord {
        identity: session.identity.clone(),
        at: session.created_at,
        sealed_key: key.to_vec(),
        session: Some(session.clone()),
        sign_in: None,
        announce: false,
    }
}

/// A new family `id` for `user` in app wx1, with first token `first` (live until `T0 + 1000`).
pub async fn family(
    store: &(impl RefreshStore + ?Sized),
    user: &UserId,
    id: &str,
    first: &str,
) -> FamilyRecord {
    let family = FamilyRecord {
        id: fam(id),
        user_id: user.clone(),
        appid: appid("wx1"),
        created_at: at(0),
    };
    store
        .create_family(&family, &refresh(first, 1000), false)
        .await
        .expect("create_family");
    family
}

/// A registered user with phone `n`, bound to (wx1, `o-<n>`).
pub async fn user(store: &(impl UserStore + ?Sized), n: u8) -> UserId {
    registered(store, n, &identity("wx1", &format!("o-{n}"), None))
        .await
        .id
}

/// An external_id.
pub fn external_id(raw: &str) -> ExternalId {
    ExternalId::parse(raw).expect("external_id")
}

/// [`new_user`] with an external_id.
pub fn new_user_with_external_id(n: u8, external: &str) -> NewUser {
    let mut new = new_user(n);
    new.user.external_id = Some(external_id(external));
    new
}

/// Every stored event, oldest first, paged through `after` 1,000 at a time.
pub async fn all_events(store: &(impl EventStore + ?Sized)) -> Vec<EventRecord> {
    let mut all: Vec<EventRecord> = Vec::new();
    loop {
        let query = EventQuery {
            after: all.last().map(|e| e.id.clone()),
            limit: 1000,
            ..EventQuery::default()
        };
        let page = store
            .events(&query)
            .await
            .expect("events")
            .expect("after is known");
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
}

/// The events' types, in order: `["user.registered", "identity.bound", …]`.
pub fn kinds(events: &[EventRecord]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

/// The events of `user`, oldest first.
pub async fn events_of(store: &(impl EventStore + ?Sized), user: &UserId) -> Vec<EventRecord> {
    let query = EventQuery {
        user_id: Some(user.clone()),
        limit: 1000,
        ..EventQuery::default()
    };
    store
        .events(&query)
        .await
        .expect("events")
        .expect("no after")
}
