//! Connections that a server keeps for its hottest reads.
//!
//! sqlx gives a pooled connection back after every statement by pinging it. On PostgreSQL
//! that is one more round trip (a `Sync` and its `ReadyForQuery`) that the request does not
//! wait for but both processes pay for; on GET a task it was a third of the server's system
//! calls. On SQLite it is one more command to the connection's own thread, and one more
//! wake-up of that thread and of the worker. A read of one statement that ran to its end
//! leaves the connection in a known state, so the connections here skip that: they are taken
//! out of the pool once (detached), kept here between requests, and put back only after a
//! complete exchange. One whose statement failed, or whose request was dropped half-way, is
//! closed instead.
//!
//! A request reads through a [`Reader`], which runs each query on a held connection and
//! everything else on the pool. At most `max` connections are held; past that, a `Reader`
//! reads through the pool as usual. On PostgreSQL each server worker holds its own; on
//! SQLite the workers share them, as they share the pool.
//!
//! The connections may also limit how many statements their `Reader`s run at once
//! ([`HotConnections::limited`]); the others wait their turn in the order they came. Without
//! a limit, 32 client connections on two cores kept some 32 PostgreSQL processes at work at
//! once, each waiting in the run queue behind the others and finishing in no particular
//! order (`/proc/<tid>/schedstat` over 10 s of timelines under `wrk -c32`: PostgreSQL's
//! processes ran 10.3-10.4 s and waited 11.8-12.6 s). Four at once per worker keep
//! PostgreSQL as busy (9.8-9.9 s run, 6.5-6.6 s waited) and answer in the order asked
//! (see BENCHMARKS.md).
//!
//! On a SQLite file, a [`Reader`] with connections to hold may also run a read of one
//! statement on the calling thread, without sqlx's thread in between (`crate::inline`).

