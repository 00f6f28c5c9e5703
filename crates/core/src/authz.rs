//! Authorization: the one function that decides every request.
//!
//! [`authorize`] takes who is asking ([`Actor`]), what they want to do ([`Action`]) and
//! on what ([`Resource`]). The policy is the table in [`allowed_roles`]: an action is
//! allowed when the actor holds one of its roles at a scope that covers the resource.
//! List pages authorize against [`Resource::Any`] and then narrow the rows with
//! [`visibility`], so a team manager's people list only ever holds their team.

use bposhield_proto::{HostId, PersonId, ProcessId, Role, Scope, SiteId, TeamId, UserId};
use serde::Serialize;

/// Everything a caller can ask to do. Routes map one-to-one onto these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// See the ten-risk dashboard.
    DashboardView,
    /// See controls, their evidence and history.
    ControlsView,
    /// Re-evaluate all controls now.
    ControlsEvaluate,
    /// See sites, process units and teams.
    OrgView,
    /// Create or change sites, process units and teams.
    OrgEdit,
    /// See people (HR identities).
    PeopleView,
    /// Create or change people.
    PeopleEdit,
    /// See platform users and their roles.
    UsersView,
    /// Create, disable, reset users; grant and revoke roles; revoke any token.
    UsersAdmin,
    /// Read the audit events.
    AuditView,
    /// One's own account: password, second factor, own tokens, sign-out.
    AccountSelf,
    /// Scrape Prometheus metrics.
    MetricsView,
    /// Read the ledger: checkpoints, entries, proofs.
    LedgerView,
    /// Start a full verification of the ledger (reads only; runs in the background).
    LedgerVerify,
    /// Push people and groups over SCIM 2.0 (`/scim/v2`): HR systems and identity providers.
    ScimProvision,
    /// See the identity lifecycle: timelines, accounts per target, plans, orphans, work items.
    IdentityView,
    /// Feed HR and activity data: HR CSV import, attendance, badge and login events;
    /// confirm or reinstate an absconder.
    IdentityFeed,
    /// Approve or reject a plan held by the circuit breaker; run a reconciliation or dry-run.
    IdentityApprove,
    /// Set up targets (connectors), birthright rules and lifecycle policies; assign owners
    /// to orphan accounts.
    IdentityAdmin,
    /// Work the manual target's queue: complete items with proof.
    IdentityWork,
    /// Create and close access review campaigns.
    ReviewAdmin,
    /// Decide keep/revoke on the review items assigned to the caller.
    ReviewDecide,
    /// See call recordings' metadata, PII findings, redacted transcripts and access log
    /// (never the media).
    RecordingsView,
    /// Play, seek or download a recording's media, with a stated reason. The route
    /// needs this action; the recording itself needs [`authorize_media`].
    RecordingsPlay,
    /// Push recordings in from the call-monitoring system (metadata, transcript, media).
    RecordingsIngest,
    /// Set a process unit's recording retention policy.
    RecordingsAdmin,
    /// Set and release legal holds on recordings.
    RecordingsHold,
    /// See the endpoint fleet: hosts, compliance, device events, policies, exceptions.
    FleetView,
    /// Run the fleet: enrollment tokens, USB and SCA policies, their assignments, and
    /// per-scope settings (USB enforcement, scan and heartbeat intervals).
    FleetAdmin,
    /// Ask for a time-bound USB device exception for a host.
    FleetExceptionRequest,
    /// Approve or reject exception requests (never one's own) and issue offline
    /// response codes.
    FleetExceptionApprove,
    /// What an enrolled host does with its own credential: pull its bundle, rotate its
    /// credential, report events. No user role holds it (see [`Actor::host`]).
    FleetReport,
}

impl Action {
    /// Every action, for exhaustive tests.
    pub const ALL: [Action; 32] = [
        Action::DashboardView,
        Action::ControlsView,
        Action::ControlsEvaluate,
        Action::OrgView,
        Action::OrgEdit,
        Action::PeopleView,
        Action::PeopleEdit,
        Action::UsersView,
        Action::UsersAdmin,
        Action::AuditView,
        Action::AccountSelf,
        Action::MetricsView,
        Action::LedgerView,
        Action::LedgerVerify,
        Action::ScimProvision,
        Action::IdentityView,
        Action::IdentityFeed,
        Action::IdentityApprove,
        Action::IdentityAdmin,
        Action::IdentityWork,
        Action::ReviewAdmin,
        Action::ReviewDecide,
        Action::RecordingsView,
        Action::RecordingsPlay,
        Action::RecordingsIngest,
        Action::RecordingsAdmin,
        Action::RecordingsHold,
        Action::FleetView,
        Action::FleetAdmin,
        Action::FleetExceptionRequest,
        Action::FleetExceptionApprove,
        Action::FleetReport,
    ];

