//! Reconciliation: compares what HR says, what the rules expect and what the targets
//! hold, and returns a [`Plan`] of what must change. Nothing is executed here.
//!
//! The pass is linear: people, accounts and links are indexed once by borrowed `&str`
//! keys, accounts are grouped per person in one flat array, and each person is then
//! planned on their own. Output is sorted so two dry-runs of the same snapshot are
//! byte-identical and a diff between days shows only what changed.

use crate::birthright::{Assignment, Birthright, Expectations};
use crate::model::{Account, Correlation, Employment, Link, Op, Person, SuspendReason, Target, Time};
use crate::policy::{days, Policy, PolicySet};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};

/// Everything one reconciliation looks at, borrowed from the caller.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot<'a> {
    pub people: &'a [Person],
    pub targets: &'a [Target],
    /// What the targets hold now.
    pub accounts: &'a [Account],
    /// Ownership known from earlier runs or assigned by hand.
    pub links: &'a [Link],
    /// Person id → last badge-in, login or attendance (the max over all feeds).
    pub activity: &'a HashMap<String, Time>,
    pub birthrights: &'a [Birthright],
    pub assignments: &'a [Assignment],
    pub policies: &'a PolicySet,
    pub now: Time,
}

/// How an account relates to the people the platform knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Situation {
    /// A known link to a person who exists.
    Linked,
    /// No link yet, but correlation found exactly one person: a link is proposed.
    Unlinked,
    /// Nobody owns it: an orphan.
    Unmatched,
    /// A link exists but the target no longer has the account.
    Deleted,
    /// Correlation found several people, or the person already has an account there.
    Collision,
}

/// Why an action, decision or flag exists: what the UI, the ledger and the audit show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Exit date reached or terminated by HR.
    Leaver,
    /// No activity for the absconding policy's days.
    Absconding,
    /// Suspended as absconding and never came back.
    AbscondingTerminated,
    /// Suspended by HR for another reason (leave, investigation).
    HrSuspended,
    /// Moved to another process: old-process access goes, new birthrights come.
    Mover,
    /// Holds an account on another process's target without any rule or assignment for it.
    OutsideProcess,
    /// Joiner, or an expected entitlement missing.
    Birthright,
    /// An entitlement no rule or assignment explains.
    Drift,
    /// Enabled but unused for the dormant policy's days.
    Dormant,
    /// No owner.
    Orphan,
    /// Ambiguous ownership.
    Collision,
    /// Active again (HR reinstatement): expected accounts are enabled.
    Reinstated,
}

/// One change to one account. `not_before` in the future (deletion after retention, a
/// mover's grace) means "schedule", not "skip": the server keeps it in its queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedAction {
    pub person_id: Option<String>,
    pub target: String,
    /// `None` for [`Op::Create`]: the target assigns the key.
    pub account_key: Option<String>,
    pub op: Op,
    pub reason: Reason,
    pub not_before: Time,
}

/// What the server must do to a person rather than an account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DecisionKind {
    /// Set the person's status to suspended.
    Suspend { reason: SuspendReason },
    /// Set the person's status to terminated.
    Terminate,
    /// End the person's platform sessions.
    EndSessions,
    /// Revoke the person's platform API tokens.
    RevokeTokens,
}

/// A person-level decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonDecision {
    pub person_id: String,
    pub kind: DecisionKind,
    pub reason: Reason,
}

/// What a flag asks a human to look at.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FlagKind {
    Dormant,
    Orphan,
    Collision,
    /// Reported instead of revoked while the policy's `revoke_unexpected` is off.
    UnexpectedEntitlement {
        entitlement: String,
    },
}

/// A finding for review (access reviews, the orphan list), not a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flag {
    pub target: String,
    pub key: String,
    pub person_id: Option<String>,
    pub kind: FlagKind,
    /// Dormant and orphan: the account's last use, if known.
    pub since: Option<Time>,
}

/// Counts for the dashboard and the circuit breaker.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Stats {
    pub people: usize,
    pub accounts: usize,
    pub enabled_accounts: usize,
    /// Accounts on targets the snapshot does not list; ignored.
    pub unknown_target_accounts: usize,
    pub situations: BTreeMap<Situation, usize>,
    /// Per [`Op::name`].
    pub ops: BTreeMap<String, usize>,
    pub reasons: BTreeMap<Reason, usize>,
    pub flags: usize,
    /// Disable actions (due now or scheduled).
    pub disables: usize,
    /// `disables / enabled_accounts` (0 with no enabled account).
    pub disable_share: f64,
}

