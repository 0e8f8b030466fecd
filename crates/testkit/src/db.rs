//! Throwaway databases: a SQLite file in a temp dir, a PostgreSQL schema or a MySQL database
//! of its own, each removed when the [`TestDb`] is dropped (also when the test panics), so
//! tests run in parallel against one server and leave nothing behind.

use std::collections::HashSet;
use std::io::{self, Write};
use std::sync::{Mutex, OnceLock};

use sqlx::Connection;
use tempfile::TempDir;
use url::Url;
use wxlogin_store_sql::{ConnectOptions, SqlStore};

/// The variable naming the PostgreSQL server for tests: `postgres://user@host:5432/db`.
pub const POSTGRES_URL_VAR: &str = "WXLOGIN_TEST_POSTGRES_URL";
/// The variable naming the MySQL or MariaDB server for tests: `mysql://root@host:3306/db`.
pub const MYSQL_URL_VAR: &str = "WXLOGIN_TEST_MYSQL_URL";

/// One database engine that the story runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Always available: a file in a temp dir.
    Sqlite,
    /// When [`POSTGRES_URL_VAR`] is set.
    Postgres,
    /// When [`MYSQL_URL_VAR`] is set (MySQL or MariaDB).
    Mysql,
}

impl Backend {
    /// The name people read: `SQLite`, `PostgreSQL`, `MySQL`.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
            Self::Mysql => "MySQL",
        }
    }
}

/// The URL in `var`, or `None` after a visible notice that `backend` was not tested (once per
/// variable and process, so a skipped suite prints one line, not one per test).
pub fn backend_url(var: &str, backend: &str) -> Option<String> {
    let url = std::env::var(var).ok().filter(|u| !u.is_empty());
    if url.is_none() {
        static NOTIFIED: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
        let first = NOTIFIED
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(var.to_owned());
        if first {
            // A direct write: libtest swallows eprintln! from passing tests.
            let _ = writeln!(
                io::stderr(),
                "NOTICE: {var} unset; {backend} was NOT tested"
            );
        }
    }
    url
}

/// What to drop when the [`TestDb`] goes.
#[derive(Debug)]
enum Cleanup {
    /// The temp dir holding the file; removed by its own drop.
    Sqlite(#[allow(dead_code)] TempDir),
    /// `DROP SCHEMA <schema> CASCADE`, through `admin_url`.
    Postgres { admin_url: String, schema: String },
    /// `DROP DATABASE <database>`, through `admin_url`.
    Mysql { admin_url: String, database: String },
}

/// A database of its own for one test, on one backend, empty until [`TestDb::open`] migrates
/// it. Dropping it removes it (best effort: a failure is printed, not raised).
#[derive(Debug)]
pub struct TestDb {
    backend: Backend,
    url: String,
    cleanup: Option<Cleanup>,
}

impl TestDb {
    /// A SQLite file (not created yet) in a new temp dir. Never `None`.
    pub async fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => Some(Self::sqlite()),
            Backend::Postgres => Self::postgres().await,
            Backend::Mysql => Self::mysql().await,
        }
    }

    /// A database file in a directory that does not exist yet, inside a new temp dir.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data").join("wxlogin.db");
        Self {
            backend: Backend::Sqlite,
            url: format!("sqlite://{}", path.display()),
            cleanup: Some(Cleanup::Sqlite(dir)),
        }
    }

    /// A new, empty schema `wxt_<random>` on [`POSTGRES_URL_VAR`]'s database; the URL selects
    /// it through `options=-c search_path=…`. `None`, with a notice, if the variable is unset.
    pub async fn postgres() -> Option<Self> {
        let admin_url = backend_url(POSTGRES_URL_VAR, Backend::Postgres.display_name())?;
        let schema = unique_name();
        let mut conn = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let _ = conn.close().await;
        let mut url = Url::parse(&admin_url).unwrap();
        url.query_pairs_mut()
            .append_pair("options", &format!("-c search_path={schema}"));
        Some(Self {
            backend: Backend::Postgres,
            url: url.into(),
            cleanup: Some(Cleanup::Postgres { admin_url, schema }),
        })
    }

    /// A new, empty database `wxt_<random>` (utf8mb4) on [`MYSQL_URL_VAR`]'s server. `None`,
    /// with a notice, if the variable is unset.
    pub async fn mysql() -> Option<Self> {
        let admin_url = backend_url(MYSQL_URL_VAR, Backend::Mysql.display_name())?;
        let database = unique_name();
        let mut conn = sqlx::MySqlConnection::connect(&admin_url).await.unwrap();
        sqlx::query(&format!(
            "CREATE DATABASE {database} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        ))
        .execute(&mut conn)
        .await
        .unwrap();
        let _ = conn.close().await;
        let mut url = Url::parse(&admin_url).unwrap();
        url.set_path(&format!("/{database}"));
        Some(Self {
            backend: Backend::Mysql,
            url: url.into(),
            cleanup: Some(Cleanup::Mysql {
                admin_url,
                database,
            }),
        })
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL to give [`SqlStore::connect`] (or a server's `database.url`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A store on this database with at most `max_connections`, migrated.
    pub async fn open(&self, max_connections: u32) -> SqlStore {
        let store = self.connect(max_connections).await;
        store.migrate().await.unwrap();
        store
    }

    /// A store on this database with at most `max_connections`, not migrated.
    pub async fn connect(&self, max_connections: u32) -> SqlStore {
        let opts = ConnectOptions {
            max_connections,
            ..ConnectOptions::default()
        };
        SqlStore::connect(&self.url, opts).await.unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin_url, sql) = match self.cleanup.take() {
            None | Some(Cleanup::Sqlite(_)) => return,
            Some(Cleanup::Postgres { admin_url, schema }) => {
                (admin_url, format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            }
            Some(Cleanup::Mysql {
                admin_url,
                database,
            }) => (admin_url, format!("DROP DATABASE IF EXISTS {database}")),
        };
        let backend = self.backend;
        // Drop cannot await, and may run inside a runtime that must not block: a thread of its
        // own, with a runtime of its own, and we wait for it.
        let statement = sql.clone();
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                match backend {
                    Backend::Postgres => {
                        let mut conn = sqlx::PgConnection::connect(&admin_url).await?;
                        sqlx::query(&statement).execute(&mut conn).await?;
                        conn.close().await
                    }
                    _ => {
                        let mut conn = sqlx::MySqlConnection::connect(&admin_url).await?;
                        sqlx::query(&statement).execute(&mut conn).await?;
                        conn.close().await
                    }
                }
            })
            .map_err(io::Error::other)
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            let _ = writeln!(
                io::stderr(),
                "NOTICE: could not clean up with `{sql}`: {dropped:?}"
            );
        }
    }
}

/// `wxt_` and 24 random hex digits: a valid unquoted identifier on both servers.
fn unique_name() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("wxt_{}", &id[..24])
}
