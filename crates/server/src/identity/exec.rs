//! The executor: runs queued actions through the target's connector.
//!
//! Actions live in the database (`id_actions`), so nothing is lost when a replica
//! stops: a claim is a lease, and an action whose claimant died is claimed again when
//! the lease runs out. Every action is idempotent (disabling a disabled account is a
//! success), so running one twice is harmless. Failures that may pass (target down,
//! timeout) are retried with exponential back-off; permanent ones and those that keep
//! failing become `failed` and show up for a human.

use crate::audit::Outcome;
use crate::ctx::Ctx;
use crate::AppState;
use bposhield_connectors::Connector;
use bposhield_identity::model::Op;
use bposhield_identity::safety::{gives_up, next_attempt};
use bposhield_store::identity::{ActionRow, TargetRow};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a claimed action is leased to this replica (seconds).
const LEASE_SECS: i64 = 300;

/// A built connector and the configuration it was built from.
type Built = (String, Arc<dyn Connector>);

/// Built connectors by target id, rebuilt when the target's configuration changes.
#[derive(Default)]
pub struct ConnectorCache(Mutex<HashMap<String, Built>>);

impl ConnectorCache {
    /// The connector for a target, built on first use.
    pub fn get(&self, t: &TargetRow, clock: &Arc<dyn bposhield_core::Clock>) -> Result<Arc<dyn Connector>, String> {
        let fingerprint = t.config.to_string();
        let mut map = self.0.lock().map_err(|_| "connector cache poisoned".to_owned())?;
        if let Some((fp, c)) = map.get(&t.target.id) {
            if *fp == fingerprint {
                return Ok(c.clone());
            }
        }
        let c = bposhield_connectors::build(&t.target, t.config.clone(), clock.clone()).map_err(|e| e.to_string())?;
        map.insert(t.target.id.clone(), (fingerprint, c.clone()));
        Ok(c)
    }

    /// Forgets a target's connector (after its configuration changed).
    pub fn forget(&self, target: &str) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(target);
        }
    }
}

/// Starts the executor on the current runtime.
pub fn spawn(state: AppState) {
    tokio::spawn(async move {
        loop {
            match run_due(&state).await {
                Ok(0) => {
                    // Nothing due: sleep until woken by a new plan, or a second (retries
                    // fall due by the injected clock, which tests move by hand).
                    let _ = tokio::time::timeout(Duration::from_secs(1), state.identity.wake.notified()).await;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "identity executor: will retry");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        }
    });
}

/// Claims and runs the actions due now; returns how many ran.
pub async fn run_due(st: &AppState) -> Result<usize, crate::AppError> {
    let now = st.clock.now();
    let limit = i64::try_from(st.config.identity.executor_concurrency * 8).unwrap_or(128);
    let claimed = st.store.id_actions_claim(&st.instance, now, now + LEASE_SECS, limit).await?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let targets: HashMap<String, TargetRow> =
        st.store.id_targets().await?.into_iter().map(|t| (t.target.id.clone(), t)).collect();
    let targets = Arc::new(targets);
    let n = claimed.len();
    // Actions on one account run one after another (entitlements first, then the
    // disable, then a deletion), so their effects on the account never interleave;
    // different accounts run concurrently.
    let mut groups: HashMap<(String, String), Vec<ActionRow>> = HashMap::new();
    for a in claimed {
        let key = a.account_key.clone().unwrap_or_else(|| format!("new:{}", a.id));
        groups.entry((a.target_id.clone(), key)).or_default().push(a);
    }
    let sem = Arc::new(tokio::sync::Semaphore::new(st.config.identity.executor_concurrency));
    let mut set = tokio::task::JoinSet::new();
    for (_, mut group) in groups {
        group.sort_by_key(|a| (op_order(&a.op_name), a.created_at));
        let st = st.clone();
        let targets = targets.clone();
        let sem = sem.clone();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            for a in group {
                if let Err(e) = run_one(&st, &targets, a).await {
                    tracing::warn!(error = %e, "identity action could not be recorded");
                }
            }
        });
    }
    while set.join_next().await.is_some() {}
    Ok(n)
}