/// The outcome of one reconciliation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Plan {
    pub now: Time,
    /// One per input account, in input order (unknown-target accounts are `Unmatched`).
    /// Accounts gone from their target appear in `links_dropped` with `Deleted`.
    pub situations: Vec<Situation>,
    /// Sorted by target, key, operation.
    pub actions: Vec<PlannedAction>,
    /// Sorted by person, kind.
    pub decisions: Vec<PersonDecision>,
    /// Sorted by target, key, kind.
    pub flags: Vec<Flag>,
    /// Links to store for `Unlinked` accounts.
    pub links_proposed: Vec<Link>,
    /// Links to accounts the target no longer has.
    pub links_dropped: Vec<Link>,
    pub stats: Stats,
}

impl Plan {
    /// Actions to run now.
    pub fn due(&self) -> impl Iterator<Item = &PlannedAction> {
        self.actions.iter().filter(move |a| a.not_before <= self.now)
    }

    /// Actions the server must schedule for later.
    pub fn scheduled(&self) -> impl Iterator<Item = &PlannedAction> {
        self.actions.iter().filter(move |a| a.not_before > self.now)
    }
}

/// Plans every change the policies call for in `snap`.
#[must_use]
pub fn reconcile(snap: &Snapshot<'_>) -> Plan {
    let mut r = Run::new(snap);
    r.link_and_correlate();
    for pi in 0..snap.people.len() {
        r.plan_person(pi);
    }
    r.finish()
}

/// Applies a plan's due actions, decisions and link changes to an in-memory copy of the
/// world: the dry-run view of "after", and the idempotency check in tests (reconciling
/// the result must plan nothing due). Created accounts get the key `new:<person>:<target>`.
pub fn simulate(plan: &Plan, people: &mut [Person], accounts: &mut Vec<Account>, links: &mut Vec<Link>) {
    let now = plan.now;
    let mut per_account: HashMap<(&str, &str), Vec<&Op>> = HashMap::new();
    let mut creates = Vec::new();
    for a in plan.due() {
        match (&a.account_key, &a.person_id) {
            (Some(key), _) => per_account.entry((a.target.as_str(), key.as_str())).or_default().push(&a.op),
            (None, Some(person)) => creates.push((person.as_str(), a)),
            (None, None) => {}
        }
    }
    let mut deleted: HashSet<(String, String)> = HashSet::new();
    for acc in accounts.iter_mut() {
        let Some(ops) = per_account.get(&(acc.target.as_str(), acc.key.as_str())) else { continue };
        for op in ops {
            match op {
                Op::Enable => acc.enabled = true,
                Op::Disable => acc.enabled = false,
                Op::Grant { entitlement } => {
                    acc.entitlements.insert(entitlement.clone());
                }
                Op::Revoke { entitlement } => {
                    acc.entitlements.remove(entitlement);
                }
                Op::Delete => {
                    deleted.insert((acc.target.clone(), acc.key.clone()));
                }
                Op::Create { .. } => {}
            }
        }
    }
    accounts.retain(|a| !deleted.contains(&(a.target.clone(), a.key.clone())));
    let dropped: HashSet<&Link> = plan.links_dropped.iter().collect();
    links.retain(|l| !dropped.contains(l) && !deleted.contains(&(l.target.clone(), l.key.clone())));
    links.extend(plan.links_proposed.iter().cloned());

    let index: HashMap<String, usize> = people.iter().enumerate().map(|(i, p)| (p.id.clone(), i)).collect();
    for (person_id, a) in creates {
        let (Op::Create { login, entitlements }, Some(&pi)) = (&a.op, index.get(person_id)) else { continue };
        let key = format!("new:{person_id}:{}", a.target);
        accounts.push(Account {
            target: a.target.clone(),
            key: key.clone(),
            login: login.clone(),
            employee_id: Some(people[pi].employee_id.clone()),
            email: people[pi].email.clone(),
            enabled: true,
            entitlements: entitlements.clone(),
            last_used: None,
        });
        links.push(Link { target: a.target.clone(), key, person_id: person_id.to_owned() });
    }
    for d in &plan.decisions {
        let Some(&pi) = index.get(&d.person_id) else { continue };
        let p = &mut people[pi];
        match &d.kind {
            DecisionKind::Suspend { reason } => {
                p.employment = Employment::Suspended { reason: reason.clone() };
                p.status_since = Some(now);
            }
            DecisionKind::Terminate => {
                p.employment = Employment::Terminated;
                p.status_since = Some(now);
            }
            DecisionKind::EndSessions | DecisionKind::RevokeTokens => {}
        }
    }
}

