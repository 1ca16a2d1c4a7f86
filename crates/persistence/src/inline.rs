//! Reads by key on SQLite, run on the calling thread.
//!
//! sqlx runs each SQLite connection on a thread of its own: a statement is a command sent
//! to that thread, which wakes, runs it and sends the rows back, waking the server's worker
//! in turn. For a read by key SQLite itself takes a few microseconds, and the two threads'
//! wake-ups were the largest part of GET a task on SQLite (see BENCHMARKS.md). The reads
//! here open connections of their own on the same file, through rusqlite, and run their
//! statement where they are called, without a thread in between.
//!
//! They never write (`query_only`) and never wait: the connections have no busy timeout, so
//! a read that would wait (the rare moments when a checkpoint holds the write-ahead log)
//! fails at once, and so does one whose row does not decode as expected. The caller then
//! reads the same statement through the pool, which waits and reports errors as every
//! other read does. A database held in memory, or on a server, has no file to open: there
//! the reads always go through the pool.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// The connections of one database file, idle between reads.
#[derive(Debug)]
pub struct InlineReads {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
    /// Idle connections kept at most; a read takes one for its whole run, and runs on its
    /// thread without yielding, so a server uses about one per worker.
    keep: usize,
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
        let conn = match self.idle().pop() {
            Some(conn) => conn,
            None => match self.connect() {
                Ok(conn) => conn,
                Err(e) => {
                    log::debug!("inline read: opening {}: {e}", self.path.display());
                    return None;
                }
            },
        };
        let rows = Self::run(&conn, sql, params, decode);
        match &rows {
            Ok(_) => {
                let mut idle = self.idle();
                if idle.len() < self.keep {
                    idle.push(conn);
                }
            }
            // The connection is dropped: a statement that failed half-way leaves nothing
            // to reuse, and the next read opens a fresh one.
            Err(e) => log::debug!("inline read: {e}"),
        }
        rows.ok().flatten()
    }

    /// `Ok(None)` when a row did not decode.
    fn run<T>(
        conn: &rusqlite::Connection,
        sql: &str,
        params: impl rusqlite::Params,
        decode: impl Fn(&rusqlite::Row<'_>) -> Option<T>,
    ) -> rusqlite::Result<Option<Vec<T>>> {
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
        assert_eq!(reads.idle().len(), 0, "not kept after a statement failed");
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
    fn a_database_without_a_file_is_not_read_here() {
        assert!(InlineReads::open(Path::new("file:sqlx-in-memory-1"), 2).is_none());
    }
}
