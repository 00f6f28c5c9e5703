//! The endpoint fleet: enrollment tokens, hosts and what their agents report (device
//! events, SCA results, facts), policies and their assignments, per-scope settings,
//! USB exceptions and offline codes.
//!
//! Bundle versions: every change that goes into a bundle takes the next value of one
//! counter (`fleet_counter`) and stamps it on what changed: the policy (edit) or the
//! scope (assignment, setting, a host's exception or enrollment). A host's bundle
//! version is the highest stamp among its four scopes and the policies assigned there,
//! so it goes up whenever anything it receives changes, and never down.

use crate::{i, oi, oparse, os, parse, q, s, Result, Store, StoreError, Q};
use bposhield_core::controls::{FleetFacts, FleetHostFacts};
use bposhield_proto::fleet::{
    AgentEvent, AgentEventBody, AgentHealth, DeviceEventRow, EnrollToken, FleetException, FleetPolicy, FleetScope,
    HostFacts, HostScore, HostSummary, PolicyResult, ScopeSettings, ScorePoint,
};
use bposhield_proto::{EnrollTokenId, ExceptionId, HostId, PolicyId, ProcessId, SiteId};
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

/// Which hosts a caller may see: everything, or the hosts of these sites and process
/// units (the server maps team-scoped grants to the team's process).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostScope {
    pub all: bool,
    pub sites: Vec<SiteId>,
    pub processes: Vec<ProcessId>,
}

impl HostScope {
    /// Every host.
    #[must_use]
    pub fn all() -> Self {
        Self { all: true, ..Self::default() }
    }

    /// Whether a host at `site` (and `process`) is in scope.
    #[must_use]
    pub fn covers(&self, site: SiteId, process: Option<ProcessId>) -> bool {
        self.all || self.sites.contains(&site) || process.is_some_and(|p| self.processes.contains(&p))
    }

    /// Appends `AND (…)` restricting `site_col`/`process_col` to the scope.
    fn restrict(&self, qb: &mut Q, site_col: &str, process_col: &str) {
        if self.all {
            return;
        }
        qb.push(" AND (1 = 0");
        for s in &self.sites {
            qb.push(&format!(" OR {site_col} = ")).bind(s.to_string());
        }
        for p in &self.processes {
            qb.push(&format!(" OR {process_col} = ")).bind(p.to_string());
        }
        qb.push(")");
    }
}

/// Filters of the hosts list.
#[derive(Debug, Clone, Default)]
pub struct HostFilter {
    pub scope: HostScope,
    pub site_id: Option<SiteId>,
    pub process_id: Option<ProcessId>,
    /// Part of the hostname (case-insensitive).
    pub q: Option<String>,
    pub include_retired: bool,
    pub limit: u32,
    pub offset: u32,
}

/// Filters of the device events list.
#[derive(Debug, Clone, Default)]
pub struct DeviceEventFilter {
    pub scope: HostScope,
    pub host_id: Option<HostId>,
    pub process_id: Option<ProcessId>,
    pub decision: Option<String>,
    pub since: Option<i64>,
    pub limit: u32,
}

/// A host as its credential authenticates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAuthRow {
    pub id: HostId,
    pub hostname: String,
    pub site_id: SiteId,
    pub process_id: Option<ProcessId>,
}

/// What enrollment writes for a host.
#[derive(Debug, Clone)]
pub struct NewHost {
    pub machine_id: String,
    pub hostname: String,
    pub os: String,
    pub agent_version: String,
    pub credential_hash: String,
    /// The offline key, sealed by the server.
    pub offline_key: String,
    pub simulated: bool,
}

/// The outcome of an enrollment.
#[derive(Debug, Clone)]
pub struct Enrolled {
    pub host_id: HostId,
    /// An existing host (same machine id) took the new credential.
    pub re_enrolled: bool,
    pub token_id: EnrollTokenId,
    pub site_id: SiteId,
    pub process_id: Option<ProcessId>,
}

/// A host that an offline challenge's tag names.
#[derive(Debug, Clone)]
pub struct TaggedHost {
    pub id: HostId,
    pub hostname: String,
    pub site_id: SiteId,
    pub process_id: Option<ProcessId>,
    /// Sealed.
    pub offline_key: String,
}

/// A policy assigned at one of a host's scopes, for its bundle.
#[derive(Debug, Clone)]
pub struct AssignedPolicy {
    pub scope: FleetScope,
    pub assigned_at: i64,
    pub id: PolicyId,
    pub kind: String,
    pub name: String,
    pub body: String,
    pub sca_id: Option<String>,
}

/// Everything a host's bundle is built from.
#[derive(Debug, Clone)]
pub struct BundleInputs {
    pub version: i64,
    /// Settings at each of the host's scopes that has any.
    pub settings: Vec<ScopeSettings>,
    pub policies: Vec<AssignedPolicy>,
    /// Approved, unexpired exceptions: `(id, device hash, expires at)`.
    pub exceptions: Vec<(ExceptionId, String, i64)>,
}

/// An issued offline code, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineCodeRow {
    pub id: String,
    pub host_id: HostId,
    pub hostname: String,
    pub challenge: String,
    pub hours: i64,
    pub reason: String,
    pub issued_by: String,
    pub issued_at: i64,
    pub valid_until: i64,
    pub used_at: Option<i64>,
}

/// A built-in policy shipped with the server.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinPolicy<'a> {
    pub id: PolicyId,
    pub kind: &'a str,
    pub name: &'a str,
    pub file: &'a str,
    pub body: &'a str,
    pub sca_id: Option<&'a str>,
    /// Assigned globally when first installed.
    pub assign_global: bool,
}

/// The scopes of a host, most general first.
#[must_use]
pub fn host_scopes(host: HostId, site: SiteId, process: Option<ProcessId>) -> Vec<FleetScope> {
    let mut v = vec![FleetScope::Global, FleetScope::Site(site)];
    if let Some(p) = process {
        v.push(FleetScope::Process(p));
    }
    v.push(FleetScope::Host(host));
    v
}

/// Rows per multi-row INSERT of device events (18 values each: far under the bind
/// limits of SQLite, 32766, and PostgreSQL, 65535).
const EVENT_ROWS_PER_INSERT: usize = 200;

const TOKEN_COLS: &str =
    "id, site_id, process_id, label, max_uses, uses, expires_at, created_at, created_by, revoked_at";

const HOST_COLS: &str = "h.id, h.hostname, h.site_id, h.process_id, h.os, h.agent_version, h.policy_version, \
    h.enrolled_at, h.last_seen_at, h.usb_enforcing, h.queue_depth, h.queue_dropped, h.last_scan_at, \
    h.pending_security_updates, h.updates_pending_since, h.simulated, h.retired_at";

const EVENT_COLS: &str = "e.host_id, h.hostname, e.site_id, e.process_id, e.seq, e.at, e.received_at, e.decision, \
    e.device_hash, e.vendor_product, e.name, e.port, e.interfaces, e.blocked_interfaces, e.storage_like, e.reason, \
    e.exception_id, e.offline_challenge, e.device_rule";

