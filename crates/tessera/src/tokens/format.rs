//! The wire format of a personal access token, and how it is stored.
//!
//! ```text
//! pat_ 4xK9fQ2m... (30 random base62 characters, ~178 bits) 1a2B3c (CRC32 of the random part, base62)
//! ```
//!
//! * The `pat_` prefix lets people and secret scanners recognise the token at a glance.
//! * 30 characters drawn uniformly from 62 give log2(62^30) ≈ 178.6 bits: above the contract's 160.
//! * The 6-character checksum (as GitHub's tokens carry) lets the service refuse a mistyped or
//!   made-up token before touching the database, and lets scanners skip false positives.
//! * Storage keeps only the SHA-256 of the whole token and its first 12 characters (`pat_` + 8) as
//!   `token_prefix`, for display and for the indexed lookup. The full token is shown once.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::crypto::random_base62;

/// The literal every personal access token starts with.
pub const PAT_PREFIX: &str = "pat_";
/// Number of random base62 characters after the prefix.
const RANDOM_LEN: usize = 30;
/// Number of base62 characters of the checksum.
const CHECKSUM_LEN: usize = 6;
/// Total length of a well-formed token.
pub const PAT_LEN: usize = PAT_PREFIX.len() + RANDOM_LEN + CHECKSUM_LEN;
/// Length of the stored, displayable prefix (`pat_` + 8).
pub const DISPLAY_PREFIX_LEN: usize = 12;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A freshly minted token: the secret (to show once) and what is stored of it.
pub struct NewPat {
    /// The full token, returned to the user once and never stored.
    pub secret: String,
    /// The SHA-256 of `secret`.
    pub hash: TokenHash,
    /// The first 12 characters of `secret`.
    pub prefix: String,
}

/// The SHA-256 of a full token: the only form in which a token is stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    /// Hashes a token (or any secret string).
    pub fn of(secret: &str) -> Self {
        TokenHash(Sha256::digest(secret.as_bytes()).into())
    }

    /// Compares with a stored hash in constant time, so the comparison leaks no prefix length.
    pub fn matches(&self, stored: &[u8]) -> bool {
        stored.len() == 32 && bool::from(self.0.ct_eq(stored))
    }
}

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

/// Mints a new token.
pub fn generate() -> NewPat {
    let random = random_base62(RANDOM_LEN);
    let secret = format!("{PAT_PREFIX}{random}{}", checksum(&random));
    NewPat {
        hash: TokenHash::of(&secret),
        prefix: secret[..DISPLAY_PREFIX_LEN].to_owned(),
        secret,
    }
}

/// A presented string that has the shape of a token and a correct checksum.
#[derive(Debug)]
pub struct WellFormedPat<'a> {
    /// The stored display prefix to look the token up by.
    pub prefix: &'a str,
    /// The hash to compare with the stored one.
    pub hash: TokenHash,
}

/// Checks shape and checksum without any I/O. `None` means "Invalid token".
pub fn parse(presented: &str) -> Option<WellFormedPat<'_>> {
    let body = presented.strip_prefix(PAT_PREFIX)?;
    if presented.len() != PAT_LEN || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let (random, check) = body.split_at(RANDOM_LEN);
    if checksum(random).as_bytes().ct_eq(check.as_bytes()).into() {
        Some(WellFormedPat {
            prefix: &presented[..DISPLAY_PREFIX_LEN],
            hash: TokenHash::of(presented),
        })
    } else {
        None
    }
}

/// CRC32 of the random part, as 6 base62 digits (62^6 > 2^32, so every CRC fits).
fn checksum(random: &str) -> String {
    let mut value = crc32fast::hash(random.as_bytes()) as u64;
    let mut digits = [b'0'; CHECKSUM_LEN];
    for digit in digits.iter_mut().rev() {
        *digit = BASE62[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8(digits.to_vec()).expect("base62 digits are ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_have_the_documented_shape() {
        let token = generate();
        assert_eq!(token.secret.len(), PAT_LEN);
        assert!(token.secret.starts_with("pat_"));
        assert_eq!(token.prefix, &token.secret[..12]);
        let parsed = parse(&token.secret).expect("a fresh token parses");
        assert_eq!(parsed.hash, token.hash);
        assert_eq!(parsed.prefix, token.prefix);
    }

    #[test]
    fn a_changed_character_breaks_the_checksum() {
        let token = generate().secret;
        let mut bytes = token.clone().into_bytes();
        bytes[10] = if bytes[10] == b'a' { b'b' } else { b'a' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert!(parse(&tampered).is_none());
    }

    #[test]
    fn wrong_shapes_are_refused() {
        for bad in [
            "",
            "pat_",
            "pat_short",
            "ghp_0123456789012345678901234567890123",
            "eyJhbGciOi.x.y",
        ] {
            assert!(parse(bad).is_none(), "{bad:?} must be refused");
        }
        let token = generate().secret;
        assert!(parse(&format!("{token}x")).is_none());
        assert!(parse(&token.replacen('p', "P", 1)).is_none());
        let non_ascii = format!("pat_{}é", &token[4..PAT_LEN - 2]);
        assert!(parse(&non_ascii).is_none());
    }

    #[test]
    fn checksum_is_six_base62_digits() {
        assert_eq!(checksum("").len(), 6);
        assert_eq!(checksum("").as_str(), "000000");
        assert!(checksum("abc").bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
