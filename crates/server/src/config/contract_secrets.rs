//! Every secret key follows the `x` / `x_file` rule: it has its `_file` twin, is read from
//! that file, and is refused when given both ways. The secret keys are found by `keys.rs`
//! (by their type), so a new secret without a twin, or without a case here, fails.

use std::collections::BTreeSet;

use toml::Value;

use super::keys::keys;
use super::{AvatarStorage, RawConfig, Settings, load};

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
