//! Idempotency keys: the first response to a POST is stored and replayed for retries with the
//! same key, across every server process that shares the database.

use crate::StoreResult;
use crate::entities::idempotency_key as key;
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

/// How long a key is remembered.
pub const LIFETIME: Duration = Duration::hours(24);

/// A stored response.
#[derive(Debug, Clone)]
pub struct Stored {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What to do with a request that carries a key.
#[derive(Debug, Clone)]
pub enum Claim {
    /// The key is new: serve the request, then `finish` (or `release` on a server error).
    New,
    /// The key was used for this same request: answer with the stored response.
    Replay(Stored),
    /// The first request with this key is still being served.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
}

async fn try_insert(
    db: &DatabaseConnection,
    operator: i64,
    k: &str,
    fingerprint: &str,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let row = key::ActiveModel {
        operator_id: Set(operator),
        key: Set(k.to_owned()),
        fingerprint: Set(fingerprint.to_owned()),
        status_code: Set(None),
        response_headers: Set(None),
        response_body: Set(None),
        created_at: Set(now),
    };
    let inserted = key::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([key::Column::OperatorId, key::Column::Key])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(inserted == 1)
}

/// Claims `k` for `operator`'s request with this fingerprint.
pub async fn claim(
    db: &DatabaseConnection,
    operator: i64,
    k: &str,
    fingerprint: &str,
) -> StoreResult<Claim> {
    let now = crate::now();
    for _ in 0..2 {
        if try_insert(db, operator, k, fingerprint, now).await? {
            return Ok(Claim::New);
        }
        let Some(row) = key::Entity::find_by_id((operator, k.to_owned()))
            .one(db)
            .await?
        else {
            continue;
        };
        if row.created_at < now - LIFETIME {
            key::Entity::delete_many()
                .filter(key::Column::OperatorId.eq(operator))
                .filter(key::Column::Key.eq(k))
                .filter(key::Column::CreatedAt.eq(row.created_at))
                .exec(db)
                .await?;
            continue;
        }
        if row.fingerprint != fingerprint {
            return Ok(Claim::Mismatch);
        }
        return Ok(match (row.status_code, row.response_body) {
            (Some(status), Some(body)) => Claim::Replay(Stored {
                status: u16::try_from(status).unwrap_or(200),
                headers: row
                    .response_headers
                    .and_then(|h| serde_json::from_str(&h).ok())
                    .unwrap_or_default(),
                body: body.into_bytes(),
            }),
            _ => Claim::InProgress,
        });
    }
    Ok(Claim::InProgress)
}

/// Stores the response of a claimed key.
pub async fn finish(
    db: &DatabaseConnection,
    operator: i64,
    k: &str,
    response: &Stored,
) -> StoreResult<()> {
    key::Entity::update_many()
        .col_expr(key::Column::StatusCode, i32::from(response.status).into())
        .col_expr(
            key::Column::ResponseHeaders,
            serde_json::to_string(&response.headers)
                .unwrap_or_default()
                .into(),
        )
        .col_expr(
            key::Column::ResponseBody,
            String::from_utf8_lossy(&response.body).into_owned().into(),
        )
        .filter(key::Column::OperatorId.eq(operator))
        .filter(key::Column::Key.eq(k))
        .exec(db)
        .await?;
    Ok(())
}

/// Forgets a claimed key whose request failed on the server's side, so a retry can run.
pub async fn release(db: &DatabaseConnection, operator: i64, k: &str) -> StoreResult<()> {
    key::Entity::delete_many()
        .filter(key::Column::OperatorId.eq(operator))
        .filter(key::Column::Key.eq(k))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes keys older than their lifetime; returns how many.
pub async fn purge_expired(db: &DatabaseConnection) -> StoreResult<u64> {
    let result = key::Entity::delete_many()
        .filter(key::Column::CreatedAt.lt(crate::now() - LIFETIME))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
