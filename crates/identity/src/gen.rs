//! A deterministic synthetic BPO for the benchmark, the demo and the engine's own tests.
//!
//! One seed gives the same people, accounts and HR file on every machine. Churn is
//! injected on purpose, each person in at most one category, and counted, so a test can
//! assert that reconciliation finds exactly what was planted. The random source is a
//! SplitMix64 written here: a `rand` dependency for a reproducible toy generator would
//! only add a way for a version bump to change every benchmark figure.

use crate::birthright::{Assignment, Birthright};
use crate::dates::format_date;
use crate::model::{
    Account, Correlation, Employment, Link, Move, Person, SuspendReason, Target, TargetKind, Time, DAY,
};
use crate::policy::PolicySet;
use crate::reconcile::Snapshot;
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

/// Size and seed of the synthetic BPO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenConfig {
    pub seed: u64,
    pub people: usize,
    /// Client processes (at least 2 for movers to exist).
    pub processes: usize,
}

impl GenConfig {
    /// The benchmark shape: 300,000 people, 3 targets, about 900,000 accounts.
    #[must_use]
    pub fn benchmark() -> Self {
        Self { seed: 0x5EED_B905, people: 300_000, processes: 12 }
    }
}

/// What reconciliation must find in the generated world.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    /// People with leaver actions (exit date passed while active, or terminated by HR).
    pub leavers: usize,
    /// Of `leavers`, those still active in HR: each gets a Terminate decision.
    pub leavers_still_active: usize,
    /// Suspend decisions: silent for days, including joiners who never showed up.
    pub absconders: usize,
    /// Suspended absconders past the termination window: Terminate decisions.
    pub absconders_terminated: usize,
    /// People with mover actions.
    pub movers: usize,
    /// Create actions (three per joiner, one per deleted card).
    pub creates: usize,
    /// Links to accounts the target lost.
    pub deleted: usize,
    pub orphans: usize,
    pub dormant: usize,
    pub collisions: usize,
    /// Unexpected entitlements reported.
    pub drift: usize,
    /// Links proposed for accounts matched by correlation.
    pub unlinked: usize,
}

/// The generated world and what should be found in it.
#[derive(Debug, Clone)]
pub struct Generated {
    pub now: Time,
    pub people: Vec<Person>,
    pub targets: Vec<Target>,
    pub accounts: Vec<Account>,
    pub links: Vec<Link>,
    pub activity: HashMap<String, Time>,
    pub birthrights: Vec<Birthright>,
    pub assignments: Vec<Assignment>,
    pub policies: PolicySet,
    /// The people as an HR file in the default column mapping.
    pub hr_csv: Vec<u8>,
    pub expected: Expected,
}

impl Generated {
    /// The world as a reconciliation input.
    #[must_use]
    pub fn snapshot(&self) -> Snapshot<'_> {
        Snapshot {
            people: &self.people,
            targets: &self.targets,
            accounts: &self.accounts,
            links: &self.links,
            activity: &self.activity,
            birthrights: &self.birthrights,
            assignments: &self.assignments,
            policies: &self.policies,
            now: self.now,
        }
    }
}

/// 2025-06-02T00:00:00Z: a fixed "today" so that the output never depends on the clock.
pub const GEN_NOW: Time = 1_748_822_400;

/// Builds the world.
#[must_use]
pub fn generate(cfg: &GenConfig) -> Generated {
    let mut g = Gen::new(cfg);
    for i in 0..cfg.people {
        g.person(i);
    }
    for n in 0..(cfg.people / 500).max(1) {
        g.orphans(n);
    }
    g.finish()
}

/// SplitMix64: tiny, fast, good enough to spread categories and dates.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), bias irrelevant at these sizes.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// A time `lo..hi` days before `now`.
    fn days_ago(&mut self, now: Time, lo: i64, hi: i64) -> Time {
        let span = ((hi - lo) * DAY).max(1) as u64;
        now - lo * DAY - self.below(span) as Time
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Normal,
    LeaverActive,
    LeaverHr,
    OldLeaver,
    Absconder,
    NoShow,
    AbscondTerminate,
    HrSuspended,
    Mover,
    Joiner,
    DeletedCard,
    Dormant,
    Drift,
    Collision,
    Unlinked,
}

