//! The control registry and the checks of the platform core.
//!
//! A control belongs to one risk, has an owning role and a check. A check is a pure
//! function of a [`Facts`] snapshot (gathered from the store by the server) and returns
//! pass / fail / not measured with evidence. "Not measured" is returned when there is
//! nothing to measure yet: an empty organisation never passes by default.
//!
//! Later modules (endpoint, vault, identity…) register their controls here; risks with no
//! control yet are shown as "not measured yet" on the dashboard.

use bposhield_proto::{ControlResult, ControlStatus, Evidence, Risk, Role};

/// How many failing ids a result keeps; the count is always complete.
pub const MAX_EVIDENCE_IDS: usize = 50;

/// The facts the core checks read. Each list holds only what the check needs: ids and
/// booleans, never names.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Today, `YYYY-MM-DD`.
    pub today: String,
    /// Every process unit id, and whether an enabled user holds `process_head` scoped to it.
    pub processes: Vec<(String, bool)>,
    /// Every team id, and whether an enabled user holds `team_manager` scoped to it.
    pub teams: Vec<(String, bool)>,
    /// Every enabled user holding a privileged role, and whether they have a second factor.
    pub privileged_users: Vec<(String, bool)>,
    /// Every unrevoked API token, and its expiry (Unix seconds) if any.
    pub active_tokens: Vec<(String, Option<i64>)>,
    /// Every enabled user linked to a person: (user id, person terminated, person exit date).
    pub linked_users: Vec<(String, bool, Option<String>)>,
    /// The ledger's state; `None` when nobody measured it (no ledger configured).
    pub ledger: Option<LedgerFacts>,
    /// The identity lifecycle's state; `None` when not measured.
    pub identity: Option<IdentityFacts>,
    /// The recordings' state; `None` when not measured.
    pub recordings: Option<RecordingFacts>,
    /// The endpoint fleet's state; `None` when not measured.
    pub fleet: Option<FleetFacts>,
}

/// What the fleet checks read (risks R1 and R4), gathered by the server from what the
/// agents reported. Ids, the process (or site) code each host counts under, numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetFacts {
    /// Now, Unix seconds.
    pub now: i64,
    /// Every enrolled host that is not retired.
    pub hosts: Vec<FleetHostFacts>,
    /// Storage-like devices (mass storage, MTP/PTP, wireless) blocked in the last 7
    /// days, per process code: `(code, devices)`.
    pub blocked_storage_7d: Vec<(String, u64)>,
    /// USB exceptions in force now (approved ones and offline codes): `(id, expires at)`.
    pub active_exceptions: Vec<(String, i64)>,
    /// A host silent for longer than this (seconds) is not reporting.
    pub not_reporting_after: i64,
    /// The lowest acceptable baseline score (0-100).
    pub min_score: i64,
    /// Security updates may be pending at most this long (seconds).
    pub updates_grace: i64,
}

/// One host, as the fleet checks see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetHostFacts {
    pub id: String,
    /// The code of the host's process (its site's when it has none).
    pub unit: String,
    /// When the host last reported (batch or heartbeat); `None`: never since enrollment.
    pub last_seen: Option<i64>,
    /// Whether the agent said it enforces USB policy in its last report.
    pub usb_enforcing: bool,
    /// The latest score per SCA policy run on the host: `(policy id, score)`.
    pub scores: Vec<(String, i64)>,
    /// Checks marked critical that fail now: `policy id:check id`.
    pub critical_failing: Vec<String>,
    /// Whether the host has reported its facts (packages, updates…).
    pub has_facts: bool,
    pub pending_security_updates: i64,
    pub updates_pending_since: Option<i64>,
}

/// What the recording checks read (risk R2), gathered by the server. Ids only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordingFacts {
    /// Recordings not yet purged.
    pub live: u64,
    /// Recordings due under their retention policy before now, not on hold, not purged.
    pub overdue: Vec<String>,
    /// Recordings with a card security code in their text: (id, whether anything of it
    /// is still held that PCI DSS says must not be: the original text at all, or the
    /// media past the security-code deadline).
    pub security_codes: Vec<(String, bool)>,
    /// Media plays and seeks recorded in the ledger in the last 7 days, and those among
    /// them without a stated reason (event ids).
    pub plays_7d: u64,
    pub plays_without_reason: Vec<String>,
    /// Refused attempts to open a recording's media in the last 7 days.
    pub denied_7d: u64,
    /// Whether the vault's keyring file is private to the server's account (`None`:
    /// no keyring yet), and whether the local blob directory is closed to other
    /// accounts (`None`: not on local disk, or not created yet).
    pub keyring_private: Option<bool>,
    pub blobs_private: Option<bool>,
}

/// What the identity lifecycle checks read, gathered by the server (which knows the
/// policies and what the targets hold). Ids only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityFacts {
    /// Whether any target (connector) is set up; without one nothing can be measured.
    pub targets: u64,
    /// Every person who has left: (person id, every account and card off, seconds since exit).
    pub leavers: Vec<(String, bool, i64)>,
    /// Every active or suspended person past the absconding threshold without activity:
    /// (person id, suspended or terminated).
    pub absconders: Vec<(String, bool)>,
    /// Every mover past the grace period: (person id, old-process access gone).
    pub movers: Vec<(String, bool)>,
    /// Present accounts checked for an owner, and the orphans among them.
    pub accounts: u64,
    pub orphans: Vec<String>,
    /// Every open manual work item: (action id, within its SLA).
    pub work_items: Vec<(String, bool)>,
    /// Every process unit: (process id, a review closed in the last 90 days).
    pub process_reviews: Vec<(String, bool)>,
    /// Seconds from HR exit to the leaver's last account disabled, for recent leavers.
    pub exit_to_disabled: Vec<i64>,
}

