#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The agent end to end on a fake sysfs tree (the endpoint crate's fixture: a headset
//! with a storage interface, a keyboard, a phone in MTP mode, a camera in PTP mode, a
//! smart-card reader behind a hub, a Bluetooth adapter, a pen drive), driven by
//! scripted kernel uevents on a Unix datagram socket, with a real control socket.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bposhield_agent::config::AgentConfig;
use bposhield_agent::service::{control_request, Agent};
use bposhield_agent::state::{Identity, StateDir};
use bposhield_agent::uevent::Uevent;
use bposhield_core::clock::{Clock, ManualClock};
use bposhield_endpoint::bundle::BundleSigner;
use bposhield_endpoint::offline::{self, Challenge};
use bposhield_proto::fleet::{AgentEvent, AgentEventBody, Bundle, BundleException, DeviceEvent};
use bposhield_proto::{ExceptionId, HostId};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../endpoint/tests/fixtures/sysfs/sys");
const NOW_MS: i64 = 1_800_000_000_000;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bpa-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A private copy of the fixture tree (symlinks kept), every device authorized as a
/// kernel without a policy would leave it.
fn sysfs(dir: &Path) -> PathBuf {
    let ok = std::process::Command::new("cp").arg("-a").arg(FIXTURE).arg(dir.join("sys")).status().unwrap();
    assert!(ok.success());
    dir.join("sys")
}

fn authorized(sys: &Path, name: &str) -> String {
    std::fs::read_to_string(sys.join("bus/usb/devices").join(name).join("authorized")).unwrap().trim().to_string()
}

fn set_authorized(sys: &Path, name: &str, v: &str) {
    std::fs::write(sys.join("bus/usb/devices").join(name).join("authorized"), v).unwrap();
}

fn device_events(state: &Path) -> Vec<DeviceEvent> {
    let mut files: Vec<_> = std::fs::read_dir(state.join("queue")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| std::fs::read_to_string(f).unwrap().lines().map(String::from).collect::<Vec<_>>())
        .filter_map(|l| serde_json::from_str::<AgentEvent>(&l).ok())
        .filter_map(|e| match e.body {
            AgentEventBody::Device(d) => Some(d),
            _ => None,
        })
        .collect()
}

fn uevent(name: &str, devpath: &str) -> Vec<u8> {
    Uevent {
        action: "add".into(),
        devpath: format!("{devpath}/{name}"),
        subsystem: "usb".into(),
        devtype: "usb_device".into(),
    }
    .to_wire()
}

async fn wait_for(mut f: impl FnMut() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached in 5 s");
}

/// An enrolled host's state directory, its server unreachable.
fn enrolled(state: &Path, host: HostId, offline_key: [u8; 32], signer: &BundleSigner) -> StateDir {
    let sd = StateDir::open(state).unwrap();
    let identity = Identity {
        server_url: "http://127.0.0.1:9".into(),
        host_id: host,
        credential: "bpa_test".into(),
        offline_key: B64.encode(offline_key),
        bundle_key: signer.public_key_b64(),
        rotated_at: NOW_MS / 1000,
    };
    sd.write("identity.json", &identity).unwrap();
    sd
}

fn bundle(host: HostId, version: i64, usb_rules: &str) -> Bundle {
    Bundle {
        version,
        host_id: host,
        issued_at: NOW_MS / 1000 - 60,
        expires_at: i64::MAX,
        usb_enforce: true,
        usb_rules: usb_rules.into(),
        sca_policies: vec![],
        exceptions: vec![],
        scan_interval_seconds: 3600,
        heartbeat_seconds: 60,
    }
}

