//! The writes of one step, all or none.
//!
//! A step (create a task, Next) reads what it needs, decides in Rust, and then writes: an
//! update of the task guarded by the version it read, and the rows the step adds (timeline
//! entries, a follow-up, its tags). Nothing is written when the guard matches no row.
//!
//! On SQLite the step runs in one write transaction, statement after statement. On
//! PostgreSQL its writes go in one statement, the update and each insert a data-modifying
//! `WITH` query, the inserts drawing their rows from the update's result; the statement
//! commits on its own. A step there is two exchanges with the server (the read and the
//! write) instead of seven (`BEGIN`, the read, three writes, `COMMIT`, and the ping sqlx
//! sends when a connection goes back to its pool): measured on Next, see BENCHMARKS.md.

use crate::hot::Reader;
use crate::{StoreError, StoreResult};
use sea_orm::sea_query::{
    Alias, CommonTableExpression, Expr, InsertStatement, Query, SelectStatement, UnionType,
    UpdateStatement, WithClause,
};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbBackend, DbErr, EntityName, EntityTrait, ExecResult,
    IdenStatic, Iterable, QueryResult, Statement, Value,
};

/// Rows for one table, all with the same columns.
#[derive(Debug, Clone)]
pub(crate) struct Insert {
    table: &'static str,
    columns: Vec<&'static str>,
    rows: Vec<Vec<Value>>,
}

impl Insert {
    /// The rows of `models`, with the columns the first one sets (the models of one insert
    /// set the same ones). `None` without models.
    pub(crate) fn of<A: ActiveModelTrait>(models: impl IntoIterator<Item = A>) -> Option<Self> {
        let mut models = models.into_iter().peekable();
        let first = models.peek()?;
        let columns: Vec<_> = <A::Entity as EntityTrait>::Column::iter()
            .filter(|c| first.get(*c).is_set() || first.get(*c).is_unchanged())
            .collect();
        let rows = models
            .map(|m| {
                columns
                    .iter()
                    .map(|c| m.get(*c).into_value().unwrap_or(Value::BigInt(None)))
                    .collect()
            })
            .collect();
        Some(Self {
            table: A::Entity::default().table_name(),
            columns: columns.iter().map(IdenStatic::as_str).collect(),
            rows,
        })
    }

    fn values_statement(&self) -> StoreResult<InsertStatement> {
        let mut insert = Query::insert();
        insert.into_table(self.table).columns(self.columns.clone());
        for row in &self.rows {
            insert
                .values(row.iter().cloned().map(Expr::val))
                .map_err(invalid)?;
        }
        Ok(insert)
    }

    /// `INSERT ... SELECT`, each row selected `FROM guard` when there is one, so that the
    /// rows exist only if the guard matched.
    fn select_statement(&self, guard: Option<&'static str>) -> StoreResult<InsertStatement> {
        let select_row = |row: &Vec<Value>| {
            let mut select = Query::select();
            select.exprs(row.iter().cloned().map(Expr::val));
            if let Some(table) = guard {
                select.from(table);
            }
            select
        };
        let mut rows = self.rows.iter();
        let mut select: SelectStatement = rows
            .next()
            .map(select_row)
            .ok_or_else(|| StoreError::Database(DbErr::Custom("an insert of no rows".into())))?;
        for row in rows {
            select.union(UnionType::All, select_row(row));
        }
        let mut insert = Query::insert();
        insert
            .into_table(self.table)
            .columns(self.columns.clone())
            .select_from(select)
            .map_err(invalid)?;
        Ok(insert)
    }
}

fn invalid(e: sea_orm::sea_query::error::Error) -> StoreError {
    StoreError::Database(DbErr::Custom(e.to_string()))
}

/// One step's writes.
#[derive(Debug, Default)]
pub(crate) struct Step {
    /// An update naming the version that was read; when it matches no row, nothing is written.
    pub guard: Option<UpdateStatement>,
    pub inserts: Vec<Insert>,
}

