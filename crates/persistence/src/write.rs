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
//! Nexts that come to be written while another is being written go together in one
//! statement, each still guarded by its own version ([`Batches`]); their reads go together
//! likewise (`crate::loads`).

use crate::hot::{HotConnections, Reader};
use crate::together::{self, Runner, Waiting};
use crate::{StoreError, StoreResult};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    Alias, CommonTableExpression, Expr, InsertStatement, Query, SelectStatement, UnionType,
    UpdateStatement, WithClause,
};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbBackend, DbErr, EntityName, EntityTrait, ExecResult,
    IdenStatic, Iterable, QueryResult, Statement, Value,
};
use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::oneshot;

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
    /// The guard as data, when it closes a task (Next): on PostgreSQL such steps that
    /// arrive together are written together (see [`Batches`]).
    pub close: Option<Close>,
}

/// A guard that closes task `id` if it still has `version`, as data: what the step's `guard`
/// does, which a statement for several steps writes in its stead.
#[derive(Debug, Clone)]
pub(crate) struct Close {
    pub id: i64,
    pub version: i32,
    pub status: &'static str,
    pub outcome_id: i64,
    pub closed_by_id: i64,
    pub at: DateTime<Utc>,
    pub customer_id: i64,
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
            Self::Single(reader) if step.close.is_some() => Batches::apply(reader, step).await,
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

/// At most this many steps go in one statement.
const MOST_IN_A_BATCH: usize = 32;

/// At most about this many parameters go in one statement (PostgreSQL takes 65,535).
const MOST_PARAMETERS: usize = 20_000;

/// Steps that close a task (Next), written together on PostgreSQL.
///
/// Per step, most of PostgreSQL's time is spent on the statement rather than on its rows:
/// starting the executor on the update and the inserts (each opening the table's indexes and
/// triggers), the commit and its flush of the write-ahead log, the exchange itself. A step
/// that arrives while another is being written waits in `pending`; when that write ends, a
/// runner takes every step waiting (at most [`MOST_IN_A_BATCH`], no two on the same task) and
/// writes them in one statement: one update of the tasks, guarded row by row by the version
/// each step read, and one insert per table, each row inserted only if its step's task was
/// updated. Each step learns whether its own guard matched. When that statement fails (a row
/// one step adds breaks a constraint, say), nothing of it was written, and each of its steps
/// is written alone, as a single step is, so that the failure is that step's only; when it
/// fails because the database cannot be reached, every step gets that answer at once.
///
/// One runner per [`HotConnections`]: on PostgreSQL, one per server worker.
#[derive(Debug, Default)]
pub(crate) struct Batches {
    waiting: Waiting<Pending>,
    /// Statements written for more than one step.
    written_together: AtomicUsize,
    /// Statements for more than one step that failed, whose steps were then written alone.
    written_alone: AtomicUsize,
}

#[derive(Debug)]
struct Pending {
    step: Step,
    close: Close,
    done: oneshot::Sender<StoreResult<bool>>,
}

impl Batches {
    /// Writes `step` (whose `close` is set), alone or with others; `false` when its guard
    /// matched no row.
    async fn apply(reader: &Reader<'_>, mut step: Step) -> StoreResult<bool> {
        let Some(close) = step.close.take() else {
            return apply_in_one_statement(reader, step).await;
        };
        let waiting = &reader.hot().batches.waiting;
        let pending = |done| Pending { step, close, done };
        together::answered(reader, waiting, pending, run, "write of a step").await
    }

    /// The steps to write next: those waiting, taken in the order they came, at most one per
    /// task, and ordered by customer and task; the others wait for the next statement.
    /// `None` (and the runner stops) when none waits.
    fn take(runner: &mut Runner<'_, Pending>) -> Option<Vec<Pending>> {
        let mut tasks = HashSet::new();
        let mut parameters = 0;
        let mut taken = runner.take(|pending| {
            let more = parameters_of(&pending.step);
            let fits = tasks.is_empty()
                || (tasks.len() < MOST_IN_A_BATCH && parameters + more <= MOST_PARAMETERS);
            if fits && tasks.insert(pending.close.id) {
                parameters += more;
                return true;
            }
            false
        })?;
        taken.sort_by_key(|p| (p.close.customer_id, p.close.id));
        Some(taken)
    }

    /// How many statements have written more than one step.
    #[cfg(test)]
    pub(crate) fn written_together(&self) -> usize {
        self.written_together.load(Ordering::Relaxed)
    }

