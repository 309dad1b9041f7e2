//! The vault: every third-party secret Tessera holds (client secrets, access and refresh tokens,
//! PKCE verifiers), and the webhook signing secrets it shares with receivers, is sealed here
//! before it reaches the store and opened here after.
//!
//! Each value is bound to its row and column (`oauth_connections:<branch>:refresh_token`), so a
//! sealed value copied into another row fails to open instead of leaking across branches. Keys
//! come from `TOKEN_ENCRYPTION_KEYS` (`id:base64key,…`, active first) or, when unset, one key
//! derived from `SECRET_KEY`; `tessera connections rekey` re-seals old rows under the active key.

use anyhow::Context;
use base64::Engine;
use uuid::Uuid;

use crate::config::SecretString;
use crate::crypto::{derive_key, KeyRing, DERIVED_KEY_ID};
use crate::store::SealedColumn;

/// Which secret of which row a sealed value is.
#[derive(Debug, Clone, Copy)]
pub enum Slot {
    /// An OAuth client's secret (row: the client's Tessera id).
    ClientSecret(Uuid),
    /// A branch's access token (row: the branch id).
    AccessToken(Uuid),
    /// A branch's refresh token.
    RefreshToken(Uuid),
    /// The PKCE verifier of a pending authorization (row: the state's SHA-256).
    PkceVerifier([u8; 32]),
    /// A webhook endpoint's signing secret, current or previous (row: the endpoint's id; one
    /// context for both columns, since a rotation moves the current one to the previous).
    WebhookSecret(Uuid),
}

impl Slot {
    fn context(&self) -> Vec<u8> {
        match self {
            Slot::ClientSecret(id) => format!("oauth_clients:{id}:client_secret").into_bytes(),
            Slot::AccessToken(id) => format!("oauth_connections:{id}:access_token").into_bytes(),
            Slot::RefreshToken(id) => format!("oauth_connections:{id}:refresh_token").into_bytes(),
            Slot::WebhookSecret(id) => format!("webhook_endpoints:{id}:secret").into_bytes(),
            Slot::PkceVerifier(state_hash) => {
                let mut context = b"oauth_states:".to_vec();
                context.extend_from_slice(state_hash);
                context.extend_from_slice(b":pkce_verifier");
                context
            }
        }
    }
}

/// Seals and opens the connections' secrets.
#[derive(Debug, Clone)]
pub struct Vault {
    ring: KeyRing,
}

impl Vault {
    /// The vault for this configuration: explicit keys, or one derived from the service secret.
    pub fn new(keys: Option<&SecretString>, secret: &[u8]) -> anyhow::Result<Vault> {
        const PURPOSE: &str = "oauth connections";
        let ring = match keys {
            // The derived key stays in the ring, last, so values sealed before the first
            // TOKEN_ENCRYPTION_KEYS was set still open (and `rekey` can move them).
            Some(keys) => parse_keys(keys.expose(), Some(derive_key(secret, PURPOSE)))?,
            None => KeyRing::derived(secret, PURPOSE),
        };
        Ok(Vault { ring })
    }

    /// Seals `secret` for `slot`.
    pub fn seal(&self, slot: Slot, secret: &str) -> Vec<u8> {
        self.ring.seal(secret.as_bytes(), &slot.context())
    }

    /// Opens a value sealed for `slot`. A failure is a fault of ours (wrong keys configured, a
    /// tampered row), never the caller's: it is reported without the value.
    pub fn open(&self, slot: Slot, sealed: &[u8]) -> anyhow::Result<SecretString> {
        let plain = self
            .ring
            .open(sealed, &slot.context())
            .context("opening a sealed connection secret")?;
        let text = String::from_utf8(plain).context("a sealed connection secret is not text")?;
        Ok(SecretString::from(text))
    }

    /// Re-seals `sealed` under the active key if it was sealed under another; `None` when it is
    /// current already.
    pub fn reseal(&self, slot: Slot, sealed: &[u8]) -> anyhow::Result<Option<Vec<u8>>> {
        if !self.ring.needs_reseal(sealed) {
            return Ok(None);
        }
        let secret = self.open(slot, sealed)?;
        Ok(Some(self.seal(slot, secret.expose())))
    }
}

/// What `tessera connections rekey` did.
#[derive(Debug, Default, serde::Serialize)]
pub struct RekeyReport {
    /// Values re-sealed under the active key.
    pub resealed: usize,
    /// Values already under the active key.
    pub current: usize,
    /// Values changed by a concurrent refresh meanwhile (they were sealed under the active key
    /// by that refresh).
    pub raced: usize,
}

