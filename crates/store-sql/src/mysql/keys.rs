//! [`KeyStore`] on MySQL and MariaDB: token-signing keys.

use async_trait::async_trait;
use wxlogin_core::ports::{KeyStore, SigningKeyRecord, StoreResult};

use super::{MySqlStore, db_err, is_duplicate_on};
use crate::rows::{SigningKeyRow, unix};

#[async_trait]
impl KeyStore for MySqlStore {
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        sqlx::query_as::<_, SigningKeyRow>(
            "SELECT CONVERT(kid USING utf8mb4) AS kid, generation, public_key, private_sealed, created_at
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
        // stays an error. So a plain INSERT and a look at which key was taken, not INSERT
        // IGNORE, which would also swallow a taken kid (and bad values).
        let inserted = sqlx::query(
            "INSERT INTO signing_keys (kid, generation, public_key, private_sealed, created_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(key.kid.as_str())
        .bind(key.generation)
        .bind(key.public_key.as_slice())
        .bind(key.private_sealed.as_slice())
        .bind(unix(key.created_at))
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(done) => Ok(done.rows_affected() == 1),
            Err(e) if is_duplicate_on(&e, "signing_keys_generation") => Ok(false),
            Err(e) => Err(db_err("insert_signing_key")(e)),
        }
    }
}
