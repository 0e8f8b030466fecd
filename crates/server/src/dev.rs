//! `serve --dev`: everything a newcomer needs, with no setup. SQLite in a data directory, the
//! simulator in process, the dev app, a master key generated once and kept beside the data.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use wxlogin_core::admin::{AdminKeyStore, Scope};
use wxlogin_core::crypto::{HandleHash, MasterKey};
use wxlogin_core::service::admin::new_admin_key;
use wxlogin_wechat_sim::{Sim, SimApp, SimConfig, SimHandle};

use crate::config::{AppSection, RateLimitsSection, RawConfig};

/// The dev app (the contract's fixed defaults).
pub const DEV_APPID: &str = "wx0000000000000001";
/// The dev app's secret.
pub const DEV_SECRET: &str = "dev-secret-not-for-production";

/// Where dev mode listens and keeps its data.
#[derive(Debug, Clone)]
pub struct DevOptions {
    /// Bind address of both servers.
    pub host: IpAddr,
    /// The API's port (9012).
    pub port: u16,
    /// The simulator's port (9100).
    pub sim_port: u16,
    /// The data directory (`./wxlogin-data`).
    pub data_dir: PathBuf,
}

fn loopback_for(host: IpAddr) -> IpAddr {
    if host.is_unspecified() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        host
    }
}

/// The configuration layer under any file and environment in dev mode.
pub fn base_config(opts: &DevOptions) -> RawConfig {
    let public_host = loopback_for(opts.host);
    let mut raw = RawConfig {
        public_url: Some(format!(
            "http://{}",
            SocketAddr::new(public_host, opts.port)
        )),
        apps: vec![AppSection {
            appid: DEV_APPID.into(),
            secret: Some(DEV_SECRET.into()),
            secret_file: None,
            claims: Vec::new(),
        }],
        rate_limits: RateLimitsSection::off(),
        ..RawConfig::default()
    };
    raw.http.host = opts.host.to_string();
    raw.http.port = opts.port;
    raw.database.url =
        Some(format!("sqlite://{}", opts.data_dir.join("wxlogin.db").display()).into());
    // The simulator hands out codes for anyone's phone number: it only ever listens on
    // loopback, whatever `--host` says.
    raw.wechat.base_url = format!("http://{}", SocketAddr::new(LOOPBACK, opts.sim_port));
    raw.avatars.dir = Some(opts.data_dir.join("avatars"));
    raw
}

const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// Dev mode runs the simulator and the published dev secret: a config file layered over it
/// must not turn it into something that talks to real WeChat or serves a real app.
pub fn check_dev_config(raw: &RawConfig) -> Result<(), crate::config::ConfigError> {
    let refuse = |key: &str, problem: &str| crate::config::ConfigError::Invalid {
        key: key.into(),
        problem: format!(
            "{problem} (serve --dev is for the simulator only; use `serve --config` for a real deployment)"
        ),
    };
    if raw.apps.iter().any(|app| app.appid != DEV_APPID) {
        return Err(refuse("apps", "names an app other than the dev app"));
    }
    match url::Url::parse(&raw.wechat.base_url) {
        Ok(url)
            if url.scheme() == "http"
                && matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback()) => {}
        _ => {
            return Err(refuse(
                "wechat.base_url",
                "must be the loopback simulator's http address",
            ));
        }
    }
    Ok(())
}

/// Creates `dir` (and its parents) with mode 0700 when it does not exist: it will hold the
/// database (openids in clear) and the master key. An existing directory is left as it is,
/// with a warning when others can read it.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.exists() {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir)?.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(dir = %dir.display(), mode = format!("{:o}", mode & 0o777), "the data directory is readable by others; chmod 700 it");
            }
        }
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Reads `<data_dir>/master.key`, creating it (mode 0600) on first start.
pub fn master_key(data_dir: &Path) -> std::io::Result<MasterKey> {
    private_dir(data_dir)?;
    let path = data_dir.join("master.key");
    if path.exists() {
        let text = std::fs::read_to_string(&path)?;
        return MasterKey::from_base64(&text).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        });
    }
    let key = MasterKey::generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(
        &mut options.open(&path)?,
        format!("{}\n", key.to_base64()).as_bytes(),
    )?;
    Ok(key)
}

/// The dev admin key (every scope, named `dev`): the one in `<data_dir>/admin.key` while it
/// is still live, otherwise a new one written there (mode 0600), so the banner's key keeps
/// working across restarts and `admin-keys revoke dev` is undone by the next start.
pub async fn admin_key(
    store: &dyn AdminKeyStore,
    data_dir: &Path,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    private_dir(data_dir)?;
    let path = data_dir.join("admin.key");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let key = text.trim().to_owned();
        if store
            .live_admin_key(&HandleHash::of(&key).0)
            .await?
            .is_some()
        {
            return Ok(key);
        }
    }
    let now = time::OffsetDateTime::now_utc();
    store.revoke_admin_key("dev", now).await?;
    let (key, record) = new_admin_key("dev", Scope::ALL.to_vec(), now)?;
    store.insert_admin_key(&record).await?;
    let _ = std::fs::remove_file(&path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(&path)?, format!("{key}\n").as_bytes())?;
    Ok(key)
}

/// Starts the simulator with the dev app, on loopback only.
pub async fn start_simulator(
    port: u16,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<SimHandle> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(LOOPBACK, port)).await?;
    let sim = Sim::new(SimConfig::with_apps(vec![SimApp::dev()]));
    wxlogin_wechat_sim::spawn(listener, sim, shutdown).await
}

/// What `serve --dev` prints at start: where everything is and how to walk the flow.
pub fn banner(api: &str, admin: &str, admin_key: &str, sim: &str, data_dir: &Path) -> String {
    format!(
        r#"
wxlogin dev mode: SQLite + the built-in WeChat simulator. Not for production.

  API           {api}
  admin         {admin}   (/metrics, /admin/v1/; never expose it publicly)
  admin key     {admin_key}   (every scope; kept in the data directory)
  simulator     {sim}   (WeChat's paths + control API under /_sim/v1/, loopback only)
  dev app       appid {DEV_APPID}, secret {DEV_SECRET}, registration open
  data          {data} (users, sessions and signing keys survive a restart)

Walk the flow with curl (jq optional):

  # 1. what wx.login() returns on alice's phone
  CODE=$(curl -s {sim}/_sim/v1/login_codes -d '{{"appid":"{DEV_APPID}","user":"alice"}}' | jq -r .code)
  # 2. log in: a session, registered=false for a new user
  SESSION=$(curl -s {api}/v1/login -d "{{\"code\":\"$CODE\"}}" | jq -r .session)
  # 3. the getPhoneNumber button's code, then the phone
  PCODE=$(curl -s {sim}/_sim/v1/phone_codes -d '{{"appid":"{DEV_APPID}","user":"alice","phone":"+8613800138000"}}' | jq -r .code)
  TICKET=$(curl -s {api}/v1/phone -d "{{\"session\":\"$SESSION\",\"code\":\"$PCODE\"}}" | jq -r .registration_ticket)
  # 4. register, then call the API with the access token
  TOKEN=$(curl -s {api}/v1/register -d "{{\"registration_ticket\":\"$TICKET\",\"nickname\":\"Alice\"}}" | jq -r .tokens.access_token)
  curl -s {api}/v1/me -H "Authorization: Bearer $TOKEN"
  # 5. what an operator sees: the user, through the admin API
  curl -s {admin}/admin/v1/users -H "Authorization: Bearer {admin_key}"
"#,
        data = data_dir.display()
    )
}
