//! The query layer's vocabulary, shared by every engine: a [`Query`] is written once (with `?`
//! placeholders) and carries the few per-dialect variants it needs; [`Arg`]s go in, [`Row`]s
//! of [`Val`]s come out, through an [`Exec`] that each engine implements (sqlx on PostgreSQL
//! and MySQL, rusqlite on SQLite).
//!
//! A unit of work is an `async` closure over `&mut dyn Exec` ([`Unit`]): the same code runs on
//! a pooled sqlx connection (where it really awaits the network) and on SQLite's writer
//! thread or a reader connection (where every statement is synchronous and the future is
//! ready at its first poll).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, OnceLock};

use wxlogin_core::ports::{StoreError, StoreResult};

use crate::errors::corrupt;

/// A boxed, sendable future borrowing for `'a`.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The SQL dialects, where they really differ. A build with some backends left out never
/// constructs the others' variants; the queries still name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    not(all(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(dead_code)
)]
pub(crate) enum Dialect {
    /// SQLite 3.35+ (rusqlite, bundled).
    Sqlite,
    /// PostgreSQL 12+.
    Postgres,
    /// MySQL 8, MariaDB 10.6+.
    Mysql,
}

/// One statement, written once with `?` placeholders. PostgreSQL gets them numbered (`$1`…)
/// once, on first use. `mysql` replaces the text where MySQL's syntax differs (upserts,
/// `FOR UPDATE`, duplicate keys); `postgres` where PostgreSQL's differs from SQLite's (row
/// locks: `FOR UPDATE`, `SKIP LOCKED`), and `servers` sets both at once.
#[derive(Debug)]
pub(crate) struct Query {
    text: &'static str,
    mysql: Option<&'static str>,
    postgres: Option<&'static str>,
    /// MySQL has no `ON CONFLICT (col) DO NOTHING`: a duplicate entry on one of these unique
    /// keys counts as "0 rows" instead of an error.
    mysql_duplicate_is_noop: &'static [&'static str],
    /// An `UPDATE` that may hit these unique keys on a server (where a concurrent transaction
    /// can commit the same value after the unit checked): "0 rows" instead of an error.
    /// PostgreSQL has aborted the transaction by then, so the unit must end with `Step::Undo`.
    server_duplicate_is_noop: &'static [&'static str],
    numbered: OnceLock<String>,
}

impl Query {
    /// A statement in the shared dialect (SQLite's and PostgreSQL's, with `?` placeholders).
    pub(crate) const fn new(text: &'static str) -> Self {
        Self {
            text,
            mysql: None,
            postgres: None,
            mysql_duplicate_is_noop: &[],
            server_duplicate_is_noop: &[],
            numbered: OnceLock::new(),
        }
    }

    /// MySQL's text for the same statement, with the same arguments.
    pub(crate) const fn mysql(mut self, text: &'static str) -> Self {
        self.mysql = Some(text);
        self
    }

    /// PostgreSQL's text for the same statement, with the same arguments (`?` placeholders).
    pub(crate) const fn postgres(mut self, text: &'static str) -> Self {
        self.postgres = Some(text);
        self
    }

    /// The text for both servers (PostgreSQL and MySQL), where only SQLite differs: row
    /// locks, which SQLite's single writer does not need (and has no syntax for).
    pub(crate) const fn servers(self, text: &'static str) -> Self {
        self.mysql(text).postgres(text)
    }

