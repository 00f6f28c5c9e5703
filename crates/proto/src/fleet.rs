//! The endpoint agent's wire protocol (`/api/v1/agent/*`) and the fleet module's
//! bodies. The agent authenticates with its host credential (`Authorization: Bearer
//! bpa_…`), never a user session. Times are Unix seconds (UTC).

use crate::ids::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/v1/agent/enroll`: a host trades a one-time enrollment token for its own
/// credential.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The one-time token an admin created for the site/process (`bpe_…`).
    pub token: String,
    pub hostname: String,
    /// `/etc/machine-id` or equivalent: a re-enrollment of the same machine replaces it.
    pub machine_id: String,
    pub os: String,
    pub agent_version: String,
}

/// The answer to an enrollment.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EnrollResponse {
    pub host_id: HostId,
    /// The host's bearer credential (`bpa_…`); shown once, stored by the agent (0600).
    pub credential: String,
    /// The key that verifies the host's offline response codes (base64, 32 bytes):
    /// shared by this host and the server only.
    pub offline_key: String,
    /// The server's Ed25519 bundle-signing public key (base64, 32 bytes).
    pub bundle_key: String,
}

/// `POST /api/v1/agent/rotate`: a fresh credential. The old one keeps working until
/// the new one is first used, so a lost answer never locks a host out.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RotateResponse {
    pub credential: String,
}

/// `GET /api/v1/agent/bundle`: a policy bundle, signed by the server.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignedBundle {
    /// The [`Bundle`] as JSON text: exactly the bytes that were signed.
    pub payload: String,
    /// Ed25519 signature over `bposhield-bundle-v1\n` followed by `payload` (base64).
    pub signature: String,
}

/// What the agent enforces, for one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// Increases with every change of anything in the bundle; the agent refuses a lower
    /// one than it has (rollback).
    pub version: i64,
    pub host_id: HostId,
    pub issued_at: i64,
    /// The agent refuses a bundle past this time (stale) and keeps its last good one.
    pub expires_at: i64,
    /// USB enforcement on or off for this host.
    pub usb_enforce: bool,
    /// The USBGuard rule set, in order (first match wins; no match blocks).
    pub usb_rules: String,
    /// SCA policies (Wazuh YAML), by policy id.
    pub sca_policies: Vec<BundlePolicy>,
    /// Approved exceptions for this host.
    pub exceptions: Vec<BundleException>,
    /// Seconds between scheduled SCA scans.
    pub scan_interval_seconds: i64,
    /// Seconds between heartbeats (and bundle pulls).
    pub heartbeat_seconds: i64,
}

/// One SCA policy in a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BundlePolicy {
    pub id: String,
    pub yaml: String,
}

/// An approved, time-bound exception: the device with this USBGuard hash is allowed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BundleException {
    pub id: ExceptionId,
    /// The device's USBGuard hash (base64 SHA-256).
    pub device_hash: String,
    pub expires_at: i64,
}

/// `POST /api/v1/agent/events`: a batch from the agent's on-disk queue.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentBatch {
    /// The agent's own health at the time of sending.
    pub health: AgentHealth,
    pub events: Vec<AgentEvent>,
}

/// The agent's own state, sent with every batch (also the heartbeat).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentHealth {
    pub agent_version: String,
    /// Version of the bundle being enforced (0 = none yet).
    pub policy_version: i64,
    pub usb_enforcing: bool,
    pub last_scan_at: Option<i64>,
    /// Events waiting in the queue, this batch included.
    pub queue_depth: i64,
    /// Events the bounded queue had to drop since the last batch (outage too long).
    pub queue_dropped: i64,
    pub sent_at: i64,
}

/// What the agent reports; `seq` is per host and makes a re-sent batch idempotent.
/// (No `deny_unknown_fields` here: serde cannot combine it with `flatten`; the body
/// types deny unknown fields themselves.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentEvent {
    pub seq: i64,
    pub at: i64,
    #[serde(flatten)]
    pub body: AgentEventBody,
}

/// The kinds of event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AgentEventBody {
    /// A USB device was attached and judged.
    Device(DeviceEvent),
    /// One SCA policy was run.
    Scan(ScanReport),
    /// Host facts were collected.
    Facts(HostFacts),
}

/// A device decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceEvent {
    /// `allowed`, `blocked`, `partial` (some interfaces authorized) or `removed`.
    pub decision: String,
    /// The device as a USBGuard rule (`id 0781:5567 serial "…" name "…" hash "…" …`).
    pub device_rule: String,
    pub device_hash: String,
    pub vendor_product: String,
    pub name: String,
    pub port: String,
    /// Interface types, `cc:ss:pp` each.
    pub interfaces: Vec<String>,
    /// Interfaces left unauthorized for a `partial` decision.
    #[serde(default)]
    pub blocked_interfaces: Vec<String>,
    /// Whether the device is mass storage, MTP/PTP or a wireless adapter (the R1 risk).
    pub storage_like: bool,
    /// Why: the matching rule, `exception <id>`, `offline code`, or `default`.
    pub reason: String,
    /// The approved exception that allowed the device, if any.
    #[serde(default)]
    pub exception_id: Option<ExceptionId>,
    /// The offline challenge whose response code allowed the device, if any.
    #[serde(default)]
    pub offline_challenge: Option<String>,
}

/// The result of one SCA policy on the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanReport {
    pub policy_id: String,
    pub policy_name: String,
    pub passed: i64,
    pub failed: i64,
    pub not_applicable: i64,
    /// `100 * passed / (passed + failed)`, 0 when nothing applied.
    pub score: i64,
    pub checks: Vec<CheckResult>,
}

/// One check's outcome with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckResult {
    pub id: i64,
    pub title: String,
    /// `passed`, `failed` or `not applicable`.
    pub result: String,
    /// Why: the rule that decided, or why it could not be applied.
    pub reason: String,
    /// `critical` when the policy marks the check so (Wazuh `rationale`-free extension:
    /// compliance tag `bposhield: critical`), else `normal`.
    pub severity: String,
}

/// What the agent knows about its host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HostFacts {
    pub os: String,
    pub kernel: String,
    pub packages: i64,
    /// Security updates the package manager has pending.
    pub pending_security_updates: i64,
    /// Since when updates have been pending (Unix seconds), if known.
    pub updates_pending_since: Option<i64>,
    pub firewall: String,
    pub screen_lock_seconds: Option<i64>,
    pub password_min_length: Option<i64>,
    /// `proto address:port process` each.
    pub listening: Vec<String>,
}

/// The answer to a batch.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchAck {
    /// Events stored (re-sent ones already stored count too).
    pub accepted: i64,
    /// The newest bundle version for this host: the agent pulls when it is newer.
    pub bundle_version: i64,
}

// ---- the fleet module's admin API (`/api/v1/fleet/*`) ---------------------------------

/// Where a fleet policy or setting applies. On the wire: `global`, `site:<id>`,
/// `process:<id>` or `host:<id>`. A host takes what applies at every scope above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FleetScope {
    Global,
    Site(SiteId),
    Process(ProcessId),
    Host(HostId),
}

impl FleetScope {
    /// 0 for global up to 3 for a host: the more specific, the higher.
    #[must_use]
    pub fn rank(self) -> u8 {
        match self {
            FleetScope::Global => 0,
            FleetScope::Site(_) => 1,
            FleetScope::Process(_) => 2,
            FleetScope::Host(_) => 3,
        }
    }
}

impl std::fmt::Display for FleetScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FleetScope::Global => f.write_str("global"),
            FleetScope::Site(id) => write!(f, "site:{id}"),
            FleetScope::Process(id) => write!(f, "process:{id}"),
            FleetScope::Host(id) => write!(f, "host:{id}"),
        }
    }
}

impl std::str::FromStr for FleetScope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "global" {
            return Ok(FleetScope::Global);
        }
        let (kind, id) = s
            .split_once(':')
            .ok_or_else(|| format!("invalid scope `{s}`; expected global, site:<id>, process:<id> or host:<id>"))?;
        let bad = |_| format!("invalid id in scope `{s}`");
        match kind {
            "site" => id.parse().map(FleetScope::Site).map_err(bad),
            "process" => id.parse().map(FleetScope::Process).map_err(bad),
            "host" => id.parse().map(FleetScope::Host).map_err(bad),
            _ => Err(format!("invalid scope kind `{kind}`; expected site, process or host")),
        }
    }
}

impl Serialize for FleetScope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FleetScope {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for FleetScope {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("`global`, `site:<id>`, `process:<id>` or `host:<id>`"))
            .into()
    }
}

impl ToSchema for FleetScope {}

/// `POST /api/v1/fleet/tokens`: an enrollment token for the hosts of a site (and
/// optionally a process unit).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollTokenInput {
    pub site_id: SiteId,
    #[serde(default)]
    pub process_id: Option<ProcessId>,
    /// What the token is for, e.g. `PNQ1 floor 3 rollout`.
    pub label: String,
    /// How many hosts may enroll with it (1-10000, default 1).
    #[serde(default = "one")]
    pub max_uses: i64,
    /// Hours until it expires (1-720, default 72).
    #[serde(default = "three_days")]
    pub expires_in_hours: i64,
}

fn one() -> i64 {
    1
}
fn three_days() -> i64 {
    72
}

/// An enrollment token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EnrollToken {
    pub id: EnrollTokenId,
    pub site_id: SiteId,
    pub process_id: Option<ProcessId>,
    pub label: String,
    pub max_uses: i64,
    pub uses: i64,
    pub expires_at: i64,
    pub created_at: i64,
    /// `user:<id>` of the creator.
    pub created_by: String,
    pub revoked_at: Option<i64>,
}

/// The answer to a token creation: the secret (`bpe_…`) is shown this once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedEnrollToken {
    pub token: String,
    pub info: EnrollToken,
}

/// One SCA policy's latest result on a host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HostScore {
    pub policy_id: String,
    pub policy_name: String,
    pub score: i64,
    pub passed: i64,
    pub failed: i64,
    pub not_applicable: i64,
    /// Checks marked critical that failed.
    pub critical_failed: i64,
    /// When the agent ran it (event time).
    pub at: i64,
}

/// A host as listed: where it sits, what it runs, how it reports, how it scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HostSummary {
    pub id: HostId,
    pub hostname: String,
    pub site_id: SiteId,
    pub process_id: Option<ProcessId>,
    pub os: String,
    pub agent_version: String,
    /// The bundle version the agent last said it enforces (0: none yet).
    pub policy_version: i64,
    pub enrolled_at: i64,
    pub last_seen_at: Option<i64>,
    /// As the agent last reported.
    pub usb_enforcing: bool,
    pub queue_depth: i64,
    pub queue_dropped: i64,
    pub last_scan_at: Option<i64>,
    pub pending_security_updates: Option<i64>,
    pub updates_pending_since: Option<i64>,
    pub scores: Vec<HostScore>,
    /// A demo host (`bposhield demo`): its data is generated, not reported.
    pub simulated: bool,
    /// Retired hosts keep their history; their credential no longer works.
    pub retired_at: Option<i64>,
}

/// One SCA policy's latest result on a host with every check's outcome and reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PolicyResult {
    pub score: HostScore,
    pub checks: Vec<CheckResult>,
}

/// A score in a host's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScorePoint {
    pub policy_id: String,
    pub at: i64,
    pub score: i64,
}

/// `GET /api/v1/fleet/hosts/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HostDetail {
    pub host: HostSummary,
    /// The bundle version the server would send now.
    pub bundle_version: i64,
    pub facts: Option<HostFacts>,
    pub facts_at: Option<i64>,
    pub compliance: Vec<PolicyResult>,
    /// Oldest first, the last 200 scans.
    pub history: Vec<ScorePoint>,
    /// Newest first, the last 200 device events.
    pub events: Vec<DeviceEventRow>,
    pub exceptions: Vec<FleetException>,
}

/// A device event as stored, with the host it happened on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeviceEventRow {
    pub host_id: HostId,
    pub hostname: String,
    pub site_id: SiteId,
    pub process_id: Option<ProcessId>,
    pub seq: i64,
    pub at: i64,
    pub received_at: i64,
    pub decision: String,
    pub device_hash: String,
    pub vendor_product: String,
    pub name: String,
    pub port: String,
    pub interfaces: Vec<String>,
    pub blocked_interfaces: Vec<String>,
    pub storage_like: bool,
    pub reason: String,
    pub exception_id: Option<ExceptionId>,
    pub offline_challenge: Option<String>,
    pub device_rule: String,
}

/// A fleet policy: USB rules (USBGuard syntax) or an SCA baseline (Wazuh YAML).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FleetPolicy {
    pub id: PolicyId,
    /// `usb` or `sca`.
    pub kind: String,
    pub name: String,
    pub body: String,
    /// The SCA policy's own id (`policy: id:` in the YAML); what scan reports name.
    pub sca_id: Option<String>,
    /// Shipped with bposhield (`content/`); an edit makes it the site's own.
    pub builtin: bool,
    /// Change counter: goes up with every edit.
    pub version: i64,
    pub updated_at: i64,
    pub updated_by: String,
    /// Where it applies.
    pub assignments: Vec<FleetScope>,
}

/// `POST /api/v1/fleet/policies` and `PUT /api/v1/fleet/policies/{id}` (the kind of a
/// policy never changes).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    /// `usb` or `sca`.
    pub kind: String,
    pub name: String,
    pub body: String,
}

/// `PUT /api/v1/fleet/policies/{id}/assignments`: the scopes the policy applies at
/// (replaces the previous set).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignmentsInput {
    pub scopes: Vec<FleetScope>,
}

/// Settings at one scope; `None` inherits from the scope above (host → process → site
/// → global → the server's configuration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeSettings {
    pub scope: FleetScope,
    #[serde(default)]
    pub usb_enforce: Option<bool>,
    #[serde(default)]
    pub scan_interval_seconds: Option<i64>,
    #[serde(default)]
    pub heartbeat_seconds: Option<i64>,
}

/// A USB device exception: requested by a manager, decided by security or IT.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FleetException {
    pub id: ExceptionId,
    pub host_id: HostId,
    pub hostname: String,
    pub device_hash: String,
    /// What the requester called the device, e.g. `Jabra headset with memory`.
    pub device_name: String,
    pub reason: String,
    pub hours: i64,
    /// `requested`, `approved`, `rejected` or `revoked` (an approved one past
    /// `expires_at` is shown as `expired`).
    pub status: String,
    pub requested_by: String,
    pub requested_at: i64,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub note: Option<String>,
    pub expires_at: Option<i64>,
    pub first_used_at: Option<i64>,
}

/// `POST /api/v1/fleet/exceptions`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExceptionRequestInput {
    pub host_id: HostId,
    /// The device's USBGuard hash (base64 SHA-256), as the device event shows it.
    pub device_hash: String,
    #[serde(default)]
    pub device_name: String,
    pub reason: String,
    /// 1-168.
    pub hours: i64,
}

/// `POST /api/v1/fleet/exceptions/{id}/approve|reject|revoke`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExceptionDecisionInput {
    #[serde(default)]
    pub note: Option<String>,
}

/// `POST /api/v1/fleet/offline-codes`: answer a challenge a host shows while offline.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfflineCodeInput {
    /// As read out from the host's screen (case, spaces and dashes do not matter).
    pub challenge: String,
    /// 1-168.
    pub hours: i64,
    /// Recorded in the ledger.
    pub reason: String,
    /// Only needed when the challenge's host tag matches more than one host.
    #[serde(default)]
    pub host_id: Option<HostId>,
}

/// The response code for the user to type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OfflineCode {
    pub code: String,
    pub host_id: HostId,
    pub hostname: String,
    pub hours: i64,
    /// When the challenge was made (it must be answered within 30 minutes).
    pub challenge_made_at: i64,
    /// Until when the device will be allowed once the code is entered (at the latest).
    pub valid_until: i64,
}