/// What the ledger checks read, gathered by the server (it holds the verifier key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerFacts {
    /// Now, Unix seconds.
    pub now: i64,
    /// Entries in the log.
    pub size: u64,
    /// The latest signed checkpoint: (tree size, publication time).
    pub latest_checkpoint: Option<(u64, i64)>,
    /// Whether the latest checkpoint's signature verifies with the log's key and its root
    /// equals the tree head recomputed from the stored tree at that size.
    pub latest_checkpoint_verifies: bool,
    /// Checkpoints are due every this many seconds.
    pub checkpoint_every_seconds: i64,
}

/// Roles whose holders must have a second factor.
pub const PRIVILEGED: [Role; 3] = [Role::PlatformAdmin, Role::SecurityOfficer, Role::ItAdmin];

/// A registered control.
#[derive(Debug, Clone, Copy)]
pub struct ControlDef {
    /// Stable id, e.g. `CTL-R3-001`.
    pub id: &'static str,
    pub risk: Risk,
    pub title: &'static str,
    pub description: &'static str,
    pub owner: Role,
    pub check: fn(&Facts) -> (ControlStatus, Evidence),
}

/// Every control of this build, in display order.
#[must_use]
pub fn registry() -> &'static [ControlDef] {
    &[
        ControlDef {
            id: "CTL-R1-001",
            risk: Risk::R1,
            title: "Every host enforces the USB policy and reports",
            description: "Every enrolled desktop and server runs bposhield-agent with USB enforcement on (new devices blocked unless a rule or an approved exception allows them) and has reported within the not-reporting window (fleet.not_reporting_hours). A host with enforcement off, or silent, can take a pen drive unseen. Target: 0 failing hosts.",
            owner: Role::SecurityOfficer,
            check: check_usb_enforced,
        },
        ControlDef {
            id: "CTL-R1-002",
            risk: Risk::R1,
            title: "Blocked storage devices this week, by process",
            description: "Pen drives, phones (MTP), cameras (PTP) and wireless adapters the agents blocked in the last 7 days, per process unit. A signal to act on (who keeps plugging a pen drive in?) rather than a target: the control passes and its evidence carries the counts; the device events timeline names hosts and devices.",
            owner: Role::SecurityOfficer,
            check: check_blocked_storage,
        },
        ControlDef {
            id: "CTL-R1-003",
            risk: Risk::R1,
            title: "USB exceptions in force, and those expiring",
            description: "Approved device exceptions and offline response codes in force now, and those expiring within 24 hours. Every exception is time-bound (at most 7 days) and approved by security or IT, never by its requester; the evidence lists the ones about to lapse so nobody is surprised at the desk.",
            owner: Role::SecurityOfficer,
            check: check_usb_exceptions,
        },
        ControlDef {
            id: "CTL-R2-001",
            risk: Risk::R2,
            title: "No recording kept past its retention",
            description: "Recordings are purged when their process's retention policy says (N days after the call, or N hours after the review), unless on legal hold. Counts recordings due before now and still not purged.",
            owner: Role::SecurityOfficer,
            check: check_recordings_overdue,
        },
        ControlDef {
            id: "CTL-R2-002",
            risk: Risk::R2,
            title: "No card security code stored",
            description: "PCI DSS: card security codes are not kept after authorization, even encrypted. A recording whose transcript or screen held one must keep no original text and no media past its security-code deadline.",
            owner: Role::SecurityOfficer,
            check: check_security_codes,
        },
        ControlDef {
            id: "CTL-R2-003",
            risk: Risk::R2,
            title: "Every recording play states a reason",
            description: "Every play or seek of a recording's media in the last 7 days, as recorded in the ledger, carries the reason its team manager or process head gave. Evidence also counts refused attempts.",
            owner: Role::SecurityOfficer,
            check: check_play_reasons,
        },
        ControlDef {
            id: "CTL-R2-005",
            risk: Risk::R2,
            title: "Refused attempts to open recordings, last 7 days",
            description: "How many times in the last 7 days someone was refused a recording's media (not its own team manager or process head, no reason given, downloads disabled), from the ledger. A signal to look at rather than a target: the control passes and its evidence carries the count; the access log of each recording names who and why.",
            owner: Role::SecurityOfficer,
            check: check_refused_attempts,
        },
        ControlDef {
            id: "CTL-R2-004",
            risk: Risk::R2,
            title: "Recordings readable only by their own managers",
            description: "The rule (the recording's team manager and process head, with a reason) is enforced on every request; this checks that nothing around it opens recordings to more people: the vault's keyring of key-encryption keys is private to the server's account (mode 0600 or 0400), and the local blob directory is closed to other accounts.",
            owner: Role::SecurityOfficer,
            check: check_recording_storage,
        },
        ControlDef {
            id: "CTL-R3-001",
            risk: Risk::R3,
            title: "No platform user linked to a person who has left",
            description: "Every enabled platform user linked to an HR person whose status is terminated, or whose exit date has passed, fails this control. Leavers must lose access on their last day.",
            owner: Role::Hr,
            check: check_leaver_users,
        },
        ControlDef {
            id: "CTL-R3-002",
            risk: Risk::R3,
            title: "No API token without an expiry",
            description: "Machine tokens that never expire outlive the people and systems that used them. Every unrevoked token must carry an expiry date.",
            owner: Role::PlatformAdmin,
            check: check_token_expiry,
        },
        ControlDef {
            id: "CTL-R3-003",
            risk: Risk::R3,
            title: "Leavers have no enabled account or card",
            description: "Every person who has left (terminated, or past the exit date) must have every account on every target disabled, access card included. Evidence gives the longest time since exit among failing leavers.",
            owner: Role::Hr,
            check: check_leaver_accounts,
        },
        ControlDef {
            id: "CTL-R3-004",
            risk: Risk::R3,
            title: "Absconders are suspended",
            description: "A person with no badge-in, login or attendance for the absconding policy's days must be suspended (logins and card off) until HR confirms the exit or reinstates them.",
            owner: Role::Hr,
            check: check_absconders,
        },
        ControlDef {
            id: "CTL-R3-005",
            risk: Risk::R3,
            title: "Movers keep no old-process access past the grace period",
            description: "A person transferred between client processes must lose the old process's logins and entitlements once the mover policy's grace period ends.",
            owner: Role::ProcessHead,
            check: check_movers,
        },
        ControlDef {
            id: "CTL-R3-006",
            risk: Risk::R3,
            title: "No orphan accounts",
            description: "Every account on every target must have an owner (an HR person). Orphans are listed in the orphan queue for an owner to be assigned or the account removed.",
            owner: Role::SecurityOfficer,
            check: check_orphans,
        },
        ControlDef {
            id: "CTL-R3-007",
            risk: Risk::R3,
            title: "Manual work items are done within their SLA",
            description: "Actions on systems without an API become work items for IT admins; each must be completed, with proof, within identity.work_item_sla_hours.",
            owner: Role::ItAdmin,
            check: check_work_items,
        },
        ControlDef {
            id: "CTL-R3-008",
            risk: Risk::R3,
            title: "Every process had an access review in the last 90 days",
            description: "Process heads review their people's accounts at least quarterly: a review campaign of the process must have closed within the last 90 days.",
            owner: Role::ProcessHead,
            check: check_reviews,
        },
        ControlDef {
            id: "CTL-R3-009",
            risk: Risk::R3,
            title: "Leavers are off everywhere within an hour of exit",
            description: "Time from HR exit (event received or exit date reached) to the leaver's last account disabled, over recent leavers: the 95th percentile must be at most one hour. Evidence gives p50 and p95.",
            owner: Role::Hr,
            check: check_exit_latency,
        },
        ControlDef {
            id: "CTL-R4-001",
            risk: Risk::R4,
            title: "Every privileged user has a second factor",
            description: "Enabled users holding platform_admin, security_officer or it_admin must have TOTP enrolled.",
            owner: Role::SecurityOfficer,
            check: check_privileged_mfa,
        },
        ControlDef {
            id: "CTL-R4-002",
            risk: Risk::R4,
            title: "Every host meets its baselines",
            description: "Each host's latest result of every SCA baseline assigned to it (call-floor desktop, server) scores at least fleet.min_baseline_score (default 80: passed checks over applicable ones). Target: 0 hosts below.",
            owner: Role::ItAdmin,
            check: check_baseline_scores,
        },
        ControlDef {
            id: "CTL-R4-003",
            risk: Risk::R4,
            title: "No critical baseline check failing, by process",
            description: "Checks a baseline marks critical (screen lock, firewall, no USB storage, SSH root login…) pass on every host. Evidence counts the failing hosts per process unit.",
            owner: Role::ItAdmin,
            check: check_critical_checks,
        },
        ControlDef {
            id: "CTL-R4-004",
            risk: Risk::R4,
            title: "Security updates installed within N days",
            description: "No host has had security updates pending for longer than fleet.updates_overdue_days (default 14), as its package manager reports them.",
            owner: Role::ItAdmin,
            check: check_updates,
        },
        ControlDef {
            id: "CTL-R4-005",
            risk: Risk::R4,
            title: "Every host reported within 24 hours",
            description: "A host whose agent has not reported within fleet.not_reporting_hours (default 24) has unknown configuration: stopped agent, unplugged machine or tampering. Target: 0.",
            owner: Role::ItAdmin,
            check: check_hosts_reporting,
        },
        ControlDef {
            id: "CTL-R5-001",
            risk: Risk::R5,
            title: "Every process unit has a named process head",
            description: "Each client process unit needs an enabled user holding the process_head role scoped to it, who answers for its security.",
            owner: Role::SecurityOfficer,
            check: check_process_heads,
        },
        ControlDef {
            id: "CTL-R5-002",
            risk: Risk::R5,
            title: "Every team has a team manager",
            description: "Each team needs an enabled user holding the team_manager role scoped to it, who reviews access and recordings of the team.",
            owner: Role::SecurityOfficer,
            check: check_team_managers,
        },
        ControlDef {
            id: "CTL-R10-001",
            risk: Risk::R10,
            title: "The ledger verifies against its latest signed checkpoint",
            description: "The latest checkpoint's Ed25519 signature verifies with the log's key, and the tree head recomputed from the stored log at that size equals the signed root. A mismatch means the stored history was changed after it was signed. The full re-hash of every entry runs with `bposhield ledger verify` or the auditor page.",
            owner: Role::Auditor,
            check: check_ledger_verifies,
        },
        ControlDef {
            id: "CTL-R10-002",
            risk: Risk::R10,
            title: "A ledger checkpoint was published within the last interval",
            description: "While entries are being appended, a signed checkpoint must be published at least every checkpoint interval (ledger.checkpoint_every_seconds, with one interval of grace), so an auditor's copy of the latest checkpoint is never far behind the log.",
            owner: Role::SecurityOfficer,
            check: check_ledger_fresh,
        },
    ]
}

