//! The [`Pat`] extractor: a request's personal access token, authenticated and checked against the
//! route's required scope.
//!
//! The checks run in the contract's order, and every refusal of a token the service can identify
//! is attributed to that token, so the audit middleware logs it with the status sent:
//!
//! 1. no `Authorization` header → 401 `Missing token`
//! 2. shape or checksum wrong, unknown token, a JWT, a replaced secret past its grace → 401
//!    `Invalid token` (no database round trip for the first two)
//! 3. revoked → 401 `Token revoked` (before expiry: revoked wins)
//! 4. expired → 401 `Token expired`
//! 5. owner disabled by an admin → 401 `Account disabled`
//! 6. request from outside the token's `allowed_ips` → 403 `IP not allowed`
//! 7. scope too low → 403 with `required_scope` and `your_scopes`
//!
//! A replaced secret within its grace (`service::regenerate_token`) passes as the token itself;
//! its uses are audited with reason `previous secret (grace)`, so the owner sees which jobs
//! still hold it.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use uuid::Uuid;

use super::audit::{Attribution, AuditSlot};
use super::format;
use super::scopes::{RequiredScope, Scope, ScopeSet};
use super::service::{self, FoundToken, PresentedSecret};
use super::{Token, TokenStatus};
use crate::http::client_ip::ClientIp;
use crate::http::{bearer, ApiError, AuthFailure, Bearer};
use crate::state::AppState;

/// An authenticated PAT holding at least scope `R`.
#[derive(Debug)]
pub struct Pat<R: RequiredScope> {
    /// The token's id.
    pub token_id: Uuid,
    /// The token's owner.
    pub user_id: Uuid,
    /// Every scope of the token, in grant order.
    pub scopes: ScopeSet,
    /// The token's highest scope on `R`'s resource: the contract's `granted_by`.
    pub granted_by: Scope,
    _required: PhantomData<R>,
}

impl<R: RequiredScope> FromRequestParts<AppState> for Pat<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let authenticated = authenticate(parts, state).await?;
        let token = &authenticated.token;
        let Some(granted_by) = token.scopes.granting(R::SCOPE) else {
            authenticated.refuse("Insufficient permissions");
            return Err(ApiError::InsufficientScope {
                required_scope: R::SCOPE.to_string(),
                your_scopes: token.scopes.to_strings(),
            });
        };
        authenticated.let_through();
        Ok(Pat {
            token_id: token.id,
            user_id: token.user_id,
            scopes: token.scopes.clone(),
            granted_by,
            _required: PhantomData,
        })
    }
}

/// A request's personal access token, authenticated, whatever its scopes: for the routes
/// about the token itself (`/api/v1/tokens/self…`), which any token may call.
#[derive(Debug)]
pub struct AnyPat {
    /// The token.
    pub token: Arc<Token>,
    /// Which of its secrets the request presented.
    pub secret: PresentedSecret,
}

impl FromRequestParts<AppState> for AnyPat {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let authenticated = authenticate(parts, state).await?;
        authenticated.let_through();
        Ok(AnyPat {
            token: authenticated.token,
            secret: authenticated.secret,
        })
    }
}

/// A token that passed checks 1 to 6, and the request's audit slot.
struct Authenticated {
    token: Arc<Token>,
    secret: PresentedSecret,
    slot: AuditSlot,
}

impl Authenticated {
    /// Attributes the request as let through.
    fn let_through(&self) {
        self.slot.attribute(Attribution {
            reason: self.grace_reason(),
            ..Attribution::authenticated(&self.token, true)
        });
    }

    /// Attributes the request as refused for `reason`.
    fn refuse(&self, reason: &'static str) {
        self.slot.attribute(Attribution {
            reason: Some(reason),
            ..Attribution::authenticated(&self.token, false)
        });
    }

    fn grace_reason(&self) -> Option<&'static str> {
        match self.secret {
            PresentedSecret::Current => None,
            PresentedSecret::Previous { .. } => Some("previous secret (grace)"),
        }
    }
}

/// Checks 1 to 6 of the module docs; every refusal of an identified token is attributed.
async fn authenticate(parts: &Parts, state: &AppState) -> Result<Authenticated, ApiError> {
    let presented = match bearer(&parts.headers) {
        Bearer::Missing => return Err(ApiError::Unauthorized(AuthFailure::MissingToken)),
        Bearer::Malformed => return Err(ApiError::Unauthorized(AuthFailure::InvalidToken)),
        Bearer::Token(token) => token,
    };
    let well_formed =
        format::parse(presented).ok_or(ApiError::Unauthorized(AuthFailure::InvalidToken))?;
    let FoundToken {
        token,
        secret,
        owner_disabled,
    } = service::find_by_secret(&state.store, &state.token_cache, &well_formed)
        .await?
        .ok_or(ApiError::Unauthorized(AuthFailure::InvalidToken))?;
    let now = state.clock.now();
    if let PresentedSecret::Previous { valid_until } = secret {
        // Past its grace a replaced secret is no secret of this token's: as unknown as any.
        if now > valid_until {
            return Err(ApiError::Unauthorized(AuthFailure::InvalidToken));
        }
    }
    let slot = parts
        .extensions
        .get::<AuditSlot>()
        .cloned()
        .unwrap_or_default();
    let refused = |attribution: Attribution, error: ApiError| {
        slot.attribute(attribution);
        Err(error)
    };
    let unauthenticated = |reason| Attribution {
        token_id: token.id,
        authorized: false,
        reason: Some(reason),
        expires_at: None,
    };
    match token.status(now) {
        TokenStatus::Revoked => {
            return refused(
                unauthenticated("Token revoked"),
                ApiError::Unauthorized(AuthFailure::TokenRevoked),
            )
        }
        TokenStatus::Expired => {
            return refused(
                unauthenticated("Token expired"),
                ApiError::Unauthorized(AuthFailure::TokenExpired),
            )
        }
        TokenStatus::Active => {}
    }
    if owner_disabled {
        return refused(
            unauthenticated("Account disabled"),
            ApiError::Unauthorized(AuthFailure::AccountDisabled),
        );
    }
    let authenticated = Authenticated {
        token,
        secret,
        slot,
    };
    let client = parts.extensions.get::<ClientIp>().map(|c| c.0);
    if !client.is_some_and(|ip| authenticated.token.allows_ip(ip)) {
        authenticated.refuse("IP not allowed");
        return Err(ApiError::Forbidden("IP not allowed".to_owned()));
    }
    Ok(authenticated)
}

/// The attribution of a request that no extractor looked at (a 405), when it presented a PAT
/// this service issued: refused, for `reason`. Costs a lookup only for such requests.
pub async fn attribute_presented_pat(
    state: &AppState,
    authorization: &axum::http::HeaderValue,
    reason: &'static str,
) -> Option<Attribution> {
    let mut headers = axum::http::HeaderMap::with_capacity(1);
    headers.insert(axum::http::header::AUTHORIZATION, authorization.clone());
    let Bearer::Token(presented) = bearer(&headers) else {
        return None;
    };
    let well_formed = format::parse(presented)?;
    let found = service::find_by_secret(&state.store, &state.token_cache, &well_formed)
        .await
        .ok()??;
    Some(Attribution {
        token_id: found.token.id,
        authorized: false,
        reason: Some(reason),
        expires_at: None,
    })
}
