//! Recordings end to end over real HTTP: ingest with PII scanning, media streamed into
//! the vault, playback with seeking by the recording's own team manager and process
//! head only, everyone else refused and the refusal in the ledger, nothing readable on
//! disk.

use crate::harness::{Db, TestServer, PASSWORD};
use bposhield_proto::*;
use bposhield_server::services;
use reqwest::Method;
use serde_json::json;

crate::both_dbs!(recordings_are_encrypted_redacted_and_played_only_by_their_managers, recordings_on_s3_storage);

/// A bearer token for a new user holding `role` at `scope`.
async fn token(s: &TestServer, name: &str, role: Role, scope: Scope) -> String {
    let ctx = bposhield_server::ctx::Ctx::system("test");
    let u = services::create_user(
        &s.state,
        &ctx,
        None,
        &UserInput {
            username: name.into(),
            display_name: name.into(),
            password: PASSWORD.into(),
            person_id: None,
            grants: vec![GrantInput { role, scope }],
        },
    )
    .await
    .unwrap();
    services::issue_token(&s.state, &ctx, u.id, "t", 365, vec![GrantInput { role, scope }]).await.unwrap().token
}

/// Uploads media as the call-monitoring system's token.
async fn upload(s: &TestServer, path: &str, media: Vec<u8>) -> reqwest::Response {
    s.req(Role::ItAdmin, Method::PUT, path).header("content-type", "audio/wav").body(media).send().await.unwrap()
}

fn media_bytes() -> Vec<u8> {
    // 3 MiB of pseudo-random "audio", with a recognisable header to search for.
    let mut v = b"RIFF-test-recording-plaintext-marker".to_vec();
    let mut x = 0x1234_5678_9abc_def0u64;
    while v.len() < 3 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v
}

fn files_contain(dir: &std::path::Path, needle: &[u8]) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(hit) = files_contain(&p, needle) {
                return Some(hit);
            }
        } else if let Ok(b) = std::fs::read(&p) {
            if b.windows(needle.len()).any(|w| w == needle) {
                return Some(p);
            }
        }
    }
    None
}

