//! `wxlogin admin-keys …` and `wxlogin import-users FILE`: the operator's commands that act
//! on the database directly (no running server needed).

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand, ValueEnum};
use wxlogin_core::admin::{AdminKeyStore, Scope};
use wxlogin_core::clock::SystemClock;
use wxlogin_core::service::admin::{ImportIdentityRow, ImportRow, Importer, new_admin_key};
use wxlogin_store_sql::SqlStore;

use super::{CliError, TargetArgs, rfc3339, target_settings};
use crate::startup;

/// `admin-keys` commands.
#[derive(Debug, Subcommand)]
pub enum AdminKeysAction {
    /// Create a key and print it once (only its hash is stored).
    Create {
        /// A name for logs and `list` (letters, digits, `- _ . @`).
        name: String,
        /// What it may do: users:read, users:write, users:pii, events:read, keys:write, or
        /// `all` (repeatable, or comma-separated).
        #[arg(long = "scope", required = true, value_delimiter = ',')]
        scopes: Vec<String>,
        /// Which deployment.
        #[command(flatten)]
        target: TargetArgs,
    },
    /// List the keys (never the keys themselves): name, scopes, created, revoked.
    List(TargetArgs),
    /// Revoke the live key with this name; requests with it fail at once.
    Revoke {
        /// The key's name.
        name: String,
        /// Which deployment.
        #[command(flatten)]
        target: TargetArgs,
    },
}

/// `import-users` options.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// JSON Lines (one `{"phone", "nickname"?, "avatar_url"?, "external_id"?,
    /// "identities"?: [{"appid", "openid", "unionid"?}]}` per line) or CSV with the header
    /// `phone,nickname,avatar_url,external_id,appid,openid,unionid`.
    pub file: PathBuf,
    /// The file's format; by default from its extension (`.csv`, otherwise JSON Lines).
    #[arg(long, value_enum)]
    pub format: Option<ImportFormat>,
    /// Users per transaction.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// No progress bar (for logs).
    #[arg(long)]
    pub quiet: bool,
    /// Which deployment.
    #[command(flatten)]
    pub target: TargetArgs,
}

/// An import file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportFormat {
    /// One JSON object per line.
    Jsonl,
    /// CSV with a header line.
    Csv,
}

/// Parses `--scope` values.
pub fn parse_scopes(raw: &[String]) -> Result<Vec<Scope>, CliError> {
    let mut scopes = Vec::new();
    for name in raw.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        if name == "all" {
            scopes.extend(Scope::ALL);
            continue;
        }
        let scope = Scope::parse(name).ok_or_else(|| {
            format!(
                "unknown scope {name:?}: use {} or all",
                Scope::ALL.map(Scope::as_str).join(", ")
            )
        })?;
        scopes.push(scope);
    }
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}

