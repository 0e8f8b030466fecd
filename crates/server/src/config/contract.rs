//! The configuration's names are a contract, written down twice: `config/default.toml` (every
//! key with its default) and the key tables of `docs/configuration.md`. These tests hold both
//! to the keys [`RawConfig`] accepts (found by `keys.rs`, not listed by hand), so a field added
//! without documenting it, a default changed in one place only, or a documented key that does
//! not exist fails here. They also hold every secret key to the `x` / `x_file` rule.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use toml::Value;

use super::keys::keys;
use super::settings::DEFAULT_DATABASE_URL;
use super::{AvatarStorage, RawConfig, Settings, load};

fn repo_file(relative: &str) -> (PathBuf, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{relative}: {e}"));
    (path, text)
}

/// Keys the default file sets although the code has no default for them, and why.
const EXAMPLES: &[(&str, &str)] = &[
    ("public_url", "required: the file shows its form"),
    (
        "database.url",
        "unset, Settings uses DEFAULT_DATABASE_URL (a default in the file struct would clash \
         with url_file); the file shows that value, checked below",
    ),
    (
        "apps[].appid",
        "required in each [[apps]]: the file shows one app",
    ),
    (
        "apps[].secret_file",
        "required (or secret): the file shows where one is mounted",
    ),
    (
        "secrets.master_key_file",
        "required outside dev mode (or master_key)",
    ),
];

/// Leaves of a TOML document by dotted path; the entries of a list of tables under `x[]`.
fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
    let join = |key: &str| {
        if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}.{key}")
        }
    };
    match value {
        Value::Table(table) => {
            for (key, value) in table {
                match value {
                    Value::Table(_) => flatten(&join(key), value, out),
                    Value::Array(items)
                        if !items.is_empty() && items.iter().all(Value::is_table) =>
                    {
                        for item in items {
                            flatten(&format!("{}[]", join(key)), item, out);
                        }
                    }
                    _ => {
                        out.insert(join(key), value.clone());
                    }
                }
            }
        }
        _ => {
            out.insert(prefix.to_owned(), value.clone());
        }
    }
}

/// The keys the file shows commented out (`# key = …`), with the section they sit in,
/// including commented sections (`# [[webhooks]]`).
fn commented_keys(text: &str) -> BTreeSet<String> {
    let header = |line: &str| -> Option<String> {
        let line = line.split('#').next().unwrap_or_default().trim();
        let name = line
            .strip_prefix("[[")
            .and_then(|l| l.strip_suffix("]]"))
            .map(|n| format!("{n}[]"))
            .or_else(|| {
                line.strip_prefix('[')
                    .and_then(|l| l.strip_suffix(']'))
                    .map(str::to_owned)
            })?;
        name.chars()
            .all(|c| c.is_ascii_lowercase() || c == '_' || c == '[' || c == ']')
            .then_some(name)
    };
    let mut section = String::new();
    let mut found = BTreeSet::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = header(line) {
            section = name;
        } else if let Some(comment) = line.strip_prefix('#') {
            let comment = comment.trim_start();
            if comment.starts_with('[') {
                if let Some(name) = header(comment) {
                    section = name;
                }
            } else if let Some((key, _)) = comment.split_once('=')
                && !key.trim().is_empty()
                && key
                    .trim()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                let key = key.trim();
                found.insert(if section.is_empty() {
                    key.to_owned()
                } else {
                    format!("{section}.{key}")
                });
            }
        }
    }
    found
}

#[test]
fn the_default_file_lists_every_key_with_the_codes_default() {
    let keys = keys();
    let (path, text) = repo_file("config/default.toml");
    // Loads through the real loader too: an unknown or mistyped live key fails here.
    load(RawConfig::default(), Some(&path)).unwrap();
    let mut live = BTreeMap::new();
    flatten("", &Value::Table(text.parse().unwrap()), &mut live);
    let commented = commented_keys(&text);
    let mut defaults = BTreeMap::new();
    flatten(
        "",
        &Value::try_from(RawConfig::default()).unwrap(),
        &mut defaults,
    );

    let mut problems = Vec::new();
    for key in keys.keys() {
        if !live.contains_key(key) && !commented.contains(key) {
            problems.push(format!(
                "`{key}` is not in the file (set, or commented out)"
            ));
        }
    }
    for key in live.keys().chain(&commented) {
        if !keys.contains_key(key) {
            problems.push(format!(
                "the file names `{key}`, which the code does not accept"
            ));
        }
    }
    for (key, default) in &defaults {
        if !keys.contains_key(key) {
            // An empty list of tables (`apps = []`): its entries have no default.
            assert!(
                keys.keys().any(|k| k.starts_with(&format!("{key}[]."))),
                "`{key}` has a default but is not a key"
            );
            continue;
        }
        match live.get(key) {
            Some(shown) if shown == default => {}
            Some(shown) => problems.push(format!(
                "the file sets `{key}` = {shown}, the code's default is {default}"
            )),
            None => problems.push(format!(
                "`{key}` has a default ({default}): set it in the file, not commented out"
            )),
        }
    }
    for key in live.keys().filter(|k| !defaults.contains_key(*k)) {
        if !EXAMPLES.iter().any(|(example, _)| example == key) {
            problems.push(format!(
                "the file sets `{key}`, which has no default: comment it out, or add it to \
                 EXAMPLES with the reason"
            ));
        }
    }
    assert_eq!(
        live.get("database.url").and_then(Value::as_str),
        Some(DEFAULT_DATABASE_URL),
        "the file shows the database Settings uses when none is configured"
    );
    assert!(
        problems.is_empty(),
        "config/default.toml:\n{}",
        problems.join("\n")
    );
}

