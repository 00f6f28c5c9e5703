//! Append-only schema migrations, each applied in its own transaction.
//!
//! The DDL is the portable subset of SQLite and PostgreSQL (TEXT, BIGINT, UNIQUE,
//! REFERENCES, CREATE INDEX). Never edit a released migration: add a new one.
//! Replicas starting together race safely: each migration first inserts its version
//! row; the loser of the primary-key race rolls back and re-reads the version.

use crate::{q, Result, Store, StoreError};

/// `(version, name, statements separated by ';')`.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "platform core", include_str!("../migrations/0001_core.sql")),
    (2, "ledger", include_str!("../migrations/0002_ledger.sql")),
    (3, "identity lifecycle", include_str!("../migrations/0003_identity.sql")),
    (4, "scim", include_str!("../migrations/0004_scim.sql")),
    (5, "recordings", include_str!("../migrations/0005_recordings.sql")),
    (6, "fleet", include_str!("../migrations/0006_fleet.sql")),
];

/// The schema version this binary writes.
pub const LATEST_VERSION: i64 = 6;

pub(crate) async fn run(store: &Store) -> Result<()> {
    const CREATE: &str =
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";
    // PostgreSQL does not make concurrent CREATE TABLE IF NOT EXISTS safe: replicas
    // starting together on an empty database can collide. The loser's retry finds the
    // winner's committed table and does nothing.
    if sqlx::query(CREATE).execute(store.pool()).await.is_err() {
        sqlx::query(CREATE).execute(store.pool()).await?;
    }
    loop {
        let current = current_version(store).await?;
        if current > LATEST_VERSION {
            return Err(StoreError::NewerSchema { db: current, binary: LATEST_VERSION });
        }
        let Some((version, name, sql)) = MIGRATIONS.iter().find(|(v, _, _)| *v > current) else {
            return Ok(());
        };
        let mut tx = store.pool().begin().await?;
        let claimed = q("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
            .arg(*version)
            .arg(*name)
            .arg(0i64)
            .build()
            .execute(&mut *tx)
            .await;
        match claimed.map_err(StoreError::from) {
            Ok(_) => {}
            // Another replica is applying (or applied) this one: start over.
            Err(StoreError::Unique(_)) => {
                drop(tx);
                continue;
            }
            Err(e) => return Err(e),
        }
        for stmt in statements(sql) {
            sqlx::query(&stmt).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        tracing::info!(version, name, "applied migration");
    }
}

/// The statements of a migration: `--` comment lines dropped first (so a `;` in a
/// comment cannot split a statement), then split on `;`.
fn statements(sql: &str) -> Vec<String> {
    let code: String = sql.lines().filter(|l| !l.trim_start().starts_with("--")).map(|l| format!("{l}\n")).collect();
    code.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// The highest applied migration (0 for an empty database).
pub(crate) async fn current_version(store: &Store) -> Result<i64> {
    let row =
        sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations").fetch_one(store.pool()).await?;
    crate::i(&row, "v")
}
