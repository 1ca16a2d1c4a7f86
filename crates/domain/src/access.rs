//! Who may do what.

use crate::status::ParseError;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    Operator,
}

impl Role {
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
        }
    }

    pub const fn is_admin(self) -> bool {
        matches!(self, Role::Admin)
    }
}

impl FromStr for Role {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "operator" => Ok(Role::Operator),
            _ => Err(ParseError {
                value: s.to_owned(),
                allowed: "admin operator",
            }),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A setting that says who may reopen tasks or delete documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Policy {
    None,
    Admins,
    All,
}

impl Policy {
    pub const fn as_str(self) -> &'static str {
        match self {
            Policy::None => "none",
            Policy::Admins => "admins",
            Policy::All => "all",
        }
    }

    /// Who the policy lets act, as a sentence names them.
    pub const fn who(self) -> &'static str {
        match self {
            Policy::None => "nobody",
            Policy::Admins => "only administrators",
            Policy::All => "everyone",
        }
    }

    pub const fn allows(self, role: Role) -> bool {
        match self {
            Policy::None => false,
            Policy::Admins => role.is_admin(),
            Policy::All => true,
        }
    }
}

impl FromStr for Policy {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Policy::None),
            "admins" => Ok(Policy::Admins),
            "all" => Ok(Policy::All),
            _ => Err(ParseError {
                value: s.to_owned(),
                allowed: "none admins all",
            }),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_allows_by_role() {
        let table = [
            (Policy::None, Role::Admin, false),
            (Policy::None, Role::Operator, false),
            (Policy::Admins, Role::Admin, true),
            (Policy::Admins, Role::Operator, false),
            (Policy::All, Role::Admin, true),
            (Policy::All, Role::Operator, true),
        ];
        for (policy, role, allowed) in table {
            assert_eq!(policy.allows(role), allowed, "{policy} for {role}");
        }
    }

    #[test]
    fn roles_and_policies_parse_their_own_text() {
        for role in [Role::Admin, Role::Operator] {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        for policy in [Policy::None, Policy::Admins, Policy::All] {
            assert_eq!(policy.as_str().parse::<Policy>(), Ok(policy));
        }
        assert!("root".parse::<Role>().is_err());
        assert!("some".parse::<Policy>().is_err());
    }
}
