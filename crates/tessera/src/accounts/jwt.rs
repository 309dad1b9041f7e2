//! Access tokens for people: short-lived HS256 JWTs.
//!
//! The signing key is derived from `SECRET_KEY` with HKDF, so the raw secret is never used
//! directly as a MAC key and other keys can be derived from it for other purposes. Every instance
//! given the same `SECRET_KEY` verifies every other instance's tokens.

use hkdf::Hkdf;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

/// The claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: Uuid,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Token kind; always `access`, so a future token kind cannot be replayed as an access token.
    pub typ: String,
}

/// Why a JWT was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum JwtError {
    /// Signature and shape fine, lifetime over.
    Expired,
    /// Anything else.
    Invalid,
}

/// Issues and verifies access tokens.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_seconds: u64,
}

impl JwtKeys {
    /// Derives the signing key from the service secret.
    pub fn new(secret: &[u8], ttl_seconds: u64) -> Self {
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(None, secret)
            .expand(b"tessera access-token signing key v1", &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        JwtKeys {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            validation,
            ttl_seconds,
        }
    }

    /// Lifetime of issued tokens, in seconds (the login response's `expires_in`).
    pub fn ttl_seconds(&self) -> u64 {
        self.ttl_seconds
    }

    /// Signs a new access token for `user_id`.
    pub fn issue(&self, user_id: Uuid) -> anyhow::Result<String> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = Claims {
            sub: user_id,
            iat: now,
            exp: now + self.ttl_seconds as i64,
            typ: "access".to_owned(),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// Verifies signature, algorithm, expiry and kind; returns the user id.
    pub fn verify(&self, token: &str) -> Result<Uuid, JwtError> {
        match jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation) {
            Ok(data) if data.claims.typ == "access" => Ok(data.claims.sub),
            Ok(_) => Err(JwtError::Invalid),
            Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) => {
                Err(JwtError::Expired)
            }
            Err(_) => Err(JwtError::Invalid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_foreign_ones_do_not() {
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef", 60);
        let user = Uuid::now_v7();
        let token = keys.issue(user).unwrap();
        assert_eq!(keys.verify(&token), Ok(user));
        let other = JwtKeys::new(b"another secret another secret 123", 60);
        assert_eq!(other.verify(&token), Err(JwtError::Invalid));
        assert_eq!(keys.verify("garbage"), Err(JwtError::Invalid));
    }
}
