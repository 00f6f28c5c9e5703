//! The identity lifecycle's tables: targets and their accounts, HR events and activity,
//! plans and the persisted action queue, manual work items, flags and access reviews.
//!
//! Rows come back as the engine's own types (`bposhield_identity::model`) where one
//! exists, so the server maps nothing twice. Ids in engine space are the platform's
//! UUID strings (person, process, team, target).

use crate::{q, Cols, Result, Store, StoreError, Q};
use bposhield_core::clock::date_start;
use bposhield_identity::model::{Account, Correlation, Employment, Move, Person, SuspendReason, Target, TargetKind};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A target with its connector configuration and health.
#[derive(Debug, Clone, Serialize)]
pub struct TargetRow {
    pub target: Target,
    pub config: serde_json::Value,
    pub enabled: bool,
    pub last_read_at: Option<i64>,
    pub last_error: Option<String>,
}

/// An account as last read, with its owner and situation.
#[derive(Debug, Clone, Serialize)]
pub struct AccountRow {
    pub account: Account,
    pub owner: Option<String>,
    pub link_source: Option<String>,
    pub situation: String,
    pub present: bool,
    pub seen_at: i64,
}

/// What reconciliation decided about one account.
#[derive(Debug, Clone)]
pub struct AccountVerdict {
    pub target: String,
    pub key: String,
    pub owner: Option<String>,
    pub link_source: Option<String>,
    pub situation: String,
}

/// One queued (or finished) action.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ActionRow {
    pub id: String,
    pub plan_id: String,
    pub person_id: Option<String>,
    pub target_id: String,
    pub account_key: Option<String>,
    /// The `Op` as JSON.
    pub op: String,
    pub op_name: String,
    pub reason: String,
    pub status: String,
    pub attempts: i64,
    pub next_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub done_at: Option<i64>,
}

/// A plan: what one reconciliation (or one HR event) decided.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlanRow {
    pub id: String,
    pub kind: String,
    pub status: String,
    pub cause: String,
    pub created_at: i64,
    pub created_by: String,
    pub summary: serde_json::Value,
    pub breaker: Option<serde_json::Value>,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub decision_note: Option<String>,
}

/// One HR event as recorded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HrEventRow {
    pub id: String,
    pub person_id: String,
    pub at: i64,
    pub source: String,
    pub kind: String,
    pub detail: serde_json::Value,
}

/// A manual work item with its action.
#[derive(Debug, Clone, Serialize)]
pub struct WorkItemRow {
    pub action: ActionRow,
    pub target_name: String,
    pub due_at: i64,
    pub escalated_at: Option<i64>,
    pub completed_by: Option<String>,
    pub completed_at: Option<i64>,
    pub proof: Option<String>,
}

/// A finding on an account for a human: dormant, orphan, collision.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FlagRow {
    pub target_id: String,
    pub account_key: String,
    pub kind: String,
    pub person_id: Option<String>,
    pub since: i64,
}

/// An access review campaign.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CampaignRow {
    pub id: String,
    pub name: String,
    pub process_id: Option<String>,
    pub target_id: Option<String>,
    pub reviewer_role: String,
    pub deadline: i64,
    pub default_decision: String,
    pub status: String,
    pub created_by: String,
    pub created_at: i64,
    pub closed_at: Option<i64>,
}

/// One account to review in a campaign.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReviewItemRow {
    pub id: String,
    pub campaign_id: String,
    pub target_id: String,
    pub account_key: String,
    pub person_id: Option<String>,
    pub team_id: Option<String>,
    pub login: String,
    pub entitlements: Vec<String>,
    pub decision: Option<String>,
    pub comment: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub action_id: Option<String>,
}

/// A person's HR state as an HR batch writes it (besides the `people` row itself).
#[derive(Debug, Clone)]
pub struct HrLifecycle {
    pub person_id: String,
    pub login: Option<String>,
    pub status_reason: Option<String>,
    pub status_since: Option<i64>,
    /// A transfer to record (mover), or `None`.
    pub moved: Option<Move>,
}

fn target_kind(s: &str) -> Result<TargetKind> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|e| StoreError::Corrupt(format!("target kind {s}: {e}")))
}

fn correlation(s: &str) -> Result<Correlation> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|e| StoreError::Corrupt(format!("correlation {s}: {e}")))
}

