//! Scopes: `resource:level`, with a strict hierarchy of levels inside each resource.
//!
//! A higher level includes every lower level of the same resource and nothing of another:
//! `workspaces:admin` satisfies `workspaces:read`, never `fcs:read`. The table below is the only
//! place the hierarchy is written down; the parser, the checks, the OpenAPI document and the error
//! messages all read it.
//!
//! Routes state what they need as a type, `Pat<scopes::WorkspacesRead>`, so a handler cannot be
//! written without saying which scope guards it.

use std::fmt;

/// A kind of resource a token can be granted access to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// Workspaces (stub resource).
    Workspaces,
    /// The caller's own user record (stub resource).
    Users,
    /// Flow-cytometry files and their analysis.
    Fcs,
    /// A rehabilitation centre's case records: beneficiaries and their therapy sessions.
    Beneficiaries,
    /// OAuth connections: third-party tokens held for business branches.
    Connections,
}

impl Resource {
    /// Every resource, in the order of the contract's table.
    pub const ALL: [Resource; 5] = [
        Resource::Workspaces,
        Resource::Users,
        Resource::Fcs,
        Resource::Beneficiaries,
        Resource::Connections,
    ];

    /// The canonical name, as responses spell it.
    pub fn name(self) -> &'static str {
        match self {
            Resource::Workspaces => "workspaces",
            Resource::Users => "users",
            Resource::Fcs => "fcs",
            Resource::Beneficiaries => "beneficiaries",
            Resource::Connections => "connections",
        }
    }

    /// The levels of this resource, highest first.
    pub fn levels(self) -> &'static [&'static str] {
        match self {
            Resource::Workspaces => &["admin", "delete", "write", "read"],
            Resource::Users => &["write", "read"],
            Resource::Fcs => &["analyze", "write", "read"],
            Resource::Beneficiaries => &["delete", "write", "read"],
            Resource::Connections => &["admin", "write", "read"],
        }
    }

    fn parse(raw: &str) -> Option<Resource> {
        match raw {
            "workspaces" | "workspacess" => Some(Resource::Workspaces),
            "users" => Some(Resource::Users),
            "fcs" => Some(Resource::Fcs),
            "beneficiaries" => Some(Resource::Beneficiaries),
            "connections" => Some(Resource::Connections),
            _ => None,
        }
    }

    /// Rank of `level` within this resource: 0 is the lowest. `None` if it is not a level here.
    fn rank(self, level: &str) -> Option<u8> {
        let levels = self.levels();
        levels
            .iter()
            .position(|l| *l == level)
            .map(|pos| (levels.len() - 1 - pos) as u8)
    }
}

/// One granted or required scope, e.g. `fcs:analyze`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scope {
    resource: Resource,
    /// 0 is the resource's lowest level.
    rank: u8,
}

impl Scope {
    /// The resource this scope is about.
    pub fn resource(self) -> Resource {
        self.resource
    }

    /// The level's name, e.g. `read`.
    pub fn level(self) -> &'static str {
        let levels = self.resource.levels();
        levels[levels.len() - 1 - self.rank as usize]
    }

    /// Whether holding `self` satisfies a requirement of `required`.
    pub fn satisfies(self, required: Scope) -> bool {
        self.resource == required.resource && self.rank >= required.rank
    }

    /// Every valid scope, for documentation and validation messages.
    pub fn all() -> impl Iterator<Item = Scope> {
        Resource::ALL.into_iter().flat_map(|resource| {
            (0..resource.levels().len() as u8)
                .rev()
                .map(move |rank| Scope { resource, rank })
        })
    }

    /// The highest level of `resource`.
    pub fn highest(resource: Resource) -> Scope {
        Scope::new(resource, resource.levels().len() as u8 - 1)
    }

    const fn new(resource: Resource, rank: u8) -> Scope {
        Scope { resource, rank }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.resource.name(), self.level())
    }
}

/// Why a scope string was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown scope `{0}`")]
pub struct UnknownScope(pub String);

impl std::str::FromStr for Scope {
    type Err = UnknownScope;

    /// Parses `resource:level`; `workspacess` is accepted as a spelling of `workspaces`.
    fn from_str(raw: &str) -> Result<Scope, UnknownScope> {
        let unknown = || UnknownScope(raw.to_owned());
        let (resource, level) = raw.split_once(':').ok_or_else(unknown)?;
        let resource = Resource::parse(resource).ok_or_else(unknown)?;
        let rank = resource.rank(level).ok_or_else(unknown)?;
        Ok(Scope { resource, rank })
    }
}

/// The scopes of one token, in the order they were granted, without duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeSet(Vec<Scope>);

impl ScopeSet {
    /// Builds a set from granted scopes, keeping the first occurrence of each.
    pub fn new(scopes: impl IntoIterator<Item = Scope>) -> Self {
        let mut unique: Vec<Scope> = Vec::new();
        for scope in scopes {
            if !unique.contains(&scope) {
                unique.push(scope);
            }
        }
        ScopeSet(unique)
    }

    /// Parses scope strings, naming every unknown one.
    pub fn parse<S: AsRef<str>>(raw: &[S]) -> Result<Self, Vec<String>> {
        let mut scopes = Vec::with_capacity(raw.len());
        let mut unknown = Vec::new();
        for item in raw {
            match item.as_ref().parse::<Scope>() {
                Ok(scope) => scopes.push(scope),
                Err(UnknownScope(s)) => unknown.push(s),
            }
        }
        if unknown.is_empty() {
            Ok(ScopeSet::new(scopes))
        } else {
            Err(unknown)
        }
    }

