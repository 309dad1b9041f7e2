//! Access tokens for people: short-lived JWTs signed with Ed25519 (`EdDSA`).
//!
//! Each token names its key in the header (`kid`), so verifiers — this service, or any other that
//! fetched `/.well-known/jwks.json` — pick the right public key without trying them all, and keys
//! can rotate while older tokens stay valid. Claims: `iss`, `aud`, `sub` (user id), `sid` (the
//! login session, so logout ends the token's use here at once), `iat`, `exp`, `jti`.

use crate::types::Timestamp;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::keys::SigningKeys;

/// The audience of every access token: Tessera's own API.
pub const AUDIENCE: &str = "tessera";

/// The claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer (`JWT_ISSUER`).
    pub iss: String,
    /// Audience, always [`AUDIENCE`].
    pub aud: String,
    /// The user's id.
    pub sub: Uuid,
    /// The login session the token belongs to.
    pub sid: Uuid,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Unique token id.
    pub jti: Uuid,
}

/// Who a verified token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The user.
    pub user_id: Uuid,
    /// Their login session.
    pub session_id: Uuid,
}

/// Why a JWT was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum JwtError {
    /// Signature and shape fine, lifetime over.
    Expired,
    /// Anything else: bad signature, unknown key, wrong algorithm, issuer or audience.
    Invalid,
}

/// Issues and verifies access tokens with the shared signing keys.
#[derive(Clone)]
pub struct AccessTokens {
    keys: Arc<SigningKeys>,
    issuer: Arc<str>,
    ttl_seconds: u64,
    validation: Validation,
}

impl AccessTokens {
    /// Tokens signed with `keys`, valid for `ttl_seconds`, issued as `issuer`.
    pub fn new(keys: Arc<SigningKeys>, issuer: &str, ttl_seconds: u64) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = 5;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "sub", "iat", "iss", "aud"]);
        AccessTokens {
            keys,
            issuer: issuer.into(),
            ttl_seconds,
            validation,
        }
    }

    /// The shared key set (for the JWKS route and the reloader).
    pub fn keys(&self) -> &Arc<SigningKeys> {
        &self.keys
    }

    /// Signs a new access token for `user_id` in session `session_id`, which ends at
    /// `session_ends`: the token never outlives its session. Returns the token and its lifetime
    /// in seconds (the response's `expires_in`).
    pub fn issue(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        session_ends: Timestamp,
    ) -> anyhow::Result<(String, u64)> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let exp = (now + self.ttl_seconds as i64).min(session_ends.datetime().unix_timestamp());
        let claims = Claims {
            iss: self.issuer.to_string(),
            aud: AUDIENCE.to_owned(),
            sub: user_id,
            sid: session_id,
            iat: now,
            exp,
            jti: Uuid::new_v4(),
        };
        let keys = self.keys.current();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(keys.signing.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &keys.signing.encoding)?;
        Ok((token, (exp - now).max(0) as u64))
    }

    /// Verifies key, signature, algorithm, issuer, audience and expiry.
    pub async fn verify(&self, token: &str) -> Result<Verified, JwtError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Invalid)?;
        if header.alg != Algorithm::EdDSA {
            return Err(JwtError::Invalid);
        }
        let kid = header.kid.ok_or(JwtError::Invalid)?;
        let key = self
            .keys
            .verifying_key(&kid)
            .await
            .ok_or(JwtError::Invalid)?;
        match jsonwebtoken::decode::<Claims>(token, &key, &self.validation) {
            Ok(data) => Ok(Verified {
                user_id: data.claims.sub,
                session_id: data.claims.sid,
            }),
            Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) => {
                Err(JwtError::Expired)
            }
            Err(_) => Err(JwtError::Invalid),
        }
    }
}
