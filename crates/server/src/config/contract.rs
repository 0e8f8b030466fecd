//! The configuration's names are a contract, written down twice: `config/default.toml` (every
//! key with its default) and the key tables of `docs/configuration.md`. These tests hold both
//! to the keys [`RawConfig`] accepts (found by `keys.rs`, not listed by hand), so a field added
//! without documenting it, a default changed in one place only, or a documented key that does
//! not exist fails here. (`contract_secrets.rs` holds every secret key to the `x` / `x_file`
//! rule.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use toml::Value;

use super::keys::keys;
use super::settings::DEFAULT_DATABASE_URL;
use super::{RawConfig, load};

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

/// The rows of the doc's tables: the keys the first column names, and the backquoted values
/// of the second (the defaults). A cell may name several keys, later ones relative to the
/// first's section: `` `wechat.connect_timeout_ms`, `request_timeout_ms` ``,
/// `` `database.url` / `url_file` ``, `` `[[webhooks]] secret` / `secret_file` ``.
fn doc_rows(doc: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let quoted = |cell: &str| -> Vec<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    };
    let mut rows = Vec::new();
    for line in doc.lines().filter(|l| l.starts_with('|')) {
        let mut cells = line.split('|').skip(1);
        let (names, defaults) = (
            cells.next().unwrap_or_default(),
            cells.next().unwrap_or_default(),
        );
        let mut section: Option<String> = None;
        let mut keys = Vec::new();
        for name in quoted(names) {
            let key = if let Some(rest) = name.strip_prefix("[[") {
                let (list, field) = rest.split_once("]]").unwrap_or((rest, ""));
                format!("{list}[].{}", field.trim())
            } else if name.contains('.') {
                name
            } else if let Some(section) = &section {
                format!("{section}.{name}")
            } else {
                name
            };
            section = key.rsplit_once('.').map(|(s, _)| s.to_owned());
            keys.push(key);
        }
        if !keys.is_empty() {
            rows.push((keys, quoted(defaults)));
        }
    }
    rows
}

fn documented_keys(doc: &str) -> BTreeSet<String> {
    doc_rows(doc)
        .into_iter()
        .flat_map(|(keys, _)| keys)
        .collect()
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
fn the_configuration_doc_shows_the_codes_defaults() {
    let mut defaults = BTreeMap::new();
    flatten(
        "",
        &Value::try_from(RawConfig::default()).unwrap(),
        &mut defaults,
    );
    let shown = |value: &Value| match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let (_, doc) = repo_file("docs/configuration.md");
    let mut compared = 0;
    let mut problems = Vec::new();
    // A row whose default cell quotes one value per key (`` `0.0.0.0`, `9012` ``); rows that
    // say it in words ("required", "none, `us-east-1`, AWS") are left to the reader.
    for (keys, values) in doc_rows(&doc)
        .into_iter()
        .filter(|(k, v)| k.len() == v.len())
    {
        for (key, value) in keys.iter().zip(&values) {
            if let Some(default) = defaults.get(key) {
                compared += 1;
                if shown(default) != *value {
                    problems.push(format!(
                        "`{key}`: the doc says `{value}`, the code {default}"
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "docs/configuration.md:\n{}",
        problems.join("\n")
    );
    assert!(
        compared > 30,
        "only {compared} defaults were found in the doc's tables"
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
