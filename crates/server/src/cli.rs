//! The `wxlogin` command line: `serve`, `sim`, `migrate`, `copy-data`, `keys rotate`,
//! `keys list`, `admin-keys`, `import-users`, `gen-master-key`.

mod accounts;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use wxlogin_core::jwt::KeyRing;
use wxlogin_core::redact::redact_url;
use wxlogin_store_sql::copy;
use wxlogin_wechat_sim::{Sim, SimApp, SimConfig};

use crate::config::{self, RawConfig, Settings};
use crate::dev::{self, DevOptions};
use crate::serve::display_addr;
use crate::startup::{self, Application, Overrides};
use crate::telemetry::{self, LogFormat};

/// What a command failed with, for `main` to print.
pub type CliError = Box<dyn std::error::Error + Send + Sync>;

/// wxlogin: a self-hosted login server for WeChat Mini Programs.
#[derive(Debug, Parser)]
#[command(
    name = "wxlogin",
    version,
    about = "wxlogin: a self-hosted login server for WeChat Mini Programs"
)]
pub struct Cli {
    /// Log format.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "pretty",
        env = "WXLOGIN_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API server.
    Serve(ServeArgs),
    /// Run the WeChat simulator alone.
    Sim(SimArgs),
    /// Create or upgrade the database schema, then exit.
    Migrate(TargetArgs),
    /// Copy a deployment's database into a new, empty one (SQLite to PostgreSQL or MySQL).
    CopyData(CopyDataArgs),
    /// Manage token-signing keys.
    Keys {
        /// What to do.
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Manage admin API keys.
    AdminKeys {
        /// What to do.
        #[command(subcommand)]
        action: accounts::AdminKeysAction,
    },
    /// Import users from JSON Lines or CSV (idempotent: run it again to resume).
    ImportUsers(accounts::ImportArgs),
    /// Print a new random master key (standard base64 of 32 bytes) for `secrets.master_key_file`.
    GenMasterKey,
}

/// Key commands.
#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Add a new signing key; new tokens are signed with it, older ones still verify.
    /// Refuses, writing nothing, when the configured master key cannot open the stored keys.
    Rotate(TargetArgs),
    /// List the signing keys: kid, algorithm, state and creation time.
    List(TargetArgs),
}

/// Which deployment a maintenance command acts on.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The deployment's config file.
    #[arg(long, conflicts_with = "dev")]
    pub config: Option<PathBuf>,
    /// The dev-mode data directory instead.
    #[arg(long)]
    pub dev: bool,
    /// Dev mode's data directory.
    #[arg(long, default_value = "./wxlogin-data")]
    pub data_dir: PathBuf,
}

/// `copy-data` options. The URLs may carry passwords: they are read from the environment as
/// well (out of `ps`), and never printed with them.
#[derive(Debug, Args)]
pub struct CopyDataArgs {
    /// The database to copy from, e.g. `sqlite://./wxlogin-data/wxlogin.db`. Opened read-only
    /// (SQLite), never changed.
    #[arg(long, env = "WXLOGIN_COPY_FROM", hide_env_values = true)]
    pub from: String,
    /// The database to copy into, e.g. `postgres://wx:…@db:5432/wx`: migrated, then filled.
    /// Must hold no data; nothing is written if it does.
    #[arg(long, env = "WXLOGIN_COPY_TO", hide_env_values = true)]
    pub to: String,
}

/// `serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Dev mode: SQLite in --data-dir, the simulator in process, the dev app, no setup.
    #[arg(long)]
    pub dev: bool,
    /// A config file (required without --dev; layered over the dev defaults with it).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Bind address (dev mode; otherwise `http.host`).
    #[arg(long)]
    pub host: Option<IpAddr>,
    /// API port (dev mode default 9012; otherwise `http.port`).
    #[arg(long)]
    pub port: Option<u16>,
    /// The admin listener's port (`/metrics`; default 9013, otherwise `admin.port`). It
    /// always binds `admin.host`, loopback by default, whatever `--host` says.
    #[arg(long)]
    pub admin_port: Option<u16>,
    /// The simulator's port in dev mode.
    #[arg(long, default_value_t = 9100)]
    pub sim_port: u16,
    /// Dev mode's data directory.
    #[arg(long, default_value = "./wxlogin-data")]
    pub data_dir: PathBuf,
}

