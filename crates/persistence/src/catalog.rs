//! The admin-managed lists: teams, task types, outcomes, tags; and the settings row.

use crate::entities::{outcome, settings, tag, task_type, team};
use crate::paging::{self, Page};
use crate::{StoreError, StoreResult};
use crm_domain::{Outcome, Policy, Settings, Tag, TaskType, Team};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, TryIntoModel,
};

/// Whether another row of `E` already has this name, ignoring case.
async fn name_taken<E, C>(
    db: &impl ConnectionTrait,
    name_col: C,
    id_col: C,
    name: &str,
    except_id: Option<i64>,
) -> StoreResult<bool>
where
    E: EntityTrait,
    E::Model: Sync,
    C: ColumnTrait,
{
    let mut query =
        E::find().filter(Expr::expr(Func::lower(Expr::col(name_col))).eq(name.to_lowercase()));
    if let Some(id) = except_id {
        query = query.filter(id_col.ne(id));
    }
    Ok(query.count(db).await? > 0)
}

fn duplicate(list: &str, name: &str) -> StoreError {
    StoreError::Conflict(format!("A {list} named '{name}' already exists."))
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(DbErr::Type(e.to_string()))
}

/// Filters shared by the lists.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListFilter {
    pub active: Option<bool>,
    pub after_id: Option<i64>,
    pub limit: u64,
}

macro_rules! list_fn {
    ($entity:ident, $domain:ty, $convert:path) => {
        pub async fn list(
            db: &DatabaseConnection,
            filter: ListFilter,
        ) -> StoreResult<Page<$domain>> {
            let mut select = $entity::Entity::find();
            if let Some(active) = filter.active {
                select = select.filter($entity::Column::Active.eq(active));
            }
            paging::by_id(
                db,
                select,
                $entity::Column::Id,
                filter.after_id,
                filter.limit,
            )
            .await?
            .try_map($convert)
        }

        pub async fn get(db: &DatabaseConnection, id: i64) -> StoreResult<$domain> {
            $entity::Entity::find_by_id(id)
                .one(db)
                .await?
                .ok_or(StoreError::NotFound)
                .and_then($convert)
        }
    };
}

pub mod teams {
    use super::*;

    fn convert(r: team::Model) -> StoreResult<Team> {
        Ok(Team {
            id: r.id,
            name: r.name,
            active: r.active,
        })
    }

    list_fn!(team, Team, convert);

    /// Creates (`id` 0) or updates a team.
    pub async fn save(db: &DatabaseConnection, t: Team) -> StoreResult<Team> {
        let existing = (t.id != 0).then_some(t.id);
        if name_taken::<team::Entity, _>(
            db,
            team::Column::Name,
            team::Column::Id,
            &t.name,
            existing,
        )
        .await?
        {
            return Err(duplicate("team", &t.name));
        }
        let row = match existing {
            None => {
                team::ActiveModel {
                    name: Set(t.name),
                    active: Set(t.active),
                    created_at: Set(crate::now()),
                    ..Default::default()
                }
                .insert(db)
                .await?
            }
            Some(id) => {
                let mut row = team::Entity::find_by_id(id)
                    .one(db)
                    .await?
                    .ok_or(StoreError::NotFound)?
                    .into_active_model();
                row.name = Set(t.name);
                row.active = Set(t.active);
                row.update(db).await?
            }
        };
        convert(row)
    }
}

pub mod task_types {
    use super::*;

    pub(crate) fn convert(r: task_type::Model) -> StoreResult<TaskType> {
        Ok(TaskType {
            id: r.id,
            name: r.name,
            color: r.color,
            visible_in_agenda: r.visible_in_agenda,
            priority: r.priority,
            active: r.active,
        })
    }

    list_fn!(task_type, TaskType, convert);

    pub async fn save(db: &DatabaseConnection, t: TaskType) -> StoreResult<TaskType> {
        let existing = (t.id != 0).then_some(t.id);
        if name_taken::<task_type::Entity, _>(
            db,
            task_type::Column::Name,
            task_type::Column::Id,
            &t.name,
            existing,
        )
        .await?
        {
            return Err(duplicate("task type", &t.name));
        }
        let mut row = match existing {
            None => task_type::ActiveModel {
                created_at: Set(crate::now()),
                ..Default::default()
            },
            Some(id) => task_type::Entity::find_by_id(id)
                .one(db)
                .await?
                .ok_or(StoreError::NotFound)?
                .into_active_model(),
        };
        row.name = Set(t.name);
        row.color = Set(t.color);
        row.visible_in_agenda = Set(t.visible_in_agenda);
        row.priority = Set(t.priority);
        row.active = Set(t.active);
        convert(row.save(db).await?.try_into_model()?)
    }
}

pub mod outcomes {
    use super::*;

    pub(crate) fn convert(r: outcome::Model) -> StoreResult<Outcome> {
        Ok(Outcome {
            id: r.id,
            resulting_status: r.resulting_status.parse().map_err(corrupt)?,
            name: r.name,
            active: r.active,
        })
    }

