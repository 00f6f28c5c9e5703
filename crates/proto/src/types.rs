//! Request and response bodies of the REST API. Times are Unix seconds (UTC); calendar
//! dates are `YYYY-MM-DD` strings.

use crate::ids::*;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use utoipa::ToSchema;

/// A role, granted to a user at a [`Scope`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    TeamManager,
    ProcessHead,
    Hr,
    SecurityOfficer,
    ItAdmin,
    Auditor,
    Executive,
    ThirdParty,
    PlatformAdmin,
}

impl Role {
    /// Every role, in display order.
    pub const ALL: [Role; 10] = [
        Role::Agent,
        Role::TeamManager,
        Role::ProcessHead,
        Role::Hr,
        Role::SecurityOfficer,
        Role::ItAdmin,
        Role::Auditor,
        Role::Executive,
        Role::ThirdParty,
        Role::PlatformAdmin,
    ];

    /// The wire name, e.g. `team_manager`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::TeamManager => "team_manager",
            Role::ProcessHead => "process_head",
            Role::Hr => "hr",
            Role::SecurityOfficer => "security_officer",
            Role::ItAdmin => "it_admin",
            Role::Auditor => "auditor",
            Role::Executive => "executive",
            Role::ThirdParty => "third_party",
            Role::PlatformAdmin => "platform_admin",
        }
    }

    /// A human label, e.g. `Team manager`.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Role::Agent => "Agent",
            Role::TeamManager => "Team manager",
            Role::ProcessHead => "Process head",
            Role::Hr => "HR",
            Role::SecurityOfficer => "Security officer",
            Role::ItAdmin => "IT admin",
            Role::Auditor => "Auditor",
            Role::Executive => "Executive",
            Role::ThirdParty => "Third party",
            Role::PlatformAdmin => "Platform admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role `{s}`; expected one of: {}", role_list()))
    }
}

fn role_list() -> String {
    Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
}

/// Where a role applies: everywhere, or one site, process unit or team.
/// On the wire: `global`, `site:<id>`, `process:<id>`, `team:<id>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Global,
    Site(SiteId),
    Process(ProcessId),
    Team(TeamId),
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Global => f.write_str("global"),
            Scope::Site(id) => write!(f, "site:{id}"),
            Scope::Process(id) => write!(f, "process:{id}"),
            Scope::Team(id) => write!(f, "team:{id}"),
        }
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "global" {
            return Ok(Scope::Global);
        }
        let (kind, id) = s
            .split_once(':')
            .ok_or_else(|| format!("invalid scope `{s}`; expected global, site:<id>, process:<id> or team:<id>"))?;
        let bad = |_| format!("invalid id in scope `{s}`");
        match kind {
            "site" => id.parse().map(Scope::Site).map_err(bad),
            "process" => id.parse().map(Scope::Process).map_err(bad),
            "team" => id.parse().map(Scope::Team).map_err(bad),
            _ => Err(format!("invalid scope kind `{kind}`; expected site, process or team")),
        }
    }
}

impl utoipa::PartialSchema for Scope {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("`global`, `site:<id>`, `process:<id>` or `team:<id>`"))
            .into()
    }
}

impl ToSchema for Scope {}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// HR employment status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmploymentStatus {
    Active,
    Suspended,
    Terminated,
}

impl EmploymentStatus {
    /// Every status.
    pub const ALL: [EmploymentStatus; 3] = [Self::Active, Self::Suspended, Self::Terminated];

    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Terminated => "terminated",
        }
    }
}

impl FromStr for EmploymentStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| format!("unknown status `{s}`; expected active, suspended or terminated"))
    }
}

/// A delivery centre.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Site {
    pub id: SiteId,
    /// Short unique code, e.g. `PNQ1`.
    pub code: String,
    pub name: String,
    pub city: String,
    pub country: String,
    pub created_at: i64,
}

/// Body to create or replace a site.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct SiteInput {
    pub code: String,
    pub name: String,
    pub city: String,
    pub country: String,
}

