//! Control results with history, the facts the core checks read, and job leases.

use crate::{i, oi, os, parse, q, s, Result, Store, StoreError};
use bposhield_core::controls::{Facts, PRIVILEGED};
use bposhield_proto::{ControlResult, ControlStatus, Role};
use sqlx::Row;

impl Store {
    /// Stores one evaluation round (all results of one run) in one transaction: the
    /// history rows and the per-control latest result.
    pub async fn insert_control_results(&self, results: &[ControlResult], id_seed: u128) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        for (n, r) in results.iter().enumerate() {
            let evidence = serde_json::to_string(&r.evidence).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let id = uuid::Uuid::from_u128(id_seed.wrapping_add(n as u128)).to_string();
            q("INSERT INTO control_results (id, control_id, status, evidence, evaluated_at) VALUES ($1, $2, $3, $4, $5)")
                .arg(id.clone())
                .arg(r.control_id.as_str())
                .arg(r.status.as_str())
                .arg(evidence.clone())
                .arg(r.evaluated_at)
                .build()
                .execute(&mut *tx)
                .await?;
            // Rounds may be stored out of order (replicas, clock steps): newest time wins,
            // and within one second the later-inserted (higher id) row.
            q("INSERT INTO control_latest (control_id, result_id, status, evidence, evaluated_at) VALUES ($1, $2, $3, $4, $5) \
               ON CONFLICT (control_id) DO UPDATE SET result_id = excluded.result_id, status = excluded.status, \
               evidence = excluded.evidence, evaluated_at = excluded.evaluated_at \
               WHERE control_latest.evaluated_at < excluded.evaluated_at \
                  OR (control_latest.evaluated_at = excluded.evaluated_at AND control_latest.result_id < excluded.result_id)")
                .arg(r.control_id.as_str())
                .arg(id)
                .arg(r.status.as_str())
                .arg(evidence)
                .arg(r.evaluated_at)
                .build()
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The latest result of every control that has one, by control id.
    pub async fn latest_control_results(&self) -> Result<Vec<ControlResult>> {
        let rows =
            sqlx::query("SELECT control_id, status, evidence, evaluated_at FROM control_latest ORDER BY control_id")
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(result_row).collect()
    }

    /// History of one control, newest first.
    pub async fn control_history(&self, control_id: &str, limit: u32) -> Result<Vec<ControlResult>> {
        let rows = q("SELECT control_id, status, evidence, evaluated_at FROM control_results WHERE control_id = $1 ORDER BY evaluated_at DESC, id DESC LIMIT $2")
            .arg(control_id)
            .arg(i64::from(limit))
            .build()
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(result_row).collect()
    }

    /// `(control id, status, evaluated at)` of every result of the last `rounds`
    /// evaluation times, oldest first: the dashboard's trend lines. Bounded however long
    /// the history is, and fetched as one aggregated row (per-row transfer, not the
    /// database, is what costs here; see `Store::people_page_json`).
    pub async fn control_trend(&self, rounds: u32) -> Result<Vec<(String, ControlStatus, i64)>> {
        let row = q("SELECT string_agg(control_id || ' ' || status || ' ' || CAST(evaluated_at AS TEXT), ',' ORDER BY evaluated_at, id) AS pts \
                     FROM control_results WHERE evaluated_at >= \
                     (SELECT MIN(evaluated_at) FROM (SELECT DISTINCT evaluated_at FROM control_results ORDER BY evaluated_at DESC LIMIT $1) r)")
            .arg(i64::from(rounds))
            .build()
            .fetch_one(self.pool())
            .await?;
        let pts = os(&row, "pts")?.unwrap_or_default();
        pts.split(',')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let mut f = p.split(' ');
                let bad = || StoreError::Corrupt(format!("control trend point `{p}`"));
                let id = f.next().ok_or_else(bad)?.to_owned();
                let status = f.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
                let at = f.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
                Ok((id, status, at))
            })
            .collect()
    }

    /// Gathers the facts the core control checks read.
    pub async fn control_facts(&self, today: &str) -> Result<Facts> {
        let processes = self.units_with_holder("processes", "process", "process_head", "code").await?;
        let teams = self.units_with_holder("teams", "team", "team_manager", "id").await?;
        let roles: Vec<&str> = PRIVILEGED.iter().map(|r: &Role| r.as_str()).collect();
        let privileged_users = q("SELECT DISTINCT u.id, u.totp_enabled FROM users u JOIN grants g ON g.user_id = u.id WHERE u.disabled = 0 AND g.role IN ($1, $2, $3) ORDER BY u.id")
            .arg(roles[0])
            .arg(roles[1])
            .arg(roles[2])
            .build()
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| Ok((s(r, "id")?, i(r, "totp_enabled")? != 0)))
            .collect::<Result<Vec<_>>>()?;
        let active_tokens = sqlx::query("SELECT id, expires_at FROM api_tokens WHERE revoked_at IS NULL ORDER BY id")
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| Ok((s(r, "id")?, oi(r, "expires_at")?)))
            .collect::<Result<Vec<_>>>()?;
        let linked_users = sqlx::query(
            "SELECT u.id, p.status, p.exit_date FROM users u JOIN people p ON p.id = u.person_id WHERE u.disabled = 0 ORDER BY u.id",
        )
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| Ok((s(r, "id")?, s(r, "status")? == "terminated", os(r, "exit_date")?)))
        .collect::<Result<Vec<_>>>()?;
        Ok(Facts {
            today: today.to_owned(),
            processes,
            teams,
            privileged_users,
            active_tokens,
            linked_users,
            ledger: None,
            identity: None,
            recordings: None,
            fleet: None,
        })
    }

    /// Every row id of `table`, and whether an enabled user holds `role` scoped to it
    /// (`<scope_kind>:<id>`), ordered by `order`. The names are constants of this crate,
    /// never input.
    async fn units_with_holder(
        &self,
        table: &str,
        scope_kind: &str,
        role: &str,
        order: &str,
    ) -> Result<Vec<(String, bool)>> {
        let sql = format!(
            "SELECT x.id, (SELECT COUNT(*) FROM grants g JOIN users u ON u.id = g.user_id \
               WHERE g.role = '{role}' AND g.scope = '{scope_kind}:' || x.id AND u.disabled = 0) AS n \
             FROM {table} x ORDER BY x.{order}"
        );
        sqlx::query(&sql).fetch_all(self.pool()).await?.iter().map(|r| Ok((s(r, "id")?, i(r, "n")? > 0))).collect()
    }

    /// Takes or renews the lease on a background job. True when `holder` now holds it
    /// until `until`. Portable: one upsert whose update only fires on an expired lease
    /// or our own, so exactly one replica wins.
    pub async fn acquire_lease(&self, job: &str, holder: &str, now: i64, until: i64) -> Result<bool> {
        let r = q("INSERT INTO job_leases (name, holder, expires_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
                   WHERE job_leases.expires_at < $4 OR job_leases.holder = $2")
        .arg(job)
        .arg(holder)
        .arg(until)
        .arg(now)
        .build()
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }
}

fn result_row(r: &sqlx::any::AnyRow) -> Result<ControlResult> {
    let ev: String = r.try_get("evidence")?;
    Ok(ControlResult {
        control_id: s(r, "control_id")?,
        status: parse(r, "status")?,
        evidence: serde_json::from_str(&ev).map_err(|e| StoreError::Corrupt(format!("evidence: {e}")))?,
        evaluated_at: i(r, "evaluated_at")?,
    })
}