/// Per-mille thresholds, cumulative; the rest are normal staff.
const MIX: [(u64, Kind); 14] = [
    (10, Kind::LeaverActive),
    (15, Kind::LeaverHr),
    (35, Kind::OldLeaver),
    (38, Kind::Absconder),
    (39, Kind::NoShow),
    (40, Kind::AbscondTerminate),
    (42, Kind::HrSuspended),
    (47, Kind::Mover),
    (50, Kind::Joiner),
    (52, Kind::DeletedCard),
    (55, Kind::Dormant),
    (56, Kind::Drift),
    (57, Kind::Collision),
    (67, Kind::Unlinked),
];

const GIVEN: [&str; 8] = ["Aarav", "Priya", "Juan", "Maria", "Rahul", "Ana", "Joseph", "Grace"];
const FAMILY: [&str; 8] = ["Sharma", "Reyes", "Patel", "Santos", "Iyer", "Cruz", "Nair", ""];

struct Gen {
    rng: Rng,
    now: Time,
    processes: usize,
    people: Vec<Person>,
    accounts: Vec<Account>,
    links: Vec<Link>,
    activity: HashMap<String, Time>,
    csv: String,
    expected: Expected,
}

impl Gen {
    fn new(cfg: &GenConfig) -> Self {
        let mut csv = String::with_capacity(cfg.people * 160);
        csv.push_str(
            "employee_id,given_name,family_name,email,login,site,process,team,manager_employee_id,job_role,status,\
             status_reason,hire_date,exit_date\n",
        );
        Self {
            rng: Rng(cfg.seed),
            now: GEN_NOW,
            processes: cfg.processes.max(1),
            people: Vec::with_capacity(cfg.people),
            accounts: Vec::with_capacity(cfg.people * 3),
            links: Vec::with_capacity(cfg.people * 3),
            activity: HashMap::with_capacity(cfg.people),
            csv,
            expected: Expected::default(),
        }
    }