/// Runs an `admin-keys` command.
pub async fn admin_keys(action: AdminKeysAction) -> Result<(), CliError> {
    match action {
        AdminKeysAction::Create {
            name,
            scopes,
            target,
        } => {
            let store = open(&target).await?;
            let scopes = parse_scopes(&scopes)?;
            let (key, record) = new_admin_key(&name, scopes, time::OffsetDateTime::now_utc())?;
            if !store.insert_admin_key(&record).await? {
                return Err(format!(
                    "a live admin key is named {name:?}: revoke it first, or pick another name"
                )
                .into());
            }
            eprintln!(
                "created admin key {name:?} ({}). It is shown once; store it now:",
                record
                    .scopes
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            println!("{key}");
            Ok(())
        }
        AdminKeysAction::List(target) => {
            let store = open(&target).await?;
            println!(
                "{:<24} {:<20} {:<20} scopes",
                "name", "created_at", "revoked_at"
            );
            for k in store.admin_keys().await? {
                println!(
                    "{:<24} {:<20} {:<20} {}",
                    k.name,
                    rfc3339(k.created_at),
                    k.revoked_at.map(rfc3339).unwrap_or_else(|| "-".into()),
                    k.scopes
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
            Ok(())
        }
        AdminKeysAction::Revoke { name, target } => {
            let store = open(&target).await?;
            if store
                .revoke_admin_key(&name, time::OffsetDateTime::now_utc())
                .await?
            {
                println!("revoked admin key {name:?}");
                Ok(())
            } else {
                Err(format!("no live admin key is named {name:?}").into())
            }
        }
    }
}

async fn open(target: &TargetArgs) -> Result<Arc<SqlStore>, CliError> {
    let settings = target_settings(target)?;
    Ok(startup::open_store(&settings).await?)
}

/// Runs `import-users`: reads the file in batches, imports each in one transaction, and
/// reports rejected lines. Idempotent by phone and external_id, so an interrupted import is
/// resumed by running the same command again: what was imported counts as `existing`.
pub async fn import_users(args: ImportArgs) -> Result<(), CliError> {
    let settings = target_settings(&args.target)?;
    let store = startup::open_store(&settings).await?;
    let importer = Importer {
        sealer: settings.master_key.sealer(),
        phone_index: settings.master_key.phone_index(),
        apps: settings.apps.iter().map(|(a, _)| a.clone()).collect(),
        store: store.clone(),
        clock: Arc::new(SystemClock),
    };
    let format = args.format.unwrap_or_else(|| {
        if args
            .file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            ImportFormat::Csv
        } else {
            ImportFormat::Jsonl
        }
    });
    let total_bytes = std::fs::metadata(&args.file)?.len();
    let bar = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(total_bytes).with_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {msg} ({elapsed}, eta {eta})",
            )
            .map_err(|e| e.to_string())?,
        )
    };
    let batch_size = args
        .batch
        .clamp(1, wxlogin_core::service::admin::MAX_IMPORT_ROWS * 10);
    let mut tally = Tally::default();
    let mut batch: Vec<(usize, ImportRow)> = Vec::with_capacity(batch_size);
    let started = std::time::Instant::now();
    let mut reader = Reader::open(&args.file, format)?;
    while let Some((line, row, position)) = reader.next_row()? {
        bar.set_position(position);
        match row {
            Ok(row) => batch.push((line, row)),
            Err(reason) => {
                tally.rejected += 1;
                bar.suspend(|| eprintln!("line {line}: {reason}"));
            }
        }
        if batch.len() >= batch_size {
            tally.flush(&importer, &mut batch, &bar).await?;
        }
    }
    tally.flush(&importer, &mut batch, &bar).await?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let Tally {
        created,
        existing,
        rejected,
    } = tally;
    println!(
        "imported {}: {created} created, {existing} existing, {rejected} rejected in {secs:.1} s",
        args.file.display()
    );
    Ok(())
}

/// What an import did so far.
#[derive(Default)]
struct Tally {
    created: u64,
    existing: u64,
    rejected: u64,
}

impl Tally {
    /// Imports `batch` (emptying it) in one transaction and reports its rejected lines.
    async fn flush(
        &mut self,
        importer: &Importer,
        batch: &mut Vec<(usize, ImportRow)>,
        bar: &indicatif::ProgressBar,
    ) -> Result<(), CliError> {
        if batch.is_empty() {
            return Ok(());
        }
        let (lines, rows): (Vec<usize>, Vec<ImportRow>) = batch.drain(..).unzip();
        let report = importer.import(rows).await?;
        self.created += report.created;
        self.existing += report.existing;
        for r in report.rejected {
            self.rejected += 1;
            bar.suspend(|| eprintln!("line {}: {}", lines[r.index], r.reason));
        }
        bar.set_message(format!(
            "{} created, {} existing, {} rejected",
            self.created, self.existing, self.rejected
        ));
        Ok(())
    }
}

