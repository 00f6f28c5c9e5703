//! Integration tests of the connectors against real servers: a throw-away slapd (testkit),
//! a real SCIM server (scim2-server, or any server given by env), a temp dir and a raw TCP
//! listener for the access-card export and webhook.
//!
//! Missing servers fail the tests with the install command, unless skipped explicitly:
//! `BPOSHIELD_SKIP_SLAPD=1`, `BPOSHIELD_SKIP_SCIM_SERVER=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use bposhield_connectors::{build, Connector, ConnectorError, NewAccount};
use bposhield_core::clock::{Clock, ManualClock};
use bposhield_identity::model::{Account, Correlation, Op, Target, TargetKind};
use serde_json::json;

fn target(kind: TargetKind) -> Target {
    Target { id: "t1".into(), name: "test target".into(), kind, process: None, correlation: Correlation::EmployeeId }
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(ManualClock::new(1_767_225_600_000)) // 2026-01-01T00:00:00Z
}

fn by_login<'a>(accounts: &'a [Account], login: &str) -> &'a Account {
    accounts.iter().find(|a| a.login == login).unwrap_or_else(|| panic!("no account {login} in {accounts:?}"))
}

fn skip(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "1")
}

mod config {
    use super::*;

    #[test]
    fn manual_targets_have_no_connector() {
        let err = build(&target(TargetKind::Manual), json!({}), clock()).err().unwrap();
        assert!(matches!(&err, ConnectorError::Config(m) if m.contains("work items")), "{err}");
    }

    #[test]
    fn unknown_fields_and_missing_secrets_are_config_errors() {
        let cfg = json!({"url": "ldap://x", "bind_dn": "cn=a", "bind_password": "p", "users_base": "o=x", "bogus": 1});
        let err = build(&target(TargetKind::Directory), cfg, clock()).err().unwrap();
        assert!(matches!(&err, ConnectorError::Config(m) if m.contains("bogus")), "{err}");
        let cfg = json!({"url": "ldap://x", "bind_dn": "cn=a", "users_base": "o=x"});
        let err = build(&target(TargetKind::Directory), cfg, clock()).err().unwrap();
        assert!(matches!(&err, ConnectorError::Config(m) if m.contains("bind_password")), "{err}");
        let err = build(&target(TargetKind::Telephony), json!({}), clock()).err().unwrap();
        assert!(matches!(err, ConnectorError::Config(_)));
    }

    #[test]
    fn secrets_come_from_files_and_never_show_in_debug() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "hunter2-very-secret\n").unwrap();
        let cfg = json!({"type": "ldap", "url": "ldap://127.0.0.1:1", "bind_dn": "cn=a", "bind_password_file": file, "users_base": "o=x"});
        let c = build(&target(TargetKind::Directory), cfg, clock()).unwrap();
        assert_eq!(c.kind(), TargetKind::Directory);
        let both = json!({"type": "scim", "base_url": "http://x", "bearer_token": "tok-secret-123", "bearer_token_file": file});
        assert!(matches!(build(&target(TargetKind::Application), both, clock()), Err(ConnectorError::Config(_))));
        let cfg: bposhield_connectors::ldap::LdapConfig = serde_json::from_value(
            json!({"url": "ldap://x", "bind_dn": "cn=a", "bind_password": "hunter2-very-secret", "users_base": "o=x"}),
        )
        .unwrap();
        assert!(!format!("{cfg:?}").contains("hunter2"));
        let c = bposhield_connectors::ldap::LdapConnector::new(&target(TargetKind::Directory), cfg).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}

mod ldap {
    use super::*;
    use bposhield_connectors::testkit::{self, Slapd};

    /// A slapd with alice (password), bob and carol; agents = {alice, bob}, admins = {alice}.
    async fn fixture() -> Option<(Slapd, Arc<dyn Connector>)> {
        if !Slapd::available() {
            assert!(
                skip("BPOSHIELD_SKIP_SLAPD"),
                "slapd is not installed (apt-get install slapd ldap-utils); set BPOSHIELD_SKIP_SLAPD=1 to skip the LDAP tests"
            );
            return None;
        }
        let slapd = Slapd::start().await.unwrap();
        let alice = slapd.add_user("alice", "E1", Some("alice-pass")).await.unwrap();
        let bob = slapd.add_user("bob", "E2", None).await.unwrap();
        slapd.add_user("carol", "E3", None).await.unwrap();
        slapd.add_group("agents", &[&alice, &bob]).await.unwrap();
        slapd.add_group("admins", &[&alice]).await.unwrap();
        let c = build(&target(TargetKind::Directory), slapd.connector_config(), clock()).unwrap();
        Some((slapd, c))
    }

