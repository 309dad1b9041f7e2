//! Queries on `signing_keys`: the Ed25519 keys access JWTs are signed with, shared by every
//! instance through the database.

use super::{on_pool, Store};
use crate::types::Timestamp;

/// One stored signing key. The private half is sealed; see `accounts::keys`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SigningKeyRecord {
    /// Key id, the JWT header's `kid`.
    pub kid: String,
    /// Raw 32-byte Ed25519 public key.
    pub public_key: Vec<u8>,
    /// The PKCS#8 private key, sealed with a key derived from `SECRET_KEY`.
    pub private_key_sealed: Vec<u8>,
    /// When it was made.
    pub created_at: Timestamp,
    /// When a newer key replaced it; it verifies until tokens it signed have expired.
    pub retired_at: Option<Timestamp>,
}

impl Store {
    /// Keys that may still verify tokens: every unretired key and every key retired after
    /// `retired_after`, newest first.
    pub async fn verifying_keys(
        &self,
        retired_after: Timestamp,
    ) -> Result<Vec<SigningKeyRecord>, sqlx::Error> {
        on_pool!(self, pool => sqlx::query_as::<_, SigningKeyRecord>(
            "SELECT kid, public_key, private_key_sealed, created_at, retired_at FROM signing_keys \
             WHERE retired_at IS NULL OR retired_at > $1 ORDER BY created_at DESC, kid DESC",
        )
        .bind(retired_after)
        .fetch_all(pool)
        .await)
    }

    /// Stores `key` as the signing key. With `retire_others`, every older key is retired in the
    /// same transaction (rotation); without, an existing key is left alone (first start).
    pub async fn insert_signing_key(
        &self,
        key: &SigningKeyRecord,
        retire_others: bool,
    ) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            if retire_others {
                sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
                    .bind(key.created_at)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "INSERT INTO signing_keys (kid, public_key, private_key_sealed, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(&key.kid)
            .bind(&key.public_key)
            .bind(&key.private_key_sealed)
            .bind(key.created_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        })
    }
}