    /// Dotted name used in audit events, e.g. `people.edit`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Action::DashboardView => "dashboard.view",
            Action::ControlsView => "controls.view",
            Action::ControlsEvaluate => "controls.evaluate",
            Action::OrgView => "org.view",
            Action::OrgEdit => "org.edit",
            Action::PeopleView => "people.view",
            Action::PeopleEdit => "people.edit",
            Action::UsersView => "users.view",
            Action::UsersAdmin => "users.admin",
            Action::AuditView => "audit.view",
            Action::AccountSelf => "account.self",
            Action::MetricsView => "metrics.view",
            Action::LedgerView => "ledger.view",
            Action::LedgerVerify => "ledger.verify",
            Action::ScimProvision => "scim.provision",
            Action::IdentityView => "identity.view",
            Action::IdentityFeed => "identity.feed",
            Action::IdentityApprove => "identity.approve",
            Action::IdentityAdmin => "identity.admin",
            Action::IdentityWork => "identity.work",
            Action::ReviewAdmin => "review.admin",
            Action::ReviewDecide => "review.decide",
            Action::RecordingsView => "recordings.view",
            Action::RecordingsPlay => "recordings.play",
            Action::RecordingsIngest => "recordings.ingest",
            Action::RecordingsAdmin => "recordings.admin",
            Action::RecordingsHold => "recordings.hold",
            Action::FleetView => "fleet.view",
            Action::FleetAdmin => "fleet.admin",
            Action::FleetExceptionRequest => "fleet.exception_request",
            Action::FleetExceptionApprove => "fleet.exception_approve",
            Action::FleetReport => "fleet.report",
        }
    }

    /// Whether the action changes state (auditors and executives never get these).
    #[must_use]
    pub fn mutates(self) -> bool {
        matches!(
            self,
            Action::ControlsEvaluate
                | Action::OrgEdit
                | Action::PeopleEdit
                | Action::UsersAdmin
                | Action::ScimProvision
                | Action::IdentityFeed
                | Action::IdentityApprove
                | Action::IdentityAdmin
                | Action::IdentityWork
                | Action::ReviewAdmin
                | Action::ReviewDecide
                | Action::RecordingsIngest
                | Action::RecordingsAdmin
                | Action::RecordingsHold
                | Action::FleetAdmin
                | Action::FleetExceptionRequest
                | Action::FleetExceptionApprove
                | Action::FleetReport
        )
    }
}