use crate::inline::InlineReads;
use sea_orm::sqlx::{Connection, PgConnection, Postgres, Sqlite, SqliteConnection};
use sea_orm::{
    ConnAcquireErr, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult,
    RuntimeErr, Statement,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// A connection idle for longer than this is pinged before use, as the pool does.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// A connection taken out of its pool.
#[derive(Debug)]
enum Held {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

impl Held {
    async fn ping(&mut self) -> Result<(), sea_orm::sqlx::Error> {
        match self {
            Held::Postgres(conn) => conn.ping().await,
            Held::Sqlite(conn) => conn.ping().await,
        }
    }

    /// Runs `stmt` to its end: its first row only when `first`.
    async fn run(
        &mut self,
        stmt: &Statement,
        first: bool,
    ) -> Result<Vec<QueryResult>, sea_orm::sqlx::Error> {
        match self {
            Held::Postgres(conn) => fetch::<Postgres>(conn, stmt, first).await,
            Held::Sqlite(conn) => fetch::<Sqlite>(conn, stmt, first).await,
        }
    }
}

/// `stmt` bound as sea-orm binds it, run on `conn`.
async fn fetch<DB>(
    conn: &mut DB::Connection,
    stmt: &Statement,
    first: bool,
) -> Result<Vec<QueryResult>, sea_orm::sqlx::Error>
where
    DB: sea_orm::sqlx::Database,
    for<'c> &'c mut DB::Connection: sea_orm::sqlx::Executor<'c, Database = DB>,
    sea_query_sqlx::SqlxValues: sea_orm::sqlx::IntoArguments<DB>,
    DB::Row: Into<QueryResult>,
{
    let values = stmt
        .values
        .clone()
        .unwrap_or(sea_orm::sea_query::Values(Vec::new()));
    let query = sea_orm::sqlx::query_with::<DB, _>(
        sea_orm::sqlx::AssertSqlSafe(stmt.sql.as_str()),
        sea_query_sqlx::SqlxValues(values),
    );
    let rows = if first {
        query.fetch_optional(conn).await?.into_iter().collect()
    } else {
        query.fetch_all(conn).await?
    };
    Ok(rows.into_iter().map(Into::into).collect())
}

/// The connections held by one server worker (PostgreSQL) or by the server (SQLite).
#[derive(Debug)]
pub struct HotConnections {
    idle: Mutex<Vec<(Held, Instant)>>,
    /// Connections held, idle or in use.
    open: AtomicUsize,
    max: usize,
    /// Turns for statements, taken in the order asked; `None` for no limit.
    turns: Option<Turns>,
    /// Reads on the calling thread (SQLite on a file, with connections held): opened at the
    /// first such read.
    inline: OnceLock<Option<InlineReads>>,
    /// Steps waiting to be written together (PostgreSQL; see `crate::write`).
    pub(crate) batches: crate::write::Batches,
    /// Reads of a Next's task waiting to be read together (PostgreSQL; see `crate::loads`).
    pub(crate) step_reads: crate::loads::Loads<crate::tasks::StepRead>,
    /// Reads of a task for GET waiting to be read together (PostgreSQL; see `crate::loads`).
    pub(crate) task_reads: crate::loads::Loads<i64>,
    /// Reads of the first page of a customer's timeline waiting to be read together
    /// (PostgreSQL; see `crate::loads`).
    pub(crate) first_pages: crate::loads::Loads<crate::timeline::FirstPage>,
    /// Reads of an operator's dashboard lists waiting to be read together (PostgreSQL; see
    /// `crate::loads`).
    pub(crate) priority_lists: crate::loads::Loads<crate::tasks::PriorityLists>,
}

/// A limit on the statements run at once, and how long one waits for its turn.
#[derive(Debug)]
struct Turns {
    at_once: tokio::sync::Semaphore,
    wait: Duration,
}

impl HotConnections {
    /// Up to `max` held connections, with no limit on the statements run at once.
    pub fn new(max: usize) -> Arc<Self> {
        Self::with_turns(max, None)
    }

    /// Up to `max` held connections, and at most `at_once` statements (at least one) run at
    /// once through their `Reader`s, held or pooled; a statement that waits longer than
    /// `wait` for its turn fails as a pool that timed out does.
    pub fn limited(max: usize, at_once: usize, wait: Duration) -> Arc<Self> {
        let at_once = tokio::sync::Semaphore::new(at_once.max(1));
        Self::with_turns(max, Some(Turns { at_once, wait }))
    }

    fn with_turns(max: usize, turns: Option<Turns>) -> Arc<Self> {
        Arc::new(Self {
            idle: Mutex::new(Vec::new()),
            open: AtomicUsize::new(0),
            max,
            turns,
            inline: OnceLock::new(),
            batches: crate::write::Batches::default(),
            step_reads: crate::loads::Loads::new(
                crate::tasks::steps_statement,
                "id",
                "read of a task",
            ),
            task_reads: crate::loads::Loads::new(
                crate::tasks::views_statement,
                "id",
                "read of a task",
            ),
            first_pages: crate::loads::Loads::new(
                crate::timeline::first_pages_statement,
                "for_customer",
                "read of a timeline page",
            ),
            priority_lists: crate::loads::Loads::new(
                crate::tasks::priority_lists_statement,
                "for_operator",
                "read of dashboard lists",
            ),
        })
    }

    /// Reads on the calling thread, when `db` is a SQLite file and connections may be held.
    fn inline(&self, db: &DatabaseConnection) -> Option<&InlineReads> {
        self.inline
            .get_or_init(|| {
                if self.max == 0 || db.get_database_backend() != DbBackend::Sqlite {
                    return None;
                }
                let options = db.get_sqlite_connection_pool().connect_options();
                InlineReads::open(options.get_filename(), self.max)
            })
            .as_ref()
    }

    /// How many statements were read on the calling thread (see `crate::inline`).
    pub fn inline_reads(&self) -> usize {
        self.inline
            .get()
            .and_then(Option::as_ref)
            .map_or(0, InlineReads::answered)
    }

    /// This statement's turn: `None` when there is no limit. Dropping it lets the next in.
    async fn turn(&self) -> Result<Option<tokio::sync::SemaphorePermit<'_>>, DbErr> {
        let Some(turns) = &self.turns else {
            return Ok(None);
        };
        match tokio::time::timeout(turns.wait, turns.at_once.acquire()).await {
            Ok(Ok(permit)) => Ok(Some(permit)),
            // Elapsed, or closed (never: the semaphore is not closed while `self` lives).
            _ => Err(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)),
        }
    }

    fn idle(&self) -> MutexGuard<'_, Vec<(Held, Instant)>> {
        match self.idle.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// A connection for one statement: an idle one, or a new one detached from `db`'s pool.
    /// `None` when `max` connections are already held.
    pub async fn take(self: &Arc<Self>, db: &DatabaseConnection) -> Result<Option<Hot>, DbErr> {
        loop {
            let Some((mut conn, since)) = self.idle().pop() else {
                break;
            };
            if since.elapsed() < PING_AFTER_IDLE || conn.ping().await.is_ok() {
                return Ok(Some(self.hot(conn)));
            }
            // Broken while idle (a database restart): forget it and try the next.
            self.open.fetch_sub(1, Ordering::Relaxed);
        }
        if self.open.fetch_add(1, Ordering::Relaxed) >= self.max {
            self.open.fetch_sub(1, Ordering::Relaxed);
            return Ok(None);
        }
        let conn = match db.get_database_backend() {
            DbBackend::Postgres => db
                .get_postgres_connection_pool()
                .acquire()
                .await
                .map(|c| Held::Postgres(c.detach())),
            DbBackend::Sqlite => db
                .get_sqlite_connection_pool()
                .acquire()
                .await
                .map(|c| Held::Sqlite(c.detach())),
            _ => {
                self.open.fetch_sub(1, Ordering::Relaxed);
                return Ok(None);
            }
        };
        match conn {
            Ok(conn) => Ok(Some(self.hot(conn))),
            Err(e) => {
                self.open.fetch_sub(1, Ordering::Relaxed);
                Err(sqlx_error(e))
            }
        }
    }

    fn hot(self: &Arc<Self>, conn: Held) -> Hot {
        Hot {
            owner: self.clone(),
            conn: Some(conn),
        }
    }
}

