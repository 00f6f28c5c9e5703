//! What access a person should have: birthright rules by process and job role, plus
//! time-bound individual assignments.
//!
//! The account rule: an active person needs an account on a target iff they have at
//! least one expected entitlement there, and in addition on every [`TargetKind::Directory`]
//! target without a process (the login everyone signs in with, even with no groups).
//! Only active people whose hire date has come have expectations: pre-provisioning
//! future joiners is left to the day they start, so a withdrawn offer leaves nothing behind.

use crate::model::{Employment, Person, Target, TargetKind, Time};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Everyone matching `process` and `job_role` (`None` matches any) gets `entitlement`
/// on `target`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Birthright {
    pub process: Option<String>,
    pub job_role: Option<String>,
    pub target: String,
    pub entitlement: String,
}

impl Birthright {
    /// Whether a person in `process` with `job_role` gets this entitlement.
    #[must_use]
    pub fn applies_to(&self, process: Option<&str>, job_role: &str) -> bool {
        (self.process.is_none() || self.process.as_deref() == process)
            && self.job_role.as_deref().is_none_or(|r| r == job_role)
    }
}

/// An individual grant outside the rules (a cover shift, a project), valid from `from`
/// until just before `until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub person_id: String,
    pub target: String,
    pub entitlement: String,
    pub from: Time,
    pub until: Option<Time>,
}

impl Assignment {
    /// Whether the assignment is in force at `now`.
    #[must_use]
    pub fn is_current(&self, now: Time) -> bool {
        self.from <= now && self.until.is_none_or(|u| now < u)
    }
}

/// Expected entitlements per target id. A target present with an empty set still needs
/// an account (the directory rule).
pub type Expected<'a> = BTreeMap<&'a str, BTreeSet<&'a str>>;

/// Rules and assignments indexed once, so that expectations for 300,000 people cost a
/// hash lookup each rather than a scan of every rule.
#[derive(Debug)]
pub struct Expectations<'a> {
    directories: Vec<&'a str>,
    any_process: Vec<&'a Birthright>,
    by_process: HashMap<&'a str, Vec<&'a Birthright>>,
    by_person: HashMap<&'a str, Vec<&'a Assignment>>,
    managed: HashSet<&'a str>,
}

impl<'a> Expectations<'a> {
    /// Indexes the rules for one reconciliation.
    #[must_use]
    pub fn new(targets: &'a [Target], rules: &'a [Birthright], assignments: &'a [Assignment]) -> Self {
        let directories =
            targets.iter().filter(|t| t.kind == TargetKind::Directory && t.process.is_none()).map(|t| t.id.as_str());
        let mut any_process = Vec::new();
        let mut by_process: HashMap<&str, Vec<&Birthright>> = HashMap::new();
        let mut managed = HashSet::new();
        for rule in rules {
            managed.insert(rule.target.as_str());
            match &rule.process {
                None => any_process.push(rule),
                Some(p) => by_process.entry(p.as_str()).or_default().push(rule),
            }
        }
        let mut by_person: HashMap<&str, Vec<&Assignment>> = HashMap::new();
        for a in assignments {
            managed.insert(a.target.as_str());
            by_person.entry(a.person_id.as_str()).or_default().push(a);
        }
        Self { directories: directories.collect(), any_process, by_process, by_person, managed }
    }

    /// The person's expected entitlements at `now` (empty unless active and hired).
    #[must_use]
    pub fn for_person(&self, person: &Person, now: Time) -> Expected<'a> {
        let mut out = Expected::new();
        if person.employment != Employment::Active || person.hire_at > now {
            return out;
        }
        for d in &self.directories {
            out.entry(*d).or_default();
        }
        let process = person.process.as_deref();
        let scoped = process.and_then(|p| self.by_process.get(p)).map_or(&[][..], Vec::as_slice);
        for rule in self.any_process.iter().chain(scoped) {
            if rule.applies_to(process, &person.job_role) {
                out.entry(rule.target.as_str()).or_default().insert(rule.entitlement.as_str());
            }
        }
        for a in self.by_person.get(person.id.as_str()).map_or(&[][..], Vec::as_slice) {
            if a.is_current(now) {
                out.entry(a.target.as_str()).or_default().insert(a.entitlement.as_str());
            }
        }
        out
    }

    /// Whether any rule or assignment names this target. Entitlement drift is only judged
    /// on managed targets: on others the engine knows nothing of what is normal.
    #[must_use]
    pub fn manages(&self, target: &str) -> bool {
        self.managed.contains(target)
    }

    /// Whether a rule scoped to `process` grants `entitlement` on `target` (any job role):
    /// what a mover must lose on targets shared between processes.
    #[must_use]
    pub fn process_grants(&self, process: &str, target: &str, entitlement: &str) -> bool {
        self.by_process
            .get(process)
            .is_some_and(|rules| rules.iter().any(|r| r.target == target && r.entitlement == entitlement))
    }
}

/// Expected entitlements of one person; see [`Expectations`] for many.
#[must_use]
pub fn expected<'a>(
    person: &Person,
    targets: &'a [Target],
    rules: &'a [Birthright],
    assignments: &'a [Assignment],
    now: Time,
) -> Expected<'a> {
    Expectations::new(targets, rules, assignments).for_person(person, now)
}
