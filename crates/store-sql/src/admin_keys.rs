//! [`AdminKeyStore`] for [`SqlStore`]: admin keys, only their SHA-256 stored.

use async_trait::async_trait;
use time::OffsetDateTime;
use wxlogin_core::admin::{AdminKeyRecord, AdminKeyStore, Scope};
use wxlogin_core::ports::StoreResult;

use crate::rows::{self, unix};
use crate::sql::{Query, args};
use crate::store::SqlStore;

/// The columns [`rows::admin_key`] reads.
macro_rules! admin_key_columns {
    () => {
        "id, name, hash, scopes, created_at, revoked_at"
    };
}

#[async_trait]
impl AdminKeyStore for SqlStore {
    async fn insert_admin_key(&self, key: &AdminKeyRecord) -> StoreResult<bool> {
        // One statement: the name check and the insert together. Names are unique among live
        // keys only (a revoked key's name can be used again), which no portable unique index
        // expresses (MySQL has no partial indexes); keys are made by an operator, one at a
        // time. MySQL wants `FROM DUAL` for a `WHERE` without a table.
        static Q: Query = Query::new(
            "INSERT INTO admin_keys (id, name, hash, scopes, created_at, revoked_at)
             SELECT ?, ?, ?, ?, ?, ?
             WHERE NOT EXISTS (SELECT 1 FROM admin_keys WHERE name = ? AND revoked_at IS NULL)",
        )
        .mysql(
            "INSERT INTO admin_keys (id, name, hash, scopes, created_at, revoked_at)
             SELECT ?, ?, ?, ?, ?, ? FROM DUAL
             WHERE NOT EXISTS (SELECT 1 FROM admin_keys WHERE name = ? AND revoked_at IS NULL)",
        );
        let key = key.clone();
        self.write("insert_admin_key", move |db| {
            Box::pin(async move {
                let scopes = stored(&key.scopes);
                let args = args![
                    key.id.as_str(),
                    key.name.as_str(),
                    key.hash.as_slice(),
                    scopes.as_str(),
                    unix(key.created_at),
                    key.revoked_at.map(unix),
                    key.name.as_str(),
                ];
                Ok(db.execute(&Q, &args).await? == 1)
            })
        })
        .await
    }

    async fn admin_keys(&self) -> StoreResult<Vec<AdminKeyRecord>> {
        static Q: Query = Query::new(concat!(
            "SELECT ",
            admin_key_columns!(),
            " FROM admin_keys ORDER BY created_at, id"
        ));
        self.read("admin_keys", move |db| {
            Box::pin(async move {
                db.fetch(&Q, &[])
                    .await?
                    .into_iter()
                    .map(|mut row| rows::admin_key(&mut row))
                    .collect()
            })
        })
        .await
    }

    async fn live_admin_key(&self, hash: &[u8; 32]) -> StoreResult<Option<AdminKeyRecord>> {
        static Q: Query = Query::new(concat!(
            "SELECT ",
            admin_key_columns!(),
            " FROM admin_keys WHERE hash = ? AND revoked_at IS NULL"
        ));
        let hash = *hash;
        self.read("live_admin_key", move |db| {
            Box::pin(async move {
                db.fetch_optional(&Q, &args![hash.as_slice()])
                    .await?
                    .map(|mut row| rows::admin_key(&mut row))
                    .transpose()
            })
        })
        .await
    }

    async fn revoke_admin_key(&self, name: &str, now: OffsetDateTime) -> StoreResult<bool> {
        static Q: Query = Query::new(
            "UPDATE admin_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
        );
        let name = name.to_owned();
        self.write("revoke_admin_key", move |db| {
            Box::pin(async move { Ok(db.execute(&Q, &args![unix(now), name.as_str()]).await? > 0) })
        })
        .await
    }
}

/// Scopes as stored: their names, space-separated.
fn stored(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}
