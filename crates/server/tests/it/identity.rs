//! The identity lifecycle end to end: HR feeds in over HTTP, plans, the executor acting
//! on a real OpenLDAP `slapd` and on the signed access-card export, absconders on an
//! injected clock, movers, orphans, the circuit breaker and an access review.

use crate::harness::{Db, TestServer};
use bposhield_connectors::testkit::Slapd;
use bposhield_proto::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

crate::both_dbs!(
    leaver_by_csv_is_off_in_slapd_and_on_the_card_list,
    absconder_suspended_on_day_n_terminated_on_day_m,
    mover_loses_old_process_access,
    orphans_are_found_and_owned,
    breaker_holds_a_mass_disable_until_approved,
    review_campaign_revokes_through_the_connector,
    bad_hr_rows_are_reported_and_nothing_applied,
    leaver_by_scim_patch_is_off_on_the_card_list,
    hr_files_larger_than_the_api_body_limit_are_accepted,
    reviews_open_on_schedule_per_process,
);

const CARD_KEY: &str = "card-export-signing-key-0123456789";

async fn call(s: &TestServer, role: Role, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = s.req(role, method, path);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn csv(s: &TestServer, mode: &str, body: &str) -> (u16, Value) {
    let r = s
        .req(Role::Hr, Method::POST, &format!("/api/v1/identity/hr/import?mode={mode}"))
        .header("content-type", "text/csv")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// The access-card target over a signed export in the test's directory; returns the
/// export path.
async fn card_target(s: &TestServer, id: &str, process: Option<ProcessId>) -> std::path::PathBuf {
    let dir = s.state.config.data_dir.clone();
    let key = dir.join(format!("{id}.key"));
    std::fs::write(&key, CARD_KEY).unwrap();
    let export = dir.join(format!("{id}.csv"));
    let (st, b) = call(
        s,
        Role::SecurityOfficer,
        Method::POST,
        "/api/v1/identity/targets",
        Some(json!({
            "id": id, "name": format!("Cards {id}"), "kind": "access_card", "correlation": "employee_id",
            "process_id": process,
            "config": { "type": "access_card", "export_path": export, "signing_key_file": key },
        })),
    )
    .await;
    assert_eq!(st, 204, "{b}");
    export
}

/// Issues a card to an employee straight on the card system (as the PACS would have).
async fn issue_card(s: &TestServer, target: &str, card: &str, employee: &str) {
    let t = s.state.store.id_target(target).await.unwrap();
    let c = bposhield_connectors::build(&t.target, t.config.clone(), s.state.clock.clone()).unwrap();
    c.create(&bposhield_connectors::NewAccount {
        login: card.into(),
        employee_id: Some(employee.into()),
        entitlements: ["floor-3".to_owned()].into(),
        ..Default::default()
    })
    .await
    .unwrap();
}

fn card_state(export: &std::path::Path, card: &str) -> String {
    // The CSV is renamed into place before its signature: a read in between sees a
    // mismatch, and a PACS retries (docs/connectors.md). So does this check.
    for _ in 0..50 {
        if bposhield_connectors::card::verify_export(export, CARD_KEY.as_bytes()).is_ok() {
            let cards = bposhield_connectors::card::parse_export(&std::fs::read(export).unwrap()).unwrap();
            return serde_json::to_value(cards[card].state).unwrap().as_str().unwrap().to_owned();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the card export never verified");
}

async fn reconcile(s: &TestServer) -> Value {
    let (st, b) = call(s, Role::SecurityOfficer, Method::POST, "/api/v1/identity/reconcile", Some(json!({}))).await;
    assert_eq!(st, 200, "{b}");
    b
}

/// Evaluates the controls a second later than the last evaluation (results of the same
/// second are ordered by random id bits, and the test clock stands still).
async fn evaluate(s: &TestServer) {
    s.clock.advance(1);
    let (st, b) = call(s, Role::SecurityOfficer, Method::POST, "/api/v1/controls/evaluate", None).await;
    assert_eq!(st, 200, "{b}");
}

/// Waits (up to 15 s) until `f` holds: the executor works in the background.
async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..150 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}

fn row(s: &TestServer, employee: &str, status: &str, exit: &str, process: &str, team: &str) -> String {
    let lower = employee.to_lowercase();
    let site = &s.site.code;
    format!(
        "{employee},Priya,Sharma,{lower}@example.com,{lower},{site},{process},{team},,Customer service associate,{status},,2024-02-01,{exit}\n"
    )
}

const HEADER: &str = "employee_id,given_name,family_name,email,login,site,process,team,manager_employee_id,job_role,status,status_reason,hire_date,exit_date\n";

async fn person_status(s: &TestServer, id: PersonId) -> String {
    s.state.store.person(id).await.unwrap().status.as_str().to_owned()
}

async fn leaver_by_csv_is_off_in_slapd_and_on_the_card_list(db: Db) {
    let Some(s) = TestServer::start(db, "idn-leaver").await else { return };
    let slapd = Slapd::start()
        .await
        .unwrap_or_else(|e| panic!("slapd must be installed (apt-get install slapd ldap-utils): {e}"));
    let dn = slapd.add_user("priya", "E000001", Some("Agent-Pass-4821")).await.unwrap();
    // groupOfNames needs a member left after the leaver's removal.
    let other = slapd.add_user("ravi", "E000077", None).await.unwrap();
    slapd.add_group("cards-team", &[&dn, &other]).await.unwrap();
    let pw = s.state.config.data_dir.join("ldap.pw");
    let mut cfg = slapd.connector_config();
    std::fs::write(&pw, cfg["bind_password"].as_str().unwrap()).unwrap();
    cfg.as_object_mut().unwrap().remove("bind_password");
    cfg["bind_password_file"] = json!(pw);
    cfg["disable_attribute"] = json!("description");
    cfg["disable_value"] = json!("bposhield-disabled");
    let (st, b) = call(
        &s,
        Role::SecurityOfficer,
        Method::POST,
        "/api/v1/identity/targets",
        Some(json!({ "id": "dir", "name": "Directory", "kind": "directory", "correlation": "employee_id", "config": cfg })),
    )
    .await;
    assert_eq!(st, 204, "{b}");
    let (st, b) = call(&s, Role::SecurityOfficer, Method::POST, "/api/v1/identity/targets/dir/test", None).await;
    assert_eq!((st, b["ok"].as_bool()), (200, Some(true)), "{b}");
    let export = card_target(&s, "cards", None).await;
    issue_card(&s, "cards", "C-1001", "E000001").await;

    let out = reconcile(&s).await;
    assert!(out["target_errors"].as_array().unwrap().is_empty(), "{out}");
    let (_, linked) =
        call(&s, Role::SecurityOfficer, Method::GET, "/api/v1/identity/accounts?situation=linked", None).await;
    let linked = linked.as_array().unwrap();
    assert_eq!(linked.len(), 2, "{linked:?}");
    assert!(linked.iter().all(|a| a["owner"] == json!(s.person.id.to_string())));

    // HR sends the leaver.
    let today = s.state.clock.today();
    let body = format!("{HEADER}{}", row(&s, "E000001", "terminated", &today, &s.process.code, &s.team.name));
    let (st, report) = csv(&s, "delta", &body).await;
    assert_eq!(st, 200, "{report}");
    assert_eq!(report["leavers"], 1, "{report}");
    assert_eq!(person_status(&s, s.person.id).await, "terminated");

    // Within seconds: off in the directory (a fresh read) and on the card list.
    let t = s.state.store.id_target("dir").await.unwrap();
    let dir = bposhield_connectors::build(&t.target, t.config.clone(), s.state.clock.clone()).unwrap();
    eventually("the directory account disabled", || async {
        dir.read_accounts().await.unwrap().iter().any(|a| a.key == dn && !a.enabled)
    })
    .await;
    eventually("the card disabled", || async { card_state(&export, "C-1001") == "disabled" }).await;
    // The executor records each action after its connector answered.
    let timeline = format!("/api/v1/identity/people/{}/timeline", s.person.id);
    eventually("every due action recorded done", || async {
        let (_, tl) = call(&s, Role::Hr, Method::GET, &timeline, None).await;
        let acts = tl["actions"].as_array().unwrap();
        acts.iter().filter(|a| a["op_name"] == "disable").count() == 2
            && acts.iter().filter(|a| a["op_name"] != "delete").all(|a| a["status"] == "done")
    })
    .await;
    let accounts = dir.read_accounts().await.unwrap();
    let priya = accounts.iter().find(|a| a.key == dn).unwrap();
    assert!(!priya.entitlements.contains("cards-team"), "groups removed: {priya:?}");

    // The dashboard control passes, and the ledger holds the event and the actions.
    evaluate(&s).await;
    let (_, c) = call(&s, Role::SecurityOfficer, Method::GET, "/api/v1/controls/CTL-R3-003", None).await;
    assert_eq!(c["control"]["latest"]["status"], "pass", "{c}");
    let (_, c) = call(&s, Role::SecurityOfficer, Method::GET, "/api/v1/controls/CTL-R3-009", None).await;
    assert_eq!(c["control"]["latest"]["status"], "pass", "{c}");
    let (_, ev) = call(&s, Role::Auditor, Method::GET, "/api/v1/audit?action=identity.&limit=200", None).await;
    let actions: Vec<&str> = ev["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for want in ["identity.hr.leaver", "identity.plan.create", "identity.action.disable"] {
        assert!(actions.contains(&want), "{want} missing from {actions:?}");
    }
    s.stop().await;
}

async fn absconder_suspended_on_day_n_terminated_on_day_m(db: Db) {
    let Some(s) = TestServer::start(db, "idn-abscond").await else { return };
    let export = card_target(&s, "cards", None).await;
    issue_card(&s, "cards", "C-2001", "E000001").await;
    let now = s.state.clock.now();
    let r = s
        .req(Role::Hr, Method::POST, "/api/v1/identity/activity")
        .header("content-type", "text/csv")
        .body(format!("employee_id,kind,at\nE000001,badge,{now}\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    reconcile(&s).await;
    assert_eq!(person_status(&s, s.person.id).await, "active");

    // Day 2 without activity: nothing yet.
    s.clock.advance(2 * 86_400);
    reconcile(&s).await;
    assert_eq!(person_status(&s, s.person.id).await, "active");
    assert_eq!(card_state(&export, "C-2001"), "active");

    // Day 3: suspended as an absconder, the card off.
    s.clock.advance(86_400);
    reconcile(&s).await;
    assert_eq!(person_status(&s, s.person.id).await, "suspended");
    eventually("the absconder's card disabled", || async { card_state(&export, "C-2001") == "disabled" }).await;
    let (_, tl) =
        call(&s, Role::Hr, Method::GET, &format!("/api/v1/identity/people/{}/timeline", s.person.id), None).await;
    let kinds: Vec<&str> = tl["hr_events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"absconding.suspended"), "{kinds:?}");

    // Day 6: still suspended, waiting for HR.
    s.clock.advance(3 * 86_400);
    reconcile(&s).await;
    assert_eq!(person_status(&s, s.person.id).await, "suspended");

    // Day 7 unconfirmed: treated as a leaver.
    s.clock.advance(86_400);
    reconcile(&s).await;
    assert_eq!(person_status(&s, s.person.id).await, "terminated");
    s.stop().await;
}

async fn mover_loses_old_process_access(db: Db) {
    let Some(s) = TestServer::start(db, "idn-mover").await else { return };
    let ctx = bposhield_server::ctx::Ctx::system("test");
    let other = bposhield_server::services::create_process(
        &s.state,
        &ctx,
        None,
        &ProcessInput {
            site_id: s.site.id,
            code: "TELCO".into(),
            name: "Telco support".into(),
            client: "Telco".into(),
        },
    )
    .await
    .unwrap();
    // The old process's own application (cards stand in for its login system).
    let export = card_target(&s, "app-cards", Some(s.process.id)).await;
    issue_card(&s, "app-cards", "A-3001", "E000001").await;
    reconcile(&s).await;
    assert_eq!(card_state(&export, "A-3001"), "active", "own process: kept");

    let body = format!("{HEADER}{}", row(&s, "E000001", "active", "", "TELCO", ""));
    let (st, report) = csv(&s, "delta", &body).await;
    assert_eq!((st, &report["movers"]), (200, &json!(1)), "{report}");
    assert_eq!(s.state.store.person(s.person.id).await.unwrap().process_id, Some(other.id));
    eventually("the old process's login disabled", || async { card_state(&export, "A-3001") == "disabled" }).await;
    s.stop().await;
}

async fn orphans_are_found_and_owned(db: Db) {
    let Some(s) = TestServer::start(db, "idn-orphan").await else { return };
    card_target(&s, "cards", None).await;
    issue_card(&s, "cards", "C-4001", "E000001").await;
    issue_card(&s, "cards", "C-4999", "E999999").await;
    reconcile(&s).await;
    let (_, orphans) = call(&s, Role::ItAdmin, Method::GET, "/api/v1/identity/accounts", None).await;
    let keys: Vec<&str> = orphans.as_array().unwrap().iter().map(|a| a["account"]["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["C-4999"]);
    evaluate(&s).await;
    let (_, c) = call(&s, Role::SecurityOfficer, Method::GET, "/api/v1/controls/CTL-R3-006", None).await;
    assert_eq!(c["control"]["latest"]["status"], "fail", "{c}");
    assert!(c["control"]["latest"]["evidence"]["failing_ids"].to_string().contains("C-4999"), "{c}");

    let (st, b) = call(
        &s,
        Role::ItAdmin,
        Method::POST,
        "/api/v1/identity/accounts/owner",
        Some(json!({ "target_id": "cards", "account_key": "C-4999", "person_id": s.person.id })),
    )
    .await;
    assert_eq!(st, 204, "{b}");
    let (_, orphans) = call(&s, Role::ItAdmin, Method::GET, "/api/v1/identity/accounts", None).await;
    assert!(orphans.as_array().unwrap().is_empty(), "{orphans}");
    // A later reconciliation keeps the hand-made link.
    reconcile(&s).await;
    let (_, orphans) = call(&s, Role::ItAdmin, Method::GET, "/api/v1/identity/accounts", None).await;
    assert!(orphans.as_array().unwrap().is_empty(), "{orphans}");
    s.stop().await;
}

async fn breaker_holds_a_mass_disable_until_approved(db: Db) {
    let Some(s) = TestServer::start_with(db, "idn-breaker", |c| {
        c.identity.breaker_max_disables = 1;
        c.identity.breaker_max_share = 0.0;
    })
    .await
    else {
        return;
    };
    let export = card_target(&s, "cards", None).await;
    let body = format!(
        "{HEADER}{}{}",
        row(&s, "E000002", "active", "", &s.process.code, &s.team.name),
        row(&s, "E000003", "active", "", &s.process.code, &s.team.name)
    );
    let (st, r) = csv(&s, "delta", &body).await;
    assert_eq!((st, &r["joiners"]), (200, &json!(2)), "{r}");
    for (card, emp) in [("C-5001", "E000001"), ("C-5002", "E000002"), ("C-5003", "E000003")] {
        issue_card(&s, "cards", card, emp).await;
    }
    reconcile(&s).await;

    // A file that terminates two people at once: held, nothing disabled.
    let today = s.state.clock.today();
    let body = format!(
        "{HEADER}{}{}",
        row(&s, "E000002", "terminated", &today, &s.process.code, &s.team.name),
        row(&s, "E000003", "terminated", &today, &s.process.code, &s.team.name)
    );
    let (st, r) = csv(&s, "delta", &body).await;
    assert_eq!(st, 200, "{r}");
    let plan = r["plans"][0].as_str().unwrap().to_owned();
    let (_, p) = call(&s, Role::Auditor, Method::GET, &format!("/api/v1/identity/plans/{plan}"), None).await;
    assert_eq!(p["plan"]["status"], "held", "{p}");
    assert!(p["plan"]["breaker"]["limit"].as_str().unwrap().contains("2 accounts"), "{p}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(card_state(&export, "C-5002"), "active");
    // The scheduled run finds the same changes pending: no second plan to approve.
    let out = reconcile(&s).await;
    assert_eq!(out["status"], "duplicate", "{out}");

    // Only a security officer releases it; then the executor acts.
    let (st, _) =
        call(&s, Role::Hr, Method::POST, &format!("/api/v1/identity/plans/{plan}/approve"), Some(json!({}))).await;
    assert_eq!(st, 403);
    let (st, b) = call(
        &s,
        Role::SecurityOfficer,
        Method::POST,
        &format!("/api/v1/identity/plans/{plan}/approve"),
        Some(json!({ "note": "confirmed with HR: two resignations" })),
    )
    .await;
    assert_eq!(st, 204, "{b}");
    let (st, _) = call(
        &s,
        Role::SecurityOfficer,
        Method::POST,
        &format!("/api/v1/identity/plans/{plan}/approve"),
        Some(json!({})),
    )
    .await;
    assert_eq!(st, 409, "a second approval changes nothing");
    eventually("held cards disabled after approval", || async {
        card_state(&export, "C-5002") == "disabled" && card_state(&export, "C-5003") == "disabled"
    })
    .await;
    assert_eq!(card_state(&export, "C-5001"), "active");
    s.stop().await;
}

async fn review_campaign_revokes_through_the_connector(db: Db) {
    let Some(s) = TestServer::start(db, "idn-review").await else { return };
    let export = card_target(&s, "cards", None).await;
    issue_card(&s, "cards", "C-6001", "E000001").await;
    reconcile(&s).await;
    let (st, c) = call(
        &s,
        Role::SecurityOfficer,
        Method::POST,
        "/api/v1/reviews",
        Some(json!({ "name": "Q4 cards review", "process_id": s.process.id, "reviewer_role": "process_head",
                     "deadline_days": 14, "default_decision": "revoke" })),
    )
    .await;
    assert_eq!(st, 201, "{c}");
    let id = c["id"].as_str().unwrap().to_owned();
    let (_, r) = call(&s, Role::ProcessHead, Method::GET, &format!("/api/v1/reviews/{id}"), None).await;
    let items = r["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{r}");
    let item = items[0]["id"].as_str().unwrap().to_owned();
    // Reviewers are reminded once a day while items wait (the server's own scheduled
    // round may have sent today's reminder already: exactly one either way).
    let ctx = bposhield_server::ctx::Ctx::system("test");
    bposhield_server::identity::reviews::remind(&s.state, &ctx).await.unwrap();
    assert_eq!(bposhield_server::identity::reviews::remind(&s.state, &ctx).await.unwrap(), 0);
    let (_, ev) = call(&s, Role::Auditor, Method::GET, "/api/v1/audit?action=review.reminder&limit=50", None).await;
    let mine =
        ev["items"].as_array().unwrap().iter().filter(|e| e["object"] == json!(format!("campaign:{id}"))).count();
    assert_eq!(mine, 1, "{ev}");
    // A team manager is not this campaign's reviewer.
    let (st, _) = call(
        &s,
        Role::TeamManager,
        Method::POST,
        &format!("/api/v1/reviews/{id}/items/{item}/decision"),
        Some(json!({ "decision": "keep" })),
    )
    .await;
    assert_eq!(st, 403);
    let (st, b) = call(
        &s,
        Role::ProcessHead,
        Method::POST,
        &format!("/api/v1/reviews/{id}/items/{item}/decision"),
        Some(json!({ "decision": "revoke", "comment": "no longer on the night shift" })),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    eventually("the revoked card disabled", || async { card_state(&export, "C-6001") == "disabled" }).await;
    let (st, rep) = call(&s, Role::SecurityOfficer, Method::POST, &format!("/api/v1/reviews/{id}/close"), None).await;
    assert_eq!(st, 200, "{rep}");
    assert_eq!((rep["revoked"].as_u64(), rep["pending"].as_u64()), (Some(1), Some(0)), "{rep}");
    let r = s.req(Role::Auditor, Method::GET, &format!("/api/v1/reviews/{id}/report.csv")).send().await.unwrap();
    assert_eq!(r.status(), 403, "auditors read the ledger, reviewers the report");
    let r =
        s.req(Role::SecurityOfficer, Method::GET, &format!("/api/v1/reviews/{id}/report.csv")).send().await.unwrap();
    let text = r.text().await.unwrap();
    assert!(text.contains("C-6001") && text.contains("revoke") && text.contains("night shift"), "{text}");
    // The review control now passes for this process.
    evaluate(&s).await;
    let (_, c) = call(&s, Role::SecurityOfficer, Method::GET, "/api/v1/controls/CTL-R3-008", None).await;
    assert_eq!(c["control"]["latest"]["evidence"]["failing"], 0, "{c}");
    s.stop().await;
}

async fn bad_hr_rows_are_reported_and_nothing_applied(db: Db) {
    let Some(s) = TestServer::start(db, "idn-badcsv").await else { return };
    let body = format!(
        "{HEADER}{}E000010,Ravi,Kumar,ravi@example.com,,NOPE,,,,Agent,active,,2025-01-01,\nE000011,Asha,Rao,,,{},,,,Agent,retired,,2025-01-01,\n",
        row(&s, "E000009", "active", "", &s.process.code, &s.team.name),
        s.site.code
    );
    let (st, r) = csv(&s, "delta", &body).await;
    assert_eq!(st, 422, "{r}");
    assert_eq!(r["applied"], false);
    let rejected = r["rejected"].as_array().unwrap();
    let lines: Vec<u64> = rejected.iter().map(|x| x["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, [4], "{r}");
    assert!(rejected[0]["reason"].as_str().unwrap().contains("status"), "{r}");
    // Fix the status; now the unknown site on line 3 is reported, still nothing applied.
    let body = body.replace("retired", "active");
    let (st, r) = csv(&s, "delta", &body).await;
    assert_eq!(st, 422, "{r}");
    assert_eq!(r["rejected"][0]["line"], 3, "{r}");
    assert!(r["rejected"][0]["reason"].as_str().unwrap().contains("NOPE"), "{r}");
    assert!(s.state.store.person_by_employee_id("E000009").await.is_err(), "nothing applied");
    s.stop().await;
}

async fn leaver_by_scim_patch_is_off_on_the_card_list(db: Db) {
    let Some(s) = TestServer::start(db, "idn-scim").await else { return };
    let export = card_target(&s, "cards", None).await;
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "userName": "meera.iyer", "active": true,
        "name": { "givenName": "Meera", "familyName": "Iyer" },
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "E000050", "organization": s.site.code, "department": s.process.code
        },
    });
    let r = s
        .req(Role::Hr, Method::POST, "/scim/v2/Users")
        .header("content-type", "application/scim+json")
        .body(user.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    issue_card(&s, "cards", "C-7001", "E000050").await;
    reconcile(&s).await;
    assert_eq!(card_state(&export, "C-7001"), "active");

    // What Entra ID sends: a capitalised op and a string boolean.
    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{ "op": "Replace", "path": "active", "value": "False" }],
    });
    let r = s
        .req(Role::Hr, Method::PATCH, &format!("/scim/v2/Users/{id}"))
        .header("content-type", "application/scim+json")
        .body(patch.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(person_status(&s, id.parse().unwrap()).await, "terminated");
    eventually("the SCIM leaver's card disabled", || async { card_state(&export, "C-7001") == "disabled" }).await;
    s.stop().await;
}

async fn hr_files_larger_than_the_api_body_limit_are_accepted(db: Db) {
    let Some(s) = TestServer::start_with(db, "idn-bigcsv", |c| c.identity.max_csv_bytes = 1_000_000).await else {
        return;
    };
    let mut body = String::from(HEADER);
    for n in 0..2_000 {
        body.push_str(&row(&s, &format!("E{:06}", 100_000 + n), "active", "", &s.process.code, &s.team.name));
    }
    assert!(body.len() > s.state.config.http.max_body_bytes, "{} bytes", body.len());
    let (st, r) = csv(&s, "full", &body).await;
    assert_eq!((st, &r["joiners"]), (200, &json!(2000)), "{r}");
    // The harness person is missing from this full file: counted, not yet gone.
    assert_eq!((r["absent"].as_u64(), r["gone"].as_u64()), (Some(1), Some(0)), "{r}");
    let (st, r) = csv(&s, "delta", &"x".repeat(s.state.config.identity.max_csv_bytes + 1)).await;
    assert_eq!((st, r["code"].as_str()), (413, Some("BPS-REQ-0004")), "{r}");
    s.stop().await;
}

async fn reviews_open_on_schedule_per_process(db: Db) {
    let Some(s) = TestServer::start(db, "idn-sched").await else { return };
    let ctx = bposhield_server::ctx::Ctx::system("test");
    let due = |s: &TestServer| {
        let (st, ctx) = (s.state.clone(), ctx.clone());
        async move { bposhield_server::identity::reviews::schedule_due(&st, &ctx).await.unwrap() }
    };
    assert_eq!(due(&s).await, 0, "no accounts yet: nothing to review");
    card_target(&s, "cards", None).await;
    issue_card(&s, "cards", "C-8001", "E000001").await;
    reconcile(&s).await;
    assert_eq!(due(&s).await, 1);
    assert_eq!(due(&s).await, 0, "one per period");
    let (_, list) = call(&s, Role::ProcessHead, Method::GET, "/api/v1/reviews", None).await;
    let c = &list.as_array().unwrap()[0];
    assert_eq!(c["process_id"], json!(s.process.id.to_string()), "{c}");
    assert_eq!((c["reviewer_role"].as_str(), c["default_decision"].as_str()), (Some("process_head"), Some("revoke")));
    // A quarter later the next one opens.
    s.clock.advance(91 * 86_400);
    assert_eq!(due(&s).await, 1);
    s.stop().await;
}
