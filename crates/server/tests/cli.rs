//! The `wxlogin` binary as an operator runs it: refusals at start, `keys`, file modes, log
//! colours, the dev banner, and SIGTERM with a stalled client.

// Tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use wxlogin_core::crypto::MasterKey;

const BIN: &str = env!("CARGO_BIN_EXE_wxlogin");
const HEX_SECRET: &str = "0123456789abcdef0123456789abcdef";

fn wxlogin(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A config file for `serve --config` in `dir`; `secret` and `master_key` as given, the
/// WeChat base URL `wechat` (a loopback one means "a simulator").
fn config(dir: &Path, secret: &str, master_key: &str, wechat: &str) -> String {
    let path = dir.join("wxlogin.toml");
    std::fs::write(
        &path,
        format!(
            r#"public_url = "http://127.0.0.1:9012"
[http]
host = "127.0.0.1"
port = {port}
[admin]
port = {admin}
[database]
url = "sqlite://{db}"
[wechat]
base_url = "{wechat}"
[[apps]]
appid = "wx0000000000000001"
secret = "{secret}"
[secrets]
master_key = "{master_key}"
"#,
            port = 0,
            admin = 0,
            db = dir.join("wxlogin.db").display(),
        ),
    )
    .unwrap();
    path.display().to_string()
}

fn refused_naming(out: &Output, key: &str) {
    assert!(!out.status.success(), "started: {}", text(out));
    assert!(text(out).contains(key), "{}", text(out));
}

#[test]
fn the_published_dev_secret_is_refused_outside_dev_mode() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate().to_base64();
    let file = config(
        dir.path(),
        "dev-secret-not-for-production",
        &key,
        "http://127.0.0.1:9",
    );
    refused_naming(&wxlogin(&["serve", "--config", &file]), "apps[0].secret");
}

#[test]
fn a_secret_that_is_not_an_appsecret_is_refused_against_real_wechat() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate().to_base64();
    let file = config(
        dir.path(),
        "hunter2-hunter2",
        &key,
        "https://api.weixin.qq.com",
    );
    let out = wxlogin(&["serve", "--config", &file]);
    refused_naming(&out, "apps[0].secret");
    assert!(!text(&out).contains("hunter2"), "the secret was printed");
}

#[test]
fn a_hand_made_master_key_is_refused() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    for bytes in [[0u8; 32], *b"passwordpasswordpasswordpassword"] {
        let key = base64::engine::general_purpose::STANDARD.encode(bytes);
        let file = config(dir.path(), HEX_SECRET, &key, "https://api.weixin.qq.com");
        refused_naming(
            &wxlogin(&["serve", "--config", &file]),
            "secrets.master_key",
        );
    }
}

#[test]
fn a_secret_file_others_can_read_is_warned_about() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate().to_base64();
    let file = config(dir.path(), HEX_SECRET, &key, "https://api.weixin.qq.com");
    let secret = dir.path().join("wx-secret");
    std::fs::write(&secret, HEX_SECRET).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let cfg = std::fs::read_to_string(&file).unwrap().replace(
        &format!("secret = \"{HEX_SECRET}\""),
        &format!("secret_file = \"{}\"", secret.display()),
    );
    std::fs::write(&file, cfg).unwrap();
    // Hold the API port so that start-up fails right after the checks (bound here, not
    // picked then bound: another test could take a free port in between).
    let held = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = held.local_addr().unwrap().port();
    let out = Command::new(BIN)
        .args(["serve", "--config", &file, "--port", &port.to_string()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let all = text(&out);
    assert!(
        all.contains("apps[0].secret_file") && all.contains("readable by group or others"),
        "{all}"
    );
    assert!(!all.contains(HEX_SECRET));
}

#[test]
fn dev_mode_refuses_a_config_that_points_at_a_real_app_or_wechat() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("over.toml");
    for (config, key) in [
        (
            "[[apps]]\nappid = \"wx1234567890abcdef\"\nsecret = \"0123456789abcdef0123456789abcdef\"\n",
            "apps",
        ),
        (
            "[wechat]\nbase_url = \"https://api.weixin.qq.com\"\n",
            "wechat.base_url",
        ),
    ] {
        std::fs::write(&file, config).unwrap();
        let (file, data) = (file.to_str().unwrap(), data.to_str().unwrap());
        let out = wxlogin(&["serve", "--dev", "--config", file, "--data-dir", data]);
        refused_naming(&out, key);
    }
}

