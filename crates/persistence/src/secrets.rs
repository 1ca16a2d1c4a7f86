//! Server-wide secrets kept in the database, so that every replica reads the same one.

use crate::StoreResult;
use crate::entities::server_secret;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait};

/// Returns the secret called `name`, first storing `generate()` if there is none. When two
/// processes race, both end up with whichever value was stored first.
pub async fn get_or_create(
    db: &DatabaseConnection,
    name: &str,
    generate: impl FnOnce() -> String,
) -> StoreResult<(String, bool)> {
    if let Some(found) = server_secret::Entity::find_by_id(name.to_owned())
        .one(db)
        .await?
    {
        return Ok((found.value, false));
    }
    let row = server_secret::ActiveModel {
        name: Set(name.to_owned()),
        value: Set(generate()),
        created_at: Set(crate::now()),
    };
    let inserted = server_secret::Entity::insert(row)
        .on_conflict(
            OnConflict::column(server_secret::Column::Name)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    let stored = server_secret::Entity::find_by_id(name.to_owned())
        .one(db)
        .await?
        .ok_or(crate::StoreError::NotFound)?;
    Ok((stored.value, inserted > 0))
}
