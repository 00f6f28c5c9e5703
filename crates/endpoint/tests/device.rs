//! USB devices from the fake sysfs in `tests/fixtures/sysfs` (see its README).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bposhield_endpoint::device::{self, DeviceError, UsbDevice};
use bposhield_endpoint::rules::{DeviceView, EvalContext, Rule, RuleSet, Target};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sysfs")
}

fn root() -> PathBuf {
    fixtures().join("sys")
}

fn golden(name: &str) -> String {
    std::fs::read_to_string(fixtures().join(name)).unwrap()
}

fn dev(name: &str) -> UsbDevice {
    device::read(&root(), name).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn types(d: &UsbDevice) -> Vec<String> {
    d.interfaces.iter().map(|i| i.type_string()).collect()
}

#[test]
fn enumerates_in_usbguard_order_and_skips_refused_devices() {
    let names = device::enumerate(&root()).unwrap();
    assert_eq!(names, ["usb1", "usb2", "1-1", "1-2", "1-3", "1-4", "1-5", "1-6", "2-1", "1-4.1", "1-4.2"]);
    let listed: Vec<String> = device::list(&root()).unwrap().into_iter().map(|d| d.sysfs_name).collect();
    assert_eq!(listed, ["usb1", "usb2", "1-1", "1-2", "1-3", "1-4", "1-5", "2-1", "1-4.1", "1-4.2"]);
}

#[test]
fn reads_every_fixture_device() {
    let usb1 = dev("usb1");
    assert_eq!((usb1.vendor_id.as_str(), usb1.product_id.as_str()), ("1d6b", "0002"));
    assert_eq!(usb1.name, "xHCI Host Controller");
    assert_eq!(usb1.manufacturer, "Linux 6.1.0-18-amd64 xhci-hcd");
    assert_eq!(usb1.serial, "0000:00:14.0");
    assert_eq!(usb1.sysfs_path, "/devices/pci0000:00/0000:00:14.0/usb1");
    assert_eq!(usb1.via_port, "usb1");
    assert_eq!(usb1.connect_type, "");
    assert_eq!(usb1.parent, None);
    assert!(usb1.authorized && usb1.is_root_hub());
    assert_eq!(types(&usb1), ["09:00:00"]);
    assert_eq!(usb1.interfaces[0].sysfs_name, "1-0:1.0");
    assert!(dev("usb2").is_root_hub());

    let headset = dev("1-1");
    assert_eq!(headset.name, "Jabra EVOLVE 20 MS");
    assert_eq!(headset.manufacturer, "GN Netcom A/S");
    assert_eq!(headset.serial, "A4B5C6D7E8F9");
    assert_eq!(headset.connect_type, "hotplug");
    assert_eq!(headset.parent.as_deref(), Some("usb1"));
    assert_eq!(headset.parent_hash, usb1.hash());
    assert_eq!(types(&headset), ["01:01:00", "01:02:00", "01:02:00", "03:00:00", "08:06:50"]);
    assert_eq!(
        headset.interfaces.iter().map(|i| i.sysfs_name.as_str()).collect::<Vec<_>>(),
        ["1-1:1.0", "1-1:1.1", "1-1:1.2", "1-1:1.3", "1-1:1.4"]
    );
    assert!(headset.interfaces.iter().all(|i| i.authorized == Some(true)));
    // The descriptors list alternate settings too, as USBGuard's with-interface does.
    assert_eq!(
        headset.interface_types(),
        [(1, 1, 0), (1, 2, 0), (1, 2, 0), (1, 2, 0), (1, 2, 0), (3, 0, 0), (8, 6, 0x50)]
    );
    assert!(!headset.is_root_hub());

    let kbd = dev("1-2");
    assert_eq!((kbd.name.as_str(), kbd.serial.as_str()), ("Dell KB216 Wired Keyboard", ""));
    assert_eq!(types(&kbd), ["03:01:01", "03:00:00"]);

    let phone = dev("1-3");
    assert_eq!(types(&phone), ["06:01:01", "ff:42:01"]);
    assert_eq!(phone.interfaces[0].name, "MTP");
    assert_eq!(phone.interfaces[1].name, "ADB Interface");

    let hub = dev("1-4");
    let camera = dev("1-4.1");
    assert_eq!(camera.parent.as_deref(), Some("1-4"));
    assert_eq!(camera.parent_hash, hub.hash());
    assert_eq!(types(&camera), ["06:01:01"]);
    assert_eq!(camera.interfaces[0].name, "");

    let reader = dev("1-4.2");
    assert_eq!(reader.name, "Smartcard Reader \u{2013} EMV");
    assert_eq!(types(&reader), ["0b:00:00"]);

    let bt = dev("1-5");
    assert_eq!(bt.name, "");
    assert_eq!(bt.connect_type, "hardwired");
    assert_eq!(types(&bt), ["e0:01:01", "e0:01:01"]);
    assert_eq!(bt.interface_types().len(), 4);

    let pen = dev("2-1");
    assert_eq!((pen.vendor_id.as_str(), pen.product_id.as_str()), ("0781", "5581"));
    assert_eq!(pen.manufacturer, " USB");
    assert_eq!(pen.name, " SanDisk 3.2Gen1");
    assert_eq!(pen.parent_hash, dev("usb2").hash());
    assert_eq!(types(&pen), ["08:06:50"]);
}

#[test]
fn refuses_what_usbguard_refuses() {
    match device::read(&root(), "1-6") {
        Err(DeviceError::Descriptors { device, reason }) => {
            assert_eq!(device, "1-6");
            assert!(reason.contains("size 6"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(device::read(&root(), "1-1:1.0"), Err(DeviceError::NotUsbDevice(_))));
    assert!(matches!(device::read(&root(), "9-9"), Err(DeviceError::Io { .. })));
    for bad in ["", ".", "..", "../usb1", "usb1/1-1"] {
        assert!(matches!(device::read(&root(), bad), Err(DeviceError::InvalidName(_))), "{bad:?}");
    }
}

#[test]
fn hashes_are_usbguards_stable_and_distinct() {
    let devices = device::list(&root()).unwrap();
    let golden = golden("generate-policy-p.rules");
    let mut seen = HashSet::new();
    for d in &devices {
        let h = d.hash();
        assert_eq!(h, d.hash(), "stable");
        assert_eq!(h, device::read(&root(), &d.sysfs_name).unwrap().hash(), "stable across reads");
        assert!(golden.contains(&format!(" hash \"{h}\" ")), "{}: {h} is not USBGuard's", d.sysfs_name);
        assert!(seen.insert(h), "{}: hash collides", d.sysfs_name);
    }
    // The two root hubs share name and serial; their descriptors differ.
    assert_ne!(dev("usb1").hash(), dev("usb2").hash());
    // The root hub hash ignores bcdDevice (the kernel version).
    let mut newer_kernel = dev("usb1");
    newer_kernel.descriptors[12] = 0x15;
    newer_kernel.descriptors[13] = 0x06;
    assert_eq!(newer_kernel.hash(), dev("usb1").hash());
    let mut other = dev("1-2");
    other.descriptors[12] ^= 1;
    assert_ne!(other.hash(), dev("1-2").hash());
    // A root hub's parent-hash is the hash of its parent's sysfs path.
    assert_eq!(dev("usb1").parent_hash, "rV9bfLq7c2eA4tYjVjwO4bxhm+y6GgZpl9J60L0fBkY=");
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// Known values from USBGuard's own tests: `src/Tests/UseCase/devices.umockdev`
/// holds the devices, `003_cli_devices_umockdev.sh` looks them up by these hashes.
#[test]
fn hash_matches_usbguards_test_data() {
    let umockdev = |vendor: &str, product: &str, name: &str, descriptors: &str| UsbDevice {
        sysfs_name: "1-4".into(),
        sysfs_path: "/devices/pci0000:00/0000:00:14.0/usb1/1-4".into(),
        vendor_id: vendor.into(),
        product_id: product.into(),
        name: name.into(),
        manufacturer: String::new(),
        serial: String::new(),
        interfaces: Vec::new(),
        via_port: "1-4".into(),
        connect_type: String::new(),
        descriptors: hex(descriptors),
        parent: None,
        parent_hash: String::new(),
        authorized: true,
    };
    let dock = umockdev(
        "17ef",
        "305a",
        "Lenovo ThinkPad WS Dock",
        "1201100209000140EF175A3010500102000109021900010100E0000904000001090000000705810301000C",
    );
    assert_eq!(dock.hash(), "2y2qS3rcuMr1Ye5knWsbD8CGzPtrs+eiRR/haro7+Ng=");
    let trackball = umockdev(
        "047d",
        "2048",
        "Kensington Eagle Trackball",
        "12010002000000087D04482000060102000109022200010100A0320904000001030102000921110100012252000705810308000A",
    );
    assert_eq!(trackball.hash(), "D3deklX12Ir3kJPfUZ5AQNwHeZn1bwtPkQkw6e+8B38=");
}

#[test]
fn rules_match_usbguard_generate_policy() {
    let devices = device::list(&root()).unwrap();
    let print = |rules: Vec<Rule>| rules.iter().map(|r| format!("{r}\n")).collect::<String>();
    assert_eq!(print(device::generate_policy(&devices, Target::Allow, false)), golden("generate-policy.rules"));
    assert_eq!(print(device::generate_policy(&devices, Target::Allow, true)), golden("generate-policy-p.rules"));
    let listed: String = devices.iter().map(|d| format!("{}\n", d.to_rule(Target::Allow))).collect();
    assert_eq!(listed, golden("generate-policy-p.rules"));
    assert!(dev("1-2").to_rule(Target::Block).to_string().starts_with("block id 413c:2113 serial \"\" name"));
}

#[test]
fn device_rules_parse_and_match_their_device() {
    let devices = device::list(&root()).unwrap();
    let policy = RuleSet::parse(&golden("generate-policy.rules")).unwrap();
    let ctx = EvalContext::default();
    for d in &devices {
        let view = DeviceView::from(d);
        let printed = d.to_rule(Target::Allow).to_string();
        let rule = Rule::parse(&printed).unwrap();
        assert_eq!(rule, d.to_rule(Target::Allow));
        assert!(rule.matches(&view), "{printed}");
        // And nothing else in the fixture.
        for other in devices.iter().filter(|o| o.sysfs_name != d.sysfs_name) {
            assert!(!rule.matches(&DeviceView::from(other)), "{printed} matches {}", other.sysfs_name);
        }
        let v = policy.evaluate(&view, &ctx);
        assert_eq!(v.target, Target::Allow);
        assert_eq!(policy.rules()[v.rule_index.unwrap()].hash.values()[0], d.hash().into_bytes());
    }
}

#[test]
fn per_interface_views() {
    let headset = dev("1-1");
    let rules = RuleSet::parse("allow with-interface one-of { 01:*:* 03:*:* }\nblock with-interface 08:*:*").unwrap();
    let ctx = EvalContext::default();
    assert_eq!(rules.evaluate(&headset.view(None), &ctx).target, Target::Allow);
    let per_interface: Vec<(Target, Option<usize>)> = (0..headset.interfaces.len())
        .map(|i| {
            let v = rules.evaluate(&headset.view(Some(i)), &ctx);
            (v.target, v.line)
        })
        .collect();
    assert_eq!(
        per_interface,
        [
            (Target::Allow, Some(1)),
            (Target::Allow, Some(1)),
            (Target::Allow, Some(1)),
            (Target::Allow, Some(1)),
            (Target::Block, Some(2))
        ]
    );
    assert!(headset.view(Some(99)).interfaces.is_empty());
    let storage_only = RuleSet::parse("block with-interface one-of { 08:*:* 06:*:* e0:*:* }").unwrap();
    for (name, blocked) in
        [("1-1", true), ("1-2", false), ("1-3", true), ("1-4.1", true), ("1-4.2", false), ("1-5", true), ("2-1", true)]
    {
        let v = storage_only.evaluate(&dev(name).view(None), &ctx);
        assert_eq!(v.line.is_some(), blocked, "{name}");
    }
}

/// A device directory straight under `bus/usb/devices` (no symlink) is read too;
/// its parent is then `/bus/usb/devices`, as USBGuard would see it.
#[test]
fn plain_directories_work_too() {
    let tmp = std::env::temp_dir().join(format!("bposhield-sysfs-plain-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let src = root().join("devices/pci0000:00/0000:00:14.0/usb1/1-2");
    let dst = tmp.join("bus/usb/devices/1-2");
    std::fs::create_dir_all(&dst).unwrap();
    for f in ["uevent", "idVendor", "idProduct", "product", "manufacturer", "authorized", "descriptors"] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
    std::fs::write(tmp.join("bus/usb/devices/uevent"), "").unwrap();
    let d = device::read(&tmp, "1-2").unwrap();
    assert_eq!(d.sysfs_path, "/bus/usb/devices/1-2");
    assert_eq!(d.hash(), dev("1-2").hash());
    assert_eq!(d.connect_type, "");
    assert!(d.interfaces.is_empty());
    use base64::Engine as _;
    use sha2::Digest as _;
    let want = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(b"/bus/usb/devices"));
    assert_eq!(d.parent_hash, want);
    assert_eq!(device::list(&tmp).unwrap().len(), 1);
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// Runs the real `usbguard generate-policy` over the fixture (bind-mounted over
/// `/sys` in a user namespace) and compares with the committed output, which the
/// tests above compare with ours. Skipped where that is not possible.
#[test]
fn live_usbguard_generate_policy() {
    let has =
        |cmd: &str| std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).any(|d| d.join(cmd).is_file());
    if !has("usbguard") || !has("unshare") {
        eprintln!("SKIP live_usbguard_generate_policy: usbguard or unshare is not installed");
        return;
    }
    let script = format!(
        "mount --bind '{}' /sys && usbguard generate-policy && echo --- && usbguard generate-policy -p",
        root().display()
    );
    let out = Command::new("unshare").args(["-rm", "sh", "-c", &script]).output().unwrap();
    if !out.status.success() {
        eprintln!(
            "SKIP live_usbguard_generate_policy: cannot bind-mount in a user namespace: {}",
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or_default()
        );
        return;
    }
    let stdout = String::from_utf8(out.stdout).unwrap();
    let (plain, with_ports) = stdout.split_once("---\n").unwrap();
    assert_eq!(plain, golden("generate-policy.rules"));
    assert_eq!(with_ports, golden("generate-policy-p.rules"));
}
