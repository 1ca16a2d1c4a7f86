//! Reads by key that arrive together, done in one statement (PostgreSQL): GET a task, the
//! read a Next makes of its task (with what a follow-up needs of the customer, and the
//! follow-up's id) before it decides and writes, the first page of a customer's timeline,
//! and an operator's dashboard lists.
//!
//! Under load, much of what such a read costs the database and the server is the statement,
//! not its rows: the exchange, binding, starting the executor. A read that comes while
//! another of its kind of the same server worker is under way waits; when that one ends, a
//! runner makes every read waiting (at most [`MOST_IN_A_READ`], no key twice) in one
//! statement and hands each request its own rows. A read that finds none under way goes at
//! once, alone. Each request's rows are as of a moment after the request came, so they
//! include every write answered before it.

use crate::hot::{HotConnections, Reader};
use crate::together::{self, Runner, Waiting};
use crate::{StoreError, StoreResult};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, QueryResult, Statement};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::oneshot;

/// At most this many reads go in one statement.
const MOST_IN_A_READ: usize = 64;

/// What one read asks for: the rows of one key (a task's, a customer's or an operator's id),
/// and whatever else its statement needs of it.
pub(crate) trait Ask: Send + 'static {
    fn key(&self) -> i64;
}

/// A task, for GET.
impl Ask for i64 {
    fn key(&self) -> i64 {
        *self
    }
}

/// The statement that makes the reads `asks`; each of its rows carries its read's key.
pub(crate) type Build<A> = fn(asks: &[&A]) -> Statement;

