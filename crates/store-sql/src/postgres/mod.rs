//! The PostgreSQL backend: connection setup, migrations, upkeep, and the ports in one
//! submodule each.
//!
//! Locking: transactions run at READ COMMITTED (PostgreSQL's default). Every atomic step
//! starts with a conditional write (`UPDATE … WHERE used_at IS NULL`, `INSERT … ON CONFLICT`):
//! of concurrent writers to one row, the first takes the row lock, the others wait for it and
//! then re-check their condition against the committed row, so the row count decides who won.
//! Migrations: sqlx's PostgreSQL migrator holds `pg_advisory_lock` (keyed on the database
//! name) for the whole run, so instances starting together apply each migration once.
//!
//! Tables live in the first schema of the connection's `search_path`; a URL can choose it
//! with `?options=-c%20search_path%3Dmy_schema`.
//!
//! # Layout
//! * this file: [`PgStore`], connecting, migrating, purging, error mapping.
//! * `users`, `sessions`, `tokens`, `keys`: one port each.

mod keys;
mod sessions;
mod tokens;
mod users;

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::error::DatabaseError;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use time::OffsetDateTime;
use wxlogin_core::ports::{Health, StoreError, StoreResult};

use crate::backend::Backend;
use crate::errors;
use crate::rows::unix;
use crate::store::{ConnectOptions, Purged};

/// `migrations/postgres/`, embedded at compile time.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The PostgreSQL backend: one pool on one database (and schema).
#[derive(Debug)]
pub(crate) struct PgStore {
    pool: PgPool,
}

/// Whether a database error means "busy or unreachable, try later" rather than "wrong", by
/// SQLSTATE: connection exceptions (08…), insufficient resources (53…, e.g. too many
/// connections), operator intervention (57…: shutdown, statement timeout), serialization
/// failures and deadlocks (40001, 40P01), and lock timeouts (55P03).
fn is_transient(err: &dyn DatabaseError) -> bool {
    let Some(code) = err.code() else {
        return false;
    };
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57")
        || matches!(code.as_ref(), "40001" | "40P01" | "55P03")
}

/// An error-mapping closure for `map_err`, naming the operation.
fn db_err(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| errors::from_sqlx(op, e, is_transient)
}

/// Begins a transaction (READ COMMITTED).
async fn begin(pool: &PgPool, op: &'static str) -> StoreResult<Transaction<'static, Postgres>> {
    pool.begin().await.map_err(db_err(op))
}

impl PgStore {
    /// Opens the pool; see [`crate::SqlStore::connect`].
    pub(crate) async fn connect(url: &str, opts: &ConnectOptions) -> StoreResult<Self> {
        // sqlx's message names the offending part of the URL, never the password.
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("invalid PostgreSQL database URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(db_err("connect"))?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl Backend for PgStore {
    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> StoreResult<()> {
        // `run` holds one connection with `pg_advisory_lock` taken for the whole run (sqlx's
        // `Migrator::locking` is on by default), and runs each migration in a transaction.
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| errors::from_migrate(e, is_transient))
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> StoreResult<Purged> {
        const OP: &str = "purge_expired";
        let now = unix(now);
        let mut tx = begin(&self.pool, OP).await?;
        let mut delete = async |sql: &'static str| -> StoreResult<u64> {
            let done = sqlx::query(sql)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_err(OP))?;
            Ok(done.rows_affected())
        };
        let sessions = delete("DELETE FROM sessions WHERE expires_at <= $1").await?;
        let tickets = delete("DELETE FROM registration_tickets WHERE expires_at <= $1").await?;
        let refresh_tokens = delete("DELETE FROM refresh_tokens WHERE expires_at <= $1").await?;
        let families = sqlx::query(
            "DELETE FROM refresh_families
             WHERE NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family_id = refresh_families.id)",
        )
        .execute(&mut *tx)
        .await
        .map_err(db_err(OP))?
        .rows_affected();
        tx.commit().await.map_err(db_err(OP))?;
        Ok(Purged {
            sessions,
            tickets,
            refresh_tokens,
            families,
        })
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl Health for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_err("ping"))?;
        Ok(())
    }
}