#[test]
fn keys_rotate_with_another_master_key_writes_nothing_and_keys_list_shows_states() {
    let dir = tempfile::tempdir().unwrap();
    let right = MasterKey::generate().to_base64();
    let file = config(dir.path(), HEX_SECRET, &right, "http://127.0.0.1:9");
    assert!(
        wxlogin(&["keys", "rotate", "--config", &file])
            .status
            .success()
    );
    assert!(
        wxlogin(&["keys", "rotate", "--config", &file])
            .status
            .success()
    );
    let before = text(&wxlogin(&["keys", "list", "--config", &file]));
    // The first key signs at once; the rotation's key is published first (`next`).
    let lines: Vec<&str> = before.lines().filter(|l| l.contains("ES256")).collect();
    assert_eq!(lines.len(), 2, "{before}");
    assert!(
        lines[0].contains(" current ") && lines[1].contains(" next "),
        "{before}"
    );
    assert!(
        before
            .lines()
            .any(|l| l.starts_with("kid") && l.contains("created_at") && l.contains("signs_from")),
        "{before}"
    );

    let wrong = config(
        dir.path(),
        HEX_SECRET,
        &MasterKey::generate().to_base64(),
        "http://127.0.0.1:9",
    );
    let out = wxlogin(&["keys", "rotate", "--config", &wrong]);
    refused_naming(&out, "cannot be opened");
    // Nothing was written: the deployment's own key still lists the same two keys.
    let file = config(dir.path(), HEX_SECRET, &right, "http://127.0.0.1:9");
    let after = text(&wxlogin(&["keys", "list", "--config", &file]));
    assert_eq!(
        after.lines().filter(|l| l.contains("ES256")).count(),
        2,
        "{after}"
    );
}

#[test]
fn the_data_directory_and_database_files_are_private_and_logs_in_pipes_have_no_colour() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested").join("data");
    let out = wxlogin(&["migrate", "--dev", "--data-dir", data.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(
            mode(&path) & 0o077,
            0,
            "{} is {:o}",
            path.display(),
            mode(&path)
        );
    }
    assert_eq!(mode(&data.join("wxlogin.db")), 0o600);
    let all = text(&out);
    assert!(all.contains("migrations applied"), "{all}");
    assert!(!all.contains('\u{1b}'), "ANSI escapes in a pipe: {all:?}");
}