const EXC_COLS: &str = "x.id, x.host_id, h.hostname, x.device_hash, x.device_name, x.reason, x.hours, x.status, \
    x.requested_by, x.requested_at, x.decided_by, x.decided_at, x.note, x.expires_at, x.first_used_at";

const POLICY_COLS: &str = "id, kind, name, body, sca_id, builtin, version, updated_at, updated_by";

fn token_row(r: &AnyRow) -> Result<EnrollToken> {
    Ok(EnrollToken {
        id: parse(r, "id")?,
        site_id: parse(r, "site_id")?,
        process_id: oparse(r, "process_id")?,
        label: s(r, "label")?,
        max_uses: i(r, "max_uses")?,
        uses: i(r, "uses")?,
        expires_at: i(r, "expires_at")?,
        created_at: i(r, "created_at")?,
        created_by: s(r, "created_by")?,
        revoked_at: oi(r, "revoked_at")?,
    })
}

fn host_row(r: &AnyRow) -> Result<HostSummary> {
    Ok(HostSummary {
        id: parse(r, "id")?,
        hostname: s(r, "hostname")?,
        site_id: parse(r, "site_id")?,
        process_id: oparse(r, "process_id")?,
        os: s(r, "os")?,
        agent_version: s(r, "agent_version")?,
        policy_version: i(r, "policy_version")?,
        enrolled_at: i(r, "enrolled_at")?,
        last_seen_at: oi(r, "last_seen_at")?,
        usb_enforcing: i(r, "usb_enforcing")? != 0,
        queue_depth: i(r, "queue_depth")?,
        queue_dropped: i(r, "queue_dropped")?,
        last_scan_at: oi(r, "last_scan_at")?,
        pending_security_updates: oi(r, "pending_security_updates")?,
        updates_pending_since: oi(r, "updates_pending_since")?,
        scores: Vec::new(),
        simulated: i(r, "simulated")? != 0,
        retired_at: oi(r, "retired_at")?,
    })
}

fn score_row(r: &AnyRow) -> Result<HostScore> {
    Ok(HostScore {
        policy_id: s(r, "policy_id")?,
        policy_name: s(r, "policy_name")?,
        score: i(r, "score")?,
        passed: i(r, "passed")?,
        failed: i(r, "failed")?,
        not_applicable: i(r, "not_applicable")?,
        critical_failed: i(r, "critical_failed")?,
        at: i(r, "at")?,
    })
}

fn list(v: &str) -> Vec<String> {
    v.split(',').filter(|x| !x.is_empty()).map(str::to_owned).collect()
}

fn event_row(r: &AnyRow) -> Result<DeviceEventRow> {
    Ok(DeviceEventRow {
        host_id: parse(r, "host_id")?,
        hostname: s(r, "hostname")?,
        site_id: parse(r, "site_id")?,
        process_id: oparse(r, "process_id")?,
        seq: i(r, "seq")?,
        at: i(r, "at")?,
        received_at: i(r, "received_at")?,
        decision: s(r, "decision")?,
        device_hash: s(r, "device_hash")?,
        vendor_product: s(r, "vendor_product")?,
        name: s(r, "name")?,
        port: s(r, "port")?,
        interfaces: list(&s(r, "interfaces")?),
        blocked_interfaces: list(&s(r, "blocked_interfaces")?),
        storage_like: i(r, "storage_like")? != 0,
        reason: s(r, "reason")?,
        exception_id: oparse(r, "exception_id")?,
        offline_challenge: os(r, "offline_challenge")?,
        device_rule: s(r, "device_rule")?,
    })
}

fn exception_row(r: &AnyRow) -> Result<FleetException> {
    Ok(FleetException {
        id: parse(r, "id")?,
        host_id: parse(r, "host_id")?,
        hostname: s(r, "hostname")?,
        device_hash: s(r, "device_hash")?,
        device_name: s(r, "device_name")?,
        reason: s(r, "reason")?,
        hours: i(r, "hours")?,
        status: s(r, "status")?,
        requested_by: s(r, "requested_by")?,
        requested_at: i(r, "requested_at")?,
        decided_by: os(r, "decided_by")?,
        decided_at: oi(r, "decided_at")?,
        note: os(r, "note")?,
        expires_at: oi(r, "expires_at")?,
        first_used_at: oi(r, "first_used_at")?,
    })
}

fn policy_row(r: &AnyRow) -> Result<FleetPolicy> {
    Ok(FleetPolicy {
        id: parse(r, "id")?,
        kind: s(r, "kind")?,
        name: s(r, "name")?,
        body: s(r, "body")?,
        sca_id: os(r, "sca_id")?,
        builtin: os(r, "builtin")?.is_some(),
        version: i(r, "version")?,
        updated_at: i(r, "updated_at")?,
        updated_by: s(r, "updated_by")?,
        assignments: Vec::new(),
    })
}

fn scope_of(r: &AnyRow, col: &str) -> Result<FleetScope> {
    parse(r, col)
}

/// Takes the next change stamp. The first statement of every transaction that takes
/// one, so the transaction holds the write lock from its start (SQLite).
async fn bump(tx: &mut Transaction<'_, Any>) -> Result<i64> {
    let r = q("UPDATE fleet_counter SET value = value + 1 WHERE id = 1 RETURNING value")
        .build()
        .fetch_one(&mut **tx)
        .await?;
    i(&r, "value")
}

