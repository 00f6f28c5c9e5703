//! The ledger over real HTTP and a real database: checkpoints and proofs checked with
//! the ledger crate's verifiers, every kind of tampering caught by the verification,
//! and two replicas appending concurrently into one global order.

use crate::harness::{Db, TestServer};
use base64::Engine;
use bposhield_ledger::note::open_checkpoint;
use bposhield_ledger::tree::{leaf_hash, verify_consistency, verify_inclusion};
use bposhield_ledger::Hash;
use bposhield_proto::*;
use bposhield_server::ledger::{verify_log, Progress, VerifyReport};
use bposhield_server::AppState;
use bposhield_store::Store;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sqlx::Connection;

crate::both_dbs!(
    proofs_and_checkpoints_verify,
    tampering_is_detected,
    replicas_append_in_one_order,
    events_of_an_earlier_version_join_the_ledger
);

fn unb64(s: &str) -> Hash {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap().try_into().unwrap()
}

/// `n` audited denials (an agent asking for people).
async fn denials(s: &TestServer, n: usize) {
    for _ in 0..n {
        let r = s.req(Role::Agent, Method::GET, "/api/v1/people").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
}

/// `GET path` as `role`, parsed as JSON.
async fn get_json(s: &TestServer, role: Role, path: &str) -> Value {
    s.req(role, Method::GET, path).send().await.unwrap().json().await.unwrap()
}

async fn verify(st: &AppState) -> VerifyReport {
    verify_log(&st.store, st.checkpointer.verifier(), &Progress::default()).await.unwrap()
}

async fn proofs_and_checkpoints_verify(db: Db) {
    let Some(s) = TestServer::start(db, "ledger-proofs").await else { return };
    let key = s.checkpointer_key();
    // The server signed its head at start; anything appended since is signed now.
    s.state.checkpointer.publish_head().await.unwrap();
    let first = s.state.store.ledger_checkpoints(1).await.unwrap().remove(0);
    denials(&s, 13).await;
    let second = s.state.checkpointer.publish_head().await.unwrap().unwrap();
    // At least: the background control evaluation may add its own event meanwhile.
    assert!(second.size >= first.size + 13);

    let latest: Value = get_json(&s, Role::SecurityOfficer, "/api/v1/ledger/checkpoint").await;
    let cp = open_checkpoint(latest["note"].as_str().unwrap(), &key).unwrap();
    assert_eq!((cp.size, cp.root), (second.size, second.root));
    assert_eq!(latest["verifier_key"], key.to_string());
    let history = get_json(&s, Role::Auditor, "/api/v1/ledger/checkpoints").await;
    let sizes: Vec<u64> = history.as_array().unwrap().iter().map(|c| c["size"].as_u64().unwrap()).collect();
    assert_eq!(&sizes[..2], [second.size, first.size], "newest first");

    for index in [0, 1, first.size - 1, first.size, second.size - 1] {
        let e: Value = get_json(&s, Role::Auditor, &format!("/api/v1/ledger/entries/{index}")).await;
        let text = e["entry"].as_str().unwrap();
        assert_eq!(e["event"]["ledger_index"], index);
        let entry: Value = serde_json::from_str(text).unwrap();
        assert_eq!(entry["v"], 1);
        assert_eq!(entry["id"], e["event"]["id"]);
        let p: Value = s
            .req(
                Role::Auditor,
                Method::GET,
                &format!("/api/v1/ledger/proofs/inclusion?index={index}&size={}", second.size),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let hashes: Vec<Hash> = p["hashes"].as_array().unwrap().iter().map(|h| unb64(h.as_str().unwrap())).collect();
        verify_inclusion(&leaf_hash(text.as_bytes()), index, second.size, &hashes, &second.root).unwrap();
        assert!(verify_inclusion(&leaf_hash(b"forged"), index, second.size, &hashes, &second.root).is_err());
    }
    let c: Value = s
        .req(
            Role::Auditor,
            Method::GET,
            &format!("/api/v1/ledger/proofs/consistency?from={}&to={}", first.size, second.size),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hashes: Vec<Hash> = c["hashes"].as_array().unwrap().iter().map(|h| unb64(h.as_str().unwrap())).collect();
    verify_consistency(first.size, second.size, &first.root, &second.root, &hashes).unwrap();

    // Out of range: a stable code, not a 500.
    let r = s
        .req(Role::Auditor, Method::GET, &format!("/api/v1/ledger/proofs/inclusion?index={}", second.size + 100))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json::<ApiError>().await.unwrap().code, "BPS-LED-0001");

    // Filtered entries carry their index; the denials are there with their actor.
    let page: Value = get_json(&s, Role::Auditor, "/api/v1/ledger/entries?outcome=denied&limit=100").await;
    assert!(page["total"].as_u64().unwrap() >= 13);
    assert!(page["items"].as_array().unwrap().iter().all(|e| e["ledger_index"].is_u64()));

    // The background verification, started over the API, passes and is audited.
    let r = s.req(Role::Auditor, Method::POST, "/api/v1/ledger/verify").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let mut job = Value::Null;
    for _ in 0..200 {
        job = get_json(&s, Role::Auditor, "/api/v1/ledger/verify").await;
        if job["running"] == false {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(job["running"], false, "{job}");
    assert!(job["report"]["problem"].is_null(), "{job}");
    assert!(job["report"]["verified"].as_u64().unwrap() >= second.size);

    // The ledger controls pass.
    let results = bposhield_server::services::evaluate_controls(&s.state, &bposhield_server::ctx::Ctx::system("t"))
        .await
        .unwrap();
    for id in ["CTL-R10-001", "CTL-R10-002"] {
        let r = results.iter().find(|r| r.control_id == id).unwrap();
        assert_eq!(r.status, ControlStatus::Pass, "{id}: {:?}", r.evidence);
    }
    s.stop().await;
}

/// Runs `sql` directly on the test database (the attacker with database access).
async fn tamper(s: &TestServer, sql: &[String]) {
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(&s.state.config.effective_database_url()).await.unwrap();
    for q in sql {
        sqlx::query(q).execute(&mut c).await.unwrap();
    }
    c.close().await.unwrap();
}

async fn tampering_is_detected(db: Db) {
    // (what, statements given the victim index k and the log size n, expected first bad index)
    type Case = (&'static str, fn(u64, u64) -> Vec<String>, fn(u64, u64) -> Option<u64>);
    let cases: [Case; 7] = [
        (
            "entry changed",
            |k, _| {
                vec![format!(
                    "UPDATE audit_events SET entry = replace(entry, '\"v\":1', '\"v\":2') WHERE ledger_idx = {k}"
                )]
            },
            |k, _| Some(k),
        ),
        ("entry deleted", |k, _| vec![format!("DELETE FROM audit_events WHERE ledger_idx = {k}")], |k, _| Some(k)),
        (
            "entries reordered",
            |k, _| {
                vec![
                    format!("UPDATE audit_events SET ledger_idx = -1 WHERE ledger_idx = {k}"),
                    format!("UPDATE audit_events SET ledger_idx = {k} WHERE ledger_idx = {}", k + 1),
                    format!("UPDATE audit_events SET ledger_idx = {} WHERE ledger_idx = -1", k + 1),
                ]
            },
            // Each row moved with its own leaf hash, so the pair's stored parent is what
            // breaks: reported from the first entry under it.
            |k, _| Some(k & !1),
        ),
        (
            "audit row changed",
            |k, _| vec![format!("UPDATE audit_events SET detail = '{{\"forged\":true}}' WHERE ledger_idx = {k}")],
            |k, _| Some(k),
        ),
        (
            "tail truncated",
            |_, n| {
                vec![
                    format!("DELETE FROM audit_events WHERE ledger_idx >= {}", n - 3),
                    format!("UPDATE ledger_head SET size = {}", n - 3),
                ]
            },
            |_, n| Some(n - 3),
        ),
        (
            "checkpoint root replaced",
            |_, _| vec![format!("UPDATE ledger_checkpoints SET root = '{}'", "00".repeat(32))],
            |_, _| None,
        ),
        (
            "checkpoint note forged",
            |_, _| vec!["UPDATE ledger_checkpoints SET note = replace(note, '\n', '\n\n')".into()],
            |_, _| None,
        ),
    ];
    for (what, sql, expect) in cases {
        let Some(s) = TestServer::start(db, "ledger-tamper").await else { return };
        denials(&s, 12).await;
        let cp = s.state.checkpointer.publish_head().await.unwrap().unwrap();
        let n = cp.size;
        let k = n - 6;
        let before = verify(&s.state).await;
        assert!(before.ok(), "{what}: clean log must verify: {before:?}");
        tamper(&s, &sql(k, n)).await;
        let after = verify(&s.state).await;
        assert!(!after.ok(), "{what}: not detected");
        assert_eq!(after.first_bad_index, expect(k, n), "{what}: {after:?}");
        // The cheap control check notices checkpoint-level tampering too.
        if what.starts_with("checkpoint") || what == "tail truncated" {
            let facts = bposhield_server::ledger::ledger_facts(&s.state.store, s.state.checkpointer.verifier(), 0, 60)
                .await
                .unwrap();
            assert!(!facts.latest_checkpoint_verifies, "{what}");
        }
        s.stop().await;
    }
}

async fn replicas_append_in_one_order(db: Db) {
    let Some(s) = TestServer::start(db, "ledger-replicas").await else { return };
    let other = AppState::new(
        Store::connect(&s.state.config.effective_database_url()).await.unwrap(),
        s.clock.clone(),
        s.state.config.clone(),
    )
    .unwrap();
    let start = s.state.store.ledger_size().await.unwrap();
    let mut tasks = Vec::new();
    for (r, st) in [s.state.clone(), other.clone()].into_iter().enumerate() {
        for t in 0..8 {
            let st = st.clone();
            tasks.push(tokio::spawn(async move {
                let ctx = bposhield_server::ctx::Ctx::system(&format!("r{r}-t{t}"));
                for n in 0..40 {
                    st.audit(
                        &ctx,
                        "test.append",
                        &format!("item:{r}-{t}-{n}"),
                        bposhield_server::audit::Outcome::Success,
                        serde_json::json!({}),
                    )
                    .await
                    .unwrap();
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let size = s.state.store.ledger_size().await.unwrap();
    assert!(size >= start + 2 * 8 * 40);
    s.state.checkpointer.publish_head().await.unwrap();
    let report = verify(&s.state).await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.verified, size);
    // Every append is there exactly once.
    let entries = s.state.store.ledger_entries(start, size).await.unwrap();
    let appended: Vec<String> = entries
        .iter()
        .map(|(_, t)| serde_json::from_str::<Value>(t).unwrap())
        .filter(|e| e["action"] == "test.append")
        .map(|e| e["object"].as_str().unwrap().to_owned())
        .collect();
    let distinct: std::collections::HashSet<&String> = appended.iter().collect();
    assert_eq!((appended.len(), distinct.len()), (2 * 8 * 40, 2 * 8 * 40));
    s.stop().await;
}

/// Audit rows written before the ledger existed (no index, no entry) are appended at the
/// next start, oldest first, and the log then verifies with them in it.
async fn events_of_an_earlier_version_join_the_ledger(db: Db) {
    let Some(s) = TestServer::start(db, "ledger-adopt").await else { return };
    let old_ids = ["01900000-0000-7000-8000-000000000001", "01900000-0000-7000-8000-000000000002"];
    tamper(
        &s,
        &old_ids
            .iter()
            .enumerate()
            .map(|(n, id)| {
                format!(
                    "INSERT INTO audit_events (id, at, actor, action, object, outcome, request_id, source_ip, detail) \
                     VALUES ('{id}', {}, 'system', 'people.import', 'people', 'success', 'old-{n}', NULL, '{{\"rows\":{n}}}')",
                    1_700_000_000 + n
                )
            })
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(s.state.store.audit_events_outside_ledger(10).await.unwrap().len(), 2);
    s.state.prepare_ledger().await.unwrap();
    assert!(s.state.store.audit_events_outside_ledger(10).await.unwrap().is_empty());
    let filter = bposhield_store::AuditFilter {
        since: Some(1_700_000_000),
        until: Some(1_700_000_002),
        limit: 10,
        ..Default::default()
    };
    let (old, _) = s.state.store.audit_events(&filter).await.unwrap();
    let mut indexed: Vec<(u64, String)> = old.iter().map(|e| (e.ledger_index.unwrap(), e.id.to_string())).collect();
    indexed.sort();
    assert_eq!(indexed.iter().map(|(_, id)| id.as_str()).collect::<Vec<_>>(), old_ids, "oldest first");
    assert_eq!(indexed[1].0, indexed[0].0 + 1);
    s.state.checkpointer.publish_head().await.unwrap();
    let report = verify(&s.state).await;
    assert!(report.ok(), "{report:?}");
    // A second start finds nothing left to adopt.
    let size = s.state.store.ledger_size().await.unwrap();
    s.state.prepare_ledger().await.unwrap();
    assert!(s.state.store.ledger_size().await.unwrap() <= size + 1, "nothing adopted twice");
    s.stop().await;
}
