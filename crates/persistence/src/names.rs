//! The catalog in memory: operators, task types, outcomes and tags, the few hundred rows that
//! every task view names. Reading them once per change instead of joining them into every
//! query leaves a task view one indexed read of `tasks` and `customers`.
//!
//! The database keeps a counter, `catalog_version`, that triggers raise on every change to
//! those tables, in the changing transaction. Queries that name things read the counter in the
//! same statement as their rows; when it is ahead of the names held here, they are read again
//! before the rows are turned into views. A view therefore never shows a name older than the
//! rows it came from, whichever server or script changed it.

use crate::entities::{operator, outcome, tag, task_type};
use crate::{StoreError, StoreResult};
use crm_domain::{Outcome, Ref};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ConnectionTrait, EntityTrait, FromQueryResult, QuerySelect, Statement};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// An operator as the catalog knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorName {
    pub name: String,
    pub team_id: Option<i64>,
    pub active: bool,
}

/// The catalog as of one version of the counter.
#[derive(Debug, Default)]
pub struct Catalog {
    pub version: i64,
    operators: HashMap<i64, OperatorName>,
    types: HashMap<i64, task_type::Model>,
    outcomes: HashMap<i64, Outcome>,
    tags: HashMap<i64, tag::Model>,
}

impl Catalog {
    pub fn operator(&self, id: i64) -> Option<&OperatorName> {
        self.operators.get(&id)
    }

    pub fn task_type(&self, id: i64) -> Option<&task_type::Model> {
        self.types.get(&id)
    }

    pub fn outcome(&self, id: i64) -> Option<&Outcome> {
        self.outcomes.get(&id)
    }

    pub fn tag(&self, id: i64) -> Option<&tag::Model> {
        self.tags.get(&id)
    }

    /// The operators of a team, by id.
    pub fn team_members(&self, team_id: i64) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .operators
            .iter()
            .filter(|(_, o)| o.team_id == Some(team_id))
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// The task types `keep` accepts, by id.
    pub fn type_ids(&self, keep: impl Fn(&task_type::Model) -> bool) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .types
            .values()
            .filter(|t| keep(t))
            .map(|t| t.id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// `{id, name}` of an operator, or an error when the id is unknown (which the foreign
    /// keys rule out once the catalog has caught up).
    pub fn operator_ref(&self, id: i64) -> StoreResult<Ref> {
        named("operator", id, self.operator(id).map(|o| &o.name))
    }

    pub fn outcome_ref(&self, id: i64) -> StoreResult<Ref> {
        named("outcome", id, self.outcome(id).map(|o| &o.name))
    }

    pub fn tag_ref(&self, id: i64) -> StoreResult<Ref> {
        named("tag", id, self.tag(id).map(|t| &t.name))
    }
}

fn named(what: &str, id: i64, name: Option<&String>) -> StoreResult<Ref> {
    match name {
        Some(name) => Ok(Ref {
            id,
            name: name.clone(),
        }),
        None => Err(StoreError::Database(sea_orm::DbErr::RecordNotFound(
            format!("{what} {id} is not in the catalog"),
        ))),
    }
}

/// How many times a read whose conditions came from the catalog is made again when the rows
/// show the catalog changed under it (a list, the dashboard's counts).
pub(crate) const CATALOG_RETRIES: usize = 3;

/// `column IN (1, 5, 9)` over ids from the catalog, written into the SQL as numbers rather
/// than bound. PostgreSQL turns a list of parameters into an array that it builds again for
/// every row it tests, where a list of constants is built once: over an operator's 4,300
/// planned tasks the dashboard's counts took 2.4 ms with parameters and 1.3 ms with
/// constants. The lists change only with the settings; each new one is a new prepared
/// statement.
pub(crate) fn in_ids(column: (&'static str, &'static str), ids: &[i64]) -> Expr {
    Expr::col(column).is_in(ids.iter().map(|id| Expr::cust(id.to_string())))
}

/// The shared, reloadable catalog of one database.
#[derive(Debug, Default)]
pub struct Names {
    current: RwLock<Arc<Catalog>>,
}

#[derive(Debug, FromQueryResult)]
struct VersionRow {
    version: i64,
}

/// The SQL expression of the counter, for a query's column list.
pub const VERSION_EXPR: &str = "(SELECT version FROM catalog_version WHERE id = 1)";

/// The counter as the database has it now.
pub(crate) async fn read_version(db: &impl ConnectionTrait) -> StoreResult<i64> {
    Ok(VersionRow::find_by_statement(Statement::from_string(
        db.get_database_backend(),
        "SELECT version FROM catalog_version WHERE id = 1",
    ))
    .one(db)
    .await?
    .map_or(0, |r| r.version))
}

impl Names {
    pub fn new() -> Self {
        Self::default()
    }

    /// The catalog held now, whatever its version.
    pub fn held(&self) -> Arc<Catalog> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The catalog at `version` or later, read again from `db` when the one held is older.
    /// `db` may be a transaction, as long as it has not changed the catalog itself (no task
    /// step does).
    pub async fn at_least(
        &self,
        db: &impl ConnectionTrait,
        version: i64,
    ) -> StoreResult<Arc<Catalog>> {
        let held = self.held();
        if held.version >= version {
            return Ok(held);
        }
        self.reload(db).await
    }

    /// Reads the whole catalog. The counter is read first, so the rows are at least as new
    /// as the version they are filed under; a change in between only causes one more reload.
    pub async fn reload(&self, db: &impl ConnectionTrait) -> StoreResult<Arc<Catalog>> {
        let version = read_version(db).await?;
        let operators = operator::Entity::find()
            .select_only()
            .column(operator::Column::Id)
            .column(operator::Column::Name)
            .column(operator::Column::TeamId)
            .column(operator::Column::Active)
            .into_tuple::<(i64, String, Option<i64>, bool)>()
            .all(db)
            .await?
            .into_iter()
            .map(|(id, name, team_id, active)| {
                (
                    id,
                    OperatorName {
                        name,
                        team_id,
                        active,
                    },
                )
            })
            .collect();
        let types = task_type::Entity::find()
            .all(db)
            .await?
            .into_iter()
            .map(|t| (t.id, t))
            .collect();
        let mut outcomes = HashMap::new();
        for row in outcome::Entity::find().all(db).await? {
            outcomes.insert(row.id, crate::catalog::outcomes::convert(row)?);
        }
        let tags = tag::Entity::find()
            .all(db)
            .await?
            .into_iter()
            .map(|t| (t.id, t))
            .collect();
        let catalog = Arc::new(Catalog {
            version,
            operators,
            types,
            outcomes,
            tags,
        });
        let mut current = match self.current.write() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        if current.version <= version {
            *current = catalog.clone();
        }
        Ok(catalog)
    }
}

#[cfg(test)]
mod tests {
    use super::in_ids;
    use sea_orm::DbBackend;
    use sea_orm::sea_query::Query;

    #[test]
    fn catalog_ids_are_written_as_constants() {
        let q = Query::select()
            .expr(in_ids(("t", "type_id"), &[1, 5, 9]))
            .to_owned();
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            let stmt = backend.build(&q);
            assert!(
                stmt.sql.contains(r#""t"."type_id" IN (1, 5, 9)"#),
                "{}",
                stmt.sql
            );
            assert!(stmt.values.is_none_or(|v| v.0.is_empty()));
        }
    }
}