async fn recordings_are_encrypted_redacted_and_played_only_by_their_managers(db: Db) {
    let Some(s) = TestServer::start(db, "recordings").await else { return };
    let card = "4111 1111 1111 1111";
    let body = json!({
        "call_id": "CMS-0001",
        "agent": s.person.employee_id,
        "process_id": s.process.id,
        "team_id": s.team.id,
        "started_at": s.state.clock.now() - 3600,
        "duration_seconds": 312,
        "channel": "voice",
        "customer_ref": "CUST-77",
        "transcript": format!("Agent: can I have the card number?\nCustomer: sure it's {card} and my email is priya@example.com"),
        "screen_text": "Payments > Card: 5500 0000 0000 0004",
    });
    // Ingest: the card-system's it_admin token.
    let r = s.req(Role::ItAdmin, Method::POST, "/api/v1/recordings").json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let rec: Recording = r.json().await.unwrap();
    assert!(
        rec.pii_types.contains(&"CARD".to_owned()) && rec.pii_types.contains(&"EMAIL".to_owned()),
        "{:?}",
        rec.pii_types
    );
    assert!(!rec.redacted_transcript.contains(card) && !rec.redacted_screen.contains("5500 0000"), "{rec:?}");
    assert_eq!(rec.redacted_transcript.len(), body["transcript"].as_str().unwrap().len(), "offsets kept");
    let f = rec.findings.iter().find(|f| f.kind == "CARD" && f.source == "transcript").unwrap();
    assert!(f.masked.ends_with("1111") && !f.masked.contains("4111"), "{f:?}");
    assert!(!rec.security_code && !rec.has_media);
    // Idempotent on the call id.
    let again = s.req(Role::ItAdmin, Method::POST, "/api/v1/recordings").json(&body).send().await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Recording>().await.unwrap().id, rec.id);
    // A transcript with a card security code: flagged, original text not kept.
    let mut cvv = body.clone();
    cvv["call_id"] = json!("CMS-0002");
    cvv["transcript"] = json!(format!("card {card} expiry 04/27 and the cvv is 123"));
    let r = s.req(Role::ItAdmin, Method::POST, "/api/v1/recordings").json(&cvv).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert!(r.json::<Recording>().await.unwrap().security_code);
    // Bad input: a clear error, nothing stored.
    let mut bad = body.clone();
    bad["call_id"] = json!("CMS-0003");
    bad["duration_seconds"] = json!(-5);
    let r = s.req(Role::ItAdmin, Method::POST, "/api/v1/recordings").json(&bad).send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("BPS-REQ-0002"));

    // Media: streamed in once.
    let media = media_bytes();
    let path = format!("/api/v1/recordings/{}/media", rec.id);
    let r = upload(&s, &path, media.clone()).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let stored: Recording = r.json().await.unwrap();
    assert!(stored.has_media && stored.media_bytes == Some(media.len() as i64));
    let r = s
        .req(Role::ItAdmin, Method::PUT, &path)
        .header("content-type", "audio/wav")
        .body(vec![1u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let r =
        s.req(Role::ItAdmin, Method::PUT, &path).header("content-type", "text/html").body("x").send().await.unwrap();
    assert!(r.status() == 415 || r.status() == 409, "{}", r.status());

    // Nothing readable at rest: not the media, not the card number (database included).
    let dir = &s.state.config.data_dir;
    assert_eq!(files_contain(dir, &media[..36]), None, "media plaintext on disk");
    assert_eq!(files_contain(dir, &media[1 << 20..(1 << 20) + 32]), None, "media plaintext on disk");
    assert_eq!(files_contain(dir, card.as_bytes()), None, "card number on disk");

    // Who may play.
    let tm = token(&s, "tm.own", Role::TeamManager, Scope::Team(s.team.id)).await;
    let ph = token(&s, "ph.own", Role::ProcessHead, Scope::Process(s.process.id)).await;
    let tm_other = token(&s, "tm.other", Role::TeamManager, Scope::Team(s.other_team.id)).await;
    let play = |t: &str, q: &str| s.client.get(format!("{}{path}{q}", s.base)).bearer_auth(t.to_owned());
    let r = play(&tm, "?reason=QA%20review%20of%20call").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    assert!(r.bytes().await.unwrap() == media, "full play differs");
    // Seeking: a range in the middle, across a segment edge.
    let (a, b) = (262_000u64, 600_000u64);
    let r = play(&ph, "?reason=complaint%20CX-9").header("range", format!("bytes={a}-{}", b - 1)).send().await.unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"].to_str().unwrap(), format!("bytes {a}-{}/{}", b - 1, media.len()));
    assert!(r.bytes().await.unwrap() == media[a as usize..b as usize], "range differs");
    let r = play(&tm, "?reason=x").header("range", "bytes=99999999-").send().await.unwrap();
    assert_eq!(r.status(), 416);
    // Downloads only where the process's policy allows them (not by default).
    let r = play(&tm, "?reason=evidence&download=true").send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("BPS-REC-0007"));
    // No reason: refused.
    let r = play(&tm, "").send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("BPS-REC-0001"));
    // Another team's manager: neither the recording nor its media.
    assert_eq!(play(&tm_other, "?reason=curious").send().await.unwrap().status(), 404);
    let r =
        s.client.get(format!("{}/api/v1/recordings/{}", s.base, rec.id)).bearer_auth(&tm_other).send().await.unwrap();
    assert_eq!(r.status(), 404);
    // Security and audit: metadata and findings yes, media never.
    for role in [Role::SecurityOfficer, Role::Auditor] {
        let r = s.req(role, Method::GET, &format!("/api/v1/recordings/{}", rec.id)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{role}");
        assert!(!r.text().await.unwrap().contains(card));
        let r = s.req(role, Method::GET, &format!("{path}?reason=audit")).send().await.unwrap();
        assert_eq!(r.status(), 403, "{role} reached the media");
    }
    // Globally granted managers are above the recording, not its managers.
    for role in [Role::TeamManager, Role::ProcessHead] {
        let r = s.req(role, Method::GET, &format!("{path}?reason=x")).send().await.unwrap();
        assert_eq!(r.status(), 403, "global {role}");
    }
    for role in [Role::PlatformAdmin, Role::Hr, Role::Agent, Role::ItAdmin, Role::Executive, Role::ThirdParty] {
        let r = s.req(role, Method::GET, &format!("{path}?reason=x")).send().await.unwrap();
        assert_eq!(r.status(), 403, "{role}");
    }
    // The list is scoped: the other team's manager sees nothing, ours sees both calls.
    let n = |t: &str| {
        let req = s.client.get(format!("{}/api/v1/recordings", s.base)).bearer_auth(t.to_owned());
        async move { req.send().await.unwrap().json::<Vec<Recording>>().await.unwrap().len() }
    };
    assert_eq!(n(&tm).await, 2);
    assert_eq!(n(&tm_other).await, 0);

    // The ledger holds every play, seek and refusal, with the reason.
    let events = |outcome: &str| {
        let f = bposhield_store::AuditFilter {
            object: Some(format!("recording:{}", rec.id)),
            outcome: Some(outcome.into()),
            limit: 100,
            ..Default::default()
        };
        let store = s.state.store.clone();
        async move { store.audit_events(&f).await.unwrap().0 }
    };
    let ok = events("success").await;
    let actions: Vec<&str> = ok.iter().map(|e| e.action.as_str()).collect();
    for a in ["recordings.ingested", "recordings.media_stored", "recordings.play", "recordings.seek"] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    assert!(ok.iter().any(|e| e.detail["reason"] == "complaint CX-9"));
    let denied = events("denied").await;
    assert!(denied.len() >= 4, "denials not recorded: {}", denied.len());
    assert!(denied
        .iter()
        .any(|e| e.action == "recordings.play" && e.detail["why"].as_str().unwrap_or("").contains("own team manager")));

    // The pages: the own team manager gets the player after stating a reason; the
    // security officer sees findings and the access log but no player.
    let web = |t: &str, path: String| {
        let req = s.client.get(format!("{}{path}", s.base)).bearer_auth(t.to_owned());
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, html) = web(&tm, format!("/recordings/{}", rec.id)).await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"play-form\"") && html.contains("<mark class=\"pii\" title=\"CARD\">"), "{html:.3000}");
    assert!(!html.contains(card) && !html.contains("<audio"));
    let (_, html) = web(&tm, format!("/recordings/{}?reason=QA+call+review", rec.id)).await;
    assert!(
        html.contains(&format!("src=\"/api/v1/recordings/{}/media?reason=QA+call+review\"", rec.id)),
        "{html:.3000}"
    );
    let so = s.tokens[&Role::SecurityOfficer].clone();
    let (status, html) = web(&so, format!("/recordings/{}?reason=x", rec.id)).await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"player-denied\"") && !html.contains("<audio") && html.contains("complaint CX-9"));
    let (status, html) = web(&tm, "/recordings".into()).await;
    assert!(status == 200 && html.contains("CMS-0001") && html.contains("security code"), "{html:.2000}");
    let (_, html) = web(&tm, "/recordings?pii=ssn".into()).await;
    assert!(!html.contains("CMS-0001"), "filtered out");
    let agent = &s.person.employee_id;
    let (_, html) = web(&tm, format!("/recordings?agent={agent}&team={}", s.team.name)).await;
    assert!(html.contains("CMS-0001"), "{html:.2000}");
    let (_, html) = web(&tm, "/recordings?from=2000-01-01&to=2000-01-02".into()).await;
    assert!(!html.contains("CMS-0001") && html.contains("matches the filter"));
    let (_, html) = web(&tm, "/recordings?held=on".into()).await;
    assert!(!html.contains("CMS-0001"));
    assert_eq!(web(&tm_other, format!("/recordings/{}", rec.id)).await.0, 404);

    // The R2 controls: nothing overdue, no security code kept, every play with a reason.
    let r2 = r2_controls(&s).await;
    assert_eq!(r2[0].status, ControlStatus::Pass, "{:?}", r2[0]);
    assert_eq!(r2[1].status, ControlStatus::Pass, "{:?}", r2[1]);
    assert_eq!(r2[2].status, ControlStatus::Pass, "{:?}", r2[2]);
    assert!(r2[2].evidence.summary.contains("refused attempts"), "{:?}", r2[2]);
    // Every refusal above: the route's (roles without the action) and the rule's.
    assert!(r2[4].evidence.summary.starts_with("13 refused"), "{:?}", r2[4]);
    // The keyring is private; opened to others, the storage control fails.
    assert_eq!(r2[3].status, ControlStatus::Pass, "{:?}", r2[3]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let keys = s.state.config.vault_keys_path();
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o644)).unwrap();
        let r = r2_controls(&s).await;
        assert_eq!(r[3].status, ControlStatus::Fail, "{:?}", r[3]);
        assert_eq!(r[3].evidence.failing_ids, vec!["vault:keyring".to_owned()]);
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    retention(&s, &rec, &tm).await;
    s.stop().await;
}

