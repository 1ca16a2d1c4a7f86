//! The people who use the CRM.

use crate::access::Role;
use chrono::{DateTime, Utc};

/// A member of staff who logs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub team_id: Option<i64>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

/// Why a change to an operator was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    #[error("this is the last active administrator: make another operator an administrator first")]
    LastAdmin,
}

impl Operator {
    /// Whether this operator counts as an active administrator.
    pub fn is_active_admin(&self) -> bool {
        self.active && self.role.is_admin()
    }
}

/// An installation must keep one active administrator: refuses a change that would remove
/// the last one. `other_active_admins` counts the active administrators besides `current`.
pub fn check_admin_change(
    current: &Operator,
    new_role: Role,
    new_active: bool,
    other_active_admins: u64,
) -> Result<(), DirectoryError> {
    let stays_admin = new_active && new_role.is_admin();
    if current.is_active_admin() && !stays_admin && other_active_admins == 0 {
        Err(DirectoryError::LastAdmin)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin(active: bool) -> Operator {
        Operator {
            id: 1,
            name: "A".into(),
            email: "a@example.com".into(),
            role: Role::Admin,
            team_id: None,
            active,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn the_last_active_admin_stays() {
        let a = admin(true);
        assert_eq!(
            check_admin_change(&a, Role::Operator, true, 0),
            Err(DirectoryError::LastAdmin)
        );
        assert_eq!(
            check_admin_change(&a, Role::Admin, false, 0),
            Err(DirectoryError::LastAdmin)
        );
        assert_eq!(check_admin_change(&a, Role::Admin, true, 0), Ok(()));
        assert_eq!(check_admin_change(&a, Role::Operator, true, 1), Ok(()));
    }

    #[test]
    fn inactive_admins_and_operators_change_freely() {
        assert_eq!(
            check_admin_change(&admin(false), Role::Operator, false, 0),
            Ok(())
        );
        let mut op = admin(true);
        op.role = Role::Operator;
        assert_eq!(check_admin_change(&op, Role::Operator, false, 0), Ok(()));
    }
}
