//! Secrets at rest: sealing with XChaCha20-Poly1305 under a ring of named keys.
//!
//! Whatever Tessera must be able to read back but must not keep in plain text (JWT signing keys,
//! third-party OAuth tokens, client secrets) is sealed here. Every seal uses a fresh random 192-bit
//! nonce (XChaCha's nonce is large enough that random nonces never collide in practice) and binds
//! *associated data* — the row and column the value belongs to — so a sealed value copied into
//! another row or column fails to open instead of silently decrypting there.
//!
//! A sealed value is self-describing: `version (1) | key id length (1) | key id | nonce (24) |
//! ciphertext+tag`. The key id lets a ring hold old keys beside the active one: values sealed
//! under an older key keep opening until they are re-sealed, which is how keys rotate.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand::distributions::{Alphanumeric, DistString};
use rand::RngCore;
use sha2::Sha256;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

/// Why a sealed value could not be opened. Deliberately vague: the cause is never a secret, but
/// the difference between "wrong key" and "tampered" helps nobody but an attacker.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    /// The value names a key this ring does not hold.
    #[error("sealed with key `{0}`, which is not configured")]
    UnknownKey(String),
    /// Truncated, tampered with, sealed for another row or column, or not a sealed value at all.
    #[error("sealed value is corrupt or belongs elsewhere")]
    Corrupt,
}

/// The id of the key [`KeyRing::derived`] makes.
pub const DERIVED_KEY_ID: &str = "derived";

/// A 256-bit key derived from the service secret with HKDF-SHA256 for one `purpose`.
pub fn derive_key(secret: &[u8], purpose: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    Hkdf::<Sha256>::new(None, secret)
        .expand(
            format!("tessera sealing key: {purpose}").as_bytes(),
            &mut key,
        )
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    key
}

/// One named 256-bit key.
#[derive(Clone)]
struct NamedKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

/// A ring of sealing keys: the first seals, all of them open.
#[derive(Clone)]
pub struct KeyRing {
    keys: Vec<NamedKey>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("KeyRing").field("key_ids", &ids).finish()
    }
}

impl KeyRing {
    /// A ring of one key derived from the service secret with HKDF-SHA256. `purpose` separates
    /// keys for different jobs, so one leaked derived key opens nothing else.
    pub fn derived(secret: &[u8], purpose: &str) -> KeyRing {
        KeyRing::from_keys(vec![(
            DERIVED_KEY_ID.to_owned(),
            derive_key(secret, purpose),
        )])
        .expect("one key with a short id")
    }

    /// A ring from explicit keys, the active one first. Ids must be 1–255 bytes and distinct.
    pub fn from_keys(keys: Vec<(String, [u8; 32])>) -> anyhow::Result<KeyRing> {
        anyhow::ensure!(!keys.is_empty(), "a key ring needs at least one key");
        let mut named = Vec::with_capacity(keys.len());
        for (id, key) in keys {
            anyhow::ensure!(
                !id.is_empty() && id.len() <= 255,
                "key ids must be 1 to 255 bytes"
            );
            anyhow::ensure!(
                named.iter().all(|k: &NamedKey| k.id != id),
                "key id `{id}` appears twice"
            );
            named.push(NamedKey {
                id,
                cipher: XChaCha20Poly1305::new(&key.into()),
            });
        }
        Ok(KeyRing { keys: named })
    }

    /// The id of the key new values are sealed with.
    pub fn active_key_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Seals `plaintext` under the active key, bound to `context` (e.g. `table:row-id:column`).
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Vec<u8> {
        let key = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = key
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
        let mut sealed = Vec::with_capacity(2 + key.id.len() + NONCE_LEN + ciphertext.len());
        sealed.push(VERSION);
        sealed.push(key.id.len() as u8);
        sealed.extend_from_slice(key.id.as_bytes());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// Opens a value sealed by [`KeyRing::seal`] with the same `context`.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, OpenError> {
        let (key_id, nonce, ciphertext) = split(sealed).ok_or(OpenError::Corrupt)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id == key_id)
            .ok_or_else(|| OpenError::UnknownKey(key_id.to_owned()))?;
        key.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .map_err(|_| OpenError::Corrupt)
    }

    /// Whether `sealed` was sealed under a key other than the active one (and so wants re-sealing).
    pub fn needs_reseal(&self, sealed: &[u8]) -> bool {
        split(sealed).is_none_or(|(key_id, _, _)| key_id != self.active_key_id())
    }
}

