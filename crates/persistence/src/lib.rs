//! Storage of the CRM over SQLite or PostgreSQL. Every query and transaction lives here;
//! callers get domain values back, never rows.

pub mod bulk;
pub mod catalog;
pub mod columns;
pub mod customers;
pub mod dashboard;
pub mod entities;
mod error;
pub mod hot;
pub mod idempotency;
mod inline;
mod loads;
pub mod names;
pub mod operators;
pub mod paging;
pub mod records;
pub mod secrets;
pub mod tasks;
pub mod throttle;
pub mod timeline;
mod together;
mod write;

pub use error::{StoreError, StoreResult};
pub use hot::{HotConnections, Reader};
pub use names::Names;
pub use paging::{MAX_LIMIT, Page};
pub use sea_orm::DatabaseConnection;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DbBackend, DbErr, ExecResult, QueryResult, Statement,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

/// How the pool behaves; the defaults suit a small server.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub max_connections: u32,
    /// How long a request waits for a connection (or for an unreachable server) before failing.
    pub acquire_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// Opens a pool on `url`. SQLite runs in WAL mode with foreign keys on and a busy timeout,
/// so that readers never wait for the writer and concurrent writers queue instead of failing.
pub async fn connect(url: &str, pool: &PoolConfig) -> StoreResult<DatabaseConnection> {
    Ok(Database::connect(options(url, pool)).await?)
}

/// A pool of its own for one server worker, whose connections are opened on first use by
/// that worker's requests. A connection belongs to the runtime it was opened on: its socket
/// wakes that runtime's thread, which then wakes the task waiting for it. A worker that only
/// uses its own connections answers without those cross-thread wake-ups (measured on GET a
/// task: see BENCHMARKS.md). Nothing is opened here, so this returns at once.
pub async fn connect_lazy(url: &str, pool: &PoolConfig) -> StoreResult<DatabaseConnection> {
    let mut options = options(url, pool);
    options.connect_lazy(true).min_connections(0);
    Ok(Database::connect(options).await?)
}

fn options(url: &str, pool: &PoolConfig) -> ConnectOptions {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(pool.max_connections)
        .min_connections(1)
        .connect_timeout(pool.acquire_timeout)
        .acquire_timeout(pool.acquire_timeout)
        // A connection in steady use is not pinged before each query (that would double the
        // round trips); one idle for a second is. A connection that broke meanwhile fails its
        // query with a connection fault, which callers answer with 503.
        .test_before_acquire_if_idle_for(Duration::from_secs(1))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
                // 512 KiB of page cache per connection instead of 2 MiB: a server holds up to
                // twice `DB_MAX_CONNECTIONS` (see `hot`), and the file's pages stay in the
                // operating system's cache, which all of them share. Peak RSS under the
                // benchmark's reads fell from 154-165 MiB to 96 MiB, GET a task and lists
                // answered as fast or faster.
                .pragma("cache_size", "-512")
        });
    options
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> StoreResult<()> {
    use migration::MigratorTrait;
    migration::Migrator::up(db, None).await?;
    Ok(())
}

/// Begins a transaction that writes. On SQLite it takes the write lock at once (`BEGIN
/// IMMEDIATE`), so that concurrent writers wait for each other instead of failing when one
/// of them read before writing.
///
/// On a SQLite file, the writers of this process also wait for each other here, in turn,
/// before they begin: SQLite has one writer at a time, and a connection that finds the lock
/// taken polls for it, sleeping between tries (1, 2, 5, 10 ... 100 ms), so under many writers
/// the lock sat free while they slept. Waiting here, the next writer is woken as soon as the
/// previous one ends. Writers of other processes on the same file are still waited for by
/// SQLite's busy timeout.
pub async fn write_txn(db: &DatabaseConnection) -> StoreResult<WriteTxn> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
    let turn = match sqlite_writers(db) {
        Some(writers) => match tokio::time::timeout(WRITE_TURN_WAIT, writers.acquire_owned()).await
        {
            Ok(Ok(permit)) => Some(permit),
            // Elapsed, or closed (never: the semaphores are not closed).
            _ => {
                return Err(StoreError::Unavailable(DbErr::ConnectionAcquire(
                    sea_orm::error::ConnAcquireErr::Timeout,
                )));
            }
        },
        None => None,
    };
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?;
    Ok(WriteTxn { txn, _turn: turn })
}

/// How long a writer waits for its turn: SQLite's busy timeout (see `options`).
const WRITE_TURN_WAIT: Duration = Duration::from_secs(5);

/// The turn to write on `db`'s SQLite file, shared by every pool of the process that names
/// the file alike; `None` for PostgreSQL and for a database without a file (in memory).
fn sqlite_writers(db: &DatabaseConnection) -> Option<Arc<tokio::sync::Semaphore>> {
    static WRITERS: LazyLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Semaphore>>>> =
        LazyLock::new(Default::default);
    let writers = || {
        WRITERS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    };
    if db.get_database_backend() != DbBackend::Sqlite {
        return None;
    }
    let options = db.get_sqlite_connection_pool().connect_options();
    let file = options.get_filename();
    if let Some(turn) = writers().get(file) {
        return Some(turn.clone());
    }
    // Once per file: whether there is one.
    if !file.is_file() {
        return None;
    }
    Some(
        writers()
            .entry(file.to_owned())
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(1)))
            .clone(),
    )
}

