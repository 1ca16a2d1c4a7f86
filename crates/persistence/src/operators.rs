//! Operators: the people who log in.

use crate::entities::operator;
use crate::{StoreError, StoreResult};
use crm_domain::{Operator, Role};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter,
};

/// An operator to be created; the password is already hashed.
#[derive(Debug, Clone)]
pub struct NewOperator {
    pub name: String,
    pub email: String,
    pub password_hash: String,
    pub role: Role,
    pub team_id: Option<i64>,
}

pub(crate) fn to_domain(row: operator::Model) -> StoreResult<Operator> {
    let role = row
        .role
        .parse::<Role>()
        .map_err(|e| StoreError::Database(sea_orm::DbErr::Type(e.to_string())))?;
    Ok(Operator {
        id: row.id,
        name: row.name,
        email: row.email,
        role,
        team_id: row.team_id,
        active: row.active,
        created_at: row.created_at,
    })
}

pub async fn count(db: &DatabaseConnection) -> StoreResult<u64> {
    Ok(operator::Entity::find().count(db).await?)
}

pub async fn get(db: &DatabaseConnection, id: i64) -> StoreResult<Operator> {
    let row = operator::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)?;
    to_domain(row)
}

/// The operator with this email (compared in lower case) and its password hash.
pub async fn find_credentials(
    db: &DatabaseConnection,
    email: &str,
) -> StoreResult<Option<(Operator, String)>> {
    let row = operator::Entity::find()
        .filter(operator::Column::Email.eq(email.to_lowercase()))
        .one(db)
        .await?;
    row.map(|r| {
        let hash = r.password_hash.clone();
        to_domain(r).map(|op| (op, hash))
    })
    .transpose()
}

pub async fn create(db: &DatabaseConnection, new: NewOperator) -> StoreResult<Operator> {
    let row = operator::ActiveModel {
        name: Set(new.name),
        email: Set(new.email.to_lowercase()),
        password_hash: Set(new.password_hash),
        role: Set(new.role.as_str().to_owned()),
        team_id: Set(new.team_id),
        active: Set(true),
        calendar_token_hash: Set(None),
        created_at: Set(crate::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    to_domain(row)
}