/// The keys the first column of the doc's tables names. A cell may name several, later ones
/// relative to the first's section: `` `wechat.connect_timeout_ms`, `request_timeout_ms` ``,
/// `` `database.url` / `url_file` ``, `` `[[webhooks]] secret` / `secret_file` ``.
fn documented_keys(doc: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in doc.lines().filter(|l| l.starts_with('|')) {
        let cell = line.split('|').nth(1).unwrap_or_default();
        let mut section: Option<String> = None;
        for name in cell.split('`').skip(1).step_by(2) {
            let key = if let Some(rest) = name.strip_prefix("[[") {
                let (list, field) = rest.split_once("]]").unwrap_or((rest, ""));
                format!("{list}[].{}", field.trim())
            } else if name.contains('.') {
                name.to_owned()
            } else if let Some(section) = &section {
                format!("{section}.{name}")
            } else {
                name.to_owned()
            };
            section = key.rsplit_once('.').map(|(s, _)| s.to_owned());
            found.insert(key);
        }
    }
    found
}

#[test]
fn the_configuration_doc_names_every_key_and_only_real_ones() {
    let keys = keys();
    let (_, doc) = repo_file("docs/configuration.md");
    let documented = documented_keys(&doc);
    let missing: Vec<_> = keys.keys().filter(|k| !documented.contains(*k)).collect();
    let unknown: Vec<_> = documented
        .iter()
        .filter(|k| !keys.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "docs/configuration.md: keys missing from its tables: {missing:?}; \
         keys in its tables the code does not accept: {unknown:?}"
    );
}

#[test]
fn the_doc_parser_reads_cells_naming_several_keys() {
    let doc = "| key | default |\n|---|---|\n\
               | `http.host`, `http.port` | x |\n\
               | `database.url` / `url_file` | x |\n\
               | `[[webhooks]] secret` / `secret_file` | x |\n\
               | `public_url` | `https://…` |\n";
    let found: Vec<_> = documented_keys(doc).into_iter().collect();
    assert_eq!(
        found,
        [
            "database.url",
            "database.url_file",
            "http.host",
            "http.port",
            "public_url",
            "webhooks[].secret",
            "webhooks[].secret_file",
        ]
    );
}

#[test]
fn the_comment_scanner_finds_keys_in_commented_sections() {
    let text = "[redis]   # optional\n# url = \"redis://\"\n\
                # [[webhooks]]: prose, not a header\n# one = two words\n\
                # [[webhooks]]\n# secret_file = \"/x\"\n[[apps]]\n# secret = \"…\"\n";
    let found: Vec<_> = commented_keys(text).into_iter().collect();
    assert_eq!(
        found,
        [
            "apps[].secret",
            "redis.one",
            "redis.url",
            "webhooks[].secret_file"
        ]
    );
}

#[test]
fn every_secret_key_has_a_file_twin_and_every_file_key_a_secret() {
    let keys = keys();
    for (key, kind) in &keys {
        if kind.secret {
            let twin = format!("{key}_file");
            assert!(keys.contains_key(&twin), "secret `{key}` has no `{twin}`");
        }
        if let Some(base) = key.strip_suffix("_file") {
            assert!(
                keys.get(base).is_some_and(|k| k.secret),
                "`{key}` names a file for `{base}`, which is not a secret type"
            );
        }
    }
}

/// Sets `path` in `table`, creating tables on the way; `x[]` is the first entry of list `x`.
fn set(table: &mut toml::Table, path: &str, value: Value) {
    let (head, rest) = match path.split_once('.') {
        Some((head, rest)) => (head, Some(rest)),
        None => (path, None),
    };
    let Some(rest) = rest else {
        table.insert(head.to_owned(), value);
        return;
    };
    let inner = if let Some(list) = head.strip_suffix("[]") {
        let items = table
            .entry(list)
            .or_insert_with(|| Value::Array(vec![Value::Table(toml::Table::new())]));
        items.as_array_mut().and_then(|a| a.first_mut()).unwrap()
    } else {
        table
            .entry(head)
            .or_insert_with(|| Value::Table(toml::Table::new()))
    };
    set(inner.as_table_mut().unwrap(), rest, value);
}

fn remove(table: &mut toml::Table, path: &str) {
    match path.split_once('.') {
        None => {
            table.remove(path);
        }
        Some((head, rest)) => {
            let inner = match head.strip_suffix("[]") {
                Some(list) => table
                    .get_mut(list)
                    .and_then(|v| v.as_array_mut())
                    .and_then(|a| a.first_mut()),
                None => table.get_mut(head),
            };
            if let Some(inner) = inner.and_then(Value::as_table_mut) {
                remove(inner, rest);
            }
        }
    }
}