    async fn user_can_bind(slapd: &Slapd, dn: &str, pw: &str) -> bool {
        let (conn, mut l) = ldap3::LdapConnAsync::new(&slapd.url()).await.unwrap();
        tokio::spawn(async move { conn.drive().await });
        l.simple_bind(dn, pw).await.unwrap().success().is_ok()
    }

    #[tokio::test]
    async fn reads_accounts_and_groups() {
        let Some((_slapd, c)) = fixture().await else { return };
        let desc = c.test_connection().await.unwrap();
        assert!(desc.contains("bound"), "{desc}");
        let accounts = c.read_accounts().await.unwrap();
        assert_eq!(accounts.len(), 3);
        let alice = by_login(&accounts, "alice");
        assert_eq!(alice.target, "t1");
        assert_eq!(alice.key, testkit::user_dn("alice"));
        assert_eq!(alice.employee_id.as_deref(), Some("E1"));
        assert_eq!(alice.email.as_deref(), Some("alice@bposhield.test"));
        assert!(alice.enabled);
        assert_eq!(alice.entitlements.iter().map(String::as_str).collect::<Vec<_>>(), ["admins", "agents"]);
        assert!(by_login(&accounts, "carol").entitlements.is_empty());
    }

    #[tokio::test]
    async fn disable_is_visible_idempotent_and_enforced() {
        let Some((slapd, c)) = fixture().await else { return };
        let dn = testkit::user_dn("alice");
        assert!(user_can_bind(&slapd, &dn, "alice-pass").await);
        assert_eq!(c.apply(Some(&dn), &Op::Disable).await.unwrap(), dn);
        assert!(!by_login(&c.read_accounts().await.unwrap(), "alice").enabled);
        c.apply(Some(&dn), &Op::Disable).await.unwrap(); // already disabled
                                                         // ppolicy's permanent lock: the directory itself now refuses alice.
        assert!(!user_can_bind(&slapd, &dn, "alice-pass").await);
        c.apply(Some(&dn), &Op::Enable).await.unwrap();
        c.apply(Some(&dn), &Op::Enable).await.unwrap();
        assert!(by_login(&c.read_accounts().await.unwrap(), "alice").enabled);
        assert!(user_can_bind(&slapd, &dn, "alice-pass").await);
        // Gone accounts: disable is done, enable is not.
        let ghost = testkit::user_dn("ghost");
        c.apply(Some(&ghost), &Op::Disable).await.unwrap();
        assert!(matches!(c.apply(Some(&ghost), &Op::Enable).await, Err(ConnectorError::NotFound(_))));
    }

    #[tokio::test]
    async fn configurable_disable_attribute() {
        let Some((slapd, _)) = fixture().await else { return };
        let mut cfg = slapd.connector_config();
        cfg["disable_attribute"] = json!("description");
        cfg["disable_value"] = json!("bposhield-disabled");
        let c = build(&target(TargetKind::Directory), cfg.clone(), clock()).unwrap();
        let dn = testkit::user_dn("bob");
        c.apply(Some(&dn), &Op::Disable).await.unwrap();
        c.apply(Some(&dn), &Op::Disable).await.unwrap();
        assert!(!by_login(&c.read_accounts().await.unwrap(), "bob").enabled);
        c.apply(Some(&dn), &Op::Enable).await.unwrap();
        assert!(by_login(&c.read_accounts().await.unwrap(), "bob").enabled);
        // An attribute the schema lacks is caught by the connection test.
        cfg["disable_attribute"] = json!("bposhieldNoSuchAttribute");
        let c = build(&target(TargetKind::Directory), cfg, clock()).unwrap();
        assert!(
            matches!(c.test_connection().await, Err(ConnectorError::Config(m)) if m.contains("bposhieldNoSuchAttribute"))
        );
    }

