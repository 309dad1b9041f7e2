//! Roles. A role is what a person may do on the case records (and, for `admin`, on other
//! people's accounts); a PAT can never do more than its owner's role allows.
//!
//! Anyone who can reach `/api/v1/auth/register` gets an account, so self-registration gives
//! [`Role::Member`], which reaches no case record: clinical data is for staff roles, and only an
//! admin (or an operator on the command line) gives those.

use std::fmt;
use std::str::FromStr;

use utoipa::ToSchema;

/// A user's role. Self-registration gives [`Role::Member`], the least privileged; staff roles and
/// admins are given by an operator (`tessera users create --role …`) or by an admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including other users' roles.
    Admin,
    /// Everything on the case records.
    Manager,
    /// Reads beneficiaries; creates and updates therapy sessions.
    Therapist,
    /// Reads and updates beneficiaries and sessions.
    SocialWorker,
    /// Reads and updates beneficiaries and sessions.
    Coordinator,
    /// Creates and updates beneficiaries; deletes nothing.
    DataEntry,
    /// PATs, FCS data and one's own profile; no case records. What self-registration gives.
    Member,
}

impl Role {
    /// Every role, most privileged first.
    pub const ALL: [Role; 7] = [
        Role::Admin,
        Role::Manager,
        Role::Therapist,
        Role::SocialWorker,
        Role::Coordinator,
        Role::DataEntry,
        Role::Member,
    ];

    /// The name stored in the database and shown in responses.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Therapist => "therapist",
            Role::SocialWorker => "social_worker",
            Role::Coordinator => "coordinator",
            Role::DataEntry => "data_entry",
            Role::Member => "member",
        }
    }

    /// The role named `raw`, if it is one.
    pub fn parse(raw: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == raw)
    }

    /// Admins and managers may do everything on the case records.
    pub fn is_admin_or_manager(self) -> bool {
        matches!(self, Role::Admin | Role::Manager)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of the roles.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "role must be one of admin, manager, therapist, social_worker, coordinator, data_entry, member"
)]
pub struct UnknownRole;

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(raw: &str) -> Result<Role, UnknownRole> {
        Role::parse(raw).ok_or(UnknownRole)
    }
}

// Stored as TEXT; the CHECK constraint in the migrations keeps it to these names.
super::text_backed!(Role, "role");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(
                serde_json::to_string(&role).unwrap(),
                format!("\"{}\"", role.as_str())
            );
        }
        assert_eq!("root".parse::<Role>(), Err(UnknownRole));
        assert_eq!("Admin".parse::<Role>(), Err(UnknownRole));
    }
}
