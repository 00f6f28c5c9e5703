//! The identity engine end to end: policies, reconciliation, safety guards, CSV parsing
//! and the synthetic generator. One binary to keep link time down.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bposhield_identity::birthright::{expected, Assignment, Birthright};
use bposhield_identity::gen::{generate, GenConfig};
use bposhield_identity::hrcsv::{self, ColumnMapping, FileError, HrField};
use bposhield_identity::model::*;
use bposhield_identity::policy::{Policy, PolicyError, PolicySet};
use bposhield_identity::reconcile::{reconcile, simulate, DecisionKind, FlagKind, Plan, Reason, Situation, Snapshot};
use bposhield_identity::safety::{absence_update, gives_up, next_attempt, AbsencePolicy, Backoff, Breaker};
use proptest::prelude::*;
use std::collections::{BTreeSet, HashMap};

/// A day boundary, so "day N" arithmetic reads plainly.
const NOW: Time = 20_254 * DAY;

// ---------------------------------------------------------------- fixture

struct World {
    people: Vec<Person>,
    targets: Vec<Target>,
    accounts: Vec<Account>,
    links: Vec<Link>,
    activity: HashMap<String, Time>,
    rules: Vec<Birthright>,
    assignments: Vec<Assignment>,
    policies: PolicySet,
    now: Time,
}

fn person(id: &str, process: &str) -> Person {
    Person {
        id: id.into(),
        employee_id: id.to_uppercase(),
        email: Some(format!("{id}@bpo.example")),
        login: Some(id.into()),
        employment: Employment::Active,
        status_since: Some(NOW - 400 * DAY),
        exit_at: None,
        hire_at: NOW - 400 * DAY,
        site: "S1".into(),
        process: Some(process.into()),
        team: None,
        job_role: "agent".into(),
        moved_from: None,
    }
}

fn target(id: &str, kind: TargetKind, process: Option<&str>, correlation: Correlation) -> Target {
    Target { id: id.into(), name: id.into(), kind, process: process.map(Into::into), correlation }
}

fn rule(process: Option<&str>, target: &str, ent: &str) -> Birthright {
    Birthright { process: process.map(Into::into), job_role: None, target: target.into(), entitlement: ent.into() }
}

impl World {
    /// People of P1/P2 with every expected account created and linked, all seen today.
    fn provisioned(people: Vec<Person>) -> Self {
        let mut w = World {
            activity: people.iter().map(|p| (p.id.clone(), NOW - 3600)).collect(),
            people,
            targets: vec![
                target("ad", TargetKind::Directory, None, Correlation::Login),
                target("app1", TargetKind::Application, Some("P1"), Correlation::EmployeeId),
                target("app2", TargetKind::Application, Some("P2"), Correlation::Email),
                target("card", TargetKind::AccessCard, None, Correlation::EmployeeId),
            ],
            accounts: vec![],
            links: vec![],
            rules: vec![
                rule(None, "ad", "staff"),
                rule(Some("P1"), "ad", "grp-P1"),
                rule(Some("P2"), "ad", "grp-P2"),
                rule(Some("P1"), "app1", "agent"),
                rule(Some("P2"), "app2", "agent"),
                rule(Some("P1"), "card", "floor-P1"),
                rule(Some("P2"), "card", "floor-P2"),
            ],
            assignments: vec![],
            policies: PolicySet::default(),
            now: NOW,
        };
        let plan = w.plan();
        w.apply(&plan);
        for a in &mut w.accounts {
            a.last_used = Some(NOW - 3600);
        }
        assert_eq!(w.plan().due().count(), 0, "provisioning settles");
        w
    }

    fn snap(&self) -> Snapshot<'_> {
        Snapshot {
            people: &self.people,
            targets: &self.targets,
            accounts: &self.accounts,
            links: &self.links,
            activity: &self.activity,
            birthrights: &self.rules,
            assignments: &self.assignments,
            policies: &self.policies,
            now: self.now,
        }
    }

    fn plan(&self) -> Plan {
        reconcile(&self.snap())
    }

    fn apply(&mut self, plan: &Plan) {
        simulate(plan, &mut self.people, &mut self.accounts, &mut self.links);
    }

    fn p(&mut self, id: &str) -> &mut Person {
        self.people.iter_mut().find(|p| p.id == id).unwrap()
    }

    fn account(&mut self, target: &str, person: &str) -> &mut Account {
        let key = format!("new:{person}:{target}");
        self.accounts.iter_mut().find(|a| a.key == key).unwrap()
    }

    /// Applies the plan and checks that nothing more is due: the idempotency contract.
    fn settle(&mut self) {
        let plan = self.plan();
        self.apply(&plan);
        let again = self.plan();
        assert_eq!(again.due().count(), 0, "second run plans nothing due: {:#?}", again.actions);
        assert_eq!(scheduled(&again), scheduled(&plan), "scheduled actions stay the same");
    }
}

/// `(target, op name, reason, due now)` per action, for compact table assertions.
fn summary(plan: &Plan) -> Vec<(String, &'static str, Reason, bool)> {
    plan.actions.iter().map(|a| (a.target.clone(), a.op.name(), a.reason, a.not_before <= plan.now)).collect()
}

