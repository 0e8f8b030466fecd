//! The deliverer and the lookup client against the examples in `examples/webhooks` and
//! `examples/lookup`, which verify with the official Standard Webhooks library (PyPI
//! `standardwebhooks`): a check of our signing that shares no code with it. Installed with
//! pip when missing; where it cannot be, the tests print a NOTICE and pass (CI fails on it).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

use tempfile::TempDir;
use time::OffsetDateTime;
use url::Url;
use wxlogin_core::events::{DeliveryStatus, EventType};
use wxlogin_core::ids::ExternalId;
use wxlogin_core::ports::{LookupAnswer, UserLookup};
use wxlogin_hooks::{DelivererConfig, HttpUserLookup, LookupConfig, WebhookSecret};

use crate::lookup::request;
use crate::support::{ManualClock, deliverer, endpoint, sealer, with_identity};

/// `python3` with `standardwebhooks` importable, or `None` after a visible notice.
fn python() -> Option<&'static str> {
    static READY: OnceLock<bool> = OnceLock::new();
    let ready = *READY.get_or_init(|| {
        let importable = || {
            Command::new("python3")
                .args(["-c", "import standardwebhooks"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if importable() {
            return true;
        }
        let installed = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "standardwebhooks"])
            .status()
            .is_ok_and(|s| s.success());
        let ready = installed && importable();
        if !ready {
            // A direct write: libtest swallows eprintln! from passing tests.
            let _ = writeln!(
                io::stderr(),
                "NOTICE: python3 with standardwebhooks unavailable; signing against the official \
                 library was NOT tested"
            );
        }
        ready
    });
    ready.then_some("python3")
}

/// One of the example receivers, on a port of its own choosing; killed on drop (and its
/// stderr shown if the test failed).
struct Script {
    child: Child,
    base: Url,
    log: PathBuf,
}

impl Script {
    fn start(python: &str, script: &str, args: &[&str], env: (&str, &str), dir: &Path) -> Self {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples")
            .join(script);
        let log = dir.join(format!("{}.stderr", script.replace('/', "-")));
        let mut child = Command::new(python)
            .arg(path)
            .args(["--port", "0"])
            .args(args)
            .env(env.0, env.1)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let mut script = Self {
            child,
            base: Url::parse("http://127.0.0.1/").unwrap(),
            log,
        };
        // Python's start and the library's import; the bound keeps a broken script from
        // hanging the suite.
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        let address = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{script} did not start: {line:?}\n{}", script.stderr()));
        script.base = Url::parse(address).unwrap();
        script
    }

    fn url(&self, path: &str) -> Url {
        self.base.join(path).unwrap()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl std::fmt::Display for Script {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "receiver (pid {})", self.child.id())
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let _ = writeln!(io::stderr(), "{self} stderr:\n{}", self.stderr());
        }
    }
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The library checks timestamps against the wall clock, so the manual clock starts now;
/// the schedules driven here stay within its five minutes.
fn wall_clock() -> std::sync::Arc<ManualClock> {
    std::sync::Arc::new(ManualClock::at(OffsetDateTime::now_utc()))
}

#[tokio::test]
async fn the_official_library_verifies_a_delivery_and_refuses_a_wrong_secret() {
    let Some(python) = python() else { return };
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("events.jsonl");
    let secret = WebhookSecret::generate();
    let receiver = Script::start(
        python,
        "webhooks/receiver.py",
        &["--out", out.to_str().unwrap()],
        ("WEBHOOK_SECRET", &secret.expose_secret()),
        dir.path(),
    );
    let good = endpoint(receiver.url("/wxlogin"), &secret, &["*"], true);
    let wrong = endpoint(
        receiver.url("/other"),
        &WebhookSecret::generate(),
        &["*"],
        false,
    );
    let (good_id, wrong_id) = (good.id(), wrong.id());
    let store = std::sync::Arc::new(crate::support::FakeStore::default());
    let clock = wall_clock();
    let deliverer = deliverer(
        &store,
        &clock,
        vec![good, wrong],
        DelivererConfig::default(),
    );
    deliverer.run_once().await;
    let user = store.add_user(&sealer(), "86:13800138000");
    let event = store.push_with(
        EventType::UserRegistered,
        &user,
        clock_now(&clock),
        with_identity,
    );

    assert_eq!(deliverer.run_once().await, 2);

    let good_state = store.delivery(&good_id, &event.id).unwrap();
    assert_eq!(
        good_state.status,
        DeliveryStatus::Delivered,
        "{}",
        receiver.stderr()
    );
    let wrong_state = store.delivery(&wrong_id, &event.id).unwrap();
    assert_eq!(wrong_state.last_error.as_deref(), Some("HTTP 401"));
    let events = lines(&out);
    assert_eq!(events.len(), 1, "only the verified delivery is written");
    assert_eq!(events[0]["id"], event.id.as_str());
    assert_eq!(events[0]["type"], "user.registered");
    assert_eq!(events[0]["data"]["user_id"], user.as_str());
    assert_eq!(events[0]["data"]["phone"], "+8613800138000");
}

