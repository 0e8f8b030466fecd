//! Fixtures: stores, times, ids, and users made the only way the ports allow (registration).

use tempfile::TempDir;
use time::OffsetDateTime;
use wxlogin_core::crypto::HandleHash;
use wxlogin_core::ids::{AppId, OpenId, UnionId, UserId};
use wxlogin_core::ports::{
    Identity, NewUser, RegisterOutcome, TicketRecord, UserRecord, UserStore,
};
use wxlogin_store_sql::{ConnectOptions, SqlStore};

/// A fixed "now" for every test, in whole seconds; tests move around it with [`at`].
pub const T0: i64 = 1_800_000_000;

/// `T0 + secs`.
pub fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(T0 + secs).expect("in range")
}

/// A migrated private in-memory store.
pub async fn memory_store() -> SqlStore {
    let store = SqlStore::connect("sqlite::memory:", ConnectOptions::default())
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    store
}

/// A database file that does not exist yet, in a directory that does not exist yet, inside a
/// temp dir removed on drop.
pub struct FileDb {
    _dir: TempDir,
    /// `sqlite://…/data/wxlogin.db`.
    pub url: String,
    /// The file itself.
    pub path: std::path::PathBuf,
}

impl FileDb {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("data").join("wxlogin.db");
        let url = format!("sqlite://{}", path.display());
        Self {
            _dir: dir,
            url,
            path,
        }
    }

    /// Connects with `max_connections` and migrates.
    pub async fn open(&self, max_connections: u32) -> SqlStore {
        let opts = ConnectOptions {
            max_connections,
            ..ConnectOptions::default()
        };
        let store = SqlStore::connect(&self.url, opts).await.expect("connect");
        store.migrate().await.expect("migrate");
        store
    }
}

pub fn appid(raw: &str) -> AppId {
    AppId::parse(raw).expect("appid")
}

pub fn openid(raw: &str) -> OpenId {
    OpenId::parse(raw).expect("openid")
}

pub fn unionid(raw: &str) -> UnionId {
    UnionId::parse(raw).expect("unionid")
}

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
pub async fn registered(store: &SqlStore, n: u8, identity: &Identity) -> UserRecord {
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
