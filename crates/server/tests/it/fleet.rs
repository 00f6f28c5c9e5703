//! The fleet module over real HTTP: enrollment with one-time tokens, credential
//! rotation, signed bundles verified with the agent's own code, bundle versions that
//! follow every change, idempotent batch ingest, compliance views, exception approval
//! (never by the requester), offline response codes verified with the agent's own code,
//! the R1/R4 controls, host credentials refused everywhere but the agent routes, and
//! bad input answered with codes, never a 500.

use crate::harness::{Db, TestServer};
use base64::Engine as _;
use bposhield_endpoint::offline::{self, Challenge};
use bposhield_proto::fleet::*;
use bposhield_proto::*;
use bposhield_server::routes::{table, Access};
use bposhield_server::services;
use reqwest::Method;
use serde_json::{json, Value};

crate::both_dbs!(
    enrollment_bundles_ingest_exceptions_and_controls,
    host_credentials_reach_only_the_agent_routes,
    demo_fleet_and_pages
);

const DEVICE_HASH: &str = "Zx3aY1ZwLkPSEv1Ucy4uO3ia8f0eYHy3KdTzd+lL1uE=";

async fn json_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let v = r.json().await.unwrap_or(Value::Null);
    (status, v)
}

/// Creates an enrollment token as the security officer.
async fn enroll_token(s: &TestServer, uses: i64, hours: i64) -> String {
    let (st, v) = json_of(
        s.req(Role::SecurityOfficer, Method::POST, "/api/v1/fleet/tokens")
            .json(&json!({ "site_id": s.site.id, "process_id": s.process.id, "label": "floor 3", "max_uses": uses, "expires_in_hours": hours }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let t = v["token"].as_str().unwrap().to_owned();
    assert!(t.starts_with("bpe_"));
    t
}

async fn enroll(s: &TestServer, token: &str, machine: &str) -> reqwest::Response {
    s.client
        .post(format!("{}/api/v1/agent/enroll", s.base))
        .json(&EnrollRequest {
            token: token.into(),
            hostname: format!("pnq1-{machine}"),
            machine_id: machine.into(),
            os: "Ubuntu 22.04.4 LTS".into(),
            agent_version: "0.1.0".into(),
        })
        .send()
        .await
        .unwrap()
}

fn host_req(s: &TestServer, cred: &str, method: Method, path: &str) -> reqwest::RequestBuilder {
    s.client.request(method, format!("{}{path}", s.base)).bearer_auth(cred)
}

async fn bundle(s: &TestServer, cred: &str, e: &EnrollResponse) -> Bundle {
    let r = host_req(s, cred, Method::GET, "/api/v1/agent/bundle").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let signed: SignedBundle = r.json().await.unwrap();
    bposhield_endpoint::bundle::verify(&signed, &e.bundle_key, e.host_id, s.state.clock.now(), 0).unwrap()
}

fn device(decision: &str, name: &str, hash: &str, storage: bool) -> AgentEventBody {
    AgentEventBody::Device(DeviceEvent {
        decision: decision.into(),
        device_rule: format!("block id 0781:5567 name \"{name}\" hash \"{hash}\""),
        device_hash: hash.into(),
        vendor_product: "0781:5567".into(),
        name: name.into(),
        port: "1-2".into(),
        interfaces: vec!["08:06:50".into()],
        blocked_interfaces: if decision == "allowed" { vec![] } else { vec!["08:06:50".into()] },
        storage_like: storage,
        reason: "default".into(),
        exception_id: None,
        offline_challenge: None,
    })
}

fn batch(s: &TestServer, policy_version: i64, events: Vec<AgentEventBody>) -> AgentBatch {
    let now = s.state.clock.now();
    AgentBatch {
        health: AgentHealth {
            agent_version: "0.1.1".into(),
            policy_version,
            usb_enforcing: true,
            last_scan_at: Some(now - 60),
            queue_depth: events.len() as i64,
            queue_dropped: 0,
            sent_at: now,
        },
        events: events
            .into_iter()
            .enumerate()
            .map(|(n, body)| AgentEvent { seq: n as i64 + 1, at: now - 100 + n as i64, body })
            .collect(),
    }
}

fn scan_report(score_fail: bool) -> AgentEventBody {
    AgentEventBody::Scan(ScanReport {
        policy_id: "bposhield_floor_desktop".into(),
        policy_name: "bposhield call-floor desktop baseline".into(),
        passed: if score_fail { 1 } else { 2 },
        failed: if score_fail { 1 } else { 0 },
        not_applicable: 0,
        score: if score_fail { 50 } else { 100 },
        checks: vec![
            CheckResult {
                id: 90001,
                title: "Screen lock after 5 minutes".into(),
                result: if score_fail { "failed" } else { "passed" }.into(),
                reason: "f:/etc/dconf/db/local.d/00-bposhield -> r:idle-delay: did not match".into(),
                severity: "critical".into(),
            },
            CheckResult {
                id: 90002,
                title: "Firewall on".into(),
                result: "passed".into(),
                reason: "p:nft: found".into(),
                severity: "normal".into(),
            },
        ],
    })
}

async fn count_audit(s: &TestServer, action: &str) -> u64 {
    let f = bposhield_store::AuditFilter { action: Some(action.into()), limit: 100, ..Default::default() };
    s.state.store.audit_events(&f).await.unwrap().1
}

async fn controls(s: &TestServer) -> Vec<ControlResult> {
    services::evaluate_controls(&s.state, &bposhield_server::ctx::Ctx::system("test")).await.unwrap()
}

fn status_of(all: &[ControlResult], id: &str) -> ControlStatus {
    all.iter().find(|r| r.control_id == id).unwrap_or_else(|| panic!("no {id}")).status
}

async fn enrollment_bundles_ingest_exceptions_and_controls(db: Db) {
    let Some(s) = TestServer::start(db, "fleet").await else { return };

    // ---- enrollment --------------------------------------------------------------------
    let token = enroll_token(&s, 1, 2).await;
    let r = enroll(&s, &token, "machine-a").await;
    assert_eq!(r.status(), 201);
    let first: EnrollResponse = r.json().await.unwrap();
    assert!(first.credential.starts_with("bpa_"));
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(&first.offline_key).unwrap().len(), 32);
    // Spent, unknown and expired tokens: 401 with a stable code.
    let (st, v) = json_of(enroll(&s, &token, "machine-b").await).await;
    assert_eq!((st, v["code"].as_str()), (401, Some("BPS-FLT-0001")), "{v}");
    let (st, v) = json_of(enroll(&s, "bpe_nope", "machine-b").await).await;
    assert_eq!((st, v["code"].as_str()), (401, Some("BPS-FLT-0001")), "{v}");
    let short = enroll_token(&s, 5, 1).await;
    s.clock.advance(3601);
    let (st, v) = json_of(enroll(&s, &short, "machine-b").await).await;
    assert_eq!((st, v["code"].as_str()), (401, Some("BPS-FLT-0001")), "{v}");
    assert!(count_audit(&s, "fleet.enroll").await >= 3, "refused enrollments are recorded");
    // Re-enrollment of the same machine: same host, new credential; the old one is dead.
    let again = enroll_token(&s, 2, 24).await;
    let e: EnrollResponse = enroll(&s, &again, "machine-a").await.json().await.unwrap();
    assert_eq!(e.host_id, first.host_id);
    assert_ne!(e.credential, first.credential);
    let (st, v) =
        json_of(host_req(&s, &first.credential, Method::GET, "/api/v1/agent/bundle").send().await.unwrap()).await;
    assert_eq!((st, v["code"].as_str()), (401, Some("BPS-FLT-0002")), "{v}");
    assert_eq!(count_audit(&s, "fleet.enrolled").await, 2);

    // ---- the bundle ------------------------------------------------------------------------
    let b1 = bundle(&s, &e.credential, &e).await;
    assert!(
        b1.usb_rules.contains("allow with-interface match-all { 03:*:* 01:*:* 0b:*:* 09:*:* }"),
        "{}",
        b1.usb_rules
    );
    bposhield_endpoint::rules::RuleSet::parse(&b1.usb_rules).unwrap();
    assert!(
        b1.sca_policies.iter().any(|p| p.id == "bposhield_floor_desktop"),
        "{:?}",
        b1.sca_policies.iter().map(|p| &p.id).collect::<Vec<_>>()
    );
    assert!(b1.usb_enforce);
    assert_eq!((b1.scan_interval_seconds, b1.heartbeat_seconds), (3600, 60));
    assert_eq!(b1.expires_at, s.state.clock.now() + 7 * 86_400);
    assert!(b1.exceptions.is_empty());
    // A tampered bundle does not verify.
    let mut signed: SignedBundle =
        host_req(&s, &e.credential, Method::GET, "/api/v1/agent/bundle").send().await.unwrap().json().await.unwrap();
    signed.payload = signed.payload.replace("\"usb_enforce\":true", "\"usb_enforce\":false");
    assert!(bposhield_endpoint::bundle::verify(&signed, &e.bundle_key, e.host_id, s.state.clock.now(), 0).is_err());
    // Users of every role are refused the agent routes; nobody gets in without a credential.
    for role in Role::ALL {
        let r = s.req(role, Method::GET, "/api/v1/agent/bundle").send().await.unwrap();
        assert_eq!(r.status(), 403, "{role}");
    }
    assert_eq!(s.client.get(format!("{}/api/v1/agent/bundle", s.base)).send().await.unwrap().status(), 401);

    // ---- rotation: the old credential works until the new one is used --------------------
    let rot: RotateResponse =
        host_req(&s, &e.credential, Method::POST, "/api/v1/agent/rotate").send().await.unwrap().json().await.unwrap();
    assert!(rot.credential.starts_with("bpa_") && rot.credential != e.credential);
    assert_eq!(host_req(&s, &e.credential, Method::GET, "/api/v1/agent/bundle").send().await.unwrap().status(), 200);
    assert_eq!(host_req(&s, &rot.credential, Method::GET, "/api/v1/agent/bundle").send().await.unwrap().status(), 200);
    assert_eq!(host_req(&s, &e.credential, Method::GET, "/api/v1/agent/bundle").send().await.unwrap().status(), 401);
    let cred = rot.credential.clone();

    // ---- policies: every change bumps the version -----------------------------------------
    let (st, v) = json_of(
        s.req(Role::ItAdmin, Method::POST, "/api/v1/fleet/policies")
            .json(&json!({ "kind": "usb", "name": "Cards floor scanners", "body": "allow id 0c2e:0b61\n" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let pid = v["id"].as_str().unwrap().to_owned();
    assert_eq!(bundle(&s, &cred, &e).await.version, b1.version, "not assigned yet: nothing changed for the host");
    let r = s
        .req(Role::ItAdmin, Method::PUT, &format!("/api/v1/fleet/policies/{pid}/assignments"))
        .json(&json!({ "scopes": [format!("process:{}", s.process.id)] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let b2 = bundle(&s, &cred, &e).await;
    assert!(b2.version > b1.version);
    // Most specific first: the process's rule comes before the global floor policy.
    let scanner = b2.usb_rules.find("allow id 0c2e:0b61").unwrap();
    assert!(scanner < b2.usb_rules.find("allow with-interface").unwrap(), "{}", b2.usb_rules);
    let r = s
        .req(Role::ItAdmin, Method::PUT, &format!("/api/v1/fleet/policies/{pid}"))
        .json(&json!({ "kind": "usb", "name": "Cards floor scanners", "body": "allow id 0c2e:0b61\nallow id 0c2e:0b62\n" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let b3 = bundle(&s, &cred, &e).await;
    assert!(b3.version > b2.version && b3.usb_rules.contains("0c2e:0b62"));
    // A policy for another site changes nothing here.
    let (_, other) = json_of(
        s.req(Role::ItAdmin, Method::POST, "/api/v1/fleet/policies")
            .json(&json!({ "kind": "usb", "name": "Manila", "body": "allow id 1111:2222\n" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    s.req(Role::ItAdmin, Method::PUT, &format!("/api/v1/fleet/policies/{}/assignments", other["id"].as_str().unwrap()))
        .json(&json!({ "scopes": [format!("site:{}", s.other_site.id)] }))
        .send()
        .await
        .unwrap();
    assert_eq!(bundle(&s, &cred, &e).await.version, b3.version);
    // Settings: USB enforcement off for this host.
    let r = s
        .req(Role::SecurityOfficer, Method::PUT, "/api/v1/fleet/settings")
        .json(&json!({ "scope": format!("host:{}", e.host_id), "usb_enforce": false, "heartbeat_seconds": 30 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let b4 = bundle(&s, &cred, &e).await;
    assert!(b4.version > b3.version && !b4.usb_enforce && b4.heartbeat_seconds == 30);
    s.req(Role::SecurityOfficer, Method::PUT, "/api/v1/fleet/settings")
        .json(&json!({ "scope": format!("host:{}", e.host_id) }))
        .send()
        .await
        .unwrap();
    assert!(bundle(&s, &cred, &e).await.usb_enforce);
    assert!(count_audit(&s, "fleet.policy_changed").await >= 6);
    // Bad policy text: 400 with the line; unknown kind and empty name: 422.
    let (st, v) = json_of(
        s.req(Role::ItAdmin, Method::POST, "/api/v1/fleet/policies")
            .json(&json!({ "kind": "usb", "name": "Broken", "body": "allow id 0781:5567\nallow frobnicate\n" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((st, v["code"].as_str()), (400, Some("BPS-FLT-0003")), "{v}");
    assert!(v["message"].as_str().unwrap().contains("line 2"), "{v}");
    let (st, v) = json_of(
        s.req(Role::ItAdmin, Method::POST, "/api/v1/fleet/policies")
            .json(&json!({ "kind": "sca", "name": "Broken SCA", "body": "policy:\n  id: x\nchecks: 5\n" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((st, v["code"].as_str()), (400, Some("BPS-FLT-0003")), "{v}");
    assert!(v["message"].as_str().unwrap().contains("line "), "{v}");
    for body in [json!({ "kind": "dll", "name": "x", "body": "" }), json!({ "kind": "usb", "name": " ", "body": "" })] {
        let (st, v) =
            json_of(s.req(Role::ItAdmin, Method::POST, "/api/v1/fleet/policies").json(&body).send().await.unwrap())
                .await;
        assert_eq!(st, 422, "{v}");
    }
    // Auditors read, never write.
    assert_eq!(s.req(Role::Auditor, Method::GET, "/api/v1/fleet/policies").send().await.unwrap().status(), 200);
    assert_eq!(
        s.req(Role::Auditor, Method::POST, "/api/v1/fleet/policies").json(&json!({})).send().await.unwrap().status(),
        403
    );

    // ---- ingest ------------------------------------------------------------------------------
    let version = bundle(&s, &cred, &e).await.version;
    let b = batch(
        &s,
        version,
        vec![
            device("allowed", "Logitech keyboard", "a2V5Ym9hcmQta2V5Ym9hcmQta2V5Ym9hcmQta2V5Ym8=", false),
            device("blocked", "SanDisk Cruzer Blade", DEVICE_HASH, true),
            device("partial", "Jabra EVOLVE 20", "aGVhZHNldC1oZWFkc2V0LWhlYWRzZXQtaGVhZHNldC0=", true),
            scan_report(false),
            AgentEventBody::Facts(HostFacts {
                os: "Ubuntu 22.04.4 LTS".into(),
                kernel: "6.5.0-35-generic".into(),
                packages: 1800,
                pending_security_updates: 3,
                updates_pending_since: Some(s.state.clock.now() - 20 * 86_400),
                firewall: "active".into(),
                screen_lock_seconds: Some(300),
                password_min_length: Some(12),
                listening: vec!["udp 127.0.0.53:53 systemd-resolved".into()],
            }),
        ],
    );
    for _ in 0..2 {
        let r = host_req(&s, &cred, Method::POST, "/api/v1/agent/events").json(&b).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let ack: BatchAck = r.json().await.unwrap();
        assert_eq!((ack.accepted, ack.bundle_version), (5, version));
    }
    let (_, evs) = json_of(
        s.req(Role::Auditor, Method::GET, &format!("/api/v1/fleet/events?host_id={}", e.host_id)).send().await.unwrap(),
    )
    .await;
    assert_eq!(evs.as_array().unwrap().len(), 3, "the re-sent batch is stored once: {evs}");
    let (_, blocked) =
        json_of(s.req(Role::Auditor, Method::GET, "/api/v1/fleet/events?decision=blocked").send().await.unwrap()).await;
    assert_eq!(blocked.as_array().unwrap().len(), 1);
    assert_eq!(count_audit(&s, "fleet.devices_blocked").await, 1, "one ledger entry per batch, not per re-send");
    let f =
        bposhield_store::AuditFilter { action: Some("fleet.devices_blocked".into()), limit: 1, ..Default::default() };
    let entry = &s.state.store.audit_events(&f).await.unwrap().0[0];
    assert_eq!(entry.detail["count"], 2, "{}", entry.detail);
    // A newer scan replaces the latest result; history keeps both.
    let mut later = batch(&s, version, vec![scan_report(true)]);
    later.events[0].seq = 100;
    later.events[0].at = s.state.clock.now();
    host_req(&s, &cred, Method::POST, "/api/v1/agent/events").json(&later).send().await.unwrap();
    let (st, d) = json_of(
        s.req(Role::SecurityOfficer, Method::GET, &format!("/api/v1/fleet/hosts/{}", e.host_id)).send().await.unwrap(),
    )
    .await;
    assert_eq!(st, 200, "{d}");
    let d: HostDetail = serde_json::from_value(d).unwrap();
    assert_eq!(d.host.agent_version, "0.1.1");
    assert_eq!(d.host.policy_version, version);
    assert!(d.host.last_seen_at.is_some() && d.host.usb_enforcing);
    assert_eq!(d.compliance.len(), 1);
    assert_eq!(d.compliance[0].score.score, 50);
    assert_eq!(d.compliance[0].score.critical_failed, 1);
    assert!(d.compliance[0].checks[0].reason.contains("idle-delay"));
    assert_eq!(d.history.iter().map(|p| p.score).collect::<Vec<_>>(), [100, 50]);
    assert_eq!(d.facts.as_ref().unwrap().pending_security_updates, 3);
    let (_, list) = json_of(s.req(Role::ProcessHead, Method::GET, "/api/v1/fleet/hosts").send().await.unwrap()).await;
    let list: Page<HostSummary> = serde_json::from_value(list).unwrap();
    assert_eq!(list.total, 1);
    assert_eq!(list.items[0].scores[0].score, 50);
    assert!(!list.items[0].simulated);

    // ---- controls ------------------------------------------------------------------------------
    let c = controls(&s).await;
    assert_eq!(status_of(&c, "CTL-R1-001"), ControlStatus::Pass);
    assert_eq!(status_of(&c, "CTL-R1-002"), ControlStatus::Pass);
    assert_eq!(status_of(&c, "CTL-R4-002"), ControlStatus::Fail, "score 50 is below 80");
    assert_eq!(status_of(&c, "CTL-R4-003"), ControlStatus::Fail, "the screen-lock check is critical");
    assert_eq!(status_of(&c, "CTL-R4-004"), ControlStatus::Fail, "updates pending for 20 days");
    assert_eq!(status_of(&c, "CTL-R4-005"), ControlStatus::Pass);
    let r1_2 = c.iter().find(|r| r.control_id == "CTL-R1-002").unwrap();
    assert!(r1_2.evidence.summary.contains("2 storage devices"), "{}", r1_2.evidence.summary);

    // ---- exceptions ----------------------------------------------------------------------------
    let ask = json!({ "host_id": e.host_id, "device_hash": DEVICE_HASH, "device_name": "Encrypted drive IT-0421", "reason": "audit export", "hours": 4 });
    let (st, x) = json_of(
        s.req(Role::SecurityOfficer, Method::POST, "/api/v1/fleet/exceptions").json(&ask).send().await.unwrap(),
    )
    .await;
    assert_eq!(st, 201, "{x}");
    let xid = x["id"].as_str().unwrap().to_owned();
    assert_eq!(x["status"], "requested");
    // The requester cannot approve their own request, whatever their role.
    let (st, v) = json_of(
        s.req(Role::SecurityOfficer, Method::POST, &format!("/api/v1/fleet/exceptions/{xid}/approve"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((st, v["code"].as_str()), (403, Some("BPS-FLT-0004")), "{v}");
    // Process heads ask but do not decide.
    assert_eq!(
        s.req(Role::ProcessHead, Method::POST, &format!("/api/v1/fleet/exceptions/{xid}/approve"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let before = bundle(&s, &cred, &e).await.version;
    let (st, v) = json_of(
        s.req(Role::ItAdmin, Method::POST, &format!("/api/v1/fleet/exceptions/{xid}/approve"))
            .json(&json!({ "note": "ok for today" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["status"], "approved");
    assert_eq!(v["expires_at"].as_i64(), Some(s.state.clock.now() + 4 * 3600));
    let with = bundle(&s, &cred, &e).await;
    assert!(with.version > before);
    assert_eq!(with.exceptions.len(), 1);
    assert_eq!(with.exceptions[0].device_hash, DEVICE_HASH);
    assert_eq!(count_audit(&s, "fleet.exception_granted").await, 1);
    let (st, v) = json_of(
        s.req(Role::ItAdmin, Method::POST, &format!("/api/v1/fleet/exceptions/{xid}/approve")).send().await.unwrap(),
    )
    .await;
    assert_eq!((st, v["code"].as_str()), (409, Some("BPS-FLT-0005")), "{v}");
    // The agent uses it: ledger entry, first use recorded.
    let mut used = batch(&s, with.version, vec![device("allowed", "SanDisk Cruzer Blade", DEVICE_HASH, true)]);
    used.events[0].seq = 200;
    if let AgentEventBody::Device(d) = &mut used.events[0].body {
        d.exception_id = Some(xid.parse().unwrap());
    }
    host_req(&s, &cred, Method::POST, "/api/v1/agent/events").json(&used).send().await.unwrap();
    assert_eq!(count_audit(&s, "fleet.exception_used").await, 1);
    let (_, v) =
        json_of(s.req(Role::Auditor, Method::GET, &format!("/api/v1/fleet/exceptions/{xid}")).send().await.unwrap())
            .await;
    assert!(v["first_used_at"].as_i64().is_some(), "{v}");
    // Controls see it in force.
    let c = controls(&s).await;
    let r1_3 = c.iter().find(|r| r.control_id == "CTL-R1-003").unwrap();
    assert!(
        r1_3.evidence.summary.starts_with("1 USB exceptions in force; 1 expire within 24 h"),
        "{}",
        r1_3.evidence.summary
    );
    // Revoked: out of the bundle.
    let r = s
        .req(Role::SecurityOfficer, Method::POST, &format!("/api/v1/fleet/exceptions/{xid}/revoke"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(bundle(&s, &cred, &e).await.exceptions.is_empty());
    // Rejection needs a note; bad requests are named.
    let (_, x2) =
        json_of(s.req(Role::ProcessHead, Method::POST, "/api/v1/fleet/exceptions").json(&ask).send().await.unwrap())
            .await;
    let x2 = x2["id"].as_str().unwrap().to_owned();
    let (st, _) = json_of(
        s.req(Role::SecurityOfficer, Method::POST, &format!("/api/v1/fleet/exceptions/{x2}/reject"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 422);
    let r = s
        .req(Role::SecurityOfficer, Method::POST, &format!("/api/v1/fleet/exceptions/{x2}/reject"))
        .json(&json!({ "note": "use the shared drive" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for (field, bad) in [("hours", json!(169)), ("device_hash", json!("short")), ("reason", json!(""))] {
        let mut body = ask.clone();
        body[field] = bad;
        let (st, v) = json_of(
            s.req(Role::SecurityOfficer, Method::POST, "/api/v1/fleet/exceptions").json(&body).send().await.unwrap(),
        )
        .await;
        assert_eq!((st, v["field"].as_str()), (422, Some(field)), "{v}");
    }

    // ---- offline codes ---------------------------------------------------------------------------
    let key = base64::engine::general_purpose::STANDARD.decode(&e.offline_key).unwrap();
    let now = s.state.clock.now();
    let challenge = Challenge::new(&e.host_id.to_string(), DEVICE_HASH, now - 120);
    let (st, v) = json_of(
        s.req(Role::SecurityOfficer, Method::POST, "/api/v1/fleet/offline-codes")
            .json(&json!({ "challenge": challenge.display().to_lowercase(), "hours": 4, "reason": "agent offline, client call in progress" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let code: OfflineCode = serde_json::from_value(v).unwrap();
    assert_eq!(code.host_id, e.host_id);
    assert_eq!(offline::verify(&key, &e.host_id.to_string(), DEVICE_HASH, &challenge, &code.code, now), Ok(4));
    // The code is not kept; the grant and its reason are in the ledger.
    let f = bposhield_store::AuditFilter {
        action: Some("fleet.offline_code_issued".into()),
        limit: 1,
        ..Default::default()
    };
    let entry = &s.state.store.audit_events(&f).await.unwrap().0[0];
    assert_eq!(entry.detail["reason"], "agent offline, client call in progress");
    assert!(!entry.detail.to_string().contains(&code.code));
    // Bad, stale and foreign challenges; auditors cannot issue.
    let stale = Challenge::new(&e.host_id.to_string(), DEVICE_HASH, now - 3600).display();
    let nobody = Challenge::new("00000000-0000-7000-8000-000000000000", DEVICE_HASH, now).display();
    for (challenge, code) in
        [("hello!", "BPS-FLT-0006"), (stale.as_str(), "BPS-FLT-0006"), (nobody.as_str(), "BPS-FLT-0008")]
    {
        let (st, v) = json_of(
            s.req(Role::SecurityOfficer, Method::POST, "/api/v1/fleet/offline-codes")
                .json(&json!({ "challenge": challenge, "hours": 4, "reason": "x" }))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(v["code"].as_str(), Some(code), "{challenge}: {st} {v}");
    }
    let r = s
        .req(Role::Auditor, Method::POST, "/api/v1/fleet/offline-codes")
        .json(&json!({ "challenge": challenge.display(), "hours": 4, "reason": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // The agent reports the use.
    let mut off = batch(&s, with.version, vec![device("allowed", "SanDisk Cruzer Blade", DEVICE_HASH, true)]);
    off.events[0].seq = 300;
    if let AgentEventBody::Device(d) = &mut off.events[0].body {
        d.offline_challenge = Some(challenge.display());
    }
    host_req(&s, &cred, Method::POST, "/api/v1/agent/events").json(&off).send().await.unwrap();
    assert_eq!(count_audit(&s, "fleet.exception_used").await, 2);

    // ---- bad input: codes, never a 500 ---------------------------------------------------------
    let mut neg = batch(&s, 1, vec![device("blocked", "x", DEVICE_HASH, true)]);
    neg.events[0].seq = -1;
    let (st, v) =
        json_of(host_req(&s, &cred, Method::POST, "/api/v1/agent/events").json(&neg).send().await.unwrap()).await;
    assert_eq!((st, v["field"].as_str()), (422, Some("events[0].seq")), "{v}");
    let mut odd = batch(&s, 1, vec![device("exploded", "x", DEVICE_HASH, true)]);
    odd.events[0].seq = 400;
    let (st, v) =
        json_of(host_req(&s, &cred, Method::POST, "/api/v1/agent/events").json(&odd).send().await.unwrap()).await;
    assert_eq!((st, v["field"].as_str()), (422, Some("events[0].decision")), "{v}");
    for body in [
        "{",
        "{\"health\": {}, \"events\": []}",
        "{\"health\": 1, \"events\": [], \"x\": 1}",
        "{\"events\": [{\"seq\": 1, \"at\": 1, \"kind\": \"teleport\"}]}",
    ] {
        let r = host_req(&s, &cred, Method::POST, "/api/v1/agent/events")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{body}: {}", r.status());
    }
    let r = s
        .client
        .post(format!("{}/api/v1/agent/enroll", s.base))
        .json(&json!({ "token": again, "hostname": "has space", "machine_id": "m", "os": "x", "agent_version": "1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    for path in ["/api/v1/fleet/hosts/nope", "/api/v1/fleet/hosts?limit=x", "/api/v1/fleet/events?decision=maybe"] {
        let st = s.req(Role::SecurityOfficer, Method::GET, path).send().await.unwrap().status().as_u16();
        assert!((400..500).contains(&st), "{path}: {st}");
    }
    let st = s
        .req(Role::SecurityOfficer, Method::GET, &format!("/api/v1/fleet/hosts/{}", HostId::new_v7(1)))
        .send()
        .await
        .unwrap();
    assert_eq!(st.status(), 404);

    // ---- silence and retirement ---------------------------------------------------------------
    s.clock.advance(25 * 3600);
    let c = controls(&s).await;
    assert_eq!(status_of(&c, "CTL-R4-005"), ControlStatus::Fail);
    assert_eq!(status_of(&c, "CTL-R1-001"), ControlStatus::Fail);
    let r =
        s.req(Role::ItAdmin, Method::POST, &format!("/api/v1/fleet/hosts/{}/retire", e.host_id)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(host_req(&s, &cred, Method::GET, "/api/v1/agent/bundle").send().await.unwrap().status(), 401);
    s.stop().await;
}

/// Every route of the server with a host credential: the agent routes answer, every
/// user route refuses with 403 (the host principal goes through `authorize` like
/// anyone), nothing fails with a 5xx.
async fn host_credentials_reach_only_the_agent_routes(db: Db) {
    let Some(s) = TestServer::start(db, "fleet-host-routes").await else { return };
    let token = enroll_token(&s, 1, 1).await;
    let e: EnrollResponse = enroll(&s, &token, "machine-routes").await.json().await.unwrap();
    let mut cred = e.credential.clone();
    let mut host_routes = 0;
    for route in table(s.state.clone()) {
        let path =
            route.path.replace("{id}", &e.host_id.to_string()).replace("{grant_id}", "x").replace("{file}", "app.css");
        let mut req = host_req(&s, &cred, route.method.clone(), &path);
        if route.method == Method::POST || route.method == Method::PUT {
            req = req.header("content-type", "application/json").body("{}");
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap_or_default();
        let what = format!("{} {}: {status} {body:.200}", route.method, route.path);
        assert!(status < 500, "{what}");
        match route.access {
            Access::Public => {}
            Access::Host(_) => {
                host_routes += 1;
                assert!(status != 401 && status != 403, "{what}");
                if route.path == "/api/v1/agent/rotate" {
                    // Use the new credential from now on (the old one dies on first use).
                    let rot: RotateResponse = serde_json::from_str(&body).unwrap();
                    cred = rot.credential;
                }
            }
            Access::Signed(_) => {
                assert_eq!(status, 403, "{what}");
                if route.path.starts_with("/api/") {
                    assert!(body.contains("BPS-AUTH-0003"), "{what}");
                }
            }
        }
    }
    assert_eq!(host_routes, 3);
    // Denials of the host are in the audit log under its name.
    let f = bposhield_store::AuditFilter {
        actor: Some(format!("host:{}", e.host_id)),
        outcome: Some("denied".into()),
        limit: 5,
        ..Default::default()
    };
    assert!(s.state.store.audit_events(&f).await.unwrap().1 > 20);
    s.stop().await;
}

/// The demo's simulated fleet through the real pages and controls; scoped roles see
/// their process only.
async fn demo_fleet_and_pages(db: Db) {
    let Some(s) = TestServer::start(db, "fleet-demo").await else { return };
    let now = s.state.clock.now();
    let n = bposhield_server::fleet::demo::seed_demo_fleet(&s.state, 30, now).await.unwrap();
    assert_eq!(n, 30);
    let (_, list) =
        json_of(s.req(Role::SecurityOfficer, Method::GET, "/api/v1/fleet/hosts?limit=100").send().await.unwrap()).await;
    let list: Page<HostSummary> = serde_json::from_value(list).unwrap();
    assert_eq!(list.total, 30);
    assert!(list.items.iter().all(|h| h.simulated));
    assert!(list.items.iter().filter(|h| !h.scores.is_empty()).count() >= 25, "scanned hosts");
    let (_, evs) =
        json_of(s.req(Role::SecurityOfficer, Method::GET, "/api/v1/fleet/events?limit=1000").send().await.unwrap())
            .await;
    let evs: Vec<DeviceEventRow> = serde_json::from_value(evs).unwrap();
    assert!(evs.iter().any(|e| e.decision == "allowed") && evs.iter().any(|e| e.decision == "partial"));
    let c = controls(&s).await;
    for id in ["CTL-R1-001", "CTL-R1-002", "CTL-R1-003", "CTL-R4-002", "CTL-R4-003", "CTL-R4-004", "CTL-R4-005"] {
        assert_ne!(status_of(&c, id), ControlStatus::NotMeasured, "{id}");
    }
    // A process head of another process sees none of them; a team manager sees the
    // hosts of their team's process.
    let ctx = bposhield_server::ctx::Ctx::system("test");
    let other = services::create_process(
        &s.state,
        &ctx,
        None,
        &ProcessInput {
            site_id: s.site.id,
            code: "ZEN-TECH".into(),
            name: "Zen tech support".into(),
            client: "Zen".into(),
        },
    )
    .await
    .unwrap();
    for (name, role, scope, want) in [
        ("ph.zen", Role::ProcessHead, Scope::Process(other.id), 0),
        ("tm.cards", Role::TeamManager, Scope::Team(s.team.id), 30),
    ] {
        let u = services::create_user(
            &s.state,
            &ctx,
            None,
            &UserInput {
                username: name.into(),
                display_name: name.into(),
                password: crate::harness::PASSWORD.into(),
                person_id: None,
                grants: vec![GrantInput { role, scope }],
            },
        )
        .await
        .unwrap();
        let t =
            services::issue_token(&s.state, &ctx, u.id, "t", 5, vec![GrantInput { role, scope }]).await.unwrap().token;
        let r = s.client.get(format!("{}/api/v1/fleet/hosts?limit=100", s.base)).bearer_auth(&t).send().await.unwrap();
        let page: Page<HostSummary> = r.json().await.unwrap();
        // The harness has one process: every demo desktop is in it; servers sit at the
        // site without a process.
        let desktops = list.items.iter().filter(|h| h.process_id.is_some()).count() as u64;
        assert_eq!(page.total, if want == 0 { 0 } else { desktops }, "{name}");
    }
    // Every page renders for security, and the hosts page marks simulated hosts.
    let host = &list.items[0];
    let policies = s.state.store.fleet_policies().await.unwrap();
    assert!(policies.iter().any(|p| p.name == "Floor USB policy" && p.builtin));
    for path in [
        "/fleet".to_owned(),
        "/fleet?status=below".to_owned(),
        format!("/fleet/hosts/{}", host.id),
        "/fleet/exceptions".to_owned(),
        "/fleet/policies".to_owned(),
        format!("/fleet/policies/{}", policies[0].id),
        "/fleet/tokens".to_owned(),
    ] {
        let r = s.req(Role::SecurityOfficer, Method::GET, &path).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let html = r.text().await.unwrap();
        if path == "/fleet" {
            assert!(html.contains(">simulated<"), "simulated badge");
            assert!(html.contains(&host.hostname));
        }
    }
    // A page form: a policy that does not parse comes back with its line.
    let r = s
        .req(Role::SecurityOfficer, Method::POST, "/fleet/policies")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("kind=usb&name=Bad&body=allow+id+0781%3A5567%0D%0Ablock+bogus")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().to_lowercase().contains("line 2"));
    s.stop().await;
}

/// Ingest speed over HTTP (not a timed test: `cargo test -p bposhield-server --test it
/// fleet_ingest_throughput -- --ignored --nocapture` prints the figure).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run by hand"]
async fn fleet_ingest_throughput() {
    let Some(s) = TestServer::start(Db::Sqlite, "fleet-bench").await else { return };
    let token = enroll_token(&s, 4, 1).await;
    let mut creds = Vec::new();
    for n in 0..4 {
        let e: EnrollResponse = enroll(&s, &token, &format!("bench-{n}")).await.json().await.unwrap();
        creds.push(e.credential);
    }
    let per_batch = 500;
    let batches = 80;
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for (h, cred) in creds.into_iter().enumerate() {
        let client = s.client.clone();
        let base = s.base.clone();
        let now = s.state.clock.now();
        tasks.push(tokio::spawn(async move {
            for b in 0..batches / 4 {
                let events: Vec<AgentEvent> = (0..per_batch)
                    .map(|k| AgentEvent {
                        seq: (b * per_batch + k) as i64,
                        at: now,
                        body: device(
                            if k % 3 == 0 { "blocked" } else { "allowed" },
                            "SanDisk Cruzer Blade",
                            DEVICE_HASH,
                            k % 3 == 0,
                        ),
                    })
                    .collect();
                let batch = AgentBatch {
                    health: AgentHealth {
                        agent_version: "0.1.0".into(),
                        policy_version: 1,
                        usb_enforcing: true,
                        sent_at: now,
                        ..Default::default()
                    },
                    events,
                };
                let r = client
                    .post(format!("{base}/api/v1/agent/events"))
                    .bearer_auth(&cred)
                    .json(&batch)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "host {h}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    let events = (per_batch * batches) as f64;
    println!("fleet ingest: {events} device events in {secs:.2} s = {:.0} events/s (batches of {per_batch}, 4 hosts in parallel, SQLite)", events / secs);
    s.stop().await;
}