const NONE: u32 = u32::MAX;

/// The Fx hash (as in rustc): several times faster than SipHash on the short keys here.
/// It gives up SipHash's flooding resistance, which matters for keys an attacker picks;
/// these come from HR and the organisation's own target systems.
type FastMap<K, V> = HashMap<K, V, Fx>;

#[derive(Debug, Default, Clone, Copy)]
struct Fx;

impl BuildHasher for Fx {
    type Hasher = FxHasher;
    fn build_hasher(&self) -> FxHasher {
        FxHasher(0)
    }
}

struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    fn write_u8(&mut self, b: u8) {
        self.add(u64::from(b));
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    /// The multiply leaves the low bits weak and hashbrown picks buckets by them: a
    /// final avalanche (MurmurHash3's fmix64) spreads every input bit over all outputs.
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// A correlation lookup result: one person, or more than one.
#[derive(Clone, Copy)]
enum Hit {
    One(u32),
    Many,
}

/// Where a person stands for this run.
enum State {
    Leaver { left_at: Time, reason: Reason, terminate: bool },
    Abscond,
    Suspended(Reason),
    Active,
}

struct Run<'a> {
    s: &'a Snapshot<'a>,
    exp: Expectations<'a>,
    target_ix: FastMap<&'a str, usize>,
    /// Per account: target index, or `NONE` for an unknown target.
    acc_target: Vec<u32>,
    /// Per account: the linked or correlated person, or `NONE`.
    owner: Vec<u32>,
    situations: Vec<Situation>,
    /// Accounts per person (flat, grouped by person via `start`).
    start: Vec<u32>,
    items: Vec<u32>,
    actions: Vec<PlannedAction>,
    decisions: Vec<PersonDecision>,
    flags: Vec<Flag>,
    links_proposed: Vec<Link>,
    links_dropped: Vec<Link>,
    unknown_target_accounts: usize,
    /// Per target: whether it reports last use at all. An account with no last use on a
    /// target that tracks it was never used; on one that does not (a card export, an
    /// OpenLDAP without lastbind) nothing is known, and flagging every account of it
    /// dormant would bury the real findings.
    tracks_use: Vec<bool>,
    /// Per-person scratch space, reused: 300,000 people would otherwise mean 900,000
    /// short-lived allocations.
    buf_mine: Vec<(u32, u32)>,
    buf_owned: Vec<(usize, usize)>,
    buf_blocked: Vec<usize>,
}

impl<'a> Run<'a> {
    fn new(s: &'a Snapshot<'a>) -> Self {
        let mut target_ix = FastMap::with_capacity_and_hasher(s.targets.len(), Fx);
        for (i, t) in s.targets.iter().enumerate() {
            target_ix.entry(t.id.as_str()).or_insert(i);
        }
        let mut tracks_use = vec![false; s.targets.len()];
        for a in s.accounts.iter().filter(|a| a.last_used.is_some()) {
            if let Some(&ti) = target_ix.get(a.target.as_str()) {
                tracks_use[ti] = true;
            }
        }
        Self {
            s,
            exp: Expectations::new(s.targets, s.birthrights, s.assignments),
            tracks_use,
            target_ix,
            acc_target: Vec::new(),
            owner: vec![NONE; s.accounts.len()],
            situations: vec![Situation::Unmatched; s.accounts.len()],
            start: Vec::new(),
            items: Vec::new(),
            actions: Vec::new(),
            decisions: Vec::new(),
            flags: Vec::new(),
            links_proposed: Vec::new(),
            links_dropped: Vec::new(),
            unknown_target_accounts: 0,
            buf_mine: Vec::new(),
            buf_owned: Vec::new(),
            buf_blocked: Vec::new(),
        }
    }

