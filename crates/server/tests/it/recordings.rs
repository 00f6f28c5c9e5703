//! Recordings end to end over real HTTP: ingest with PII scanning, media streamed into
//! the vault, playback with seeking by the recording's own team manager and process
//! head only, everyone else refused and the refusal in the ledger, nothing readable on
//! disk.

use crate::harness::{Db, TestServer, PASSWORD};
use bposhield_proto::*;
use bposhield_server::services;
use reqwest::Method;
use serde_json::json;

crate::both_dbs!(recordings_are_encrypted_redacted_and_played_only_by_their_managers);

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
    services::issue_token(&s.state, &ctx, u.id, "t", 5, vec![GrantInput { role, scope }]).await.unwrap().token
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
        "started_at": 1_764_000_000,
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
    let r = s
        .req(Role::ItAdmin, Method::PUT, &path)
        .header("content-type", "audio/wav")
        .body(media.clone())
        .send()
        .await
        .unwrap();
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
    s.stop().await;
}
