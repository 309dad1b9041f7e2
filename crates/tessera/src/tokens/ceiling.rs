//! What each role may do, in scopes: the ceiling of every token its holder mints and of what
//! their own access JWT reaches. A token never outranks its owner.
//!
//! The contract's resources (`workspaces`, `users`, `fcs`) are open to every account, as the
//! contract says. The case records (`beneficiaries`) and the OAuth connections (`connections`)
//! reach only the roles that hold those rights:
//!
//! | role | `beneficiaries` | `connections` |
//! |---|---|---|
//! | `admin` | `delete` | `admin` |
//! | `manager` | `delete` | `write` |
//! | `therapist`, `social_worker`, `coordinator`, `data_entry` | `write` | — |
//! | `member` | — | — |
//!
//! The case-record ceilings are the highest scope any action the role may take needs
//! (`resources::case_records::rules`, whose tests hold the two tables together); finer rules
//! (a therapist books sessions but registers no beneficiary) stay there. OAuth clients hold
//! secrets and make the server call the endpoints they name, so they are for admins alone;
//! managers run branches and their grants.

use serde::Serialize;
use uuid::Uuid;

use crate::store::Store;
use crate::tokens::scopes::{
    BeneficiariesDelete, BeneficiariesWrite, ConnectionsAdmin, ConnectionsWrite, RequiredScope,
    Resource, Scope, ScopeSet,
};
use crate::tokens::Token;
use crate::types::{Role, Timestamp};

/// The highest scope of `resource` that `role` may hold, or `None` for none at all.
pub fn ceiling(role: Role, resource: Resource) -> Option<Scope> {
    match resource {
        Resource::Workspaces | Resource::Users | Resource::Fcs => Some(Scope::highest(resource)),
        Resource::Beneficiaries => match role {
            Role::Admin | Role::Manager => Some(BeneficiariesDelete::SCOPE),
            Role::Therapist | Role::SocialWorker | Role::Coordinator | Role::DataEntry => {
                Some(BeneficiariesWrite::SCOPE)
            }
            Role::Member => None,
        },
        Resource::Connections => match role {
            Role::Admin => Some(ConnectionsAdmin::SCOPE),
            Role::Manager => Some(ConnectionsWrite::SCOPE),
            _ => None,
        },
    }
}

/// Whether `role` may hold `scope`.
pub fn role_allows(role: Role, scope: Scope) -> bool {
    ceiling(role, scope.resource()).is_some_and(|top| top.satisfies(scope))
}

/// The scopes of `scopes` beyond what `role` may hold, in grant order.
pub fn beyond_role(role: Role, scopes: &ScopeSet) -> Vec<Scope> {
    scopes
        .iter()
        .filter(|scope| !role_allows(role, *scope))
        .collect()
}

/// A live token holding scopes beyond its owner's role: minted before this rule, or its owner's
/// role was lowered since. It keeps working until an operator reviews it (`tessera tokens list
/// --over-privileged`, then `tessera tokens revoke`); the case-record rules already bound it by
/// its owner's current role.
#[derive(Debug, Serialize)]
pub struct TokenBeyondRole {
    /// Token id.
    pub id: Uuid,
    /// Token name.
    pub name: String,
    /// Owner's id.
    pub user_id: Uuid,
    /// Owner's username.
    pub owner: String,
    /// Owner's role now.
    pub role: Role,
    /// Every scope the token holds.
    pub scopes: Vec<String>,
    /// The scopes beyond the role.
    pub beyond_role: Vec<String>,
}

/// The live tokens of `owner` (or of everyone) that hold scopes beyond their owner's role.
pub async fn tokens_beyond_role(
    store: &Store,
    owner: Option<Uuid>,
) -> anyhow::Result<Vec<TokenBeyondRole>> {
    let mut found = Vec::new();
    for row in store
        .live_tokens_with_owners(owner, Timestamp::now())
        .await?
    {
        let role = row.owner_role;
        let token = Token::try_from(row.token)?;
        let beyond = beyond_role(role, &token.scopes);
        if beyond.is_empty() {
            continue;
        }
        found.push(TokenBeyondRole {
            id: token.id,
            name: token.name,
            user_id: token.user_id,
            owner: row.owner,
            role,
            scopes: token.scopes.to_strings(),
            beyond_role: beyond.iter().map(Scope::to_string).collect(),
        });
    }
    Ok(found)
}

/// After `user_id`'s role changed: logs each of their live tokens that now holds more than the
/// role allows, for an operator to review. Returns how many.
pub async fn warn_of_tokens_beyond_role(store: &Store, user_id: Uuid) -> anyhow::Result<usize> {
    let found = tokens_beyond_role(store, Some(user_id)).await?;
    for token in &found {
        tracing::warn!(
            token_id = %token.id,
            %user_id,
            role = %token.role,
            beyond_role = %token.beyond_role.join(","),
            "a token now holds scopes beyond its owner's role; review it with `tessera tokens list --over-privileged`"
        );
    }
    Ok(found.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(role: Role) -> Vec<String> {
        Scope::all()
            .filter(|scope| role_allows(role, *scope))
            .map(|scope| scope.to_string())
            .filter(|scope| !scope.starts_with("workspaces:") && !scope.starts_with("users:"))
            .filter(|scope| !scope.starts_with("fcs:"))
            .collect()
    }

    #[test]
    fn every_role_holds_the_contract_scopes() {
        for role in Role::ALL {
            for resource in [Resource::Workspaces, Resource::Users, Resource::Fcs] {
                for scope in Scope::all().filter(|s| s.resource() == resource) {
                    assert!(role_allows(role, scope), "{role} {scope}");
                }
            }
        }
    }

    #[test]
    fn case_records_and_connections_reach_only_the_roles_holding_those_rights() {
        let table = [
            (
                Role::Admin,
                vec![
                    "beneficiaries:delete",
                    "beneficiaries:write",
                    "beneficiaries:read",
                    "connections:admin",
                    "connections:write",
                    "connections:read",
                ],
            ),
            (
                Role::Manager,
                vec![
                    "beneficiaries:delete",
                    "beneficiaries:write",
                    "beneficiaries:read",
                    "connections:write",
                    "connections:read",
                ],
            ),
            (
                Role::Therapist,
                vec!["beneficiaries:write", "beneficiaries:read"],
            ),
            (
                Role::SocialWorker,
                vec!["beneficiaries:write", "beneficiaries:read"],
            ),
            (
                Role::Coordinator,
                vec!["beneficiaries:write", "beneficiaries:read"],
            ),
            (
                Role::DataEntry,
                vec!["beneficiaries:write", "beneficiaries:read"],
            ),
            (Role::Member, vec![]),
        ];
        for (role, expected) in table {
            assert_eq!(allowed(role), expected, "{role}");
        }
    }

    #[test]
    fn beyond_role_names_the_excess_in_grant_order() {
        let scopes =
            ScopeSet::parse(&["connections:admin", "fcs:read", "beneficiaries:read"]).unwrap();
        let beyond: Vec<String> = beyond_role(Role::Member, &scopes)
            .iter()
            .map(Scope::to_string)
            .collect();
        assert_eq!(beyond, ["connections:admin", "beneficiaries:read"]);
        assert!(beyond_role(Role::Admin, &scopes).is_empty());
    }
}