/// Scheduled actions without their reason: an absconder terminated in one run is a plain
/// leaver in the next, and the queued deletion is the same.
fn scheduled(plan: &Plan) -> Vec<(String, Option<String>, Op, Time)> {
    plan.scheduled().map(|a| (a.target.clone(), a.account_key.clone(), a.op.clone(), a.not_before)).collect()
}

fn decisions(plan: &Plan) -> Vec<(String, DecisionKind)> {
    plan.decisions.iter().map(|d| (d.person_id.clone(), d.kind.clone())).collect()
}

fn two() -> World {
    World::provisioned(vec![person("a1", "P1"), person("b2", "P2")])
}

// ---------------------------------------------------------------- provisioning

#[test]
fn joiners_get_directory_and_birthright_accounts() {
    let w = two();
    let mine: Vec<_> = w.accounts.iter().filter(|a| a.key.starts_with("new:a1:")).map(|a| a.target.as_str()).collect();
    assert_eq!(mine, ["ad", "app1", "card"]);
    assert_eq!(w.accounts.iter().find(|a| a.key == "new:a1:ad").unwrap().entitlements, set(&["grp-P1", "staff"]));
    assert_eq!(w.links.len(), 6);
}

#[test]
fn expected_follows_rules_assignments_and_the_directory_rule() {
    let w = two();
    let mut p = person("c3", "P1");
    let mut assignments = vec![Assignment {
        person_id: "c3".into(),
        target: "app2".into(),
        entitlement: "cover".into(),
        from: NOW - DAY,
        until: Some(NOW + DAY),
    }];
    let e = expected(&p, &w.targets, &w.rules, &assignments, NOW);
    assert_eq!(e.keys().copied().collect::<Vec<_>>(), ["ad", "app1", "app2", "card"]);
    assignments[0].until = Some(NOW);
    assert!(!expected(&p, &w.targets, &w.rules, &assignments, NOW).contains_key("app2"), "until is exclusive");
    // Directory without rules still needs an account; inactive people need nothing.
    let e = expected(&p, &w.targets, &[], &[], NOW);
    assert_eq!(e.len(), 1);
    assert!(e["ad"].is_empty());
    p.employment = Employment::Terminated;
    assert!(expected(&p, &w.targets, &w.rules, &[], NOW).is_empty());
}

// ---------------------------------------------------------------- leavers

#[test]
fn leaver_by_exit_date_today_past_and_tomorrow() {
    for (exit, leaves) in [(NOW - 5 * DAY, true), (NOW, true), (NOW + DAY, false)] {
        let mut w = two();
        w.p("a1").exit_at = Some(exit);
        let plan = w.plan();
        if !leaves {
            assert!(plan.actions.is_empty() && plan.decisions.is_empty(), "exit tomorrow: nothing yet");
            continue;
        }
        let s = summary(&plan);
        assert_eq!(s.iter().filter(|x| x.1 == "disable" && x.3).count(), 3, "every account, now");
        assert_eq!(s.iter().filter(|x| x.1 == "revoke" && x.3).count(), 4);
        let deletes: Vec<_> = plan.actions.iter().filter(|a| a.op == Op::Delete).collect();
        assert_eq!(deletes.len(), 3);
        assert!(deletes.iter().all(|d| d.not_before == exit + 30 * DAY), "delete 30 days after exit");
        assert!(plan.actions.iter().all(|a| a.reason == Reason::Leaver && a.person_id.as_deref() == Some("a1")));
        assert_eq!(
            decisions(&plan),
            [
                ("a1".to_owned(), DecisionKind::Terminate),
                ("a1".to_owned(), DecisionKind::EndSessions),
                ("a1".to_owned(), DecisionKind::RevokeTokens)
            ]
        );
        w.settle();
    }
}

#[test]
fn leaver_terminated_by_hr_and_deleted_after_retention() {
    let mut w = two();
    w.policies.default.leaver.delete_after_days = 10;
    let p = w.p("b2");
    p.employment = Employment::Terminated;
    p.status_since = Some(NOW - 2 * DAY);
    let plan = w.plan();
    assert!(!decisions(&plan).contains(&("b2".into(), DecisionKind::Terminate)), "already terminated");
    assert!(decisions(&plan).contains(&("b2".into(), DecisionKind::EndSessions)));
    assert!(plan.actions.iter().filter(|a| a.op == Op::Delete).all(|a| a.not_before == NOW + 8 * DAY));
    w.settle();
    // Retention over: deletion is due, and the links go with the accounts.
    w.now = NOW + 8 * DAY;
    w.activity.insert("a1".into(), w.now);
    let plan = w.plan();
    assert_eq!(
        summary(&plan),
        vec![
            ("ad".into(), "delete", Reason::Leaver, true),
            ("app2".into(), "delete", Reason::Leaver, true),
            ("card".into(), "delete", Reason::Leaver, true)
        ]
    );
    w.apply(&plan);
    let after = w.plan();
    assert!(after.actions.is_empty() && after.decisions.is_empty(), "{after:#?}");
}

// ---------------------------------------------------------------- absconders