/// A held connection in use. [`Hot::release`] keeps it for the next request; dropping it
/// closes it.
#[derive(Debug)]
pub struct Hot {
    owner: Arc<HotConnections>,
    conn: Option<Held>,
}

impl Hot {
    /// Keeps the connection for the next request: only after a statement that ran to its end.
    pub fn release(mut self) {
        if let Some(conn) = self.conn.take() {
            self.owner.idle().push((conn, Instant::now()));
        }
    }
}

impl Drop for Hot {
    fn drop(&mut self) {
        if self.conn.take().is_some() {
            self.owner.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// A sqlx error as sea-orm reports query errors (so a connection fault is still one).
fn sqlx_error(e: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(e)))
}

/// One request's access to the database: queries on a connection the worker holds (see the
/// module's text), everything else, and every query when none can be held, on the pool.
/// A query may write, as a step's single statement does (`crate::write`): it commits on its
/// own. Transactions go to the pool, never here.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    db: &'a DatabaseConnection,
    hot: &'a Arc<HotConnections>,
}

impl<'a> Reader<'a> {
    pub fn new(db: &'a DatabaseConnection, hot: &'a Arc<HotConnections>) -> Self {
        Self { db, hot }
    }

    /// The pool behind it.
    pub fn db(&self) -> &'a DatabaseConnection {
        self.db
    }

    /// The connections it reads through.
    pub(crate) fn hot(&self) -> &'a Arc<HotConnections> {
        self.hot
    }

    /// The rows of `stmt`, read on this thread on SQLite (see `crate::inline`); `None` when
    /// they could not be read so, for the caller to run `stmt` through `self` instead.
    pub(crate) fn inline<T>(
        &self,
        stmt: &Statement,
        decode: impl Fn(&rusqlite::Row<'_>) -> Option<T>,
    ) -> Option<Vec<T>> {
        if stmt.db_backend != DbBackend::Sqlite {
            return None;
        }
        let reads = self.hot.inline(self.db)?;
        let params = match &stmt.values {
            Some(values) => values
                .0
                .iter()
                .map(crate::inline::param)
                .collect::<Option<Vec<_>>>()?,
            None => Vec::new(),
        };
        reads.query(&stmt.sql, rusqlite::params_from_iter(params), decode)
    }

    /// Runs `stmt` on a held connection (its first row only when `first`); `None` when
    /// none can be had.
    async fn on_held(
        &self,
        stmt: &Statement,
        first: bool,
    ) -> Result<Option<Vec<QueryResult>>, DbErr> {
        let Some(mut hot) = self.hot.take(self.db).await? else {
            return Ok(None);
        };
        let Some(conn) = hot.conn.as_mut() else {
            return Ok(None);
        };
        let rows = conn.run(stmt, first).await.map_err(sqlx_error)?;
        hot.release();
        Ok(Some(rows))
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Reader<'_> {
    fn get_database_backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let _turn = self.hot.turn().await?;
        self.db.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let _turn = self.hot.turn().await?;
        self.db.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let _turn = self.hot.turn().await?;
        match self.on_held(&stmt, true).await? {
            Some(rows) => Ok(rows.into_iter().next()),
            None => self.db.query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let _turn = self.hot.turn().await?;
        match self.on_held(&stmt, false).await? {
            Some(rows) => Ok(rows),
            None => self.db.query_all_raw(stmt).await,
        }
    }
}