/// The snake_case wire name of a serde enum value.
pub fn wire<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn json_col(r: &dyn Cols, col: &str) -> Result<serde_json::Value> {
    let t = r.req_text(col)?;
    serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

fn ojson_col(r: &dyn Cols, col: &str) -> Result<Option<serde_json::Value>> {
    match r.text(col)? {
        None => Ok(None),
        Some(t) => serde_json::from_str(&t).map(Some).map_err(|e| StoreError::Corrupt(format!("{col}: {e}"))),
    }
}

fn strings_col(r: &dyn Cols, col: &str) -> Result<Vec<String>> {
    let t = r.req_text(col)?;
    serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

fn encode<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

const PERSON_SELECT: &str = "SELECT p.id, p.employee_id, p.email, p.login, p.status, p.status_reason, p.status_since, \
     p.exit_date, p.hire_date, p.site_id, p.process_id, p.team_id, p.job_role, \
     m.from_process_id, m.from_team_id, m.at AS moved_at \
     FROM people p LEFT JOIN id_moves m ON m.person_id = p.id";

fn person_of(r: &dyn Cols) -> Result<Person> {
    let status = r.req_text("status")?;
    let employment = match status.as_str() {
        "active" => Employment::Active,
        "terminated" => Employment::Terminated,
        _ => Employment::Suspended {
            reason: match r.text("status_reason")? {
                Some(x) if x == "absconding" => SuspendReason::Absconding,
                other => SuspendReason::Hr(other.unwrap_or_default()),
            },
        },
    };
    let moved_from = match r.int("moved_at")? {
        Some(at) => Some(Move { process: r.text("from_process_id")?, team: r.text("from_team_id")?, at }),
        None => None,
    };
    Ok(Person {
        id: r.req_text("id")?,
        employee_id: r.req_text("employee_id")?,
        email: r.text("email")?,
        login: r.text("login")?,
        employment,
        status_since: r.int("status_since")?,
        exit_at: r.text("exit_date")?.as_deref().and_then(date_start),
        hire_at: date_start(&r.req_text("hire_date")?).unwrap_or(0),
        site: r.req_text("site_id")?,
        process: r.text("process_id")?,
        team: r.text("team_id")?,
        job_role: r.req_text("job_role")?,
        moved_from,
    })
}

const TARGET_COLS: &str = "id, name, kind, process_id, correlation, config, enabled, last_read_at, last_error";

fn target_of(r: &dyn Cols) -> Result<TargetRow> {
    Ok(TargetRow {
        target: Target {
            id: r.req_text("id")?,
            name: r.req_text("name")?,
            kind: target_kind(&r.req_text("kind")?)?,
            process: r.text("process_id")?,
            correlation: correlation(&r.req_text("correlation")?)?,
        },
        config: json_col(r, "config")?,
        enabled: r.req_int("enabled")? != 0,
        last_read_at: r.int("last_read_at")?,
        last_error: r.text("last_error")?,
    })
}

const ACCOUNT_COLS: &str = "target_id, account_key, login, employee_id, email, enabled, entitlements, last_used, \
     owner_id, link_source, situation, present, seen_at";

fn account_of(r: &dyn Cols) -> Result<AccountRow> {
    Ok(AccountRow {
        account: Account {
            target: r.req_text("target_id")?,
            key: r.req_text("account_key")?,
            login: r.req_text("login")?,
            employee_id: r.text("employee_id")?,
            email: r.text("email")?,
            enabled: r.req_int("enabled")? != 0,
            entitlements: strings_col(r, "entitlements")?.into_iter().collect(),
            last_used: r.int("last_used")?,
        },
        owner: r.text("owner_id")?,
        link_source: r.text("link_source")?,
        situation: r.req_text("situation")?,
        present: r.req_int("present")? != 0,
        seen_at: r.req_int("seen_at")?,
    })
}

const ACTION_COLS: &str = "id, plan_id, person_id, target_id, account_key, op, op_name, reason, status, attempts, \
     next_at, last_error, created_at, done_at";

fn action_of(r: &dyn Cols) -> Result<ActionRow> {
    Ok(ActionRow {
        id: r.req_text("id")?,
        plan_id: r.req_text("plan_id")?,
        person_id: r.text("person_id")?,
        target_id: r.req_text("target_id")?,
        account_key: r.text("account_key")?,
        op: r.req_text("op")?,
        op_name: r.req_text("op_name")?,
        reason: r.req_text("reason")?,
        status: r.req_text("status")?,
        attempts: r.req_int("attempts")?,
        next_at: r.req_int("next_at")?,
        last_error: r.text("last_error")?,
        created_at: r.req_int("created_at")?,
        done_at: r.int("done_at")?,
    })
}

const PLAN_COLS: &str =
    "id, kind, status, cause, created_at, created_by, summary, breaker, decided_by, decided_at, decision_note";

fn plan_of(r: &dyn Cols) -> Result<PlanRow> {
    Ok(PlanRow {
        id: r.req_text("id")?,
        kind: r.req_text("kind")?,
        status: r.req_text("status")?,
        cause: r.req_text("cause")?,
        created_at: r.req_int("created_at")?,
        created_by: r.req_text("created_by")?,
        summary: json_col(r, "summary")?,
        breaker: ojson_col(r, "breaker")?,
        decided_by: r.text("decided_by")?,
        decided_at: r.int("decided_at")?,
        decision_note: r.text("decision_note")?,
    })
}

const CAMPAIGN_COLS: &str = "id, name, process_id, target_id, reviewer_role, deadline, default_decision, status, \
     created_by, created_at, closed_at";

fn campaign_of(r: &dyn Cols) -> Result<CampaignRow> {
    Ok(CampaignRow {
        id: r.req_text("id")?,
        name: r.req_text("name")?,
        process_id: r.text("process_id")?,
        target_id: r.text("target_id")?,
        reviewer_role: r.req_text("reviewer_role")?,
        deadline: r.req_int("deadline")?,
        default_decision: r.req_text("default_decision")?,
        status: r.req_text("status")?,
        created_by: r.req_text("created_by")?,
        created_at: r.req_int("created_at")?,
        closed_at: r.int("closed_at")?,
    })
}

const ITEM_COLS: &str = "id, campaign_id, target_id, account_key, person_id, team_id, login, entitlements, decision, \
     comment, decided_by, decided_at, action_id";

fn item_of(r: &dyn Cols) -> Result<ReviewItemRow> {
    Ok(ReviewItemRow {
        id: r.req_text("id")?,
        campaign_id: r.req_text("campaign_id")?,
        target_id: r.req_text("target_id")?,
        account_key: r.req_text("account_key")?,
        person_id: r.text("person_id")?,
        team_id: r.text("team_id")?,
        login: r.req_text("login")?,
        entitlements: strings_col(r, "entitlements")?,
        decision: r.text("decision")?,
        comment: r.text("comment")?,
        decided_by: r.text("decided_by")?,
        decided_at: r.int("decided_at")?,
        action_id: r.text("action_id")?,
    })
}

/// Appends `<column> IN ($a, $b, …)` (the column text includes any `WHERE`).
fn push_in(qb: &mut Q, column: &str, values: &[String]) {
    qb.push(column).push(" IN (");
    for (n, v) in values.iter().enumerate() {
        if n > 0 {
            qb.push(", ");
        }
        qb.bind(v.as_str());
    }
    qb.push(")");
}

/// The key that keeps one pending change to one account unique in the queue.
fn open_key(a: &ActionRow) -> String {
    format!("{}\u{1f}{}\u{1f}{}", a.target_id, a.account_key.as_deref().unwrap_or(""), a.op)
}

impl Store {
    // ---- people as the engine sees them ---------------------------------------------

    /// Every person, or only `ids`, in engine form.
    pub async fn id_people(&self, ids: Option<&[String]>) -> Result<Vec<Person>> {
        let mut qb = Q::new(PERSON_SELECT);
        if let Some(ids) = ids {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            push_in(&mut qb, " WHERE p.id", ids);
        }
        qb.push(" ORDER BY p.id");
        self.read_all(qb, person_of).await
    }

    /// Sets a person's employment status (the lifecycle's own decisions: suspending an
    /// absconder, terminating an unconfirmed one, reinstating).
    pub async fn id_set_status(
        &self,
        person: &str,
        status: &str,
        reason: Option<&str>,
        exit_date: Option<&str>,
        now: i64,
    ) -> Result<()> {
        // The JSON document of the row carries the status too (list pages read it).
        let r = q("SELECT doc FROM people WHERE id = $1").arg(person).build().fetch_one(self.pool()).await?;
        let mut doc: serde_json::Value =
            serde_json::from_str(&crate::s(&r, "doc")?).map_err(|e| StoreError::Corrupt(format!("people.doc: {e}")))?;
        doc["status"] = serde_json::Value::String(status.to_owned());
        if let Some(d) = exit_date {
            doc["exit_date"] = serde_json::Value::String(d.to_owned());
        }
        doc["updated_at"] = serde_json::Value::from(now);
        q("UPDATE people SET status = $1, status_reason = $2, status_since = $3, updated_at = $4, \
           exit_date = COALESCE($5, exit_date), doc = $6 WHERE id = $7")
        .arg(status)
        .arg(reason.map(str::to_owned))
        .arg(now)
        .arg(now)
        .arg(exit_date.map(str::to_owned))
        .arg(encode(&doc)?)
        .arg(person)
        .build()
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A move is finished: the old process's access is gone.
    pub async fn id_clear_move(&self, person: &str) -> Result<()> {
        q("DELETE FROM id_moves WHERE person_id = $1").arg(person).build().execute(self.pool()).await?;
        Ok(())
    }

    // ---- targets ----------------------------------------------------------------------

    /// Every target.
    pub async fn id_targets(&self) -> Result<Vec<TargetRow>> {
        self.read_all(Q::new(&format!("SELECT {TARGET_COLS} FROM id_targets ORDER BY name")), target_of).await
    }

    /// One target.
    pub async fn id_target(&self, id: &str) -> Result<TargetRow> {
        let r = q(&format!("SELECT {TARGET_COLS} FROM id_targets WHERE id = $1"))
            .arg(id)
            .build()
            .fetch_one(self.pool())
            .await?;
        target_of(&r)
    }

    /// Creates or replaces a target.
    pub async fn id_target_upsert(
        &self,
        t: &Target,
        config: &serde_json::Value,
        enabled: bool,
        now: i64,
    ) -> Result<()> {
        q("INSERT INTO id_targets (id, name, kind, process_id, correlation, config, enabled, created_at) \
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
           kind = excluded.kind, process_id = excluded.process_id, correlation = excluded.correlation, \
           config = excluded.config, enabled = excluded.enabled")
        .arg(t.id.as_str())
        .arg(t.name.as_str())
        .arg(wire(&t.kind))
        .arg(t.process.clone())
        .arg(wire(&t.correlation))
        .arg(encode(config)?)
        .arg(enabled)
        .arg(now)
        .build()
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records the outcome of reading a target.
    pub async fn id_target_read_outcome(&self, id: &str, at: i64, error: Option<&str>) -> Result<()> {
        q("UPDATE id_targets SET last_read_at = $1, last_error = $2 WHERE id = $3")
            .arg(at)
            .arg(error.map(str::to_owned))
            .arg(id)
            .build()
            .execute(self.pool())
            .await?;
        Ok(())
    }

    // ---- accounts ---------------------------------------------------------------------

    /// Every account known (present or gone), or those of the given owners.
    pub async fn id_accounts(&self, owners: Option<&[String]>) -> Result<Vec<AccountRow>> {
        let mut qb = Q::new(&format!("SELECT {ACCOUNT_COLS} FROM id_accounts"));
        if let Some(ids) = owners {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            push_in(&mut qb, " WHERE owner_id", ids);
        }
        qb.push(" ORDER BY target_id, account_key");
        self.read_all(qb, account_of).await
    }

    /// How many present accounts are enabled (the circuit breaker's base).
    pub async fn id_enabled_accounts(&self) -> Result<i64> {
        let r = sqlx::query("SELECT COUNT(*) AS n FROM id_accounts WHERE present = 1 AND enabled = 1")
            .fetch_one(self.pool())
            .await?;
        crate::i(&r, "n")
    }

    /// Accounts in one situation (e.g. the orphan queue), at most `limit`.
    pub async fn id_accounts_in(&self, situation: &str, limit: i64) -> Result<Vec<AccountRow>> {
        let qb = q(&format!(
            "SELECT {ACCOUNT_COLS} FROM id_accounts WHERE situation = $1 AND present = 1 \
             ORDER BY target_id, account_key LIMIT $2"
        ))
        .arg(situation)
        .arg(limit);
        self.read_all(qb, account_of).await
    }

    /// Stores what a target reported: every account upserted as present (owner and
    /// situation kept), accounts the target no longer holds marked gone. One transaction.
    pub async fn id_accounts_store_read(&self, target: &str, accounts: &[Account], now: i64) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        for a in accounts {
            let ents: Vec<&String> = a.entitlements.iter().collect();
            q("INSERT INTO id_accounts (target_id, account_key, login, employee_id, email, enabled, entitlements, \
               last_used, situation, present, seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'unmatched', 1, $9) \
               ON CONFLICT (target_id, account_key) DO UPDATE SET login = excluded.login, \
               employee_id = excluded.employee_id, email = excluded.email, enabled = excluded.enabled, \
               entitlements = excluded.entitlements, last_used = excluded.last_used, present = 1, \
               seen_at = excluded.seen_at")
            .arg(target)
            .arg(a.key.as_str())
            .arg(a.login.as_str())
            .arg(a.employee_id.clone())
            .arg(a.email.clone())
            .arg(a.enabled)
            .arg(encode(&ents)?)
            .arg(a.last_used)
            .arg(now)
            .build()
            .execute(&mut *tx)
            .await?;
        }
        q("UPDATE id_accounts SET present = 0 WHERE target_id = $1 AND seen_at < $2")
            .arg(target)
            .arg(now)
            .build()
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Writes reconciliation's verdicts (owner links and situations). One transaction.
    pub async fn id_accounts_set_verdicts(&self, verdicts: &[AccountVerdict]) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        for v in verdicts {
            // A kept link (no new source) keeps its recorded source; no owner, no source.
            q("UPDATE id_accounts SET owner_id = $1, \
               link_source = CASE WHEN $2 = '' THEN NULL ELSE COALESCE($3, link_source) END, situation = $4 \
               WHERE target_id = $5 AND account_key = $6")
            .arg(v.owner.clone())
            .arg(v.owner.clone().unwrap_or_default())
            .arg(v.link_source.clone())
            .arg(v.situation.as_str())
            .arg(v.target.as_str())
            .arg(v.key.as_str())
            .build()
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Assigns an owner by hand (orphan queue).
    pub async fn id_account_assign_owner(&self, target: &str, key: &str, owner: &str) -> Result<()> {
        let n = q("UPDATE id_accounts SET owner_id = $1, link_source = 'manual', situation = 'linked' \
                   WHERE target_id = $2 AND account_key = $3")
        .arg(owner)
        .arg(target)
        .arg(key)
        .build()
        .execute(self.pool())
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        q("DELETE FROM id_flags WHERE target_id = $1 AND account_key = $2 AND kind = 'orphan'")
            .arg(target)
            .arg(key)
            .build()
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Mirrors an applied action on the stored account, so pages and controls show the
    /// new state before the next full read of the target.
    pub async fn id_account_applied(
        &self,
        target: &str,
        key: &str,
        owner: Option<&str>,
        op: &bposhield_identity::model::Op,
        now: i64,
    ) -> Result<()> {
        use bposhield_identity::model::Op;
        let current = q(&format!("SELECT {ACCOUNT_COLS} FROM id_accounts WHERE target_id = $1 AND account_key = $2"))
            .arg(target)
            .arg(key)
            .build()
            .fetch_optional(self.pool())
            .await?
            .map(|r| account_of(&r))
            .transpose()?;
        let Some(mut row) = current else {
            if let Op::Create { login, entitlements } = op {
                let acc = Account {
                    target: target.to_owned(),
                    key: key.to_owned(),
                    login: login.clone(),
                    employee_id: None,
                    email: None,
                    enabled: true,
                    entitlements: entitlements.clone(),
                    last_used: None,
                };
                self.id_accounts_insert_one(&acc, owner, now).await?;
            }
            return Ok(());
        };
        // Each op writes only the column it changes, so two actions on one account (on
        // two replicas) cannot undo each other's effect.
        match op {
            Op::Disable | Op::Enable | Op::Create { .. } => {
                q("UPDATE id_accounts SET enabled = $1 WHERE target_id = $2 AND account_key = $3")
                    .arg(!matches!(op, Op::Disable))
                    .arg(target)
                    .arg(key)
                    .build()
                    .execute(self.pool())
                    .await?;
            }
            Op::Delete => {
                q("UPDATE id_accounts SET present = 0, situation = 'deleted' WHERE target_id = $1 AND account_key = $2")
                    .arg(target)
                    .arg(key)
                    .build()
                    .execute(self.pool())
                    .await?;
            }
            Op::Grant { entitlement } | Op::Revoke { entitlement } => {
                if matches!(op, Op::Grant { .. }) {
                    row.account.entitlements.insert(entitlement.clone());
                } else {
                    row.account.entitlements.remove(entitlement);
                }
                let ents: Vec<&String> = row.account.entitlements.iter().collect();
                q("UPDATE id_accounts SET entitlements = $1 WHERE target_id = $2 AND account_key = $3")
                    .arg(encode(&ents)?)
                    .arg(target)
                    .arg(key)
                    .build()
                    .execute(self.pool())
                    .await?;
            }
        }
        Ok(())
    }

    async fn id_accounts_insert_one(&self, a: &Account, owner: Option<&str>, now: i64) -> Result<()> {
        let ents: Vec<&String> = a.entitlements.iter().collect();
        q("INSERT INTO id_accounts (target_id, account_key, login, employee_id, email, enabled, entitlements, \
           last_used, owner_id, link_source, situation, present, seen_at) \
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'created', $10, 1, $11) ON CONFLICT (target_id, account_key) \
           DO UPDATE SET enabled = excluded.enabled, present = 1")
        .arg(a.target.as_str())
        .arg(a.key.as_str())
        .arg(a.login.as_str())
        .arg(a.employee_id.clone())
        .arg(a.email.clone())
        .arg(a.enabled)
        .arg(encode(&ents)?)
        .arg(a.last_used)
        .arg(owner.map(str::to_owned))
        .arg(if owner.is_some() { "linked" } else { "unmatched" })
        .arg(now)
        .build()
        .execute(self.pool())
        .await?;
        Ok(())
    }

    // ---- activity, policies, birthrights ----------------------------------------------

    /// Records activity (badge, login, attendance): the latest time per person and kind.
    pub async fn id_activity_record(&self, events: &[(String, String, i64)]) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        for (person, kind, at) in events {
            q("INSERT INTO id_activity (person_id, kind, last_at) VALUES ($1, $2, $3) \
               ON CONFLICT (person_id, kind) DO UPDATE SET last_at = \
               CASE WHEN excluded.last_at > id_activity.last_at THEN excluded.last_at ELSE id_activity.last_at END")
            .arg(person.as_str())
            .arg(kind.as_str())
            .arg(*at)
            .build()
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The latest activity of every person, over all feeds.
    pub async fn id_activity_last(&self) -> Result<HashMap<String, i64>> {
        let rows = self
            .read_all(Q::new("SELECT person_id, MAX(last_at) AS at FROM id_activity GROUP BY person_id"), |r| {
                Ok((r.req_text("person_id")?, r.req_int("at")?))
            })
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// A person's latest activity per feed.
    pub async fn id_activity_of(&self, person: &str) -> Result<Vec<(String, i64)>> {
        let qb = q("SELECT kind, last_at FROM id_activity WHERE person_id = $1 ORDER BY kind").arg(person);
        self.read_all(qb, |r| Ok((r.req_text("kind")?, r.req_int("last_at")?))).await
    }

    /// Stored policies: `(process id or "" for the default, JSON)`.
    pub async fn id_policies(&self) -> Result<Vec<(String, String)>> {
        self.read_all(Q::new("SELECT process_id, policy FROM id_policies ORDER BY process_id"), |r| {
            Ok((r.req_text("process_id")?, r.req_text("policy")?))
        })
        .await
    }

    /// Sets the policy of a process ("" = the default).
    pub async fn id_policy_set(&self, process: &str, policy: &str, now: i64) -> Result<()> {
        q("INSERT INTO id_policies (process_id, policy, updated_at) VALUES ($1, $2, $3) \
           ON CONFLICT (process_id) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at")
        .arg(process)
        .arg(policy)
        .arg(now)
        .build()
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Birthright rules: `(id, process id, job role, target id, entitlement)`.
    pub async fn id_birthrights(&self) -> Result<Vec<(String, Option<String>, Option<String>, String, String)>> {
        let qb = Q::new(
            "SELECT id, process_id, job_role, target_id, entitlement FROM id_birthrights ORDER BY target_id, entitlement",
        );
        self.read_all(qb, |r| {
            Ok((
                r.req_text("id")?,
                r.text("process_id")?,
                r.text("job_role")?,
                r.req_text("target_id")?,
                r.req_text("entitlement")?,
            ))
        })
        .await
    }

    /// Adds a birthright rule.
    pub async fn id_birthright_add(
        &self,
        id: &str,
        process: Option<&str>,
        job_role: Option<&str>,
        target: &str,
        entitlement: &str,
        now: i64,
    ) -> Result<()> {
        q("INSERT INTO id_birthrights (id, process_id, job_role, target_id, entitlement, created_at) \
           VALUES ($1, $2, $3, $4, $5, $6)")
        .arg(id)
        .arg(process.map(str::to_owned))
        .arg(job_role.map(str::to_owned))
        .arg(target)
        .arg(entitlement)
        .arg(now)
        .build()
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Time-bound assignments: `(person, target, entitlement, from, until)`.
    pub async fn id_assignments(&self) -> Result<Vec<(String, String, String, i64, Option<i64>)>> {
        let qb = Q::new("SELECT person_id, target_id, entitlement, from_at, until_at FROM id_assignments ORDER BY id");
        self.read_all(qb, |r| {
            Ok((
                r.req_text("person_id")?,
                r.req_text("target_id")?,
                r.req_text("entitlement")?,
                r.req_int("from_at")?,
                r.int("until_at")?,
            ))
        })
        .await
    }

    // ---- HR events, absences -------------------------------------------------------------

    /// Records HR events.
    pub async fn id_hr_events_add(&self, events: &[HrEventRow]) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        for e in events {
            q("INSERT INTO id_hr_events (id, person_id, at, source, kind, detail) VALUES ($1, $2, $3, $4, $5, $6)")
                .arg(e.id.as_str())
                .arg(e.person_id.as_str())
                .arg(e.at)
                .arg(e.source.as_str())
                .arg(e.kind.as_str())
                .arg(encode(&e.detail)?)
                .build()
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A person's HR events, newest first.
    pub async fn id_hr_events_of(&self, person: &str, limit: i64) -> Result<Vec<HrEventRow>> {
        let qb = q("SELECT id, person_id, at, source, kind, detail FROM id_hr_events WHERE person_id = $1 \
                    ORDER BY at DESC, id DESC LIMIT $2")
        .arg(person)
        .arg(limit);
        self.read_all(qb, |r| {
            Ok(HrEventRow {
                id: r.req_text("id")?,
                person_id: r.req_text("person_id")?,
                at: r.req_int("at")?,
                source: r.req_text("source")?,
                kind: r.req_text("kind")?,
                detail: json_col(r, "detail")?,
            })
        })
        .await
    }

    /// Consecutive full-feed absences per person.
    pub async fn id_hr_absences(&self) -> Result<HashMap<String, i64>> {
        let rows = self
            .read_all(Q::new("SELECT person_id, misses FROM id_hr_absence"), |r| {
                Ok((r.req_text("person_id")?, r.req_int("misses")?))
            })
            .await?;
        Ok(rows.into_iter().collect())
    }

    // ---- plans and the action queue -------------------------------------------------------

    /// Stores a plan and its actions in one transaction. An action whose change is
    /// already pending for the same account is skipped (idempotent queueing); a plan all
    /// of whose actions are pending already is not stored at all. Returns how many were
    /// queued.
    pub async fn id_plan_insert(&self, plan: &PlanRow, actions: &[ActionRow], work_due: Option<i64>) -> Result<u64> {
        let mut tx = self.pool().begin().await?;
        q(&format!("INSERT INTO id_plans ({PLAN_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"))
            .arg(plan.id.as_str())
            .arg(plan.kind.as_str())
            .arg(plan.status.as_str())
            .arg(plan.cause.as_str())
            .arg(plan.created_at)
            .arg(plan.created_by.as_str())
            .arg(encode(&plan.summary)?)
            .arg(plan.breaker.as_ref().map(encode).transpose()?)
            .arg(plan.decided_by.clone())
            .arg(plan.decided_at)
            .arg(plan.decision_note.clone())
            .build()
            .execute(&mut *tx)
            .await?;
        let mut queued = 0;
        for a in actions {
            // Simulated actions are a record of the dry-run, never queue keys.
            let key = (a.status != "simulated").then(|| open_key(a));
            let n = q(&format!(
                "INSERT INTO id_actions ({ACTION_COLS}, open_key) VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT (open_key) DO NOTHING"
            ))
            .arg(a.id.as_str())
            .arg(a.plan_id.as_str())
            .arg(a.person_id.clone())
            .arg(a.target_id.as_str())
            .arg(a.account_key.clone())
            .arg(a.op.as_str())
            .arg(a.op_name.as_str())
            .arg(a.reason.as_str())
            .arg(a.status.as_str())
            .arg(a.attempts)
            .arg(a.next_at)
            .arg(a.last_error.clone())
            .arg(a.created_at)
            .arg(a.done_at)
            .arg(key)
            .build()
            .execute(&mut *tx)
            .await?
            .rows_affected();
            queued += n;
            if n > 0 && a.status == "manual" {
                if let Some(due) = work_due {
                    q("INSERT INTO id_work_items (action_id, due_at) VALUES ($1, $2)")
                        .arg(a.id.as_str())
                        .arg(due)
                        .build()
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        if queued == 0 && !actions.is_empty() && plan.status != "simulated" {
            // Every change is already pending in an earlier plan (a reconciliation while
            // one is held, two replicas at once): no second plan for the same work.
            tx.rollback().await?;
            return Ok(0);
        }
        tx.commit().await?;
        Ok(queued)
    }

    /// Recent plans, newest first.
    pub async fn id_plans(&self, status: Option<&str>, limit: i64) -> Result<Vec<PlanRow>> {
        let mut qb = Q::new(&format!("SELECT {PLAN_COLS} FROM id_plans"));
        if let Some(s) = status {
            qb.push(" WHERE status = ").bind(s);
        }
        qb.push(" ORDER BY created_at DESC, id DESC LIMIT ").bind(limit);
        self.read_all(qb, plan_of).await
    }

    /// One plan.
    pub async fn id_plan(&self, id: &str) -> Result<PlanRow> {
        let r = q(&format!("SELECT {PLAN_COLS} FROM id_plans WHERE id = $1"))
            .arg(id)
            .build()
            .fetch_one(self.pool())
            .await?;
        plan_of(&r)
    }

    /// Decides a held plan: `approved` queues its actions, `rejected` cancels them.
    /// Only a plan still `held` can be decided (a second click changes nothing).
    pub async fn id_plan_decide(&self, id: &str, approve: bool, by: &str, note: &str, now: i64) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let status = if approve { "approved" } else { "rejected" };
        let n = q("UPDATE id_plans SET status = $1, decided_by = $2, decided_at = $3, decision_note = $4 \
                   WHERE id = $5 AND status = 'held'")
        .arg(status)
        .arg(by)
        .arg(now)
        .arg(note)
        .arg(id)
        .build()
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        if approve {
            // Scheduled actions (deletion after retention) keep their time.
            q("UPDATE id_actions SET status = 'queued', next_at = CASE WHEN next_at < $1 THEN $1 ELSE next_at END \
               WHERE plan_id = $2 AND status = 'held'")
            .arg(now)
            .arg(id)
            .build()
            .execute(&mut *tx)
            .await?;
            q("UPDATE id_actions SET status = 'manual' WHERE plan_id = $1 AND status = 'held_manual'")
                .arg(id)
                .build()
                .execute(&mut *tx)
                .await?;
        } else {
            q("UPDATE id_actions SET status = 'cancelled', open_key = NULL, done_at = $1 \
               WHERE plan_id = $2 AND status IN ('held', 'held_manual')")
            .arg(now)
            .arg(id)
            .build()
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The actions of a plan.
    pub async fn id_plan_actions(&self, plan: &str, limit: i64) -> Result<Vec<ActionRow>> {
        let qb = q(&format!(
            "SELECT {ACTION_COLS} FROM id_actions WHERE plan_id = $1 ORDER BY target_id, account_key, op_name LIMIT $2"
        ))
        .arg(plan)
        .arg(limit);
        self.read_all(qb, action_of).await
    }

    /// A person's actions, newest first.
    pub async fn id_person_actions(&self, person: &str, limit: i64) -> Result<Vec<ActionRow>> {
        let qb = q(&format!(
            "SELECT {ACTION_COLS} FROM id_actions WHERE person_id = $1 AND status <> 'simulated' \
             ORDER BY created_at DESC, id DESC LIMIT $2"
        ))
        .arg(person)
        .arg(limit);
        self.read_all(qb, action_of).await
    }

    /// Claims up to `limit` due actions for this replica. A claim is a lease until
    /// `lease_until`: a replica that dies mid-action leaves it to be claimed again.
    pub async fn id_actions_claim(&self, me: &str, now: i64, lease_until: i64, limit: i64) -> Result<Vec<ActionRow>> {
        let qb = q(&format!(
            "UPDATE id_actions SET status = 'running', claimed_by = $1, next_at = $2 WHERE id IN \
             (SELECT id FROM id_actions WHERE status IN ('queued', 'running') AND next_at <= $3 \
              ORDER BY next_at, id LIMIT $4) AND status IN ('queued', 'running') AND next_at <= $5 \
             RETURNING {ACTION_COLS}"
        ))
        .arg(me)
        .arg(lease_until)
        .arg(now)
        .arg(limit)
        .arg(now);
        let rows = qb.build().fetch_all(self.pool()).await?;
        rows.iter().map(|r| action_of(r)).collect()
    }

    /// Finishes an action: `done`, `failed`, or back to `queued` for a retry at `next_at`.
    pub async fn id_action_finish(
        &self,
        id: &str,
        status: &str,
        attempts: i64,
        next_at: i64,
        error: Option<&str>,
        now: i64,
    ) -> Result<()> {
        let finished = matches!(status, "done" | "failed" | "cancelled");
        q("UPDATE id_actions SET status = $1, attempts = $2, next_at = $3, last_error = $4, \
           done_at = CASE WHEN $5 = 1 THEN $6 ELSE done_at END, \
           open_key = CASE WHEN $7 = 1 THEN NULL ELSE open_key END WHERE id = $8")
        .arg(status)
        .arg(attempts)
        .arg(next_at)
        .arg(error.map(str::to_owned))
        .arg(finished)
        .arg(now)
        .arg(finished)
        .arg(id)
        .build()
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Counts of actions per status.
    pub async fn id_action_counts(&self) -> Result<Vec<(String, i64)>> {
        self.read_all(Q::new("SELECT status, COUNT(*) AS n FROM id_actions GROUP BY status ORDER BY status"), |r| {
            Ok((r.req_text("status")?, r.req_int("n")?))
        })
        .await
    }

    // ---- manual work items -----------------------------------------------------------------

    /// Work items, open ones first by due time.
    pub async fn id_work_items(&self, open_only: bool, limit: i64) -> Result<Vec<WorkItemRow>> {
        let cols = ACTION_COLS.split(", ").map(|c| format!("a.{c}")).collect::<Vec<_>>().join(", ");
        let mut qb = Q::new(&format!(
            "SELECT {cols}, t.name AS target_name, w.due_at, w.escalated_at, w.completed_by, w.completed_at, w.proof \
             FROM id_work_items w JOIN id_actions a ON a.id = w.action_id JOIN id_targets t ON t.id = a.target_id"
        ));
        if open_only {
            qb.push(" WHERE w.completed_at IS NULL");
        }
        // Open items first on both databases (NULL sorts differently in each).
        qb.push(" ORDER BY CASE WHEN w.completed_at IS NULL THEN 0 ELSE 1 END, w.due_at, w.completed_at DESC LIMIT ")
            .bind(limit);
        self.read_all(qb, |r| {
            Ok(WorkItemRow {
                action: action_of(r)?,
                target_name: r.req_text("target_name")?,
                due_at: r.req_int("due_at")?,
                escalated_at: r.int("escalated_at")?,
                completed_by: r.text("completed_by")?,
                completed_at: r.int("completed_at")?,
                proof: r.text("proof")?,
            })
        })
        .await
    }

    /// Completes a work item with proof; returns the action, or `NotFound` if the item
    /// does not exist or is already completed.
    pub async fn id_work_item_complete(&self, action: &str, by: &str, proof: &str, now: i64) -> Result<ActionRow> {
        let mut tx = self.pool().begin().await?;
        let n = q("UPDATE id_work_items SET completed_by = $1, completed_at = $2, proof = $3 \
                   WHERE action_id = $4 AND completed_at IS NULL")
        .arg(by)
        .arg(now)
        .arg(proof)
        .arg(action)
        .build()
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        let r = q(&format!(
            "UPDATE id_actions SET status = 'done', done_at = $1, open_key = NULL WHERE id = $2 RETURNING {ACTION_COLS}"
        ))
        .arg(now)
        .arg(action)
        .build()
        .fetch_one(&mut *tx)
        .await?;
        let row = action_of(&r)?;
        tx.commit().await?;
        Ok(row)
    }

    /// Marks overdue work items escalated; returns the newly escalated action ids.
    pub async fn id_work_items_escalate(&self, now: i64) -> Result<Vec<String>> {
        let rows = q("UPDATE id_work_items SET escalated_at = $1 WHERE completed_at IS NULL AND escalated_at IS NULL \
                      AND due_at < $2 RETURNING action_id")
        .arg(now)
        .arg(now)
        .build()
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| crate::s(r, "action_id")).collect()
    }

    // ---- flags -----------------------------------------------------------------------------

    /// Replaces the flags reconciliation found, keeping the first-seen time of flags that
    /// persist.
    pub async fn id_flags_replace(&self, flags: &[FlagRow]) -> Result<()> {
        // Read before the transaction: on SQLite a transaction that reads and then writes
        // fails at once (SQLITE_BUSY) when another writer committed in between, while one
        // that starts by writing waits its turn.
        let old: HashMap<(String, String, String), i64> = q("SELECT target_id, account_key, kind, since FROM id_flags")
            .build()
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| {
                Ok((
                    (crate::s(r, "target_id")?, crate::s(r, "account_key")?, crate::s(r, "kind")?),
                    crate::i(r, "since")?,
                ))
            })
            .collect::<Result<_>>()?;
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM id_flags").execute(&mut *tx).await?;
        for f in flags {
            let since =
                old.get(&(f.target_id.clone(), f.account_key.clone(), f.kind.clone())).copied().unwrap_or(f.since);
            q("INSERT INTO id_flags (target_id, account_key, kind, person_id, since) VALUES ($1, $2, $3, $4, $5) \
               ON CONFLICT (target_id, account_key, kind) DO NOTHING")
            .arg(f.target_id.as_str())
            .arg(f.account_key.as_str())
            .arg(f.kind.as_str())
            .arg(f.person_id.clone())
            .arg(since)
            .build()
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Flags of one kind (or all), oldest first.
    pub async fn id_flags(&self, kind: Option<&str>, limit: i64) -> Result<Vec<FlagRow>> {
        let mut qb = Q::new("SELECT target_id, account_key, kind, person_id, since FROM id_flags");
        if let Some(k) = kind {
            qb.push(" WHERE kind = ").bind(k);
        }
        qb.push(" ORDER BY since, target_id, account_key LIMIT ").bind(limit);
        self.read_all(qb, |r| {
            Ok(FlagRow {
                target_id: r.req_text("target_id")?,
                account_key: r.req_text("account_key")?,
                kind: r.req_text("kind")?,
                person_id: r.text("person_id")?,
                since: r.req_int("since")?,
            })
        })
        .await
    }

    // ---- access reviews ----------------------------------------------------------------------

    /// Creates a campaign with its items in one transaction.
    pub async fn id_campaign_insert(&self, c: &CampaignRow, items: &[ReviewItemRow]) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        q(&format!("INSERT INTO id_campaigns ({CAMPAIGN_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"))
            .arg(c.id.as_str())
            .arg(c.name.as_str())
            .arg(c.process_id.clone())
            .arg(c.target_id.clone())
            .arg(c.reviewer_role.as_str())
            .arg(c.deadline)
            .arg(c.default_decision.as_str())
            .arg(c.status.as_str())
            .arg(c.created_by.as_str())
            .arg(c.created_at)
            .arg(c.closed_at)
            .build()
            .execute(&mut *tx)
            .await?;
        for it in items {
            q(&format!(
                "INSERT INTO id_review_items ({ITEM_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            ))
            .arg(it.id.as_str())
            .arg(it.campaign_id.as_str())
            .arg(it.target_id.as_str())
            .arg(it.account_key.as_str())
            .arg(it.person_id.clone())
            .arg(it.team_id.clone())
            .arg(it.login.as_str())
            .arg(encode(&it.entitlements)?)
            .arg(it.decision.clone())
            .arg(it.comment.clone())
            .arg(it.decided_by.clone())
            .arg(it.decided_at)
            .arg(it.action_id.clone())
            .build()
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Campaigns, newest first.
    pub async fn id_campaigns(&self, limit: i64) -> Result<Vec<CampaignRow>> {
        let qb = q(&format!("SELECT {CAMPAIGN_COLS} FROM id_campaigns ORDER BY created_at DESC, id DESC LIMIT $1"))
            .arg(limit);
        self.read_all(qb, campaign_of).await
    }

    /// One campaign.
    pub async fn id_campaign(&self, id: &str) -> Result<CampaignRow> {
        let r = q(&format!("SELECT {CAMPAIGN_COLS} FROM id_campaigns WHERE id = $1"))
            .arg(id)
            .build()
            .fetch_one(self.pool())
            .await?;
        campaign_of(&r)
    }

    /// The items of a campaign.
    pub async fn id_review_items(&self, campaign: &str) -> Result<Vec<ReviewItemRow>> {
        let qb = q(&format!(
            "SELECT {ITEM_COLS} FROM id_review_items WHERE campaign_id = $1 ORDER BY login, target_id, account_key"
        ))
        .arg(campaign);
        self.read_all(qb, item_of).await
    }

    /// Records a decision on an undecided item of an open campaign; `false` if the item
    /// was already decided or the campaign is closed.
    pub async fn id_review_decide(
        &self,
        item: &str,
        decision: &str,
        comment: &str,
        by: &str,
        now: i64,
    ) -> Result<bool> {
        let n = q("UPDATE id_review_items SET decision = $1, comment = $2, decided_by = $3, decided_at = $4 \
                   WHERE id = $5 AND decision IS NULL AND campaign_id IN \
                   (SELECT id FROM id_campaigns WHERE status = 'open')")
        .arg(decision)
        .arg(comment)
        .arg(by)
        .arg(now)
        .arg(item)
        .build()
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// Links a revocation's action to its review item.
    pub async fn id_review_item_action(&self, item: &str, action: &str) -> Result<()> {
        q("UPDATE id_review_items SET action_id = $1 WHERE id = $2")
            .arg(action)
            .arg(item)
            .build()
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Closes a campaign: undecided items get the default decision.
    pub async fn id_campaign_close(&self, id: &str, now: i64) -> Result<CampaignRow> {
        let mut tx = self.pool().begin().await?;
        let r = q(&format!(
            "UPDATE id_campaigns SET status = 'closed', closed_at = $1 WHERE id = $2 AND status = 'open' \
             RETURNING {CAMPAIGN_COLS}"
        ))
        .arg(now)
        .arg(id)
        .build()
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let c = campaign_of(&r)?;
        q("UPDATE id_review_items SET decision = $1, comment = 'default decision: no answer by the deadline', \
           decided_by = 'system', decided_at = $2 WHERE campaign_id = $3 AND decision IS NULL")
        .arg(c.default_decision.as_str())
        .arg(now)
        .arg(id)
        .build()
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(c)
    }

    /// Open campaigns whose deadline has passed.
    pub async fn id_campaigns_due(&self, now: i64) -> Result<Vec<String>> {
        let qb = q("SELECT id FROM id_campaigns WHERE status = 'open' AND deadline <= $1 ORDER BY deadline").arg(now);
        self.read_all(qb, |r| r.req_text("id")).await
    }

    /// For people who left since `since`: seconds from the leaving event to their last
    /// account disabled (only people with at least one disable done).
    pub async fn id_exit_latencies(&self, since: i64) -> Result<Vec<i64>> {
        let qb = q("SELECT e.person_id, MIN(e.at) AS left_at, \
                    (SELECT MAX(a.done_at) FROM id_actions a WHERE a.person_id = e.person_id \
                     AND a.op_name = 'disable' AND a.status = 'done' AND a.created_at >= MIN(e.at)) AS off_at \
                    FROM id_hr_events e WHERE e.at >= $1 AND e.kind IN ('leaver', 'hr.gone', 'absconding.terminated', \
                    'absconding.exit_confirmed') GROUP BY e.person_id")
        .arg(since);
        let rows = self.read_all(qb, |r| Ok((r.req_int("left_at")?, r.int("off_at")?))).await?;
        Ok(rows.into_iter().filter_map(|(left, off)| off.map(|o| (o - left).max(0))).collect())
    }

    /// When each process last had a campaign closed (for the review control).
    pub async fn id_last_review_per_process(&self) -> Result<HashMap<String, i64>> {
        let rows = self
            .read_all(
                Q::new(
                    "SELECT process_id, MAX(closed_at) AS at FROM id_campaigns WHERE status = 'closed' \
                     AND process_id IS NOT NULL GROUP BY process_id",
                ),
                |r| Ok((r.req_text("process_id")?, r.req_int("at")?)),
            )
            .await?;
        Ok(rows.into_iter().collect())
    }
}

/// One HR batch, written in a single transaction (see [`Store::id_hr_apply`]).
#[derive(Debug, Default)]
pub struct HrBatch {
    /// New people.
    pub insert: Vec<(bposhield_proto::PersonId, bposhield_proto::PersonInput)>,
    /// Changed people: id, new fields, original creation time.
    pub update: Vec<(bposhield_proto::PersonId, bposhield_proto::PersonInput, i64)>,
    pub lifecycle: Vec<HrLifecycle>,
    pub events: Vec<HrEventRow>,
    /// For a full file: the new absence counters (replacing all), else `None`.
    pub absences: Option<Vec<(String, i64)>>,
}

impl Store {
    /// Applies an HR batch (CSV file, SCIM request) in one transaction: all or nothing.
    pub async fn id_hr_apply(&self, b: &HrBatch, now: i64) -> Result<()> {
        use crate::org::{insert_person_in, update_person_in};
        let mut tx = self.pool().begin().await?;
        for (id, p) in &b.insert {
            insert_person_in(&mut tx, *id, p, now).await?;
        }
        for (id, p, created) in &b.update {
            update_person_in(&mut tx, *id, p, *created, now).await?;
        }
        for l in &b.lifecycle {
            q("UPDATE people SET login = $1, status_reason = $2, status_since = COALESCE($3, status_since) WHERE id = $4")
                .arg(l.login.clone())
                .arg(l.status_reason.clone())
                .arg(l.status_since)
                .arg(l.person_id.as_str())
                .build()
                .execute(&mut *tx)
                .await?;
            if let Some(m) = &l.moved {
                q("INSERT INTO id_moves (person_id, from_process_id, from_team_id, at) VALUES ($1, $2, $3, $4) \
                   ON CONFLICT (person_id) DO UPDATE SET from_process_id = excluded.from_process_id, \
                   from_team_id = excluded.from_team_id, at = excluded.at")
                .arg(l.person_id.as_str())
                .arg(m.process.clone())
                .arg(m.team.clone())
                .arg(m.at)
                .build()
                .execute(&mut *tx)
                .await?;
            }
        }
        for e in &b.events {
            q("INSERT INTO id_hr_events (id, person_id, at, source, kind, detail) VALUES ($1, $2, $3, $4, $5, $6)")
                .arg(e.id.as_str())
                .arg(e.person_id.as_str())
                .arg(e.at)
                .arg(e.source.as_str())
                .arg(e.kind.as_str())
                .arg(encode(&e.detail)?)
                .build()
                .execute(&mut *tx)
                .await?;
        }
        if let Some(abs) = &b.absences {
            sqlx::query("DELETE FROM id_hr_absence").execute(&mut *tx).await?;
            for (p, n) in abs.iter().filter(|(_, n)| *n > 0) {
                q("INSERT INTO id_hr_absence (person_id, misses) VALUES ($1, $2)")
                    .arg(p.as_str())
                    .arg(*n)
                    .build()
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The people with these employee ids (as given, upper- or lower-cased: HR systems
    /// disagree on case), through the unique index: what a small HR batch (one SCIM
    /// request) compares with, without reading everyone.
    pub async fn id_people_cards_by_employee(&self, ids: &[String]) -> Result<Vec<bposhield_proto::Person>> {
        let mut variants: Vec<String> =
            ids.iter().flat_map(|e| [e.clone(), e.to_uppercase(), e.to_lowercase()]).collect();
        variants.sort();
        variants.dedup();
        let mut out = Vec::new();
        for chunk in variants.chunks(300) {
            let mut qb = Q::new("SELECT doc FROM people");
            push_in(&mut qb, " WHERE employee_id", chunk);
            out.extend(
                self.read_all(qb, |r| {
                    let d = r.req_text("doc")?;
                    serde_json::from_str(&d).map_err(|e| StoreError::Corrupt(format!("people.doc: {e}")))
                })
                .await?,
            );
        }
        Ok(out)
    }

    /// Every person as the API shows them (from each row's JSON document), for HR batches
    /// that compare a whole file with what is stored.
    pub async fn id_people_cards(&self) -> Result<Vec<bposhield_proto::Person>> {
        self.read_all(Q::new("SELECT doc FROM people ORDER BY id"), |r| {
            let d = r.req_text("doc")?;
            serde_json::from_str(&d).map_err(|e| StoreError::Corrupt(format!("people.doc: {e}")))
        })
        .await
    }
}
