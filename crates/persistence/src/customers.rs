//! Customers, their search, and the audit of their changes.

use crate::entities::{customer, operator};
use crate::paging::{self, Page};
use crate::timeline;
use crate::{StoreError, StoreResult};
use chrono::{DateTime, Utc};
use crm_domain::{Customer, CustomerPatch};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait,
    DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QueryTrait,
};

#[derive(Debug, Clone)]
pub struct NewCustomer {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub consultant_id: Option<i64>,
}

/// The orders a customer list can take; `id` always breaks ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerSort {
    Name,
    CreatedAt,
    Id,
}

/// Where the previous page ended, in the list's sort order.
#[derive(Debug, Clone, PartialEq)]
pub enum CustomerKey {
    Name(String, i64),
    CreatedAt(DateTime<Utc>, i64),
    Id(i64),
}

#[derive(Debug, Clone)]
pub struct CustomerQuery {
    pub q: Option<String>,
    pub consultant_id: Option<i64>,
    pub sort: CustomerSort,
    pub descending: bool,
    pub after: Option<CustomerKey>,
    pub limit: u64,
}

fn to_domain(r: customer::Model) -> Customer {
    Customer {
        id: r.id,
        name: r.name,
        email: r.email,
        phone: r.phone,
        consultant_id: r.consultant_id,
        archive_code: r.archive_code,
        created_at: r.created_at,
        updated_at: r.updated_at,
        version: r.version,
    }
}

/// The sort key of `c` in `sort`, for the next page's cursor.
pub fn key_of(c: &Customer, sort: CustomerSort) -> CustomerKey {
    match sort {
        CustomerSort::Name => CustomerKey::Name(c.name.clone(), c.id),
        CustomerSort::CreatedAt => CustomerKey::CreatedAt(c.created_at, c.id),
        CustomerSort::Id => CustomerKey::Id(c.id),
    }
}

/// An unguessable archive code: 192 random bits, URL-safe.
fn archive_code() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn check_consultant(db: &impl ConnectionTrait, id: Option<i64>) -> StoreResult<()> {
    if let Some(id) = id {
        match operator::Entity::find_by_id(id).one(db).await? {
            Some(op) if op.active => {}
            Some(_) => {
                return Err(StoreError::rejected(
                    "consultant_id",
                    "this operator is inactive",
                ));
            }
            None => {
                return Err(StoreError::rejected(
                    "consultant_id",
                    "no operator has this id",
                ));
            }
        }
    }
    Ok(())
}

pub async fn get(db: &impl ConnectionTrait, id: i64) -> StoreResult<Customer> {
    customer::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(to_domain)
        .ok_or(StoreError::NotFound)
}

pub async fn find_by_archive_code(db: &DatabaseConnection, code: &str) -> StoreResult<Customer> {
    customer::Entity::find()
        .filter(customer::Column::ArchiveCode.eq(code))
        .one(db)
        .await?
        .map(to_domain)
        .ok_or(StoreError::NotFound)
}

pub async fn create(db: &DatabaseConnection, new: NewCustomer) -> StoreResult<Customer> {
    check_consultant(db, new.consultant_id).await?;
    let now = crate::now();
    let row = customer::ActiveModel {
        name: Set(new.name),
        email: Set(new.email),
        phone: Set(new.phone),
        consultant_id: Set(new.consultant_id),
        archive_code: Set(archive_code()),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(to_domain(row))
}

/// Matches `%text%` literally: the user's `%` and `_` are not wildcards.
fn contains_pattern(text: &str) -> LikeExpr {
    let escaped = text
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    LikeExpr::new(format!("%{escaped}%")).escape('\\')
}

pub async fn list(db: &impl ConnectionTrait, query: CustomerQuery) -> StoreResult<Page<Customer>> {
    use customer::Column as C;
    let limit = query.limit.clamp(1, paging::MAX_LIMIT);
    let mut select = customer::Entity::find();
    if let Some(q) = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let lower = |c: C| Expr::expr(Func::lower(Expr::col(c)));
        select = select.filter(
            Condition::any()
                .add(lower(C::Name).like(contains_pattern(q)))
                .add(lower(C::Email).like(contains_pattern(q)))
                .add(lower(C::Phone).like(contains_pattern(q))),
        );
    }
    if let Some(consultant) = query.consultant_id {
        select = select.filter(C::ConsultantId.eq(consultant));
    }
    let (column, order) = (
        match query.sort {
            CustomerSort::Name => Some(C::Name),
            CustomerSort::CreatedAt => Some(C::CreatedAt),
            CustomerSort::Id => None,
        },
        if query.descending {
            sea_orm::Order::Desc
        } else {
            sea_orm::Order::Asc
        },
    );
    let backend = db.get_database_backend();
    if let Some(after) = &query.after {
        let key = |v: sea_orm::Value| paging::cursor_value(backend, v);
        let (left, right) = match after {
            CustomerKey::Name(name, id) => (
                Expr::tuple([Expr::col(C::Name), Expr::col(C::Id)]),
                Expr::tuple([key(name.clone().into()), key((*id).into())]),
            ),
            CustomerKey::CreatedAt(at, id) => (
                Expr::tuple([Expr::col(C::CreatedAt), Expr::col(C::Id)]),
                Expr::tuple([key((*at).into()), key((*id).into())]),
            ),
            CustomerKey::Id(id) => (Expr::col(C::Id), key((*id).into())),
        };
        select = select.filter(if query.descending {
            left.lt(right)
        } else {
            left.gt(right)
        });
    }
    if let Some(column) = column {
        select = select.order_by(column, order.clone());
    }
    let statement = paging::limited(select.order_by(C::Id, order).build(backend), limit + 1);
    let rows = customer::Entity::find()
        .from_raw_sql(statement)
        .all(db)
        .await?;
    Ok(paging::split(rows, limit).map(to_domain))
}

/// Applies `patch` and writes one `change` timeline entry per changed field, in one
/// transaction. `expected_version`, when given, must be the current version.
pub async fn update(
    db: &DatabaseConnection,
    id: i64,
    patch: CustomerPatch,
    actor_id: i64,
    expected_version: Option<i32>,
) -> StoreResult<Customer> {
    let txn = crate::write_txn(db).await?;
    let row = customer::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(StoreError::NotFound)?;
    if expected_version.is_some_and(|v| v != row.version) {
        return Err(StoreError::VersionConflict);
    }
    if let Some(consultant) = patch.consultant_id {
        check_consultant(&txn, consultant).await?;
    }
    let mut customer = to_domain(row.clone());
    let changes = customer.apply(patch);
    if changes.is_empty() {
        return Ok(customer);
    }
    let now = crate::now();
    let mut active = row.into_active_model();
    active.name = Set(customer.name.clone());
    active.email = Set(customer.email.clone());
    active.phone = Set(customer.phone.clone());
    active.consultant_id = Set(customer.consultant_id);
    active.updated_at = Set(now);
    active.version = Set(customer.version + 1);
    // Conditional on the version read, so a concurrent change cannot be overwritten.
    let updated = customer::Entity::update_many()
        .set(active)
        .filter(customer::Column::Id.eq(id))
        .filter(customer::Column::Version.eq(customer.version))
        .exec(&txn)
        .await?;
    if updated.rows_affected == 0 {
        return Err(StoreError::VersionConflict);
    }
    timeline::record(
        &txn,
        timeline::change_entries(id, "customer", id, None, actor_id, now, &changes),
    )
    .await?;
    txn.commit().await?;
    customer.updated_at = now;
    customer.version += 1;
    Ok(customer)
}
