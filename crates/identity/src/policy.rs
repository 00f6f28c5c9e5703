//! Lifecycle policies as data, one per process unit, stored by the server as JSON.
//!
//! Every field has a default so that `{}` is a complete policy and a process unit only
//! states what it does differently (a client that wants absconders cut off after two days
//! writes `{"absconding": {"after_days": 2}}`). Unknown fields are rejected: a misspelt
//! `grace_day` silently falling back to the default would be a security bug.

use crate::model::{Time, DAY};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the engine does for the people (and orphan accounts) of one process unit.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    pub leaver: LeaverPolicy,
    pub absconding: AbscondingPolicy,
    pub mover: MoverPolicy,
    pub dormant: DormantPolicy,
    /// Revoke entitlements that no birthright or assignment explains. Off by default:
    /// directories carry hand-granted groups, and revoking them unannounced breaks work;
    /// the drift is reported as flags instead until the rules are complete.
    pub revoke_unexpected: bool,
    /// Disable accounts nobody owns. Off by default: service and shared accounts look
    /// exactly like orphans until someone assigns an owner.
    pub disable_orphans: bool,
}

/// Leavers lose every account at once; the accounts are deleted later so that mail and
/// files can be handed over and an investigation still finds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeaverPolicy {
    /// Days from the exit (or termination) date to deletion.
    pub delete_after_days: u32,
}

impl Default for LeaverPolicy {
    fn default() -> Self {
        Self { delete_after_days: 30 }
    }
}

/// Agents who stop turning up keep working badges and logins unless someone notices;
/// this turns "no activity for N days" into a suspension and later a termination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AbscondingPolicy {
    /// Off for units without a reliable activity feed (they would all look absconded).
    pub enabled: bool,
    /// Days without badge-in, login or attendance before the person is suspended.
    pub after_days: u32,
    /// Days without activity before a suspended absconder is terminated. Counted on the
    /// same clock as `after_days`, and never sooner than `terminate_after_days -
    /// after_days` after the suspension itself, so a late detection still leaves the
    /// person the full window to come back.
    pub terminate_after_days: u32,
}

impl Default for AbscondingPolicy {
    fn default() -> Self {
        Self { enabled: true, after_days: 3, terminate_after_days: 7 }
    }
}

/// Movers keep old-process access only for the hand-over period.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MoverPolicy {
    /// Days after the move before old-process access goes. The old process's policy
    /// decides: it is that client's data being protected.
    pub grace_days: u32,
}

/// Accounts nobody uses are attack surface; they are flagged for review, not disabled,
/// because seasonal and back-up staff legitimately go quiet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DormantPolicy {
    pub enabled: bool,
    /// Days since the account's last use before it is flagged.
    pub after_days: u32,
}

impl Default for DormantPolicy {
    fn default() -> Self {
        Self { enabled: true, after_days: 90 }
    }
}

/// The default policy plus overrides per process unit code.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicySet {
    pub default: Policy,
    pub per_process: BTreeMap<String, Policy>,
}

/// A policy the engine refuses to run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("the policy document could not be read: {0}")]
    Json(String),
    #[error("a per-process policy has an empty process code")]
    EmptyProcess,
    #[error("{scope}: {field} must be at least 1 day")]
    Zero { scope: String, field: &'static str },
    #[error("{scope}: {field} is {days} days, more than the maximum of {MAX_DAYS} days (10 years)")]
    TooLong { scope: String, field: &'static str, days: u32 },
    #[error(
        "{scope}: absconding.terminate_after_days ({terminate}) must be greater than absconding.after_days \
         ({after}), so a suspended person has time to come back before being terminated"
    )]
    TerminateNotAfterSuspend { scope: String, after: u32, terminate: u32 },
}

/// No day count beyond ten years: larger values are typos and would overflow nothing,
/// but would quietly disable the rule.
pub const MAX_DAYS: u32 = 3650;

impl PolicySet {
    /// The policy of a process unit, or the default for people without one (and for
    /// units without an override).
    #[must_use]
    pub fn for_process(&self, process: Option<&str>) -> &Policy {
        process.and_then(|p| self.per_process.get(p)).unwrap_or(&self.default)
    }

    /// Reads and validates a stored policy document.
    ///
    /// # Errors
    /// Malformed JSON, unknown fields, or any [`PolicySet::validate`] error.
    pub fn from_json(text: &str) -> Result<Self, PolicyError> {
        let set: Self = serde_json::from_str(text).map_err(|e| PolicyError::Json(e.to_string()))?;
        set.validate()?;
        Ok(set)
    }

    /// Checks every policy; the first problem found is returned.
    ///
    /// # Errors
    /// See [`PolicyError`].
    pub fn validate(&self) -> Result<(), PolicyError> {
        self.default.validate("default policy")?;
        for (process, policy) in &self.per_process {
            if process.trim().is_empty() {
                return Err(PolicyError::EmptyProcess);
            }
            policy.validate(&format!("policy for process \"{process}\""))?;
        }
        Ok(())
    }
}

impl Policy {
    fn validate(&self, scope: &str) -> Result<(), PolicyError> {
        let days = [
            ("leaver.delete_after_days", self.leaver.delete_after_days, false),
            ("absconding.after_days", self.absconding.after_days, self.absconding.enabled),
            ("absconding.terminate_after_days", self.absconding.terminate_after_days, false),
            ("mover.grace_days", self.mover.grace_days, false),
            ("dormant.after_days", self.dormant.after_days, self.dormant.enabled),
        ];
        for (field, value, must_be_positive) in days {
            if must_be_positive && value == 0 {
                return Err(PolicyError::Zero { scope: scope.to_owned(), field });
            }
            if value > MAX_DAYS {
                return Err(PolicyError::TooLong { scope: scope.to_owned(), field, days: value });
            }
        }
        let a = &self.absconding;
        if a.enabled && a.terminate_after_days <= a.after_days {
            return Err(PolicyError::TerminateNotAfterSuspend {
                scope: scope.to_owned(),
                after: a.after_days,
                terminate: a.terminate_after_days,
            });
        }
        Ok(())
    }
}

/// A day count as seconds.
pub(crate) fn days(d: u32) -> Time {
    Time::from(d) * DAY
}
