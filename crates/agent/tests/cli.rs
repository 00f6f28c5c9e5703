#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The admin tools of the `bposhield-agent` binary, run as an operator would.

use std::path::Path;
use std::process::Command;

const ENDPOINT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../endpoint");
const CONTENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../content");

fn agent(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bposhield-agent"))
        .args(args)
        .env("BPOSHIELD_AGENT_CONFIG", "/nonexistent/agent.toml")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn rule_parser_prints_like_usbguard_rule_parser() {
    let (rc, out, _) = agent(&["rule-parser", "allow 1234:5678 with-interface { 08:*:* 03:01:01 }"]);
    assert_eq!(rc, 0);
    assert_eq!(out, "INPUT: allow 1234:5678 with-interface { 08:*:* 03:01:01 }\nOUTPUT: allow id 1234:5678 with-interface { 08:*:* 03:01:01 }\n");
    let (rc, out, err) = agent(&["rule-parser", "allow id 1234:56789"]);
    assert_eq!(rc, 1);
    assert_eq!(out, "INPUT: allow id 1234:56789\n");
    assert!(err.contains("<argv>:1") && err.contains("ERROR"), "{err}");

    let dir = std::env::temp_dir().join(format!("bpa-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("r.rules");
    std::fs::write(&f, "allow id 1d6b:*\n\n# comment\nblock name \"x\"\nallow foo\nallow\n").unwrap();
    let (rc, out, err) = agent(&["rule-parser", "-f", f.to_str().unwrap()]);
    assert_eq!(rc, 1);
    assert_eq!(out, "INPUT: allow id 1d6b:*\nOUTPUT: allow id 1d6b:*\nINPUT: # comment\nOUTPUT: \nINPUT: block name \"x\"\nOUTPUT: block name \"x\"\nINPUT: allow foo\n");
    assert!(err.contains("r.rules:5"), "the failing line is named: {err}");
    // The shipped floor policy parses.
    let (rc, _, err) = agent(&["rule-parser", "-f", &format!("{CONTENT}/usb/floor.rules")]);
    assert_eq!(rc, 0, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn devices_lists_the_attached_devices_as_usbguard_rules() {
    let sys = format!("{ENDPOINT}/tests/fixtures/sysfs/sys");
    let (rc, out, err) = agent(&["devices", "--sys-root", &sys]);
    assert_eq!(rc, 0, "{err}");
    // Like `usbguard generate-policy -p` on the same tree (the endpoint crate's golden file).
    let golden =
        std::fs::read_to_string(Path::new(ENDPOINT).join("tests/fixtures/sysfs/generate-policy-p.rules")).unwrap();
    assert_eq!(out, golden);
}

#[test]
fn sca_validate_and_run() {
    let (rc, out, err) = agent(&[
        "sca",
        "validate",
        &format!("{CONTENT}/sca/bposhield_floor_desktop.yml"),
        &format!("{CONTENT}/sca/bposhield_server.yml"),
    ]);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(out.lines().filter(|l| l.contains(": ok: policy")).count(), 2, "{out}");

    let dir = std::env::temp_dir().join(format!("bpa-cli-sca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yml");
    std::fs::write(
        &bad,
        "policy:\n  id: bad\n  name: Bad\n  description: x\nchecks:\n  - id: 1\n    title: one\n    condition: sometimes\n    rules:\n      - 'f:/etc/passwd'\n  - id: 2\n    title: two\n    condition: all\n    rules:\n      - 'q:/nowhere'\n",
    )
    .unwrap();
    let (rc, _, err) = agent(&["sca", "validate", bad.to_str().unwrap()]);
    assert_eq!(rc, 1);
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines.iter().any(|l| l.contains("bad.yml:8:")), "the condition's line: {err}");
    assert!(lines.iter().any(|l| l.contains("bad.yml:15:")), "the rule's line: {err}");

    // A pattern that does not compile is a warning with its line: the policy still loads.
    let warn = dir.join("warn.yml");
    std::fs::write(
        &warn,
        "policy:\n  id: warn\n  name: Warn\n  description: x\nchecks:\n  - id: 1\n    title: one\n    condition: all\n    rules:\n      - 'f:/etc/passwd -> r:Access:\\s*(\"'\n",
    )
    .unwrap();
    let (rc, out, err) = agent(&["sca", "validate", warn.to_str().unwrap()]);
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("ok: policy warn") && err.contains("warn.yml:10: warning:"), "{out}{err}");

    let root = format!("{ENDPOINT}/tests/fixtures/sca/desktop_good");
    let (rc, out, err) =
        agent(&["sca", "run", &format!("{CONTENT}/sca/bposhield_floor_desktop.yml"), "--json", "--root", &root]);
    assert_eq!(rc, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["failed"], 0, "{out}");
    assert!(report["passed"].as_i64().unwrap() >= 30);
    let _ = std::fs::remove_dir_all(&dir);
}