#[tokio::test(flavor = "current_thread")]
async fn blocks_the_pen_drive_keeps_the_headset_and_honours_exceptions() {
    let dir = tmp("e2e");
    let sys = sysfs(&dir);
    let state = dir.join("state");
    let host = HostId::new_v7(1);
    let offline_key = [42u8; 32];
    let signer = BundleSigner::from_seed(&[5; 32]);
    let camera_hash = "lbbe9dR+X1exCyXqTcZPOFTk3Gmz0Ml8PDAFzbUyZxQ=";
    let pen_hash = "3EeNTH6uyG4i1oRrwpaxH7NjTJx7+Bgymrv6/OqKItc=";

    // An enrolled host whose server is down, with a signed bundle from earlier: the
    // floor policy, and an approved exception for the camera.
    let sd = enrolled(&state, host, offline_key, &signer);
    let exception = ExceptionId::new_v7(2);
    let mut bundle = bundle(host, 7, bposhield_agent::service::BUILT_IN_RULES);
    // Expired by now: a stored bundle keeps being enforced while the host is offline.
    bundle.expires_at = NOW_MS / 1000 - 1;
    bundle.exceptions =
        vec![BundleException { id: exception, device_hash: camera_hash.into(), expires_at: NOW_MS / 1000 + 3600 }];
    sd.write("bundle.json", &signer.sign(&bundle)).unwrap();

    let cfg = AgentConfig {
        server_url: None,
        state_dir: state.clone(),
        sys_root: sys.clone(),
        root: dir.join("root"),
        proc_root: dir.join("proc"),
        uevents: format!("socket:{}", dir.join("uevents.sock").display()),
        control_socket: dir.join("control.sock"),
        ..AgentConfig::default()
    };
    let clock = Arc::new(ManualClock::new(NOW_MS));
    let agent = Agent::open(cfg.clone(), clock.clone()).unwrap();
    assert_eq!(agent.policy_version(), 7);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(agent.run(async move {
        let _ = stop_rx.await;
    }));

    // Start: defaults set on both root hubs, every present device judged.
    wait_for(|| dir.join("control.sock").exists()).await;
    for hub in ["usb1", "usb2"] {
        let d = std::fs::read_to_string(sys.join("bus/usb/devices").join(hub).join("authorized_default")).unwrap();
        assert_eq!(d.trim(), "0", "{hub}");
    }
    assert_eq!(authorized(&sys, "2-1"), "0", "pen drive blocked");
    assert_eq!(authorized(&sys, "1-3"), "0", "phone (MTP) blocked");
    assert_eq!(authorized(&sys, "1-5"), "0", "Bluetooth adapter blocked");
    assert_eq!(authorized(&sys, "1-2"), "1", "keyboard allowed");
    assert_eq!(authorized(&sys, "1-4.2"), "1", "smart-card reader allowed");
    assert_eq!(authorized(&sys, "1-4.1"), "1", "camera allowed by its exception");
    // The headset works, its storage interface does not.
    assert_eq!(authorized(&sys, "1-1"), "1");
    for (iface, want) in [("1-1:1.0", "1"), ("1-1:1.1", "1"), ("1-1:1.2", "1"), ("1-1:1.3", "1"), ("1-1:1.4", "0")] {
        let class = std::fs::read_to_string(sys.join("bus/usb/devices").join(iface).join("bInterfaceClass")).unwrap();
        assert_eq!(authorized(&sys, iface), want, "{iface} class {class}");
    }

    // A pen drive plugged in again: the uevent makes the agent block it again.
    set_authorized(&sys, "2-1", "1");
    let sender = std::os::unix::net::UnixDatagram::unbound().unwrap();
    sender.send_to(&uevent("2-1", "/devices/pci0000:00/0000:00:14.0/usb2"), dir.join("uevents.sock")).unwrap();
    wait_for(|| authorized(&sys, "2-1") == "0").await;

    // Offline: the user reads the pen drive's challenge, the officer answers it.
    let list = control_request(&dir.join("control.sock"), "CHALLENGES").await.unwrap();
    let line = list.lines().find(|l| l.contains("\t2-1\t")).unwrap_or_else(|| panic!("{list}"));
    let challenge = Challenge::parse(line.split('\t').next().unwrap()).unwrap();
    let code = offline::respond(&offline_key, &host.to_string(), &challenge, 2, clock.now()).unwrap();
    let wrong = offline::respond(&[1; 32], &host.to_string(), &challenge, 2, clock.now()).unwrap();
    let shown = challenge.display();
    let refused = control_request(&dir.join("control.sock"), &format!("UNLOCK {shown} {wrong}")).await.unwrap();
    assert!(refused.starts_with("ERR"), "{refused}");
    assert_eq!(authorized(&sys, "2-1"), "0");
    let ok = control_request(&dir.join("control.sock"), &format!("UNLOCK {shown} {code}")).await.unwrap();
    assert_eq!(ok, "OK device allowed for 2 hours\n");
    assert_eq!(authorized(&sys, "2-1"), "1");
    // Once only.
    let again = control_request(&dir.join("control.sock"), &format!("UNLOCK {shown} {code}")).await.unwrap();
    assert!(again.starts_with("ERR"), "{again}");

    // The grant survives a re-plug within its hours; after them the drive is blocked.
    set_authorized(&sys, "2-1", "0");
    sender.send_to(&uevent("2-1", "/devices/pci0000:00/0000:00:14.0/usb2"), dir.join("uevents.sock")).unwrap();
    wait_for(|| authorized(&sys, "2-1") == "1").await;
    clock.advance(3 * 3600);
    sender.send_to(&uevent("2-1", "/devices/pci0000:00/0000:00:14.0/usb2"), dir.join("uevents.sock")).unwrap();
    wait_for(|| authorized(&sys, "2-1") == "0").await;

    // The spent code does not open the drive again.
    let stale =
        control_request(&dir.join("control.sock"), &format!("UNLOCK {} {code}", shown.to_lowercase())).await.unwrap();
    assert!(stale.starts_with("ERR"), "{stale}");
    assert_eq!(authorized(&sys, "2-1"), "0");

    let status = control_request(&dir.join("control.sock"), "STATUS").await.unwrap();
    assert!(status.contains("\"policy_version\":7") && status.contains("\"usb_enforcing\":true"), "{status}");
    let _ = stop_tx.send(());
    task.await.unwrap().unwrap();

    // Every decision is in the queue for the server, with its reason.
    let events = device_events(&state);
    let pen: Vec<&DeviceEvent> = events.iter().filter(|e| e.device_hash == pen_hash).collect();
    let decisions: Vec<&str> = pen.iter().map(|e| e.decision.as_str()).collect();
    assert_eq!(decisions, ["blocked", "blocked", "allowed", "allowed", "blocked"], "{pen:#?}");
    assert!(pen.iter().all(|e| e.storage_like && e.vendor_product == "0781:5581"));
    assert_eq!(pen[2].offline_challenge.as_deref(), Some(shown.as_str()));
    let headset = events.iter().find(|e| e.vendor_product == "0b0e:245e").unwrap();
    assert_eq!(headset.decision, "partial");
    assert_eq!(headset.blocked_interfaces, ["08:06:50"]);
    let camera = events.iter().find(|e| e.device_hash == camera_hash).unwrap();
    assert_eq!((camera.decision.as_str(), camera.exception_id), ("allowed", Some(exception)));
    assert!(
        pen[0].device_rule.starts_with("block id 0781:5581 serial \"4C530001230517116354\""),
        "{}",
        pen[0].device_rule
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "current_thread")]
async fn a_tampered_stored_bundle_falls_back_to_the_floor_policy() {
    let dir = tmp("tamper");
    let sys = sysfs(&dir);
    let state = dir.join("state");
    let host = HostId::new_v7(1);
    let signer = BundleSigner::from_seed(&[5; 32]);
    let sd = enrolled(&state, host, [1; 32], &signer);
    let open = bundle(host, 9, "allow\n");
    let mut signed = signer.sign(&open);
    // Someone with root edits the stored bundle to allow everything... with a version bump.
    signed.payload = signed.payload.replace("\"version\":9", "\"version\":10");
    sd.write("bundle.json", &signed).unwrap();
    let cfg = AgentConfig { state_dir: state, sys_root: sys.clone(), uevents: "none".into(), ..AgentConfig::default() };
    let mut agent = Agent::open(cfg, Arc::new(ManualClock::new(NOW_MS))).unwrap();
    assert_eq!(agent.policy_version(), 0, "the tampered bundle is refused");
    agent.start_enforcement().unwrap();
    assert_eq!(authorized(&sys, "2-1"), "0", "built-in floor policy blocks the pen drive");
    assert_eq!(authorized(&sys, "1-2"), "1");
    let _ = std::fs::remove_dir_all(&dir);
}
