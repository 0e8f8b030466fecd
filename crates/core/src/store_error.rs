//! [`StoreError`], re-exported by [`crate::ports`]: a backend's failure, with the operation as
//! context and the backend's own error as its `source()`.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::cause::{BoxError, SharedError, chain};

/// A backend failed (unreachable, timed out, or answered something unexpected).
/// Business outcomes ("not found", "already used") are never errors: they are values.
///
/// `Display` is short and names only the kind and the operation
/// (`store unavailable (find_user)`); the backend's error is the `source()`, so the one log
/// line ([`crate::cause`]) shows the whole chain. `Debug` prints the same chain, never a
/// source's `Debug`.
///
/// What a source may say, checked per backend, since it reaches the logs:
/// * sqlx keeps no bound values; PostgreSQL's messages name constraints and columns (values
///   are only in `DETAIL`, which sqlx's `Display` leaves out); MySQL's messages that quote a
///   value (duplicate entry, incorrect or truncated value) are replaced by their number in
///   `wxlogin-store-sql` before they get here.
/// * rusqlite's errors carry SQLite's message (constraint and column names) and never a
///   parameter.
/// * redis's errors can quote a reply (a type error says `value was ...`) or a script's
///   error text: `wxlogin-store-redis` keeps only connection-level errors as they are and
///   reduces the others to their category.
/// * object_store's errors (the avatar store) name the object's path (a random id).
#[derive(Clone, thiserror::Error)]
pub enum StoreError {
    /// The backend cannot be reached or timed out: answer 503 `unavailable`.
    #[error("store unavailable{}", During(op))]
    Unavailable {
        /// What was being done (`find_user`, `connect`, `redis claim`): context, never data.
        op: Cow<'static, str>,
        /// The backend's error.
        source: SharedError,
    },
    /// Anything else (corrupt data, a bug): answer 500 `internal`.
    #[error("store error{}", During(op))]
    Other {
        /// What was being done.
        op: Cow<'static, str>,
        /// The backend's error.
        source: SharedError,
    },
}

impl StoreError {
    /// The backend cannot be reached or timed out during `op`, because of `source` (an error,
    /// or a sentence).
    pub fn unavailable(op: impl Into<Cow<'static, str>>, source: impl Into<BoxError>) -> Self {
        Self::Unavailable {
            op: op.into(),
            source: Arc::from(source.into()),
        }
    }

    /// Anything else went wrong during `op`, because of `source`.
    pub fn other(op: impl Into<Cow<'static, str>>, source: impl Into<BoxError>) -> Self {
        Self::Other {
            op: op.into(),
            source: Arc::from(source.into()),
        }
    }

    /// A stored value that cannot be what we wrote: a bug or a tampered database. The
    /// operation is added on the way up ([`StoreError::in_op`]).
    pub fn corrupt(what: impl fmt::Display) -> Self {
        Self::other("", format!("corrupt row: {what}"))
    }

    /// The same error with `op` in front of its operation (`find_user`, then
    /// `copy: find_user`): the outer context first, as in the source chain.
    pub fn in_op(mut self, op: impl Into<Cow<'static, str>>) -> Self {
        let (Self::Unavailable { op: current, .. } | Self::Other { op: current, .. }) = &mut self;
        let op = op.into();
        *current = if current.is_empty() {
            op
        } else {
            Cow::Owned(format!("{op}: {current}"))
        };
        self
    }

    /// Whether this is [`StoreError::Unavailable`] (503, or a fallback where one exists).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    /// What was being done.
    pub fn op(&self) -> &str {
        let (Self::Unavailable { op, .. } | Self::Other { op, .. }) = self;
        op
    }
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, source) = match self {
            Self::Unavailable { source, .. } => ("Unavailable", source),
            Self::Other { source, .. } => ("Other", source),
        };
        f.debug_struct(kind)
            .field("op", &self.op())
            .field("source", &format_args!("{}", chain(source.as_ref())))
            .finish()
    }
}

/// ` (op)`, or nothing before an operation is known.
struct During<'a>(&'a str);

impl fmt::Display for During<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            Ok(())
        } else {
            write!(f, " ({})", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_kind_and_operation_and_the_chain_adds_the_cause() {
        let err = StoreError::corrupt("unexpected NULL").in_op("find_user");
        assert_eq!(err.to_string(), "store error (find_user)");
        assert_eq!(
            chain(&err).to_string(),
            "store error (find_user): corrupt row: unexpected NULL"
        );
        assert!(!err.is_unavailable());
        let outer = StoreError::unavailable("connect", "refused").in_op("target database");
        assert_eq!(
            outer.to_string(),
            "store unavailable (target database: connect)"
        );
        assert!(outer.is_unavailable());
        assert_eq!(
            format!("{outer:?}"),
            r#"Unavailable { op: "target database: connect", source: refused }"#
        );
    }
}