    /// How many statements for more than one step failed and had their steps written alone.
    #[cfg(test)]
    pub(crate) fn written_alone(&self) -> usize {
        self.written_alone.load(Ordering::Relaxed)
    }
}

/// The parameters `step` takes in a batch's statement.
fn parameters_of(step: &Step) -> usize {
    GUARD_PARAMETERS
        + step
            .inserts
            .iter()
            .map(|i| i.rows.len() * (i.columns.len() + 2))
            .sum::<usize>()
}

/// Writes what is pending until nothing is.
async fn run(db: sea_orm::DatabaseConnection, hot: Arc<HotConnections>) {
    let mut runner = hot.batches.waiting.runner();
    let reader = Reader::new(&db, &hot);
    while let Some(taken) = Batches::take(&mut runner) {
        write_batch(&reader, taken).await;
    }
}

/// Writes `taken` in one statement, or each alone when that fails, and answers each.
async fn write_batch(reader: &Reader<'_>, taken: Vec<Pending>) {
    if taken.len() > 1 {
        let written = match batch_statement(&taken) {
            Ok(statement) => reader
                .query_all_raw(statement)
                .await
                .map_err(StoreError::from),
            Err(e) => Err(e),
        };
        let matched = written.and_then(|rows| {
            rows.iter()
                .map(|row| row.try_get::<i64>("", "id").map_err(StoreError::from))
                .collect::<StoreResult<HashSet<i64>>>()
        });
        let batches = &reader.hot().batches;
        match matched {
            Ok(matched) => {
                batches.written_together.fetch_add(1, Ordering::Relaxed);
                for pending in taken {
                    let _ = pending.done.send(Ok(matched.contains(&pending.close.id)));
                }
                return;
            }
            // The database cannot be reached: written alone, each would wait for it in turn.
            Err(StoreError::Unavailable(e)) => {
                let cause = e.to_string();
                for pending in taken {
                    let e = StoreError::Unavailable(DbErr::Custom(cause.clone()));
                    let _ = pending.done.send(Err(e));
                }
                return;
            }
            Err(_) => {
                batches.written_alone.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    for pending in taken {
        let result = apply_in_one_statement(reader, pending.step).await;
        let _ = pending.done.send(result);
    }
}

/// The parameters of one step's guard in a batch's statement.
const GUARD_PARAMETERS: usize = 8;

/// Numbered parameters of one statement.
#[derive(Default)]
struct Params(Vec<Value>);

impl Params {
    fn push(&mut self, value: impl Into<Value>) -> String {
        self.0.push(value.into());
        format!("${}", self.0.len())
    }
}

/// A row to insert, with the task whose update it depends on.
type RowOf<'a> = (i64, &'a Vec<Value>);

/// The statement that writes `taken`: the tasks closed by one update from a `VALUES` list,
/// each table's rows inserted by one `INSERT ... SELECT` joined to the tasks the update
/// matched, in the order the steps gave them; it returns the ids of the tasks it closed.
///
/// Each row of the update takes its customer's row `FOR SHARE` before its task's, whether
/// or not its step adds a task (a step alone does only then, see `tasks::customer_first`): a
/// rename takes the customer's row and then its tasks, so a statement that held one task of
/// a customer and waited for another would otherwise deadlock with it. The steps come
/// ordered by customer and task (see [`Batches::take`]), so that two statements lock what
/// they share in the same order.
fn batch_statement(taken: &[Pending]) -> StoreResult<Statement> {
    let mut params = Params::default();
    let mut sql = String::from(
        "WITH g (id, version, status, outcome_id, closed_by_id, at, customer_id) AS (VALUES ",
    );
    for (i, p) in taken.iter().enumerate() {
        let c = &p.close;
        let _ = write!(
            sql,
            "{}({}, {}, {}, {}, {}, {}, {})",
            if i == 0 { "" } else { ", " },
            params.push(c.id),
            params.push(c.version),
            params.push(c.status),
            params.push(c.outcome_id),
            params.push(c.closed_by_id),
            params.push(c.at),
            params.push(c.customer_id),
        );
    }
    sql.push_str(
        "), guard AS (UPDATE tasks AS t SET version = g.version + 1, updated_at = g.at, \
         status = g.status, outcome_id = g.outcome_id, closed_at = g.at, \
         closed_by_id = g.closed_by_id FROM g WHERE t.id = g.id AND t.version = g.version \
         AND EXISTS (SELECT 1 FROM customers AS c WHERE c.id = g.customer_id FOR SHARE) \
         RETURNING t.id)",
    );
    // The rows of each table (and set of columns), each with the task it depends on.
    let mut tables: Vec<(&Insert, Vec<RowOf>)> = Vec::new();
    for p in taken {
        for insert in &p.step.inserts {
            let rows = insert.rows.iter().map(|row| (p.close.id, row));
            match tables
                .iter_mut()
                .find(|(i, _)| i.table == insert.table && i.columns == insert.columns)
            {
                Some((_, all)) => all.extend(rows),
                None => tables.push((insert, rows.collect())),
            }
        }
    }
    for (n, (insert, rows)) in tables.iter().enumerate() {
        let columns = insert
            .columns
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = write!(
            sql,
            ", w{n} AS (INSERT INTO {} ({columns}) SELECT ",
            insert.table
        );
        for (i, column) in insert.columns.iter().enumerate() {
            let _ = write!(sql, "{}x.\"{column}\"", if i == 0 { "" } else { ", " });
        }
        let _ = write!(sql, " FROM (VALUES ");
        for (r, (task, row)) in rows.iter().enumerate() {
            if row.len() != insert.columns.len() {
                return Err(StoreError::Database(DbErr::Custom(
                    "a row of another width".into(),
                )));
            }
            sql.push_str(if r == 0 { "(" } else { ", (" });
            for value in row.iter() {
                sql.push_str(&params.push(value.clone()));
                sql.push_str(", ");
            }
            let _ = write!(sql, "{}, {})", params.push(*task), params.push(r as i64));
        }
        let _ = write!(
            sql,
            ") AS x ({columns}, batch_task, batch_order) \
             JOIN guard ON guard.id = x.batch_task ORDER BY x.batch_order)"
        );
    }
    sql.push_str(" SELECT id FROM guard");
    Ok(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        params.0,
    ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bulk::sample;
    use crate::tasks::{self, Actor, NextCommand, Successor};
    use crate::timeline::NewEntry;
    use crm_domain::{NextAction, Role, TaskStatus};
    use futures_util::future::join_all;
    use sea_orm::DatabaseConnection;
    use sea_orm::sea_query::ExprTrait;

    /// Ids of a query's first column.
    async fn ids(db: &DatabaseConnection, sql: &str) -> Vec<i64> {
        db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get_by_index::<i64>(0).unwrap())
            .collect()
    }

    /// A planned task: id, version, customer.
    async fn planned(db: &DatabaseConnection, n: usize) -> Vec<(i64, i32, i64)> {
        db.query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT id, version, customer_id FROM tasks \
                 WHERE status = 'planned' AND kind = 'task' ORDER BY id LIMIT {n}"
            ),
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.try_get("", "id").unwrap(),
                r.try_get("", "version").unwrap(),
                r.try_get("", "customer_id").unwrap(),
            )
        })
        .collect()
    }

    /// A step that closes `task` as done if it still has `version`, with a timeline entry
    /// for `entry_customer`.
    fn closing(task: (i64, i32, i64), version: i32, entry_customer: i64, by: i64) -> Step {
        let (id, _, customer_id) = task;
        let at = crate::now();
        let close = Close {
            id,
            version,
            status: "done",
            outcome_id: OUTCOME,
            closed_by_id: by,
            at,
            customer_id,
        };
        let guard = Query::update()
            .table("tasks")
            .value(Alias::new("version"), version + 1)
            .value(Alias::new("updated_at"), at)
            .value(Alias::new("status"), "done")
            .value(Alias::new("outcome_id"), OUTCOME)
            .value(Alias::new("closed_at"), at)
            .value(Alias::new("closed_by_id"), by)
            .and_where(Expr::col("id").eq(id))
            .and_where(Expr::col("version").eq(version))
            .to_owned();
        let mut step = Step {
            guard: Some(guard),
            inserts: Vec::new(),
            close: Some(close),
        };
        step.insert(crate::timeline::insert_of(vec![NewEntry {
            customer_id: entry_customer,
            kind: "task_closed",
            occurred_at: at,
            actor_id: Some(by),
            summary: format!("closed {id}"),
            data: serde_json::json!({ "task_id": id }),
            task_id: Some(id),
        }]));
        step
    }

    /// An outcome that closes a task as done in the migrations' defaults.
    const OUTCOME: i64 = 2;

    #[tokio::test]
    async fn steps_that_arrive_together_are_written_in_one_statement_as_each_alone() {
        // PostgreSQL only: SQLite writes each step in its own transaction.
        let Some((_dropped, db, _)) = sample::postgres().await else {
            return;
        };
        let done = ids(
            &db,
            "SELECT id FROM outcomes WHERE resulting_status = 'done'",
        )
        .await;
        assert!(done.contains(&OUTCOME), "{done:?}");
        let by = ids(&db, "SELECT MIN(id) FROM operators").await[0];
        let hot = HotConnections::new(4);
        let session = Session::Single(Reader::new(&db, &hot));
        let t = planned(&db, 7).await;

        // Three that hold, one whose version is stale, and a second step on the first task,
        // which waits for the next statement.
        let steps = vec![
            closing(t[0], t[0].1, t[0].2, by),
            closing(t[1], t[1].1, t[1].2, by),
            closing(t[2], t[2].1, t[2].2, by),
            closing(t[3], t[3].1 + 5, t[3].2, by),
            closing(t[0], t[0].1, t[0].2, by),
        ];
        let results = join_all(steps.into_iter().map(|s| session.apply(s))).await;
        let results: Vec<bool> = results.into_iter().map(Result::unwrap).collect();
        assert_eq!(results, [true, true, true, false, false]);
        assert_eq!(hot.batches.written_together(), 1);

        // One step's entry names no customer: that statement fails, and each of its steps is
        // written alone, so that only that step fails.
        let steps = vec![
            closing(t[4], t[4].1, t[4].2, by),
            closing(t[5], t[5].1, -1, by),
            closing(t[6], t[6].1, t[6].2, by),
        ];
        let results = join_all(steps.into_iter().map(|s| session.apply(s))).await;
        assert!(matches!(results[0], Ok(true)), "{:?}", results[0]);
        assert!(results[1].is_err(), "{:?}", results[1]);
        assert!(matches!(results[2], Ok(true)), "{:?}", results[2]);
        assert_eq!(hot.batches.written_together(), 1);
        assert_eq!(hot.batches.written_alone(), 1);

        // Each task as its own step left it: closed once with its one entry, or untouched.
        for (i, (id, version, _)) in t.iter().enumerate() {
            let closed = [0, 1, 2, 4, 6].contains(&i);
            let row = db
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    format!(
                        "SELECT status, version, outcome_id, closed_by_id, \
                         (SELECT COUNT(*) FROM timeline_entries WHERE task_id = {id}) AS entries \
                         FROM tasks WHERE id = {id}"
                    ),
                ))
                .await
                .unwrap()
                .unwrap();
            let status: String = row.try_get("", "status").unwrap();
            let now: i32 = row.try_get("", "version").unwrap();
            let entries: i64 = row.try_get("", "entries").unwrap();
            let outcome: Option<i64> = row.try_get("", "outcome_id").unwrap();
            let closed_by: Option<i64> = row.try_get("", "closed_by_id").unwrap();
            if closed {
                assert_eq!(
                    (status.as_str(), now, outcome, closed_by),
                    ("done", version + 1, Some(OUTCOME), Some(by)),
                    "task {i}"
                );
                assert_eq!(entries, 1, "task {i}");
            } else {
                assert_eq!((status.as_str(), now), ("planned", *version), "task {i}");
            }
        }
    }

    /// A waiting Next on task `id` of `customer_id`, and the receiver of its answer.
    fn waiting_close(id: i64, customer_id: i64) -> (Pending, oneshot::Receiver<StoreResult<bool>>) {
        let close = Close {
            id,
            version: 1,
            status: "done",
            outcome_id: OUTCOME,
            closed_by_id: 1,
            at: crate::now(),
            customer_id,
        };
        let (done, answer) = oneshot::channel();
        let step = Step::default();
        (Pending { step, close, done }, answer)
    }

    #[test]
    fn a_statement_takes_one_step_per_task_in_customer_then_task_order() {
        let batches = Batches::default();
        for (task, customer) in [(5, 2), (3, 1), (5, 2), (4, 2), (1, 9)] {
            batches.waiting.push(waiting_close(task, customer).0);
        }
        let mut runner = batches.waiting.runner();
        let order = |taken: Vec<Pending>| -> Vec<(i64, i64)> {
            taken
                .iter()
                .map(|p| (p.close.customer_id, p.close.id))
                .collect()
        };
        let first = Batches::take(&mut runner).map(order);
        assert_eq!(first, Some(vec![(1, 3), (2, 4), (2, 5), (9, 1)]));
        // The second Next on task 5 goes in the next statement.
        assert_eq!(Batches::take(&mut runner).map(order), Some(vec![(2, 5)]));
        assert!(Batches::take(&mut runner).is_none());
    }

    #[test]
    fn a_runner_that_goes_away_answers_the_steps_waiting() {
        let batches = Batches::default();
        let (pending, mut answer) = waiting_close(1, 1);
        assert!(batches.waiting.push(pending));
        drop(batches.waiting.runner());
        assert!(matches!(
            answer.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        ));
        // The next step starts a runner.
        assert!(batches.waiting.push(waiting_close(2, 1).0));
    }

    #[tokio::test]
    async fn steps_together_that_cannot_reach_the_database_all_fail_at_once() {
        // PostgreSQL only, as above.
        let Some((_dropped, db, _)) = sample::postgres().await else {
            return;
        };
        let by = ids(&db, "SELECT MIN(id) FROM operators").await[0];
        let t = planned(&db, 3).await;
        // The pool closed, and no connection held outside it.
        db.clone().close().await.unwrap();
        let hot = HotConnections::new(0);
        let session = Session::Single(Reader::new(&db, &hot));
        let steps = t.iter().map(|task| closing(*task, task.1, task.2, by));
        let results = join_all(steps.map(|s| session.apply(s))).await;
        for result in results {
            assert!(
                matches!(result, Err(StoreError::Unavailable(_))),
                "{result:?}"
            );
        }
        // One statement tried, none written together, and none tried alone after it.
        assert_eq!(hot.batches.written_together(), 0);
        assert_eq!(hot.batches.written_alone(), 0);
    }

    #[tokio::test]
    async fn nexts_at_once_leave_what_each_answered() {
        // PostgreSQL only, as above.
        let Some((_dropped, db, names)) = sample::postgres().await else {
            return;
        };
        let hot = HotConnections::limited(4, 4, std::time::Duration::from_secs(5));
        let reader = Reader::new(&db, &hot);
        let by = ids(&db, "SELECT MIN(id) FROM operators WHERE role = 'admin'").await[0];
        let actor = Actor {
            id: by,
            role: Role::Admin,
        };
        let tags = ids(&db, "SELECT id FROM tags WHERE active ORDER BY id LIMIT 2").await;
        let type_id = ids(&db, "SELECT MIN(id) FROM task_types WHERE active").await[0];
        let t = planned(&db, 24).await;
        let command = |i: usize| {
            let action = [
                NextAction::Continue,
                NextAction::CloseWithNote,
                NextAction::Close,
            ][i % 3];
            NextCommand {
                outcome_id: OUTCOME,
                action,
                successor: (action != NextAction::Close).then(|| Successor {
                    description: format!("after {i}"),
                    type_id,
                    tag_ids: tags[..i % 3].to_vec(),
                    scheduled_date: chrono::NaiveDate::from_ymd_opt(2027, 1, 1 + i as u32).unwrap(),
                    scheduled_time: None,
                    responsible_id: None,
                    outcome_id: None,
                }),
            }
        };
        let results = join_all(
            t.iter()
                .enumerate()
                .map(|(i, task)| tasks::next(reader, &names, task.0, command(i), actor, None)),
        )
        .await;
        for (i, result) in results.into_iter().enumerate() {
            let (closed, created) = result.unwrap();
            assert_eq!(closed.status, TaskStatus::Done, "task {i}");
            assert_eq!(tasks::get(&db, &names, closed.id).await.unwrap(), closed);
            assert_eq!(created.is_some(), i % 3 != 2, "task {i}");
            if let Some(created) = &created {
                assert_eq!(created.parent_id, Some(closed.id));
                assert_eq!(created.tags.len(), i % 3, "task {i}");
                assert_eq!(&tasks::get(&db, &names, created.id).await.unwrap(), created);
            }
            // This step's entries: the close, and the note's when it made one.
            let made = created.as_ref().map_or(0, |c| c.id);
            let kinds = db
                .query_all_raw(Statement::from_string(
                    DbBackend::Postgres,
                    format!(
                        "SELECT kind FROM timeline_entries WHERE task_id IN ({}, {made}) \
                         AND occurred_at >= '{}' ORDER BY id",
                        closed.id,
                        closed.closed_at.unwrap().to_rfc3339(),
                    ),
                ))
                .await
                .unwrap()
                .iter()
                .map(|r| r.try_get::<String>("", "kind").unwrap())
                .collect::<Vec<_>>();
            let expected: &[&str] = match i % 3 {
                1 => &["task_closed", "note"],
                _ => &["task_closed"],
            };
            assert_eq!(kinds, expected, "task {i}");
        }
        // Twenty-four at once over four statements at a time: some were written together.
        assert!(hot.batches.written_together() > 0);
        // The kept counts agree with the tasks.
        crate::dashboard::fold_counts(&db).await.unwrap();
        let counted = ids(
            &db,
            "SELECT (SELECT COALESCE(SUM(n), 0) FROM planned_task_counts)::bigint \
             - (SELECT COUNT(*) FROM tasks WHERE status = 'planned' AND kind = 'task')",
        )
        .await;
        assert_eq!(counted, [0]);
    }
}