/// A transaction that writes, begun by [`write_txn`]; dropped without [`WriteTxn::commit`],
/// it is rolled back.
pub struct WriteTxn {
    txn: sea_orm::DatabaseTransaction,
    /// This process's turn to write on a SQLite file, given up after the transaction ends.
    _turn: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl WriteTxn {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTxn {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }
}

/// Answers whether the database is reachable, with one trivial query.
pub async fn ping(db: &DatabaseConnection) -> StoreResult<()> {
    db.execute_unprepared("SELECT 1").await?;
    Ok(())
}

/// Whether the pool talks to PostgreSQL.
pub fn is_postgres(db: &DatabaseConnection) -> bool {
    db.get_database_backend() == DbBackend::Postgres
}

/// Which database the pool talks to, for messages.
pub fn backend_name(db: &DatabaseConnection) -> &'static str {
    match db.get_database_backend() {
        DbBackend::Postgres => "PostgreSQL",
        DbBackend::Sqlite => "SQLite",
        _ => "another database",
    }
}

/// The current instant at the precision both databases keep (microseconds), so that a value
/// read back equals the value written.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(6)
}

/// `postgres://u@h:5432/db?x` naming database `name` instead, its parameters kept.
pub fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let root = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sqlite_file(dir: &std::path::Path, name: &str) -> DatabaseConnection {
        let url = format!("sqlite://{}?mode=rwc", dir.join(name).display());
        connect(&url, &PoolConfig::default()).await.unwrap()
    }

    /// Every pool of the process on one file shares one turn to write; other files, memory
    /// and PostgreSQL have none of it.
    #[tokio::test]
    async fn pools_on_one_sqlite_file_share_its_turn_to_write() {
        let dir = tempfile::tempdir().unwrap();
        let a = sqlite_file(dir.path(), "a.db").await;
        let again = sqlite_file(dir.path(), "a.db").await;
        let b = sqlite_file(dir.path(), "b.db").await;
        let (ta, tb) = (sqlite_writers(&a).unwrap(), sqlite_writers(&b).unwrap());
        assert!(Arc::ptr_eq(&ta, &sqlite_writers(&again).unwrap()));
        assert!(!Arc::ptr_eq(&ta, &tb));
        let memory = connect("sqlite::memory:", &PoolConfig::default())
            .await
            .unwrap();
        assert!(sqlite_writers(&memory).is_none());
        // A transaction holds the turn until it ends, committed or dropped.
        let txn = write_txn(&a).await.unwrap();
        assert_eq!(ta.available_permits(), 0);
        assert_eq!(tb.available_permits(), 1);
        txn.commit().await.unwrap();
        assert_eq!(ta.available_permits(), 1);
        let txn = write_txn(&again).await.unwrap();
        assert_eq!(ta.available_permits(), 0);
        drop(txn);
        assert_eq!(ta.available_permits(), 1);
    }

    /// Writers that queue behind a transaction begin in the order they asked, each once the
    /// one before has committed, and none fails for the wait.
    #[tokio::test]
    async fn sqlite_writers_take_turns_in_the_order_they_asked() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite_file(dir.path(), "t.db").await;
        db.execute_unprepared("CREATE TABLE turns (n INTEGER NOT NULL, seen INTEGER NOT NULL)")
            .await
            .unwrap();
        let first = write_txn(&db).await.unwrap();
        let mut writers = Vec::new();
        for n in 0..12 {
            let db = db.clone();
            writers.push(tokio::spawn(async move {
                let txn = write_txn(&db).await.unwrap();
                // How many rows the writers before this one committed.
                let seen = txn
                    .query_one_raw(Statement::from_string(
                        DbBackend::Sqlite,
                        "SELECT COUNT(*) AS c FROM turns",
                    ))
                    .await
                    .unwrap()
                    .unwrap()
                    .try_get::<i64>("", "c")
                    .unwrap();
                txn.execute_unprepared(&format!("INSERT INTO turns VALUES ({n}, {seen})"))
                    .await
                    .unwrap();
                txn.commit().await.unwrap();
            }));
            // Each asks while the first transaction still holds the turn, after the one before.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        first.commit().await.unwrap();
        for w in writers {
            w.await.unwrap();
        }
        let rows = db
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT n, seen FROM turns ORDER BY rowid",
            ))
            .await
            .unwrap();
        let order: Vec<(i64, i64)> = rows
            .iter()
            .map(|r| (r.try_get("", "n").unwrap(), r.try_get("", "seen").unwrap()))
            .collect();
        assert_eq!(order, (0..12).map(|n| (n, n)).collect::<Vec<_>>());
    }

    #[test]
    fn database_names_are_swapped_in_urls() {
        assert_eq!(
            replace_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            replace_database("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(replace_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
