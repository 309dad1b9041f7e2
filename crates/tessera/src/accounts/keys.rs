//! The Ed25519 keys access JWTs are signed with: made, sealed, stored, rotated and published.
//!
//! Keys live in the database so every instance signs with the same key and verifies every other
//! instance's tokens. The private half is sealed with a key derived from `SECRET_KEY` (see
//! [`crate::crypto`]): a database dump alone cannot mint tokens.
//!
//! Lifetimes: the newest unretired key signs. `tessera keys rotate` adds a key and retires the
//! others in one transaction; a retired key keeps verifying (and stays in `/.well-known/jwks.json`)
//! until every token it can have signed has expired — the access-token lifetime plus the reload
//! interval, since other instances notice a rotation only when they reload.
//!
//! Instances reload the key set every [`RELOAD_INTERVAL`], and at once (at most once a second)
//! when a token names a `kid` they do not know, so a token signed by a freshly rotated key on
//! another instance verifies here without waiting.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{DecodingKey, EncodingKey};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::crypto::KeyRing;
use crate::store::{SigningKeyRecord, Store};
use crate::types::Timestamp;

/// How often every instance re-reads the key set.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(30);

/// How long a retired key keeps verifying: until every token it signed (living
/// `jwt_ttl_seconds`) has expired, even on an instance that noticed the rotation only at its next
/// reload, with a minute to spare for clocks.
pub fn retired_key_grace(jwt_ttl_seconds: u64) -> Duration {
    Duration::from_secs(jwt_ttl_seconds + 60) + RELOAD_INTERVAL
}

/// The key that signs new tokens.
pub struct SigningKey {
    /// Its id (RFC 7638 thumbprint), the JWT header's `kid`.
    pub kid: String,
    /// The private key.
    pub encoding: EncodingKey,
}

/// The keys in force at one moment.
pub struct KeySet {
    /// Signs new tokens.
    pub signing: SigningKey,
    verifying: HashMap<String, DecodingKey>,
    jwks: Arc<serde_json::Value>,
}

impl KeySet {
    /// The public key for `kid`, if it may still verify tokens.
    pub fn verifying_key(&self, kid: &str) -> Option<&DecodingKey> {
        self.verifying.get(kid)
    }
}

/// The shared, reloadable key set.
pub struct SigningKeys {
    store: Store,
    sealer: KeyRing,
    /// How long a retired key keeps verifying.
    retired_grace: Duration,
    current: RwLock<Arc<KeySet>>,
    /// When the key set was last read. Behind an async lock that an unknown-`kid` reload holds
    /// while it reads, so a burst of tokens with one unknown `kid` reloads once, not once each.
    last_reload: tokio::sync::Mutex<Instant>,
    /// Reloads caused by an unknown `kid`, for tests and diagnostics.
    unknown_kid_reloads: AtomicU64,
}

fn sealing_context(kid: &str) -> Vec<u8> {
    format!("signing_keys:{kid}:private_key").into_bytes()
}

/// RFC 7638 thumbprint of an Ed25519 public key: a `kid` any party can recompute.
fn thumbprint(public_key: &[u8]) -> String {
    let x = URL_SAFE_NO_PAD.encode(public_key);
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// A new key pair, sealed for storage.
fn generate(sealer: &KeyRing) -> anyhow::Result<SigningKeyRecord> {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| anyhow::anyhow!("the system random source failed"))?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|_| anyhow::anyhow!("ring rejected its own key"))?;
    let public_key = pair.public_key().as_ref().to_vec();
    let kid = thumbprint(&public_key);
    Ok(SigningKeyRecord {
        private_key_sealed: sealer.seal(pkcs8.as_ref(), &sealing_context(&kid)),
        kid,
        public_key,
        created_at: Timestamp::now(),
        retired_at: None,
    })
}

impl SigningKeys {
    /// Loads the key set, making the first key if the database has none.
    pub async fn load(
        store: Store,
        secret: &[u8],
        retired_grace: Duration,
    ) -> anyhow::Result<Self> {
        let sealer = KeyRing::derived(secret, "jwt signing keys");
        let set = match Self::read(&store, &sealer, retired_grace).await? {
            Some(set) => set,
            None => {
                // Two instances starting at once may both get here; both keys are then published
                // and verify, and the newer one signs. Harmless, so no lock is taken.
                store.insert_signing_key(&generate(&sealer)?, false).await?;
                tracing::info!("made the first JWT signing key");
                Self::read(&store, &sealer, retired_grace)
                    .await?
                    .context("the signing key just stored cannot be read back")?
            }
        };
        Ok(SigningKeys {
            current: RwLock::new(Arc::new(set)),
            store,
            sealer,
            retired_grace,
            // As if read a second ago: an unknown `kid` right after start-up may be a rotation
            // this instance has not seen, so it is allowed its one reload at once.
            last_reload: tokio::sync::Mutex::new(
                Instant::now()
                    .checked_sub(Duration::from_secs(1))
                    .unwrap_or_else(Instant::now),
            ),
            unknown_kid_reloads: AtomicU64::new(0),
        })
    }