#[test]
fn absconder_suspended_on_day_n_then_terminated() {
    for (silent_days, suspended) in [(2, false), (3, true)] {
        let mut w = two();
        w.activity.insert("a1".into(), NOW - silent_days * DAY);
        let plan = w.plan();
        let suspend = ("a1".to_owned(), DecisionKind::Suspend { reason: SuspendReason::Absconding });
        assert_eq!(decisions(&plan).contains(&suspend), suspended, "day {silent_days}");
        if suspended {
            assert_eq!(
                summary(&plan),
                vec![
                    ("ad".into(), "disable", Reason::Absconding, true),
                    ("app1".into(), "disable", Reason::Absconding, true),
                    ("card".into(), "disable", Reason::Absconding, true),
                ],
                "every account including the access card"
            );
            w.settle();
        } else {
            assert!(plan.actions.is_empty());
        }
    }
    // Suspended on day 3: day 6 nothing, day 7 unconfirmed → terminated as a leaver.
    let mut w = two();
    w.activity.insert("a1".into(), NOW - 3 * DAY);
    w.settle();
    for (day, terminated) in [(6, false), (7, true)] {
        w.now = NOW + (day - 3) * DAY;
        w.activity.insert("b2".into(), w.now);
        let plan = w.plan();
        assert_eq!(decisions(&plan).contains(&("a1".into(), DecisionKind::Terminate)), terminated, "day {day}");
        if terminated {
            assert!(plan.actions.iter().all(|a| a.reason == Reason::AbscondingTerminated));
            assert_eq!(plan.actions.iter().filter(|a| a.op == Op::Delete).count(), 3);
            assert!(plan.actions.iter().any(|a| matches!(a.op, Op::Revoke { .. })));
        } else {
            assert!(plan.due().next().is_none());
        }
    }
    w.settle();
}

#[test]
fn late_detection_still_leaves_the_window_after_suspension() {
    let mut w = two();
    w.activity.insert("a1".into(), NOW - 20 * DAY);
    let plan = w.plan();
    assert!(decisions(&plan).iter().any(|d| matches!(d.1, DecisionKind::Suspend { .. })), "suspend first");
    w.settle();
    w.now = NOW + 3 * DAY;
    assert!(!decisions(&w.plan()).iter().any(|d| d.1 == DecisionKind::Terminate));
    w.now = NOW + 4 * DAY;
    assert!(decisions(&w.plan()).iter().any(|d| d.1 == DecisionKind::Terminate));
}

#[test]
fn reinstatement_resets_the_clock_and_reenables() {
    let mut w = two();
    w.activity.insert("a1".into(), NOW - 4 * DAY);
    w.settle();
    // HR reinstates a day later; still no badge-in since.
    w.now = NOW + DAY;
    let p = w.p("a1");
    p.employment = Employment::Active;
    p.status_since = Some(NOW + DAY - 3600);
    w.activity.insert("b2".into(), w.now);
    let plan = w.plan();
    assert!(plan.decisions.is_empty());
    assert_eq!(summary(&plan).iter().filter(|x| x.1 == "enable" && x.2 == Reason::Reinstated).count(), 3);
    w.settle();
    // The clock runs again from the reinstatement.
    w.now = NOW + DAY - 3600 + 3 * DAY;
    w.activity.insert("b2".into(), w.now);
    assert!(decisions(&w.plan()).iter().any(|d| d.0 == "a1" && matches!(d.1, DecisionKind::Suspend { .. })));
}

#[test]
fn never_seen_joiner_counts_from_hire_and_hr_suspended_are_not_reflagged() {
    for (hired_days_ago, caught) in [(2, false), (3, true), (10, true)] {
        let mut w = two();
        let p = w.p("a1");
        p.hire_at = NOW - hired_days_ago * DAY;
        p.status_since = Some(p.hire_at);
        w.activity.remove("a1");
        let plan = w.plan();
        assert_eq!(plan.decisions.iter().any(|d| d.person_id == "a1" && d.reason == Reason::Absconding), caught);
    }
    let mut w = two();
    w.activity.insert("a1".into(), NOW - 30 * DAY);
    w.p("a1").employment = Employment::Suspended { reason: SuspendReason::Hr("investigation".into()) };
    let plan = w.plan();
    assert!(plan.decisions.is_empty(), "not re-flagged as absconding");
    assert!(plan.actions.iter().all(|a| a.op == Op::Disable && a.reason == Reason::HrSuspended));
    assert_eq!(plan.actions.len(), 3);
    w.settle();
}

#[test]
fn absconding_can_be_switched_off_per_process() {
    let mut w = two();
    let mut quiet = Policy::default();
    quiet.absconding.enabled = false;
    w.policies.per_process.insert("P1".into(), quiet);
    w.activity.insert("a1".into(), NOW - 30 * DAY);
    w.activity.insert("b2".into(), NOW - 30 * DAY);
    let who: BTreeSet<_> = w.plan().decisions.iter().map(|d| d.person_id.clone()).collect();
    assert_eq!(who, set(&["b2"]));
}

// ---------------------------------------------------------------- movers

