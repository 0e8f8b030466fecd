//! What each backend implements beyond the ports: [`crate::SqlStore`] holds one as
//! `Box<dyn Backend>` and forwards every call to it.

use std::fmt::Debug;

use async_trait::async_trait;
use time::OffsetDateTime;
use wxlogin_core::ports::{Health, KeyStore, SessionStore, StoreResult, TokenStore, UserStore};

use crate::store::Purged;

/// One database engine: the ports plus upkeep.
#[async_trait]
pub(crate) trait Backend:
    UserStore + SessionStore + TokenStore + KeyStore + Health + Debug
{
    /// Short name for `Debug` and logs: `sqlite`, `postgres`, `mysql`.
    fn name(&self) -> &'static str;
    /// Applies pending embedded migrations; safe when several instances run it at once.
    async fn migrate(&self) -> StoreResult<()>;
    /// Deletes what expired at `now`.
    async fn purge_expired(&self, now: OffsetDateTime) -> StoreResult<Purged>;
    /// Closes the pool, waiting for connections in use to come back.
    async fn close(&self);
}