    /// Resolves an owner (or the lack of one) for every account, then groups accounts
    /// per person. Candidates from correlation are settled per person in `plan_person`,
    /// where a second account on the same target shows up as a collision.
    fn link_and_correlate(&mut self) {
        let s = self.s;
        let people_ix: FastMap<&str, u32> =
            s.people.iter().enumerate().map(|(i, p)| (p.id.as_str(), i as u32)).collect();
        let mut per_target = vec![0usize; s.targets.len()];
        for a in s.accounts {
            if let Some(&ti) = self.target_ix.get(a.target.as_str()) {
                per_target[ti] += 1;
            }
        }
        let mut by_key: Vec<FastMap<&str, u32>> =
            per_target.iter().map(|&n| FastMap::with_capacity_and_hasher(n, Fx)).collect();
        self.acc_target = s
            .accounts
            .iter()
            .enumerate()
            .map(|(ai, a)| match self.target_ix.get(a.target.as_str()) {
                Some(&ti) => {
                    by_key[ti].entry(a.key.as_str()).or_insert(ai as u32);
                    ti as u32
                }
                None => NONE,
            })
            .collect();
        for link in s.links {
            let Some(&ti) = self.target_ix.get(link.target.as_str()) else { continue };
            match by_key[ti].get(link.key.as_str()) {
                None => self.links_dropped.push(link.clone()),
                Some(&ai) => {
                    if let Some(&pi) = people_ix.get(link.person_id.as_str()) {
                        // Two links on one account: the first wins, like the store's unique key.
                        if self.owner[ai as usize] == NONE {
                            self.owner[ai as usize] = pi;
                            self.situations[ai as usize] = Situation::Linked;
                        }
                    }
                }
            }
        }
        drop(by_key);

        let need = |c: Correlation| s.targets.iter().any(|t| t.correlation == c);
        let index = |key: fn(&'a Person) -> Option<Cow<'a, str>>| {
            let mut m: FastMap<Cow<'a, str>, Hit> = FastMap::with_capacity_and_hasher(s.people.len(), Fx);
            for (pi, p) in s.people.iter().enumerate() {
                let Some(k) = key(p) else { continue };
                m.entry(k)
                    .and_modify(|h| {
                        if !matches!(h, Hit::One(x) if *x == pi as u32) {
                            *h = Hit::Many;
                        }
                    })
                    .or_insert(Hit::One(pi as u32));
            }
            m
        };
        let empty = FastMap::default;
        let by_emp = if need(Correlation::EmployeeId) { index(|p| norm_exact(&p.employee_id)) } else { empty() };
        let by_email =
            if need(Correlation::Email) { index(|p| p.email.as_deref().and_then(norm_fold)) } else { empty() };
        let by_login =
            if need(Correlation::Login) { index(|p| p.login.as_deref().and_then(norm_fold)) } else { empty() };

        for (ai, a) in s.accounts.iter().enumerate() {
            if self.owner[ai] != NONE {
                continue;
            }
            let ti = self.acc_target[ai];
            if ti == NONE {
                self.unknown_target_accounts += 1;
                continue;
            }
            let t = &s.targets[ti as usize];
            let hit = match t.correlation {
                Correlation::EmployeeId => a.employee_id.as_deref().and_then(norm_exact).and_then(|k| by_emp.get(&k)),
                Correlation::Email => a.email.as_deref().and_then(norm_fold).and_then(|k| by_email.get(&k)),
                Correlation::Login => norm_fold(&a.login).and_then(|k| by_login.get(&k)),
            };
            match hit {
                None => self.orphan(ai),
                Some(Hit::Many) => {
                    self.situations[ai] = Situation::Collision;
                    self.flag(ai, None, FlagKind::Collision, None);
                }
                // Settled in plan_person: Unlinked, or Collision if the person already
                // has an account on the target.
                Some(&Hit::One(pi)) => self.owner[ai] = pi,
            }
        }

        let mut start = vec![0u32; s.people.len() + 1];
        for &o in &self.owner {
            if o != NONE {
                start[o as usize + 1] += 1;
            }
        }
        for i in 0..s.people.len() {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut items = vec![0u32; start[s.people.len()] as usize];
        for (ai, &o) in self.owner.iter().enumerate() {
            if o != NONE {
                items[fill[o as usize] as usize] = ai as u32;
                fill[o as usize] += 1;
            }
        }
        self.start = start;
        self.items = items;
    }

    fn orphan(&mut self, ai: usize) {
        let s = self.s;
        let a = &s.accounts[ai];
        self.situations[ai] = Situation::Unmatched;
        self.flag(ai, None, FlagKind::Orphan, a.last_used);
        let t = &s.targets[self.acc_target[ai] as usize];
        if a.enabled && s.policies.for_process(t.process.as_deref()).disable_orphans {
            self.act(None, ai, Op::Disable, Reason::Orphan, s.now);
        }
    }

    fn plan_person(&mut self, pi: usize) {
        let s = self.s;
        let p = &s.people[pi];
        let now = s.now;
        // Settle correlation candidates target by target (accounts sorted by target).
        let mut mine = std::mem::take(&mut self.buf_mine);
        let mut owned = std::mem::take(&mut self.buf_owned);
        let mut blocked = std::mem::take(&mut self.buf_blocked);
        mine.clear();
        owned.clear();
        blocked.clear();
        mine.extend(
            self.items[self.start[pi] as usize..self.start[pi + 1] as usize]
                .iter()
                .map(|&ai| (self.acc_target[ai as usize], ai)),
        );
        mine.sort_unstable();
        for group in mine.chunk_by(|x, y| x.0 == y.0) {
            let ti = group[0].0 as usize;
            let linked = group.iter().filter(|(_, ai)| self.situations[*ai as usize] == Situation::Linked).count();
            let candidates = group.len() - linked;
            for &(_, ai) in group {
                let ai = ai as usize;
                if self.situations[ai] == Situation::Linked {
                    owned.push((ti, ai));
                } else if linked == 0 && candidates == 1 {
                    self.situations[ai] = Situation::Unlinked;
                    let a = &s.accounts[ai];
                    self.links_proposed.push(Link {
                        target: a.target.clone(),
                        key: a.key.clone(),
                        person_id: p.id.clone(),
                    });
                    owned.push((ti, ai));
                } else {
                    self.situations[ai] = Situation::Collision;
                    self.flag(ai, Some(p), FlagKind::Collision, None);
                    blocked.push(ti);
                }
            }
        }

        let policy = s.policies.for_process(p.process.as_deref());
        let actions_before = self.actions.len();
        match self.state(p, policy) {
            State::Leaver { left_at, reason, terminate } => {
                let delete_at = left_at + days(policy.leaver.delete_after_days);
                for &(_, ai) in &owned {
                    let a = &s.accounts[ai];
                    if a.enabled {
                        self.act(Some(p), ai, Op::Disable, reason, now);
                    }
                    for e in &a.entitlements {
                        self.act(Some(p), ai, Op::Revoke { entitlement: e.clone() }, reason, now);
                    }
                    self.act(Some(p), ai, Op::Delete, reason, delete_at);
                }
                if terminate {
                    self.decide(p, DecisionKind::Terminate, reason);
                }
                let due = self.actions[actions_before..].iter().any(|a| a.not_before <= now);
                if terminate || due {
                    self.decide(p, DecisionKind::EndSessions, reason);
                    self.decide(p, DecisionKind::RevokeTokens, reason);
                }
            }
            State::Abscond => {
                self.decide(p, DecisionKind::Suspend { reason: SuspendReason::Absconding }, Reason::Absconding);
                self.decide(p, DecisionKind::EndSessions, Reason::Absconding);
                self.decide(p, DecisionKind::RevokeTokens, Reason::Absconding);
                self.disable_all(p, &owned, Reason::Absconding);
            }
            State::Suspended(reason) => self.disable_all(p, &owned, reason),
            State::Active => self.plan_active(p, policy, &owned, &blocked),
        }
        self.buf_mine = mine;
        self.buf_owned = owned;
        self.buf_blocked = blocked;
    }

    fn state(&self, p: &Person, policy: &Policy) -> State {
        let now = self.s.now;
        let last = self.s.activity.get(p.id.as_str()).copied();
        let exit_due = p.exit_at.filter(|&t| t <= now);
        let terminated = p.employment == Employment::Terminated;
        if terminated || exit_due.is_some() {
            let hr_since = if terminated { p.status_since.map(|t| t.min(now)) } else { None };
            let left_at = match (exit_due, hr_since) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => now,
            };
            return State::Leaver { left_at, reason: Reason::Leaver, terminate: !terminated };
        }
        let ab = &policy.absconding;
        let seen = last.unwrap_or(Time::MIN).max(p.hire_at);
        match &p.employment {
            Employment::Suspended { reason: SuspendReason::Absconding } => {
                let came_back = matches!((last, p.status_since), (Some(l), Some(since)) if l > since);
                if ab.enabled && !came_back {
                    let suspended_at = p.status_since.unwrap_or(seen.saturating_add(days(ab.after_days)));
                    let window = days(ab.terminate_after_days.saturating_sub(ab.after_days));
                    let terminate_at =
                        seen.saturating_add(days(ab.terminate_after_days)).max(suspended_at.saturating_add(window));
                    if now >= terminate_at {
                        return State::Leaver { left_at: now, reason: Reason::AbscondingTerminated, terminate: true };
                    }
                }
                // Back on site after suspension: HR decides; reinstatement re-enables.
                State::Suspended(Reason::Absconding)
            }
            Employment::Suspended { reason: SuspendReason::Hr(_) } => State::Suspended(Reason::HrSuspended),
            Employment::Terminated => State::Leaver { left_at: now, reason: Reason::Leaver, terminate: false },
            Employment::Active => {
                let clock = seen.max(p.status_since.unwrap_or(Time::MIN));
                if ab.enabled && p.hire_at <= now && now >= clock.saturating_add(days(ab.after_days)) {
                    State::Abscond
                } else {
                    State::Active
                }
            }
        }
    }

    fn disable_all(&mut self, p: &Person, owned: &[(usize, usize)], reason: Reason) {
        for &(_, ai) in owned {
            if self.s.accounts[ai].enabled {
                self.act(Some(p), ai, Op::Disable, reason, self.s.now);
            }
        }
    }

    fn plan_active(&mut self, p: &Person, policy: &Policy, owned: &[(usize, usize)], blocked: &[usize]) {
        let s = self.s;
        let now = s.now;
        let expected = self.exp.for_person(p, now);
        let moved = p.moved_from.as_ref().filter(|m| m.process != p.process);
        let old_process = moved.and_then(|m| m.process.as_deref());
        let grace_at = moved
            .map_or(now, |m| m.at.saturating_add(days(s.policies.for_process(m.process.as_deref()).mover.grace_days)));
        let grant_reason = if p.moved_from.is_some() { Reason::Mover } else { Reason::Birthright };

        for &(ti, ai) in owned {
            let t = &s.targets[ti];
            let a = &s.accounts[ai];
            let want = expected.get(t.id.as_str());
            let outside = want.is_none() && t.process.is_some() && t.process != p.process;
            if outside {
                let (reason, at) = if t.process.as_deref() == old_process {
                    (Reason::Mover, grace_at)
                } else {
                    (Reason::OutsideProcess, now)
                };
                if a.enabled {
                    self.act(Some(p), ai, Op::Disable, reason, at);
                }
                for e in &a.entitlements {
                    self.act(Some(p), ai, Op::Revoke { entitlement: e.clone() }, reason, at);
                }
                if at <= now {
                    continue;
                }
            } else {
                if let Some(want) = want {
                    if !a.enabled {
                        self.act(Some(p), ai, Op::Enable, Reason::Reinstated, now);
                    }
                    for e in want {
                        if !a.entitlements.contains(*e) {
                            self.act(Some(p), ai, Op::Grant { entitlement: (*e).to_owned() }, grant_reason, now);
                        }
                    }
                }
                for e in &a.entitlements {
                    if want.is_some_and(|w| w.contains(e.as_str())) {
                        continue;
                    }
                    if old_process.is_some_and(|old| self.exp.process_grants(old, &t.id, e)) {
                        self.act(Some(p), ai, Op::Revoke { entitlement: e.clone() }, Reason::Mover, grace_at);
                    } else if self.exp.manages(&t.id) {
                        if policy.revoke_unexpected {
                            self.act(Some(p), ai, Op::Revoke { entitlement: e.clone() }, Reason::Drift, now);
                        } else {
                            self.flag(ai, Some(p), FlagKind::UnexpectedEntitlement { entitlement: e.clone() }, None);
                        }
                    }
                }
            }
            let d = &policy.dormant;
            if a.enabled && d.enabled {
                let cutoff = now.saturating_sub(days(d.after_days));
                let dormant = match a.last_used {
                    Some(t) => t < cutoff,
                    None => self.tracks_use.get(ti).copied().unwrap_or(false) && p.hire_at < cutoff,
                };
                if dormant {
                    self.flag(ai, Some(p), FlagKind::Dormant, a.last_used);
                }
            }
        }

        for (target, want) in &expected {
            let Some(&ti) = self.target_ix.get(target) else { continue };
            if owned.iter().any(|&(t, _)| t == ti) || blocked.contains(&ti) {
                continue;
            }
            let login = p.login.clone().unwrap_or_else(|| p.employee_id.clone());
            let entitlements: BTreeSet<String> = want.iter().map(|e| (*e).to_owned()).collect();
            self.actions.push(PlannedAction {
                person_id: Some(p.id.clone()),
                target: (*target).to_owned(),
                account_key: None,
                op: Op::Create { login, entitlements },
                reason: grant_reason,
                not_before: now,
            });
        }
    }

    fn act(&mut self, p: Option<&Person>, ai: usize, op: Op, reason: Reason, not_before: Time) {
        let a = &self.s.accounts[ai];
        self.actions.push(PlannedAction {
            person_id: p.map(|p| p.id.clone()),
            target: a.target.clone(),
            account_key: Some(a.key.clone()),
            op,
            reason,
            not_before,
        });
    }

    fn decide(&mut self, p: &Person, kind: DecisionKind, reason: Reason) {
        self.decisions.push(PersonDecision { person_id: p.id.clone(), kind, reason });
    }

    fn flag(&mut self, ai: usize, p: Option<&Person>, kind: FlagKind, since: Option<Time>) {
        let a = &self.s.accounts[ai];
        self.flags.push(Flag {
            target: a.target.clone(),
            key: a.key.clone(),
            person_id: p.map(|p| p.id.clone()),
            kind,
            since,
        });
    }

    fn finish(self) -> Plan {
        let s = self.s;
        let Run { mut actions, mut decisions, mut flags, mut links_proposed, mut links_dropped, situations, .. } = self;
        actions.sort_unstable_by(action_order);
        decisions.sort_unstable_by(|a, b| (&a.person_id, &a.kind).cmp(&(&b.person_id, &b.kind)));
        flags.sort_unstable_by(|a, b| (&a.target, &a.key, &a.kind).cmp(&(&b.target, &b.key, &b.kind)));
        links_proposed.sort_unstable();
        links_dropped.sort_unstable();
        links_dropped.dedup();

        let mut stats = Stats {
            people: s.people.len(),
            accounts: s.accounts.len(),
            unknown_target_accounts: self.unknown_target_accounts,
            flags: flags.len(),
            ..Stats::default()
        };
        stats.enabled_accounts = s.accounts.iter().filter(|a| a.enabled).count();
        for sit in &situations {
            *stats.situations.entry(*sit).or_default() += 1;
        }
        if !links_dropped.is_empty() {
            stats.situations.insert(Situation::Deleted, links_dropped.len());
        }
        for a in &actions {
            *stats.ops.entry(a.op.name().to_owned()).or_default() += 1;
            *stats.reasons.entry(a.reason).or_default() += 1;
            if a.op == Op::Disable {
                stats.disables += 1;
            }
        }
        stats.disable_share =
            if stats.enabled_accounts == 0 { 0.0 } else { stats.disables as f64 / stats.enabled_accounts as f64 };
        Plan { now: s.now, situations, actions, decisions, flags, links_proposed, links_dropped, stats }
    }
}

/// Target, key, then the order an executor should apply one account's ops in.
fn action_order(a: &PlannedAction, b: &PlannedAction) -> Ordering {
    fn rank(op: &Op) -> (u8, &str) {
        match op {
            Op::Create { login, .. } => (0, login),
            Op::Enable => (1, ""),
            Op::Grant { entitlement } => (2, entitlement),
            Op::Revoke { entitlement } => (3, entitlement),
            Op::Disable => (4, ""),
            Op::Delete => (5, ""),
        }
    }
    (&a.target, &a.account_key, &a.person_id, rank(&a.op), a.not_before).cmp(&(
        &b.target,
        &b.account_key,
        &b.person_id,
        rank(&b.op),
        b.not_before,
    ))
}

/// Employee numbers match exactly (after trimming): `E01` and `e01` may be two people.
fn norm_exact(s: &str) -> Option<Cow<'_, str>> {
    let s = s.trim();
    (!s.is_empty()).then_some(Cow::Borrowed(s))
}

/// Emails and logins match case-insensitively; allocation only when there is a capital.
fn norm_fold(s: &str) -> Option<Cow<'_, str>> {
    let s = s.trim();
    if s.is_empty() {
        None
    } else if s.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii()) {
        Some(Cow::Owned(s.to_lowercase()))
    } else {
        Some(Cow::Borrowed(s))
    }
}