#[test]
fn mover_with_grace_zero_and_two_days() {
    for grace in [0, 2] {
        let mut w = two();
        let mut p1 = Policy::default();
        p1.mover.grace_days = grace;
        w.policies.per_process.insert("P1".into(), p1);
        let p = w.p("a1");
        p.moved_from = Some(Move { process: Some("P1".into()), team: None, at: NOW - DAY });
        p.process = Some("P2".into());
        let plan = w.plan();
        let old_at = NOW - DAY + i64::from(grace) * DAY;
        let due = old_at <= NOW;
        let mut s = summary(&plan);
        s.sort();
        assert_eq!(
            s,
            vec![
                ("ad".into(), "grant", Reason::Mover, true),
                ("ad".into(), "revoke", Reason::Mover, due),
                ("app1".into(), "disable", Reason::Mover, due),
                ("app1".into(), "revoke", Reason::Mover, due),
                ("app2".into(), "create", Reason::Mover, true),
                ("card".into(), "grant", Reason::Mover, true),
                ("card".into(), "revoke", Reason::Mover, due),
            ],
            "grace {grace}"
        );
        assert!(plan.actions.iter().filter(|a| !a.not_before.eq(&NOW)).all(|a| a.not_before == old_at));
        w.settle();
    }
}

#[test]
fn account_on_another_process_target_is_removed() {
    let mut w = two();
    let mut stray = w.accounts.iter().find(|a| a.key == "new:b2:app2").unwrap().clone();
    stray.key = "stray".into();
    stray.email = Some("a1@bpo.example".into());
    w.accounts.push(stray);
    let plan = w.plan();
    assert_eq!(
        summary(&plan),
        vec![
            ("app2".into(), "revoke", Reason::OutsideProcess, true),
            ("app2".into(), "disable", Reason::OutsideProcess, true)
        ]
    );
    assert_eq!(plan.links_proposed.len(), 1);
    w.settle();
}

// ---------------------------------------------------------------- dormant, orphans, collisions, deleted, drift

#[test]
fn dormant_accounts_are_flagged_not_disabled() {
    for (last_used, hire_days_ago, flagged) in
        [(Some(NOW - 91 * DAY), 400, true), (Some(NOW - 89 * DAY), 400, false), (None, 400, true), (None, 10, false)]
    {
        let mut w = two();
        w.account("card", "a1").last_used = last_used;
        w.p("a1").hire_at = NOW - hire_days_ago * DAY;
        let plan = w.plan();
        assert!(plan.actions.is_empty());
        let dormant: Vec<_> = plan.flags.iter().filter(|f| f.kind == FlagKind::Dormant).collect();
        assert_eq!(dormant.len(), usize::from(flagged), "{last_used:?} {hire_days_ago}");
        if flagged {
            assert_eq!((dormant[0].key.as_str(), dormant[0].since), ("new:a1:card", last_used));
        }
    }
}

#[test]
fn targets_that_report_no_use_flag_nothing_dormant() {
    // Every card without a last use: the card system does not track it, so "never used"
    // cannot be told from "unknown".
    let mut w = two();
    for a in &mut w.accounts {
        a.last_used = None;
    }
    w.p("a1").hire_at = NOW - 400 * DAY;
    let plan = w.plan();
    assert!(plan.flags.iter().all(|f| f.kind != FlagKind::Dormant), "{:?}", plan.flags);
}

#[test]
fn orphans_are_flagged_and_disabled_only_when_the_policy_says_so() {
    for disable in [false, true] {
        let mut w = two();
        w.policies.default.disable_orphans = disable;
        w.accounts.push(Account {
            target: "card".into(),
            key: "card-999".into(),
            login: "x".into(),
            employee_id: Some("NOBODY".into()),
            email: None,
            enabled: true,
            entitlements: set(&["floor-P1"]),
            last_used: Some(NOW - 9 * DAY),
        });
        let plan = w.plan();
        assert_eq!(*plan.situations.last().unwrap(), Situation::Unmatched);
        assert_eq!(plan.stats.situations[&Situation::Unmatched], 1);
        let f = &plan.flags[0];
        assert_eq!((f.kind.clone(), f.person_id.clone(), f.since), (FlagKind::Orphan, None, Some(NOW - 9 * DAY)));
        let expect = if disable { vec![("card".into(), "disable", Reason::Orphan, true)] } else { vec![] };
        assert_eq!(summary(&plan), expect);
        w.settle();
    }
}

#[test]
fn collisions_block_linking_and_creation() {
    // Two people share an email: an unlinked app2 account matching it is ambiguous.
    let mut w = two();
    w.people.push(Person { email: Some("B2@bpo.example".into()), ..person("c3", "P1") });
    w.activity.insert("c3".into(), NOW);
    w.links.retain(|l| l.key != "new:b2:app2");
    let plan = w.plan();
    let i = w.accounts.iter().position(|a| a.key == "new:b2:app2").unwrap();
    assert_eq!(plan.situations[i], Situation::Collision);
    assert!(plan.flags.iter().any(|f| f.kind == FlagKind::Collision && f.person_id.is_none()));

    // Two unlinked accounts on one target for one person: both collide, nothing created.
    let mut w = two();
    w.links.retain(|l| l.key != "new:a1:card");
    let mut twin = w.accounts.iter().find(|a| a.key == "new:a1:card").unwrap().clone();
    twin.key = "card-twin".into();
    w.accounts.push(twin);
    let plan = w.plan();
    let collided: Vec<_> =
        plan.flags.iter().filter(|f| f.kind == FlagKind::Collision).map(|f| f.key.as_str()).collect();
    assert_eq!(collided, ["card-twin", "new:a1:card"]);
    assert!(plan.actions.is_empty() && plan.links_proposed.is_empty());
    assert_eq!(plan.stats.situations[&Situation::Collision], 2);
}