    fn person(&mut self, i: usize) {
        let now = self.now;
        let roll = self.rng.below(1000);
        let mut kind = MIX.iter().find(|(t, _)| roll < *t).map_or(Kind::Normal, |(_, k)| *k);
        if kind == Kind::Mover && self.processes < 2 {
            kind = Kind::Normal;
        }
        let k = self.rng.below(self.processes as u64) as usize;
        let process = format!("P{k:02}");
        let job_role = match self.rng.below(100) {
            0..=89 => "agent",
            90..=97 => "team_lead",
            _ => "qa",
        };
        let employee_id = format!("E{i:07}");
        let login = format!("e{i:07}");
        let mut p = Person {
            id: format!("p{i:07}"),
            employee_id: employee_id.clone(),
            email: Some(format!("{login}@bpo.example")),
            login: Some(login.clone()),
            employment: Employment::Active,
            status_since: None,
            exit_at: None,
            hire_at: self.rng.days_ago(now, 30, 2000),
            site: format!("S{}", k % 3),
            process: Some(process.clone()),
            team: Some(format!("T{k:02}-{}", self.rng.below(20))),
            job_role: job_role.to_owned(),
            moved_from: None,
        };
        p.status_since = Some(p.hire_at);
        let mut last_activity = Some(self.rng.days_ago(now, 0, 2));
        // Entitlements the accounts hold; normal staff hold exactly their birthrights.
        let ad = BTreeSet::from(["staff".to_owned(), format!("grp-{process}")]);
        let card = BTreeSet::from([format!("floor-{process}")]);
        let mut dialler = BTreeSet::from([format!("queue-{process}")]);
        if job_role == "team_lead" {
            dialler.insert("supervisor".to_owned());
        }
        let (mut ad, mut card, mut dialler) = (Some(ad), Some(card), Some(dialler));
        let mut enabled = true;
        let mut linked = true;
        let mut last_used = last_activity;

        match kind {
            Kind::Normal => {}
            Kind::LeaverActive => {
                p.exit_at = Some(self.rng.days_ago(now, 0, 10) / DAY * DAY);
                self.expected.leavers += 1;
                self.expected.leavers_still_active += 1;
            }
            Kind::LeaverHr => {
                let at = self.rng.days_ago(now, 1, 20) / DAY * DAY;
                p.employment = Employment::Terminated;
                p.status_since = Some(at);
                p.exit_at = Some(at);
                self.expected.leavers += 1;
            }
            Kind::OldLeaver => {
                let at = self.rng.days_ago(now, 60, 300) / DAY * DAY;
                p.employment = Employment::Terminated;
                p.status_since = Some(at);
                p.exit_at = Some(at);
                p.hire_at = p.hire_at.min(at - DAY);
                last_activity = Some(at - DAY);
                (ad, card, dialler) = (None, None, None);
            }
            Kind::Absconder => {
                last_activity = Some(self.rng.days_ago(now, 3, 6));
                last_used = last_activity;
                self.expected.absconders += 1;
            }
            Kind::NoShow => {
                p.hire_at = self.rng.days_ago(now, 4, 10);
                p.status_since = Some(p.hire_at);
                last_activity = None;
                last_used = None;
                self.expected.absconders += 1;
            }
            Kind::AbscondTerminate => {
                last_activity = Some(self.rng.days_ago(now, 10, 12));
                last_used = last_activity;
                p.employment = Employment::Suspended { reason: SuspendReason::Absconding };
                p.status_since = Some(now - 5 * DAY);
                enabled = false;
                self.expected.absconders_terminated += 1;
            }
            Kind::HrSuspended => {
                p.employment = Employment::Suspended { reason: SuspendReason::Hr("maternity leave".to_owned()) };
                p.status_since = Some(self.rng.days_ago(now, 5, 60));
                last_activity = p.status_since;
                last_used = last_activity;
                enabled = false;
            }
            Kind::Mover => {
                let old =
                    format!("P{:02}", (k + 1 + self.rng.below(self.processes as u64 - 1) as usize) % self.processes);
                p.moved_from = Some(Move { process: Some(old.clone()), team: None, at: now - DAY });
                ad = Some(BTreeSet::from(["staff".to_owned(), format!("grp-{old}")]));
                card = Some(BTreeSet::from([format!("floor-{old}")]));
                dialler = Some(BTreeSet::from([format!("queue-{old}")]));
                self.expected.movers += 1;
            }
            Kind::Joiner => {
                p.hire_at = now - DAY;
                p.status_since = Some(p.hire_at);
                (ad, card, dialler) = (None, None, None);
                self.expected.creates += 3;
            }
            Kind::DeletedCard => {
                card = None;
                self.links.push(Link { target: "card".into(), key: format!("card-{i}"), person_id: p.id.clone() });
                self.expected.deleted += 1;
                self.expected.creates += 1;
            }
            Kind::Dormant => self.expected.dormant += 1,
            Kind::Drift => {
                if let Some(ad) = ad.as_mut() {
                    ad.insert("grp-extra".to_owned());
                }
                self.expected.drift += 1;
            }
            Kind::Collision => {
                self.accounts.push(Account {
                    target: "ad".into(),
                    key: format!("ad-dup-{i}"),
                    login: login.to_uppercase(),
                    employee_id: None,
                    email: None,
                    enabled: true,
                    entitlements: BTreeSet::new(),
                    last_used: None,
                });
                self.expected.collisions += 1;
            }
            Kind::Unlinked => {
                linked = false;
                self.expected.unlinked += 3;
            }
        }

        for (target, key, ents) in
            [("ad", format!("ad-{i}"), ad), ("card", format!("card-{i}"), card), ("dialler", format!("d-{i}"), dialler)]
        {
            let Some(entitlements) = ents else { continue };
            let dormant = kind == Kind::Dormant && target == "dialler";
            if linked {
                self.links.push(Link { target: target.into(), key: key.clone(), person_id: p.id.clone() });
            }
            self.accounts.push(Account {
                target: target.into(),
                key,
                login: login.clone(),
                employee_id: Some(employee_id.clone()),
                email: p.email.clone(),
                enabled,
                entitlements,
                last_used: if dormant { Some(now - 120 * DAY) } else { last_used },
            });
        }
        if let Some(t) = last_activity {
            self.activity.insert(p.id.clone(), t);
        }
        self.csv_row(&p, i);
        self.people.push(p);
    }