impl Step {
    /// Adds rows. Rows for a table already written to, with the same columns, join its
    /// insert, so that they are numbered in the order given (on PostgreSQL the inserts of
    /// one statement run in no set order); that insert moves to the end, after the rows the
    /// new ones may refer to (SQLite checks references row by row).
    pub(crate) fn insert(&mut self, insert: Option<Insert>) {
        let Some(mut insert) = insert else { return };
        if let Some(i) = self
            .inserts
            .iter()
            .position(|i| i.table == insert.table && i.columns == insert.columns)
        {
            let mut same = self.inserts.remove(i);
            same.rows.append(&mut insert.rows);
            insert = same;
        }
        self.inserts.push(insert);
    }
}

/// Where a step reads and writes: see the module's text.
pub(crate) enum Session<'a> {
    /// PostgreSQL: statements commit on their own; a step's writes are one statement.
    Single(Reader<'a>),
    /// SQLite: one write transaction, committed by [`Session::finish`].
    Transaction(crate::WriteTxn),
}

const GUARD: &str = "guard";

impl<'a> Session<'a> {
    pub(crate) async fn begin(reader: Reader<'a>) -> StoreResult<Self> {
        Ok(if crate::is_postgres(reader.db()) {
            Self::Single(reader)
        } else {
            Self::Transaction(crate::write_txn(reader.db()).await?)
        })
    }

    /// Writes `step`; `false`, with nothing written, when its guard matched no row.
    pub(crate) async fn apply(&self, step: Step) -> StoreResult<bool> {
        match self {
            Self::Single(reader) => apply_in_one_statement(reader, step).await,
            Self::Transaction(txn) => {
                let backend = txn.get_database_backend();
                if let Some(update) = &step.guard
                    && txn.execute(update).await?.rows_affected() == 0
                {
                    return Ok(false);
                }
                for insert in &step.inserts {
                    txn.execute_raw(backend.build(&insert.values_statement()?))
                        .await?;
                }
                Ok(true)
            }
        }
    }

    /// Commits the transaction (SQLite); on PostgreSQL everything is written already.
    pub(crate) async fn finish(self) -> StoreResult<()> {
        if let Self::Transaction(txn) = self {
            txn.commit().await?;
        }
        Ok(())
    }
}

async fn apply_in_one_statement(reader: &Reader<'_>, step: Step) -> StoreResult<bool> {
    let guarded = step.guard.is_some();
    if !guarded && step.inserts.is_empty() {
        return Ok(true);
    }
    let mut with = WithClause::new();
    if let Some(mut update) = step.guard {
        update.returning_col("id");
        with.cte(
            CommonTableExpression::new()
                .query(update)
                .table_name(GUARD)
                .to_owned(),
        );
    }
    let guard = guarded.then_some(GUARD);
    for (i, insert) in step.inserts.iter().enumerate() {
        with.cte(
            CommonTableExpression::new()
                .query(insert.select_statement(guard)?)
                .table_name(Alias::new(format!("w{i}")))
                .to_owned(),
        );
    }
    let mut main = Query::select();
    if guarded {
        main.expr_as(Expr::cust("COUNT(*)"), "matched").from(GUARD);
    } else {
        main.expr_as(Expr::cust("CAST(1 AS BIGINT)"), "matched");
    }
    let statement = DbBackend::Postgres.build(&main.with(with));
    let row = reader
        .query_one_raw(statement)
        .await?
        .ok_or_else(|| StoreError::Database(DbErr::RecordNotFound("a step's result".into())))?;
    Ok(row.try_get::<i64>("", "matched")? > 0)
}

#[async_trait::async_trait]
impl ConnectionTrait for Session<'_> {
    fn get_database_backend(&self) -> DbBackend {
        match self {
            Self::Single(r) => r.get_database_backend(),
            Self::Transaction(t) => t.get_database_backend(),
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self {
            Self::Single(r) => r.execute_raw(stmt).await,
            Self::Transaction(t) => t.execute_raw(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self {
            Self::Single(r) => r.execute_unprepared(sql).await,
            Self::Transaction(t) => t.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self {
            Self::Single(r) => r.query_one_raw(stmt).await,
            Self::Transaction(t) => t.query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self {
            Self::Single(r) => r.query_all_raw(stmt).await,
            Self::Transaction(t) => t.query_all_raw(stmt).await,
        }
    }
}