#[test]
fn unlinked_accounts_get_links_case_insensitively() {
    let mut w = two();
    w.links.clear();
    for a in &mut w.accounts {
        a.login = a.login.to_uppercase();
        a.email = a.email.as_ref().map(|e| e.to_uppercase());
    }
    let plan = w.plan();
    assert!(plan.actions.is_empty(), "{:#?}", plan.actions);
    assert_eq!(plan.links_proposed.len(), 6);
    assert!(plan.situations.iter().all(|s| *s == Situation::Unlinked));
    w.settle();
    assert!(w.plan().links_proposed.is_empty());
}

#[test]
fn deleted_account_drops_the_link_and_is_recreated() {
    let mut w = two();
    w.accounts.retain(|a| a.key != "new:a1:card");
    let plan = w.plan();
    assert_eq!(plan.links_dropped.len(), 1);
    assert_eq!(plan.stats.situations[&Situation::Deleted], 1);
    assert_eq!(summary(&plan), vec![("card".into(), "create", Reason::Birthright, true)]);
    w.settle();
    // A leaver's deleted account is only unlinked.
    w.accounts.retain(|a| a.key != "new:a1:card");
    w.p("a1").exit_at = Some(NOW);
    let plan = w.plan();
    assert_eq!(plan.links_dropped.len(), 1);
    assert!(plan.actions.iter().all(|a| a.target != "card"));
}

#[test]
fn drift_is_reported_or_revoked_by_policy() {
    for revoke in [false, true] {
        let mut w = two();
        w.policies.default.revoke_unexpected = revoke;
        w.account("ad", "a1").entitlements.insert("domain-admins".into());
        let plan = w.plan();
        if revoke {
            assert_eq!(summary(&plan), vec![("ad".into(), "revoke", Reason::Drift, true)]);
        } else {
            assert!(plan.actions.is_empty());
            assert!(plan
                .flags
                .iter()
                .any(|f| f.kind == FlagKind::UnexpectedEntitlement { entitlement: "domain-admins".into() }));
        }
        w.settle();
    }
    // A missing birthright is granted back.
    let mut w = two();
    w.account("ad", "a1").entitlements.remove("staff");
    assert_eq!(summary(&w.plan()), vec![("ad".into(), "grant", Reason::Birthright, true)]);
}

// ---------------------------------------------------------------- plans: order, stats, serde

#[test]
fn plans_are_sorted_deterministic_and_serialisable() {
    let g = generate(&GenConfig { seed: 7, people: 3_000, processes: 4 });
    let a = reconcile(&g.snapshot());
    let b = reconcile(&g.snapshot());
    let json = serde_json::to_string(&a).unwrap();
    assert_eq!(json, serde_json::to_string(&b).unwrap());
    let back: Plan = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (&back.actions, &back.decisions, &back.flags, &back.situations),
        (&a.actions, &a.decisions, &a.flags, &a.situations)
    );
    assert!(a.actions.windows(2).all(|w| (&w[0].target, &w[0].account_key) <= (&w[1].target, &w[1].account_key)));
    assert_eq!(a.situations.len(), g.accounts.len());
    assert_eq!(a.stats.ops.values().sum::<usize>(), a.actions.len());
    assert_eq!(a.stats.disables, a.stats.ops.get("disable").copied().unwrap_or(0));
    assert!(a.stats.disable_share > 0.0 && a.stats.disable_share < 0.1);
}

// ---------------------------------------------------------------- generator

#[test]
fn generator_counts_match_the_plan() {
    let g = generate(&GenConfig { seed: 42, people: 20_000, processes: 6 });
    let e = &g.expected;
    let plan = reconcile(&g.snapshot());
    let persons_with = |r: Reason| {
        plan.actions
            .iter()
            .filter(|a| a.reason == r)
            .filter_map(|a| a.person_id.as_deref())
            .collect::<BTreeSet<_>>()
            .len()
    };
    let decided = |k: DecisionKind, r: Reason| plan.decisions.iter().filter(|d| d.kind == k && d.reason == r).count();
    let flagged = |k: FlagKind| plan.flags.iter().filter(|f| f.kind == k).count();
    assert_eq!(persons_with(Reason::Leaver), e.leavers);
    assert_eq!(decided(DecisionKind::Terminate, Reason::Leaver), e.leavers_still_active);
    assert_eq!(decided(DecisionKind::Suspend { reason: SuspendReason::Absconding }, Reason::Absconding), e.absconders);
    assert_eq!(decided(DecisionKind::Terminate, Reason::AbscondingTerminated), e.absconders_terminated);
    assert_eq!(persons_with(Reason::Mover), e.movers);
    assert_eq!(plan.actions.iter().filter(|a| a.op.name() == "create").count(), e.creates);
    assert_eq!(plan.links_dropped.len(), e.deleted);
    assert_eq!(flagged(FlagKind::Orphan), e.orphans);
    assert_eq!(flagged(FlagKind::Dormant), e.dormant);
    assert_eq!(flagged(FlagKind::Collision), e.collisions);
    assert_eq!(plan.flags.iter().filter(|f| matches!(f.kind, FlagKind::UnexpectedEntitlement { .. })).count(), e.drift);
    assert_eq!(plan.links_proposed.len(), e.unlinked);
    assert_eq!(persons_with(Reason::Drift) + persons_with(Reason::OutsideProcess), 0);
    for n in [e.leavers, e.absconders, e.absconders_terminated, e.movers, e.orphans, e.dormant, e.collisions] {
        assert!(n > 0, "every category injected: {e:?}");
    }
    // The HR file describes the same people.
    let report = hrcsv::parse(&g.hr_csv, &ColumnMapping::default()).unwrap();
    assert!(report.rejected.is_empty(), "{:?}", &report.rejected[..report.rejected.len().min(3)]);
    assert_eq!(report.records.len(), g.people.len());
    assert_eq!(report.records[0].0, 2);
}

