//! Persistence for bposhield: one implementation of every query, run on SQLite (the
//! embedded default, WAL mode) and on PostgreSQL (scale-out).
//!
//! How one code path serves two databases: queries go through sqlx's `Any` driver and
//! use only the portable subset both speak: `$n` placeholders, `TEXT` and `BIGINT`
//! columns (ids are UUID strings, times are Unix seconds, JSON is text), `LIKE` on a
//! lower-cased search column, `ON CONFLICT` upserts and `LIMIT/OFFSET`. The only
//! per-database code is the connection set-up (SQLite pragmas) in [`Store::connect`].
//! Short hot reads on a SQLite file run the same SQL text on the calling thread through
//! `rusqlite` instead of sqlx's worker thread (`Store::read_row`, module `inline`).
//!
//! This crate knows rows, not rules: validation and decisions live in `bposhield-core`,
//! and the server's services decide what to write.

mod audit;
mod controls;
pub mod fleet;
pub mod identity;
mod inline;
mod ledger;
mod migrate;
mod org;
pub mod recordings;
pub mod scim;
mod users;

pub use audit::AuditFilter;
pub use ledger::{entry_for, Appended, StoredCheckpoint};
pub use migrate::{LATEST_VERSION, MIGRATIONS};
pub use org::PeopleFilter;
pub use users::{SessionRow, UserAuthRow};

use inline::{InlineReader, InlineWriter};
use sqlx::any::{AnyArguments, AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Arguments, Row};
use std::sync::Arc;
use std::time::Duration;

/// Store errors. Unique violations are reported separately so services can turn them
/// into "already exists" answers instead of server errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("unique constraint violated: {0}")]
    Unique(String),
    #[error("the database schema is at version {db}, newer than this binary's {binary}; upgrade bposhield or point it at the right database")]
    NewerSchema { db: i64, binary: i64 },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Db(sqlx::Error),
    #[error("database error: {0}")]
    Engine(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Unique(d.message().to_owned()),
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Db(e),
        }
    }
}

/// Result alias.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Which database is behind the store (for logs and `/readyz`, never for choosing SQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The database handle. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Hot reads on a SQLite file (see the `inline` module); `None` otherwise.
    inline: Option<Arc<InlineReader>>,
    /// The ledger's group commits on a SQLite file (see the `inline` module).
    inline_writer: Option<Arc<InlineWriter>>,
    /// The ledger tree's right edge as this process last wrote it (see `ledger`).
    ledger_frontier: Arc<tokio::sync::Mutex<Option<bposhield_ledger::tree::Frontier>>>,
}