/// A process unit: one client's campaign at one site.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ProcessUnit {
    pub id: ProcessId,
    pub site_id: SiteId,
    pub code: String,
    /// E.g. "Acme Bank cards, inbound".
    pub name: String,
    /// The client, e.g. "Acme Bank".
    pub client: String,
    pub created_at: i64,
}

/// Body to create or replace a process unit.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessInput {
    pub site_id: SiteId,
    pub code: String,
    pub name: String,
    pub client: String,
}

/// A team inside a process unit.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Team {
    pub id: TeamId,
    pub site_id: SiteId,
    pub process_id: ProcessId,
    pub name: String,
    pub created_at: i64,
}

/// Body to create or replace a team.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamInput {
    pub process_id: ProcessId,
    pub name: String,
}

/// A person known to HR (not necessarily a platform user).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Person {
    pub id: PersonId,
    /// The HR employee id, unique, e.g. `E100234`.
    pub employee_id: String,
    pub given_name: String,
    pub family_name: String,
    pub email: Option<String>,
    pub site_id: SiteId,
    pub process_id: Option<ProcessId>,
    pub team_id: Option<TeamId>,
    pub manager_id: Option<PersonId>,
    /// Free-text job role, e.g. "Customer service associate".
    pub job_role: String,
    pub status: EmploymentStatus,
    pub hire_date: String,
    pub exit_date: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Body to create or replace a person.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonInput {
    pub employee_id: String,
    pub given_name: String,
    pub family_name: String,
    #[serde(default)]
    pub email: Option<String>,
    pub site_id: SiteId,
    #[serde(default)]
    pub process_id: Option<ProcessId>,
    #[serde(default)]
    pub team_id: Option<TeamId>,
    #[serde(default)]
    pub manager_id: Option<PersonId>,
    pub job_role: String,
    pub status: EmploymentStatus,
    pub hire_date: String,
    #[serde(default)]
    pub exit_date: Option<String>,
}

/// A page of results.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Total matching rows, ignoring limit and offset.
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
}

/// A role granted at a scope.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Grant {
    pub id: GrantId,
    pub role: Role,
    pub scope: Scope,
}

/// Body to grant a role.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GrantInput {
    pub role: Role,
    pub scope: Scope,
}

/// A platform user.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub person_id: Option<PersonId>,
    pub disabled: bool,
    pub totp_enabled: bool,
    pub grants: Vec<Grant>,
    pub created_at: i64,
    pub last_sign_in_at: Option<i64>,
}

/// Body to create a user.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    pub username: String,
    pub display_name: String,
    pub password: String,
    #[serde(default)]
    pub person_id: Option<PersonId>,
    #[serde(default)]
    pub grants: Vec<GrantInput>,
}

/// Body to change one's own password.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// An API token's metadata (never its secret).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: TokenId,
    pub user_id: UserId,
    pub name: String,
    /// The roles this token may use; a subset of its user's grants.
    pub grants: Vec<GrantInput>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked: bool,
}

/// Body to create an API token for oneself.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenCreate {
    pub name: String,
    /// Days until expiry (1..=365).
    pub expires_in_days: u32,
}

/// A freshly created token: the secret is shown here once and never again.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    pub token: String,
    pub info: TokenInfo,
}

/// The ten classic BPO security risks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
pub enum Risk {
    R1,
    R2,
    R3,
    R4,
    R5,
    R6,
    R7,
    R8,
    R9,
    R10,
}

impl Risk {
    /// All risks in order.
    pub const ALL: [Risk; 10] =
        [Risk::R1, Risk::R2, Risk::R3, Risk::R4, Risk::R5, Risk::R6, Risk::R7, Risk::R8, Risk::R9, Risk::R10];