/// Looks a control up by id.
#[must_use]
pub fn find(id: &str) -> Option<&'static ControlDef> {
    registry().iter().find(|c| c.id == id)
}

/// Runs every check against one snapshot.
#[must_use]
pub fn evaluate_all(facts: &Facts, now: i64) -> Vec<ControlResult> {
    registry()
        .iter()
        .map(|c| {
            let (status, evidence) = (c.check)(facts);
            ControlResult { control_id: c.id.to_owned(), status, evidence, evaluated_at: now }
        })
        .collect()
}

fn check_ledger_verifies(f: &Facts) -> (ControlStatus, Evidence) {
    let Some(l) = &f.ledger else { return not_measured("The ledger has not been measured yet.") };
    let Some((size, _)) = l.latest_checkpoint else { return not_measured("No checkpoint has been published yet.") };
    if l.latest_checkpoint_verifies {
        let summary = format!("The checkpoint at size {size} verifies against the stored log.");
        (ControlStatus::Pass, Evidence { summary, checked: 1, ..Evidence::default() })
    } else {
        let summary =
            format!("The checkpoint at size {size} does NOT verify: the stored log was changed after signing.");
        (
            ControlStatus::Fail,
            Evidence { summary, checked: 1, failing: 1, failing_ids: vec![format!("checkpoint:{size}")] },
        )
    }
}

