//! Short read-only statements on SQLite, run on the calling thread.
//!
//! Why: sqlx runs every SQLite statement on a worker thread of its connection and hands
//! the answer back through channels. For the hottest reads (a 50-person page costs
//! SQLite ~25 µs) those hand-overs cost several times the statement itself (measured:
//! ~160 µs per call with one connection, ~70 µs of wall time per call with eight on two
//! cores). Here the same SQL text, from the same [`Q`] builder, runs on a pooled
//! read-only connection of the calling thread. Only statements that read a few rows
//! through indexes belong here: a long statement would hold up the async runtime's thread.
//!
//! PostgreSQL and in-memory SQLite databases take the ordinary sqlx path, so every
//! query still has exactly one SQL text, tested on both databases.

use crate::{Cols, Result, StoreError, Q, V};
use rusqlite::{Connection, OpenFlags};
use std::path::PathBuf;
use std::sync::Mutex;

/// Idle connections kept for reuse; more are opened under load and closed after it.
const KEEP_IDLE: usize = 8;

/// A pool of read-only connections to one SQLite file.
#[derive(Debug)]
pub(crate) struct InlineReader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl InlineReader {
    /// The reader for a `sqlite://path[?…]` URL; `None` for in-memory databases, which
    /// other connections cannot see.
    pub fn for_url(url: &str) -> Option<Self> {
        let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or_default();
        if path.is_empty() || path == ":memory:" || rest.contains("mode=memory") {
            return None;
        }
        Some(InlineReader { path: PathBuf::from(path), idle: Mutex::new(Vec::new()) })
    }

    fn open(&self) -> Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(engine)?;
        // Same read settings as the sqlx connections (see `Store::connect`); a short busy
        // wait because this runs on an async runtime's thread.
        conn.execute_batch("PRAGMA mmap_size=268435456; PRAGMA temp_store=MEMORY; PRAGMA busy_timeout=1000;")
            .map_err(engine)?;
        Ok(conn)
    }

    /// Runs `f` on a pooled connection (opening one when none is idle).
    fn with_conn<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let taken = self.idle.lock().map_err(|_| StoreError::Unavailable("reader pool poisoned".into()))?.pop();
        let conn = match taken {
            Some(c) => c,
            None => self.open()?,
        };
        let out = f(&conn);
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < KEEP_IDLE {
                idle.push(conn);
            }
        }
        out
    }

    /// Runs `q` and maps every row with `f`. For long reads: call from a blocking thread.
    pub fn fetch_all<T>(&self, q: &Q, f: &impl Fn(&dyn Cols) -> Result<T>) -> Result<Vec<T>> {
        self.with_conn(|conn| {
            let mut st = conn.prepare_cached(&q.sql).map_err(engine)?;
            bind(&mut st, q)?;
            let mut rows = st.raw_query();
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(engine)? {
                out.push(f(row)?);
            }
            Ok(out)
        })
    }

    /// Runs `q` and maps its first row with `f` (`NotFound` when there is none).
    pub fn fetch_one<T>(&self, q: &Q, f: impl FnOnce(&dyn Cols) -> Result<T>) -> Result<T> {
        self.with_conn(|conn| first_row(conn, q, f))
    }
}

fn first_row<T>(conn: &Connection, q: &Q, f: impl FnOnce(&dyn Cols) -> Result<T>) -> Result<T> {
    let mut st = conn.prepare_cached(&q.sql).map_err(engine)?;
    bind(&mut st, q)?;
    let mut rows = st.raw_query();
    let row = rows.next().map_err(engine)?.ok_or(StoreError::NotFound)?;
    f(row)
}

impl Cols for rusqlite::Row<'_> {
    fn text(&self, col: &str) -> Result<Option<String>> {
        self.get::<_, Option<String>>(col).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
    }

    fn int(&self, col: &str) -> Result<Option<i64>> {
        self.get::<_, Option<i64>>(col).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
    }
}

/// Binds `q`'s values by position: SQLite numbers `$1, $2, …` in order of appearance,
/// and the builder writes them in that order.
fn bind(st: &mut rusqlite::CachedStatement<'_>, q: &Q) -> Result<()> {
    for (n, v) in q.args.iter().enumerate() {
        let idx = n + 1;
        let r = match v {
            V::S(s) => st.raw_bind_parameter(idx, s.as_str()),
            V::OS(s) => st.raw_bind_parameter(idx, s.as_deref()),
            V::I(i) => st.raw_bind_parameter(idx, i),
            V::OI(i) => st.raw_bind_parameter(idx, i),
        };
        r.map_err(engine)?;
    }
    Ok(())
}

