//! The cache of authenticated tokens, so the PAT check on every request costs no database round
//! trip — with revocation still taking effect at once: any revocation, new secret or new expiry
//! empties it, here before the answer and on every other instance through the change feed (see
//! [`crate::cache`]). Expiry needs no invalidation: it is checked against the clock on every
//! request.

use super::format::TokenHash;
use super::Token;
use crate::cache::ChangeCache;
use crate::store::Feed;

/// Authenticated tokens by the SHA-256 of the secret.
pub type TokenCache = ChangeCache<TokenHash, Token>;

/// An empty token cache, trusted from the start only when `trusted` (no other instance writes).
pub fn token_cache(trusted: bool) -> TokenCache {
    ChangeCache::new(Feed::Tokens, trusted)
}
