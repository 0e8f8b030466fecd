//! [`KeyStore`] on SQLite: token-signing keys.

use async_trait::async_trait;
use wxlogin_core::ports::{KeyStore, SigningKeyRecord, StoreResult};

use super::{SqliteStore, db_err};
use crate::rows::{SigningKeyRow, unix};

#[async_trait]
impl KeyStore for SqliteStore {
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        sqlx::query_as::<_, SigningKeyRow>(
            "SELECT kid, generation, public_key, private_sealed, created_at
             FROM signing_keys ORDER BY generation",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("signing_keys"))?
        .into_iter()
        .map(SigningKeyRow::into_record)
        .collect()
    }

    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<bool> {
        // Only a taken generation means "another instance won"; a taken kid is a bug and
        // stays an error.
        let inserted = sqlx::query(
            "INSERT INTO signing_keys (kid, generation, public_key, private_sealed, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (generation) DO NOTHING",
        )
        .bind(key.kid.as_str())
        .bind(key.generation)
        .bind(key.public_key.as_slice())
        .bind(key.private_sealed.as_slice())
        .bind(unix(key.created_at))
        .execute(&self.writer)
        .await
        .map_err(db_err("insert_signing_key"))?
        .rows_affected();
        Ok(inserted == 1)
    }
}
