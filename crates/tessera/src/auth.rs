//! [`Caller`]: the extractor for routes that serve both people and their scripts.
//!
//! Case records and OAuth connections accept either a staff member's access JWT or a PAT holding
//! the route's scope. The bearer's shape decides which: a `pat_…` token goes through the full PAT
//! check (contract order, scope, audit attribution); anything else must be a valid access JWT.
//! A JWT reaches only what its holder's role may hold ([`crate::tokens::ceiling`]), as their
//! tokens do. A PAT acts for its owner, so role rules apply to it too: see [`Caller::role`].

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use uuid::Uuid;

use crate::accounts::AuthUser;
use crate::http::{bearer, ApiError, AuthFailure, Bearer};
use crate::state::AppState;
use crate::store::Store;
use crate::tokens::scopes::{RequiredScope, Scope};
use crate::tokens::Pat;
use crate::types::Role;

/// How the caller authenticated.
#[derive(Debug, Clone, Copy)]
pub enum Credential {
    /// A person's access JWT; `role` is their role as stored now.
    Jwt {
        /// The person's role.
        role: Role,
    },
    /// A personal access token holding at least the route's scope.
    Pat {
        /// The token's id (its uses are in its audit log).
        token_id: Uuid,
        /// The token's highest scope on the route's resource.
        granted_by: Scope,
    },
}

/// An authenticated caller of a route that requires scope `R` of PATs.
#[derive(Debug)]
pub struct Caller<R: RequiredScope> {
    /// The person acting, or the owner of the PAT acting for them.
    pub user_id: Uuid,
    /// How they authenticated.
    pub credential: Credential,
    _required: std::marker::PhantomData<R>,
}

impl<R: RequiredScope> Caller<R> {
    /// The role the caller acts with. For a PAT that is its owner's current role (one indexed
    /// read, done only by routes that need it): a token can never do more than its owner may.
    pub async fn role(&self, store: &Store) -> Result<Role, ApiError> {
        match self.credential {
            Credential::Jwt { role } => Ok(role),
            Credential::Pat { .. } => store
                .user_role(self.user_id)
                .await?
                .ok_or(ApiError::Unauthorized(AuthFailure::InvalidToken)),
        }
    }
}

impl<R: RequiredScope> FromRequestParts<AppState> for Caller<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let is_pat = matches!(bearer(&parts.headers), Bearer::Token(token) if token.starts_with(crate::tokens::format::PAT_PREFIX));
        if is_pat {
            let pat = Pat::<R>::from_request_parts(parts, state).await?;
            return Ok(Caller {
                user_id: pat.user_id,
                credential: Credential::Pat {
                    token_id: pat.token_id,
                    granted_by: pat.granted_by,
                },
                _required: std::marker::PhantomData,
            });
        }
        let user = AuthUser::from_request_parts(parts, state).await?;
        if !crate::tokens::ceiling::role_allows(user.role, R::SCOPE) {
            return Err(ApiError::Forbidden(format!(
                "Your role ({}) may not use {}",
                user.role,
                R::SCOPE
            )));
        }
        Ok(Caller {
            user_id: user.user_id,
            credential: Credential::Jwt { role: user.role },
            _required: std::marker::PhantomData,
        })
    }
}