/// `serve --dev` on ports the system picks (port 0: no port chosen here can be taken by
/// another test before the server binds it); returns the child, the banner's lines and the
/// API port the banner names.
fn serve_dev(data: &Path, extra: &[&str]) -> (Child, Vec<String>, u16) {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--dev",
            "--port",
            "0",
            "--sim-port",
            "0",
            "--admin-port",
            "0",
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .args(extra)
        .env("WXLOGIN__HTTP__SHUTDOWN_GRACE_SECS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while out.read_line(&mut line).unwrap() > 0 {
        lines.push(std::mem::take(&mut line));
        if lines.last().unwrap().contains("Walk the flow") {
            break;
        }
    }
    // Keep draining so the server never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let port = lines
        .iter()
        .find_map(|l| {
            l.trim_start()
                .strip_prefix("API")?
                .trim()
                .rsplit(':')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no API address in the banner: {lines:?}"));
    (child, lines, port)
}

fn wait_exit(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn sigterm_ends_the_process_despite_a_client_holding_half_a_request() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, banner, port) = serve_dev(&dir.path().join("data"), &["--host", "0.0.0.0"]);
    let banner = banner.concat();
    let admin = banner
        .lines()
        .find(|l| l.trim_start().starts_with("admin"))
        .unwrap_or_default();
    assert!(admin.contains("http://127.0.0.1:"), "{banner}");
    let sim = banner
        .lines()
        .find(|l| l.trim_start().starts_with("simulator"))
        .unwrap_or_default();
    assert!(sim.contains("http://127.0.0.1:"), "{banner}");

    let mut stalled = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stalled
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let exited = wait_exit(&mut child, Duration::from_secs(8));
    if !exited {
        let _ = child.kill();
    }
    assert!(exited, "still running 8 s after SIGTERM with a 1 s grace");
    let mut rest = Vec::new();
    stalled
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let _ = stalled.read_to_end(&mut rest);
}

#[test]
fn admin_keys_are_printed_once_listed_without_the_key_and_revoked_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let out = wxlogin(&[
        "admin-keys",
        "create",
        "support",
        "--scope",
        "users:read,users:pii",
        "--dev",
        "--data-dir",
        data,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let key = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(key.starts_with("wxa_") && key.len() == 47, "{key}");

    let out = wxlogin(&[
        "admin-keys",
        "create",
        "support",
        "--scope",
        "all",
        "--dev",
        "--data-dir",
        data,
    ]);
    refused_naming(&out, "support");
    let out = wxlogin(&[
        "admin-keys",
        "create",
        "x",
        "--scope",
        "users:everything",
        "--dev",
        "--data-dir",
        data,
    ]);
    refused_naming(&out, "users:everything");

    let list = text(&wxlogin(&[
        "admin-keys",
        "list",
        "--dev",
        "--data-dir",
        data,
    ]));
    assert!(
        list.contains("support") && list.contains("users:read users:pii"),
        "{list}"
    );
    assert!(!list.contains(&key[4..12]), "a key in the list: {list}");

    assert!(
        wxlogin(&[
            "admin-keys",
            "revoke",
            "support",
            "--dev",
            "--data-dir",
            data
        ])
        .status
        .success()
    );
    refused_naming(
        &wxlogin(&[
            "admin-keys",
            "revoke",
            "support",
            "--dev",
            "--data-dir",
            data,
        ]),
        "support",
    );
    let list = text(&wxlogin(&[
        "admin-keys",
        "list",
        "--dev",
        "--data-dir",
        data,
    ]));
    let line = list.lines().find(|l| l.starts_with("support")).unwrap();
    assert!(!line.contains(" - "), "revoked_at is set: {list}");
}

#[test]
fn import_users_reads_csv_and_json_lines_and_resumes_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let csv = dir.path().join("users.csv");
    let mut rows = String::from("phone,nickname,avatar_url,external_id,appid,openid,unionid\n");
    for i in 0..40 {
        rows.push_str(&format!(
            "+86138{i:08},User {i},,crm-{i},wx0000000000000001,o-import-{i},\n"
        ));
    }
    rows.push_str("not-a-phone,Bad,,,,,\n");
    rows.push_str("+8613700000000,Half,,,wx0000000000000001,,\n");
    std::fs::write(&csv, &rows).unwrap();
    // An interrupted run: only the first 15 users made it.
    let half = dir.path().join("half.csv");
    let first: Vec<&str> = rows.lines().take(16).collect();
    std::fs::write(&half, first.join("\n") + "\n").unwrap();
    let run = |file: &Path| {
        let out = wxlogin(&[
            "import-users",
            file.to_str().unwrap(),
            "--quiet",
            "--batch",
            "7",
            "--dev",
            "--data-dir",
            data,
        ]);
        assert!(out.status.success(), "{}", text(&out));
        text(&out)
    };
    assert!(run(&half).contains("15 created, 0 existing, 0 rejected"));
    let all = run(&csv);
    assert!(all.contains("25 created, 15 existing, 2 rejected"), "{all}");
    assert!(all.contains("line 42: phone is not E.164"), "{all}");
    assert!(
        all.contains("line 43: appid and openid go together"),
        "{all}"
    );
    assert!(run(&csv).contains("0 created, 40 existing, 2 rejected"));

    let jsonl = dir.path().join("users.jsonl");
    std::fs::write(
        &jsonl,
        concat!(
            r#"{"phone": "+8613900000001", "external_id": "crm-j1"}"#,
            "\n\n",
            r#"{"phone": "+8613800000003"}"#,
            "\n",
            r#"{"phone": 12}"#,
            "\n",
            r#"{"phone": "+8613900000002", "identities": [{"appid": "wx0000000000000001", "openid": "o-import-1"}]}"#,
            "\n",
        ),
    )
    .unwrap();
    let out = run(&jsonl);
    // Row 2's phone exists; row 3 is not a user; row 4's openid belongs to user 1.
    assert!(out.contains("1 created, 1 existing, 2 rejected"), "{out}");
    assert!(out.contains("line 4: not a user object"), "{out}");
    assert!(
        out.contains("line 5: an identity is bound to another user"),
        "{out}"
    );
}

#[test]
fn serve_dev_prints_a_working_admin_key_that_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key_of = |banner: &[String]| {
        banner
            .concat()
            .lines()
            .find(|l| l.trim_start().starts_with("admin key"))
            .and_then(|l| l.split_whitespace().find(|w| w.starts_with("wxa_")))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no admin key in {banner:?}"))
    };
    let (mut child, banner, _) = serve_dev(&data, &[]);
    let key = key_of(&banner);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(wait_exit(&mut child, Duration::from_secs(8)));
    let (mut child, banner, _) = serve_dev(&data, &[]);
    assert_eq!(
        key_of(&banner),
        key,
        "the dev key is kept in the data directory"
    );
    let _ = child.kill();
    let _ = child.wait();
    let list = text(&wxlogin(&[
        "admin-keys",
        "list",
        "--dev",
        "--data-dir",
        data.to_str().unwrap(),
    ]));
    assert_eq!(
        list.lines().filter(|l| l.starts_with("dev ")).count(),
        1,
        "{list}"
    );
}