#[test]
fn generated_world_settles_after_one_plan() {
    let g = generate(&GenConfig { seed: 3, people: 5_000, processes: 3 });
    let mut w = World {
        people: g.people,
        targets: g.targets,
        accounts: g.accounts,
        links: g.links,
        activity: g.activity,
        rules: g.birthrights,
        assignments: g.assignments,
        policies: g.policies,
        now: g.now,
    };
    w.settle();
}

// ---------------------------------------------------------------- safety

#[test]
fn breaker_trips_on_a_truncated_hr_feed_only() {
    let mut g = generate(&GenConfig { seed: 1, people: 10_000, processes: 4 });
    let breaker = Breaker::default();
    let plan = reconcile(&g.snapshot());
    assert!(breaker.check(&plan, plan.stats.enabled_accounts).is_none(), "normal churn passes: {:?}", plan.stats);
    // Everyone missing from a (truncated) full file long enough: the server terminates them all.
    for p in &mut g.people {
        p.employment = Employment::Terminated;
    }
    let plan = reconcile(&g.snapshot());
    let trip = breaker.check(&plan, plan.stats.enabled_accounts).expect("must trip");
    assert!(trip.disables > 25_000 && trip.share > 0.9, "{trip:?}");
    assert!(trip.limit.contains("50 accounts"));
    // Small tenant: 10 of 100 disabled is under the absolute floor.
    assert!(Breaker { max_disables: 50, max_share: 0.05 }.check(&Plan::default(), 100).is_none());
}

#[test]
fn absence_counts_consecutive_missing_full_files() {
    let policy = AbsencePolicy::default();
    let mut misses = 0;
    for (present, gone) in
        [(false, false), (false, false), (true, false), (false, false), (false, false), (false, true)]
    {
        misses = absence_update(misses, present);
        assert_eq!(policy.is_gone(misses), gone);
    }
    assert_eq!(absence_update(u32::MAX, false), u32::MAX);
}

#[test]
fn backoff_is_monotone_capped_jittered_and_gives_up() {
    for id in ["a", "action-1", "action-2", "ÿ"] {
        let mut prev = NOW;
        for attempt in 1..=40 {
            let t = next_attempt(attempt, NOW, id);
            assert!(t >= prev && t - NOW <= 3600 && t - NOW >= 22, "{id} {attempt}");
            prev = t;
        }
    }
    assert_eq!(next_attempt(1, NOW, "x"), next_attempt(1, NOW, "x"), "deterministic");
    let spread: BTreeSet<_> = (0..50).map(|i| next_attempt(10, NOW, &format!("a{i}"))).collect();
    assert!(spread.len() > 10, "ids spread out");
    assert!(!gives_up(11) && gives_up(12));
    let b = Backoff { base_secs: 1, cap_secs: 10, max_attempts: 2 };
    assert!(b.next_attempt(u32::MAX, 0, "x") <= 10 && b.gives_up(2));
}

// ---------------------------------------------------------------- policies

