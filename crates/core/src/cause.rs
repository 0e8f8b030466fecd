//! Failures keep their cause up to the one place that logs them.
//!
//! The rule (`CONTRIBUTING.md`, "Errors keep their causes and are logged once"): an error is logged once, with its whole
//! source chain ([`chain`]), where it is turned into a response (the server's `ApiError`) or
//! where it is swallowed (a background task, a fallback that carries on without it). On the
//! way up it is wrapped or carried ([`Cause`]), never logged.
//!
//! Everything here prints errors through `Display` only, never `Debug`: some drivers' `Debug`
//! holds more than their message (PostgreSQL's `DETAIL` quotes the offending key, for one).

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ports::{LookupFailed, StoreError};

/// Any error, boxed. `&str` and `String` convert into it too, for a cause that is only a
/// sentence.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// An error shared by every clone of what carries it.
pub type SharedError = Arc<dyn Error + Send + Sync>;

/// `error` and its sources, `Display`ed as `outer: inner: innermost`.
pub fn chain<E: Error + ?Sized>(error: &E) -> Chain<'_, E> {
    Chain(error)
}

/// See [`chain`]. (Generic rather than `&dyn Error` so that it is `Send` when the error is
/// `Sync`, and may live across an `.await`.)
pub struct Chain<'a, E: ?Sized>(&'a E);

impl<E: Error + ?Sized> fmt::Display for Chain<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.to_string();
        f.write_str(&shown)?;
        let mut next = self.0.source();
        while let Some(source) = next {
            let text = source.to_string();
            // Many errors repeat their source in their own message (`"...: {0}"` with
            // `#[source]`, sqlx's database errors): say it once.
            if !shown.contains(&text) {
                write!(f, ": {text}")?;
            }
            shown = text;
            next = source.source();
        }
        Ok(())
    }
}

/// Why a request failed with `unavailable` or `internal`: the error behind it, carried from
/// the adapter that met it to the one log line. It never reaches a response body.
///
/// All causes compare equal: what a request came to is its error code, and two failures with
/// the same code are the same outcome whatever broke. Serialized, a cause is its chain's text
/// (outcomes are shared between instances as JSON, though failures with a cause are never
/// among them: see `AuthError::is_cacheable`).
#[derive(Clone)]
pub struct Cause(SharedError);

impl Cause {
    /// A cause from any error, or from a sentence.
    pub fn new(error: impl Into<BoxError>) -> Self {
        Self(Arc::from(error.into()))
    }

    /// The cause and its sources, for the log line.
    pub fn chain(&self) -> Chain<'_, Self> {
        chain(self)
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Cause")
            .field(&format_args!("{}", self.chain()))
            .finish()
    }
}

// Transparent: the chain of a cause is the chain of its error.
impl Error for Cause {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for Cause {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Cause {}

impl From<StoreError> for Cause {
    fn from(e: StoreError) -> Self {
        Self(Arc::new(e))
    }
}

impl From<LookupFailed> for Cause {
    fn from(e: LookupFailed) -> Self {
        Self(Arc::new(e))
    }
}

impl From<&str> for Cause {
    fn from(text: &str) -> Self {
        Self::new(text)
    }
}

impl From<String> for Cause {
    fn from(text: String) -> Self {
        Self::new(text)
    }
}

impl Serialize for Cause {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.chain())
    }
}

impl<'de> Deserialize<'de> for Cause {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("repeating: {0}")]
    struct Repeating(#[source] std::io::Error);

    fn refused() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused")
    }

    #[test]
    fn a_chain_shows_every_source_once() {
        assert_eq!(
            chain(&Outer(refused())).to_string(),
            "outer: connection refused"
        );
        assert_eq!(
            chain(&Repeating(refused())).to_string(),
            "repeating: connection refused"
        );
    }

    #[test]
    fn a_cause_keeps_the_chain_of_its_error() {
        let cause = Cause::from(StoreError::unavailable("find_user", Outer(refused())));
        assert_eq!(
            cause.chain().to_string(),
            "store unavailable (find_user): outer: connection refused"
        );
        assert!(format!("{cause:?}").contains("connection refused"));
        let json = serde_json::to_string(&cause).unwrap();
        let back: Cause = serde_json::from_str(&json).unwrap();
        assert_eq!(back.to_string(), cause.chain().to_string());
    }
}
