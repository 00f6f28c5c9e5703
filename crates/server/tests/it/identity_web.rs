//! The identity lifecycle pages driven like a browser without JavaScript: a session
//! cookie, the CSRF token in every form, urlencoded posts, redirects followed by hand.

use crate::harness::{Db, TestServer, PASSWORD};
use bposhield_identity::model::Account;
use bposhield_proto::{EmploymentStatus, PersonId, Role};
use bposhield_store::identity::{ActionRow, PlanRow};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

crate::both_dbs!(
    hr_upload_rejects_then_applies_and_absconder_is_reinstated,
    targets_plans_orphans_work_items_and_reviews
);

/// A signed-in browser session.
struct Browser<'a> {
    s: &'a TestServer,
    cookie: String,
    csrf: String,
}

impl<'a> Browser<'a> {
    async fn sign_in(s: &'a TestServer, role: Role) -> Self {
        let r = s
            .client
            .post(format!("{}/api/v1/auth/signin", s.base))
            .json(&json!({ "username": s.users[&role].username, "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{role} signs in");
        let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let body: Value = r.json().await.unwrap();
        Self { s, cookie, csrf: body["csrf_token"].as_str().unwrap().to_owned() }
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let r =
            self.s.client.get(format!("{}{path}", self.s.base)).header("cookie", &self.cookie).send().await.unwrap();
        let status = r.status();
        (status, r.text().await.unwrap())
    }

    /// Posts a form (with the CSRF token); answers the status, the redirect target and the body.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String, String) {
        let mut form: Vec<(&str, &str)> = vec![("csrf", self.csrf.as_str())];
        form.extend_from_slice(fields);
        let r = self
            .s
            .client
            .request(Method::POST, format!("{}{path}", self.s.base))
            .header("cookie", &self.cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let location = r.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        (status, location, r.text().await.unwrap())
    }
}

const HEADER: &str = "employee_id,given_name,family_name,email,site,process,team,job_role,status,hire_date";

async fn hr_upload_rejects_then_applies_and_absconder_is_reinstated(db: Db) {
    let Some(s) = TestServer::start(db, "identity-web-hr").await else { return };
    let hr = Browser::sign_in(&s, Role::Hr).await;
    let (st, html) = hr.get("/identity/hr").await;
    assert_eq!(st, 200);
    assert!(html.contains("id=\"hr-form\"") && html.contains("name=\"csv\"") && html.contains("id=\"hr-file\""));

    // One bad row (line 3): the page lists it with its line number, nothing is applied.
    let bad = format!(
        "{HEADER}\nE100,Asha,Rao,asha@example.com,PNQ1,ACME-CARDS,Cards T01,Agent,active,2026-01-05\n\
         E101,Ben,Cruz,,PNQ1,ACME-CARDS,Cards T02,Agent,active,not-a-date\n"
    );
    let (st, _, html) = hr.post("/identity/hr", &[("csv", &bad), ("mode", "delta")]).await;
    assert_eq!(st, 422, "{html}");
    assert!(html.contains("id=\"hr-line-3\""), "rejected row listed by line: {html}");
    assert!(html.contains("Nothing was applied"));
    assert!(html.contains("E100,Asha"), "the pasted text is kept for fixing");
    assert!(s.state.store.person_by_employee_id("E100").await.is_err(), "nothing applied");

    // An empty box is a field error.
    let (st, _, html) = hr.post("/identity/hr", &[("csv", " "), ("mode", "delta")]).await;
    assert_eq!(st, 422);
    assert!(html.contains("id=\"error-hr-csv\""));

    // The corrected file is applied; the redirect shows the figures.
    let good = bad.replace("not-a-date", "2026-01-06");
    let (st, to, _) = hr.post("/identity/hr", &[("csv", &good), ("mode", "delta")]).await;
    assert_eq!(st, 303);
    assert!(to.starts_with("/identity/hr?applied=1"), "{to}");
    let (st, html) = hr.get(&to).await;
    assert_eq!(st, 200);
    assert!(html.contains("The file was applied"));
    let asha = s.state.store.person_by_employee_id("E100").await.unwrap();
    let ben = s.state.store.person_by_employee_id("E101").await.unwrap();
    assert_eq!(ben.team_id, Some(s.other_team.id));

    // The timeline shows the joiner event; the person page links to it.
    let (st, html) = hr.get(&format!("/identity/people/{}", asha.id)).await;
    assert_eq!(st, 200);
    assert!(html.contains("joiner"), "{html}");
    assert!(!html.contains("id=\"absconder-form\""), "no decision for an active person");
    let (_, html) = hr.get(&format!("/people/{}", asha.id)).await;
    assert!(html.contains(&format!("href=\"/identity/people/{}\"", asha.id)));

    // A reinstatement of someone who is not an absconder is refused on the page.
    let (st, _, html) = hr.post(&format!("/identity/people/{}/absconder", asha.id), &[("decision", "reinstate")]).await;
    assert_eq!(st, 409, "{html}");
    assert!(html.contains("not suspended as an absconder"));

    // Suspended as an absconder: HR sees the decision form and reinstates.
    s.state.store.id_set_status(&asha.id.to_string(), "suspended", Some("absconding"), None, 1).await.unwrap();
    let (_, html) = hr.get(&format!("/identity/people/{}", asha.id)).await;
    assert!(html.contains("id=\"absconder-form\""), "{html}");
    let (st, to, _) = hr
        .post(
            &format!("/identity/people/{}/absconder", asha.id),
            &[("decision", "reinstate"), ("note", "back from sick leave")],
        )
        .await;
    assert_eq!(st, 303);
    let (_, html) = hr.get(&to).await;
    assert!(html.contains("Reinstated"));
    assert_eq!(s.state.store.person(asha.id).await.unwrap().status, EmploymentStatus::Active);

    // Unknown people and malformed ids are not server errors.
    let (st, _) = hr.get(&format!("/identity/people/{}", PersonId(uuid::Uuid::now_v7()))).await;
    assert_eq!(st, 404);
    let (st, _) = hr.get("/identity/people/not-an-id").await;
    assert!(st.is_client_error(), "{st}");
    s.stop().await;
}

async fn targets_plans_orphans_work_items_and_reviews(db: Db) {
    let Some(s) = TestServer::start(db, "identity-web-flow").await else { return };
    let so = Browser::sign_in(&s, Role::SecurityOfficer).await;
    let process = s.process.id.to_string();

    // Targets: a bad form comes back with the message beside the field; a good one saves.
    let (st, _, html) = so
        .post(
            "/identity/targets",
            &[("id", "bad id!"), ("name", "CRM"), ("kind", "manual"), ("correlation", "employee_id"), ("config", "{}")],
        )
        .await;
    assert_eq!(st, 422, "{html}");
    assert!(html.contains("id=\"error-target-id\""), "{html}");
    let (st, _, html) = so
        .post(
            "/identity/targets",
            &[("id", "crm"), ("name", "CRM"), ("kind", "manual"), ("correlation", "employee_id"), ("config", "[1")],
        )
        .await;
    assert_eq!(st, 422);
    assert!(html.contains("id=\"error-target-config\""), "{html}");
    let (st, to, html) = so
        .post(
            "/identity/targets",
            &[
                ("id", "crm"),
                ("name", "Acme CRM"),
                ("kind", "manual"),
                ("process_id", &process),
                ("correlation", "employee_id"),
                ("config", ""),
                ("enabled", "1"),
            ],
        )
        .await;
    assert_eq!(st, 303, "{html}");
    let (_, html) = so.get(&to).await;
    assert!(html.contains("id=\"target-crm\"") && html.contains("Target crm saved"));
    let (st, _, html) = so.post("/identity/targets/crm/test", &[]).await;
    assert_eq!(st, 200);
    assert!(html.contains("id=\"test-outcome\"") && html.contains("manual target"), "{html}");
    let (st, _, _) = so.post("/identity/targets/nope/test", &[]).await;
    assert_eq!(st, 404);

    // The CRM holds an account of E000001 (without the birthright entitlement) and one nobody owns.
    let account = |key: &str, emp: &str| Account {
        target: "crm".into(),
        key: key.into(),
        login: key.into(),
        employee_id: Some(emp.into()),
        email: None,
        enabled: true,
        entitlements: Default::default(),
        last_used: None,
    };
    s.state
        .store
        .id_accounts_store_read("crm", &[account("priya", "E000001"), account("ghost", "E999999")], 1)
        .await
        .unwrap();
    let r = s
        .req(Role::SecurityOfficer, Method::POST, "/api/v1/identity/birthrights")
        .json(&json!({ "process_id": process, "target_id": "crm", "entitlement": "crm-agent" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());

    // Dry-run changes nothing; "Reconcile now" queues a plan shown on its page.
    let (st, to, _) = so.post("/identity/reconcile", &[("mode", "dry_run")]).await;
    assert_eq!(st, 303);
    let (_, html) = so.get(&to).await;
    assert!(html.contains("Dry-run finished"), "{html}");
    assert!(s.state.store.id_work_items(true, 10).await.unwrap().is_empty());
    let (st, to, _) = so.post("/identity/reconcile", &[("mode", "execute")]).await;
    assert_eq!(st, 303);
    assert!(to.starts_with("/identity/plans/"), "{to}");
    let (st, html) = so.get(&to).await;
    assert_eq!(st, 200);
    assert!(html.contains("id=\"plan-actions\""));
    let (_, html) = so.get("/identity/plans?status=queued").await;
    assert!(html.contains("reconciliation"), "{html}");
    let (st, _) = so.get("/identity/plans?status=bogus").await;
    assert_eq!(st, 400);
    let (st, _) = so.get("/identity/plans/nope").await;
    assert_eq!(st, 404);

    // Overview: counts and the buttons.
    let (st, html) = so.get("/identity").await;
    assert_eq!(st, 200);
    assert!(html.contains("id=\"reconcile-now\"") && html.contains("id=\"dry-run\"") && html.contains("Acme CRM"));

    // The orphan queue: an unknown employee id is refused beside the row; a known one assigns.
    let (st, html) = so.get("/identity/orphans").await;
    assert_eq!(st, 200);
    assert!(html.contains("ghost"), "{html}");
    let orphan = [("target_id", "crm"), ("account_key", "ghost")];
    let (st, _, html) = so.post("/identity/orphans/owner", &[orphan[0], orphan[1], ("employee_id", "E404")]).await;
    assert_eq!(st, 422, "{html}");
    assert!(html.contains("No person has this employee id"), "{html}");
    let (st, to, _) = so.post("/identity/orphans/owner", &[orphan[0], orphan[1], ("employee_id", "E000001")]).await;
    assert_eq!(st, 303);
    let (_, html) = so.get(&to).await;
    assert!(html.contains("Owner assigned to ghost"));
    assert!(s.state.store.id_accounts_in("unmatched", 10).await.unwrap().is_empty());

    // Work items: the grant of the birthright on the manual CRM, completed by IT with proof.
    let items = s.state.store.id_work_items(true, 10).await.unwrap();
    assert!(!items.is_empty(), "the manual target's actions are work items");
    let item = items[0].action.id.clone();
    let it = Browser::sign_in(&s, Role::ItAdmin).await;
    let (st, html) = it.get("/identity/work-items").await;
    assert_eq!(st, 200);
    assert!(html.contains(&format!("/identity/work-items/{item}/complete")), "{html}");
    let path = format!("/identity/work-items/{item}/complete");
    let (st, _, html) = it.post(&path, &[("proof", "x")]).await;
    assert_eq!(st, 422);
    assert!(html.contains("error-proof-"), "{html}");
    let (st, to, _) = it.post(&path, &[("proof", "Granted in CRM, ticket INC-4711")]).await;
    assert_eq!(st, 303);
    let (_, html) = it.get(&to).await;
    assert!(html.contains("Work item completed"));
    let (_, html) = it.get("/identity/work-items?all=1").await;
    assert!(html.contains("INC-4711"));
    let (st, _, _) = it.post(&path, &[("proof", "again, twice")]).await;
    assert_eq!(st, 409, "completed items cannot be completed again");

    // A plan held by the circuit breaker: its reason, approved with a note.
    let held = PlanRow {
        id: "plan-held-1".into(),
        kind: "scheduled".into(),
        status: "held".into(),
        cause: "reconciliation".into(),
        created_at: 1,
        created_by: "system".into(),
        summary: json!({ "actions": 1 }),
        // The breaker's real `share` (a float) is left out: `decide_plan` audits the breaker
        // verbatim and the ledger refuses floats (reported to the lead).
        breaker: Some(json!({ "disables": 40, "limit": "40 accounts would be disabled" })),
        decided_by: None,
        decided_at: None,
        decision_note: None,
    };
    let action = ActionRow {
        id: "action-held-1".into(),
        plan_id: held.id.clone(),
        person_id: Some(s.person.id.to_string()),
        target_id: "crm".into(),
        account_key: Some("priya".into()),
        op: r#"{"op":"disable"}"#.into(),
        op_name: "disable".into(),
        reason: "leaver".into(),
        status: "held_manual".into(),
        attempts: 0,
        next_at: 1,
        last_error: None,
        created_at: 1,
        done_at: None,
    };
    s.state.store.id_plan_insert(&held, &[action], None).await.unwrap();
    let (_, html) = so.get("/identity/plans/plan-held-1").await;
    assert!(html.contains("id=\"plan-breaker\"") && html.contains("40 accounts would be disabled"), "{html}");
    assert!(html.contains("id=\"plan-approve\""));
    let (st, to, _) =
        so.post("/identity/plans/plan-held-1/decision", &[("decision", "reject"), ("note", "truncated HR file")]).await;
    assert_eq!(st, 303);
    let (_, html) = so.get(&to).await;
    assert!(html.contains("Plan rejected") && html.contains("truncated HR file"), "{html}");
    assert_eq!(s.state.store.id_plan("plan-held-1").await.unwrap().status, "rejected");
    let (st, _, _) = so.post("/identity/plans/plan-held-1/decision", &[("decision", "approve")]).await;
    assert_eq!(st, 409, "a decided plan cannot be decided again");

    // Access review: created by form, decided by a team manager, closed, reported.
    let (st, _, html) = so
        .post(
            "/reviews",
            &[("name", ""), ("reviewer_role", "team_manager"), ("deadline_days", "14"), ("default_decision", "keep")],
        )
        .await;
    assert_eq!(st, 422);
    assert!(html.contains("id=\"error-campaign-name\""), "{html}");
    let (st, to, html) = so
        .post(
            "/reviews",
            &[
                ("name", "Q4 cards review"),
                ("process_id", &process),
                ("target_id", "crm"),
                ("reviewer_role", "team_manager"),
                ("deadline_days", "14"),
                ("default_decision", "keep"),
            ],
        )
        .await;
    assert_eq!(st, 303, "{html}");
    let campaign = to.trim_start_matches("/reviews/").split('?').next().unwrap().to_owned();
    let (_, html) = so.get("/reviews").await;
    assert!(html.contains("Q4 cards review"));
    let tm = Browser::sign_in(&s, Role::TeamManager).await;
    let (st, html) = tm.get(&format!("/reviews/{campaign}")).await;
    assert_eq!(st, 200);
    assert!(!html.contains("id=\"campaign-close\""), "only the security officer closes");
    let items = s.state.store.id_review_items(&campaign).await.unwrap();
    assert_eq!(items.len(), 2, "both CRM accounts of E000001");
    let decide = |i: usize| format!("/reviews/{campaign}/items/{}/decision", items[i].id);
    assert!(html.contains(&decide(0)), "{html}");
    let (st, _, _) = tm.post(&decide(0), &[("decision", "maybe")]).await;
    assert_eq!(st, 422);
    let (st, to, _) = tm.post(&decide(0), &[("decision", "keep"), ("comment", "needed for cards")]).await;
    assert_eq!(st, 303);
    let (_, html) = tm.get(&to).await;
    assert!(html.contains("Decision recorded") && html.contains("needed for cards"));
    let (st, _, _) = tm.post(&decide(0), &[("decision", "revoke")]).await;
    assert_eq!(st, 409, "decided once");
    let (st, _, _) = tm.post(&format!("/reviews/{campaign}/close"), &[]).await;
    assert_eq!(st, 403);
    let (st, to, _) = so.post(&format!("/reviews/{campaign}/close"), &[]).await;
    assert_eq!(st, 303);
    let (_, html) = so.get(&to).await;
    assert!(html.contains("Campaign closed") && html.contains("Closed"), "{html}");
    let (st, html) = so.get(&format!("/reviews/{campaign}/report")).await;
    assert_eq!(st, 200);
    assert!(html.contains("needed for cards") && html.contains("id=\"fig-kept\">2<"), "{html}");
    let (st, _) = so.get("/reviews/nope").await;
    assert_eq!(st, 404);
    let (st, _) = so.get("/reviews/nope/report").await;
    assert_eq!(st, 404);
    s.stop().await;
}
