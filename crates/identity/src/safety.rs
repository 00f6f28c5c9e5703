//! Guards around executing plans: a circuit breaker against mass disables, a rule for
//! people who vanish from full HR files, and retry back-off for the action queue.

use crate::model::{Op, Time};
use crate::reconcile::Plan;
use serde::{Deserialize, Serialize};

/// Holds a plan for human approval when it would disable too much at once. A truncated
/// HR file or a broken column mapping looks exactly like a mass exodus; the breaker is
/// what stops the engine from locking out the whole floor.
///
/// It trips only when **both** limits are exceeded: the absolute floor keeps a small
/// tenant (100 accounts, 10 leavers) from tripping on a normal day, the share keeps a
/// large one (900,000 accounts, a few hundred leavers a day) from tripping on normal
/// churn, which would teach approvers to click "approve" without reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Breaker {
    pub max_disables: usize,
    /// Fraction of the currently enabled accounts (0.05 = 5 %).
    pub max_share: f64,
}

impl Default for Breaker {
    fn default() -> Self {
        Self { max_disables: 50, max_share: 0.05 }
    }
}

/// Why the breaker held a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trip {
    pub disables: usize,
    pub share: f64,
    /// For the approver: what was exceeded.
    pub limit: String,
}

impl Breaker {
    /// `Some` when the plan must wait for approval. Counts every Disable in the plan,
    /// scheduled ones included: they all follow from the same input.
    #[must_use]
    pub fn check(&self, plan: &Plan, enabled_accounts: usize) -> Option<Trip> {
        let disables = plan.actions.iter().filter(|a| a.op == Op::Disable).count();
        let share = if enabled_accounts == 0 { 0.0 } else { disables as f64 / enabled_accounts as f64 };
        let over_share = if enabled_accounts == 0 { disables > 0 } else { share > self.max_share };
        (disables > self.max_disables && over_share).then(|| Trip {
            disables,
            share,
            limit: format!(
                "{disables} accounts would be disabled ({:.1} % of {enabled_accounts} enabled accounts); \
                 the limit is {} accounts and {:.1} %",
                share * 100.0,
                self.max_disables,
                self.max_share * 100.0
            ),
        })
    }
}

/// When a person missing from full HR files counts as gone. One missing file is more
/// often an export glitch than a leaver, so the server waits for several in a row.
/// Only FULL files count: a delta file lists changes, and absence from it means nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AbsencePolicy {
    pub misses_before_gone: u32,
}

impl Default for AbsencePolicy {
    fn default() -> Self {
        Self { misses_before_gone: 3 }
    }
}

impl AbsencePolicy {
    /// Whether a person with this many consecutive misses is to be terminated.
    #[must_use]
    pub fn is_gone(&self, misses: u32) -> bool {
        misses >= self.misses_before_gone.max(1)
    }
}

/// The person's new consecutive-miss count after a full HR file: reset when present.
#[must_use]
pub fn absence_update(prev_misses: u32, present_in_full_feed: bool) -> u32 {
    if present_in_full_feed {
        0
    } else {
        prev_misses.saturating_add(1)
    }
}

/// Retry timing for the persisted action queue (a target down, a rate limit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Backoff {
    pub base_secs: u32,
    pub cap_secs: u32,
    /// After this many failed attempts the action is "failed, needs a human".
    pub max_attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { base_secs: 30, cap_secs: 3600, max_attempts: 12 }
    }
}

impl Backoff {
    /// When to try again after `attempts` failures: `base · 2^(attempts-1)`, capped, minus
    /// up to a quarter as jitter. The jitter comes from a hash of the action id, not a
    /// random number: retries of a batch spread out, yet a test (and a replica replaying
    /// the queue) computes the same time. Non-decreasing in `attempts` for one id.
    #[must_use]
    pub fn next_attempt(&self, attempts: u32, now: Time, action_id: &str) -> Time {
        let exp = attempts.saturating_sub(1).min(40);
        let raw = u64::from(self.base_secs).saturating_mul(1u64 << exp).min(u64::from(self.cap_secs));
        let jitter = raw / 4 * (fnv1a(action_id) % 1024) / 1024;
        now.saturating_add(Time::try_from(raw - jitter).unwrap_or(Time::MAX))
    }

    /// Whether to stop retrying.
    #[must_use]
    pub fn gives_up(&self, attempts: u32) -> bool {
        attempts >= self.max_attempts
    }
}

/// [`Backoff::next_attempt`] with the default 30 s base and 1 h cap.
#[must_use]
pub fn next_attempt(attempts: u32, now: Time, action_id: &str) -> Time {
    Backoff::default().next_attempt(attempts, now, action_id)
}

/// [`Backoff::gives_up`] with the default 12 attempts.
#[must_use]
pub fn gives_up(attempts: u32) -> bool {
    Backoff::default().gives_up(attempts)
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}
