//! [`KeyStore`] on [`SqlStore`]: the signing keys, the first one elected by its unique
//! generation.

use async_trait::async_trait;
use wxlogin_core::ports::{KeyStore, SigningKeyRecord, StoreResult};

use crate::rows::{self, unix};
use crate::sql::{Query, args};
use crate::store::SqlStore;

#[async_trait]
impl KeyStore for SqlStore {
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        static Q: Query = Query::new(
            "SELECT kid, generation, public_key, private_sealed, created_at
             FROM signing_keys ORDER BY generation",
        );
        self.read("signing_keys", move |db| {
            Box::pin(async move {
                db.fetch(&Q, &[])
                    .await?
                    .into_iter()
                    .map(|mut row| rows::signing_key(&mut row))
                    .collect()
            })
        })
        .await
    }

    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<bool> {
        // Only a taken generation means "another instance won"; a taken kid is a bug and
        // stays an error.
        static Q: Query = Query::new(
            "INSERT INTO signing_keys (kid, generation, public_key, private_sealed, created_at)
             VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (generation) DO NOTHING",
        )
        .mysql(
            "INSERT INTO signing_keys (kid, generation, public_key, private_sealed, created_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .mysql_duplicate_is_noop(&["signing_keys_generation"]);
        let k = key.clone();
        self.write("insert_signing_key", move |db| {
            Box::pin(async move {
                let args = args![
                    k.kid.as_str(),
                    k.generation,
                    k.public_key.as_slice(),
                    k.private_sealed.as_slice(),
                    unix(k.created_at),
                ];
                Ok(db.execute(&Q, &args).await? == 1)
            })
        })
        .await
    }
}