    /// On MySQL, a duplicate entry on one of the unique keys `keys` affects 0 rows instead of
    /// failing.
    pub(crate) const fn mysql_duplicate_is_noop(mut self, keys: &'static [&'static str]) -> Self {
        self.mysql_duplicate_is_noop = keys;
        self
    }

    /// On PostgreSQL and MySQL, a duplicate on one of the unique keys (index or constraint
    /// names) `keys` affects 0 rows instead of failing; the unit must then undo (PostgreSQL
    /// has aborted the transaction). SQLite's single writer makes a check before the write
    /// final, so there a duplicate stays an error.
    pub(crate) const fn server_duplicate_is_noop(mut self, keys: &'static [&'static str]) -> Self {
        self.server_duplicate_is_noop = keys;
        self
    }

    /// The unique keys whose duplicates are no-ops in `dialect` (the pooled engine's question).
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    pub(crate) fn duplicate_is_noop(&self, dialect: Dialect) -> impl Iterator<Item = &'static str> {
        let mysql_only = match dialect {
            Dialect::Mysql => self.mysql_duplicate_is_noop,
            Dialect::Postgres | Dialect::Sqlite => &[],
        };
        let servers = match dialect {
            Dialect::Mysql | Dialect::Postgres => self.server_duplicate_is_noop,
            Dialect::Sqlite => &[],
        };
        mysql_only.iter().chain(servers).copied()
    }

    /// The text to send in `dialect`.
    pub(crate) fn text(&self, dialect: Dialect) -> &str {
        match dialect {
            Dialect::Sqlite => self.text,
            Dialect::Mysql => self.mysql.unwrap_or(self.text),
            Dialect::Postgres => self
                .numbered
                .get_or_init(|| number_placeholders(self.postgres.unwrap_or(self.text))),
        }
    }
}

/// A statement composed at run time from a fixed set of clauses (the filters of a search):
/// made once per distinct text and kept for the life of the process, as a `static` would be.
/// The caller guarantees the set of texts is small (a few dozen), since each one stays.
/// `mysql` is MySQL's text where it differs.
pub(crate) fn composed(text: String, mysql: Option<String>) -> &'static Query {
    type Cache = Mutex<HashMap<(String, Option<String>), &'static Query>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Cache::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let key = (text, mysql);
    if let Some(query) = cache.get(&key) {
        return query;
    }
    let leak = |s: &str| -> &'static str { Box::leak(s.to_owned().into_boxed_str()) };
    let mut query = Query::new(leak(&key.0));
    if let Some(mysql) = &key.1 {
        query = query.mysql(leak(mysql));
    }
    let query: &'static Query = Box::leak(Box::new(query));
    cache.insert(key, query);
    query
}

/// `?` placeholders to PostgreSQL's `$1, $2, …`. Written by hand because it is five lines:
/// our statements have no `?` inside string literals or comments, which is all a real
/// tokenizer would add.
fn number_placeholders(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut n = 0;
    for c in text.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// A bound value. Times are unix seconds ([`crate::rows::unix`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit integer, or a NULL of integer type.
    OptInt(Option<i64>),
    /// Text, or a NULL of text type.
    Text(Option<&'a str>),
    /// Bytes, or a NULL of binary type.
    Bytes(Option<&'a [u8]>),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Self::Text(Some(v))
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Self::Text(v)
    }
}

impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(v: &'a [u8]) -> Self {
        Self::Bytes(Some(v))
    }
}

impl<'a> From<Option<&'a [u8]>> for Arg<'a> {
    fn from(v: Option<&'a [u8]>) -> Self {
        Self::Bytes(v)
    }
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Self::OptInt(v)
    }
}

/// `[Arg; N]` from a list of values of different types: `args![a, b, c]`.
macro_rules! args {
    ($($v:expr),* $(,)?) => { [$($crate::sql::Arg::from($v)),*] };
}
pub(crate) use args;

/// A column value as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Val {
    /// SQL NULL.
    Null,
    /// Any integer type.
    Int(i64),
    /// Text (MySQL sends its binary-collated text as bytes: a MySQL-only build never reads
    /// this variant).
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    Text(String),
    /// Bytes; also MySQL's binary-collated text, which its protocol reports as binary.
    Bytes(Vec<u8>),
}

/// One result row, read left to right with the typed getters.
#[derive(Debug)]
pub(crate) struct Row(std::vec::IntoIter<Val>);

impl Row {
    /// A row of these values.
    pub(crate) fn new(vals: Vec<Val>) -> Self {
        Self(vals.into_iter())
    }

