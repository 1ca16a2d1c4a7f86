//! Login throttling: repeated failures for one email lock it for a while. Kept in the
//! database so that every replica counts the same failures.

use crate::StoreResult;
use crate::entities::login_attempt as attempt;
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

/// Failures allowed before an email is locked.
pub const MAX_FAILURES: i32 = 5;
/// How long a lock lasts.
pub const LOCK: Duration = Duration::minutes(5);
/// Failures older than this are forgotten.
pub const WINDOW: Duration = Duration::minutes(15);

/// Seconds until `email` may try again, or `None` when it may now.
pub async fn locked_for(
    db: &DatabaseConnection,
    email: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<u64>> {
    let row = attempt::Entity::find_by_id(email.to_lowercase())
        .one(db)
        .await?;
    Ok(row
        .and_then(|r| r.locked_until)
        .filter(|until| *until > now)
        .map(|until| (until - now).num_seconds().max(1) as u64))
}

/// Counts a failure; the `MAX_FAILURES`-th within the window locks the email.
pub async fn record_failure(
    db: &DatabaseConnection,
    email: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let key = email.to_lowercase();
    let txn = crate::write_txn(db).await?;
    let current = attempt::Entity::find_by_id(key.clone()).one(&txn).await?;
    let failures = match &current {
        Some(r) if now - r.last_failure_at < WINDOW => r.failures + 1,
        _ => 1,
    };
    let locked_until = (failures >= MAX_FAILURES).then_some(now + LOCK);
    let row = attempt::ActiveModel {
        email: Set(key),
        failures: Set(if locked_until.is_some() { 0 } else { failures }),
        last_failure_at: Set(now),
        locked_until: Set(locked_until),
    };
    attempt::Entity::insert(row)
        .on_conflict(
            OnConflict::column(attempt::Column::Email)
                .update_columns([
                    attempt::Column::Failures,
                    attempt::Column::LastFailureAt,
                    attempt::Column::LockedUntil,
                ])
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Forgets the failures of an email after a successful login.
pub async fn reset(db: &DatabaseConnection, email: &str) -> StoreResult<()> {
    attempt::Entity::delete_many()
        .filter(attempt::Column::Email.eq(email.to_lowercase()))
        .exec(db)
        .await?;
    Ok(())
}
