//! `Settings::from_raw` and `load`: defaults, the checks that name their key, secrets from
//! files.

#![allow(clippy::unwrap_used)] // tests

use wxlogin_core::RegistrationPolicy;
use wxlogin_core::crypto::MasterKey;

use super::*;

#[test]
fn app_claims_are_opt_in_and_unknown_ones_refused() {
    let mut raw = minimal();
    raw.apps[0].claims = vec!["openid".into(), "external_id".into()];
    let settings = Settings::from_raw(raw, None).unwrap();
    let claims = settings.auth.claims.values().next().copied().unwrap();
    assert!(claims.openid && claims.external_id && !claims.unionid);
    let plain = Settings::from_raw(minimal(), None).unwrap();
    assert_eq!(
        plain.auth.claims.values().next().copied(),
        Some(wxlogin_core::AppClaims::default())
    );
    let mut raw = minimal();
    raw.apps[0].claims = vec!["phone".into()];
    let err = Settings::from_raw(raw, None).unwrap_err().to_string();
    assert!(
        err.contains("apps[0].claims") && err.contains("is not one of"),
        "{err}"
    );
}

fn minimal() -> RawConfig {
    RawConfig {
        public_url: Some("https://auth.example.com".into()),
        apps: vec![AppSection {
            appid: "wx1".into(),
            secret: Some("s3cr3t-value".into()),
            secret_file: None,
            claims: Vec::new(),
        }],
        secrets: SecretsSection {
            master_key: Some(MasterKey::generate().to_base64().into()),
            master_key_file: None,
        },
        ..RawConfig::default()
    }
}

fn problem(raw: RawConfig) -> String {
    Settings::from_raw(raw, None).unwrap_err().to_string()
}

#[test]
fn a_minimal_config_is_accepted_with_the_contract_defaults() {
    let s = Settings::from_raw(minimal(), None).unwrap();
    assert_eq!(s.http.addr.port(), 9012);
    assert_eq!(s.tokens.audience, "wxlogin");
    assert_eq!(s.auth.registration, RegistrationPolicy::Open);
    assert_eq!(s.wechat.base_url.as_str(), "https://api.weixin.qq.com/");
    assert_eq!(
        s.database.url.expose_secret(),
        settings::DEFAULT_DATABASE_URL
    );
    assert_eq!(s.issuer(), "https://auth.example.com");
}

#[test]
fn missing_or_bad_required_keys_are_named() {
    let mut raw = minimal();
    raw.public_url = None;
    assert!(problem(raw).contains("public_url"));
    let mut raw = minimal();
    raw.public_url = Some("http://auth.example.com".into());
    assert!(problem(raw).contains("public_url"));
    let mut raw = minimal();
    raw.wechat.base_url = "http://10.0.0.1:9100".into();
    assert!(problem(raw).contains("wechat.base_url"));
    let mut raw = minimal();
    raw.apps[0].secret = Some("  ".into());
    assert!(problem(raw).contains("apps[0].secret"));
    let mut raw = minimal();
    raw.secrets.master_key = Some("short".into());
    assert!(problem(raw).contains("secrets.master_key"));
    let mut raw = minimal();
    raw.secrets.master_key = None;
    assert!(problem(raw).contains("master_key"));
}

#[test]
fn plain_http_is_allowed_on_loopback_only() {
    let mut raw = minimal();
    raw.public_url = Some("http://127.0.0.1:9012".into());
    raw.wechat.base_url = "http://localhost:9100".into();
    assert!(Settings::from_raw(raw, None).is_ok());
}

#[test]
fn the_documented_default_file_uses_only_known_keys() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/default.toml");
    let raw = load(RawConfig::default(), Some(&path)).unwrap();
    assert_eq!(raw.http.port, 9012);
    assert_eq!(raw.rate_limits.per_ip_burst, 200);
    assert_eq!(raw.apps.len(), 1);
}

#[test]
fn unknown_keys_are_refused_by_name() {
    let dir = std::env::temp_dir().join(format!("wxlogin-cfg-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("c.toml");
    std::fs::write(
        &file,
        "public_url = \"https://a.example\"\n[tokens]\naudiense = \"x\"\n",
    )
    .unwrap();
    let err = load(RawConfig::default(), Some(&file))
        .unwrap_err()
        .to_string();
    assert!(err.contains("audiense"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn secrets_come_from_files_trimmed_and_never_print() {
    let dir = std::env::temp_dir().join(format!("wxlogin-cfg-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("secret"), "file-secret-xyz\n").unwrap();
    std::fs::write(
        dir.join("key"),
        format!("{}\n", MasterKey::generate().to_base64()),
    )
    .unwrap();
    let mut raw = minimal();
    raw.apps[0] = AppSection {
        appid: "wx1".into(),
        secret: None,
        secret_file: Some(dir.join("secret")),
        claims: Vec::new(),
    };
    raw.secrets = SecretsSection {
        master_key: None,
        master_key_file: Some(dir.join("key")),
    };
    let s = Settings::from_raw(raw, None).unwrap();
    assert_eq!(s.apps[0].1.expose_secret(), "file-secret-xyz");
    let shown = format!("{s:?}");
    assert!(!shown.contains("file-secret-xyz"));
    std::fs::write(dir.join("empty"), "\n").unwrap();
    let mut raw = minimal();
    raw.apps[0] = AppSection {
        appid: "wx1".into(),
        secret: None,
        secret_file: Some(dir.join("empty")),
        claims: Vec::new(),
    };
    assert!(problem(raw).contains("secret_file"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_raw_config_prints_without_its_secrets() {
    let mut raw = minimal();
    let master_key = raw.secrets.master_key.clone().unwrap();
    raw.database.url = Some("postgres://wx:hunter2-db@db/wx".into());
    raw.redis.url = Some("redis://:hunter2-redis@cache:6379/0".into());
    raw.hooks.user_lookup_url = Some("https://hooks.example.com/lookup?token=hunter2-q".into());
    raw.hooks.secret = Some("whsec_hunter2-hook".into());
    raw.avatars.s3_secret_access_key = Some("hunter2-s3".into());
    raw.webhooks = vec![WebhookSection {
        url: "https://hooks.example.com/in?key=hunter2-q".into(),
        secret: Some("whsec_hunter2-webhook".into()),
        secret_file: None,
        events: vec!["*".into()],
        include_phone: false,
    }];
    let shown = format!("{raw:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("s3cr3t-value"), "{shown}");
    assert!(!shown.contains(master_key.expose_secret()), "{shown}");
    assert!(shown.contains("db/wx") && shown.contains("hooks.example.com/lookup"));
}
