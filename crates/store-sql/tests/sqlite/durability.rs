//! What the SQLite engine acknowledged is on disk: a process killed with SIGKILL under load
//! loses no acknowledged login or registration.
//!
//! The test runs itself again as a child process (the same test binary, this one test, with
//! [`CHILD_DB`] set): the child logs in and registers from many tasks at once and prints one
//! line per acknowledged unit; the parent reads lines until enough have come (readiness, no
//! sleeping), kills the child with SIGKILL mid-stream, reads what was printed before the kill,
//! reopens the file and looks every acknowledged unit up. Both `synchronous` levels are
//! tested: they differ on a crash of the machine, not of the process.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use wxlogin_core::crypto::HandleHash;
use wxlogin_core::ids::UserId;
use wxlogin_core::ports::{
    LoginRecord, NewUser, RegisterOutcome, SessionRecord, SessionStore, UserRecord, UserStore,
};
use wxlogin_store_sql::{ConnectOptions, SqlStore, Synchronous};

use crate::support::{FileDb, at, identity, ticket};

/// Set in the child: the database URL to write to.
const CHILD_DB: &str = "WXLOGIN_TEST_SIGKILL_CHILD_DB";
/// Writers in the child, each a task looping login, ticket, registration.
const WRITERS: u32 = 32;
/// Acknowledged units the parent waits for before it kills the child.
const BEFORE_KILL: usize = 400;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_logins_and_registrations_survive_sigkill() {
    survive_sigkill(
        "durability::acknowledged_logins_and_registrations_survive_sigkill",
        Synchronous::Full,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_synchronous_normal_they_survive_sigkill_too() {
    survive_sigkill(
        "durability::with_synchronous_normal_they_survive_sigkill_too",
        Synchronous::Normal,
    )
    .await;
}

/// The parent (or, with [`CHILD_DB`] set, the child) of the test named `test`.
async fn survive_sigkill(test: &str, synchronous: Synchronous) {
    if let Ok(url) = std::env::var(CHILD_DB) {
        return child(&url, synchronous).await;
    }
    let db = FileDb::new();
    db.open(1).await.close().await; // create and migrate

    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_DB, &db.url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the child");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut acked = Vec::new();
    while acked.len() < BEFORE_KILL {
        let line = lines.next().expect("the child ended early").expect("line");
        acked.extend(Ack::parse(&line));
    }
    child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
    // Lines the child wrote before it died were acknowledged too.
    acked.extend(lines.map_while(Result::ok).filter_map(|l| Ack::parse(&l)));
    child.wait().expect("reaped");

    let store = db.open(2).await;
    let (mut logins, mut users) = (0, 0);
    for ack in &acked {
        match ack {
            Ack::Login(hash) => {
                logins += 1;
                let session = store.live_session(hash, at(1)).await.expect("read");
                assert!(session.is_some(), "an acknowledged login was lost");
            }
            Ack::User(id) => {
                users += 1;
                let user = store.user(id).await.expect("read");
                assert!(user.is_some(), "an acknowledged registration was lost");
            }
        }
    }
    assert!(logins > 0 && users > 0, "{logins} logins, {users} users");
}

/// One acknowledged unit, as the child prints it.
enum Ack {
    Login(HandleHash),
    User(UserId),
}

impl Ack {
    fn parse(line: &str) -> Option<Self> {
        match line.split_once(' ')? {
            ("ack-login", name) => Some(Self::Login(HandleHash::of(name))),
            ("ack-user", id) => UserId::parse(id).ok().map(Self::User),
            _ => None,
        }
    }
}

/// The child: writes until it is killed.
async fn child(url: &str, synchronous: Synchronous) {
    let opts = ConnectOptions {
        synchronous,
        ..ConnectOptions::default()
    };
    let store = std::sync::Arc::new(SqlStore::connect(url, opts).await.expect("connect"));
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..WRITERS {
        let store = store.clone();
        tasks.spawn(async move {
            for n in 0u64.. {
                let name = format!("{writer}-{n}");
                let me = identity("wx1", &format!("o-{name}"), None);
                let session = SessionRecord {
                    hash: HandleHash::of(&name),
                    identity: me.clone(),
                    created_at: at(0),
                    expires_at: at(3600),
                };
                let login = LoginRecord {
                    identity: me.clone(),
                    at: at(0),
                    sealed_key: b"sealed key".to_vec(),
                    session: Some(session),
                    sign_in: None,
                    announce: false,
                };
                store.record_login(&login).await.expect("record_login");
                println!("ack-login {name}");

                store.put_ticket(&ticket(&name, &me)).await.expect("ticket");
                let mut phone_hash = [0; 32];
                phone_hash[..4].copy_from_slice(&writer.to_be_bytes());
                phone_hash[4..12].copy_from_slice(&n.to_be_bytes());
                let user = NewUser {
                    user: UserRecord {
                        id: UserId::generate(),
                        phone_sealed: vec![1; 45],
                        nickname: None,
                        avatar_url: None,
                        created_at: at(0),
                        external_id: None,
                        disabled: false,
                        last_login_at: None,
                    },
                    phone_hash,
                };
                match store
                    .register(&HandleHash::of(&name), at(1), user, &me)
                    .await
                    .expect("register")
                {
                    RegisterOutcome::Created(user) => println!("ack-user {}", user.id),
                    other => panic!("registration failed: {other:?}"),
                }
            }
        });
    }
    tasks.join_all().await;
}
