//! Reads of one statement on SQLite, run on the calling thread.
//!
//! sqlx runs each SQLite connection on a thread of its own: a statement is a command sent
//! to that thread, which wakes, runs it and sends the rows back, waking the server's worker
//! in turn. For a read by key SQLite itself takes a few microseconds, and the two threads'
//! wake-ups were the largest part of GET a task on SQLite (see BENCHMARKS.md); a page of
//! tasks paid them for every row. The reads here open connections of their own on the same
//! file, through rusqlite, and run their statement where they are called, without a thread
//! in between.
//!
//! They never write (`query_only`) and never wait: the connections have no busy timeout, so
//! a read that would wait (the rare moments when a checkpoint holds the write-ahead log)
//! fails at once, and so does one whose row does not decode as expected. Nor do they hold
//! the worker for long: a statement still running after [`BUDGET`] (a search through every
//! task, say) is interrupted, since every other request of that worker waits meanwhile.
//! The caller then reads the same statement through the pool, which waits, runs long
//! statements on sqlx's thread and reports errors as every other read does. A database
//! held in memory, or on a server, has no file to open: there the reads always go through
//! the pool.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a statement may run on the calling thread before it is interrupted and left to
/// the pool: a page of tasks takes well under a millisecond.
pub const BUDGET: Duration = Duration::from_millis(5);

/// SQLite's virtual machine instructions between two looks at the clock.
const BUDGET_CHECK_EVERY: i32 = 1_000;

/// The connections of one database file, idle between reads.
#[derive(Debug)]
pub struct InlineReads {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
    /// Idle connections kept at most; a read takes one for its whole run, and runs on its
    /// thread without yielding, so a server uses about one per worker.
    keep: usize,
    /// Statements answered here.
    answered: AtomicUsize,
    /// Set when a connection could not be opened: no read is tried here after that.
    unusable: AtomicBool,
}

impl InlineReads {
    /// Reads on the SQLite file at `path`; `None` when there is no such file (an in-memory
    /// database).
    pub fn open(path: &Path, keep: usize) -> Option<Self> {
        if !path.is_file() {
            return None;
        }
        Some(Self {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
            keep,
            answered: AtomicUsize::new(0),
            unusable: AtomicBool::new(false),
        })
    }

    fn idle(&self) -> MutexGuard<'_, Vec<rusqlite::Connection>> {
        match self.idle.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn connect(&self) -> rusqlite::Result<rusqlite::Connection> {
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // No busy timeout (a read that would wait goes to the pool instead), no writes, and
        // a page cache of 4 MiB, eight times a pooled connection's (`crate::options`): a
        // server uses about one of these per worker, and a read by key walks the interior
        // pages of a table's tree before its leaf. Those of the benchmark's million tasks
        // are 132 pages of 4 KiB, more than the pool's 128-page cache holds beside the
        // leaves it reads: GET a task read 1.17 pages from the file per request with the
        // pool's cache, 0.78 with this one (`strace -c`, random tasks).
        conn.busy_timeout(std::time::Duration::ZERO)?;
        conn.pragma_update(None, "query_only", true)?;
        conn.pragma_update(None, "cache_size", -4096)?;
        // Plans that do not depend on the bound values, so that a cached statement is not
        // compiled again at each read (SQLite's default in this build, `.cargo/config.toml`;
        // said again here for the statements this module keeps).
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )?;
        Ok(conn)
    }

    /// The rows of `sql` with `params` bound, each decoded by `decode`; `None` when it could
    /// not be read here (see the module's text), for the caller to read through the pool.
    pub fn query<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        decode: impl Fn(&rusqlite::Row<'_>) -> Option<T>,
    ) -> Option<Vec<T>> {
        if self.unusable.load(Ordering::Relaxed) {
            return None;
        }
        let conn = match self.idle().pop() {
            Some(conn) => conn,
            None => match self.connect() {
                Ok(conn) => conn,
                Err(e) => {
                    // A file the server cannot open for reading as the pool does (its
                    // permissions, say) will not open at the next request either: every
                    // read goes through the pool from now on, as without this module.
                    self.unusable.store(true, Ordering::Relaxed);
                    log::warn!(
                        "reads on the server's threads are off: opening {}: {e}",
                        self.path.display()
                    );
                    return None;
                }
            },
        };
        let rows = Self::run(&conn, sql, params, decode);
        // A statement that failed or was interrupted is reset (rusqlite does so when it
        // is dropped), and its connection fit for the next.
        let mut idle = self.idle();
        if idle.len() < self.keep {
            idle.push(conn);
        }
        drop(idle);
        match rows {
            Ok(Some(rows)) => {
                self.answered.fetch_add(1, Ordering::Relaxed);
                Some(rows)
            }
            Ok(None) => None,
            Err(e) => {
                log::debug!("inline read: {e}");
                None
            }
        }
    }

    /// How many statements were answered here.
    pub fn answered(&self) -> usize {
        self.answered.load(Ordering::Relaxed)
    }

    /// `Ok(None)` when a row did not decode.
    fn run<T>(
        conn: &rusqlite::Connection,
        sql: &str,
        params: impl rusqlite::Params,
        decode: impl Fn(&rusqlite::Row<'_>) -> Option<T>,
    ) -> rusqlite::Result<Option<Vec<T>>> {
        let started = Instant::now();
        conn.progress_handler(BUDGET_CHECK_EVERY, Some(move || started.elapsed() > BUDGET))?;
        let mut stmt = conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            match decode(row) {
                Some(value) => out.push(value),
                None => return Ok(None),
            }
        }
        Ok(Some(out))
    }
}

