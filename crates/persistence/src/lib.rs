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
pub mod names;
pub mod operators;
pub mod paging;
pub mod records;
pub mod secrets;
pub mod tasks;
pub mod throttle;
pub mod timeline;
mod write;

pub use error::{StoreError, StoreResult};
pub use hot::{HotConnections, Reader};
pub use names::Names;
pub use paging::{MAX_LIMIT, Page};
pub use sea_orm::DatabaseConnection;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DbBackend};
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
/// IMMEDIATE`), so that concurrent writers wait for each other (busy timeout) instead of
/// failing when one of them read before writing.
pub async fn write_txn(db: &DatabaseConnection) -> StoreResult<sea_orm::DatabaseTransaction> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
    Ok(db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?)
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
    use super::replace_database;

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