    #[tokio::test]
    async fn revoke_and_grant_membership() {
        let Some((_slapd, c)) = fixture().await else { return };
        let dn = testkit::user_dn("alice");
        let revoke = Op::Revoke { entitlement: "agents".into() };
        c.apply(Some(&dn), &revoke).await.unwrap();
        c.apply(Some(&dn), &revoke).await.unwrap();
        let accounts = c.read_accounts().await.unwrap();
        assert_eq!(by_login(&accounts, "alice").entitlements.iter().collect::<Vec<_>>(), ["admins"]);
        assert!(by_login(&accounts, "bob").entitlements.contains("agents"));
        let grant = Op::Grant { entitlement: format!("cn=agents,{}", testkit::GROUPS) }; // a DN works too
        c.apply(Some(&dn), &grant).await.unwrap();
        c.apply(Some(&dn), &grant).await.unwrap();
        assert!(by_login(&c.read_accounts().await.unwrap(), "alice").entitlements.contains("agents"));
        // Revoking from a group that does not exist is done; granting it is refused.
        c.apply(Some(&dn), &Op::Revoke { entitlement: "nosuchgroup".into() }).await.unwrap();
        let err = c.apply(Some(&dn), &Op::Grant { entitlement: "nosuchgroup".into() }).await.unwrap_err();
        assert!(matches!(err, ConnectorError::Rejected(_)) && !err.retryable());
    }

    #[tokio::test]
    async fn creates_joiners_idempotently() {
        let Some((_slapd, c)) = fixture().await else { return };
        let new = NewAccount {
            login: "dave".into(),
            given_name: Some("Dave".into()),
            family_name: Some("Diaz".into()),
            email: Some("dave@bposhield.test".into()),
            employee_id: Some("E4".into()),
            entitlements: ["agents".to_owned()].into(),
            attributes: [("title".to_owned(), vec!["Agent".to_owned()])].into(),
        };
        let dn = c.create(&new).await.unwrap();
        assert_eq!(dn, testkit::user_dn("dave"));
        assert_eq!(c.create(&new).await.unwrap(), dn);
        let accounts = c.read_accounts().await.unwrap();
        let dave = by_login(&accounts, "dave");
        assert_eq!((dave.employee_id.as_deref(), dave.email.as_deref()), (Some("E4"), Some("dave@bposhield.test")));
        assert!(dave.enabled && dave.entitlements.contains("agents"));
        // The plain op: names derived from the login.
        let op = Op::Create { login: "erin".into(), entitlements: ["admins".to_owned()].into() };
        let erin = c.apply(None, &op).await.unwrap();
        assert_eq!(c.apply(None, &op).await.unwrap(), erin);
        assert!(by_login(&c.read_accounts().await.unwrap(), "erin").entitlements.contains("admins"));
    }

    #[tokio::test]
    async fn deletes_entry_and_memberships() {
        let Some((slapd, c)) = fixture().await else { return };
        let dn = testkit::user_dn("bob");
        c.apply(Some(&dn), &Op::Delete).await.unwrap();
        c.apply(Some(&dn), &Op::Delete).await.unwrap();
        let accounts = c.read_accounts().await.unwrap();
        assert!(accounts.iter().all(|a| a.login != "bob"));
        let mut admin = slapd.admin().await.unwrap();
        let (groups, _) = admin
            .search(
                testkit::GROUPS,
                ldap3::Scope::Subtree,
                "(member=uid=bob,ou=people,dc=bposhield,dc=test)",
                vec!["cn"],
            )
            .await
            .unwrap()
            .success()
            .unwrap();
        assert!(groups.is_empty(), "bob is still a member of {} groups", groups.len());
    }

    #[tokio::test]
    async fn wrong_password_is_auth_error() {
        let Some((slapd, _)) = fixture().await else { return };
        let mut cfg = slapd.connector_config();
        cfg["bind_password"] = json!("wrong-password-xyz");
        let c = build(&target(TargetKind::Directory), cfg, clock()).unwrap();
        let err = c.test_connection().await.unwrap_err();
        assert!(matches!(err, ConnectorError::Auth(_)) && !err.retryable(), "{err}");
        assert!(!err.to_string().contains("wrong-password-xyz"));
        assert!(matches!(c.read_accounts().await, Err(ConnectorError::Auth(_))));
    }