/// The one writing connection for batches that would cost more in sqlx's per-statement
/// hand-overs than in SQLite (the ledger's group commits, the fleet's event batches).
/// Used from a blocking thread.
#[derive(Debug)]
pub(crate) struct InlineWriter {
    conn: Mutex<Option<Connection>>,
    path: PathBuf,
}

/// A transaction on the [`InlineWriter`].
pub(crate) struct WriteTx<'a>(&'a Connection);

impl WriteTx<'_> {
    pub fn fetch_one<T>(&self, q: &Q, f: impl FnOnce(&dyn Cols) -> Result<T>) -> Result<T> {
        first_row(self.0, q, f)
    }

    pub fn fetch_all<T>(&self, q: &Q, f: impl Fn(&dyn Cols) -> Result<T>) -> Result<Vec<T>> {
        let mut st = self.0.prepare_cached(&q.sql).map_err(map_write)?;
        bind(&mut st, q)?;
        let mut rows = st.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(map_write)? {
            out.push(f(row)?);
        }
        Ok(out)
    }

    pub fn execute(&self, q: &Q) -> Result<usize> {
        let mut st = self.0.prepare_cached(&q.sql).map_err(map_write)?;
        bind(&mut st, q)?;
        st.raw_execute().map_err(map_write)
    }
}

impl InlineWriter {
    pub fn for_url(url: &str) -> Option<Self> {
        InlineReader::for_url(url).map(|r| InlineWriter { conn: Mutex::new(None), path: r.path })
    }

    /// Runs `f` in one `BEGIN IMMEDIATE … COMMIT` (rolled back when `f` fails). The
    /// commit is durable on return (synchronous=FULL).
    pub fn transaction<T>(&self, f: impl FnOnce(&WriteTx<'_>) -> Result<T>) -> Result<T> {
        let mut guard = self.conn.lock().map_err(|_| StoreError::Unavailable("ledger writer poisoned".into()))?;
        if guard.is_none() {
            let flags =
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
            let conn = Connection::open_with_flags(&self.path, flags).map_err(engine)?;
            // Same settings as the sqlx connections (see `Store::connect`), and a longer
            // WAL between automatic checkpoints: the index pages every append touches
            // (the right edges) are then copied back once per 40 MB instead of per 4 MB.
            conn.execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000; \
                 PRAGMA wal_autocheckpoint=10000;",
            )
            .map_err(engine)?;
            conn.set_prepared_statement_cache_capacity(64);
            *guard = Some(conn);
        }
        let conn = guard.as_ref().ok_or_else(|| StoreError::Unavailable("ledger writer closed".into()))?;
        conn.execute_batch("BEGIN IMMEDIATE").map_err(engine)?;
        match f(&WriteTx(conn)) {
            Ok(v) => match conn.execute_batch("COMMIT") {
                Ok(()) => Ok(v),
                Err(e) => {
                    let _ = conn.execute_batch("ROLLBACK");
                    Err(engine(e))
                }
            },
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }
}

/// Write errors: unique violations keep their meaning (a duplicate event id).
fn map_write(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, msg)
            if f.code == rusqlite::ErrorCode::ConstraintViolation && matches!(f.extended_code, 2067 | 1555) =>
        {
            StoreError::Unique(msg.clone().unwrap_or_else(|| e.to_string()))
        }
        _ => engine(e),
    }
}

fn engine(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, _) if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy) => {
            StoreError::Unavailable(e.to_string())
        }
        other => StoreError::Engine(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_file_urls_get_a_reader() {
        assert_eq!(InlineReader::for_url("sqlite:///tmp/x.db?mode=rwc").map(|r| r.path), Some("/tmp/x.db".into()));
        assert!(InlineReader::for_url("sqlite::memory:").is_none());
        assert!(InlineReader::for_url("sqlite://file.db?mode=memory").is_none());
        assert!(InlineReader::for_url("postgres://u@h/db").is_none());
    }
}