fn check_ledger_fresh(f: &Facts) -> (ControlStatus, Evidence) {
    let Some(l) = &f.ledger else { return not_measured("The ledger has not been measured yet.") };
    let grace = l.checkpoint_every_seconds.saturating_mul(2);
    match l.latest_checkpoint {
        None if l.size == 0 => not_measured("The ledger is empty."),
        None => {
            let summary = format!("{} entries and no checkpoint yet.", l.size);
            (
                ControlStatus::Fail,
                Evidence { summary, checked: 1, failing: 1, failing_ids: vec!["checkpoint:none".into()] },
            )
        }
        Some((size, at)) if size < l.size && l.now - at > grace => {
            let summary = format!(
                "The latest checkpoint (size {size}) is {} s old and {} entries are unsigned; due every {} s.",
                l.now - at,
                l.size - size,
                l.checkpoint_every_seconds
            );
            (
                ControlStatus::Fail,
                Evidence { summary, checked: 1, failing: 1, failing_ids: vec![format!("checkpoint:{size}")] },
            )
        }
        Some((size, at)) => {
            let summary = format!("The latest checkpoint (size {size}) was published {} s ago.", (l.now - at).max(0));
            (ControlStatus::Pass, Evidence { summary, checked: 1, ..Evidence::default() })
        }
    }
}

fn check_recordings_overdue(f: &Facts) -> (ControlStatus, Evidence) {
    let Some(r) = &f.recordings else { return not_measured("Recordings have not been measured yet.") };
    if r.live == 0 && r.overdue.is_empty() {
        return not_measured("No recordings are stored.");
    }
    let failing = r.overdue.len() as u64;
    let summary = if failing == 0 {
        format!("None of {} stored recordings is past its retention.", r.live)
    } else {
        format!("{failing} of {} stored recordings are past their retention and not purged.", r.live)
    };
    let failing_ids = r.overdue.iter().take(MAX_EVIDENCE_IDS).map(|id| format!("recording:{id}")).collect();
    let status = if failing == 0 { ControlStatus::Pass } else { ControlStatus::Fail };
    (status, Evidence { summary, checked: r.live, failing, failing_ids })
}

fn check_security_codes(f: &Facts) -> (ControlStatus, Evidence) {
    let Some(r) = &f.recordings else { return not_measured("Recordings have not been measured yet.") };
    if r.security_codes.is_empty() {
        let summary = "No recording held a card security code; none is stored.".to_owned();
        return (ControlStatus::Pass, Evidence { summary, checked: r.live, ..Evidence::default() });
    }
    judge(
        "recordings with a card security code",
        "recording",
        r.security_codes.iter().map(|(id, stored)| (id.as_str(), !stored)),
        "still hold it",
    )
}

fn check_play_reasons(f: &Facts) -> (ControlStatus, Evidence) {
    let Some(r) = &f.recordings else { return not_measured("Recordings have not been measured yet.") };
    if r.plays_7d == 0 {
        let summary = format!("No recording was played in the last 7 days; {} refused attempts.", r.denied_7d);
        return (ControlStatus::NotMeasured, Evidence { summary, ..Evidence::default() });
    }
    let failing = r.plays_without_reason.len() as u64;
    let summary = format!(
        "{} of {} plays in the last 7 days without a reason; {} refused attempts.",
        failing, r.plays_7d, r.denied_7d
    );
    let failing_ids = r.plays_without_reason.iter().take(MAX_EVIDENCE_IDS).map(|id| format!("event:{id}")).collect();
    let status = if failing == 0 { ControlStatus::Pass } else { ControlStatus::Fail };
    (status, Evidence { summary, checked: r.plays_7d, failing, failing_ids })
}

fn check_refused_attempts(f: &Facts) -> (ControlStatus, Evidence) {
    let Some(r) = &f.recordings else { return not_measured("Recordings have not been measured yet.") };
    if r.live == 0 && r.denied_7d == 0 {
        return not_measured("No recordings are stored.");
    }
    let summary = format!("{} refused attempts to open a recording in the last 7 days.", r.denied_7d);
    (ControlStatus::Pass, Evidence { summary, checked: r.denied_7d, ..Evidence::default() })
}

fn check_recording_storage(f: &Facts) -> (ControlStatus, Evidence) {
    let Some(r) = &f.recordings else { return not_measured("Recordings have not been measured yet.") };
    // A keyring from a secret mount, or blobs in S3, have no file here to check.
    let checks = [("keyring", r.keyring_private), ("blobs", r.blobs_private)];
    judge(
        "vault storage checks",
        "vault",
        checks.iter().filter_map(|(what, ok)| ok.map(|ok| (*what, ok))),
        "are open to other accounts",
    )
}