fn split(sealed: &[u8]) -> Option<(&str, &[u8], &[u8])> {
    let (&version, rest) = sealed.split_first()?;
    if version != VERSION {
        return None;
    }
    let (&id_len, rest) = rest.split_first()?;
    let id_len = usize::from(id_len);
    if rest.len() < id_len + NONCE_LEN {
        return None;
    }
    let (id, rest) = rest.split_at(id_len);
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    Some((std::str::from_utf8(id).ok()?, nonce, ciphertext))
}

/// The SHA-256 of a high-entropy secret (a refresh token, a one-time link): what is stored of it,
/// so the database alone gives nobody a usable secret. (PATs have their own type,
/// `tokens::format::TokenHash`.)
pub fn sha256(secret: &str) -> [u8; 32] {
    use sha2::Digest;
    Sha256::digest(secret.as_bytes()).into()
}

/// `n` characters drawn uniformly from base62 by the operating system's CSPRNG: PAT and
/// refresh-token secrets, generated keys, dummy passwords.
pub fn random_base62(n: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rngs::OsRng, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(ids: &[&str]) -> KeyRing {
        KeyRing::from_keys(
            ids.iter()
                .enumerate()
                .map(|(i, id)| ((*id).to_owned(), [i as u8 + 1; 32]))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn sealed_values_open_only_with_the_same_context() {
        let ring = ring(&["k1"]);
        let sealed = ring.seal(b"refresh-token-value", b"connections:42:refresh_token");
        assert!(!sealed
            .windows(b"refresh-token-value".len())
            .any(|w| w == b"refresh-token-value"));
        assert_eq!(
            ring.open(&sealed, b"connections:42:refresh_token").unwrap(),
            b"refresh-token-value"
        );
        assert_eq!(
            ring.open(&sealed, b"connections:43:refresh_token"),
            Err(OpenError::Corrupt)
        );
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let ring = ring(&["k1"]);
        assert_ne!(ring.seal(b"same", b"ctx"), ring.seal(b"same", b"ctx"));
    }

    #[test]
    fn tampering_and_truncation_are_detected() {
        let ring = ring(&["k1"]);
        let mut sealed = ring.seal(b"secret", b"ctx");
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(ring.open(&sealed, b"ctx"), Err(OpenError::Corrupt));
        assert_eq!(ring.open(&sealed[..10], b"ctx"), Err(OpenError::Corrupt));
        assert_eq!(ring.open(b"", b"ctx"), Err(OpenError::Corrupt));
    }

    #[test]
    fn old_keys_still_open_after_rotation_and_unknown_keys_are_named() {
        let old = ring(&["k1"]);
        let sealed = old.seal(b"secret", b"ctx");
        let rotated =
            KeyRing::from_keys(vec![("k2".to_owned(), [9; 32]), ("k1".to_owned(), [1; 32])])
                .unwrap();
        assert_eq!(rotated.open(&sealed, b"ctx").unwrap(), b"secret");
        assert!(rotated.needs_reseal(&sealed));
        assert!(!rotated.needs_reseal(&rotated.seal(b"secret", b"ctx")));
        let other = ring(&["k3"]);
        assert_eq!(
            other.open(&sealed, b"ctx"),
            Err(OpenError::UnknownKey("k1".to_owned()))
        );
    }

    #[test]
    fn derived_rings_differ_by_purpose() {
        let a = KeyRing::derived(b"0123456789abcdef0123456789abcdef", "signing keys");
        let b = KeyRing::derived(b"0123456789abcdef0123456789abcdef", "oauth tokens");
        let sealed = a.seal(b"secret", b"ctx");
        assert_eq!(b.open(&sealed, b"ctx"), Err(OpenError::Corrupt));
    }
}
