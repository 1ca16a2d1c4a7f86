//! Connections that one server worker keeps for its hottest reads on PostgreSQL.
//!
//! sqlx gives a pooled connection back after every statement by pinging it: one more round
//! trip (a `Sync` and its `ReadyForQuery`) that the request does not wait for but both
//! processes pay for. On GET a task that was a third of the server's system calls. A read of
//! one statement that ran to its end leaves the connection in a known state, so the
//! connections here skip that: they are taken out of the worker's pool once (detached), kept
//! here between requests, and put back only after a complete exchange. One whose statement
//! failed, or whose request was dropped half-way, is closed instead.
//!
//! A request reads through a [`Reader`], which runs each query on a held connection and
//! everything else on the pool. At most `max` connections are held; past that, or on SQLite,
//! a `Reader` reads through the pool as usual.

use sea_orm::sqlx::{Connection, PgConnection};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A connection idle for longer than this is pinged before use, as the pool does.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// One worker's held connections.
#[derive(Debug)]
pub struct HotConnections {
    idle: Mutex<Vec<(PgConnection, Instant)>>,
    /// Connections held, idle or in use.
    open: AtomicUsize,
    max: usize,
}

impl HotConnections {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            idle: Mutex::new(Vec::new()),
            open: AtomicUsize::new(0),
            max,
        })
    }

    fn idle(&self) -> MutexGuard<'_, Vec<(PgConnection, Instant)>> {
        match self.idle.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// A connection for one statement: an idle one, or a new one detached from `db`'s pool.
    /// `None` when `db` is not PostgreSQL or `max` connections are already held.
    pub async fn take(self: &Arc<Self>, db: &DatabaseConnection) -> Result<Option<Hot>, DbErr> {
        if !crate::is_postgres(db) {
            return Ok(None);
        }
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
        match db.get_postgres_connection_pool().acquire().await {
            Ok(conn) => Ok(Some(self.hot(conn.detach()))),
            Err(e) => {
                self.open.fetch_sub(1, Ordering::Relaxed);
                Err(sqlx_error(e))
            }
        }
    }

    fn hot(self: &Arc<Self>, conn: PgConnection) -> Hot {
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
    conn: Option<PgConnection>,
}

impl Hot {
    pub fn conn(&mut self) -> Result<&mut PgConnection, DbErr> {
        self.conn
            .as_mut()
            .ok_or_else(|| DbErr::Custom("connection released".into()))
    }

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
        let values = stmt
            .values
            .clone()
            .unwrap_or(sea_orm::sea_query::Values(Vec::new()));
        let query = sea_orm::sqlx::query_with(
            sea_orm::sqlx::AssertSqlSafe(stmt.sql.as_str()),
            sea_query_sqlx::SqlxValues(values),
        );
        let rows = if first {
            query
                .fetch_optional(hot.conn()?)
                .await
                .map(|row| row.into_iter().collect())
        } else {
            query.fetch_all(hot.conn()?).await
        }
        .map_err(sqlx_error)?;
        hot.release();
        Ok(Some(rows.into_iter().map(QueryResult::from).collect()))
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Reader<'_> {
    fn get_database_backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.db.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.db.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self.on_held(&stmt, true).await? {
            Some(rows) => Ok(rows.into_iter().next()),
            None => self.db.query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self.on_held(&stmt, false).await? {
            Some(rows) => Ok(rows),
            None => self.db.query_all_raw(stmt).await,
        }
    }
}