    /// `R1`…`R10`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::R1 => "R1",
            Risk::R2 => "R2",
            Risk::R3 => "R3",
            Risk::R4 => "R4",
            Risk::R5 => "R5",
            Risk::R6 => "R6",
            Risk::R7 => "R7",
            Risk::R8 => "R8",
            Risk::R9 => "R9",
            Risk::R10 => "R10",
        }
    }

    /// The risk's short title.
    #[must_use]
    pub fn title(self) -> &'static str {
        match self {
            Risk::R1 => "Devices and paper on the floor",
            Risk::R2 => "Call recording access",
            Risk::R3 => "Provisioning and de-provisioning",
            Risk::R4 => "System and network configuration",
            Risk::R5 => "Clear responsibility",
            Risk::R6 => "Management support",
            Risk::R7 => "Security awareness",
            Risk::R8 => "Third-party access",
            Risk::R9 => "Incident readiness",
            Risk::R10 => "Periodic audit",
        }
    }
}

impl FromStr for Risk {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Risk::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown risk `{s}`; expected R1..R10"))
    }
}

/// Outcome of a control check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ControlStatus {
    Pass,
    Fail,
    NotMeasured,
}

impl ControlStatus {
    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::NotMeasured => "not_measured",
        }
    }
}

impl FromStr for ControlStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pass" => Ok(Self::Pass),
            "fail" => Ok(Self::Fail),
            "not_measured" => Ok(Self::NotMeasured),
            _ => Err(format!("unknown control status `{s}`")),
        }
    }
}

/// What a check saw: how many items it looked at, how many failed, and which.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq, Default)]
pub struct Evidence {
    pub summary: String,
    pub checked: u64,
    pub failing: u64,
    /// References of the failing items, `kind:id` (e.g. `user:<id>`, `process:<id>`);
    /// capped, `failing` has the full count.
    pub failing_ids: Vec<String>,
}

/// One evaluation of one control.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ControlResult {
    pub control_id: String,
    pub status: ControlStatus,
    pub evidence: Evidence,
    pub evaluated_at: i64,
}

/// A control with its latest result.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ControlSummary {
    pub id: String,
    pub risk: Risk,
    pub title: String,
    pub description: String,
    /// The role that owns the control.
    pub owner: Role,
    pub latest: Option<ControlResult>,
}

/// One risk tile of the dashboard.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RiskTile {
    pub risk: Risk,
    pub title: String,
    /// Worst status of its controls; `not_measured` when it has none measured yet.
    pub status: ControlStatus,
    pub controls: u32,
    pub passing: u32,
    pub failing: u32,
    /// Share of passing controls per past evaluation, oldest first (0..=100).
    pub trend: Vec<u8>,
}

/// An audit event.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: EventId,
    pub at: i64,
    /// `user:<id>`, `token:<id>`, `system` or `anonymous`.
    pub actor: String,
    /// Dotted action name, e.g. `people.create`.
    pub action: String,
    /// `person:<id>`, `user:<id>`…
    pub object: String,
    /// `success`, `denied` or `failure`.
    pub outcome: String,
    pub request_id: String,
    pub source_ip: Option<String>,
    /// Extra machine-readable detail (ids and codes, no personal data).
    pub detail: serde_json::Value,
    /// SHA-256 (hex) of the canonical JSON of the object before and after a change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_digest: Option<String>,
    /// Position in the ledger, once appended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_index: Option<u64>,
}

/// The signed-in caller.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub user: User,
    /// How the caller authenticated: `session` or `token`.
    pub via: String,
}

/// A call recording pushed by the call-monitoring system (`POST /api/v1/recordings`).
/// The media is uploaded separately (`PUT /api/v1/recordings/{id}/media`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordingInput {
    /// The call's id in the recording system; ingest is idempotent on it.
    pub call_id: String,
    /// Employee id of the agent on the call.
    pub agent: String,
    pub process_id: ProcessId,
    pub team_id: Option<TeamId>,
    /// Call start, Unix seconds.
    pub started_at: i64,
    pub duration_seconds: i64,
    /// `voice`, `video`, `chat`, …
    pub channel: String,
    /// The client's reference for the customer (never a card or account number).
    pub customer_ref: String,
    /// Speech-to-text of the call, if any: scanned for PII; only the redacted text is shown.
    #[serde(default)]
    pub transcript: Option<String>,
    /// Text captured from the agent's screen, if any: scanned like the transcript.
    #[serde(default)]
    pub screen_text: Option<String>,
}