/// Reads import rows from JSON Lines or CSV, with their line numbers (from 1) and the byte
/// position reached (for the progress bar). A row that does not parse is an `Err` with the
/// reason; the file goes on.
enum Reader {
    Jsonl {
        lines: std::io::Lines<std::io::BufReader<std::fs::File>>,
        line: usize,
        position: u64,
    },
    Csv {
        records: csv::StringRecordsIntoIter<std::fs::File>,
        columns: CsvColumns,
    },
}

/// Where each known column is in the CSV header.
struct CsvColumns {
    phone: usize,
    nickname: Option<usize>,
    avatar_url: Option<usize>,
    external_id: Option<usize>,
    appid: Option<usize>,
    openid: Option<usize>,
    unionid: Option<usize>,
}

type NextRow = Option<(usize, Result<ImportRow, String>, u64)>;

impl Reader {
    fn open(path: &Path, format: ImportFormat) -> Result<Self, CliError> {
        let file = std::fs::File::open(path)?;
        match format {
            ImportFormat::Jsonl => Ok(Self::Jsonl {
                lines: std::io::BufReader::new(file).lines(),
                line: 0,
                position: 0,
            }),
            ImportFormat::Csv => {
                let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
                let header = reader.headers()?.clone();
                let find = |name: &str| header.iter().position(|h| h.trim() == name);
                let known = [
                    "phone",
                    "nickname",
                    "avatar_url",
                    "external_id",
                    "appid",
                    "openid",
                    "unionid",
                ];
                if let Some(unknown) = header.iter().find(|h| !known.contains(&h.trim())) {
                    return Err(format!("unknown CSV column {unknown:?}").into());
                }
                let columns = CsvColumns {
                    phone: find("phone").ok_or("the CSV header has no `phone` column")?,
                    nickname: find("nickname"),
                    avatar_url: find("avatar_url"),
                    external_id: find("external_id"),
                    appid: find("appid"),
                    openid: find("openid"),
                    unionid: find("unionid"),
                };
                Ok(Self::Csv {
                    records: reader.into_records(),
                    columns,
                })
            }
        }
    }

    fn next_row(&mut self) -> Result<NextRow, CliError> {
        match self {
            Self::Jsonl {
                lines,
                line,
                position,
            } => loop {
                let Some(text) = lines.next().transpose()? else {
                    return Ok(None);
                };
                *line += 1;
                *position += text.len() as u64 + 1;
                if text.trim().is_empty() {
                    continue;
                }
                let row = serde_json::from_str::<ImportRow>(&text)
                    .map_err(|e| format!("not a user object (column {})", e.column()));
                return Ok(Some((*line, row, *position)));
            },
            Self::Csv { records, columns } => {
                let Some(record) = records.next() else {
                    return Ok(None);
                };
                let record = match record {
                    Ok(r) => r,
                    Err(e) => {
                        let line = e.position().map_or(0, |p| p.line() as usize);
                        let position = e.position().map_or(0, |p| p.byte());
                        return Ok(Some((line, Err("unreadable CSV record".into()), position)));
                    }
                };
                let (line, position) = record
                    .position()
                    .map_or((0, 0), |p| (p.line() as usize, p.byte()));
                Ok(Some((line, columns.row(&record), position)))
            }
        }
    }
}

impl CsvColumns {
    fn row(&self, record: &csv::StringRecord) -> Result<ImportRow, String> {
        let get = |i: Option<usize>| {
            i.and_then(|i| record.get(i))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let phone = get(Some(self.phone)).ok_or("phone is empty")?;
        let identities = match (get(self.appid), get(self.openid)) {
            (Some(appid), Some(openid)) => vec![ImportIdentityRow {
                appid,
                openid,
                unionid: get(self.unionid),
            }],
            (None, None) => Vec::new(),
            _ => return Err("appid and openid go together".into()),
        };
        Ok(ImportRow {
            phone,
            nickname: get(self.nickname),
            avatar_url: get(self.avatar_url),
            external_id: get(self.external_id),
            identities,
        })
    }
}