fn clock_now(clock: &ManualClock) -> OffsetDateTime {
    wxlogin_core::clock::Clock::now(clock)
}

#[tokio::test]
async fn the_official_receiver_failing_three_times_gets_the_event_once_on_the_fourth_attempt() {
    let Some(python) = python() else { return };
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("events.jsonl");
    let secret = WebhookSecret::generate();
    let receiver = Script::start(
        python,
        "webhooks/receiver.py",
        &["--out", out.to_str().unwrap(), "--fail-first", "3"],
        ("WEBHOOK_SECRET", &secret.expose_secret()),
        dir.path(),
    );
    let hook = endpoint(receiver.url("/"), &secret, &["*"], false);
    let id = hook.id();
    let store = std::sync::Arc::new(crate::support::FakeStore::default());
    let clock = wall_clock();
    let start = clock_now(&clock);
    let deliverer = deliverer(&store, &clock, vec![hook], DelivererConfig::default());
    deliverer.run_once().await;
    let user = store.add_user(&sealer(), "86:13800138000");
    let event = store.push(EventType::UserUpdated, &user, start);

    for (at, attempts, next) in [(0, 1, 5), (5, 2, 35), (35, 3, 155)] {
        clock.set(start + Duration::from_secs(at));
        assert_eq!(deliverer.run_once().await, 1);
        let s = store.delivery(&id, &event.id).unwrap();
        assert_eq!(s.attempts, attempts);
        assert_eq!(
            s.last_error.as_deref(),
            Some("HTTP 500"),
            "{}",
            receiver.stderr()
        );
        assert_eq!(s.next_attempt_at, Some(start + Duration::from_secs(next)));
        assert!(lines(&out).is_empty());
    }
    clock.set(start + Duration::from_secs(155));
    assert_eq!(deliverer.run_once().await, 1);
    let s = store.delivery(&id, &event.id).unwrap();
    assert_eq!((s.status, s.attempts), (DeliveryStatus::Delivered, 4));
    let events = lines(&out);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["id"], event.id.as_str());
}

#[tokio::test]
async fn the_official_library_verifies_a_lookup() {
    let Some(python) = python() else { return };
    let dir = TempDir::new().unwrap();
    let secret = WebhookSecret::generate();
    let receiver = Script::start(
        python,
        "lookup/receiver.py",
        &[],
        ("LOOKUP_SECRET", &secret.expose_secret()),
        dir.path(),
    );
    let lookup = HttpUserLookup::new(LookupConfig::new(receiver.url("/"), secret)).unwrap();

    let known = lookup.lookup(&request("+8613800138000", None)).await;
    assert_eq!(
        known.unwrap(),
        LookupAnswer::Found {
            external_id: ExternalId::parse("crm-1001").unwrap(),
            nickname: Some("Li Lei".into()),
            avatar_url: None,
        }
    );
    let unknown = lookup
        .lookup(&request("+8613700137000", Some("oUnion")))
        .await;
    assert_eq!(unknown.unwrap(), LookupAnswer::NotFound);

    let config = LookupConfig::new(receiver.url("/"), WebhookSecret::generate());
    let impostor = HttpUserLookup::new(config).unwrap();
    let refused = impostor.lookup(&request("+8613800138000", None)).await;
    assert_eq!(refused.unwrap_err().0, "HTTP 401");
}
