//! Shapes shared by several resources.

use crm_domain::{Operator, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoleDto {
    Admin,
    Operator,
}

impl From<Role> for RoleDto {
    fn from(r: Role) -> Self {
        match r {
            Role::Admin => RoleDto::Admin,
            Role::Operator => RoleDto::Operator,
        }
    }
}

impl From<RoleDto> for Role {
    fn from(r: RoleDto) -> Self {
        match r {
            RoleDto::Admin => Role::Admin,
            RoleDto::Operator => Role::Operator,
        }
    }
}

/// A member of staff. The password is never returned.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Operator, example = json!({
    "id": 1, "name": "Deborah", "email": "deborah@example.com",
    "role": "operator", "team_id": 2, "active": true
}))]
pub struct OperatorOut {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub role: RoleDto,
    pub team_id: Option<i64>,
    pub active: bool,
}

impl From<Operator> for OperatorOut {
    fn from(o: Operator) -> Self {
        Self {
            id: o.id,
            name: o.name,
            email: o.email,
            role: o.role.into(),
            team_id: o.team_id,
            active: o.active,
        }
    }
}