/// A secret key, what it needs beside it, a valid value, and where the value lands.
struct Case {
    key: &'static str,
    needs: Vec<(&'static str, Value)>,
    value: String,
    landed: fn(&Settings) -> Option<String>,
}

fn whsec() -> String {
    use base64::Engine as _;
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode([7u8; 32])
    )
}

fn cases() -> Vec<Case> {
    let text = |s: &str| Value::String(s.to_owned());
    vec![
        Case {
            key: "apps[].secret",
            needs: vec![],
            value: "app-secret-from-file".into(),
            landed: |s| Some(s.apps[0].1.expose_secret().to_owned()),
        },
        Case {
            key: "secrets.master_key",
            needs: vec![],
            value: wxlogin_core::crypto::MasterKey::generate().to_base64(),
            landed: |s| Some(s.master_key.to_base64()),
        },
        Case {
            key: "database.url",
            needs: vec![],
            value: "postgres://wx:pw@db:5432/wx".into(),
            landed: |s| Some(s.database.url.expose_secret().to_owned()),
        },
        Case {
            key: "redis.url",
            needs: vec![],
            value: "redis://:pw@cache:6379/0".into(),
            landed: |s| Some(s.redis.as_ref()?.url.expose_secret().to_owned()),
        },
        Case {
            key: "hooks.secret",
            needs: vec![(
                "hooks.user_lookup_url",
                text("https://hooks.example.com/lookup"),
            )],
            value: whsec(),
            // The lookup hook exists only with its secret: it was read.
            landed: |s| s.integrations.lookup.as_ref().map(|_| whsec()),
        },
        Case {
            key: "webhooks[].secret",
            needs: vec![
                ("webhooks[].url", text("https://hooks.example.com/in")),
                ("webhooks[].events", Value::Array(vec![text("*")])),
            ],
            value: whsec(),
            landed: |s| (s.integrations.webhooks.len() == 1).then(whsec),
        },
        Case {
            key: "avatars.s3_secret_access_key",
            needs: vec![
                ("avatars.storage", text("s3")),
                ("avatars.s3_bucket", text("bucket")),
                ("avatars.s3_access_key_id", text("key-id")),
            ],
            value: "s3-secret-from-file".into(),
            landed: |s| match &s.avatars {
                AvatarStorage::S3 {
                    secret_access_key, ..
                } => Some(secrecy::ExposeSecret::expose_secret(secret_access_key).to_owned()),
                _ => None,
            },
        },
    ]
}

#[test]
fn every_secret_key_is_read_from_its_file_and_refused_with_both() {
    let secret_keys: BTreeSet<_> = keys()
        .into_iter()
        .filter(|(_, k)| k.secret)
        .map(|(key, _)| key)
        .collect();
    let cases = cases();
    let covered: BTreeSet<_> = cases.iter().map(|c| c.key.to_owned()).collect();
    assert_eq!(covered, secret_keys, "every secret key needs a case here");

    let dir = tempfile::tempdir().unwrap();
    let minimal: toml::Table = format!(
        "public_url = \"https://auth.example.com\"\n\
         [[apps]]\nappid = \"wx1\"\nsecret = \"s3cr3t-value\"\n\
         [secrets]\nmaster_key = \"{}\"\n",
        wxlogin_core::crypto::MasterKey::generate().to_base64()
    )
    .parse()
    .unwrap();
    for case in cases {
        let secret_file = dir.path().join(case.key.replace(['[', ']'], ""));
        std::fs::write(&secret_file, format!("  {}\n", case.value)).unwrap();
        let mut table = minimal.clone();
        remove(&mut table, case.key);
        for (key, value) in &case.needs {
            set(&mut table, key, value.clone());
        }
        let file_key = format!("{}_file", case.key);
        set(
            &mut table,
            &file_key,
            Value::String(secret_file.display().to_string()),
        );
        let config = dir.path().join("config.toml");
        std::fs::write(&config, toml::to_string(&table).unwrap()).unwrap();
        let settings = Settings::from_raw(load(RawConfig::default(), Some(&config)).unwrap(), None)
            .unwrap_or_else(|e| panic!("{file_key}: {e}"));
        assert_eq!(
            (case.landed)(&settings).as_deref(),
            Some(case.value.as_str()),
            "{file_key}"
        );
        let index = |key: &str| key.replace("[]", "[0]");
        assert!(
            settings
                .secret_files
                .contains(&(index(&file_key), secret_file.clone())),
            "{file_key} is not among the files the permission check looks at"
        );

        set(&mut table, case.key, Value::String(case.value.clone()));
        std::fs::write(&config, toml::to_string(&table).unwrap()).unwrap();
        let both = Settings::from_raw(load(RawConfig::default(), Some(&config)).unwrap(), None)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            both.contains("not both") && both.contains(&index(case.key)),
            "{}: {both}",
            case.key
        );
    }
}