#[test]
fn policies_default_validate_and_reject_nonsense() {
    let set = PolicySet::from_json(r#"{"per_process": {"P9": {"absconding": {"after_days": 2}}}}"#).unwrap();
    assert_eq!(set.for_process(Some("P9")).absconding.after_days, 2);
    assert_eq!(set.for_process(Some("P9")).absconding.terminate_after_days, 7);
    assert_eq!(set.for_process(Some("P1")).leaver.delete_after_days, 30);
    assert_eq!(set.for_process(None), &Policy::default());
    let cases = [
        (r#"{"default": {"absconding": {"after_days": 7, "terminate_after_days": 7}}}"#, "must be greater than"),
        (r#"{"default": {"dormant": {"after_days": 0}}}"#, "at least 1 day"),
        (r#"{"default": {"leaver": {"delete_after_days": 99999}}}"#, "maximum"),
        (r#"{"default": {"mover": {"grace_day": 2}}}"#, "unknown field"),
        (r#"{"per_process": {" ": {}}}"#, "empty process"),
    ];
    for (json, message) in cases {
        let err = PolicySet::from_json(json).unwrap_err();
        assert!(err.to_string().contains(message), "{json}: {err}");
    }
    assert!(matches!(
        PolicySet::from_json(
            r#"{"per_process": {"P1": {"absconding": {"after_days": 5, "terminate_after_days": 3}}}}"#
        ),
        Err(PolicyError::TerminateNotAfterSuspend { after: 5, terminate: 3, .. })
    ));
}

// ---------------------------------------------------------------- HR CSV

const HEADER: &str = "employee_id,given_name,family_name,email,login,site,process,team,manager_employee_id,job_role,status,status_reason,hire_date,exit_date";

fn good(id: &str) -> String {
    format!("{id},Ana,Cruz,{id}@bpo.example,{id},S1,P1,T1,,agent,active,,2024-01-15,")
}

#[test]
fn csv_accepts_bom_crlf_quotes_and_blank_family_names() {
    let text = format!(
        "\u{feff}{HEADER}\r\n{}\r\n\"E2\",\"Maria, Jr\",\"\",e2@bpo.example,,S1,P1,\"T\"\"1\",E1,agent,SUSPENDED,\"long\nleave\",2024-02-29,2024-03-01\r\n{}\r\n",
        good("E1"),
        good("E3")
    );
    let r = hrcsv::parse(text.as_bytes(), &ColumnMapping::default()).unwrap();
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    let lines: Vec<u64> = r.records.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [2, 3, 5], "the quoted line break moves the next row to line 5");
    let e2 = &r.records[1].1;
    assert_eq!((e2.given_name.as_str(), e2.family_name.as_str(), e2.status.as_str()), ("Maria, Jr", "", "suspended"));
    assert_eq!(e2.team.as_deref(), Some("T\"1"));
    assert_eq!(e2.login, None);
    assert_eq!(r.records[0].1.exit_date, None);
}

#[test]
fn csv_rejects_each_kind_of_bad_row_with_its_line() {
    let rows = [
        (good("E1"), None, ""),
        (good("E1").replace("2024-01-15", "2023-02-29"), Some("hire_date"), "calendar date"),
        (good("E2").replace(",active,", ",retired,"), Some("status"), "not one of"),
        (good("E3").replace("E3@bpo.example", "not-an-email"), Some("email"), "not an email"),
        (good("E4").replace(",Ana,", ",,"), Some("given_name"), "required"),
        (good("E5") + ",extra", None, "15 columns"),
        (good("E 6"), Some("employee_id"), "letters, digits"),
        (good("E7").replace(",,2024-01-15,", ",,2024-01-15,2023-12-31"), Some("exit_date"), "before hire_date"),
        (good("E1"), Some("employee_id"), "already appears on line 2"),
        (good(&"E".repeat(70)), Some("employee_id"), "at most 64"),
        ("E9,Ana".to_owned(), None, "2 columns"),
        (good("E10").replace("2024-01-15", "15/01/2024"), Some("hire_date"), "YYYY-MM-DD"),
        (good("E11").replace(",S1,", ",S\u{7}1,"), Some("site"), "control characters"),
        (good("E12"), None, ""),
    ];
    let mut text = format!("{HEADER}\n");
    for (row, _, _) in &rows {
        text.push_str(row);
        text.push('\n');
    }
    let r = hrcsv::parse(text.as_bytes(), &ColumnMapping::default()).unwrap();
    assert_eq!(r.records.iter().map(|(l, _)| *l).collect::<Vec<_>>(), [2, 15]);
    let expected: Vec<_> = rows.iter().enumerate().filter(|(_, r)| r.1.is_some() || !r.2.is_empty()).collect();
    assert_eq!(r.rejected.len(), expected.len(), "{:#?}", r.rejected);
    for (rej, (i, (_, field, reason))) in r.rejected.iter().zip(expected) {
        assert_eq!(rej.line, i as u64 + 2, "{rej:?}");
        assert_eq!(rej.field.as_deref(), *field, "{rej:?}");
        assert!(rej.reason.contains(reason), "{rej:?} should say {reason}");
    }
    // Invalid UTF-8 in one cell rejects that row only.
    let mut bytes = format!("{HEADER}\n").into_bytes();
    bytes.extend_from_slice(good("E1").replace("Ana", "A\u{1}").as_bytes());
    bytes.extend_from_slice(b"\nE2,\xff\xfe,Cruz,,,S1,P1,,,agent,active,,2024-01-15,\n");
    let r = hrcsv::parse(&bytes, &ColumnMapping::default()).unwrap();
    assert_eq!(
        r.rejected.iter().map(|x| (x.line, x.field.clone())).collect::<Vec<_>>(),
        [(2, Some("given_name".into())), (3, Some("given_name".into()))]
    );
}

#[test]
fn csv_file_level_errors_and_custom_mappings() {
    let m = ColumnMapping::default();
    let cr_only = format!("{HEADER}\r{}\r{}\r", good("E1"), good("E2"));
    let lines: Vec<u64> = hrcsv::parse(cr_only.as_bytes(), &m).unwrap().records.iter().map(|r| r.0).collect();
    assert_eq!(lines, [2, 3], "a lone CR ends a line too");
    assert_eq!(hrcsv::parse(b"", &m), Err(FileError::Empty));
    assert_eq!(hrcsv::parse(b"\xEF\xBB\xBF\r\n", &m), Err(FileError::Empty));
    let err = hrcsv::parse(b"employee_id,given_name,status\nE1,Ana,active\n", &m).unwrap_err();
    assert_eq!(err, FileError::MissingColumns(vec!["job_role".into(), "hire_date".into()]));
    assert!(err.to_string().contains("job_role, hire_date"));
    assert!(matches!(hrcsv::parse(b"a,A\n", &m), Err(FileError::DuplicateColumn(_))));
    // A mapping for an HR system with its own headers; optional columns may be absent.
    let mapping = ColumnMapping::from_json(
        r#"{"employee_id":"Emp No","given_name":"First","job_role":"Role","status":"State","hire_date":"Joined"}"#,
    )
    .unwrap();
    let r =
        hrcsv::parse(b"EMP NO,first,Role,State,Joined,Ignored\nA-1,Ana,agent,active,2020-01-01,x\n", &mapping).unwrap();
    assert_eq!(r.records.len(), 1);
    assert_eq!(r.records[0].1.employee_id, "A-1");
    assert!(ColumnMapping::from_json(r#"{"employee_id":"x","salary":"y"}"#)
        .unwrap_err()
        .to_string()
        .contains("unknown variant"));
    let mut partial = ColumnMapping::default();
    partial.unset(HrField::HireDate);
    assert!(ColumnMapping::from_json(&serde_json::to_string(&partial).unwrap())
        .unwrap_err()
        .to_string()
        .contains("hire_date"));
}

#[test]
fn activity_feed_parses_every_time_shape_and_rejects_bad_rows() {
    let text = "Kind,employee_id,at,door\n\
                badge,E1,2024-05-01T08:30:00Z,D1\n\
                LOGIN,E1,2024-05-01 09:00:00,\n\
                attendance,E2,1714550400,\n\
                coffee,E2,1714550400,\n\
                badge,E3,yesterday,\n\
                badge,,1714550400,\n";
    let (events, rejected) = hrcsv::parse_activity(text.as_bytes());
    assert_eq!(events.len(), 3);
    assert_eq!(events[1].kind, hrcsv::ActivityKind::Login);
    assert_eq!(events[0].at + 1800, events[1].at);
    assert_eq!(
        rejected.iter().map(|r| (r.line, r.field.as_deref().unwrap())).collect::<Vec<_>>(),
        [(5, "kind"), (6, "at"), (7, "employee_id")]
    );
    let latest = hrcsv::latest_by_employee(&events);
    assert_eq!(latest["E1"], events[1].at);
    let (none, rej) = hrcsv::parse_activity(b"employee_id,when\n");
    assert!(none.is_empty() && rej[0].line == 1 && rej[0].reason.contains("kind, at"));
}

// ---------------------------------------------------------------- properties

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn csv_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = hrcsv::parse(&bytes, &ColumnMapping::default());
        let _ = hrcsv::parse_activity(&bytes);
    }

    #[test]
    fn csv_parsers_never_panic_on_csv_like_text(
        rows in proptest::collection::vec("[a-zA-Z0-9@.,\"\r\n -]{0,80}", 0..8),
    ) {
        let text = format!("{HEADER}\n{}", rows.join("\n"));
        if let Ok(r) = hrcsv::parse(text.as_bytes(), &ColumnMapping::default()) {
            for (line, _) in &r.records { prop_assert!(*line >= 2); }
            for rej in &r.rejected { prop_assert!(rej.line >= 2); }
        }
        let _ = hrcsv::parse_activity(format!("employee_id,kind,at\n{}", rows.join("\n")).as_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn reconcile_is_deterministic_and_idempotent(seed in any::<u64>(), people in 50usize..400, processes in 1usize..5) {
        let g = generate(&GenConfig { seed, people, processes });
        let a = reconcile(&g.snapshot());
        prop_assert_eq!(&a, &reconcile(&g.snapshot()));
        let mut w = World {
            people: g.people.clone(), targets: g.targets.clone(), accounts: g.accounts.clone(), links: g.links.clone(),
            activity: g.activity.clone(), rules: g.birthrights.clone(), assignments: vec![], policies: g.policies.clone(),
            now: g.now,
        };
        w.apply(&a);
        let b = w.plan();
        prop_assert_eq!(b.due().count(), 0);
        prop_assert_eq!(scheduled(&b), scheduled(&a));
    }
}

// ---------------------------------------------------------------- scale

/// `cargo test -p bposhield-identity --release --test identity -- --ignored --nocapture scale`
#[test]
#[ignore = "300k people / 900k accounts; run in release to read the timing"]
fn scale_300k_people_900k_accounts() {
    use std::time::Instant;
    let t = Instant::now();
    let g = generate(&GenConfig::benchmark());
    let generated = t.elapsed();
    let t = Instant::now();
    let report = hrcsv::parse(&g.hr_csv, &ColumnMapping::default()).unwrap();
    let parsed = t.elapsed();
    assert_eq!(report.records.len(), 300_000);
    let t = Instant::now();
    let plan = reconcile(&g.snapshot());
    let reconciled = t.elapsed();
    println!(
        "people {} accounts {} targets {}: generate {generated:?}, parse HR CSV ({} MB) {parsed:?}, reconcile {reconciled:?}; \
         actions {} decisions {} flags {} stats {:?}",
        g.people.len(),
        g.accounts.len(),
        g.targets.len(),
        g.hr_csv.len() / 1_000_000,
        plan.actions.len(),
        plan.decisions.len(),
        plan.flags.len(),
        plan.stats.ops
    );
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}