/// A statement's value bound as sqlx binds it on SQLite (through sea-query-sqlx): numbers
/// as numbers, text as text, dates and times as text in sqlx's forms. `None` for a kind of
/// value not bound here (the statement then runs through the pool).
pub fn param(value: &sea_orm::Value) -> Option<rusqlite::types::Value> {
    use chrono::SecondsFormat;
    use rusqlite::types::Value as Sql;
    use sea_orm::Value as V;
    fn integer(value: Option<impl Into<i64>>) -> Sql {
        value.map_or(Sql::Null, |v| Sql::Integer(v.into()))
    }
    fn text(value: Option<String>) -> Sql {
        value.map_or(Sql::Null, Sql::Text)
    }
    Some(match value {
        V::Bool(v) => integer(*v),
        V::TinyInt(v) => integer(*v),
        V::SmallInt(v) => integer(*v),
        V::Int(v) => integer(*v),
        V::BigInt(v) => integer(*v),
        V::TinyUnsigned(v) => integer(*v),
        V::SmallUnsigned(v) => integer(*v),
        V::Unsigned(v) => integer(*v),
        V::BigUnsigned(v) => match v {
            Some(v) => Sql::Integer(i64::try_from(*v).ok()?),
            None => Sql::Null,
        },
        V::Float(v) => v.map_or(Sql::Null, |v| Sql::Real(v.into())),
        V::Double(v) => v.map_or(Sql::Null, Sql::Real),
        V::String(v) => text(v.clone()),
        V::ChronoDate(v) => text(v.map(|d| d.format("%F").to_string())),
        V::ChronoTime(v) => text(v.map(|t| t.format("%T%.f").to_string())),
        V::ChronoDateTime(v) => text(v.map(|t| t.format("%F %T%.f").to_string())),
        V::ChronoDateTimeUtc(v) => text(v.map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, false))),
        _ => return None,
    })
}

/// A date and time as sqlx reads one from SQLite: RFC 3339 text (how sqlx writes them), one
/// of the other text forms SQLite's own functions use, or seconds since the epoch.
pub fn date_time(value: rusqlite::types::ValueRef<'_>) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
    use rusqlite::types::ValueRef;
    let text = match value {
        ValueRef::Text(bytes) => std::str::from_utf8(bytes).ok()?,
        ValueRef::Integer(seconds) => return Utc.timestamp_opt(seconds, 0).single(),
        _ => return None,
    };
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    // sqlx's list, in its order.
    const FORMATS: [&str; 12] = [
        "%F %T%.f",
        "%F %R",
        "%F %RZ",
        "%F %R%:z",
        "%F %T%.fZ",
        "%F %T%.f%:z",
        "%FT%R",
        "%FT%RZ",
        "%FT%R%:z",
        "%FT%T%.f",
        "%FT%T%.fZ",
        "%FT%T%.f%:z",
    ];
    FORMATS.iter().find_map(|format| {
        DateTime::parse_from_str(text, format)
            .map(|at| at.with_timezone(&Utc))
            .or_else(|_| NaiveDateTime::parse_from_str(text, format).map(|at| at.and_utc()))
            .ok()
    })
}

/// A date as sqlx reads one from SQLite: `YYYY-MM-DD`.
pub fn date(value: rusqlite::types::ValueRef<'_>) -> Option<chrono::NaiveDate> {
    let text = value.as_str().ok()?;
    chrono::NaiveDate::parse_from_str(text, "%F").ok()
}

/// A time of day as sqlx reads one from SQLite.
pub fn time(value: rusqlite::types::ValueRef<'_>) -> Option<chrono::NaiveTime> {
    let text = value.as_str().ok()?;
    ["%T%.f", "%R", "%RZ", "%T%.fZ", "%R%:z", "%T%.f%:z"]
        .iter()
        .find_map(|format| chrono::NaiveTime::parse_from_str(text, format).ok())
}