/// The fleet facts, or "not measured" when there is no host yet.
fn fleet(f: &Facts) -> Result<&FleetFacts, (ControlStatus, Evidence)> {
    match &f.fleet {
        Some(x) if !x.hosts.is_empty() => Ok(x),
        Some(_) => Err(not_measured("No host is enrolled yet.")),
        None => Err(not_measured("The fleet has not been measured yet.")),
    }
}

fn reporting(x: &FleetFacts, h: &FleetHostFacts) -> bool {
    h.last_seen.is_some_and(|t| x.now - t <= x.not_reporting_after)
}

/// `CODE n, CODE m` of counts per unit, largest first.
fn per_unit(mut counts: Vec<(String, u64)>) -> String {
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts.iter().map(|(u, n)| format!("{u} {n}")).collect::<Vec<_>>().join(", ")
}

fn count_units<'a>(units: impl Iterator<Item = &'a str>) -> Vec<(String, u64)> {
    let mut m: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for u in units {
        *m.entry(u).or_default() += 1;
    }
    m.into_iter().map(|(u, n)| (u.to_owned(), n)).collect()
}

fn check_usb_enforced(f: &Facts) -> (ControlStatus, Evidence) {
    let x = match fleet(f) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (status, mut e) = judge(
        "hosts",
        "host",
        x.hosts.iter().map(|h| (h.id.as_str(), h.usb_enforcing && reporting(x, h))),
        "have USB enforcement off or are not reporting",
    );
    let off = x.hosts.iter().filter(|h| !h.usb_enforcing).count();
    let silent = x.hosts.iter().filter(|h| !reporting(x, h)).count();
    if e.failing > 0 {
        e.summary.push_str(&format!(" Enforcement off: {off}; not reporting: {silent}."));
    }
    (status, e)
}

fn check_blocked_storage(f: &Facts) -> (ControlStatus, Evidence) {
    let x = match fleet(f) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let total: u64 = x.blocked_storage_7d.iter().map(|(_, n)| n).sum();
    let summary = if total == 0 {
        "No storage device was blocked in the last 7 days.".to_owned()
    } else {
        format!("{total} storage devices blocked in the last 7 days: {}.", per_unit(x.blocked_storage_7d.clone()))
    };
    (ControlStatus::Pass, Evidence { summary, checked: total, ..Evidence::default() })
}

fn check_usb_exceptions(f: &Facts) -> (ControlStatus, Evidence) {
    let x = match fleet(f) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let active: Vec<&(String, i64)> = x.active_exceptions.iter().filter(|(_, until)| *until > x.now).collect();
    let expiring: Vec<&&(String, i64)> = active.iter().filter(|(_, until)| *until - x.now <= 86_400).collect();
    let summary = format!("{} USB exceptions in force; {} expire within 24 h.", active.len(), expiring.len());
    let ids = expiring.iter().take(MAX_EVIDENCE_IDS).map(|(id, _)| format!("exception:{id}")).collect();
    (ControlStatus::Pass, Evidence { summary, checked: active.len() as u64, failing: 0, failing_ids: ids })
}

fn check_baseline_scores(f: &Facts) -> (ControlStatus, Evidence) {
    let x = match fleet(f) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let min = x.min_score;
    judge(
        "assessed hosts",
        "host",
        x.hosts
            .iter()
            .filter(|h| !h.scores.is_empty())
            .map(|h| (h.id.as_str(), h.scores.iter().all(|(_, s)| *s >= min))),
        &format!("score below {min} on a baseline"),
    )
}

fn check_critical_checks(f: &Facts) -> (ControlStatus, Evidence) {
    let x = match fleet(f) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let assessed = || x.hosts.iter().filter(|h| !h.scores.is_empty());
    let (status, mut e) = judge(
        "assessed hosts",
        "host",
        assessed().map(|h| (h.id.as_str(), h.critical_failing.is_empty())),
        "fail a critical check",
    );
    if e.failing > 0 {
        let units = count_units(assessed().filter(|h| !h.critical_failing.is_empty()).map(|h| h.unit.as_str()));
        e.summary.push_str(&format!(" By process: {}.", per_unit(units)));
    }
    (status, e)
}

fn check_updates(f: &Facts) -> (ControlStatus, Evidence) {
    let x = match fleet(f) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let days = x.updates_grace / 86_400;
    judge(
        "hosts reporting their updates",
        "host",
        x.hosts.iter().filter(|h| h.has_facts).map(|h| {
            let overdue = h.pending_security_updates > 0
                && h.updates_pending_since.is_some_and(|since| x.now - since > x.updates_grace);
            (h.id.as_str(), !overdue)
        }),
        &format!("have had security updates pending for more than {days} days"),
    )
}

fn check_hosts_reporting(f: &Facts) -> (ControlStatus, Evidence) {
    let x = match fleet(f) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let hours = x.not_reporting_after / 3600;
    judge(
        "hosts",
        "host",
        x.hosts.iter().map(|h| (h.id.as_str(), reporting(x, h))),
        &format!("have not reported for {hours} h"),
    )
}

fn not_measured(summary: &str) -> (ControlStatus, Evidence) {
    (ControlStatus::NotMeasured, Evidence { summary: summary.to_owned(), ..Evidence::default() })
}