/// The policy table: which roles may perform an action (at a covering scope).
///
/// Separation of duties is visible here: `platform_admin` administers users but sees no
/// people (HR data); `auditor` and `executive` only read; `agent` and `third_party` only
/// manage their own account until later modules give them their own pages.
#[must_use]
pub fn allowed_roles(action: Action) -> &'static [Role] {
    use Role::*;
    const MANAGERS_AND_UP: &[Role] =
        &[TeamManager, ProcessHead, Hr, SecurityOfficer, ItAdmin, Auditor, Executive, PlatformAdmin];
    match action {
        Action::DashboardView | Action::ControlsView | Action::OrgView => MANAGERS_AND_UP,
        Action::ControlsEvaluate => &[SecurityOfficer],
        Action::OrgEdit => &[Hr, PlatformAdmin],
        Action::PeopleView => &[TeamManager, ProcessHead, Hr, SecurityOfficer, Auditor, Executive],
        Action::PeopleEdit => &[Hr],
        Action::UsersView => &[SecurityOfficer, Auditor, PlatformAdmin],
        Action::UsersAdmin => &[PlatformAdmin],
        Action::AuditView => &[SecurityOfficer, Auditor],
        Action::AccountSelf => &Role::ALL,
        Action::MetricsView => &[ItAdmin, PlatformAdmin],
        Action::LedgerView | Action::LedgerVerify => &[Auditor, SecurityOfficer],
        // HR systems push with an `hr` token; nobody else writes HR identities.
        Action::ScimProvision | Action::IdentityFeed => &[Hr],
        Action::IdentityView => &[ProcessHead, Hr, SecurityOfficer, ItAdmin, Auditor],
        // A mass disable held by the breaker is released by security, not by the feed's owner.
        Action::IdentityApprove => &[SecurityOfficer],
        Action::IdentityAdmin => &[SecurityOfficer, ItAdmin],
        Action::IdentityWork => &[ItAdmin],
        Action::ReviewAdmin => &[SecurityOfficer],
        Action::ReviewDecide => &[TeamManager, ProcessHead, SecurityOfficer],
        // Security and audit see who listened, never what was said.
        Action::RecordingsView => &[TeamManager, ProcessHead, SecurityOfficer, Auditor],
        Action::RecordingsPlay => &[TeamManager, ProcessHead],
        // The call-monitoring system pushes with an `it_admin` machine token.
        Action::RecordingsIngest => &[ItAdmin],
        Action::RecordingsAdmin => &[SecurityOfficer, ProcessHead],
        // Legal holds are security's call, set and released with a reason.
        Action::RecordingsHold => &[SecurityOfficer],
        // Hosts sit at a site and optionally a process, never in a team: the fleet
        // module reads a team-scoped grant as covering the hosts of the team's process
        // (`bposhield_server::fleet::HostScope`). Executives read the R1/R4 controls on
        // the dashboard, not host by host.
        Action::FleetView => &[TeamManager, ProcessHead, SecurityOfficer, ItAdmin, Auditor],
        Action::FleetAdmin => &[SecurityOfficer, ItAdmin],
        // The floor's managers ask; security or IT decide (never the requester).
        Action::FleetExceptionRequest => &[TeamManager, ProcessHead, SecurityOfficer, ItAdmin],
        Action::FleetExceptionApprove => &[SecurityOfficer, ItAdmin],
        // Hosts are not users: only a host credential carries this (see `authorize`).
        Action::FleetReport => &[],
    }
}

/// Whether the actor may play a recording of `team` in `process`: only a
/// `team_manager` whose grant is scoped to exactly that team, or a `process_head`
/// scoped to exactly that process. A wider grant (site or global) does not reach the
/// media: the rule is the recording's own managers, not everyone above them.
#[must_use]
pub fn authorize_media(actor: &Actor, process: ProcessId, team: Option<TeamId>) -> Decision {
    let ok = actor.grants.iter().any(|(role, scope)| match (role, scope) {
        (Role::TeamManager, Scope::Team(t)) => team == Some(*t),
        (Role::ProcessHead, Scope::Process(p)) => *p == process,
        _ => false,
    });
    if ok {
        Decision::Allow
    } else if actor.grants.iter().any(|(r, _)| matches!(r, Role::TeamManager | Role::ProcessHead)) {
        Decision::Deny("recordings.play: only the recording's own team manager or process head".into())
    } else {
        Decision::Deny("no role of the caller allows recordings.play".into())
    }
}

/// What the action is applied to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// A collection; allowed if the actor holds the action at any scope. The rows are
    /// then narrowed with [`visibility`].
    Any,
    /// Something platform-wide (users, tokens, audit, metrics): needs a global grant.
    Global,
    /// An object that sits in the organisation: a site, process unit, team or person.
    Org { site: SiteId, process: Option<ProcessId>, team: Option<TeamId> },
    /// The caller's own account.
    OwnAccount,
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: UserId,
    /// The person the user is linked to, if any.
    pub person_id: Option<PersonId>,
    /// Effective grants (for a token: the token's grants, already intersected with the user's).
    pub grants: Vec<(Role, Scope)>,
    /// Set when the caller is an enrolled endpoint presenting its host credential, not
    /// a user: it holds no grants and may do [`Action::FleetReport`] and nothing else.
    pub host: Option<HostId>,
}

impl Actor {
    /// A user with these grants.
    #[must_use]
    pub fn user(user_id: UserId, person_id: Option<PersonId>, grants: Vec<(Role, Scope)>) -> Self {
        Self { user_id, person_id, grants, host: None }
    }

    /// An enrolled host (its credential authenticated it).
    #[must_use]
    pub fn host(host: HostId) -> Self {
        Self { user_id: UserId(host.0), person_id: None, grants: Vec::new(), host: Some(host) }
    }
}

