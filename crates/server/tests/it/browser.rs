//! The critical flows in a real headless Chromium, driven over WebDriver (ChromeDriver)
//! with a few lines of JSON over HTTP: sign in, see the dashboard, open the people page,
//! submit a form with an error and see the message beside the field.
//!
//! Needs Debian's `chromium` and `chromium-driver`. When they are missing the test says so
//! and passes, unless `BPOSHIELD_TEST_REQUIRE_TOOLS=1` (set by scripts/test.sh and CI), where
//! it fails.

use crate::harness::{Db, TestServer, PASSWORD};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    child: Child,
    http: reqwest::Client,
    base: String,
    session: String,
    profile: std::path::PathBuf,
}

impl Driver {
    async fn start() -> Option<Driver> {
        let driver = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let browser =
            ["/usr/bin/chromium", "/usr/lib/chromium/chromium"].into_iter().find(|p| std::path::Path::new(p).exists());
        let (Some(driver), Some(browser)) = (driver, browser) else {
            assert!(
                std::env::var("BPOSHIELD_TEST_REQUIRE_TOOLS").is_err(),
                "chromium/chromedriver not installed but BPOSHIELD_TEST_REQUIRE_TOOLS is set"
            );
            eprintln!("browser test skipped: install Debian's chromium and chromium-driver to run it");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = std::env::temp_dir().join(format!("bposhield-chromium-{}", uuid::Uuid::now_v7().simple()));
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": browser, "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                format!("--user-data-dir={}", profile.display())
            ]}
        }}});
        let v: Value = http.post(format!("{base}/session")).json(&caps).send().await.unwrap().json().await.unwrap();
        let session =
            v["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no WebDriver session: {v}")).to_owned();
        Some(Driver { child, http, base, session, profile })
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let req = self.http.request(method.clone(), url);
        let req = if method == reqwest::Method::GET { req } else { req.json(&body) };
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        if v["value"].get("error").is_some() {
            panic!("WebDriver {path}: {v}");
        }
        v["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", json!({ "url": url })).await;
    }

    async fn find(&self, css: &str) -> String {
        for _ in 0..50 {
            let url = format!("{}/session/{}/element", self.base, self.session);
            let v: Value = self
                .http
                .post(url)
                .json(&json!({ "using": "css selector", "value": css }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if let Some(id) = v["value"][ELEMENT].as_str() {
                return id.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let src = self.cmd(reqwest::Method::GET, "/source", json!({})).await;
        panic!("element {css} not found; page: {:.2000}", src.as_str().unwrap_or_default());
    }

    async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.cmd(reqwest::Method::POST, &format!("/element/{e}/clear"), json!({})).await;
        self.cmd(reqwest::Method::POST, &format!("/element/{e}/value"), json!({ "text": text })).await;
    }

    async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.cmd(reqwest::Method::POST, &format!("/element/{e}/click"), json!({})).await;
    }

    /// The element's text. Finds it again when htmx swapped it out between the lookup
    /// and the read (a "stale element reference").
    async fn text(&self, css: &str) -> String {
        for _ in 0..20 {
            let e = self.find(css).await;
            let url = format!("{}/session/{}/element/{e}/text", self.base, self.session);
            let v: Value = self.http.get(url).send().await.unwrap().json().await.unwrap();
            match v["value"].get("error").and_then(Value::as_str) {
                None => return v["value"].as_str().unwrap_or_default().to_owned(),
                Some("stale element reference") => tokio::time::sleep(Duration::from_millis(50)).await,
                Some(_) => panic!("WebDriver text of {css}: {v}"),
            }
        }
        panic!("{css} kept going stale");
    }

    async fn url(&self) -> String {
        self.cmd(reqwest::Method::GET, "/url", json!({})).await.as_str().unwrap_or_default().to_owned()
    }

    async fn quit(mut self) {
        let _ = self.http.delete(format!("{}/session/{}", self.base, self.session)).send().await;
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_dashboard_people_and_a_form_error_in_chromium() {
    let Some(s) = TestServer::start(Db::Sqlite, "browser").await else { return };
    let Some(d) = Driver::start().await else {
        s.stop().await;
        return;
    };
    // A wrong password is answered on the form.
    d.go(&format!("{}/people", s.base)).await;
    assert!(d.url().await.contains("/signin"), "unauthenticated page goes to sign-in");
    d.type_into("#username", "u.hr").await;
    d.type_into("#password", "not-the-password").await;
    d.click("#signin-form button[type=submit]").await;
    let msg = d.text("#signin-error").await;
    assert!(msg.to_lowercase().contains("wrong username or password"), "{msg}");
    // The right one lands on the page asked for first.
    d.type_into("#username", "u.hr").await;
    d.type_into("#password", PASSWORD).await;
    d.click("#signin-form button[type=submit]").await;
    let table = d.text("#people-table").await;
    assert!(table.contains("Sharma") && table.contains("E000001"), "{table}");
    // The dashboard shows all ten risks.
    d.go(&format!("{}/", s.base)).await;
    d.find("#dashboard").await;
    for r in 1..=10 {
        d.find(&format!("#risk-R{r}")).await;
    }
    // A form submitted with a duplicate employee id and a bad date shows errors next to
    // the fields, and keeps what was typed.
    d.go(&format!("{}/people/new", s.base)).await;
    d.type_into("#employee_id", "E000001").await;
    d.type_into("#given_name", "Arjun").await;
    d.type_into("#family_name", "Mehta").await;
    d.type_into("#job_role", "Customer service associate").await;
    d.type_into("#hire_date", "2024-13-45").await;
    d.click("#person-form button[type=submit]").await;
    let err = d.text("#error-hire_date").await;
    assert!(err.contains("YYYY-MM-DD"), "{err}");
    let given = d.find("#given_name").await;
    let v = d.cmd(reqwest::Method::GET, &format!("/element/{given}/property/value"), json!({})).await;
    assert_eq!(v, "Arjun");
    d.type_into("#hire_date", "2024-02-01").await;
    d.click("#person-form button[type=submit]").await;
    let err = d.text("#error-employee_id").await;
    assert!(err.contains("employee id"), "{err}");

    // The auditor's ledger page: an entry's inclusion proof in the latest signed
    // checkpoint is re-checked by the browser itself (WebCrypto), and the whole log is
    // verified as a background job with progress.
    s.state.checkpointer.publish_head().await.unwrap();
    d.cmd(reqwest::Method::DELETE, "/cookie", json!({})).await;
    d.go(&format!("{}/ledger/entries/3", s.base)).await;
    d.type_into("#username", "u.auditor").await;
    d.type_into("#password", PASSWORD).await;
    d.click("#signin-form button[type=submit]").await;
    let mut verdict = String::new();
    for _ in 0..50 {
        verdict = d.text("#ledger-browser-result").await;
        if verdict.contains("verified") || verdict.contains("NOT") || verdict.contains("error") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(verdict, "verified in your browser");
    assert!(d.text("#ledger-server-check").await.contains("verified"));
    d.go(&format!("{}/ledger", s.base)).await;
    assert!(d.text("#ledger-latest-note").await.contains("bposhield.local/ledger"));
    d.click("#ledger-verify").await;
    let mut status = String::new();
    for _ in 0..100 {
        status = d.text("#ledger-verify-message").await;
        if !status.starts_with("Verifying") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(status.starts_with("Verified at"), "{status}");

    // The security officer's identity overview: a dry-run from the page lands on its
    // simulated plan (a form post with the session's CSRF token, in a real browser).
    d.cmd(reqwest::Method::DELETE, "/cookie", json!({})).await;
    d.go(&format!("{}/identity", s.base)).await;
    d.type_into("#username", "u.security-officer").await;
    d.type_into("#password", PASSWORD).await;
    d.click("#signin-form button[type=submit]").await;
    d.find("#identity-counts").await;
    d.click("#dry-run").await;
    let status = d.text("#plan-status").await;
    assert!(status.to_lowercase().contains("simulated"), "{status}");
    assert!(d.url().await.contains("/identity/plans/"), "{}", d.url().await);

    // A team manager plays a recording of the team in the page's player: the browser
    // fetches the media with its session (Range requests), after the reason is given.
    let rec = recording_with_audio(&s).await;
    let ctx = bposhield_server::ctx::Ctx::system("test");
    bposhield_server::services::create_user(
        &s.state,
        &ctx,
        None,
        &bposhield_proto::UserInput {
            username: "tm.player".into(),
            display_name: "Team Manager".into(),
            password: PASSWORD.into(),
            person_id: None,
            grants: vec![bposhield_proto::GrantInput {
                role: bposhield_proto::Role::TeamManager,
                scope: bposhield_proto::Scope::Team(s.team.id),
            }],
        },
    )
    .await
    .unwrap();
    d.cmd(reqwest::Method::DELETE, "/cookie", json!({})).await;
    d.go(&format!("{}/recordings/{rec}", s.base)).await;
    d.type_into("#username", "tm.player").await;
    d.type_into("#password", PASSWORD).await;
    d.click("#signin-form button[type=submit]").await;
    d.type_into("#play-reason", "QA review of the call").await;
    d.click("#play-submit").await;
    d.find("#recording-audio").await;
    let mut duration = 0.0;
    for _ in 0..100 {
        let v = d
            .cmd(
                reqwest::Method::POST,
                "/execute/sync",
                json!({ "script": "return document.getElementById('recording-audio').duration || 0", "args": [] }),
            )
            .await;
        duration = v.as_f64().unwrap_or(0.0);
        if duration > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!((duration - 2.0).abs() < 0.1, "the player read a duration of {duration} s");
    let f = bposhield_store::AuditFilter {
        object: Some(format!("recording:{rec}")),
        outcome: Some("success".into()),
        limit: 50,
        ..Default::default()
    };
    let (events, _) = s.state.store.audit_events(&f).await.unwrap();
    assert!(
        events.iter().any(|e| e.action.starts_with("recordings.") && e.detail["reason"] == "QA review of the call"),
        "the browser's media requests are not in the ledger: {events:?}"
    );
    d.quit().await;
    s.stop().await;
}

/// A recording of the harness's team with 2 s of 8 kHz PCM audio; its id.
async fn recording_with_audio(s: &TestServer) -> String {
    let it = &s.tokens[&bposhield_proto::Role::ItAdmin];
    let body = json!({ "call_id": "BROWSER-1", "agent": "E1", "process_id": s.process.id, "team_id": s.team.id,
        "started_at": s.state.clock.now() - 60, "duration_seconds": 2, "channel": "voice", "customer_ref": "C-1",
        "transcript": "Customer: my card is 4111 1111 1111 1111" });
    let r = s.client.post(format!("{}/api/v1/recordings", s.base)).bearer_auth(it).json(&body).send().await.unwrap();
    let v: Value = r.json().await.unwrap();
    let id = v["id"].as_str().unwrap().to_owned();
    let n: u32 = 16_000;
    let mut wav = b"RIFF".to_vec();
    wav.extend_from_slice(&(36 + 2 * n).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    for v in [16u32.to_le_bytes().to_vec(), 1u16.to_le_bytes().to_vec(), 1u16.to_le_bytes().to_vec()] {
        wav.extend_from_slice(&v);
    }
    wav.extend_from_slice(&8000u32.to_le_bytes());
    wav.extend_from_slice(&16000u32.to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(2 * n).to_le_bytes());
    for k in 0..n {
        let x = ((f64::from(k) / 8000.0) * 440.0 * std::f64::consts::TAU).sin() * 5000.0;
        wav.extend_from_slice(&(x as i16).to_le_bytes());
    }
    let r = s
        .client
        .put(format!("{}/api/v1/recordings/{id}/media", s.base))
        .bearer_auth(it)
        .header("content-type", "audio/wav")
        .body(wav)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    id
}

/// The fleet pages in Chromium: a security officer sees hosts by site and process with
/// their baseline scores, opens a host's compliance with each check's evidence, and
/// approves a pending USB exception with the page's own form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_compliance_and_an_exception_approved_in_chromium() {
    let Some(s) = TestServer::start(Db::Sqlite, "browser-fleet").await else { return };
    let Some(d) = Driver::start().await else {
        s.stop().await;
        return;
    };
    let now = s.state.clock.now();
    let n = bposhield_server::fleet::demo::seed_demo_fleet(&s.state, 20, now).await.unwrap();
    d.go(&format!("{}/fleet", s.base)).await;
    d.type_into("#username", "u.security-officer").await;
    d.type_into("#password", PASSWORD).await;
    d.click("#signin-form button[type=submit]").await;
    let count = d.text("#hosts-count").await;
    assert!(count.contains(&format!("{n} of {n}")), "{count}");
    let units = d.text("#units-table").await;
    assert!(units.contains(&s.site.code), "hosts by site and process: {units}");
    let hosts = d.text("#hosts-table").await;
    assert!(hosts.contains("simulated"), "simulated hosts are marked: {hosts}");

    // A host's compliance, check by check, with the evidence.
    d.click("#hosts-table tbody a").await;
    let compliance = d.text("#host-compliance").await;
    assert!(compliance.contains("passed") && compliance.contains("baseline"), "{compliance}");
    d.find("#host-facts").await;

    // IT asks for an exception; the security officer approves it through the page.
    let hosts: Value = s
        .req(bposhield_proto::Role::SecurityOfficer, reqwest::Method::GET, "/api/v1/fleet/hosts")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let host = hosts["items"][0]["id"].as_str().unwrap().to_string();
    let r = s
        .req(bposhield_proto::Role::ItAdmin, reqwest::Method::POST, "/api/v1/fleet/exceptions")
        .json(&json!({ "host_id": host, "device_hash": "3EeNTH6uyG4i1oRrwpaxH7NjTJx7+Bgymrv6/OqKItc=",
            "device_name": "SanDisk, encrypted, IT-0421", "reason": "audit evidence export", "hours": 8 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    d.go(&format!("{}/fleet/exceptions", s.base)).await;
    let pending = d.text("#pending-table").await;
    assert!(!pending.is_empty());
    d.click("#pending-table form[id^=approve-] button").await;
    d.find("#exceptions-table").await;
    let r = s
        .req(bposhield_proto::Role::SecurityOfficer, reqwest::Method::GET, "/api/v1/fleet/exceptions")
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    let items = v.get("items").cloned().unwrap_or(v);
    assert!(
        items.as_array().unwrap().iter().any(|x| x["status"] == "approved"
            && x["reason"] == "audit evidence export"
            && x["decided_by"] == format!("user:{}", s.users[&bposhield_proto::Role::SecurityOfficer].id)),
        "the page's approval is not recorded: {items}"
    );
    d.quit().await;
    s.stop().await;
}