/// The rows of a `VALUES` list of `rows` rows of `columns` bound `bigint`s each, numbered
/// from `$1` row by row: `($1::bigint, $2::bigint), ($3::bigint, $4::bigint)`.
pub(crate) fn bigint_rows(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|row| {
            let values = (1..=columns)
                .map(|column| format!("${}::bigint", row * columns + column))
                .collect::<Vec<_>>()
                .join(", ");
            format!("({values})")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which of a worker's [`Loads`] a read goes to.
pub(crate) type Which<A> = fn(&HotConnections) -> &Loads<A>;

/// Reads of one kind waiting to go together (see the module's text).
#[derive(Debug)]
pub(crate) struct Loads<A> {
    waiting: Waiting<Wait<A>>,
    build: Build<A>,
    /// The column of the statement's rows that holds the key they are for.
    key: &'static str,
    /// The reads, as errors name them.
    what: &'static str,
    /// Statements for more than one read.
    read_together: AtomicUsize,
    /// Reads made alone after the statement they went in failed.
    read_again: AtomicUsize,
}

#[derive(Debug)]
struct Wait<A> {
    ask: A,
    done: oneshot::Sender<StoreResult<Vec<QueryResult>>>,
}

impl<A: Ask> Loads<A> {
    /// Reads that `build` makes, whose rows carry their key in the column `key`; `what`
    /// names them in errors and logs.
    pub(crate) fn new(build: Build<A>, key: &'static str, what: &'static str) -> Self {
        Self {
            waiting: Waiting::default(),
            build,
            key,
            what,
            read_together: AtomicUsize::new(0),
            read_again: AtomicUsize::new(0),
        }
    }

    /// The rows `ask` reads as the worker's `which` reads them, read alone or with others,
    /// in no particular order.
    pub(crate) async fn load(
        reader: &Reader<'_>,
        which: Which<A>,
        ask: A,
    ) -> StoreResult<Vec<QueryResult>> {
        let loads = which(reader.hot());
        let wait = |done| Wait { ask, done };
        let runner = move |db, hot| run(db, hot, which);
        together::answered(reader, &loads.waiting, wait, runner, loads.what).await
    }

    /// The reads to do next: those waiting, in the order they came, at most
    /// [`MOST_IN_A_READ`] and one per key (their rows could not be told apart, and two
    /// Nexts on one task must not share the id taken for a follow-up); the others wait for
    /// the next statement. `None` (and the runner stops) when none waits.
    fn take(runner: &mut Runner<'_, Wait<A>>) -> Option<Vec<Wait<A>>> {
        let mut keys = HashSet::new();
        runner.take(|wait| keys.len() < MOST_IN_A_READ && keys.insert(wait.ask.key()))
    }

    /// How many statements were made for more than one read.
    #[cfg(test)]
    pub(crate) fn read_together(&self) -> usize {
        self.read_together.load(Ordering::Relaxed)
    }

    /// How many reads were made alone after the statement they went in failed.
    #[cfg(test)]
    pub(crate) fn read_again(&self) -> usize {
        self.read_again.load(Ordering::Relaxed)
    }
}

/// Reads what is waiting until nothing is.
async fn run<A: Ask>(db: DatabaseConnection, hot: Arc<HotConnections>, which: Which<A>) {
    let loads = which(&hot);
    let mut runner = loads.waiting.runner();
    let reader = Reader::new(&db, &hot);
    while let Some(mut taken) = Loads::take(&mut runner) {
        // A read whose request went away (its client left) would answer nobody: dropped.
        taken.retain(|wait| !wait.done.is_closed());
        if taken.len() > 1 {
            loads.read_together.fetch_add(1, Ordering::Relaxed);
        }
        read(&reader, loads, taken).await;
    }
}

/// The rows of `statement`, by the key each carries in the column `key`.
async fn rows_by_key(
    reader: &Reader<'_>,
    statement: Statement,
    key: &str,
) -> StoreResult<HashMap<i64, Vec<QueryResult>>> {
    let mut by_key: HashMap<i64, Vec<QueryResult>> = HashMap::new();
    for row in reader.query_all_raw(statement).await? {
        by_key.entry(row.try_get("", key)?).or_default().push(row);
    }
    Ok(by_key)
}

/// Makes the reads `taken` in one statement and answers each with its own rows. When that
/// fails for another reason than the database being out of reach, each is made alone, so
/// that the error is its own.
async fn read<A: Ask>(reader: &Reader<'_>, loads: &Loads<A>, taken: Vec<Wait<A>>) {
    if taken.is_empty() {
        return;
    }
    let statement = (loads.build)(&taken.iter().map(|w| &w.ask).collect::<Vec<_>>());
    match rows_by_key(reader, statement, loads.key).await {
        Ok(mut rows) => {
            for wait in taken {
                let mine = rows.remove(&wait.ask.key()).unwrap_or_default();
                let _ = wait.done.send(Ok(mine));
            }
        }
        Err(StoreError::Unavailable(e)) => {
            let cause = e.to_string();
            for wait in taken {
                let e = StoreError::Unavailable(DbErr::Custom(cause.clone()));
                let _ = wait.done.send(Err(e));
            }
        }
        Err(e) if taken.len() == 1 => {
            if let Some(wait) = taken.into_iter().next() {
                let _ = wait.done.send(Err(e));
            }
        }
        Err(e) => {
            // Each read's error is then its own; a statement that fails for many reads and
            // not for one would be a fault of the statement, so it is logged.
            log::warn!(
                "the {} for {} requests in one statement failed ({e}); each is made alone",
                loads.what,
                taken.len()
            );
            loads.read_again.fetch_add(taken.len(), Ordering::Relaxed);
            for wait in taken {
                let statement = (loads.build)(&[&wait.ask]);
                let rows = reader
                    .query_all_raw(statement)
                    .await
                    .map_err(StoreError::from);
                let _ = wait.done.send(rows);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bulk::sample;
    use crate::tasks::StepRead;
    use futures_util::future::join_all;
    use sea_orm::{DbBackend, Statement};

    fn steps(hot: &HotConnections) -> &Loads<StepRead> {
        &hot.step_reads
    }

    /// The ids of tasks, in the order and number `order` says.
    async fn task_ids(db: &DatabaseConnection, order: &str) -> Vec<i64> {
        let sql = format!("SELECT id FROM tasks {order}");
        db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get_by_index::<i64>(0).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn reads_together_give_each_its_own_row_and_each_follow_up_its_own_id() {
        // PostgreSQL only: SQLite reads each step in its write transaction.
        let Some((_dropped, db, _)) = sample::postgres().await else {
            return;
        };
        let ids = task_ids(&db, "ORDER BY id LIMIT 5").await;
        let missing = ids[4] + 1_000_000;
        // Every third without a follow-up; the first task twice; one task that is not there.
        let mut asked: Vec<(i64, bool)> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, i % 3 != 2))
            .collect();
        asked.push((ids[0], true));
        asked.push((missing, true));
        let hot = HotConnections::new(2);
        let reader = Reader::new(&db, &hot);
        let rows = join_all(asked.iter().map(|(id, new_id)| {
            Loads::load(
                &reader,
                steps,
                StepRead {
                    id: *id,
                    new_id: *new_id,
                },
            )
        }))
        .await;
        let mut new_ids = Vec::new();
        for ((id, new), row) in asked.iter().zip(rows) {
            let row = row.unwrap();
            if *id == missing {
                assert!(row.is_empty());
                continue;
            }
            let [row] = &row[..] else {
                panic!("task {id}: {} rows", row.len());
            };
            assert_eq!(row.try_get::<i64>("", "id").unwrap(), *id);
            let new_id: Option<i64> = row.try_get("", "new_task_id").unwrap();
            assert_eq!(new_id.is_some(), *new, "task {id}");
            new_ids.extend(new_id);
        }
        let distinct: std::collections::HashSet<_> = new_ids.iter().collect();
        assert_eq!((new_ids.len(), distinct.len()), (5, 5), "{new_ids:?}");
        // The first task's second read waited for a statement of its own.
        assert_eq!(hot.step_reads.read_together(), 1);
        assert_eq!(hot.step_reads.read_again(), 0);
    }

    #[tokio::test]
    async fn gets_together_give_each_the_view_a_get_alone_gives() {
        let Some((_dropped, db, _)) = sample::postgres().await else {
            return;
        };
        let mut ids = task_ids(&db, "ORDER BY id DESC LIMIT 6").await;
        let missing = ids[0] + 1_000_000;
        ids.push(missing);
        let names = crate::Names::new();
        let hot = HotConnections::new(2);
        let reader = Reader::new(&db, &hot);
        let views = join_all(
            ids.iter()
                .map(|id| crate::tasks::read(&reader, &names, *id)),
        )
        .await;
        for (id, view) in ids.iter().zip(views) {
            if *id == missing {
                assert!(matches!(view, Err(StoreError::NotFound)), "{view:?}");
                continue;
            }
            let alone = crate::tasks::get(&db, &names, *id).await.unwrap();
            assert_eq!(view.unwrap(), alone);
        }
        assert_eq!(hot.task_reads.read_together(), 1);
        assert_eq!(hot.task_reads.read_again(), 0);
    }

    #[tokio::test]
    async fn reads_whose_request_went_away_are_not_made() {
        let Some((_dropped, db, _)) = sample::postgres().await else {
            return;
        };
        let ids = task_ids(&db, "ORDER BY id LIMIT 3").await;
        let hot = HotConnections::new(2);
        let mut answers = Vec::new();
        for id in &ids {
            let (done, answer) = oneshot::channel();
            assert_eq!(
                hot.step_reads.waiting.push(Wait {
                    ask: StepRead {
                        id: *id,
                        new_id: true
                    },
                    done
                }),
                answers.is_empty()
            );
            answers.push(answer);
        }
        // The first two requests go away before the runner reads.
        answers.drain(..2);
        run(db.clone(), hot.clone(), steps).await;
        let rows = answers[0].try_recv().unwrap().unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].try_get::<i64>("", "id").unwrap(), ids[2]);
        // One task read, alone: no statement for more than one.
        assert_eq!(hot.step_reads.read_together(), 0);
    }

    #[tokio::test]
    async fn reads_together_that_cannot_reach_the_database_all_fail_at_once() {
        let Some((_dropped, db, _)) = sample::postgres().await else {
            return;
        };
        db.clone().close().await.unwrap();
        let hot = HotConnections::new(0);
        let reader = Reader::new(&db, &hot);
        let reads = (1..=3).map(|id| StepRead { id, new_id: true });
        let rows = join_all(reads.map(|read| Loads::load(&reader, steps, read))).await;
        for row in rows {
            assert!(matches!(row, Err(StoreError::Unavailable(_))), "{row:?}");
        }
        assert_eq!(hot.step_reads.read_together(), 1);
    }

    /// A statement that fails for several reads and not for one.
    fn broken_together(ids: &[&i64]) -> Statement {
        match ids {
            [_] => crate::tasks::views_statement(ids),
            _ => Statement::from_string(DbBackend::Postgres, "SELECT no_such_column FROM tasks"),
        }
    }

    fn broken(_: &HotConnections) -> &Loads<i64> {
        static BROKEN: std::sync::OnceLock<Loads<i64>> = std::sync::OnceLock::new();
        BROKEN.get_or_init(|| Loads::new(broken_together, "id", "read of a task"))
    }

    #[tokio::test]
    async fn reads_whose_statement_fails_together_are_each_made_alone() {
        let Some((_dropped, db, _)) = sample::postgres().await else {
            return;
        };
        let ids = task_ids(&db, "ORDER BY id LIMIT 4").await;
        let hot = HotConnections::new(2);
        let reader = Reader::new(&db, &hot);
        let rows = join_all(ids.iter().map(|id| Loads::load(&reader, broken, *id))).await;
        for (id, rows) in ids.iter().zip(rows) {
            let rows = rows.unwrap();
            assert_eq!(rows.len(), 1, "task {id}");
            assert_eq!(rows[0].try_get::<i64>("", "id").unwrap(), *id);
        }
        assert_eq!(broken(&hot).read_again(), 4);
    }
}