/// `sim` options.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Bind address.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port.
    #[arg(long, default_value_t = 9100)]
    pub port: u16,
    /// An app the simulator knows, as APPID:SECRET (repeatable; default: the dev app).
    #[arg(long = "app")]
    pub apps: Vec<String>,
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    telemetry::init_tracing(cli.log_format);
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Sim(args) => sim(args).await,
        Command::Migrate(target) => {
            let settings = target_settings(&target)?;
            startup::open_store(&settings).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::CopyData(args) => copy_data(&args).await,
        Command::Keys {
            action: KeysAction::Rotate(target),
        } => {
            let settings = target_settings(&target)?;
            let store = startup::open_store(&settings).await?;
            let rotation = KeyRing::rotate(
                store.as_ref(),
                &settings.master_key.sealer(),
                settings.tokens.algorithm,
                &startup::key_policy(&settings),
                time::OffsetDateTime::now_utc(),
            )
            .await?;
            println!(
                "added {} signing key {}: state next; running instances publish it in their \
                 JWKS within {} s, and it signs from {}",
                rotation.algorithm,
                rotation.kid,
                startup::key_reload_interval(&settings).as_secs(),
                rfc3339(rotation.signs_from)
            );
            Ok(())
        }
        Command::Keys {
            action: KeysAction::List(target),
        } => {
            let settings = target_settings(&target)?;
            let store = startup::open_store(&settings).await?;
            print!("{}", list_keys(store.as_ref(), &settings).await?);
            Ok(())
        }
        Command::AdminKeys { action } => accounts::admin_keys(action).await,
        Command::ImportUsers(args) => accounts::import_users(args).await,
        Command::GenMasterKey => {
            println!(
                "{}",
                wxlogin_core::crypto::MasterKey::generate().to_base64()
            );
            Ok(())
        }
    }
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `keys list`: one line per stored key, oldest first. States: `next` is published but does
/// not sign before `signs_from`; `current` signs new tokens; `retiring` still verifies the
/// tokens it signed until `gone_at`; `retired` is no longer loaded. The algorithm is read
/// from the key itself, so a key that does not open with this master key is reported.
async fn list_keys(
    store: &dyn wxlogin_core::ports::KeyStore,
    settings: &Settings,
) -> Result<String, CliError> {
    use std::fmt::Write as _;
    let now = time::OffsetDateTime::now_utc();
    let sealer = settings.master_key.sealer();
    let policy = startup::key_policy(settings);
    let mut out = format!(
        "{:<45} {:<6} {:<9} {:<20} {:<20} {}\n",
        "kid", "alg", "state", "created_at", "signs_from", "gone_at"
    );
    for k in wxlogin_core::jwt::schedule(store.signing_keys().await?, &policy, now) {
        let alg = wxlogin_core::jwt::open_record(&k.record, &sealer)?.algorithm();
        let _ = writeln!(
            out,
            "{:<45} {:<6} {:<9} {:<20} {:<20} {}",
            k.record.kid,
            alg.as_str(),
            k.state.as_str(),
            rfc3339(k.record.created_at),
            rfc3339(k.signs_from),
            k.gone_at.map(rfc3339).unwrap_or_else(|| "-".into())
        );
    }
    Ok(out)
}

/// Copies every durable table from `--from` into `--to` and prints the rows copied per table.
async fn copy_data(args: &CopyDataArgs) -> Result<(), CliError> {
    let (from, to) = (redact_url(&args.from), redact_url(&args.to));
    if args.from == args.to {
        return Err(format!("--from and --to are the same database ({from})").into());
    }
    let report = copy::copy_data(&args.from, &args.to, time::OffsetDateTime::now_utc()).await?;
    println!("copied {from} into {to}:");
    for (table, rows) in &report.tables {
        println!("  {table:<22} {rows:>10}");
    }
    println!(
        "expired sessions and registration tickets were left out. Start the new instances \
         with the same master key and public_url."
    );
    Ok(())
}