/// Stamps a scope with `version` (creating its settings row if needed).
async fn stamp(tx: &mut Transaction<'_, Any>, scope: FleetScope, version: i64) -> Result<()> {
    q("INSERT INTO fleet_scopes (scope, version) VALUES ($1, $2) \
       ON CONFLICT (scope) DO UPDATE SET version = excluded.version")
    .arg(scope.to_string())
    .arg(version)
    .build()
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// `$k, $k+1, …` placeholders for `n` values bound in order.
fn in_list(qb: &mut Q, values: impl IntoIterator<Item = String>) {
    qb.push("(");
    for (n, v) in values.into_iter().enumerate() {
        if n > 0 {
            qb.push(", ");
        }
        qb.bind(v);
    }
    qb.push(")");
}

impl Store {
    // ---- enrollment tokens ------------------------------------------------------------

    /// Stores a new enrollment token (its secret's hash only).
    pub async fn fleet_insert_token(&self, t: &EnrollToken, token_hash: &str) -> Result<()> {
        q("INSERT INTO fleet_enroll_tokens (id, token_hash, site_id, process_id, label, max_uses, uses, expires_at, \
           created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
        .arg(t.id.to_string())
        .arg(token_hash)
        .arg(t.site_id.to_string())
        .arg(t.process_id.map(|p| p.to_string()))
        .arg(t.label.as_str())
        .arg(t.max_uses)
        .arg(t.uses)
        .arg(t.expires_at)
        .arg(t.created_at)
        .arg(t.created_by.as_str())
        .build()
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Every enrollment token, newest first.
    pub async fn fleet_tokens(&self) -> Result<Vec<EnrollToken>> {
        let rows = q(&format!("SELECT {TOKEN_COLS} FROM fleet_enroll_tokens ORDER BY created_at DESC, id DESC"))
            .build()
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(token_row).collect()
    }

    /// One enrollment token.
    pub async fn fleet_token(&self, id: EnrollTokenId) -> Result<EnrollToken> {
        let r = q(&format!("SELECT {TOKEN_COLS} FROM fleet_enroll_tokens WHERE id = $1"))
            .arg(id.to_string())
            .build()
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        token_row(&r)
    }

    /// Revokes a token; false when it was already revoked.
    pub async fn fleet_revoke_token(&self, id: EnrollTokenId, now: i64) -> Result<bool> {
        let r = q("UPDATE fleet_enroll_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .arg(now)
            .arg(id.to_string())
            .build()
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    // ---- enrollment and host credentials ----------------------------------------------

    /// Spends one use of the token with this hash and enrolls the host, in one
    /// transaction: a new host gets `new_id`; a host already enrolled with the same
    /// machine id keeps its id and takes the new credential, offline key and place.
    /// `None` when the token is unknown, revoked, expired or used up (nothing written).
    pub async fn fleet_enroll(
        &self,
        token_hash: &str,
        new_id: HostId,
        host: &NewHost,
        host_tag: &str,
        now: i64,
    ) -> Result<Option<Enrolled>> {
        let mut tx = self.pool().begin().await?;
        let spent = q("UPDATE fleet_enroll_tokens SET uses = uses + 1 WHERE token_hash = $1 AND revoked_at IS NULL \
                       AND expires_at > $2 AND uses < max_uses RETURNING id, site_id, process_id")
        .arg(token_hash)
        .arg(now)
        .build()
        .fetch_optional(&mut *tx)
        .await?;
        let Some(t) = spent else {
            return Ok(None);
        };
        let (token_id, site_id, process_id): (EnrollTokenId, SiteId, Option<ProcessId>) =
            (parse(&t, "id")?, parse(&t, "site_id")?, oparse(&t, "process_id")?);
        let r = q("INSERT INTO fleet_hosts (id, machine_id, hostname, site_id, process_id, os, agent_version, \
                   credential_hash, offline_key, host_tag, enrolled_at, enroll_token_id, simulated, policy_version, \
                   usb_enforcing, queue_depth, queue_dropped) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, 0, 0, 0) \
                   ON CONFLICT (machine_id) DO UPDATE SET hostname = excluded.hostname, site_id = excluded.site_id, \
                   process_id = excluded.process_id, os = excluded.os, agent_version = excluded.agent_version, \
                   credential_hash = excluded.credential_hash, next_credential_hash = NULL, \
                   offline_key = excluded.offline_key, enrolled_at = excluded.enrolled_at, \
                   enroll_token_id = excluded.enroll_token_id, retired_at = NULL RETURNING id, host_tag")
        .arg(new_id.to_string())
        .arg(host.machine_id.as_str())
        .arg(host.hostname.as_str())
        .arg(site_id.to_string())
        .arg(process_id.map(|p| p.to_string()))
        .arg(host.os.as_str())
        .arg(host.agent_version.as_str())
        .arg(host.credential_hash.as_str())
        .arg(host.offline_key.as_str())
        .arg(host_tag)
        .arg(now)
        .arg(token_id.to_string())
        .arg(host.simulated)
        .build()
        .fetch_one(&mut *tx)
        .await?;
        let host_id: HostId = parse(&r, "id")?;
        let re_enrolled = host_id != new_id;
        // A moved host must never see its bundle version go down.
        let v = bump(&mut tx).await?;
        stamp(&mut tx, FleetScope::Host(host_id), v).await?;
        tx.commit().await?;
        Ok(Some(Enrolled { host_id, re_enrolled, token_id, site_id, process_id }))
    }

    /// The host a credential belongs to (not retired). A credential pending after a
    /// rotation becomes the host's only one on its first use.
    pub async fn fleet_host_by_credential(&self, hash: &str) -> Result<Option<HostAuthRow>> {
        let r = q("SELECT id, hostname, site_id, process_id, credential_hash FROM fleet_hosts \
                   WHERE (credential_hash = $1 OR next_credential_hash = $1) AND retired_at IS NULL")
        .arg(hash)
        .build()
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = r else { return Ok(None) };
        let row = HostAuthRow {
            id: parse(&r, "id")?,
            hostname: s(&r, "hostname")?,
            site_id: parse(&r, "site_id")?,
            process_id: oparse(&r, "process_id")?,
        };
        if s(&r, "credential_hash")? != hash {
            q("UPDATE fleet_hosts SET credential_hash = next_credential_hash, next_credential_hash = NULL \
               WHERE id = $1 AND next_credential_hash = $2")
            .arg(row.id.to_string())
            .arg(hash)
            .build()
            .execute(self.pool())
            .await?;
        }
        Ok(Some(row))
    }

    /// Sets the host's pending credential (replacing a pending one never used).
    pub async fn fleet_set_next_credential(&self, id: HostId, hash: &str) -> Result<()> {
        q("UPDATE fleet_hosts SET next_credential_hash = $1 WHERE id = $2")
            .arg(hash)
            .arg(id.to_string())
            .build()
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Retires a host: its credentials stop working, its history stays.
    pub async fn fleet_retire_host(&self, id: HostId, now: i64) -> Result<bool> {
        let r = q("UPDATE fleet_hosts SET retired_at = $1 WHERE id = $2 AND retired_at IS NULL")
            .arg(now)
            .arg(id.to_string())
            .build()
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    // ---- hosts ----------------------------------------------------------------------

    /// Hosts matching the filter, by hostname, with their latest scores, and the total.
    pub async fn fleet_hosts(&self, f: &HostFilter) -> Result<(Vec<HostSummary>, u64)> {
        let mut cond = Q::new(" WHERE 1 = 1");
        if !f.include_retired {
            cond.push(" AND h.retired_at IS NULL");
        }
        f.scope.restrict(&mut cond, "h.site_id", "h.process_id");
        if let Some(sid) = f.site_id {
            cond.push(" AND h.site_id = ").bind(sid.to_string());
        }
        if let Some(p) = f.process_id {
            cond.push(" AND h.process_id = ").bind(p.to_string());
        }
        if let Some(term) = f.q.as_deref().filter(|t| !t.is_empty()) {
            cond.push(" AND LOWER(h.hostname) LIKE ").bind(crate::like_contains(term));
            cond.push(" ESCAPE '\\'");
        }
        let mut count = Q::new(&format!("SELECT COUNT(*) AS n FROM fleet_hosts h{}", cond.sql));
        count.args.clone_from(&cond.args);
        let total = u64::try_from(i(&count.build().fetch_one(self.pool()).await?, "n")?).unwrap_or(0);
        let mut qb = Q::new(&format!("SELECT {HOST_COLS} FROM fleet_hosts h{}", cond.sql));
        qb.args.clone_from(&cond.args);
        qb.push(" ORDER BY h.hostname, h.id LIMIT ").bind(i64::from(f.limit));
        qb.push(" OFFSET ").bind(i64::from(f.offset));
        let mut hosts: Vec<HostSummary> =
            qb.build().fetch_all(self.pool()).await?.iter().map(host_row).collect::<Result<_>>()?;
        if !hosts.is_empty() {
            let mut sq = Q::new(
                "SELECT host_id, policy_id, policy_name, score, passed, failed, not_applicable, critical_failed, at \
                 FROM fleet_scan_latest WHERE host_id IN ",
            );
            in_list(&mut sq, hosts.iter().map(|h| h.id.to_string()));
            sq.push(" ORDER BY policy_id");
            for r in sq.build().fetch_all(self.pool()).await? {
                let id: HostId = parse(&r, "host_id")?;
                if let Some(h) = hosts.iter_mut().find(|h| h.id == id) {
                    h.scores.push(score_row(&r)?);
                }
            }
        }
        Ok((hosts, total))
    }

    /// One host with its latest scores.
    pub async fn fleet_host(&self, id: HostId) -> Result<HostSummary> {
        let r = q(&format!("SELECT {HOST_COLS} FROM fleet_hosts h WHERE h.id = $1"))
            .arg(id.to_string())
            .build()
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut h = host_row(&r)?;
        h.scores = self.fleet_compliance(id).await?.into_iter().map(|c| c.score).collect();
        Ok(h)
    }

    /// The host's latest facts and when they were reported.
    pub async fn fleet_host_facts(&self, id: HostId) -> Result<(Option<HostFacts>, Option<i64>)> {
        let r = q("SELECT facts, facts_at FROM fleet_hosts WHERE id = $1")
            .arg(id.to_string())
            .build()
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        let facts = match os(&r, "facts")? {
            Some(t) => Some(serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(format!("facts: {e}")))?),
            None => None,
        };
        Ok((facts, oi(&r, "facts_at")?))
    }

    /// The latest result of every SCA policy on the host, with each check.
    pub async fn fleet_compliance(&self, id: HostId) -> Result<Vec<PolicyResult>> {
        let rows =
            q("SELECT policy_id, policy_name, score, passed, failed, not_applicable, critical_failed, at, checks \
                      FROM fleet_scan_latest WHERE host_id = $1 ORDER BY policy_id")
            .arg(id.to_string())
            .build()
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let checks = serde_json::from_str(&s(r, "checks")?)
                    .map_err(|e| StoreError::Corrupt(format!("scan checks: {e}")))?;
                Ok(PolicyResult { score: score_row(r)?, checks })
            })
            .collect()
    }

    /// The host's last `limit` scans' scores, oldest first.
    pub async fn fleet_score_history(&self, id: HostId, limit: u32) -> Result<Vec<ScorePoint>> {
        let rows = q("SELECT policy_id, at, score FROM fleet_scan_history WHERE host_id = $1 \
                      ORDER BY at DESC, seq DESC LIMIT $2")
        .arg(id.to_string())
        .arg(i64::from(limit))
        .build()
        .fetch_all(self.pool())
        .await?;
        let mut v: Vec<ScorePoint> = rows
            .iter()
            .map(|r| Ok(ScorePoint { policy_id: s(r, "policy_id")?, at: i(r, "at")?, score: i(r, "score")? }))
            .collect::<Result<_>>()?;
        v.reverse();
        Ok(v)
    }

    /// The host's sealed offline key.
    pub async fn fleet_offline_key(&self, id: HostId) -> Result<String> {
        let r = q("SELECT offline_key FROM fleet_hosts WHERE id = $1")
            .arg(id.to_string())
            .build()
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        s(&r, "offline_key")
    }

    /// Unretired hosts whose offline-challenge tag (hex) is `tag`.
    pub async fn fleet_hosts_by_tag(&self, tag: &str) -> Result<Vec<TaggedHost>> {
        let rows = q("SELECT id, hostname, site_id, process_id, offline_key FROM fleet_hosts \
                      WHERE host_tag = $1 AND retired_at IS NULL ORDER BY id")
        .arg(tag)
        .build()
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TaggedHost {
                    id: parse(r, "id")?,
                    hostname: s(r, "hostname")?,
                    site_id: parse(r, "site_id")?,
                    process_id: oparse(r, "process_id")?,
                    offline_key: s(r, "offline_key")?,
                })
            })
            .collect()
    }

    // ---- ingest -----------------------------------------------------------------------

    /// Stores one batch from a host in one transaction: its health, its device events
    /// (multi-row inserts, idempotent on `(host, seq)`), its scan reports (latest per
    /// policy replaced when newer; a history row per scan, idempotent on its seq) and
    /// its facts (replaced when newer); exceptions and offline codes the events used
    /// are marked used. Returns the seqs of the device events not stored before.
    ///
    /// The statements are built first, then run: on a SQLite file through the store's
    /// inline writer on a blocking thread (sqlx's per-statement hand-overs and argument
    /// conversions cost more than SQLite's own work for thousands of values), elsewhere
    /// through sqlx. The same SQL text either way.
    pub async fn fleet_ingest(
        &self,
        host: &HostAuthRow,
        health: &AgentHealth,
        events: &[AgentEvent],
        used_exceptions: &[ExceptionId],
        used_challenges: &[String],
        now: i64,
    ) -> Result<Vec<i64>> {
        let plan = ingest_plan(host, health, events, used_exceptions, used_challenges, now)?;
        if let Some(w) = &self.inline_writer {
            let w = w.clone();
            return tokio::task::spawn_blocking(move || {
                w.transaction(|tx| {
                    let mut inserted = Vec::new();
                    for (qb, returns_seq) in &plan {
                        if *returns_seq {
                            inserted.extend(tx.fetch_all(qb, |r| r.req_int("seq"))?);
                        } else {
                            tx.execute(qb)?;
                        }
                    }
                    Ok(inserted)
                })
            })
            .await
            .map_err(|e| StoreError::Unavailable(format!("writer: {e}")))?;
        }
        let mut tx = self.pool().begin().await?;
        let mut inserted = Vec::new();
        for (qb, returns_seq) in &plan {
            if *returns_seq {
                for r in qb.build().fetch_all(&mut *tx).await? {
                    inserted.push(i(&r, "seq")?);
                }
            } else {
                qb.build().execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(inserted)
    }

    /// Device events matching the filter, newest first.
    pub async fn fleet_device_events(&self, f: &DeviceEventFilter) -> Result<Vec<DeviceEventRow>> {
        let mut qb = Q::new(&format!(
            "SELECT {EVENT_COLS} FROM fleet_device_events e JOIN fleet_hosts h ON h.id = e.host_id WHERE 1 = 1"
        ));
        f.scope.restrict(&mut qb, "e.site_id", "e.process_id");
        if let Some(h) = f.host_id {
            qb.push(" AND e.host_id = ").bind(h.to_string());
        }
        if let Some(p) = f.process_id {
            qb.push(" AND e.process_id = ").bind(p.to_string());
        }
        if let Some(d) = &f.decision {
            qb.push(" AND e.decision = ").bind(d.as_str());
        }
        if let Some(t) = f.since {
            qb.push(" AND e.at >= ").bind(t);
        }
        qb.push(" ORDER BY e.at DESC, e.seq DESC LIMIT ").bind(i64::from(f.limit));
        qb.build().fetch_all(self.pool()).await?.iter().map(event_row).collect()
    }

    // ---- policies, assignments, settings ------------------------------------------------

    /// Every policy with its assignments, by kind and name.
    pub async fn fleet_policies(&self) -> Result<Vec<FleetPolicy>> {
        let rows = q(&format!("SELECT {POLICY_COLS} FROM fleet_policies ORDER BY kind DESC, name"))
            .build()
            .fetch_all(self.pool())
            .await?;
        let mut v: Vec<FleetPolicy> = rows.iter().map(policy_row).collect::<Result<_>>()?;
        for r in
            q("SELECT policy_id, scope FROM fleet_assignments ORDER BY scope").build().fetch_all(self.pool()).await?
        {
            let id: PolicyId = parse(&r, "policy_id")?;
            if let Some(p) = v.iter_mut().find(|p| p.id == id) {
                p.assignments.push(scope_of(&r, "scope")?);
            }
        }
        Ok(v)
    }

    /// One policy with its assignments.
    pub async fn fleet_policy(&self, id: PolicyId) -> Result<FleetPolicy> {
        let r = q(&format!("SELECT {POLICY_COLS} FROM fleet_policies WHERE id = $1"))
            .arg(id.to_string())
            .build()
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut p = policy_row(&r)?;
        let rows = q("SELECT scope FROM fleet_assignments WHERE policy_id = $1 ORDER BY scope")
            .arg(id.to_string())
            .build()
            .fetch_all(self.pool())
            .await?;
        p.assignments = rows.iter().map(|r| scope_of(r, "scope")).collect::<Result<_>>()?;
        Ok(p)
    }

    /// The policy (other than `except`) whose SCA id is `sca_id`, if any.
    pub async fn fleet_policy_by_sca_id(&self, sca_id: &str, except: Option<PolicyId>) -> Result<Option<PolicyId>> {
        let r = q("SELECT id FROM fleet_policies WHERE sca_id = $1 AND id <> $2")
            .arg(sca_id)
            .arg(except.map(|x| x.to_string()).unwrap_or_default())
            .build()
            .fetch_optional(self.pool())
            .await?;
        r.map(|r| parse(&r, "id")).transpose()
    }

    /// Creates a policy (stamped with the next change value). A taken name fails with
    /// [`StoreError::Unique`].
    pub async fn fleet_insert_policy(&self, p: &FleetPolicy, now: i64) -> Result<FleetPolicy> {
        let mut tx = self.pool().begin().await?;
        let v = bump(&mut tx).await?;
        q("INSERT INTO fleet_policies (id, kind, name, body, sca_id, builtin, edited, version, created_at, updated_at, \
           updated_by) VALUES ($1, $2, $3, $4, $5, NULL, 1, $6, $7, $7, $8)")
        .arg(p.id.to_string())
        .arg(p.kind.as_str())
        .arg(p.name.as_str())
        .arg(p.body.as_str())
        .arg(p.sca_id.clone())
        .arg(v)
        .arg(now)
        .arg(p.updated_by.as_str())
        .build()
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.fleet_policy(p.id).await
    }

    /// Changes a policy's name and text (stamped with the next change value).
    pub async fn fleet_update_policy(
        &self,
        id: PolicyId,
        name: &str,
        body: &str,
        sca_id: Option<&str>,
        by: &str,
        now: i64,
    ) -> Result<FleetPolicy> {
        let mut tx = self.pool().begin().await?;
        let v = bump(&mut tx).await?;
        let r = q("UPDATE fleet_policies SET name = $1, body = $2, sca_id = $3, edited = 1, version = $4, \
                   updated_at = $5, updated_by = $6 WHERE id = $7")
        .arg(name)
        .arg(body)
        .arg(sca_id.map(str::to_owned))
        .arg(v)
        .arg(now)
        .arg(by)
        .arg(id.to_string())
        .build()
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        self.fleet_policy(id).await
    }

    /// Installs a shipped policy: created (and assigned globally if `assign_global`) when absent; its text
    /// refreshed when a release changed it and no admin edited it. Returns whether
    /// anything changed.
    pub async fn fleet_ensure_builtin(&self, b: &BuiltinPolicy<'_>, now: i64) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let v = bump(&mut tx).await?;
        let created =
            q("INSERT INTO fleet_policies (id, kind, name, body, sca_id, builtin, edited, version, created_at, \
                         updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $8, 'builtin') \
                         ON CONFLICT DO NOTHING")
            .arg(b.id.to_string())
            .arg(b.kind)
            .arg(b.name)
            .arg(b.body)
            .arg(b.sca_id.map(str::to_owned))
            .arg(b.file)
            .arg(v)
            .arg(now)
            .build()
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
        let changed = if created {
            if b.assign_global {
                q("INSERT INTO fleet_assignments (policy_id, scope, created_at) VALUES ($1, 'global', $2)")
                    .arg(b.id.to_string())
                    .arg(now)
                    .build()
                    .execute(&mut *tx)
                    .await?;
            }
            true
        } else {
            q("UPDATE fleet_policies SET body = $1, sca_id = $2, version = $3, updated_at = $4, updated_by = 'builtin' \
               WHERE id = $5 AND builtin IS NOT NULL AND edited = 0 AND body <> $1")
            .arg(b.body)
            .arg(b.sca_id.map(str::to_owned))
            .arg(v)
            .arg(now)
            .arg(b.id.to_string())
            .build()
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1
        };
        tx.commit().await?;
        Ok(changed)
    }

    /// Replaces where a policy applies; every scope added or removed is stamped. Returns
    /// the scopes before.
    pub async fn fleet_set_assignments(
        &self,
        id: PolicyId,
        scopes: &[FleetScope],
        now: i64,
    ) -> Result<Vec<FleetScope>> {
        let mut tx = self.pool().begin().await?;
        let v = bump(&mut tx).await?;
        let rows = q("SELECT scope FROM fleet_assignments WHERE policy_id = $1")
            .arg(id.to_string())
            .build()
            .fetch_all(&mut *tx)
            .await?;
        let before: Vec<FleetScope> = rows.iter().map(|r| scope_of(r, "scope")).collect::<Result<_>>()?;
        for gone in before.iter().filter(|b| !scopes.contains(b)) {
            q("DELETE FROM fleet_assignments WHERE policy_id = $1 AND scope = $2")
                .arg(id.to_string())
                .arg(gone.to_string())
                .build()
                .execute(&mut *tx)
                .await?;
            stamp(&mut tx, *gone, v).await?;
        }
        for new in scopes.iter().filter(|s| !before.contains(s)) {
            q("INSERT INTO fleet_assignments (policy_id, scope, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .arg(id.to_string())
                .arg(new.to_string())
                .arg(now)
                .build()
                .execute(&mut *tx)
                .await?;
            stamp(&mut tx, *new, v).await?;
        }
        tx.commit().await?;
        Ok(before)
    }

    /// Every scope's settings (scopes with only a change stamp have all `None`).
    pub async fn fleet_settings(&self) -> Result<Vec<ScopeSettings>> {
        let rows = q("SELECT scope, usb_enforce, scan_interval_seconds, heartbeat_seconds FROM fleet_scopes \
                      WHERE usb_enforce IS NOT NULL OR scan_interval_seconds IS NOT NULL OR heartbeat_seconds IS NOT NULL \
                      ORDER BY scope")
        .build()
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(settings_row).collect()
    }

    /// Sets one scope's settings (stamping it). Returns the settings before.
    pub async fn fleet_put_settings(&self, st: &ScopeSettings) -> Result<Option<ScopeSettings>> {
        let mut tx = self.pool().begin().await?;
        let v = bump(&mut tx).await?;
        let before =
            q("SELECT scope, usb_enforce, scan_interval_seconds, heartbeat_seconds FROM fleet_scopes WHERE scope = $1")
                .arg(st.scope.to_string())
                .build()
                .fetch_optional(&mut *tx)
                .await?
                .as_ref()
                .map(settings_row)
                .transpose()?;
        q("INSERT INTO fleet_scopes (scope, version, usb_enforce, scan_interval_seconds, heartbeat_seconds) \
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (scope) DO UPDATE SET version = excluded.version, \
           usb_enforce = excluded.usb_enforce, scan_interval_seconds = excluded.scan_interval_seconds, \
           heartbeat_seconds = excluded.heartbeat_seconds")
        .arg(st.scope.to_string())
        .arg(v)
        .arg(st.usb_enforce.map(i64::from))
        .arg(st.scan_interval_seconds)
        .arg(st.heartbeat_seconds)
        .build()
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(before)
    }

    /// The bundle version of a host with these scopes.
    pub async fn fleet_bundle_version(&self, scopes: &[FleetScope]) -> Result<i64> {
        let names: Vec<String> = scopes.iter().map(ToString::to_string).collect();
        let mut qb =
            Q::new("SELECT COALESCE(MAX(v), 0) AS v FROM (SELECT version AS v FROM fleet_scopes WHERE scope IN ");
        in_list(&mut qb, names.clone());
        qb.push(" UNION ALL SELECT p.version AS v FROM fleet_assignments a JOIN fleet_policies p ON p.id = a.policy_id WHERE a.scope IN ");
        in_list(&mut qb, names);
        qb.push(") x");
        i(&qb.build().fetch_one(self.pool()).await?, "v")
    }

    /// What a host's bundle is made of, at `now`.
    pub async fn fleet_bundle_inputs(&self, host: HostId, scopes: &[FleetScope], now: i64) -> Result<BundleInputs> {
        // The version is read first: a change landing meanwhile makes the next batch
        // answer a newer version, and the agent pulls again.
        let version = self.fleet_bundle_version(scopes).await?;
        let names: Vec<String> = scopes.iter().map(ToString::to_string).collect();
        let mut sq = Q::new(
            "SELECT scope, usb_enforce, scan_interval_seconds, heartbeat_seconds FROM fleet_scopes WHERE scope IN ",
        );
        in_list(&mut sq, names.clone());
        let settings = sq.build().fetch_all(self.pool()).await?.iter().map(settings_row).collect::<Result<_>>()?;
        let mut pq = Q::new(
            "SELECT a.scope, a.created_at AS assigned_at, p.id, p.kind, p.name, p.body, p.sca_id \
             FROM fleet_assignments a JOIN fleet_policies p ON p.id = a.policy_id WHERE a.scope IN ",
        );
        in_list(&mut pq, names);
        let policies = pq
            .build()
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| {
                Ok(AssignedPolicy {
                    scope: scope_of(r, "scope")?,
                    assigned_at: i(r, "assigned_at")?,
                    id: parse(r, "id")?,
                    kind: s(r, "kind")?,
                    name: s(r, "name")?,
                    body: s(r, "body")?,
                    sca_id: os(r, "sca_id")?,
                })
            })
            .collect::<Result<_>>()?;
        let exceptions = q("SELECT id, device_hash, expires_at FROM fleet_exceptions WHERE host_id = $1 \
                            AND status = 'approved' AND expires_at > $2 ORDER BY expires_at, id")
        .arg(host.to_string())
        .arg(now)
        .build()
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| Ok((parse(r, "id")?, s(r, "device_hash")?, i(r, "expires_at")?)))
        .collect::<Result<_>>()?;
        Ok(BundleInputs { version, settings, policies, exceptions })
    }

    // ---- exceptions and offline codes -------------------------------------------------

    /// Stores a new exception request.
    pub async fn fleet_insert_exception(&self, x: &FleetException) -> Result<()> {
        q("INSERT INTO fleet_exceptions (id, host_id, device_hash, device_name, reason, hours, status, requested_by, \
           requested_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
        .arg(x.id.to_string())
        .arg(x.host_id.to_string())
        .arg(x.device_hash.as_str())
        .arg(x.device_name.as_str())
        .arg(x.reason.as_str())
        .arg(x.hours)
        .arg(x.status.as_str())
        .arg(x.requested_by.as_str())
        .arg(x.requested_at)
        .build()
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// One exception.
    pub async fn fleet_exception(&self, id: ExceptionId) -> Result<FleetException> {
        let r = q(&format!(
            "SELECT {EXC_COLS} FROM fleet_exceptions x JOIN fleet_hosts h ON h.id = x.host_id WHERE x.id = $1"
        ))
        .arg(id.to_string())
        .build()
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
        exception_row(&r)
    }

    /// Exceptions of hosts in scope (of one host when given), newest request first.
    pub async fn fleet_exceptions(
        &self,
        scope: &HostScope,
        host: Option<HostId>,
        limit: u32,
    ) -> Result<Vec<FleetException>> {
        let mut qb = Q::new(&format!(
            "SELECT {EXC_COLS} FROM fleet_exceptions x JOIN fleet_hosts h ON h.id = x.host_id WHERE 1 = 1"
        ));
        scope.restrict(&mut qb, "h.site_id", "h.process_id");
        if let Some(h) = host {
            qb.push(" AND x.host_id = ").bind(h.to_string());
        }
        qb.push(" ORDER BY x.requested_at DESC, x.id DESC LIMIT ").bind(i64::from(limit));
        qb.build().fetch_all(self.pool()).await?.iter().map(exception_row).collect()
    }

    /// Moves an exception from status `from` to `to` (stamping its host, so the host's
    /// bundle changes). False when it was not in `from` any more.
    #[allow(clippy::too_many_arguments)]
    pub async fn fleet_decide_exception(
        &self,
        id: ExceptionId,
        host: HostId,
        from: &str,
        to: &str,
        by: &str,
        note: Option<&str>,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let done = q("UPDATE fleet_exceptions SET status = $1, decided_by = COALESCE(decided_by, $2), \
                      decided_at = COALESCE(decided_at, $3), note = COALESCE($4, note), \
                      expires_at = CASE WHEN $1 = 'revoked' THEN $3 ELSE $5 END WHERE id = $6 AND status = $7")
        .arg(to)
        .arg(by)
        .arg(now)
        .arg(note.map(str::to_owned))
        .arg(expires_at)
        .arg(id.to_string())
        .arg(from)
        .build()
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if done {
            let v = bump(&mut tx).await?;
            stamp(&mut tx, FleetScope::Host(host), v).await?;
        }
        tx.commit().await?;
        Ok(done)
    }

    /// Records an issued offline code (not the code).
    pub async fn fleet_insert_offline_code(&self, c: &OfflineCodeRow) -> Result<()> {
        q("INSERT INTO fleet_offline_codes (id, host_id, challenge, hours, reason, issued_by, issued_at, valid_until) \
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
        .arg(c.id.as_str())
        .arg(c.host_id.to_string())
        .arg(c.challenge.as_str())
        .arg(c.hours)
        .arg(c.reason.as_str())
        .arg(c.issued_by.as_str())
        .arg(c.issued_at)
        .arg(c.valid_until)
        .build()
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Offline codes issued for hosts in scope, newest first.
    pub async fn fleet_offline_codes(&self, scope: &HostScope, limit: u32) -> Result<Vec<OfflineCodeRow>> {
        let mut qb = Q::new(
            "SELECT c.id, c.host_id, h.hostname, c.challenge, c.hours, c.reason, c.issued_by, c.issued_at, \
             c.valid_until, c.used_at FROM fleet_offline_codes c JOIN fleet_hosts h ON h.id = c.host_id WHERE 1 = 1",
        );
        scope.restrict(&mut qb, "h.site_id", "h.process_id");
        qb.push(" ORDER BY c.issued_at DESC, c.id DESC LIMIT ").bind(i64::from(limit));
        let rows = qb.build().fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(OfflineCodeRow {
                    id: s(r, "id")?,
                    host_id: parse(r, "host_id")?,
                    hostname: s(r, "hostname")?,
                    challenge: s(r, "challenge")?,
                    hours: i(r, "hours")?,
                    reason: s(r, "reason")?,
                    issued_by: s(r, "issued_by")?,
                    issued_at: i(r, "issued_at")?,
                    valid_until: i(r, "valid_until")?,
                    used_at: oi(r, "used_at")?,
                })
            })
            .collect()
    }

    // ---- controls ---------------------------------------------------------------------

    /// What the R1/R4 fleet checks read at `now` (the thresholds are the caller's).
    pub async fn fleet_facts(&self, now: i64) -> Result<FleetFacts> {
        let rows = q("SELECT h.id, COALESCE(p.code, s.code) AS unit, h.last_seen_at, h.usb_enforcing, h.facts_at, \
                      h.pending_security_updates, h.updates_pending_since FROM fleet_hosts h \
                      JOIN sites s ON s.id = h.site_id LEFT JOIN processes p ON p.id = h.process_id \
                      WHERE h.retired_at IS NULL ORDER BY h.id")
        .build()
        .fetch_all(self.pool())
        .await?;
        let mut hosts: Vec<FleetHostFacts> = rows
            .iter()
            .map(|r| {
                Ok(FleetHostFacts {
                    id: s(r, "id")?,
                    unit: s(r, "unit")?,
                    last_seen: oi(r, "last_seen_at")?,
                    usb_enforcing: i(r, "usb_enforcing")? != 0,
                    scores: Vec::new(),
                    critical_failing: Vec::new(),
                    has_facts: oi(r, "facts_at")?.is_some(),
                    pending_security_updates: oi(r, "pending_security_updates")?.unwrap_or(0),
                    updates_pending_since: oi(r, "updates_pending_since")?,
                })
            })
            .collect::<Result<_>>()?;
        // A scan where nothing applied (the baseline's requirements not met: a desktop
        // baseline on a server) says nothing about the host.
        let scans = q("SELECT l.host_id, l.policy_id, l.score, l.critical_ids FROM fleet_scan_latest l \
                       JOIN fleet_hosts h ON h.id = l.host_id WHERE h.retired_at IS NULL AND l.passed + l.failed > 0")
        .build()
        .fetch_all(self.pool())
        .await?;
        let index: std::collections::HashMap<String, usize> =
            hosts.iter().enumerate().map(|(k, h)| (h.id.clone(), k)).collect();
        for r in &scans {
            if let Some(&k) = index.get(&s(r, "host_id")?) {
                let policy = s(r, "policy_id")?;
                hosts[k].scores.push((policy.clone(), i(r, "score")?));
                for c in list(&s(r, "critical_ids")?) {
                    hosts[k].critical_failing.push(format!("{policy}:{c}"));
                }
            }
        }
        let blocked = q("SELECT COALESCE(p.code, s.code) AS unit, COUNT(*) AS n FROM fleet_device_events e \
                         JOIN sites s ON s.id = e.site_id LEFT JOIN processes p ON p.id = e.process_id \
                         WHERE e.at >= $1 AND e.storage_like <> 0 AND e.decision IN ('blocked', 'partial') \
                         GROUP BY COALESCE(p.code, s.code) ORDER BY COALESCE(p.code, s.code)")
        .arg(now - 7 * 86_400)
        .build()
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| Ok((s(r, "unit")?, u64::try_from(i(r, "n")?).unwrap_or(0))))
        .collect::<Result<_>>()?;
        let mut active: Vec<(String, i64)> = q("SELECT id, expires_at FROM fleet_exceptions \
                                                WHERE status = 'approved' AND expires_at > $1 ORDER BY id")
        .arg(now)
        .build()
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| Ok((s(r, "id")?, i(r, "expires_at")?)))
        .collect::<Result<_>>()?;
        let codes = q("SELECT id, valid_until FROM fleet_offline_codes WHERE valid_until > $1 ORDER BY id")
            .arg(now)
            .build()
            .fetch_all(self.pool())
            .await?;
        for r in &codes {
            active.push((format!("offline:{}", s(r, "id")?), i(r, "valid_until")?));
        }
        Ok(FleetFacts {
            now,
            hosts,
            blocked_storage_7d: blocked,
            active_exceptions: active,
            not_reporting_after: 0,
            min_score: 0,
            updates_grace: 0,
        })
    }
}

fn settings_row(r: &AnyRow) -> Result<ScopeSettings> {
    Ok(ScopeSettings {
        scope: scope_of(r, "scope")?,
        usb_enforce: oi(r, "usb_enforce")?.map(|v| v != 0),
        scan_interval_seconds: oi(r, "scan_interval_seconds")?,
        heartbeat_seconds: oi(r, "heartbeat_seconds")?,
    })
}

/// The statements that store one batch, in order; `true` marks the device inserts,
/// whose `RETURNING seq` rows are the newly stored events. The host's own row is
/// written first, so a SQLite transaction holds the write lock from its start.
fn ingest_plan(
    host: &HostAuthRow,
    health: &AgentHealth,
    events: &[AgentEvent],
    used_exceptions: &[ExceptionId],
    used_challenges: &[String],
    now: i64,
) -> Result<Vec<(Q, bool)>> {
    let hid = host.id.to_string();
    let mut plan = Vec::new();
    plan.push((
        q("UPDATE fleet_hosts SET last_seen_at = $1, agent_version = $2, policy_version = $3, usb_enforcing = $4, \
           queue_depth = $5, queue_dropped = $6, last_scan_at = COALESCE($7, last_scan_at) WHERE id = $8")
        .arg(now)
        .arg(health.agent_version.as_str())
        .arg(health.policy_version)
        .arg(health.usb_enforcing)
        .arg(health.queue_depth)
        .arg(health.queue_dropped)
        .arg(health.last_scan_at)
        .arg(hid.clone()),
        false,
    ));
    let devices: Vec<(&AgentEvent, &bposhield_proto::fleet::DeviceEvent)> = events
        .iter()
        .filter_map(|e| match &e.body {
            AgentEventBody::Device(d) => Some((e, d)),
            _ => None,
        })
        .collect();
    let site = host.site_id.to_string();
    let process = host.process_id.map(|p| p.to_string());
    for chunk in devices.chunks(EVENT_ROWS_PER_INSERT) {
        let mut qb = Q::new(
            "INSERT INTO fleet_device_events (host_id, seq, at, received_at, site_id, process_id, decision, \
             device_hash, vendor_product, name, port, interfaces, blocked_interfaces, storage_like, reason, \
             exception_id, offline_challenge, device_rule) VALUES ",
        );
        for (n, (e, d)) in chunk.iter().enumerate() {
            qb.push(if n == 0 { "(" } else { ", (" });
            qb.bind(hid.clone()).push(", ").bind(e.seq).push(", ").bind(e.at).push(", ").bind(now);
            qb.push(", ").bind(site.clone()).push(", ").bind(process.clone());
            qb.push(", ").bind(d.decision.as_str()).push(", ").bind(d.device_hash.as_str());
            qb.push(", ").bind(d.vendor_product.as_str()).push(", ").bind(d.name.as_str());
            qb.push(", ").bind(d.port.as_str()).push(", ").bind(d.interfaces.join(","));
            qb.push(", ").bind(d.blocked_interfaces.join(",")).push(", ").bind(d.storage_like);
            qb.push(", ").bind(d.reason.as_str()).push(", ").bind(d.exception_id.map(|x| x.to_string()));
            qb.push(", ").bind(d.offline_challenge.clone()).push(", ").bind(d.device_rule.as_str());
            qb.push(")");
        }
        qb.push(" ON CONFLICT (host_id, seq) DO NOTHING RETURNING seq");
        plan.push((qb, true));
    }
    for e in events {
        match &e.body {
            AgentEventBody::Device(_) => {}
            AgentEventBody::Scan(scan) => {
                plan.push((
                    q("INSERT INTO fleet_scan_history (host_id, seq, policy_id, at, score, passed, failed, not_applicable) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (host_id, seq) DO NOTHING")
                    .arg(hid.clone())
                    .arg(e.seq)
                    .arg(scan.policy_id.as_str())
                    .arg(e.at)
                    .arg(scan.score)
                    .arg(scan.passed)
                    .arg(scan.failed)
                    .arg(scan.not_applicable),
                    false,
                ));
                let critical: Vec<String> = scan
                    .checks
                    .iter()
                    .filter(|c| c.severity == "critical" && c.result == "failed")
                    .map(|c| c.id.to_string())
                    .collect();
                let checks = serde_json::to_string(&scan.checks).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                plan.push((
                    q("INSERT INTO fleet_scan_latest (host_id, policy_id, policy_name, at, seq, passed, failed, \
                       not_applicable, score, critical_failed, critical_ids, checks) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                       ON CONFLICT (host_id, policy_id) DO UPDATE SET policy_name = excluded.policy_name, \
                       at = excluded.at, seq = excluded.seq, passed = excluded.passed, failed = excluded.failed, \
                       not_applicable = excluded.not_applicable, score = excluded.score, \
                       critical_failed = excluded.critical_failed, critical_ids = excluded.critical_ids, \
                       checks = excluded.checks \
                       WHERE fleet_scan_latest.at < excluded.at \
                          OR (fleet_scan_latest.at = excluded.at AND fleet_scan_latest.seq < excluded.seq)")
                    .arg(hid.clone())
                    .arg(scan.policy_id.as_str())
                    .arg(scan.policy_name.as_str())
                    .arg(e.at)
                    .arg(e.seq)
                    .arg(scan.passed)
                    .arg(scan.failed)
                    .arg(scan.not_applicable)
                    .arg(scan.score)
                    .arg(i64::try_from(critical.len()).unwrap_or(i64::MAX))
                    .arg(critical.join(","))
                    .arg(checks),
                    false,
                ));
            }
            AgentEventBody::Facts(f) => {
                let json = serde_json::to_string(f).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                plan.push((
                    q("UPDATE fleet_hosts SET facts = $1, facts_at = $2, pending_security_updates = $3, \
                       updates_pending_since = $4, os = COALESCE(NULLIF($5, ''), os) \
                       WHERE id = $6 AND (facts_at IS NULL OR facts_at <= $2)")
                    .arg(json)
                    .arg(e.at)
                    .arg(f.pending_security_updates)
                    .arg(f.updates_pending_since)
                    .arg(f.os.as_str())
                    .arg(hid.clone()),
                    false,
                ));
            }
        }
    }
    for x in used_exceptions {
        plan.push((
            q("UPDATE fleet_exceptions SET first_used_at = $1 WHERE id = $2 AND host_id = $3 AND first_used_at IS NULL")
                .arg(now)
                .arg(x.to_string())
                .arg(hid.clone()),
            false,
        ));
    }
    for c in used_challenges {
        plan.push((
            q("UPDATE fleet_offline_codes SET used_at = $1 WHERE host_id = $2 AND challenge = $3 AND used_at IS NULL")
                .arg(now)
                .arg(hid.clone())
                .arg(c.as_str()),
            false,
        ));
    }
    Ok(plan)
}
