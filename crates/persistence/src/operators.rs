//! Operators: the people who log in.

use crate::catalog::settings_repo;
use crate::entities::{operator, team};
use crate::paging::{self, Page};
use crate::{StoreError, StoreResult};
use crm_domain::directory::check_admin_change;
use crm_domain::{Operator, Role};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
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

/// Changes to an operator: `None` leaves a field alone; `team_id: Some(None)` clears the team.
#[derive(Debug, Clone, Default)]
pub struct OperatorChanges {
    pub name: Option<String>,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub role: Option<Role>,
    pub team_id: Option<Option<i64>>,
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct OperatorFilter {
    pub active: Option<bool>,
    pub team_id: Option<i64>,
    pub role: Option<Role>,
    pub after_id: Option<i64>,
    pub limit: u64,
}

pub(crate) fn to_domain(row: operator::Model) -> StoreResult<Operator> {
    let role = row
        .role
        .parse::<Role>()
        .map_err(|e| StoreError::Database(DbErr::Type(e.to_string())))?;
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

pub async fn get(db: &impl ConnectionTrait, id: i64) -> StoreResult<Operator> {
    let row = operator::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)?;
    to_domain(row)
}

pub async fn list(db: &DatabaseConnection, filter: OperatorFilter) -> StoreResult<Page<Operator>> {
    let mut select = operator::Entity::find();
    if let Some(active) = filter.active {
        select = select.filter(operator::Column::Active.eq(active));
    }
    if let Some(team) = filter.team_id {
        select = select.filter(operator::Column::TeamId.eq(team));
    }
    if let Some(role) = filter.role {
        select = select.filter(operator::Column::Role.eq(role.as_str()));
    }
    paging::by_id(
        db,
        select,
        operator::Column::Id,
        filter.after_id,
        filter.limit,
    )
    .await?
    .try_map(to_domain)
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

async fn check_team(db: &impl ConnectionTrait, team_id: Option<i64>) -> StoreResult<()> {
    if let Some(id) = team_id {
        match team::Entity::find_by_id(id).one(db).await? {
            Some(t) if t.active => {}
            Some(_) => return Err(StoreError::rejected("team_id", "this team is inactive")),
            None => return Err(StoreError::rejected("team_id", "no team has this id")),
        }
    }
    Ok(())
}

async fn check_email_free(
    db: &impl ConnectionTrait,
    email: &str,
    except_id: Option<i64>,
) -> StoreResult<()> {
    let mut query = operator::Entity::find().filter(operator::Column::Email.eq(email));
    if let Some(id) = except_id {
        query = query.filter(operator::Column::Id.ne(id));
    }
    if query.count(db).await? > 0 {
        return Err(StoreError::Conflict(format!(
            "An operator with the email '{email}' already exists."
        )));
    }
    Ok(())
}

pub async fn create(db: &DatabaseConnection, new: NewOperator) -> StoreResult<Operator> {
    let email = new.email.to_lowercase();
    check_team(db, new.team_id).await?;
    check_email_free(db, &email, None).await?;
    let row = operator::ActiveModel {
        name: Set(new.name),
        email: Set(email),
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

/// Applies `changes`, refusing (409) one that would leave no active administrator.
pub async fn update(
    db: &DatabaseConnection,
    id: i64,
    changes: OperatorChanges,
) -> StoreResult<Operator> {
    let txn = crate::write_txn(db).await?;
    // Serialises changes to roles, so two admins cannot demote each other at once.
    settings_repo::lock(&txn).await?;
    let row = operator::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(StoreError::NotFound)?;
    let current = to_domain(row.clone())?;
    let new_role = changes.role.unwrap_or(current.role);
    let new_active = changes.active.unwrap_or(current.active);
    let other_admins = operator::Entity::find()
        .filter(operator::Column::Role.eq(Role::Admin.as_str()))
        .filter(operator::Column::Active.eq(true))
        .filter(operator::Column::Id.ne(id))
        .count(&txn)
        .await?;
    check_admin_change(&current, new_role, new_active, other_admins)
        .map_err(|e| StoreError::Conflict(format!("{e}.")))?;
    if let Some(team_id) = changes.team_id {
        check_team(&txn, team_id).await?;
    }
    let mut row = row.into_active_model();
    if let Some(email) = changes.email {
        let email = email.to_lowercase();
        check_email_free(&txn, &email, Some(id)).await?;
        row.email = Set(email);
    }
    if let Some(name) = changes.name {
        row.name = Set(name);
    }
    if let Some(hash) = changes.password_hash {
        row.password_hash = Set(hash);
    }
    if let Some(team_id) = changes.team_id {
        row.team_id = Set(team_id);
    }
    row.role = Set(new_role.as_str().to_owned());
    row.active = Set(new_active);
    let saved = to_domain(row.update(&txn).await?)?;
    txn.commit().await?;
    Ok(saved)
}

/// Stores the hash of a new calendar feed token; the previous token stops working.
pub async fn set_calendar_token(
    db: &DatabaseConnection,
    id: i64,
    token_hash: &str,
) -> StoreResult<()> {
    let row = operator::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)?;
    let mut row = row.into_active_model();
    row.calendar_token_hash = Set(Some(token_hash.to_owned()));
    row.update(db).await?;
    Ok(())
}

/// The active operator whose calendar feed token has this hash.
pub async fn find_by_calendar_token(
    db: &DatabaseConnection,
    token_hash: &str,
) -> StoreResult<Option<Operator>> {
    operator::Entity::find()
        .filter(operator::Column::CalendarTokenHash.eq(token_hash))
        .filter(operator::Column::Active.eq(true))
        .one(db)
        .await?
        .map(to_domain)
        .transpose()
}
