//! Keyset pages: each page starts after the last key of the previous one, so a deep page
//! costs what the first does.

use crate::StoreResult;
use sea_orm::sea_query::{Expr, Value};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Select,
};

/// The most rows one page may ask for.
pub const MAX_LIMIT: u64 = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Whether rows remain after the last item.
    pub has_more: bool,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            has_more: self.has_more,
        }
    }

    pub fn try_map<U, E>(self, f: impl FnMut(T) -> Result<U, E>) -> Result<Page<U>, E> {
        Ok(Page {
            items: self.items.into_iter().map(f).collect::<Result<_, _>>()?,
            has_more: self.has_more,
        })
    }
}

/// `stmt` with `LIMIT n` written into its text instead of bound. PostgreSQL runs a prepared
/// statement with a generic plan only when that plan is estimated to cost no more than the
/// custom ones; with the page size a parameter it cannot tell, keeps planning the statement
/// at every execution (0.3 ms of a list page's 0.5 ms), and a list of tasks answered 60% as
/// fast. Page sizes are a handful of numbers, so each gets its own prepared statement.
pub(crate) fn limited(mut stmt: sea_orm::Statement, n: u64) -> sea_orm::Statement {
    stmt.sql.push_str(&format!(" LIMIT {n}"));
    stmt
}

/// A cursor's key as the condition that starts a page compares with. On PostgreSQL it is a
/// sub-select, `(SELECT $n)`, whose value the planner does not look into: every page of a
/// list then costs the same to the planner, so after a few executions the prepared statement
/// keeps one generic plan, the same index scan from the key on. Given the value itself, the
/// planner estimated each page differently, found its custom plans cheaper than the generic
/// one and planned the statement again at every page: 0.16 ms a page, and page 1,000 of a
/// list answered 25% slower than its page 1 (which has no cursor). The index condition is
/// the same either way.
pub(crate) fn cursor_value(backend: DbBackend, value: impl Into<Value>) -> Expr {
    match backend {
        DbBackend::Postgres => Expr::cust_with_values("(SELECT $1)", [value.into()]),
        _ => Expr::val(value),
    }
}

/// Fetches one more row than asked to learn whether another page follows.
pub(crate) fn split<T>(mut rows: Vec<T>, limit: u64) -> Page<T> {
    let has_more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Page {
        items: rows,
        has_more,
    }
}

/// A page of `select` in ascending id order, after `after_id`.
pub(crate) async fn by_id<E, C>(
    db: &impl ConnectionTrait,
    select: Select<E>,
    id: C,
    after_id: Option<i64>,
    limit: u64,
) -> StoreResult<Page<E::Model>>
where
    E: EntityTrait,
    C: ColumnTrait,
{
    let limit = limit.clamp(1, MAX_LIMIT);
    let select = match after_id {
        Some(after) => select.filter(id.gt(after)),
        None => select,
    };
    let rows = select.order_by_asc(id).limit(limit + 1).all(db).await?;
    Ok(split(rows, limit))
}