/// CTL-R2-001..003 after a fresh evaluation.
async fn r2_controls(s: &TestServer) -> Vec<ControlResult> {
    let ctx = bposhield_server::ctx::Ctx::system("test");
    let all = services::evaluate_controls(&s.state, &ctx).await.unwrap();
    ["CTL-R2-001", "CTL-R2-002", "CTL-R2-003", "CTL-R2-004", "CTL-R2-005"]
        .iter()
        .map(|id| all.iter().find(|c| c.control_id == *id).unwrap().clone())
        .collect()
}

async fn get_rec(s: &TestServer, token: &str, id: RecordingId) -> Recording {
    let r = s.client.get(format!("{}/api/v1/recordings/{id}", s.base)).bearer_auth(token).send().await.unwrap();
    let text = r.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Retention: keep-days purge, the security-code deadline, a legal hold blocking the
/// purge until released, "purge after review", the ledger and the report.
async fn retention(s: &TestServer, rec: &Recording, tm: &str) {
    let purge = || bposhield_server::jobs::purge_recordings_once(&s.state, 1);
    // Tokens that outlive the months this test moves the clock by.
    let so = token(s, "so.ret", Role::SecurityOfficer, Scope::Global).await;
    let hr = token(s, "hr.ret", Role::Hr, Scope::Global).await;
    let aud = token(s, "aud.ret", Role::Auditor, Scope::Global).await;
    let it = token(s, "it.ret", Role::ItAdmin, Scope::Global).await;
    let tm_global = token(s, "tm.ret", Role::TeamManager, Scope::Global).await;
    let as_ =
        |t: &str, m: Method, path: &str| s.client.request(m, format!("{}{path}", s.base)).bearer_auth(t.to_owned());
    let policy_path = format!("/api/v1/recordings/policies/{}", s.process.id);
    let p: RetentionPolicy = as_(&so, Method::GET, &policy_path).send().await.unwrap().json().await.unwrap();
    assert_eq!(p, RetentionPolicy::default());
    let list: Vec<Recording> = as_(&so, Method::GET, "/api/v1/recordings").send().await.unwrap().json().await.unwrap();
    let cvv = list.iter().find(|r| r.security_code).unwrap().clone();
    assert_eq!(rec.purge_due_at, Some(rec.started_at + 90 * 86_400));
    assert_eq!(cvv.purge_due_at, Some(cvv.created_at + 24 * 3600), "security code: 24 h");

    // A legal hold on the security-code recording, by security only, with a reason.
    let hold_path = format!("/api/v1/recordings/{}/hold", cvv.id);
    let r = as_(&hr, Method::POST, &hold_path).json(&json!({ "reason": "x" })).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = as_(&so, Method::POST, &hold_path).json(&json!({ "reason": "  " })).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let r =
        as_(&so, Method::POST, &hold_path).json(&json!({ "reason": "chargeback dispute 4471" })).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Recording>().await.unwrap().hold.unwrap().reason, "chargeback dispute 4471");

    // A day and a bit later: the security-code recording is due but held; nothing purged.
    assert_eq!(purge().await.unwrap(), 0);
    s.clock.advance(25 * 3600);
    assert_eq!(purge().await.unwrap(), 0, "a held recording was purged");
    // Ninety days after the call: the first recording goes, media and all.
    let media_path = format!("/api/v1/recordings/{}/media", rec.id);
    let now = s.state.clock.now();
    s.clock.advance((rec.purge_due_at.unwrap() - now + 1).max(1));
    let count = || std::fs::read_dir(s.state.config.data_dir.join("blobs/b")).unwrap().count();
    let blobs_before = count();
    // Due and not yet purged: the control says so, naming the recording.
    let r2 = r2_controls(s).await;
    assert_eq!(r2[0].status, ControlStatus::Fail);
    assert_eq!(r2[0].evidence.failing_ids, vec![format!("recording:{}", rec.id)]);
    assert_eq!(r2[1].status, ControlStatus::Pass, "held: {:?}", r2[1]);
    assert_eq!(purge().await.unwrap(), 1);
    assert_eq!(r2_controls(s).await[0].status, ControlStatus::Pass);
    let gone = get_rec(s, &so, rec.id).await;
    assert!(gone.purged_at.is_some() && !gone.has_media, "{gone:?}");
    assert!(!gone.findings.is_empty(), "the evidence stays");
    assert_eq!(count(), blobs_before - 2, "media and original text both shredded");
    let r = s.client.get(format!("{}{media_path}?reason=x", s.base)).bearer_auth(tm.to_owned()).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("BPS-REC-0002"));
    // Released with a reason: the next round purges it.
    let r = as_(&so, Method::DELETE, &hold_path).send().await.unwrap();
    assert_eq!(r.status(), 422, "a release needs a reason");
    let r = as_(&so, Method::DELETE, &format!("{hold_path}?reason=dispute%20closed")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(purge().await.unwrap(), 1);
    assert!(get_rec(s, &so, cvv.id).await.purged_at.is_some());

    // "Purge after review": nothing is due until the review is marked complete.
    let policy = |mode: &str, keep_days: i64| {
        json!({ "mode": mode, "keep_days": keep_days, "purge_hours_after_review": 2,
                "security_code_hours": 24, "allow_download": false })
    };
    let r = as_(&so, Method::PUT, &policy_path).json(&policy("after_review", 30)).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    // The same through the page: read-only for the auditor, a form for security.
    let page = |t: &str| {
        let req = s.client.get(format!("{}/recordings/policies", s.base)).bearer_auth(t.to_owned());
        async move { req.send().await.unwrap().text().await.unwrap() }
    };
    assert!(page(&so).await.contains(&format!("id=\"pf-{}\"", s.process.id)));
    let html = page(&aud).await;
    assert!(html.contains(&format!("id=\"policy-{}\"", s.process.id)) && !html.contains("id=\"pf-"), "{html:.2000}");
    let form =
        [("mode", "keep_days"), ("keep_days", "45"), ("purge_hours_after_review", "2"), ("security_code_hours", "12")];
    let r = s
        .client
        .post(format!("{}/recordings/policies/{}", s.base, s.process.id))
        .bearer_auth(&so)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let p: RetentionPolicy = as_(&so, Method::GET, &policy_path).send().await.unwrap().json().await.unwrap();
    assert_eq!((p.mode.as_str(), p.keep_days, p.security_code_hours, p.allow_download), ("keep_days", 45, 12, false));
    let mut allow = policy("after_review", 30);
    allow["allow_download"] = json!(true);
    assert_eq!(as_(&so, Method::PUT, &policy_path).json(&allow).send().await.unwrap().status(), 200);
    let r = as_(&so, Method::PUT, &policy_path).json(&policy("forever", 0)).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let r = as_(&aud, Method::PUT, &policy_path).json(&policy("keep_days", 10)).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let body = json!({ "call_id": "CMS-0100", "agent": "E999", "process_id": s.process.id, "team_id": s.team.id,
        "started_at": s.state.clock.now() - 600, "duration_seconds": 60, "channel": "voice", "customer_ref": "C-1" });
    let fresh: Recording =
        as_(&it, Method::POST, "/api/v1/recordings").json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(fresh.purge_due_at, None);
    // This process now allows downloads: an attachment, recorded as a download.
    let media = format!("/api/v1/recordings/{}/media", fresh.id);
    let r =
        as_(&it, Method::PUT, &media).header("content-type", "audio/ogg").body(vec![3u8; 70_000]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .client
        .get(format!("{}{media}?reason=legal%20request&download=true", s.base))
        .bearer_auth(tm.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-disposition"], "attachment; filename=\"CMS-0100\"");
    assert_eq!(r.bytes().await.unwrap().len(), 70_000);
    s.clock.advance(30 * 86_400);
    assert_eq!(purge().await.unwrap(), 0);
    let review = format!("/api/v1/recordings/{}/review", fresh.id);
    assert_eq!(as_(&so, Method::POST, &review).send().await.unwrap().status(), 403);
    let r = s.client.post(format!("{}{review}", s.base)).bearer_auth(tm.to_owned()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let reviewed: Recording = r.json().await.unwrap();
    assert_eq!(reviewed.purge_due_at, Some(reviewed.review_completed_at.unwrap() + 7200));
    s.clock.advance(7201);
    assert_eq!(purge().await.unwrap(), 1);

    // The ledger has each purge with the objects' digests; the report has the period.
    let f = bposhield_store::AuditFilter { action: Some("recordings.purged".into()), limit: 10, ..Default::default() };
    let (purges, _) = s.state.store.audit_events(&f).await.unwrap();
    assert_eq!(purges.len(), 3);
    let first = purges.iter().find(|e| e.object == format!("recording:{}", rec.id)).unwrap();
    assert_eq!(first.detail["media_digest"].as_str().map(str::len), Some(64), "{}", first.detail);
    let now = s.state.clock.now();
    let path = format!("/api/v1/recordings/retention-report?from={}&to={}", now - 400 * 86_400, now + 1);
    let r = as_(&aud, Method::GET, &path).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let report: RetentionReport = r.json().await.unwrap();
    assert_eq!(report.purged.len(), 3);
    assert!(report.overdue.is_empty() && report.on_hold.is_empty(), "{report:?}");
    let r = as_(&tm_global, Method::GET, "/api/v1/recordings/retention-report").send().await.unwrap();
    assert_eq!(r.status(), 403);
}

/// moto's S3 server on loopback for this test binary (`scripts/s3-server.sh` installs
/// it; `BPOSHIELD_S3_SERVER` names it), with the `AWS_*` settings the vault reads.
fn s3_endpoint() -> Option<&'static str> {
    static S3: std::sync::OnceLock<Option<(String, std::process::Child)>> = std::sync::OnceLock::new();
    S3.get_or_init(|| {
        let Some(bin) = std::env::var_os("BPOSHIELD_S3_SERVER") else {
            assert!(
                std::env::var_os("BPOSHIELD_TEST_REQUIRE_TOOLS").is_none(),
                "BPOSHIELD_S3_SERVER is not set (scripts/s3-server.sh installs the S3 test server)"
            );
            eprintln!("recordings on S3 skipped: BPOSHIELD_S3_SERVER not set");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        // Stopped when this process's end of the shell's stdin closes.
        let child = std::process::Command::new("sh")
            .args(["-c", "\"$0\" -H 127.0.0.1 -p \"$1\" >/dev/null 2>&1 & p=$!; read _; kill $p"])
            .arg(bin)
            .arg(port.to_string())
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let t = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(t.elapsed() < std::time::Duration::from_secs(30), "S3 test server did not start");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let endpoint = format!("http://127.0.0.1:{port}");
        for (k, v) in [
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT", endpoint.as_str()),
            ("AWS_ALLOW_HTTP", "true"),
        ] {
            std::env::set_var(k, v);
        }
        Some((endpoint, child))
    })
    .as_ref()
    .map(|(e, _)| e.as_str())
}

/// A plain S3 request to moto (it checks no signature); the whole reply.
fn s3(endpoint: &str, method: &str, target: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let hostport = endpoint.trim_start_matches("http://");
    let mut c = std::net::TcpStream::connect(hostport).unwrap();
    write!(c, "{method} {target} HTTP/1.1\r\nHost: {hostport}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = Vec::new();
    c.read_to_end(&mut reply).unwrap();
    reply
}

fn s3_text(endpoint: &str, method: &str, target: &str) -> String {
    String::from_utf8_lossy(&s3(endpoint, method, target)).into_owned()
}

/// The same flow with the blobs in S3: stored encrypted in the bucket, played with
/// seeking by the own team manager, purged from the bucket on schedule.
async fn recordings_on_s3_storage(db: Db) {
    let Some(endpoint) = s3_endpoint() else { return };
    let bucket = format!("rec-{}", if db == Db::Sqlite { "sqlite" } else { "postgres" });
    assert!(s3_text(endpoint, "PUT", &format!("/{bucket}")).starts_with("HTTP/1.1 200"));
    let url = format!("s3://{bucket}/vault");
    let Some(s) = TestServer::start_with(db, "recordings-s3", |c| c.vault.blob_url = url.clone()).await else { return };
    let body = json!({ "call_id": "S3-1", "agent": "E1", "process_id": s.process.id, "team_id": s.team.id,
        "started_at": s.state.clock.now() - 60, "duration_seconds": 30, "channel": "voice", "customer_ref": "C-1",
        "transcript": "my ssn is 123-45-6789 and card 4111 1111 1111 1111" });
    let r = s.req(Role::ItAdmin, Method::POST, "/api/v1/recordings").json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let rec: Recording = r.json().await.unwrap();
    let media = media_bytes();
    let path = format!("/api/v1/recordings/{}/media", rec.id);
    let r = upload(&s, &path, media.clone()).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    // In the bucket: a body and a header per object (media, original text), and no
    // plaintext in any of them.
    let listing = s3_text(endpoint, "GET", &format!("/{bucket}?list-type=2"));
    let keys: Vec<&str> = listing.split("<Key>").skip(1).filter_map(|k| k.split("</Key>").next()).collect();
    assert_eq!(keys.len(), 4, "{listing}");
    // Read back with credentials, as any holder of the bucket's keys could.
    let raw = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(&bucket)
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .build()
        .unwrap();
    for k in &keys {
        use object_store::ObjectStore;
        let obj = raw.get(&object_store::path::Path::from(*k)).await.unwrap().bytes().await.unwrap();
        assert!(!obj.is_empty(), "s3://{bucket}/{k} is empty");
        for needle in
            [&media[..36], &media[2_000_000..2_000_032], b"123-45-6789".as_slice(), b"4111 1111 1111 1111".as_slice()]
        {
            assert!(!obj.windows(needle.len()).any(|w| w == needle), "plaintext in s3://{bucket}/{k}");
        }
    }
    // Played with seeking by the own team manager.
    let tm = token(&s, "tm.s3", Role::TeamManager, Scope::Team(s.team.id)).await;
    let r = s
        .client
        .get(format!("{}{path}?reason=qa", s.base))
        .bearer_auth(&tm)
        .header("range", "bytes=1000000-1099999")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert!(r.bytes().await.unwrap() == media[1_000_000..1_100_000]);
    // Purged on schedule: nothing left in the bucket.
    s.clock.advance(91 * 86_400);
    assert_eq!(bposhield_server::jobs::purge_recordings_once(&s.state, 1).await.unwrap(), 1);
    let listing = s3_text(endpoint, "GET", &format!("/{bucket}?list-type=2"));
    assert!(!listing.contains("<Key>"), "{listing}");
    s.stop().await;
}