/// `decode` of a value that may be NULL.
pub fn optional<T>(
    value: rusqlite::types::ValueRef<'_>,
    decode: impl Fn(rusqlite::types::ValueRef<'_>) -> Option<T>,
) -> Option<Option<T>> {
    match value {
        rusqlite::types::ValueRef::Null => Some(None),
        value => decode(value).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, NaiveTime, TimeZone, Utc};
    use rusqlite::types::ValueRef;

    /// After ANALYZE, a statement comparing a bound value with an indexed column is compiled
    /// again whenever the value changes, unless the query planner stability guarantee is on;
    /// this build turns it on for every connection, sqlx's included (`.cargo/config.toml`).
    #[test]
    fn statements_keep_their_plan_whatever_values_are_bound() {
        use rusqlite::StatementStatus::RePrepare;
        use rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG as QPSG;
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        assert!(conn.db_config(QPSG).unwrap(), "the build's default");
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER NOT NULL);
             CREATE INDEX t_k ON t (k, id);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
             INSERT INTO t SELECT i, i % 40 FROM n;
             ANALYZE;",
        )
        .unwrap();
        let reprepared = |conn: &rusqlite::Connection, sql: &str| {
            let mut stmt = conn.prepare(sql).unwrap();
            for k in 0..6 {
                let n: i64 = stmt.query_row([k], |row| row.get(0)).unwrap();
                assert_eq!(n, 50);
            }
            stmt.get_status(RePrepare)
        };
        assert_eq!(reprepared(&conn, "SELECT count(*) FROM t WHERE k = ?1"), 0);
        // The same without the guarantee, as SQLite is otherwise built: compiled again.
        conn.set_db_config(QPSG, false).unwrap();
        assert!(reprepared(&conn, "SELECT count(*) FROM t WHERE k = ?1 AND 1") > 0);
    }

    #[test]
    fn date_times_are_read_in_sqlx_forms() {
        let at = Utc.with_ymd_and_hms(2026, 3, 9, 14, 5, 0).single();
        for text in [
            "2026-03-09T14:05:00+00:00",
            "2026-03-09T15:05:00+01:00",
            "2026-03-09 14:05:00",
            "2026-03-09 14:05",
            "2026-03-09T14:05:00.000Z",
        ] {
            assert_eq!(date_time(ValueRef::Text(text.as_bytes())), at, "{text}");
        }
        assert_eq!(
            date_time(ValueRef::Text(b"2026-03-09T14:05:00.123456+00:00")),
            Utc.with_ymd_and_hms(2026, 3, 9, 14, 5, 0)
                .single()
                .map(|t| t + chrono::Duration::microseconds(123_456))
        );
        assert_eq!(date_time(ValueRef::Integer(1_773_065_100)), at);
        assert_eq!(date_time(ValueRef::Text(b"yesterday")), None);
        assert_eq!(date_time(ValueRef::Real(1.5)), None);
    }

    #[test]
    fn values_are_bound_as_sqlx_binds_them() {
        use rusqlite::types::Value as Sql;
        use sea_orm::Value as V;
        let at = Utc.with_ymd_and_hms(2026, 3, 9, 14, 5, 0).single().unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 3, 9).unwrap();
        let cases = [
            (V::Bool(Some(true)), Some(Sql::Integer(1))),
            (V::Int(Some(-4)), Some(Sql::Integer(-4))),
            (V::BigInt(None), Some(Sql::Null)),
            (V::BigUnsigned(Some(u64::MAX)), None),
            (V::Double(Some(0.5)), Some(Sql::Real(0.5))),
            (V::String(Some("a'b".into())), Some(Sql::Text("a'b".into()))),
            (
                V::ChronoDate(Some(day)),
                Some(Sql::Text("2026-03-09".into())),
            ),
            (
                V::ChronoTime(NaiveTime::from_hms_opt(9, 30, 0)),
                Some(Sql::Text("09:30:00".into())),
            ),
            (
                V::ChronoDateTimeUtc(Some(at)),
                Some(Sql::Text("2026-03-09T14:05:00+00:00".into())),
            ),
            (
                V::ChronoDateTimeUtc(Some(at + chrono::Duration::microseconds(5))),
                Some(Sql::Text("2026-03-09T14:05:00.000005+00:00".into())),
            ),
            (V::Bytes(Some(vec![1])), None),
        ];
        for (value, bound) in cases {
            assert_eq!(param(&value), bound, "{value:?}");
        }
    }

    #[test]
    fn dates_times_and_nulls_are_read() {
        assert_eq!(
            date(ValueRef::Text(b"2026-03-09")),
            NaiveDate::from_ymd_opt(2026, 3, 9)
        );
        assert_eq!(date(ValueRef::Integer(3)), None);
        assert_eq!(
            time(ValueRef::Text(b"09:30:00")),
            NaiveTime::from_hms_opt(9, 30, 0)
        );
        assert_eq!(
            time(ValueRef::Text(b"09:30")),
            NaiveTime::from_hms_opt(9, 30, 0)
        );
        assert_eq!(optional(ValueRef::Null, time), Some(None));
        assert_eq!(optional(ValueRef::Text(b"nine"), time), None);
    }

    /// A database file in `journal_mode`, with three rows.
    fn file(journal_mode: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", journal_mode)
            .unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);
             INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, NULL);",
        )
        .unwrap();
        (dir, path)
    }

    #[test]
    fn rows_are_read_and_connections_kept() {
        let (_dir, path) = file("wal");
        let reads = InlineReads::open(&path, 1).unwrap();
        let name = |row: &rusqlite::Row<'_>| row.get::<_, String>(0).ok();
        let sql = "SELECT name FROM t WHERE id >= ? ORDER BY id";
        assert_eq!(
            reads.query(sql, [2i64], name),
            None,
            "a NULL where a name is expected is not decoded"
        );
        assert_eq!(
            reads.query(sql.replace(">=", "=").as_str(), [2i64], name),
            Some(vec!["two".to_owned()])
        );
        assert_eq!(reads.idle().len(), 1, "kept after a read, at most `keep`");
        assert_eq!(reads.query("SELECT nothing FROM t", [], name), None);
        assert_eq!(
            reads.query(sql.replace(">=", "=").as_str(), [1i64], name),
            Some(vec!["one".to_owned()]),
            "a failed statement leaves the connection fit for the next"
        );
        assert_eq!(reads.answered(), 2);
        assert_eq!(
            reads.query("UPDATE t SET name = 'x' RETURNING name", [], name),
            None,
            "never writes"
        );
        let conn = rusqlite::Connection::open(&path).unwrap();
        let names: Vec<Option<String>> = conn
            .prepare("SELECT name FROM t ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(names, [Some("one".into()), Some("two".into()), None]);
    }

    #[test]
    fn a_read_that_would_wait_is_left_to_the_pool() {
        // In the rollback journal's mode a writer's exclusive lock keeps readers out (in WAL
        // mode they wait only in rare moments, which a test cannot bring about).
        let (_dir, path) = file("delete");
        let reads = InlineReads::open(&path, 2).unwrap();
        let id = |row: &rusqlite::Row<'_>| row.get::<_, i64>(0).ok();
        assert_eq!(reads.query("SELECT id FROM t", [], id), Some(vec![1, 2, 3]));
        let writer = rusqlite::Connection::open(&path).unwrap();
        writer
            .execute_batch("BEGIN EXCLUSIVE; UPDATE t SET name = 'x';")
            .unwrap();
        let started = std::time::Instant::now();
        assert_eq!(reads.query("SELECT id FROM t", [], id), None);
        assert!(started.elapsed() < std::time::Duration::from_millis(500));
        writer.execute_batch("ROLLBACK").unwrap();
        assert_eq!(reads.query("SELECT id FROM t", [], id), Some(vec![1, 2, 3]));
    }

    #[test]
    fn a_long_statement_is_interrupted_and_left_to_the_pool() {
        let (_dir, path) = file("wal");
        let reads = InlineReads::open(&path, 1).unwrap();
        let count = |row: &rusqlite::Row<'_>| row.get::<_, i64>(0).ok();
        // Some hundred million rows counted: seconds, unless interrupted.
        let long = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n \
                    WHERE i < 100000000) SELECT count(*) FROM n";
        let started = Instant::now();
        assert_eq!(reads.query(long, [], count), None);
        let took = started.elapsed();
        assert!(took >= BUDGET && took < BUDGET * 20, "{took:?}");
        assert_eq!(
            reads.query("SELECT count(*) FROM t", [], count),
            Some(vec![3]),
            "the next statement runs"
        );
    }

    #[test]
    fn a_file_that_cannot_be_opened_turns_the_reads_off() {
        let (dir, path) = file("wal");
        let reads = InlineReads::open(&path, 1).unwrap();
        let id = |row: &rusqlite::Row<'_>| row.get::<_, i64>(0).ok();
        assert_eq!(reads.query("SELECT id FROM t", [], id), Some(vec![1, 2, 3]));
        let gone = InlineReads {
            path: dir.path().join("missing").join("t.db"),
            ..InlineReads::open(&path, 1).unwrap()
        };
        assert_eq!(gone.query("SELECT 1", [], id), None);
        assert!(gone.unusable.load(Ordering::Relaxed));
        assert_eq!(gone.query("SELECT 1", [], id), None);
    }

    #[test]
    fn a_database_without_a_file_is_not_read_here() {
        assert!(InlineReads::open(Path::new("file:sqlx-in-memory-1"), 2).is_none());
    }
}