/// One PII finding in a recording's transcript or screen text.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct RecordingFinding {
    /// `transcript` or `screen`.
    pub source: String,
    /// PII type, e.g. `CARD`, `CVV`, `SSN`.
    pub kind: String,
    /// Byte offsets in the original text (the redacted text keeps them).
    pub start: i64,
    pub end: i64,
    pub score: f64,
    /// The value masked (never the value itself).
    pub masked: String,
}

/// A call recording as users see it: metadata, redacted text, findings. Never the media.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Recording {
    pub id: RecordingId,
    pub call_id: String,
    pub site_id: SiteId,
    pub process_id: ProcessId,
    pub team_id: Option<TeamId>,
    pub agent: String,
    pub agent_person_id: Option<PersonId>,
    pub started_at: i64,
    pub duration_seconds: i64,
    pub channel: String,
    pub customer_ref: String,
    /// Whether the media has been uploaded (and not purged).
    pub has_media: bool,
    pub media_type: Option<String>,
    pub media_bytes: Option<i64>,
    /// PII types found in the transcript and screen text.
    pub pii_types: Vec<String>,
    /// A card security code was found: PCI DSS forbids keeping it after authorization.
    pub security_code: bool,
    pub redacted_transcript: String,
    pub redacted_screen: String,
    pub findings: Vec<RecordingFinding>,
    pub created_at: i64,
    /// When the review was marked complete (for "purge after review" processes).
    pub review_completed_at: Option<i64>,
    /// When the retention policy makes it due for purge (none: waiting for a review).
    pub purge_due_at: Option<i64>,
    /// A legal hold blocks the purge until released.
    pub hold: Option<RecordingHold>,
    pub purged_at: Option<i64>,
}

/// A legal hold on a recording.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct RecordingHold {
    pub reason: String,
    /// `user:<id>` of the security officer who set it.
    pub by: String,
    pub at: i64,
}

/// Body to set a legal hold.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldInput {
    pub reason: String,
}

/// How long a process unit keeps its recordings.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicy {
    /// `keep_days`: purge `keep_days` after the call; `after_review`: purge
    /// `purge_hours_after_review` after the review is marked complete.
    pub mode: String,
    pub keep_days: i64,
    pub purge_hours_after_review: i64,
    /// A recording whose text held a card security code is due this many hours after
    /// ingest, whatever the mode (PCI DSS: not kept after authorization).
    pub security_code_hours: i64,
    /// Whether managers may download (not only stream) this process's recordings.
    pub allow_download: bool,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            mode: "keep_days".into(),
            keep_days: 90,
            purge_hours_after_review: 24,
            security_code_hours: 24,
            allow_download: false,
        }
    }
}

/// One recording in the retention report.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct RetentionRow {
    pub recording_id: RecordingId,
    pub call_id: String,
    pub process_id: ProcessId,
    pub purge_due_at: Option<i64>,
    pub purged_at: Option<i64>,
    pub hold_reason: Option<String>,
}

/// Evidence for the quarterly retention check: what fell due in the period, what was
/// purged and when, what is on hold now, and what is overdue now.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct RetentionReport {
    pub from: i64,
    pub to: i64,
    pub generated_at: i64,
    /// Due in the period.
    pub expired: Vec<RetentionRow>,
    /// Purged in the period.
    pub purged: Vec<RetentionRow>,
    /// On legal hold now.
    pub on_hold: Vec<RetentionRow>,
    /// Due before now, not on hold and still not purged (target: none).
    pub overdue: Vec<RetentionRow>,
}