    fn orphans(&mut self, n: usize) {
        let now = self.now;
        let last_used = Some(self.rng.days_ago(now, 0, 400));
        self.accounts.push(Account {
            target: "card".into(),
            key: format!("card-x{n}"),
            login: format!("x{n}"),
            employee_id: Some(format!("X{n:06}")),
            email: None,
            enabled: true,
            entitlements: BTreeSet::from(["floor-P00".to_owned()]),
            last_used,
        });
        self.accounts.push(Account {
            target: "ad".into(),
            key: format!("ad-svc-{n}"),
            login: format!("svc-{n}"),
            employee_id: None,
            email: None,
            enabled: true,
            entitlements: BTreeSet::from(["staff".to_owned()]),
            last_used,
        });
        self.expected.orphans += 2;
    }

    fn csv_row(&mut self, p: &Person, i: usize) {
        let (status, reason) = match &p.employment {
            Employment::Active => ("active", ""),
            Employment::Suspended { reason: SuspendReason::Absconding } => ("suspended", "absconding"),
            Employment::Suspended { reason: SuspendReason::Hr(r) } => ("suspended", r.as_str()),
            Employment::Terminated => ("terminated", ""),
        };
        let _ = writeln!(
            self.csv,
            "{},{},{},{},{},{},{},{},{},{},{status},{reason},{},{}",
            p.employee_id,
            GIVEN[i % GIVEN.len()],
            FAMILY[(i / 8) % FAMILY.len()],
            p.email.as_deref().unwrap_or_default(),
            p.login.as_deref().unwrap_or_default(),
            p.site,
            p.process.as_deref().unwrap_or_default(),
            p.team.as_deref().unwrap_or_default(),
            if i >= 20 { format!("E{:07}", i - i % 20 - 20) } else { String::new() },
            p.job_role,
            format_date(p.hire_at),
            p.exit_at.map(format_date).unwrap_or_default(),
        );
    }

    fn finish(self) -> Generated {
        let targets = vec![
            target("ad", "Active Directory", TargetKind::Directory, Correlation::Login),
            target("card", "Access cards", TargetKind::AccessCard, Correlation::EmployeeId),
            target("dialler", "Dialler", TargetKind::Telephony, Correlation::Email),
        ];
        let mut birthrights =
            vec![rule(None, None, "ad", "staff"), rule(None, Some("team_lead"), "dialler", "supervisor")];
        for k in 0..self.processes {
            let p = format!("P{k:02}");
            birthrights.push(rule(Some(&p), None, "ad", &format!("grp-{p}")));
            birthrights.push(rule(Some(&p), None, "card", &format!("floor-{p}")));
            birthrights.push(rule(Some(&p), None, "dialler", &format!("queue-{p}")));
        }
        Generated {
            now: self.now,
            people: self.people,
            targets,
            accounts: self.accounts,
            links: self.links,
            activity: self.activity,
            birthrights,
            assignments: Vec::new(),
            policies: PolicySet::default(),
            hr_csv: self.csv.into_bytes(),
            expected: self.expected,
        }
    }
}

fn target(id: &str, name: &str, kind: TargetKind, correlation: Correlation) -> Target {
    Target { id: id.into(), name: name.into(), kind, process: None, correlation }
}

fn rule(process: Option<&str>, job_role: Option<&str>, target: &str, entitlement: &str) -> Birthright {
    Birthright {
        process: process.map(str::to_owned),
        job_role: job_role.map(str::to_owned),
        target: target.to_owned(),
        entitlement: entitlement.to_owned(),
    }
}