/// Turns "which items fail" into a status and evidence. No items → not measured.
fn judge<'a>(
    what: &str,
    kind: &str,
    items: impl Iterator<Item = (&'a str, bool)>,
    failing_means: &str,
) -> (ControlStatus, Evidence) {
    let mut checked = 0u64;
    let mut failing = Vec::new();
    let mut failing_count = 0u64;
    for (id, ok) in items {
        checked += 1;
        if !ok {
            failing_count += 1;
            if failing.len() < MAX_EVIDENCE_IDS {
                failing.push(format!("{kind}:{id}"));
            }
        }
    }
    if checked == 0 {
        return (
            ControlStatus::NotMeasured,
            Evidence { summary: format!("No {what} to check yet."), ..Evidence::default() },
        );
    }
    let status = if failing_count == 0 { ControlStatus::Pass } else { ControlStatus::Fail };
    let summary = if failing_count == 0 {
        format!("All {checked} {what} pass.")
    } else {
        format!("{failing_count} of {checked} {what} {failing_means}.")
    };
    (status, Evidence { summary, checked, failing: failing_count, failing_ids: failing })
}

fn check_leaver_users(f: &Facts) -> (ControlStatus, Evidence) {
    judge(
        "linked users",
        "user",
        f.linked_users.iter().map(|(id, terminated, exit)| {
            let left = *terminated || exit.as_deref().is_some_and(|d| d <= f.today.as_str());
            (id.as_str(), !left)
        }),
        "belong to people who have left",
    )
}

fn check_token_expiry(f: &Facts) -> (ControlStatus, Evidence) {
    judge(
        "active tokens",
        "token",
        f.active_tokens.iter().map(|(id, exp)| (id.as_str(), exp.is_some())),
        "never expire",
    )
}

fn check_privileged_mfa(f: &Facts) -> (ControlStatus, Evidence) {
    judge(
        "privileged users",
        "user",
        f.privileged_users.iter().map(|(id, mfa)| (id.as_str(), *mfa)),
        "have no second factor",
    )
}

fn check_process_heads(f: &Facts) -> (ControlStatus, Evidence) {
    judge("process units", "process", f.processes.iter().map(|(id, ok)| (id.as_str(), *ok)), "have no process head")
}

fn check_team_managers(f: &Facts) -> (ControlStatus, Evidence) {
    judge("teams", "team", f.teams.iter().map(|(id, ok)| (id.as_str(), *ok)), "have no team manager")
}

/// The identity facts, or "not measured" when there are none or no target is set up.
fn identity(f: &Facts) -> Result<&IdentityFacts, (ControlStatus, Evidence)> {
    match &f.identity {
        Some(i) if i.targets > 0 => Ok(i),
        Some(_) => Err(not_measured("No identity target (directory, application, card system) is set up yet.")),
        None => Err(not_measured("The identity lifecycle has not been measured yet.")),
    }
}

fn check_leaver_accounts(f: &Facts) -> (ControlStatus, Evidence) {
    let i = match identity(f) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let (status, mut e) = judge(
        "leavers",
        "person",
        i.leavers.iter().map(|(id, off, _)| (id.as_str(), *off)),
        "still have an enabled account or card",
    );
    if let Some(worst) = i.leavers.iter().filter(|(_, off, _)| !off).map(|(_, _, s)| *s).max() {
        e.summary.push_str(&format!(" Longest since exit: {}.", human_duration(worst)));
    }
    (status, e)
}

fn check_absconders(f: &Facts) -> (ControlStatus, Evidence) {
    match identity(f) {
        Ok(i) => judge(
            "people without recent activity",
            "person",
            i.absconders.iter().map(|(id, ok)| (id.as_str(), *ok)),
            "are past the absconding threshold and not suspended",
        ),
        Err(r) => r,
    }
}

fn check_movers(f: &Facts) -> (ControlStatus, Evidence) {
    match identity(f) {
        Ok(i) => judge(
            "movers past their grace period",
            "person",
            i.movers.iter().map(|(id, ok)| (id.as_str(), *ok)),
            "still hold old-process access",
        ),
        Err(r) => r,
    }
}

fn check_orphans(f: &Facts) -> (ControlStatus, Evidence) {
    let i = match identity(f) {
        Ok(i) => i,
        Err(r) => return r,
    };
    if i.accounts == 0 {
        return not_measured("No target has reported accounts yet.");
    }
    let failing = i.orphans.len() as u64;
    let ids = i.orphans.iter().take(MAX_EVIDENCE_IDS).map(|k| format!("account:{k}")).collect();
    let summary = if failing == 0 {
        format!("All {} accounts have an owner.", i.accounts)
    } else {
        format!("{failing} of {} accounts have no owner.", i.accounts)
    };
    let status = if failing == 0 { ControlStatus::Pass } else { ControlStatus::Fail };
    (status, Evidence { summary, checked: i.accounts, failing, failing_ids: ids })
}

fn check_work_items(f: &Facts) -> (ControlStatus, Evidence) {
    let i = match identity(f) {
        Ok(i) => i,
        Err(r) => return r,
    };
    if i.work_items.is_empty() {
        return (ControlStatus::Pass, Evidence { summary: "No open manual work items.".into(), ..Evidence::default() });
    }
    judge("open work items", "action", i.work_items.iter().map(|(id, ok)| (id.as_str(), *ok)), "are past their SLA")
}

fn check_reviews(f: &Facts) -> (ControlStatus, Evidence) {
    match identity(f) {
        Ok(i) => judge(
            "process units",
            "process",
            i.process_reviews.iter().map(|(id, ok)| (id.as_str(), *ok)),
            "had no access review closed in the last 90 days",
        ),
        Err(r) => r,
    }
}

