//! Who may do what on the case records: one table, read by every operation of the service.
//!
//! Two gates guard each route. The PAT scope is checked by the handler's `Caller<R>` argument
//! (reads need `beneficiaries:read`; creating, updating, completing and cancelling need
//! `beneficiaries:write`; deleting a beneficiary needs `beneficiaries:delete`). The role is checked
//! by the service ([`Staff::may`]), for JWTs and PATs alike: a PAT acts with its owner's
//! *current* role, so a token never does more than its owner may.
//!
//! `member` (what self-registration gives) may do nothing here. Where the spec is silent: social
//! workers and coordinators may not book sessions (the spec gives them "read and update"), data
//! entry may read the beneficiaries it enters but not sessions, and only admins and managers read
//! the access log.

use super::service::CaseRecordsError;
use crate::store::Actor;
use crate::types::Role;

/// Something a caller may try to do to the case records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// List, search or read a beneficiary.
    ReadBeneficiary,
    /// Register a beneficiary.
    CreateBeneficiary,
    /// Change a beneficiary.
    UpdateBeneficiary,
    /// Delete a beneficiary with their sessions.
    DeleteBeneficiary,
    /// List or read sessions (including one's own upcoming ones).
    ReadSession,
    /// Book a session.
    CreateSession,
    /// Change, complete or cancel a session.
    UpdateSession,
    /// Read a beneficiary's access log.
    ReadAccessLog,
}

impl Action {
    /// Every action, for tests and documentation.
    pub const ALL: [Action; 8] = [
        Action::ReadBeneficiary,
        Action::CreateBeneficiary,
        Action::UpdateBeneficiary,
        Action::DeleteBeneficiary,
        Action::ReadSession,
        Action::CreateSession,
        Action::UpdateSession,
        Action::ReadAccessLog,
    ];

    /// How the action reads in a refusal: "Your role (therapist) may not {phrase}".
    pub fn phrase(self) -> &'static str {
        match self {
            Action::ReadBeneficiary => "read beneficiaries",
            Action::CreateBeneficiary => "create beneficiaries",
            Action::UpdateBeneficiary => "update beneficiaries",
            Action::DeleteBeneficiary => "delete beneficiaries",
            Action::ReadSession => "read therapy sessions",
            Action::CreateSession => "create therapy sessions",
            Action::UpdateSession => "update therapy sessions",
            Action::ReadAccessLog => "read access logs",
        }
    }
}

/// The rule table: whether `role` may do `action`.
pub fn permits(role: Role, action: Action) -> bool {
    use Action::*;
    match role {
        Role::Admin | Role::Manager => true,
        Role::Therapist => matches!(
            action,
            ReadBeneficiary | ReadSession | CreateSession | UpdateSession
        ),
        Role::SocialWorker | Role::Coordinator => matches!(
            action,
            ReadBeneficiary | UpdateBeneficiary | ReadSession | UpdateSession
        ),
        Role::DataEntry => matches!(
            action,
            ReadBeneficiary | CreateBeneficiary | UpdateBeneficiary
        ),
        // Self-registered accounts: anyone can make one, so they reach no clinical data.
        Role::Member => false,
    }
}

/// Someone acting on the case records: who (for the access log) and with which role now. The
/// routes build it from a JWT or a PAT (whose owner's current role counts); the console will from its
/// session.
#[derive(Debug, Clone, Copy)]
pub struct Staff {
    /// Who acts, and through which PAT if any.
    pub actor: Actor,
    /// The role they act with.
    pub role: Role,
}

impl Staff {
    /// Refuses `action` unless the role may take it; otherwise returns who acts, for the log.
    pub fn may(&self, action: Action) -> Result<Actor, CaseRecordsError> {
        if !permits(self.role, action) {
            return Err(CaseRecordsError::Forbidden {
                role: self.role,
                action,
            });
        }
        Ok(self.actor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admins_and_managers_may_do_everything_and_nobody_else_deletes() {
        for action in Action::ALL {
            assert!(permits(Role::Admin, action) && permits(Role::Manager, action));
        }
        for role in Role::ALL.into_iter().filter(|r| !r.is_admin_or_manager()) {
            assert!(!permits(role, Action::DeleteBeneficiary), "{role}");
            assert!(!permits(role, Action::ReadAccessLog), "{role}");
        }
    }

    #[test]
    fn members_reach_no_case_record_and_every_staff_role_reads_beneficiaries() {
        for action in Action::ALL {
            assert!(!permits(Role::Member, action), "{action:?}");
        }
        for role in Role::ALL.into_iter().filter(|r| *r != Role::Member) {
            assert!(permits(role, Action::ReadBeneficiary), "{role}");
        }
    }

    /// The tokens' ceiling (`tokens::ceiling`) for the case records is the highest scope an
    /// action the role may take needs: no role mints more than its rules let it use, nor less.
    #[test]
    fn the_token_ceiling_matches_the_rule_table() {
        use crate::tokens::ceiling::ceiling;
        use crate::tokens::scopes::{
            BeneficiariesDelete, BeneficiariesRead, BeneficiariesWrite, RequiredScope, Resource,
        };
        let scope_of = |action| match action {
            Action::ReadBeneficiary | Action::ReadSession | Action::ReadAccessLog => {
                BeneficiariesRead::SCOPE
            }
            Action::CreateBeneficiary
            | Action::UpdateBeneficiary
            | Action::CreateSession
            | Action::UpdateSession => BeneficiariesWrite::SCOPE,
            Action::DeleteBeneficiary => BeneficiariesDelete::SCOPE,
        };
        for role in Role::ALL {
            let needed = Action::ALL
                .into_iter()
                .filter(|action| permits(role, *action))
                .map(scope_of)
                .reduce(|a, b| if a.satisfies(b) { a } else { b });
            assert_eq!(ceiling(role, Resource::Beneficiaries), needed, "{role}");
        }
    }
}