fn target_settings(target: &TargetArgs) -> Result<Settings, CliError> {
    if target.dev {
        let opts = DevOptions {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 9012,
            sim_port: 9100,
            data_dir: target.data_dir.clone(),
        };
        let raw = config::load(dev::base_config(&opts), None)?;
        return Ok(Settings::from_raw(
            raw,
            Some(dev::master_key(&target.data_dir)?),
        )?);
    }
    let Some(path) = &target.config else {
        return Err("give --config FILE, or --dev for the dev data directory".into());
    };
    Ok(Settings::from_raw(
        config::load(RawConfig::default(), Some(path))?,
        None,
    )?)
}

async fn serve(args: ServeArgs) -> Result<(), CliError> {
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = shutdown_tx.send(true);
    });
    let stopped = move || {
        let mut rx = shutdown_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };

    if !args.dev {
        let Some(path) = &args.config else {
            return Err(
                "give --config FILE for a real deployment, or --dev to try wxlogin with no setup"
                    .into(),
            );
        };
        let mut raw = config::load(RawConfig::default(), Some(path))?;
        if let Some(host) = args.host {
            raw.http.host = host.to_string();
        }
        if let Some(port) = args.port {
            raw.http.port = port;
        }
        if let Some(port) = args.admin_port {
            raw.admin.port = port;
        }
        let settings = Settings::from_raw(raw, None)?;
        config::check_production(&settings)?;
        let app = Application::build(&settings, Overrides::default()).await?;
        tracing::info!(addr = %app.local_addr(), admin = %app.admin_addr(), issuer = %settings.issuer(), "wxlogin listening");
        app.run(stopped()).await?;
        return Ok(());
    }

    let opts = DevOptions {
        host: args.host.unwrap_or(IpAddr::from([127, 0, 0, 1])),
        port: args.port.unwrap_or(9012),
        sim_port: args.sim_port,
        data_dir: args.data_dir.clone(),
    };
    let mut raw = config::load(dev::base_config(&opts), args.config.as_deref())?;
    if let Some(port) = args.admin_port {
        raw.admin.port = port;
    }
    dev::check_dev_config(&raw)?;
    let settings = Settings::from_raw(raw, Some(dev::master_key(&opts.data_dir)?))?;
    let sim = dev::start_simulator(opts.sim_port, stopped())
        .await
        .map_err(|e| format!("cannot start the simulator on port {}: {e}", opts.sim_port))?;
    let app = Application::build(&settings, Overrides::default()).await?;
    let admin_key = dev::admin_key(app.store().as_ref(), &opts.data_dir).await?;
    let api = format!("http://{}", display_addr(app.local_addr()));
    let admin = format!("http://{}", display_addr(app.admin_addr()));
    println!(
        "{}",
        dev::banner(&api, &admin, &admin_key, &sim.base_url(), &opts.data_dir)
    );
    app.run(stopped()).await?;
    Ok(())
}

async fn sim(args: SimArgs) -> Result<(), CliError> {
    let apps = if args.apps.is_empty() {
        vec![SimApp::dev()]
    } else {
        args.apps
            .iter()
            .map(|spec| SimApp::parse_cli(spec))
            .collect::<Result<Vec<_>, _>>()?
    };
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(args.host, args.port)).await?;
    let handle = wxlogin_wechat_sim::spawn(
        listener,
        Sim::new(SimConfig::with_apps(apps)),
        shutdown_signal(),
    )
    .await?;
    println!(
        "WeChat simulator listening on {} (control API under /_sim/v1/)",
        handle.base_url()
    );
    handle.wait().await?;
    Ok(())
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