    fn next(&mut self) -> StoreResult<Val> {
        self.0.next().ok_or_else(|| corrupt("too few columns"))
    }

    /// The next column, an integer that may be NULL.
    pub(crate) fn opt_int(&mut self) -> StoreResult<Option<i64>> {
        match self.next()? {
            Val::Null => Ok(None),
            Val::Int(v) => Ok(Some(v)),
            _ => Err(corrupt("expected an integer")),
        }
    }

    /// The next column, an integer.
    pub(crate) fn int(&mut self) -> StoreResult<i64> {
        self.opt_int()?.ok_or_else(|| corrupt("unexpected NULL"))
    }

    /// The next column, text that may be NULL.
    pub(crate) fn opt_text(&mut self) -> StoreResult<Option<String>> {
        match self.next()? {
            Val::Null => Ok(None),
            Val::Text(v) => Ok(Some(v)),
            Val::Bytes(v) => String::from_utf8(v)
                .map(Some)
                .map_err(|_| corrupt("text is not UTF-8")),
            Val::Int(_) => Err(corrupt("expected text")),
        }
    }

    /// The next column, text.
    pub(crate) fn text(&mut self) -> StoreResult<String> {
        self.opt_text()?.ok_or_else(|| corrupt("unexpected NULL"))
    }

    /// The next column, bytes that may be NULL.
    pub(crate) fn opt_bytes(&mut self) -> StoreResult<Option<Vec<u8>>> {
        match self.next()? {
            Val::Null => Ok(None),
            Val::Bytes(v) => Ok(Some(v)),
            Val::Text(v) => Ok(Some(v.into_bytes())),
            Val::Int(_) => Err(corrupt("expected bytes")),
        }
    }

    /// The next column, bytes.
    pub(crate) fn bytes(&mut self) -> StoreResult<Vec<u8>> {
        self.opt_bytes()?.ok_or_else(|| corrupt("unexpected NULL"))
    }
}

/// One connection (or transaction) that runs statements: what a [`Unit`] talks to.
pub(crate) trait Exec: Send {
    /// Runs a statement; how many rows it changed.
    fn execute<'a>(
        &'a mut self,
        q: &'a Query,
        args: &'a [Arg<'a>],
    ) -> BoxFuture<'a, StoreResult<u64>>;
    /// Runs a statement; the rows it returned.
    fn fetch<'a>(
        &'a mut self,
        q: &'a Query,
        args: &'a [Arg<'a>],
    ) -> BoxFuture<'a, StoreResult<Vec<Row>>>;
}

impl dyn Exec + '_ {
    /// The first row, if any.
    pub(crate) async fn fetch_optional(
        &mut self,
        q: &Query,
        args: &[Arg<'_>],
    ) -> StoreResult<Option<Row>> {
        Ok(self.fetch(q, args).await?.into_iter().next())
    }

    /// The one row the statement must return.
    pub(crate) async fn fetch_one(&mut self, q: &Query, args: &[Arg<'_>]) -> StoreResult<Row> {
        self.fetch_optional(q, args)
            .await?
            .ok_or_else(|| StoreError::other("", "expected a row, found none"))
    }
}

/// What an atomic unit decided: keep its writes, or undo them (and still answer `T`).
#[derive(Debug)]
pub(crate) enum Step<T> {
    /// Commit (SQLite: release the unit's savepoint).
    Keep(T),
    /// Roll back (SQLite: to the unit's savepoint), then answer.
    Undo(T),
}

/// `StoreError` with the operation's name as its context ([`StoreError::in_op`]).
pub(crate) fn in_op(op: &'static str, err: StoreError) -> StoreError {
    err.in_op(op)
}

#[cfg(test)]
mod tests {
    use super::number_placeholders;

    #[test]
    fn placeholders_are_numbered_in_order() {
        assert_eq!(
            number_placeholders("UPDATE t SET a = ? WHERE b = ? AND c > ?"),
            "UPDATE t SET a = $1 WHERE b = $2 AND c > $3"
        );
    }
}