/// The `p`-th percentile (0-100) of sorted values, nearest rank.
fn percentile(sorted: &[i64], p: usize) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len()).div_ceil(100).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn check_exit_latency(f: &Facts) -> (ControlStatus, Evidence) {
    let i = match identity(f) {
        Ok(i) => i,
        Err(r) => return r,
    };
    if i.exit_to_disabled.is_empty() {
        return not_measured("No leaver has been processed in the last 90 days.");
    }
    let mut v = i.exit_to_disabled.clone();
    v.sort_unstable();
    let (p50, p95) = (percentile(&v, 50), percentile(&v, 95));
    let summary = format!(
        "Exit to last account disabled over {} leavers: p50 {}, p95 {} (target p95 at most 1 h).",
        v.len(),
        human_duration(p50),
        human_duration(p95)
    );
    let slow = v.iter().filter(|s| **s > 3600).count() as u64;
    let status = if p95 <= 3600 { ControlStatus::Pass } else { ControlStatus::Fail };
    (status, Evidence { summary, checked: v.len() as u64, failing: slow, failing_ids: Vec::new() })
}

/// Seconds as "3 d 4 h", "12 min" or "40 s".
#[must_use]
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    if s >= 86_400 {
        format!("{} d {} h", s / 86_400, (s % 86_400) / 3600)
    } else if s >= 3600 {
        format!("{} h {} min", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
    }
}