    /// Makes a new signing key and retires the others; returns the new `kid`.
    pub async fn rotate(store: &Store, secret: &[u8]) -> anyhow::Result<String> {
        let sealer = KeyRing::derived(secret, "jwt signing keys");
        let key = generate(&sealer)?;
        store.insert_signing_key(&key, true).await?;
        Ok(key.kid)
    }

    /// The keys in force now.
    pub fn current(&self) -> Arc<KeySet> {
        self.current.read().expect("key set lock poisoned").clone()
    }

    /// The published JWKS document.
    pub fn jwks(&self) -> Arc<serde_json::Value> {
        self.current().jwks.clone()
    }

    /// Re-reads the key set from the database.
    pub async fn reload(&self) -> anyhow::Result<()> {
        let mut last_reload = self.last_reload.lock().await;
        self.read_into_current().await?;
        *last_reload = Instant::now();
        Ok(())
    }

    async fn read_into_current(&self) -> anyhow::Result<()> {
        if let Some(set) = Self::read(&self.store, &self.sealer, self.retired_grace).await? {
            *self.current.write().expect("key set lock poisoned") = Arc::new(set);
        }
        Ok(())
    }

    /// How many times an unknown `kid` made this instance re-read the key set.
    pub fn unknown_kid_reloads(&self) -> u64 {
        self.unknown_kid_reloads.load(Ordering::Relaxed)
    }

    /// The verifying key for `kid`; reloads once (at most once a second) if it is unknown, since
    /// another instance may just have rotated. Concurrent callers wait for one reload and then
    /// look again, rather than each reading the database.
    pub async fn verifying_key(&self, kid: &str) -> Option<DecodingKey> {
        if let Some(key) = self.current().verifying_key(kid) {
            return Some(key.clone());
        }
        let mut last_reload = self.last_reload.lock().await;
        if last_reload.elapsed() >= Duration::from_secs(1) {
            self.unknown_kid_reloads.fetch_add(1, Ordering::Relaxed);
            if let Err(error) = self.read_into_current().await {
                tracing::warn!(%error, "reloading JWT keys failed");
            }
            *last_reload = Instant::now();
        }
        drop(last_reload);
        self.current().verifying_key(kid).cloned()
    }

    /// Reloads every [`RELOAD_INTERVAL`] until the task is aborted.
    pub fn spawn_reloader(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let keys = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RELOAD_INTERVAL);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(error) = keys.reload().await {
                    tracing::warn!(%error, "reloading JWT keys failed");
                }
            }
        })
    }

    async fn read(
        store: &Store,
        sealer: &KeyRing,
        retired_grace: Duration,
    ) -> anyhow::Result<Option<KeySet>> {
        let cutoff = Timestamp::from_datetime(time::OffsetDateTime::now_utc() - retired_grace);
        let records = store.verifying_keys(cutoff).await?;
        let Some(signer) = records.iter().find(|r| r.retired_at.is_none()) else {
            return Ok(None);
        };
        let pkcs8 = sealer
            .open(&signer.private_key_sealed, &sealing_context(&signer.kid))
            .with_context(|| {
                format!(
                    "opening JWT signing key {}: was SECRET_KEY changed?",
                    signer.kid
                )
            })?;
        let signing = SigningKey {
            kid: signer.kid.clone(),
            encoding: EncodingKey::from_ed_der(&pkcs8),
        };
        let verifying = records
            .iter()
            .map(|r| (r.kid.clone(), DecodingKey::from_ed_der(&r.public_key)))
            .collect();
        let published: Vec<_> = records
            .iter()
            .map(|r| {
                json!({"kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA",
                       "kid": r.kid, "x": URL_SAFE_NO_PAD.encode(&r.public_key)})
            })
            .collect();
        Ok(Some(KeySet {
            signing,
            verifying,
            jwks: Arc::new(json!({ "keys": published })),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc_8037_example() {
        // RFC 8037 appendix A.3: the thumbprint of the example Ed25519 key.
        let x = URL_SAFE_NO_PAD
            .decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
            .unwrap();
        assert_eq!(
            thumbprint(&x),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }
}
