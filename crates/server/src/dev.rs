//! `serve --dev`: everything a newcomer needs, with no setup. SQLite in a data directory, the
//! simulator in process, the dev app, a master key generated once and kept beside the data.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use wxlogin_core::crypto::MasterKey;
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
        }],
        rate_limits: RateLimitsSection::off(),
        ..RawConfig::default()
    };
    raw.http.host = opts.host.to_string();
    raw.http.port = opts.port;
    raw.database.url = Some(format!(
        "sqlite://{}",
        opts.data_dir.join("wxlogin.db").display()
    ));
    raw.wechat.base_url = format!("http://{}", SocketAddr::new(public_host, opts.sim_port));
    raw
}

/// Reads `<data_dir>/master.key`, creating it (mode 0600) on first start.
pub fn master_key(data_dir: &Path) -> std::io::Result<MasterKey> {
    std::fs::create_dir_all(data_dir)?;
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

/// Starts the simulator with the dev app.
pub async fn start_simulator(
    host: IpAddr,
    port: u16,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<SimHandle> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(host, port)).await?;
    let sim = Sim::new(SimConfig::with_apps(vec![SimApp::dev()]));
    wxlogin_wechat_sim::spawn(listener, sim, shutdown).await
}

/// What `serve --dev` prints at start: where everything is and how to walk the flow.
pub fn banner(api: &str, sim: &str, data_dir: &Path) -> String {
    format!(
        r#"
wxlogin dev mode: SQLite + the built-in WeChat simulator. Not for production.

  API           {api}
  simulator     {sim}   (WeChat's paths + control API under /_sim/v1/)
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
"#,
        data = data_dir.display()
    )
}
