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

/// A task's status, or the status an outcome leaves a task in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = Status)]
pub enum StatusDto {
    Planned,
    Done,
    Cancelled,
}

impl From<crm_domain::TaskStatus> for StatusDto {
    fn from(s: crm_domain::TaskStatus) -> Self {
        use crm_domain::TaskStatus as S;
        match s {
            S::Planned => StatusDto::Planned,
            S::Done => StatusDto::Done,
            S::Cancelled => StatusDto::Cancelled,
        }
    }
}

impl From<StatusDto> for crm_domain::TaskStatus {
    fn from(s: StatusDto) -> Self {
        use crm_domain::TaskStatus as S;
        match s {
            StatusDto::Planned => S::Planned,
            StatusDto::Done => S::Done,
            StatusDto::Cancelled => S::Cancelled,
        }
    }
}

/// Who may do something: nobody, admins, or every operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = Policy)]
pub enum PolicyDto {
    None,
    Admins,
    All,
}

impl From<crm_domain::Policy> for PolicyDto {
    fn from(p: crm_domain::Policy) -> Self {
        use crm_domain::Policy as P;
        match p {
            P::None => PolicyDto::None,
            P::Admins => PolicyDto::Admins,
            P::All => PolicyDto::All,
        }
    }
}

impl From<PolicyDto> for crm_domain::Policy {
    fn from(p: PolicyDto) -> Self {
        use crm_domain::Policy as P;
        match p {
            PolicyDto::None => P::None,
            PolicyDto::Admins => P::Admins,
            PolicyDto::All => P::All,
        }
    }
}

/// For PATCH fields that may be cleared: absent leaves the field alone (`None`), `null`
/// clears it (`Some(None)`), a value sets it.
pub fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}