/// The outcome of [`authorize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(String),
}

impl Decision {
    /// True for [`Decision::Allow`].
    #[must_use]
    pub fn is_allow(&self) -> bool {
        matches!(self, Decision::Allow)
    }
}

/// Decides one request. Pure: same inputs, same answer.
#[must_use]
pub fn authorize(actor: &Actor, action: Action, resource: Resource) -> Decision {
    // A host reports about itself (the handlers act on the authenticated host only) and
    // does nothing else; no user grant reaches the host-only action.
    if actor.host.is_some() {
        return if action == Action::FleetReport && resource == Resource::Any {
            Decision::Allow
        } else {
            Decision::Deny(format!("a host credential does not allow {}", action.as_str()))
        };
    }
    let roles = allowed_roles(action);
    let holds = |role: Role| actor.grants.iter().filter(move |(r, _)| *r == role);
    let ok = roles.iter().any(|&role| {
        holds(role).any(|(_, scope)| match resource {
            Resource::Any => true,
            Resource::OwnAccount => action == Action::AccountSelf,
            Resource::Global => *scope == Scope::Global,
            Resource::Org { site, process, team } => covers(*scope, site, process, team),
        })
    });
    // Every signed-in user may manage their own account, even with no role yet: a
    // freshly created user must be able to set a second factor before anything else.
    if ok || (action == Action::AccountSelf && resource == Resource::OwnAccount) {
        Decision::Allow
    } else if roles.iter().any(|&r| holds(r).next().is_some()) {
        Decision::Deny(format!("{} is outside the caller's scope", action.as_str()))
    } else {
        Decision::Deny(format!("no role of the caller allows {}", action.as_str()))
    }
}

/// Whether a grant at `scope` covers an object at site/process/team.
#[must_use]
pub fn covers(scope: Scope, site: SiteId, process: Option<ProcessId>, team: Option<TeamId>) -> bool {
    match scope {
        Scope::Global => true,
        Scope::Site(s) => s == site,
        Scope::Process(p) => process == Some(p),
        Scope::Team(t) => team == Some(t),
    }
}

/// Which rows of a collection the actor may see for `action`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// Everything.
    All,
    /// Only rows covered by one of these scopes (never empty).
    Within(Vec<Scope>),
    /// Nothing.
    Nothing,
}

