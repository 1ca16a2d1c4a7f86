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
