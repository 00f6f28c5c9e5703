//! The real agent (its library, in this process) against a real server: it enrolls with
//! a one-time token, pulls and verifies its signed bundle, fills its queue while the
//! server is unreachable and ships it once the server is back, and honours an exception
//! approved in the server, which reaches it through a newer bundle; its credential is
//! rotated on the way. USB enforcement runs
//! on the endpoint crate's fake sysfs tree with scripted uevents.

use crate::harness::{Db, TestServer};
use bposhield_agent::config::AgentConfig;
use bposhield_agent::service::{control_request, Agent};
use bposhield_agent::state::{Identity, StateDir};
use bposhield_agent::uevent::Uevent;
use bposhield_proto::fleet::{DeviceEventRow, HostSummary};
use bposhield_proto::{Page, Role};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

crate::both_dbs!(agent_enrolls_pulls_its_bundle_and_ships_a_queue_filled_offline);

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../endpoint/tests/fixtures/sysfs/sys");
const PEN_DRIVE: &str = "3EeNTH6uyG4i1oRrwpaxH7NjTJx7+Bgymrv6/OqKItc=";

fn authorized(sys: &Path, name: &str) -> String {
    std::fs::read_to_string(sys.join("bus/usb/devices").join(name).join("authorized")).unwrap().trim().to_string()
}

async fn wait_for<F: std::future::Future<Output = bool>>(what: &str, mut f: impl FnMut() -> F) {
    for _ in 0..400 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not reached in 20 s");
}

async fn device_events(s: &TestServer) -> Vec<DeviceEventRow> {
    let r = s.req(Role::SecurityOfficer, Method::GET, "/api/v1/fleet/events?limit=500").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    serde_json::from_value::<Page<DeviceEventRow>>(v.clone())
        .map(|p| p.items)
        .or_else(|_| serde_json::from_value::<Vec<DeviceEventRow>>(v))
        .unwrap()
}

/// A TCP relay from `port` to the server: the server is "back" when it runs.
async fn relay(port: u16, to: std::net::SocketAddr) -> tokio::task::JoinHandle<()> {
    let l = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = l.accept().await {
            tokio::spawn(async move {
                if let Ok(mut out) = tokio::net::TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                }
            });
        }
    })
}

