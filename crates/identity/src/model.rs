//! The shared vocabulary of the engine, the connectors and the server.
//!
//! Times are Unix seconds (UTC) and always passed in: the engine never reads a clock.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Unix seconds, UTC.
pub type Time = i64;

/// One day in seconds.
pub const DAY: Time = 86_400;

/// Where HR says a person stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Employment {
    Active,
    Suspended { reason: SuspendReason },
    Terminated,
}

impl Employment {
    /// The wire name of the status alone (`active`, `suspended`, `terminated`).
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended { .. } => "suspended",
            Self::Terminated => "terminated",
        }
    }
}

/// Why a person is suspended.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuspendReason {
    /// No badge-in, login or attendance for the policy's number of days.
    Absconding,
    /// Suspended by HR (leave, investigation, …): the text says why.
    Hr(String),
}

/// A person as HR and the platform know them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// Platform person id.
    pub id: String,
    /// HR's employee number: the usual correlation key on targets.
    pub employee_id: String,
    pub email: Option<String>,
    /// The login name the person has (or should get) on directory-style targets.
    pub login: Option<String>,
    pub employment: Employment,
    /// When `employment` last changed.
    pub status_since: Option<Time>,
    /// Start of the first day the person no longer works here (HR's exit date).
    pub exit_at: Option<Time>,
    pub hire_at: Time,
    /// Site code.
    pub site: String,
    /// Process unit code (client process), if assigned.
    pub process: Option<String>,
    /// Team name within the process, if assigned.
    pub team: Option<String>,
    pub job_role: String,
    /// The process the person moved away from and when, until the mover policy is done.
    pub moved_from: Option<Move>,
}

/// A transfer between process units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    pub process: Option<String>,
    pub team: Option<String>,
    pub at: Time,
}

/// The kind of system an account lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// LDAP / Active Directory login.
    Directory,
    /// A client process's application (often SCIM).
    Application,
    /// Telephony / dialler id.
    Telephony,
    /// Physical access card (PACS).
    AccessCard,
    /// No API: actions become work items for IT admins.
    Manual,
}

/// Which person attribute an account is matched on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Correlation {
    EmployeeId,
    Email,
    Login,
}

/// A system that holds accounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub id: String,
    pub name: String,
    pub kind: TargetKind,
    /// For an application of one client process: that process's code. Accounts of people
    /// outside it are removed by the mover policy. `None`: a target every person may use.
    pub process: Option<String>,
    pub correlation: Correlation,
}

/// An account as a target reports it (reconciliation input) or as it should be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Target id.
    pub target: String,
    /// The target's own stable key: a DN, a SCIM id, a card number.
    pub key: String,
    pub login: String,
    /// The owner's employee number as the target stores it, if it does.
    pub employee_id: Option<String>,
    pub email: Option<String>,
    pub enabled: bool,
    /// Groups, process roles, card access levels.
    pub entitlements: BTreeSet<String>,
    /// Last use (login, badge) the target knows of.
    pub last_used: Option<Time>,
}

/// A change to one account on one target. Idempotent: applying it twice is harmless.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Create an account for a joiner (or a mover's new process).
    Create {
        login: String,
        entitlements: BTreeSet<String>,
    },
    Enable,
    Disable,
    Delete,
    Grant {
        entitlement: String,
    },
    Revoke {
        entitlement: String,
    },
}

impl Op {
    /// The short name used in logs, the ledger and the UI.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Create { .. } => "create",
            Self::Enable => "enable",
            Self::Disable => "disable",
            Self::Delete => "delete",
            Self::Grant { .. } => "grant",
            Self::Revoke { .. } => "revoke",
        }
    }
}

/// One person as an HR source states them (a CSV row, a SCIM User). Codes, not ids: the
/// server resolves site, process and team codes and the manager's employee number.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HrRecord {
    pub employee_id: String,
    pub given_name: String,
    pub family_name: String,
    pub email: Option<String>,
    pub login: Option<String>,
    /// Site code; empty means "the deployment's default site".
    pub site: String,
    /// Process unit code.
    pub process: Option<String>,
    /// Team name within the process.
    pub team: Option<String>,
    pub manager_employee_id: Option<String>,
    pub job_role: String,
    /// `active`, `suspended` or `terminated`.
    pub status: String,
    /// Why suspended, when `status` is `suspended`.
    pub status_reason: Option<String>,
    /// `YYYY-MM-DD`.
    pub hire_date: String,
    /// `YYYY-MM-DD`.
    pub exit_date: Option<String>,
}

/// Who owns an account, as the server learned it in an earlier run (a confirmed
/// correlation) or from an admin assigning an owner by hand. A link outranks correlation:
/// it is how a renamed login or a changed email stays with its person.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Link {
    /// Target id.
    pub target: String,
    /// The account's key on that target.
    pub key: String,
    pub person_id: String,
}