/// The worst status among results: fail beats pass; none measured gives not measured.
#[must_use]
pub fn worst(statuses: impl Iterator<Item = ControlStatus>) -> ControlStatus {
    let mut seen_pass = false;
    for s in statuses {
        match s {
            ControlStatus::Fail => return ControlStatus::Fail,
            ControlStatus::Pass => seen_pass = true,
            ControlStatus::NotMeasured => {}
        }
    }
    if seen_pass {
        ControlStatus::Pass
    } else {
        ControlStatus::NotMeasured
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_unique_and_risk_matches() {
        let mut seen = HashSet::new();
        for c in registry() {
            assert!(seen.insert(c.id));
            assert!(c.id.starts_with(&format!("CTL-{}-", c.risk.as_str())), "{}", c.id);
        }
    }

    #[test]
    fn empty_facts_are_not_measured() {
        for r in evaluate_all(&Facts::default(), 0) {
            assert_eq!(r.status, ControlStatus::NotMeasured, "{}", r.control_id);
        }
    }

    #[test]
    fn leavers_fail_with_evidence() {
        let f = Facts {
            today: "2026-11-29".into(),
            linked_users: vec![
                ("u1".into(), false, None),
                ("u2".into(), true, None),
                ("u3".into(), false, Some("2026-11-29".into())),
                ("u4".into(), false, Some("2026-12-01".into())),
            ],
            ..Facts::default()
        };
        let (s, e) = check_leaver_users(&f);
        assert_eq!(s, ControlStatus::Fail);
        assert_eq!((e.checked, e.failing), (4, 2));
        assert_eq!(e.failing_ids, ["user:u2", "user:u3"]);
    }

    #[test]
    fn identity_controls_judge_their_facts() {
        let f = Facts {
            identity: Some(IdentityFacts {
                targets: 2,
                leavers: vec![("p1".into(), true, 100), ("p2".into(), false, 90_000)],
                absconders: vec![("p3".into(), false)],
                movers: vec![("p4".into(), true)],
                accounts: 10,
                orphans: vec!["ad/x".into()],
                work_items: vec![],
                process_reviews: vec![("pr".into(), false)],
                exit_to_disabled: vec![5, 10, 20, 7200],
            }),
            ..Facts::default()
        };
        let (s, e) = check_leaver_accounts(&f);
        assert_eq!((s, e.failing, e.failing_ids.clone()), (ControlStatus::Fail, 1, vec!["person:p2".to_owned()]));
        assert!(e.summary.contains("1 d 1 h"), "{}", e.summary);
        assert_eq!(check_absconders(&f).0, ControlStatus::Fail);
        assert_eq!(check_movers(&f).0, ControlStatus::Pass);
        assert_eq!(check_orphans(&f).1.failing_ids, ["account:ad/x"]);
        assert_eq!(check_work_items(&f).0, ControlStatus::Pass);
        assert_eq!(check_reviews(&f).0, ControlStatus::Fail);
        let (s, e) = check_exit_latency(&f);
        assert_eq!(s, ControlStatus::Fail, "{}", e.summary);
        assert!(e.summary.contains("p50 10 s") && e.summary.contains("p95 2 h 0 min"), "{}", e.summary);
        // No target: nothing measured, never a pass by default.
        let none = Facts { identity: Some(IdentityFacts::default()), ..Facts::default() };
        assert_eq!(check_leaver_accounts(&none).0, ControlStatus::NotMeasured);
    }

    #[test]
    fn percentiles_nearest_rank() {
        assert_eq!(percentile(&[1, 2, 3, 4], 50), 2);
        assert_eq!(percentile(&[1, 2, 3, 4], 95), 4);
        assert_eq!(percentile(&[7], 95), 7);
        assert_eq!(percentile(&[], 50), 0);
    }

    #[test]
    fn worst_status() {
        use ControlStatus::*;
        assert_eq!(worst([Pass, NotMeasured].into_iter()), Pass);
        assert_eq!(worst([Pass, Fail].into_iter()), Fail);
        assert_eq!(worst([NotMeasured].into_iter()), NotMeasured);
        assert_eq!(worst([].into_iter()), NotMeasured);
    }

    #[test]
    fn fleet_controls() {
        use ControlStatus::*;
        let now = 10_000_000;
        let host = |id: &str, unit: &str| FleetHostFacts {
            id: id.into(),
            unit: unit.into(),
            last_seen: Some(now - 60),
            usb_enforcing: true,
            scores: vec![("desk".into(), 90)],
            has_facts: true,
            ..Default::default()
        };
        let good = FleetFacts {
            now,
            hosts: vec![host("h1", "ACME"), host("h2", "ZEN")],
            blocked_storage_7d: vec![("ACME".into(), 3), ("ZEN".into(), 5)],
            active_exceptions: vec![
                ("e1".into(), now + 3600),
                ("e2".into(), now + 3 * 86_400),
                ("old".into(), now - 1),
            ],
            not_reporting_after: 86_400,
            min_score: 80,
            updates_grace: 14 * 86_400,
        };
        let run = |x: &FleetFacts| {
            let f = Facts { fleet: Some(x.clone()), ..Facts::default() };
            [
                check_usb_enforced(&f).0,
                check_blocked_storage(&f).0,
                check_usb_exceptions(&f).0,
                check_baseline_scores(&f).0,
                check_critical_checks(&f).0,
                check_updates(&f).0,
                check_hosts_reporting(&f).0,
            ]
        };
        assert_eq!(run(&good), [Pass; 7]);
        let f = Facts { fleet: Some(good.clone()), ..Facts::default() };
        let e = check_blocked_storage(&f).1;
        assert!(e.summary.contains("8 storage devices") && e.summary.contains("ZEN 5, ACME 3"), "{}", e.summary);
        let e = check_usb_exceptions(&f).1;
        assert_eq!((e.checked, e.failing_ids.clone()), (2, vec!["exception:e1".to_owned()]), "{}", e.summary);

        let mut bad = good.clone();
        bad.hosts[0].usb_enforcing = false;
        bad.hosts[1].last_seen = Some(now - 2 * 86_400);
        bad.hosts[1].scores = vec![("desk".into(), 79)];
        bad.hosts[1].critical_failing = vec!["desk:3".into()];
        bad.hosts[0].pending_security_updates = 4;
        bad.hosts[0].updates_pending_since = Some(now - 15 * 86_400);
        assert_eq!(run(&bad), [Fail, Pass, Pass, Fail, Fail, Fail, Fail]);
        let f = Facts { fleet: Some(bad), ..Facts::default() };
        let e = check_critical_checks(&f).1;
        assert_eq!(e.failing_ids, ["host:h2"]);
        assert!(e.summary.contains("By process: ZEN 1"), "{}", e.summary);
        assert!(check_usb_enforced(&f).1.summary.contains("Enforcement off: 1; not reporting: 1"));

        // Nothing enrolled, or never measured: not measured, never a pass by default.
        let empty = Facts { fleet: Some(FleetFacts::default()), ..Facts::default() };
        assert_eq!(check_usb_enforced(&empty).0, NotMeasured);
        assert_eq!(check_baseline_scores(&Facts::default()).0, NotMeasured);
        // Enrolled but never scanned: the baseline checks have nothing to judge.
        let unscanned = Facts {
            fleet: Some(FleetFacts { hosts: vec![FleetHostFacts { id: "h".into(), ..Default::default() }], ..good }),
            ..Facts::default()
        };
        assert_eq!(check_baseline_scores(&unscanned).0, NotMeasured);
        assert_eq!(check_hosts_reporting(&unscanned).0, Fail);
    }

    #[test]
    fn recording_controls() {
        use ControlStatus::*;
        let with = |r: RecordingFacts| Facts { recordings: Some(r), ..Facts::default() };
        let table: [(RecordingFacts, [ControlStatus; 3]); 5] = [
            // Nothing stored, nothing played.
            (RecordingFacts::default(), [NotMeasured, Pass, NotMeasured]),
            // Healthy: stored, played with reasons, a security code long purged.
            (
                RecordingFacts {
                    live: 3,
                    security_codes: vec![("a".into(), false)],
                    plays_7d: 4,
                    ..Default::default()
                },
                [Pass, Pass, Pass],
            ),
            // One overdue.
            (RecordingFacts { live: 3, overdue: vec!["x".into()], ..Default::default() }, [Fail, Pass, NotMeasured]),
            // A security code still held.
            (
                RecordingFacts { live: 1, security_codes: vec![("y".into(), true)], ..Default::default() },
                [Pass, Fail, NotMeasured],
            ),
            // A play without a reason.
            (
                RecordingFacts { live: 1, plays_7d: 2, plays_without_reason: vec!["e".into()], ..Default::default() },
                [Pass, Pass, Fail],
            ),
        ];
        for (facts, want) in table {
            let f = with(facts.clone());
            let got = [check_recordings_overdue(&f).0, check_security_codes(&f).0, check_play_reasons(&f).0];
            assert_eq!(got, want, "{facts:?}");
        }
        assert_eq!(check_recordings_overdue(&Facts::default()).0, NotMeasured);
        let refused = check_refused_attempts(&with(RecordingFacts { live: 2, denied_7d: 5, ..Default::default() }));
        assert_eq!(refused.0, Pass);
        assert!(refused.1.summary.starts_with("5 refused"), "{}", refused.1.summary);
        let storage = |k: Option<bool>, b: Option<bool>| {
            check_recording_storage(&with(RecordingFacts {
                keyring_private: k,
                blobs_private: b,
                ..Default::default()
            }))
            .0
        };
        assert_eq!(storage(None, None), NotMeasured);
        assert_eq!(storage(Some(true), Some(true)), Pass);
        assert_eq!(storage(Some(true), None), Pass);
        assert_eq!(storage(None, Some(true)), Pass);
        assert_eq!(storage(Some(false), Some(true)), Fail);
        assert_eq!(storage(Some(true), Some(false)), Fail);
    }
}