/// Order of ops on one account: create, grants and revocations, enable/disable, delete.
fn op_order(op: &str) -> u8 {
    match op {
        "create" => 0,
        "grant" | "revoke" => 1,
        "enable" | "disable" => 2,
        _ => 3,
    }
}

/// The account a Create action should make, from its person's HR card.
async fn joiner(st: &AppState, a: &ActionRow, op: &Op) -> Option<bposhield_connectors::NewAccount> {
    let Op::Create { login, entitlements } = op else { return None };
    let pid = a.person_id.as_deref()?.parse::<bposhield_proto::PersonId>().ok()?;
    let p = st.store.person(pid).await.ok()?;
    Some(bposhield_connectors::NewAccount {
        login: login.clone(),
        given_name: Some(p.given_name),
        family_name: Some(p.family_name),
        email: p.email,
        employee_id: Some(p.employee_id),
        entitlements: entitlements.clone(),
        attributes: std::collections::BTreeMap::new(),
    })
}

async fn run_one(st: &AppState, targets: &HashMap<String, TargetRow>, a: ActionRow) -> Result<(), crate::AppError> {
    let ctx = Ctx::system(&format!("action-{}", a.id));
    let attempts = a.attempts + 1;
    let outcome: Result<String, (bool, String)> = match (targets.get(&a.target_id), serde_json::from_str::<Op>(&a.op)) {
        (None, _) => Err((false, "the target no longer exists".into())),
        (_, Err(e)) => Err((false, format!("unreadable action: {e}"))),
        (Some(t), Ok(op)) => match st.identity.connectors.get(t, &st.clock) {
            Err(e) => Err((false, format!("connector configuration: {e}"))),
            Ok(conn) => {
                let timeout = Duration::from_secs(60);
                let run = async {
                    match (&op, joiner(st, &a, &op).await) {
                        // A joiner's account gets their names, e-mail and employee number.
                        (Op::Create { .. }, Some(new)) => conn.create(&new).await,
                        _ => conn.apply(a.account_key.as_deref(), &op).await,
                    }
                };
                match tokio::time::timeout(timeout, run).await {
                    Err(_) => Err((true, "timed out after 60 s".into())),
                    Ok(Ok(returned)) => {
                        // The stored key is the one reconciliation read; the connector's answer
                        // matters only for a new account.
                        let key = a.account_key.clone().unwrap_or(returned);
                        st.store
                            .id_account_applied(&a.target_id, &key, a.person_id.as_deref(), &op, st.clock.now())
                            .await?;
                        Ok(key)
                    }
                    Ok(Err(e)) => Err((e.retryable(), e.to_string())),
                }
            }
        },
    };
    let now = st.clock.now();
    let object = format!("account:{}/{}", a.target_id, a.account_key.as_deref().unwrap_or("new"));
    match outcome {
        Ok(key) => {
            st.store.id_action_finish(&a.id, "done", attempts, now, None, now).await?;
            st.audit(
                &ctx,
                &format!("identity.action.{}", a.op_name),
                &object,
                Outcome::Success,
                json!({ "action": a.id, "plan": a.plan_id, "person": a.person_id, "reason": a.reason, "key": key }),
            )
            .await?;
        }
        Err((retryable, msg)) => {
            let give_up = !retryable || gives_up(u32::try_from(attempts).unwrap_or(u32::MAX));
            let (status, next) = if give_up {
                ("failed", now)
            } else {
                ("queued", next_attempt(u32::try_from(attempts).unwrap_or(u32::MAX), now, &a.id))
            };
            st.store.id_action_finish(&a.id, status, attempts, next, Some(&msg), now).await?;
            st.audit(
                &ctx,
                &format!("identity.action.{}", a.op_name),
                &object,
                Outcome::Failure,
                json!({ "action": a.id, "plan": a.plan_id, "attempt": attempts, "error": msg, "will_retry": !give_up }),
            )
            .await?;
        }
    }
    Ok(())
}