/// Re-seals every stored secret that is not under the active key. Safe while instances run:
/// each value is replaced only if it is still the one read.
pub async fn rekey(store: &crate::store::Store, vault: &Vault) -> anyhow::Result<RekeyReport> {
    let mut report = RekeyReport::default();
    for value in store.sealed_values().await? {
        let slot = match value.kind {
            SealedColumn::ClientSecret => Slot::ClientSecret(value.row_id),
            SealedColumn::AccessToken => Slot::AccessToken(value.row_id),
            SealedColumn::RefreshToken => Slot::RefreshToken(value.row_id),
            SealedColumn::WebhookSecret | SealedColumn::WebhookPreviousSecret => {
                Slot::WebhookSecret(value.row_id)
            }
        };
        match vault.reseal(slot, &value.sealed)? {
            None => report.current += 1,
            Some(resealed) if store.replace_sealed_value(&value, &resealed).await? => {
                report.resealed += 1
            }
            Some(_) => report.raced += 1,
        }
    }
    Ok(report)
}

/// Parses `id:base64key,…`; each key must decode to 32 bytes. `derived` is added last unless an
/// entry already uses its id.
fn parse_keys(raw: &str, derived: Option<[u8; 32]>) -> anyhow::Result<KeyRing> {
    let mut keys = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (id, key) = entry
            .split_once(':')
            .context("TOKEN_ENCRYPTION_KEYS entries must look like `id:base64key`")?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(key.trim())
            .with_context(|| format!("TOKEN_ENCRYPTION_KEYS: key `{id}` is not base64"))?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| {
            anyhow::anyhow!(
                "TOKEN_ENCRYPTION_KEYS: key `{id}` must be 32 bytes (44 base64 characters)"
            )
        })?;
        keys.push((id.trim().to_owned(), key));
    }
    anyhow::ensure!(!keys.is_empty(), "TOKEN_ENCRYPTION_KEYS names no key");
    if let Some(derived) = derived {
        if keys.iter().all(|(id, _)| id != DERIVED_KEY_ID) {
            keys.push((DERIVED_KEY_ID.to_owned(), derived));
        }
    }
    KeyRing::from_keys(keys).context("TOKEN_ENCRYPTION_KEYS")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    const KEY_B: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";

    fn vault(keys: &str) -> Vault {
        Vault::new(Some(&SecretString::from(keys.to_owned())), b"unused").unwrap()
    }

    #[test]
    fn values_open_only_in_their_own_row_and_column() {
        let vault = vault(&format!("a:{KEY_A}"));
        let branch = Uuid::new_v4();
        let sealed = vault.seal(Slot::RefreshToken(branch), "1//refresh");
        assert_eq!(
            vault
                .open(Slot::RefreshToken(branch), &sealed)
                .unwrap()
                .expose(),
            "1//refresh"
        );
        assert!(vault.open(Slot::AccessToken(branch), &sealed).is_err());
        assert!(vault
            .open(Slot::RefreshToken(Uuid::new_v4()), &sealed)
            .is_err());
    }

    #[test]
    fn rotation_keeps_old_values_readable_and_reseal_moves_them() {
        let old = vault(&format!("a:{KEY_A}"));
        let slot = Slot::ClientSecret(Uuid::new_v4());
        let sealed = old.seal(slot, "client-secret");
        let rotated = vault(&format!("b:{KEY_B},a:{KEY_A}"));
        assert_eq!(
            rotated.open(slot, &sealed).unwrap().expose(),
            "client-secret"
        );
        let resealed = rotated.reseal(slot, &sealed).unwrap().expect("old key");
        assert!(rotated.reseal(slot, &resealed).unwrap().is_none());
        assert!(vault(&format!("b:{KEY_B}")).open(slot, &resealed).is_ok());
    }

    #[test]
    fn values_sealed_under_the_derived_key_open_after_the_first_explicit_key() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let before = Vault::new(None, secret).unwrap();
        let slot = Slot::AccessToken(Uuid::new_v4());
        let sealed = before.seal(slot, "ya29.old");
        let after = Vault::new(Some(&SecretString::from(format!("a:{KEY_A}"))), secret).unwrap();
        assert_eq!(after.open(slot, &sealed).unwrap().expose(), "ya29.old");
        let resealed = after
            .reseal(slot, &sealed)
            .unwrap()
            .expect("moves to key a");
        assert!(vault(&format!("a:{KEY_A}")).open(slot, &resealed).is_ok());
    }

    #[test]
    fn malformed_key_lists_are_refused_with_a_reason() {
        let parse = |raw: &str| Vault::new(Some(&SecretString::from(raw.to_owned())), b"x");
        assert!(parse("nocolon").is_err());
        assert!(parse("a:not-base64!").is_err());
        assert!(parse("a:AAAA").is_err());
        assert!(parse(" , ").is_err());
        assert!(parse(&format!("a:{KEY_A},a:{KEY_B}")).is_err());
    }
}