impl Store {
    /// Connects to `url` (`sqlite://path` or `postgres://…`) and runs pending migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(StoreError::Db(sqlx::Error::Configuration(
                "database url must start with sqlite:// or postgres://".into(),
            )));
        };
        let opts = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .acquire_timeout(Duration::from_secs(10));
        let opts = if backend == Backend::Sqlite {
            // WAL lets readers run beside the single writer. FULL sync: every commit is
            // on disk before it is acknowledged (the ledger promises durability to the
            // caller; group commit keeps the fsyncs few).
            opts.after_connect(|conn, _| {
                Box::pin(async move {
                    for p in [
                        "PRAGMA journal_mode=WAL",
                        "PRAGMA synchronous=FULL",
                        "PRAGMA foreign_keys=ON",
                        "PRAGMA busy_timeout=10000",
                        // Reads straight from the page cache of the OS instead of copying
                        // every page into SQLite's own cache first.
                        "PRAGMA mmap_size=268435456",
                        "PRAGMA temp_store=MEMORY",
                    ] {
                        sqlx::query(p).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
        } else {
            opts
        };
        let pool = opts.connect(url).await?;
        let inline = InlineReader::for_url(url).map(Arc::new);
        let inline_writer = InlineWriter::for_url(url).map(Arc::new);
        let store = Store { pool, backend, inline, inline_writer, ledger_frontier: Arc::default() };
        migrate::run(&store).await?;
        Ok(store)
    }

    /// The SQLite URL for a database file inside a data directory.
    #[must_use]
    pub fn sqlite_url(path: &std::path::Path) -> String {
        format!("sqlite://{}?mode=rwc", path.display())
    }

    /// Which database this is.
    #[must_use]
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A cheap round trip, for `/readyz`.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Housekeeping after a bulk load: on SQLite, folds the write-ahead log into the
    /// database file (pages read from the log cannot use the memory map) and refreshes
    /// the planner's statistics; on PostgreSQL, refreshes the statistics.
    pub async fn after_bulk_load(&self) -> Result<()> {
        let stmts: &[&str] = match self.backend {
            Backend::Sqlite => &["PRAGMA wal_checkpoint(TRUNCATE)", "PRAGMA optimize"],
            Backend::Postgres => &["ANALYZE"],
        };
        for s in stmts {
            sqlx::query(s).execute(&self.pool).await?;
        }
        Ok(())
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The first row of a short read (`NotFound` when there is none): on a SQLite file
    /// on the calling thread, elsewhere through the pool. For statements that read a few
    /// rows through indexes, never for scans (see the `inline` module).
    pub(crate) async fn read_row<T>(&self, q: &Q, f: impl FnOnce(&dyn Cols) -> Result<T>) -> Result<T> {
        if let Some(r) = &self.inline {
            return r.fetch_one(q, f);
        }
        f(&q.build().fetch_one(&self.pool).await?)
    }

    /// Every row of a read, mapped by `f`. On a SQLite file the rows are stepped on a
    /// blocking thread through the inline reader (sqlx copies each row across threads,
    /// which dominated long scans such as a full ledger verification); elsewhere sqlx.
    pub(crate) async fn read_all<T, F>(&self, q: Q, f: F) -> Result<Vec<T>>
    where
        T: Send + 'static,
        F: Fn(&dyn Cols) -> Result<T> + Send + 'static,
    {
        if let Some(r) = &self.inline {
            let r = r.clone();
            return tokio::task::spawn_blocking(move || r.fetch_all(&q, &f))
                .await
                .map_err(|e| StoreError::Unavailable(format!("reader: {e}")))?;
        }
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter().map(|r| f(r)).collect()
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// A query under construction: SQL text with `$n` placeholders numbered as values are
/// bound, so dynamic filters stay portable.
#[derive(Default)]
pub(crate) struct Q {
    pub sql: String,
    args: Vec<V>,
}

/// A value bindable into [`Q`].
#[derive(Clone)]
pub(crate) enum V {
    S(String),
    OS(Option<String>),
    I(i64),
    OI(Option<i64>),
}

impl From<&str> for V {
    fn from(s: &str) -> Self {
        V::S(s.to_owned())
    }
}
impl From<String> for V {
    fn from(s: String) -> Self {
        V::S(s)
    }
}
impl From<Option<String>> for V {
    fn from(s: Option<String>) -> Self {
        V::OS(s)
    }
}
impl From<i64> for V {
    fn from(i: i64) -> Self {
        V::I(i)
    }
}
impl From<Option<i64>> for V {
    fn from(i: Option<i64>) -> Self {
        V::OI(i)
    }
}
impl From<bool> for V {
    fn from(b: bool) -> Self {
        V::I(i64::from(b))
    }
}

impl Q {
    pub fn new(sql: &str) -> Self {
        Q { sql: sql.to_owned(), ..Q::default() }
    }

    /// Appends SQL text.
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Binds a value and appends its placeholder.
    pub fn bind(&mut self, v: impl Into<V>) -> &mut Self {
        self.args.push(v.into());
        self.sql.push('$');
        self.sql.push_str(&self.args.len().to_string());
        self
    }

    /// Binds a value whose placeholder is already written in the SQL text, in order.
    pub fn arg(mut self, v: impl Into<V>) -> Self {
        self.args.push(v.into());
        self
    }

    pub fn build(&self) -> sqlx::query::Query<'_, Any, AnyArguments<'_>> {
        let mut args = AnyArguments::default();
        for v in &self.args {
            // Encoding only fails for types Any cannot carry; these four it always can.
            let _ = match v.clone() {
                V::S(s) => args.add(s),
                V::OS(s) => args.add(s),
                V::I(i) => args.add(i),
                V::OI(i) => args.add(i),
            };
        }
        sqlx::query_with(&self.sql, args)
    }
}

/// Shorthand for building a query with `$n` placeholders already in the text.
pub(crate) fn q(sql: &str) -> Q {
    Q::new(sql)
}

/// Column access shared by sqlx rows and the rows of the inline SQLite reader, so a row
/// is mapped to a value by one function whichever executor read it.
pub(crate) trait Cols {
    fn text(&self, col: &str) -> Result<Option<String>>;
    fn int(&self, col: &str) -> Result<Option<i64>>;

    fn req_text(&self, col: &str) -> Result<String> {
        self.text(col)?.ok_or_else(|| StoreError::Corrupt(format!("{col} is null")))
    }

    fn req_int(&self, col: &str) -> Result<i64> {
        self.int(col)?.ok_or_else(|| StoreError::Corrupt(format!("{col} is null")))
    }
}

impl Cols for AnyRow {
    fn text(&self, col: &str) -> Result<Option<String>> {
        os(self, col)
    }

    fn int(&self, col: &str) -> Result<Option<i64>> {
        oi(self, col)
    }
}

pub(crate) fn s(row: &AnyRow, col: &str) -> Result<String> {
    Ok(row.try_get::<String, _>(col)?)
}
pub(crate) fn os(row: &AnyRow, col: &str) -> Result<Option<String>> {
    Ok(row.try_get::<Option<String>, _>(col)?)
}
pub(crate) fn i(row: &AnyRow, col: &str) -> Result<i64> {
    Ok(row.try_get::<i64, _>(col)?)
}
pub(crate) fn oi(row: &AnyRow, col: &str) -> Result<Option<i64>> {
    Ok(row.try_get::<Option<i64>, _>(col)?)
}
pub(crate) fn parse<T: std::str::FromStr>(row: &AnyRow, col: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    let v = s(row, col)?;
    v.parse().map_err(|e| StoreError::Corrupt(format!("{col}={v}: {e}")))
}
pub(crate) fn oparse<T: std::str::FromStr>(row: &AnyRow, col: &str) -> Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    match os(row, col)? {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|e| StoreError::Corrupt(format!("{col}={v}: {e}"))),
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub(crate) fn like_contains(term: &str) -> String {
    let mut out = String::from("%");
    for c in term.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}