/// The row filter for a collection `action`, from the actor's grants.
#[must_use]
pub fn visibility(actor: &Actor, action: Action) -> Visibility {
    let roles = allowed_roles(action);
    let mut scopes: Vec<Scope> = actor.grants.iter().filter(|(r, _)| roles.contains(r)).map(|(_, s)| *s).collect();
    if scopes.contains(&Scope::Global) {
        return Visibility::All;
    }
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        Visibility::Nothing
    } else {
        Visibility::Within(scopes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn actor(grants: &[(Role, Scope)]) -> Actor {
        Actor::user(UserId(Uuid::nil()), None, grants.to_vec())
    }
    fn ids() -> (SiteId, ProcessId, TeamId) {
        (SiteId(Uuid::from_u128(1)), ProcessId(Uuid::from_u128(2)), TeamId(Uuid::from_u128(3)))
    }

    #[test]
    fn read_only_roles_never_mutate() {
        for action in Action::ALL.into_iter().filter(|a| a.mutates()) {
            for role in [Role::Auditor, Role::Executive, Role::Agent, Role::ThirdParty] {
                let a = actor(&[(role, Scope::Global)]);
                assert!(!authorize(&a, action, Resource::Any).is_allow(), "{role} may {action:?}");
            }
        }
    }

    #[test]
    fn only_the_recordings_own_managers_reach_the_media() {
        let (_, process, team) = ids();
        let other_team = TeamId(Uuid::from_u128(7));
        let other_process = ProcessId(Uuid::from_u128(6));
        let table = [
            (Role::TeamManager, Scope::Team(team), true),
            (Role::TeamManager, Scope::Team(other_team), false),
            (Role::TeamManager, Scope::Process(process), false),
            (Role::TeamManager, Scope::Global, false),
            (Role::ProcessHead, Scope::Process(process), true),
            (Role::ProcessHead, Scope::Process(other_process), false),
            (Role::ProcessHead, Scope::Team(team), false),
            (Role::ProcessHead, Scope::Global, false),
            (Role::SecurityOfficer, Scope::Global, false),
            (Role::Auditor, Scope::Global, false),
            (Role::PlatformAdmin, Scope::Global, false),
            (Role::ItAdmin, Scope::Process(process), false),
        ];
        for (role, scope, want) in table {
            let a = actor(&[(role, scope)]);
            assert_eq!(authorize_media(&a, process, Some(team)).is_allow(), want, "{role} at {scope}");
        }
        // Security and audit see metadata, never media.
        for role in [Role::SecurityOfficer, Role::Auditor] {
            let a = actor(&[(role, Scope::Global)]);
            assert!(authorize(&a, Action::RecordingsView, Resource::Any).is_allow());
            assert!(!authorize(&a, Action::RecordingsPlay, Resource::Any).is_allow());
        }
    }

    #[test]
    fn hosts_only_report_and_users_never_do() {
        let host = Actor::host(HostId(Uuid::from_u128(5)));
        for action in Action::ALL {
            let want = action == Action::FleetReport;
            assert_eq!(authorize(&host, action, Resource::Any).is_allow(), want, "{action:?}");
            assert!(!authorize(&host, action, Resource::Global).is_allow());
        }
        for role in Role::ALL {
            let a = actor(&[(role, Scope::Global)]);
            assert!(!authorize(&a, Action::FleetReport, Resource::Any).is_allow(), "{role}");
        }
        // Requesters are never the only approvers: approvers are a subset of requesters'
        // peers, and auditors only look.
        let auditor = actor(&[(Role::Auditor, Scope::Global)]);
        assert!(authorize(&auditor, Action::FleetView, Resource::Any).is_allow());
        assert!(!authorize(&auditor, Action::FleetExceptionRequest, Resource::Any).is_allow());
    }

    #[test]
    fn platform_admin_sees_no_people() {
        let a = actor(&[(Role::PlatformAdmin, Scope::Global)]);
        assert!(!authorize(&a, Action::PeopleView, Resource::Any).is_allow());
        assert!(authorize(&a, Action::UsersAdmin, Resource::Global).is_allow());
    }

    #[test]
    fn scopes_cover_only_their_subtree() {
        let (site, process, team) = ids();
        let other = TeamId(Uuid::from_u128(9));
        let table = [
            (Scope::Global, Some(team), true),
            (Scope::Site(site), Some(other), true),
            (Scope::Site(SiteId(Uuid::from_u128(8))), Some(team), false),
            (Scope::Process(process), Some(other), true),
            (Scope::Team(team), Some(team), true),
            (Scope::Team(team), Some(other), false),
            (Scope::Team(team), None, false),
        ];
        for (scope, t, want) in table {
            let a = actor(&[(Role::TeamManager, scope)]);
            let r = Resource::Org { site, process: Some(process), team: t };
            assert_eq!(authorize(&a, Action::PeopleView, r).is_allow(), want, "{scope} on {t:?}");
        }
    }

    #[test]
    fn scoped_grants_need_global_for_platform_things() {
        let (site, _, _) = ids();
        let a = actor(&[(Role::PlatformAdmin, Scope::Site(site))]);
        assert!(!authorize(&a, Action::UsersAdmin, Resource::Global).is_allow());
        assert!(authorize(&a, Action::UsersAdmin, Resource::Any).is_allow());
    }

    #[test]
    fn everyone_manages_their_own_account() {
        let a = actor(&[]);
        assert!(authorize(&a, Action::AccountSelf, Resource::OwnAccount).is_allow());
        assert!(!authorize(&a, Action::DashboardView, Resource::Any).is_allow());
    }

    #[test]
    fn visibility_narrows() {
        let (_, process, team) = ids();
        let a = actor(&[(Role::TeamManager, Scope::Team(team)), (Role::Agent, Scope::Global)]);
        assert_eq!(visibility(&a, Action::PeopleView), Visibility::Within(vec![Scope::Team(team)]));
        let b = actor(&[(Role::Hr, Scope::Global), (Role::ProcessHead, Scope::Process(process))]);
        assert_eq!(visibility(&b, Action::PeopleView), Visibility::All);
        assert_eq!(visibility(&actor(&[]), Action::PeopleView), Visibility::Nothing);
    }
}