    /// The highest granted scope that satisfies `required`, if any: the contract's `granted_by`.
    pub fn granting(&self, required: Scope) -> Option<Scope> {
        self.0
            .iter()
            .copied()
            .filter(|held| held.satisfies(required))
            .max_by_key(|held| held.rank)
    }

    /// Canonical strings in grant order: the contract's `your_scopes`.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(Scope::to_string).collect()
    }

    /// The scopes in grant order.
    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }

    /// Whether no scope is held.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A route's scope requirement, as a type: see [`crate::tokens::Pat`].
pub trait RequiredScope: Send + Sync + 'static {
    /// The scope the route needs.
    const SCOPE: Scope;
}

macro_rules! required_scopes {
    ($($(#[$doc:meta])* $name:ident = $resource:ident : $rank:literal;)*) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;
        impl RequiredScope for $name {
            const SCOPE: Scope = Scope::new(Resource::$resource, $rank);
        }
    )*};
}

required_scopes! {
    /// `workspaces:read`
    WorkspacesRead = Workspaces: 0;
    /// `workspaces:write`
    WorkspacesWrite = Workspaces: 1;
    /// `workspaces:delete`
    WorkspacesDelete = Workspaces: 2;
    /// `workspaces:admin`
    WorkspacesAdmin = Workspaces: 3;
    /// `users:read`
    UsersRead = Users: 0;
    /// `users:write`
    UsersWrite = Users: 1;
    /// `fcs:read`
    FcsRead = Fcs: 0;
    /// `fcs:write`
    FcsWrite = Fcs: 1;
    /// `fcs:analyze`
    FcsAnalyze = Fcs: 2;
    /// `beneficiaries:read` (case records, therapy sessions included)
    BeneficiariesRead = Beneficiaries: 0;
    /// `beneficiaries:write`
    BeneficiariesWrite = Beneficiaries: 1;
    /// `beneficiaries:delete`
    BeneficiariesDelete = Beneficiaries: 2;
    /// `connections:read`: a branch's access token and connection status.
    ConnectionsRead = Connections: 0;
    /// `connections:write`: branches, authorization flows, forced refreshes, disconnecting.
    ConnectionsWrite = Connections: 1;
    /// `connections:admin`: OAuth clients and their secrets.
    ConnectionsAdmin = Connections: 2;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(s: &str) -> Scope {
        s.parse().unwrap()
    }

    #[test]
    fn marker_types_match_their_names() {
        assert_eq!(WorkspacesRead::SCOPE.to_string(), "workspaces:read");
        assert_eq!(WorkspacesAdmin::SCOPE.to_string(), "workspaces:admin");
        assert_eq!(WorkspacesDelete::SCOPE.to_string(), "workspaces:delete");
        assert_eq!(UsersWrite::SCOPE.to_string(), "users:write");
        assert_eq!(FcsAnalyze::SCOPE.to_string(), "fcs:analyze");
        assert_eq!(FcsWrite::SCOPE.to_string(), "fcs:write");
    }

    #[test]
    fn higher_levels_include_lower_ones_of_the_same_resource_only() {
        assert!(scope("workspaces:admin").satisfies(scope("workspaces:read")));
        assert!(scope("workspaces:delete").satisfies(scope("workspaces:write")));
        assert!(!scope("workspaces:write").satisfies(scope("workspaces:delete")));
        assert!(!scope("workspaces:admin").satisfies(scope("fcs:read")));
        assert!(scope("fcs:analyze").satisfies(scope("fcs:write")));
        assert!(!scope("users:read").satisfies(scope("users:write")));
    }

    #[test]
    fn the_double_s_spelling_is_accepted_and_normalised() {
        assert_eq!(scope("workspacess:read").to_string(), "workspaces:read");
    }

    #[test]
    fn unknown_scopes_are_named() {
        assert_eq!(
            ScopeSet::parse(&["fcs:read", "fcs:fly", "nope", "users:"]).unwrap_err(),
            vec!["fcs:fly", "nope", "users:"]
        );
    }

    #[test]
    fn granted_by_is_the_highest_matching_scope_and_order_is_kept() {
        let set = ScopeSet::parse(&[
            "fcs:read",
            "workspaces:read",
            "workspaces:admin",
            "fcs:read",
        ])
        .unwrap();
        assert_eq!(
            set.to_strings(),
            vec!["fcs:read", "workspaces:read", "workspaces:admin"]
        );
        assert_eq!(
            set.granting(scope("workspaces:write")),
            Some(scope("workspaces:admin"))
        );
        assert_eq!(set.granting(scope("users:read")), None);
    }

    #[test]
    fn all_lists_every_scope_highest_first() {
        let all: Vec<String> = Scope::all().map(|s| s.to_string()).collect();
        assert_eq!(all.len(), 15);
        assert_eq!(all[0], "workspaces:admin");
        assert_eq!(all[8], "fcs:read");
        assert_eq!(all[9], "beneficiaries:delete");
        assert_eq!(all[11], "beneficiaries:read");
        assert_eq!(all[12], "connections:admin");
        assert_eq!(all[14], "connections:read");
    }
}