async fn agent_enrolls_pulls_its_bundle_and_ships_a_queue_filled_offline(db: Db) {
    let Some(s) = TestServer::start(db, "agent-e2e").await else { return };
    let dir = std::env::temp_dir().join(format!("bposhield-agent-e2e-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    assert!(std::process::Command::new("cp").arg("-a").arg(FIXTURE).arg(dir.join("sys")).status().unwrap().success());
    let sys = dir.join("sys");

    // Enrollment, straight to the server.
    let (st, v) = {
        let r = s
            .req(Role::SecurityOfficer, Method::POST, "/api/v1/fleet/tokens")
            .json(&json!({ "site_id": s.site.id, "process_id": s.process.id, "label": "floor 3", "max_uses": 1, "expires_in_hours": 2 }))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(st, 201, "{v}");
    let token = v["token"].as_str().unwrap().to_string();
    let cfg = AgentConfig {
        server_url: Some(s.base.clone()),
        state_dir: dir.join("state"),
        sys_root: sys.clone(),
        root: dir.join("root"),
        proc_root: dir.join("proc"),
        uevents: format!("socket:{}", dir.join("uevents.sock").display()),
        control_socket: dir.join("control.sock"),
        heartbeat_seconds: 1,
        ..AgentConfig::default()
    };
    std::fs::create_dir_all(dir.join("root/etc")).unwrap();
    std::fs::write(dir.join("root/etc/hostname"), "pnq1-floor3-041\n").unwrap();
    std::fs::write(dir.join("root/etc/machine-id"), "0123456789abcdef0123456789abcdef\n").unwrap();
    let id = bposhield_agent::service::enroll(&cfg, &s.base, &token, s.clock.as_ref()).await.unwrap();
    // The token was for one host.
    assert!(bposhield_agent::service::enroll(&cfg, &s.base, &token, s.clock.as_ref()).await.is_err());

    // From now on the server is reached through a port where nothing listens yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let state = StateDir::open(&cfg.state_dir).unwrap();
    // And the credential is due for rotation (the server's clock is far past 0).
    state
        .write(
            "identity.json",
            &Identity { server_url: format!("http://127.0.0.1:{port}"), rotated_at: 0, ..id.clone() },
        )
        .unwrap();

    let agent = Agent::open(cfg.clone(), s.clock.clone()).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(agent.run(async move {
        let _ = stopped.await;
    }));
    let control = dir.join("control.sock");
    wait_for("control socket", || async { control.exists() }).await;
    // Offline: the built-in floor policy blocks the pen drive; a re-plug is judged again.
    assert_eq!(authorized(&sys, "2-1"), "0");
    std::fs::write(sys.join("bus/usb/devices/2-1/authorized"), "1").unwrap();
    let plug = Uevent {
        action: "add".into(),
        devpath: "/devices/pci0000:00/0000:00:14.0/usb2/2-1".into(),
        subsystem: "usb".into(),
        devtype: "usb_device".into(),
    };
    let sender = std::os::unix::net::UnixDatagram::unbound().unwrap();
    sender.send_to(&plug.to_wire(), dir.join("uevents.sock")).unwrap();
    wait_for("pen drive blocked again", || async { authorized(&sys, "2-1") == "0" }).await;
    let status: Value = serde_json::from_str(control_request(&control, "STATUS").await.unwrap().trim()).unwrap();
    assert_eq!(status["policy_version"], 0, "{status}");
    assert!(status["queue_depth"].as_i64().unwrap() >= 8, "{status}");
    assert!(device_events(&s).await.is_empty(), "nothing reached the server yet");

    // The server is back: the queue drains, the bundle arrives.
    let relay = relay(port, s.running.as_ref().unwrap().addr).await;
    wait_for("queue shipped", || async {
        device_events(&s).await.iter().filter(|e| e.device_hash == PEN_DRIVE).count() >= 2
    })
    .await;
    wait_for("bundle installed", || async {
        let st: Value = serde_json::from_str(control_request(&control, "STATUS").await.unwrap().trim()).unwrap();
        st["policy_version"].as_i64().unwrap_or(0) > 0
    })
    .await;
    // The credential was rotated on the first round with the server; once the new one
    // is used, the enrollment's credential is dead.
    wait_for("credential rotated", || async {
        state.read::<Identity>("identity.json").unwrap().is_some_and(|i| i.credential != id.credential)
    })
    .await;
    wait_for("new credential used", || async {
        let r =
            s.client.get(format!("{}/api/v1/agent/bundle", s.base)).bearer_auth(&id.credential).send().await.unwrap();
        r.status() == 401
    })
    .await;
    let events = device_events(&s).await;
    let pen: Vec<&DeviceEventRow> = events.iter().filter(|e| e.device_hash == PEN_DRIVE).collect();
    assert!(pen.iter().all(|e| e.decision == "blocked"), "{pen:#?}");
    let headset = events.iter().find(|e| e.vendor_product == "0b0e:245e").unwrap();
    assert_eq!(
        (headset.decision.as_str(), headset.blocked_interfaces.clone()),
        ("partial", vec!["08:06:50".to_string()])
    );
    let hosts: Value =
        s.req(Role::SecurityOfficer, Method::GET, "/api/v1/fleet/hosts").send().await.unwrap().json().await.unwrap();
    let hosts: Vec<HostSummary> = serde_json::from_value(hosts.get("items").cloned().unwrap_or(hosts)).unwrap();
    let host = hosts.iter().find(|h| h.id == id.host_id).unwrap();
    assert_eq!(host.hostname, "pnq1-floor3-041");
    assert!(host.last_seen_at.is_some() && host.usb_enforcing);

    // An exception approved in the server reaches the host through a newer bundle.
    let r = s
        .req(Role::ItAdmin, Method::POST, "/api/v1/fleet/exceptions")
        .json(&json!({ "host_id": id.host_id, "device_hash": PEN_DRIVE, "device_name": "SanDisk for the audit export", "reason": "quarterly audit export", "hours": 4 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let xid = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let r = s
        .req(Role::SecurityOfficer, Method::POST, &format!("/api/v1/fleet/exceptions/{xid}/approve"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    wait_for("exception honoured", || async { authorized(&sys, "2-1") == "1" }).await;
    wait_for("exception use reported", || async {
        device_events(&s).await.iter().any(|e| e.device_hash == PEN_DRIVE && e.decision == "allowed")
    })
    .await;

    let _ = stop.send(());
    task.await.unwrap().unwrap();
    relay.abort();
    let _ = std::fs::remove_dir_all(&dir);
    s.stop().await;
}

/// A private CA and a server certificate for `localhost`/127.0.0.1 signed by it, made by
/// `openssl` (installed by scripts/test.sh). `None` when openssl is missing.
fn private_ca(dir: &Path) -> Option<(std::path::PathBuf, std::path::PathBuf, std::path::PathBuf)> {
    let run = |args: &[&str]| std::process::Command::new("openssl").args(args).current_dir(dir).output();
    let Ok(out) = run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=bposhield test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]) else {
        assert!(std::env::var("BPOSHIELD_TEST_REQUIRE_TOOLS").is_err(), "openssl missing");
        return None;
    };
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "key.pem",
        "-out",
        "csr.pem",
    ])
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let out = run(&[
        "x509",
        "-req",
        "-in",
        "csr.pem",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
        "-out",
        "cert.pem",
    ])
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Some((dir.join("ca.pem"), dir.join("cert.pem"), dir.join("key.pem")))
}

/// The agent reaches the server over TLS only when it trusts the server's CA: the
/// private CA file of its config; the system roots alone refuse the certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_talks_tls_to_a_server_certified_by_a_private_ca() {
    let dir = std::env::temp_dir().join(format!("bposhield-agent-tls-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let Some((ca, cert, key)) = private_ca(&dir) else { return };
    let Some(s) = TestServer::start_with(Db::Sqlite, "agent-tls", move |cfg| {
        cfg.tls_cert = Some(cert);
        cfg.tls_key = Some(key);
    })
    .await
    else {
        return;
    };
    let url = s.base.replace("http://", "https://");
    // The enrollment token, made over the same TLS by a client trusting the CA.
    let pem = std::fs::read(&ca).unwrap();
    let https =
        reqwest::Client::builder().add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap()).build().unwrap();
    let r = https
        .post(format!("{url}/api/v1/fleet/tokens"))
        .bearer_auth(&s.tokens[&Role::SecurityOfficer])
        .json(&json!({ "site_id": s.site.id, "label": "tls", "max_uses": 2, "expires_in_hours": 2 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let token = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    let base_cfg = AgentConfig { state_dir: dir.join("state"), root: dir.join("root"), ..AgentConfig::default() };

    // Without the CA file: the handshake fails, nothing is enrolled.
    let err = bposhield_agent::service::enroll(&base_cfg, &url, &token, s.clock.as_ref()).await.unwrap_err();
    assert!(format!("{err:#}").contains("BPS-AGT-0301"), "{err:#}");
    // Plain http to anything but loopback is refused before any connection.
    let err = bposhield_agent::service::enroll(&base_cfg, "http://bposhield.example", &token, s.clock.as_ref())
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("https"), "{err:#}");

    // With it: enrolled, and the bundle comes over the same TLS.
    let cfg = AgentConfig {
        ca_file: Some(ca),
        uevents: "none".into(),
        sys_root: dir.join("sys"),
        control_socket: dir.join("control.sock"),
        ..base_cfg
    };
    std::fs::create_dir_all(dir.join("sys/bus/usb/devices")).unwrap();
    let id = bposhield_agent::service::enroll(&cfg, &url, &token, s.clock.as_ref()).await.unwrap();
    assert_eq!(id.server_url, url);
    let agent = Agent::open(cfg, s.clock.clone()).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(agent.run(async move {
        let _ = stopped.await;
    }));
    let control = dir.join("control.sock");
    wait_for("bundle over TLS", || async {
        match control_request(&control, "STATUS").await {
            Ok(st) => serde_json::from_str::<Value>(st.trim()).unwrap()["policy_version"].as_i64().unwrap_or(0) > 0,
            Err(_) => false,
        }
    })
    .await;
    let _ = stop.send(());
    task.await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    s.stop().await;
}