    #[tokio::test]
    async fn wrong_port_is_unreachable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cfg = json!({"url": format!("ldap://127.0.0.1:{port}"), "bind_dn": "cn=a", "bind_password": "p", "users_base": "o=x", "timeout_secs": 2});
        let c = build(&target(TargetKind::Directory), cfg, clock()).unwrap();
        let err = c.read_accounts().await.unwrap_err();
        assert!(matches!(err, ConnectorError::Unreachable(_)) && err.retryable(), "{err}");
    }

    #[tokio::test]
    async fn paged_read_of_2500_entries() {
        let Some((slapd, _)) = fixture().await else { return };
        slapd.seed_users("bulk", 2_500, 2).await.unwrap();
        let mut cfg = slapd.connector_config();
        cfg["page_size"] = json!(300);
        let c = build(&target(TargetKind::Directory), cfg, clock()).unwrap();
        let accounts = c.read_accounts().await.unwrap();
        assert_eq!(accounts.len(), 2_503);
        assert_eq!(by_login(&accounts, "bulk2499").employee_id.as_deref(), Some("Ebulk2499"));
    }
}

mod scim {
    use super::*;
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    const TOKEN: &str = "scim-test-token-0123456789";

    /// A SCIM server: scim2-server started from `BPOSHIELD_SCIM_SERVER` (its launcher), or an
    /// already running one at `BPOSHIELD_SCIM_URL` with `BPOSHIELD_SCIM_TOKEN`.
    struct Server {
        base: String,
        token: String,
        child: Option<Child>,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            if let Some(c) = &mut self.child {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    async fn server() -> Option<Server> {
        if let Ok(url) = std::env::var("BPOSHIELD_SCIM_URL") {
            let token =
                std::env::var("BPOSHIELD_SCIM_TOKEN").expect("BPOSHIELD_SCIM_TOKEN goes with BPOSHIELD_SCIM_URL");
            return Some(Server { base: url, token, child: None });
        }
        let Ok(launcher) = std::env::var("BPOSHIELD_SCIM_SERVER") else {
            assert!(
                skip("BPOSHIELD_SKIP_SCIM_SERVER"),
                "no SCIM server: set BPOSHIELD_SCIM_SERVER=\"$(bash scripts/scim-server.sh)\" (installs scim2-server), \
                 or BPOSHIELD_SCIM_URL + BPOSHIELD_SCIM_TOKEN, or BPOSHIELD_SKIP_SCIM_SERVER=1 to skip"
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(&launcher)
            .args(["--hostname", "127.0.0.1", "--port", &port.to_string(), "--bearer-token", TOKEN])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {launcher}: {e}"));
        let server = Server { base: format!("http://127.0.0.1:{port}"), token: TOKEN.into(), child: Some(child) };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Some(server);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the SCIM server at port {port} did not start within 10 s");
    }

    fn connector(s: &Server, extra: serde_json::Value) -> Arc<dyn Connector> {
        let mut cfg = json!({"type": "scim", "base_url": s.base, "bearer_token": s.token, "page_size": 7});
        if let (Some(cfg), Some(extra)) = (cfg.as_object_mut(), extra.as_object()) {
            cfg.extend(extra.clone());
        }
        build(&target(TargetKind::Application), cfg, clock()).unwrap()
    }

    async fn post(s: &Server, path: &str, body: serde_json::Value) -> String {
        let resp = reqwest::Client::new()
            .post(format!("{}{path}", s.base))
            .bearer_auth(&s.token)
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "POST {path}: {}", resp.status());
        resp.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn scim_lifecycle() {
        let Some(s) = server().await else { return };
        let c = connector(&s, json!({}));
        assert!(c.test_connection().await.unwrap().contains("SCIM"));
        // Unique names, so the test also runs against a shared server.
        let tag = format!("{}", std::process::id());
        let group = format!("agents-{tag}");
        post(&s, "/Groups", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": group}))
            .await;
        let mut ids = Vec::new();
        for i in 0..20 {
            let new = NewAccount {
                login: format!("u{tag}-{i}"),
                given_name: Some("Test".into()),
                family_name: Some(format!("User{i}")),
                email: Some(format!("u{i}@bposhield.test")),
                employee_id: Some(format!("E{tag}-{i}")),
                entitlements: if i == 0 { [group.clone()].into() } else { Default::default() },
                ..NewAccount::default()
            };
            ids.push(c.create(&new).await.unwrap());
        }
        // Create is idempotent by userName.
        let again =
            c.apply(None, &Op::Create { login: format!("u{tag}-0"), entitlements: Default::default() }).await.unwrap();
        assert_eq!(again, ids[0]);

        // Paged read (page size 7).
        let accounts = c.read_accounts().await.unwrap();
        let u0 = by_login(&accounts, &format!("u{tag}-0"));
        assert_eq!(accounts.iter().filter(|a| a.login.starts_with(&format!("u{tag}-"))).count(), 20);
        assert_eq!(u0.key, ids[0]);
        assert_eq!(u0.employee_id.as_deref(), Some(format!("E{tag}-0").as_str()));
        assert_eq!(u0.email.as_deref(), Some("u0@bposhield.test"));
        assert!(u0.enabled && u0.entitlements.contains(&group));

        // Disable / enable, twice each.
        for _ in 0..2 {
            c.apply(Some(&ids[1]), &Op::Disable).await.unwrap();
        }
        assert!(!by_login(&c.read_accounts().await.unwrap(), &format!("u{tag}-1")).enabled);
        for _ in 0..2 {
            c.apply(Some(&ids[1]), &Op::Enable).await.unwrap();
        }
        assert!(by_login(&c.read_accounts().await.unwrap(), &format!("u{tag}-1")).enabled);

        // Revoke / grant through the group, twice each.
        for _ in 0..2 {
            c.apply(Some(&ids[0]), &Op::Revoke { entitlement: group.clone() }).await.unwrap();
        }
        assert!(by_login(&c.read_accounts().await.unwrap(), &format!("u{tag}-0")).entitlements.is_empty());
        for _ in 0..2 {
            c.apply(Some(&ids[2]), &Op::Grant { entitlement: group.clone() }).await.unwrap();
        }
        assert!(by_login(&c.read_accounts().await.unwrap(), &format!("u{tag}-2")).entitlements.contains(&group));
        assert!(matches!(
            c.apply(Some(&ids[2]), &Op::Grant { entitlement: "no-such-group-x".into() }).await,
            Err(ConnectorError::Rejected(_))
        ));

        // Delete twice; then ops on the gone user.
        c.apply(Some(&ids[3]), &Op::Delete).await.unwrap();
        c.apply(Some(&ids[3]), &Op::Delete).await.unwrap();
        c.apply(Some(&ids[3]), &Op::Disable).await.unwrap();
        assert!(matches!(c.apply(Some(&ids[3]), &Op::Enable).await, Err(ConnectorError::NotFound(_))));
        assert!(c.read_accounts().await.unwrap().iter().all(|a| a.key != ids[3]));
    }

    #[tokio::test]
    async fn scim_wrong_token_is_auth_and_closed_port_unreachable() {
        if let Some(s) = server().await {
            let c = connector(&s, json!({"bearer_token": "wrong-token-abc"}));
            let err = c.test_connection().await.unwrap_err();
            assert!(matches!(err, ConnectorError::Auth(_)), "{err}");
            assert!(!err.to_string().contains("wrong-token-abc"));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cfg = json!({"type": "scim", "base_url": format!("http://127.0.0.1:{port}/scim/v2"), "bearer_token": "t", "timeout_secs": 2});
        let c = build(&target(TargetKind::Application), cfg, clock()).unwrap();
        let err = c.read_accounts().await.unwrap_err();
        assert!(matches!(err, ConnectorError::Unreachable(_)) && err.retryable(), "{err}");
    }
}

mod card {
    use super::*;
    use bposhield_connectors::card::{sig_path, verify_export, webhook_signature};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const KEY: &str = "pacs-shared-key-0123456789";

    fn connector(dir: &std::path::Path, webhook: Option<String>) -> Arc<dyn Connector> {
        let mut cfg = json!({"export_path": dir.join("cards.csv"), "signing_key": KEY});
        if let Some(url) = webhook {
            cfg["webhook"] = json!({"url": url, "timeout_secs": 2});
        }
        build(&target(TargetKind::AccessCard), cfg, clock()).unwrap()
    }

    #[tokio::test]
    async fn export_lifecycle_and_signature() {
        let dir = tempfile::tempdir().unwrap();
        let c = connector(dir.path(), None);
        assert!(c.read_accounts().await.unwrap().is_empty());
        let new = NewAccount {
            login: "0042".into(),
            employee_id: Some("E1".into()),
            entitlements: ["floor-2".to_owned(), "lobby".to_owned()].into(),
            ..NewAccount::default()
        };
        assert_eq!(c.create(&new).await.unwrap(), "0042");
        c.apply(None, &Op::Create { login: "0043".into(), entitlements: ["lobby".to_owned()].into() }).await.unwrap();
        let path = dir.path().join("cards.csv");
        verify_export(&path, KEY.as_bytes()).unwrap();
        assert!(verify_export(&path, b"another-key-0123456789").is_err());
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "card_number,employee_id,state,access_levels,changed_at\n\
             0042,E1,active,floor-2;lobby,2026-01-01T00:00:00Z\n\
             0043,,active,lobby,2026-01-01T00:00:00Z\n"
        );

        for _ in 0..2 {
            c.apply(Some("0042"), &Op::Disable).await.unwrap();
            c.apply(Some("0042"), &Op::Revoke { entitlement: "floor-2".into() }).await.unwrap();
        }
        let accounts = c.read_accounts().await.unwrap();
        let card = by_login(&accounts, "0042");
        assert!(!card.enabled);
        assert_eq!(card.entitlements.iter().collect::<Vec<_>>(), ["lobby"]);
        assert_eq!(card.employee_id.as_deref(), Some("E1"));

        c.apply(Some("0043"), &Op::Delete).await.unwrap();
        c.apply(Some("0043"), &Op::Delete).await.unwrap();
        c.apply(Some("9999"), &Op::Disable).await.unwrap(); // no such card: nothing to do
        assert!(matches!(c.apply(Some("9999"), &Op::Enable).await, Err(ConnectorError::NotFound(_))));
        assert_eq!(c.read_accounts().await.unwrap().len(), 1);
        assert!(std::fs::read_to_string(&path).unwrap().contains("0043,,deleted,lobby,"));
        verify_export(&path, KEY.as_bytes()).unwrap();
        assert!(c.test_connection().await.unwrap().contains("2 cards"));

        // A hand edit is detected, not re-signed.
        std::fs::write(&path, text.replace("disabled", "active")).unwrap();
        assert!(matches!(c.read_accounts().await, Err(ConnectorError::Rejected(m)) if m.contains("signature")));
        assert!(sig_path(&path).exists());
    }

    /// Accepts one HTTP request per status, answers each with it; returns the raw requests.
    async fn serve(listener: tokio::net::TcpListener, statuses: Vec<u16>) -> Vec<String> {
        let mut requests = Vec::new();
        for status in statuses {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = sock.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                let complete = text.find("\r\n\r\n").is_some_and(|end| {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0usize);
                    buf.len() >= end + 4 + len
                });
                if complete || n == 0 {
                    break;
                }
            }
            let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            sock.write_all(reply.as_bytes()).await.unwrap();
            requests.push(String::from_utf8(buf).unwrap());
        }
        requests
    }

    fn header(request: &str, name: &str) -> String {
        request
            .lines()
            .find_map(|l| {
                l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_owned())
            })
            .unwrap()
    }

    #[tokio::test]
    async fn webhook_is_signed_and_failures_are_retryable() {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/pacs/events", listener.local_addr().unwrap());
        let c = connector(dir.path(), Some(url));
        let server = tokio::spawn(serve(listener, vec![200, 503, 200]));

        c.apply(None, &Op::Create { login: "0042".into(), entitlements: ["lobby".to_owned()].into() }).await.unwrap();
        // The receiver fails: the op is retryable, and the retry (a no-op on the export)
        // still delivers the event.
        let err = c.apply(Some("0042"), &Op::Disable).await.unwrap_err();
        assert!(err.retryable(), "{err}");
        c.apply(Some("0042"), &Op::Disable).await.unwrap();
        let requests = server.await.unwrap();

        let (head, body) = requests[0].split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("POST /pacs/events HTTP/1.1"));
        let ts: i64 = header(head, "x-bposhield-timestamp").parse().unwrap();
        assert_eq!(ts, 1_767_225_600);
        assert_eq!(header(head, "x-bposhield-signature"), webhook_signature(KEY.as_bytes(), ts, body.as_bytes()));
        let event: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!((event["op"].as_str(), event["changed"].as_bool()), (Some("create"), Some(true)));
        assert_eq!(event["card"]["card_number"], "0042");
        assert_eq!(event["card"]["state"], "active");
        let retried: serde_json::Value = serde_json::from_str(requests[2].split_once("\r\n\r\n").unwrap().1).unwrap();
        assert_eq!((retried["op"].as_str(), retried["changed"].as_bool()), (Some("disable"), Some(false)));
        assert_eq!(retried["card"]["state"], "disabled");

        // Nobody listens any more.
        let err = c.apply(Some("0042"), &Op::Enable).await.unwrap_err();
        assert!(matches!(err, ConnectorError::Unreachable(_)), "{err}");
        assert!(
            by_login(&c.read_accounts().await.unwrap(), "0042").enabled,
            "the export is written before the webhook"
        );
    }
}