    list_fn!(outcome, Outcome, convert);

    pub async fn save(db: &DatabaseConnection, o: Outcome) -> StoreResult<Outcome> {
        let existing = (o.id != 0).then_some(o.id);
        let txn = crate::write_txn(db).await?;
        if name_taken::<outcome::Entity, _>(
            &txn,
            outcome::Column::Name,
            outcome::Column::Id,
            &o.name,
            existing,
        )
        .await?
        {
            return Err(duplicate("outcome", &o.name));
        }
        let mut row = match existing {
            None => outcome::ActiveModel {
                created_at: Set(crate::now()),
                ..Default::default()
            },
            Some(id) => {
                // The default outcome of new tasks must stay active and planned.
                let settings = settings::Entity::find_by_id(1)
                    .one(&txn)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                if settings.default_task_outcome_id == id {
                    crm_domain::catalog::check_default_outcome(&o).map_err(|e| {
                        StoreError::Conflict(format!(
                            "This outcome is the default for new tasks and {e}; choose another default first."
                        ))
                    })?;
                }
                outcome::Entity::find_by_id(id)
                    .one(&txn)
                    .await?
                    .ok_or(StoreError::NotFound)?
                    .into_active_model()
            }
        };
        row.name = Set(o.name);
        row.resulting_status = Set(o.resulting_status.as_str().to_owned());
        row.active = Set(o.active);
        let saved = convert(row.save(&txn).await?.try_into_model()?)?;
        txn.commit().await?;
        Ok(saved)
    }
}

pub mod tags {
    use super::*;

    pub(crate) fn convert(r: tag::Model) -> StoreResult<Tag> {
        Ok(Tag {
            id: r.id,
            name: r.name,
            color: r.color,
            active: r.active,
        })
    }

    list_fn!(tag, Tag, convert);

    pub async fn save(db: &DatabaseConnection, t: Tag) -> StoreResult<Tag> {
        let existing = (t.id != 0).then_some(t.id);
        if name_taken::<tag::Entity, _>(db, tag::Column::Name, tag::Column::Id, &t.name, existing)
            .await?
        {
            return Err(duplicate("tag", &t.name));
        }
        let mut row = match existing {
            None => tag::ActiveModel {
                created_at: Set(crate::now()),
                ..Default::default()
            },
            Some(id) => tag::Entity::find_by_id(id)
                .one(db)
                .await?
                .ok_or(StoreError::NotFound)?
                .into_active_model(),
        };
        row.name = Set(t.name);
        row.color = Set(t.color);
        row.active = Set(t.active);
        convert(row.save(db).await?.try_into_model()?)
    }
}

pub mod settings_repo {
    use super::*;

    fn convert(r: settings::Model) -> StoreResult<Settings> {
        Ok(Settings {
            default_task_outcome_id: r.default_task_outcome_id,
            reopen_tasks: r.reopen_tasks.parse::<Policy>().map_err(corrupt)?,
            delete_documents: r.delete_documents.parse::<Policy>().map_err(corrupt)?,
        })
    }

    pub async fn get(db: &impl ConnectionTrait) -> StoreResult<Settings> {
        settings::Entity::find_by_id(1)
            .one(db)
            .await?
            .ok_or(StoreError::NotFound)
            .and_then(convert)
    }

    /// Saves the settings after checking, in the same transaction, that the default outcome
    /// is an active planned one.
    pub async fn save(db: &DatabaseConnection, s: Settings) -> StoreResult<Settings> {
        let txn = crate::write_txn(db).await?;
        let outcome = match outcome::Entity::find_by_id(s.default_task_outcome_id)
            .one(&txn)
            .await?
        {
            Some(row) => outcomes::convert(row)?,
            None => {
                return Err(StoreError::rejected(
                    "default_task_outcome_id",
                    "no outcome has this id",
                ));
            }
        };
        crm_domain::catalog::check_default_outcome(&outcome)
            .map_err(|e| StoreError::rejected("default_task_outcome_id", e.to_string()))?;
        let mut row = settings::Entity::find_by_id(1)
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?
            .into_active_model();
        row.default_task_outcome_id = Set(s.default_task_outcome_id);
        row.reopen_tasks = Set(s.reopen_tasks.as_str().to_owned());
        row.delete_documents = Set(s.delete_documents.as_str().to_owned());
        row.updated_at = Set(crate::now());
        let saved = convert(row.update(&txn).await?)?;
        txn.commit().await?;
        Ok(saved)
    }

    /// Takes the settings row's write lock for the rest of `txn`, so that checks that span
    /// several rows (the last admin) run one at a time.
    pub(crate) async fn lock(txn: &impl ConnectionTrait) -> StoreResult<()> {
        settings::Entity::update_many()
            .col_expr(settings::Column::Id, Expr::col(settings::Column::Id))
            .filter(settings::Column::Id.eq(1))
            .exec(txn)
            .await?;
        Ok(())
    }
}
