#![allow(clippy::unwrap_used, clippy::expect_used)]
//! SCA policies in the Wazuh dialect: parsing (with every error and its line), rule
//! types, pattern forms, conditions, requirements, commands, the two regex dialects,
//! the shipped baselines against fixture trees, Wazuh's own policy shapes, host facts.

use bposhield_endpoint::facts::{self, FactsEnv};
use bposhield_endpoint::sca::{self, codes, pattern::translate_osregex, Env, Policy, RegexType};
use bposhield_proto::fleet::{CheckResult, ScanReport};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sca").join(name)
}

fn content(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../content/sca").join(name);
    std::fs::read_to_string(path).unwrap()
}

fn env_at(root: &Path) -> Env {
    Env {
        root: root.to_path_buf(),
        proc_root: root.join("proc"),
        command_timeout: Duration::from_secs(10),
        allow_commands: false,
    }
}

/// A fresh directory tree with the given files (`path`, `content`).
fn tree(files: &[(&str, &str)]) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("bps-sca-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst)));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

/// A policy with one check per `(condition, rules)`, ids 1, 2, ….
fn policy_with(regex_type: &str, checks: &[(&str, &[&str])]) -> String {
    let mut y = format!(
        "policy:\n  id: t\n  file: t.yml\n  name: Test\n  description: Test policy\n  regex_type: {regex_type}\nchecks:\n"
    );
    for (i, (condition, rules)) in checks.iter().enumerate() {
        y.push_str(&format!(
            "  - id: {}\n    title: \"check {}\"\n    condition: {condition}\n    rules:\n",
            i + 1,
            i + 1
        ));
        for r in *rules {
            y.push_str(&format!("      - '{r}'\n"));
        }
    }
    y
}

fn run_checks(regex_type: &str, checks: &[(&str, &[&str])], env: &Env) -> ScanReport {
    let yaml = policy_with(regex_type, checks);
    let policy = Policy::parse(&yaml).unwrap_or_else(|e| panic!("{e:#?}\n{yaml}"));
    sca::run(&policy, env)
}

/// The result of one check with one rule.
fn one(regex_type: &str, rule: &str, env: &Env) -> CheckResult {
    run_checks(regex_type, &[("all", &[rule])], env).checks.remove(0)
}

fn results(report: &ScanReport) -> Vec<(i64, &str)> {
    report.checks.iter().map(|c| (c.id, c.result.as_str())).collect()
}

fn ids_with(report: &ScanReport, result: &str) -> Vec<i64> {
    report.checks.iter().filter(|c| c.result == result).map(|c| c.id).collect()
}

// ---------------------------------------------------------------------------- rules

#[test]
fn file_rules_existence_content_and_missing_files() {
    let root = tree(&[("etc/x.conf", "# comment\nMaxAuthTries 3\nPermitRootLogin no\n"), ("etc/dir/keep", "")]);
    let env = env_at(&root);
    assert_eq!(one("pcre2", "f:/etc/x.conf", &env).result, "passed");
    assert_eq!(one("pcre2", "f:/etc/missing", &env).result, "failed");
    assert_eq!(one("pcre2", "not f:/etc/missing", &env).result, "passed");
    assert_eq!(one("pcre2", "not f:/etc/x.conf", &env).result, "failed");
    // A directory is not a regular file: Wazuh calls that invalid.
    let dir = one("pcre2", "f:/etc/dir", &env);
    assert_eq!(dir.result, "not applicable");
    assert!(dir.reason.contains("not a regular file"), "{}", dir.reason);
    // A list: found when any file is.
    assert_eq!(one("pcre2", "f:/etc/missing,/etc/x.conf", &env).result, "passed");
    // Content checks.
    assert_eq!(one("pcre2", "f:/etc/x.conf -> r:^PermitRootLogin\\s+no$", &env).result, "passed");
    assert_eq!(one("pcre2", "f:/etc/x.conf -> r:^PermitRootLogin\\s+yes", &env).result, "failed");
    // Content of a missing file: not applicable, with Wazuh's reason.
    let missing = one("pcre2", "f:/etc/missing -> r:anything", &env);
    assert_eq!(missing.result, "not applicable");
    assert!(missing.reason.starts_with("Could not open file '/etc/missing'"), "{}", missing.reason);
    // `not` leaves "not applicable" alone.
    assert_eq!(one("pcre2", "not f:/etc/missing -> r:anything", &env).result, "not applicable");
    // A list with a missing file and a match elsewhere is found.
    assert_eq!(one("pcre2", "f:/etc/missing,/etc/x.conf -> r:MaxAuthTries", &env).result, "passed");
    // Paths cannot climb out of the root.
    assert_eq!(one("pcre2", "f:/../../etc/x.conf -> r:MaxAuthTries", &env).result, "passed");
}

#[test]
fn absolute_symlinks_resolve_inside_the_root() {
    let root = tree(&[("lib/systemd/system/nftables.service", "[Unit]\n"), ("etc/real.conf", "key=1\n")]);
    let wants = root.join("etc/systemd/system/multi-user.target.wants");
    std::fs::create_dir_all(&wants).unwrap();
    std::os::unix::fs::symlink("/lib/systemd/system/nftables.service", wants.join("nftables.service")).unwrap();
    std::os::unix::fs::symlink("/lib/systemd/system/absent.service", wants.join("absent.service")).unwrap();
    std::os::unix::fs::symlink("../real.conf", root.join("etc/systemd/link.conf")).unwrap();
    let env = env_at(&root);
    assert_eq!(one("pcre2", "f:/etc/systemd/system/multi-user.target.wants/nftables.service", &env).result, "passed");
    assert_eq!(one("pcre2", "f:/etc/systemd/system/multi-user.target.wants/absent.service", &env).result, "failed");
    assert_eq!(one("pcre2", "f:/etc/systemd/link.conf -> key=1", &env).result, "passed");
}

#[test]
fn directory_rules() {
    let root = tree(&[
        ("etc/modprobe.d/usb.conf", "install usb-storage /bin/false\n"),
        ("etc/modprobe.d/other.txt", "install usb-storage /bin/true\n"),
        ("etc/modprobe.d/sub/deep.conf", "blacklist firewire-core\n"),
        ("home/alice/.netrc", "machine x\n"),
    ]);
    let env = env_at(&root);
    assert_eq!(one("pcre2", "d:/etc/modprobe.d", &env).result, "passed");
    assert_eq!(one("pcre2", "d:/etc/nothing", &env).result, "failed");
    assert_eq!(one("pcre2", "not d:/etc/nothing", &env).result, "passed");
    // File-name filter (regex), then content.
    assert_eq!(one("pcre2", "d:/etc/modprobe.d -> r:\\.conf$", &env).result, "passed");
    assert_eq!(one("pcre2", "d:/etc/modprobe.d -> r:\\.rules$", &env).result, "failed");
    assert_eq!(
        one("pcre2", "d:/etc/modprobe.d -> r:\\.conf$ -> r:^install usb-storage /bin/false$", &env).result,
        "passed"
    );
    // `.txt` is filtered out, so its /bin/true line does not count.
    assert_eq!(one("pcre2", "d:/etc/modprobe.d -> r:\\.conf$ -> r:/bin/true", &env).result, "failed");
    // Subdirectories are searched.
    assert_eq!(one("pcre2", "d:/etc/modprobe.d -> r:\\.conf$ -> r:firewire", &env).result, "passed");
    // Exact name (PCRE2 policies) and OS_Match (OS_Regex policies).
    assert_eq!(one("pcre2", "d:/etc/modprobe.d -> usb.conf -> r:usb-storage", &env).result, "passed");
    assert_eq!(one("pcre2", "d:/etc/modprobe.d -> usb -> r:usb-storage", &env).result, "failed");
    assert_eq!(one("osregex", "d:/etc/modprobe.d -> usb -> r:usb-storage", &env).result, "passed");
    assert_eq!(one("osregex", "d:/home -> ^.rhosts$|^.netrc$", &env).result, "passed");
    assert_eq!(one("osregex", "d:/home -> ^.rhosts$", &env).result, "failed");
    // A missing directory with a filter: not applicable.
    let na = one("pcre2", "d:/etc/nothing -> r:. -> r:x", &env);
    assert_eq!(na.result, "not applicable");
    assert!(na.reason.contains("Could not open dir '/etc/nothing'"), "{}", na.reason);
}

#[test]
fn process_rules_read_comm_and_argv0() {
    let env = env_at(&fixture("desktop_bad"));
    assert_eq!(one("pcre2", "p:anydesk", &env).result, "passed");
    assert_eq!(one("pcre2", "p:cupsd", &env).result, "passed");
    assert_eq!(one("pcre2", "not p:teamviewerd", &env).result, "passed");
    assert_eq!(one("pcre2", "p:r:^x11v", &env).result, "passed");
    // The base name of argv[0] counts too (comm is cut at 15 characters).
    let root = tree(&[
        ("proc/77/comm", "unattended-upgr\n"),
        ("proc/77/cmdline", "/usr/bin/python3\0/usr/share/unattended-upgrades/unattended-upgrade-shutdown\0"),
    ]);
    let env = env_at(&root);
    assert_eq!(one("pcre2", "p:unattended-upgr", &env).result, "passed");
    assert_eq!(one("pcre2", "p:python3", &env).result, "passed");
    assert_eq!(one("pcre2", "p:/usr/bin/python3", &env).result, "passed");
    assert_eq!(one("pcre2", "p:sshd", &env).result, "failed");
    // No readable process list: not applicable.
    let mut env = env_at(&root);
    env.proc_root = root.join("no-proc");
    assert_eq!(one("pcre2", "p:sshd", &env).result, "not applicable");
}

fn commands_env() -> Env {
    Env { allow_commands: true, command_timeout: Duration::from_secs(10), ..env_at(&fixture("desktop_good")) }
}

#[test]
fn command_rules_run_without_a_shell() {
    let env = commands_env();
    assert_eq!(one("pcre2", "c:echo hello world -> hello world", &env).result, "passed");
    assert_eq!(one("pcre2", "c:echo hello -> r:^hel+o$", &env).result, "passed");
    assert_eq!(one("pcre2", "c:echo hello -> r:bye", &env).result, "failed");
    assert_eq!(one("pcre2", "not c:echo hello -> r:bye", &env).result, "passed");
    // No shell: `|` is an argument to echo.
    assert_eq!(one("pcre2", "c:echo a | wc -l -> r:^a \\| wc -l$", &env).result, "passed");
    // Double quotes group words; single quotes are ordinary characters (w_strtok).
    assert_eq!(one("pcre2", "c:sh -c \"echo one; echo two\" -> two", &env).result, "passed");
    assert_eq!(one("pcre2", "c:echo it\\ is -> it is", &env).result, "passed");
    // Stderr lines count, and a non-zero exit status does not make the rule invalid.
    assert_eq!(one("pcre2", "c:sh -c \"echo oops >&2; exit 3\" -> r:^oops$", &env).result, "passed");
    // Without a pattern: the command could run.
    assert_eq!(one("pcre2", "c:true", &env).result, "passed");
    // Numeric comparison on command output.
    assert_eq!(one("pcre2", "c:echo maxauthtries 4 -> n:^maxauthtries (\\d+) compare <= 4", &env).result, "passed");
}

#[test]
fn missing_command_and_disabled_commands_are_not_applicable() {
    let env = commands_env();
    let missing = one("pcre2", "c:/nonexistent/bposhield-cmd --flag -> r:x", &env);
    assert_eq!(missing.result, "not applicable");
    assert!(missing.reason.contains("Invalid path or wrong permissions to run command"), "{}", missing.reason);
    // `not` does not turn "could not run" into a pass.
    assert_eq!(one("pcre2", "not c:/nonexistent/bposhield-cmd -> r:x", &env).result, "not applicable");
    let disabled = one("pcre2", "c:echo hi -> hi", &env_at(&fixture("desktop_good")));
    assert_eq!(disabled.result, "not applicable");
    assert!(disabled.reason.contains("allow_commands = false"), "{}", disabled.reason);
}

#[test]
fn command_timeout_kills_the_command() {
    let env = Env { command_timeout: Duration::from_millis(300), ..commands_env() };
    let started = Instant::now();
    let r = one("pcre2", "c:sh -c \"sleep 30; echo late\" -> r:late", &env);
    assert_eq!(r.result, "not applicable");
    assert!(r.reason.starts_with("Timeout overtaken running command"), "{}", r.reason);
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[test]
fn same_command_runs_once_per_scan() {
    let root = tree(&[]);
    let counter = root.join("count");
    let cmd = format!("c:sh -c \"echo x >> {}; echo ok\" -> ok", counter.display());
    let env = Env { allow_commands: true, ..env_at(&root) };
    let report = run_checks("pcre2", &[("all", &[cmd.as_str()]), ("all", &[cmd.as_str()])], &env);
    assert_eq!(results(&report), vec![(1, "passed"), (2, "passed")]);
    assert_eq!(std::fs::read_to_string(counter).unwrap().lines().count(), 1);
}

#[test]
fn registry_rules_are_not_applicable_on_linux() {
    let yaml = policy_with(
        "pcre2",
        &[("all", &["r:HKEY_LOCAL_MACHINE\\System\\CurrentControlSet\\Control\\Lsa -> LimitBlankPasswordUse -> 1"])],
    );
    let v = sca::validate(&yaml);
    assert!(v.errors.is_empty(), "{:?}", v.errors);
    assert!(v.warnings.iter().any(|w| w.code == codes::WINDOWS_ONLY));
    let r = sca::run(&Policy::parse(&yaml).unwrap(), &env_at(&fixture("desktop_good")));
    assert_eq!(r.checks[0].result, "not applicable");
    assert!(r.checks[0].reason.contains("Windows"));
}

// ---------------------------------------------------------------------------- patterns

#[test]
fn pattern_forms_literal_regex_negation_and() {
    let root = tree(&[("f", "# Port 22\nPort 2222\nProtocol 2\nX11Forwarding yes\n")]);
    let env = env_at(&root);
    let cases: &[(&str, &str, &str)] = &[
        // Literal: the whole line.
        ("pcre2", "f:/f -> Port 2222", "passed"),
        ("pcre2", "f:/f -> Port 222", "failed"),
        ("pcre2", "f:/f -> port 2222", "failed"),
        // OS_Regex policies compare literals case-insensitively (Wazuh 4.x strcasecmp).
        ("osregex", "f:/f -> port 2222", "passed"),
        ("pcre2", "f:/f -> r:^Protocol 2$", "passed"),
        ("pcre2", "f:/f -> r:^protocol", "failed"),
        ("osregex", "f:/f -> r:^protocol", "passed"),
        // A lone `!r:` is Wazuh's NIN rule: it holds when no line matches.
        ("pcre2", "f:/f -> !r:^#", "failed"),
        ("pcre2", "f:/f -> !r:^PermitRootLogin", "passed"),
        // `&&`: all on the same line.
        ("pcre2", "f:/f -> !r:^# && r:Port && r:22", "passed"),
        ("pcre2", "f:/f -> !r:^# && r:Port && r:2222$ && r:Protocol", "failed"),
        ("pcre2", "f:/f -> r:^# && r:Port 22$", "passed"),
        ("pcre2", "f:/f -> !r:^# && r:Port 22$", "failed"),
        ("osregex", "f:/f -> !r:^# && r:Port && !r:\\s*\\t*22$", "failed"),
        ("osregex", "f:/f -> r:X11Forwarding\\s+yes && !r:^#", "passed"),
    ];
    for (engine, rule, want) in cases {
        assert_eq!(one(engine, rule, &env).result, *want, "{engine} {rule}");
    }
}

#[test]
fn numeric_comparisons_every_operator() {
    let root = tree(&[("login.defs", "#PASS_MAX_DAYS 1\nPASS_MAX_DAYS\t365\n")]);
    let env = env_at(&root);
    let cases = [
        ("<", 366, true),
        ("<", 365, false),
        ("<=", 365, true),
        ("<=", 364, false),
        ("==", 365, true),
        ("==", 36, false),
        ("!=", 364, true),
        ("!=", 365, false),
        (">=", 365, true),
        (">=", 366, false),
        (">", 364, true),
        (">", 365, false),
    ];
    for engine in ["pcre2", "osregex"] {
        for (op, value, pass) in cases {
            let rule = format!("f:/login.defs -> n:^PASS_MAX_DAYS\\s*\\t*(\\d+) compare {op} {value}");
            let want = if pass { "passed" } else { "failed" };
            assert_eq!(one(engine, &rule, &env).result, want, "{engine}: {rule}");
        }
    }
    // Negative values and a comparison inside `&&`.
    assert_eq!(
        one("pcre2", "f:/login.defs -> n:^PASS_MAX_DAYS\\s+(\\d+) compare > -1 && !r:^#", &env).result,
        "passed"
    );
    // Wazuh 4.x's non-standard `=>` is read as `>=` with a warning.
    let yaml = policy_with("pcre2", &[("all", &["f:/login.defs -> n:^PASS_MAX_DAYS\\s+(\\d+) compare => 365"])]);
    let p = Policy::parse(&yaml).unwrap();
    assert!(p.warnings.iter().any(|w| w.code == codes::DEPRECATED));
    assert_eq!(sca::run(&p, &env).checks[0].result, "passed");
}

#[test]
fn osregex_translation_table() {
    let table: &[(&str, &str)] = &[
        (r"^\s*PermitRootLogin\s+no", r"(?i)^[ ]*PermitRootLogin[ ]+no"),
        (r"\w+", r"(?i)[A-Za-z0-9@_-]+"),
        (r"\W\d\D\S", r"(?i)[^A-Za-z0-9@_-][0-9][^0-9][^ ]"),
        (r"\t", r"(?i)\t"),
        (r"^password\.+pam_unix.so", r"(?i)^password(?s:.)+pam_unix\.so"),
        (r"a+b*", r"(?i)a\+b\*"),
        (r"requisite|^required$", r"(?i)requisite|^required$"),
        (r"deny\W+\(incoming\)", r"(?i)deny[^A-Za-z0-9@_-]+\(incoming\)"),
        (r"cost \$5", r"(?i)cost \$5"),
        (r"a^b$c", r"(?i)a\^b\$c"),
        (r"(\d+)s", r"(?i)([0-9]+)s"),
        (r"[x]{2}?", r"(?i)\[x\]\{2\}\?"),
    ];
    for (os, want) in table {
        assert_eq!(translate_osregex(os).unwrap(), *want, "{os}");
    }
    assert!(translate_osregex(r"\p").unwrap().starts_with("(?i)[()*+,"));
    for bad in [r"\q", r"(a(b))", r"(a|b)", r"(a", r"a)", r"abc\"] {
        assert!(translate_osregex(bad).is_err(), "{bad} should be rejected");
    }
    // Behaviour: `\s` is a space only, `\.` is any character, `.` a dot, case-insensitive.
    let root = tree(&[("f", "PermitRootLogin\tno\nkey:value\nfilexconf\n")]);
    let env = env_at(&root);
    assert_eq!(one("osregex", r"f:/f -> r:PermitRootLogin\s+no", &env).result, "failed");
    assert_eq!(one("osregex", r"f:/f -> r:PermitRootLogin\t+no", &env).result, "passed");
    assert_eq!(one("osregex", r"f:/f -> r:^KEY\p", &env).result, "passed");
    assert_eq!(one("osregex", r"f:/f -> r:^file\.conf$", &env).result, "passed");
    assert_eq!(one("osregex", r"f:/f -> r:^file.conf$", &env).result, "failed");
    assert_eq!(one("pcre2", r"f:/f -> r:^file.conf$", &env).result, "passed");
}

#[test]
fn unsupported_pcre2_constructs_load_but_are_not_applicable() {
    let root = tree(&[("f", "PermitRootLogin no\n")]);
    let yaml = policy_with(
        "pcre2",
        &[
            ("all", &["f:/f -> r:^(?!#)PermitRootLogin"]),
            ("all", &["f:/f -> r:(\\w+) \\1"]),
            ("all", &["f:/f -> r:no\\Z"]),
        ],
    );
    let v = sca::validate(&yaml);
    assert!(v.errors.is_empty(), "{:?}", v.errors);
    let unsupported: Vec<_> = v.warnings.iter().filter(|w| w.code == codes::UNSUPPORTED_REGEX).collect();
    assert_eq!(unsupported.len(), 2, "{:?}", v.warnings);
    assert!(unsupported[0].message.contains("look-ahead"));
    assert!(unsupported[1].message.contains("back-reference"));
    let report = sca::run(&Policy::parse(&yaml).unwrap(), &env_at(&root));
    assert_eq!(results(&report), vec![(1, "not applicable"), (2, "not applicable"), (3, "passed")]);
    assert!(report.checks[0].reason.contains("look-ahead"), "{}", report.checks[0].reason);
}

/// A published policy may carry a pattern that does not compile (an unbalanced group,
/// a stray quote, `compare` without a value). Wazuh loads such a policy and reports only
/// that check as not applicable; so do we, with a warning naming the pattern.
#[test]
fn malformed_patterns_leave_the_policy_loadable() {
    let root = tree(&[("svc.conf", "owner root\nmode 0600\n")]);
    let yaml = policy_with(
        "pcre2",
        &[
            ("all", &["f:/svc.conf -> r:^owner\\s+root$"]),
            ("all", &["f:/svc.conf -> r:^mode\\s*(\" && r:0600"]),
            ("all", &["f:/svc.conf -> n:^mode\\s+(\\d+) compare <="]),
            ("any", &["f:/svc.conf -> r:[unclosed", "f:/svc.conf -> r:^mode"]),
        ],
    );
    let v = sca::validate(&yaml);
    assert!(v.errors.is_empty(), "{:?}", v.errors);
    let codes_seen: Vec<&str> = v.warnings.iter().map(|w| w.code).collect();
    assert_eq!(
        codes_seen,
        vec![codes::INVALID_REGEX, codes::INVALID_NUMERIC, codes::INVALID_REGEX],
        "{:?}",
        v.warnings
    );
    assert!(v.warnings[0].message.contains("not applicable"), "{}", v.warnings[0].message);
    let report = sca::run(&Policy::parse(&yaml).unwrap(), &env_at(&root));
    // `any`: the good rule decides; the broken one only matters when nothing else does.
    assert_eq!(results(&report), vec![(1, "passed"), (2, "not applicable"), (3, "not applicable"), (4, "passed")]);
    assert!(report.checks[1].reason.contains("invalid regex"), "{}", report.checks[1].reason);
    // The same in an OS_Regex policy (Wazuh 4.x): `\q` is no OS_Regex escape.
    let yaml =
        policy_with("osregex", &[("all", &["f:/svc.conf -> r:^owner\\q"]), ("all", &["f:/svc.conf -> r:^owner"])]);
    assert!(sca::validate(&yaml).errors.is_empty());
    let report = sca::run(&Policy::parse(&yaml).unwrap(), &env_at(&root));
    assert_eq!(results(&report), vec![(1, "not applicable"), (2, "passed")]);
}

// ---------------------------------------------------------------------------- conditions

#[test]
fn conditions_follow_the_wazuh_truth_table() {
    let root = tree(&[("yes", "")]);
    let env = env_at(&root);
    let (t, f, na) = ("f:/yes", "f:/no", "f:/no -> r:x");
    let cases: &[(&str, &[&str], &str)] = &[
        ("all", &[t, t], "passed"),
        ("all", &[t, f], "failed"),
        ("all", &[na, f], "failed"),
        ("all", &[t, na], "not applicable"),
        ("any", &[f, t], "passed"),
        ("any", &[na, t], "passed"),
        ("any", &[f, f], "failed"),
        ("any", &[f, na], "not applicable"),
        ("none", &[f, f], "passed"),
        ("none", &[f, t], "failed"),
        ("none", &[na, t], "failed"),
        ("none", &[f, na], "not applicable"),
    ];
    let checks: Vec<(&str, &[&str])> = cases.iter().map(|(c, r, _)| (*c, *r)).collect();
    let report = run_checks("pcre2", &checks, &env);
    for (i, (cond, rules, want)) in cases.iter().enumerate() {
        assert_eq!(report.checks[i].result, *want, "{cond} {rules:?}: {}", report.checks[i].reason);
    }
    assert_eq!((report.passed, report.failed, report.not_applicable), (4, 5, 3));
    assert_eq!(report.score, 44); // 100 * 4 / 9, rounded down
}

#[test]
fn requirements_unmet_make_the_policy_not_applicable() {
    let root = tree(&[("etc/os-release", "ID=fedora\n"), ("etc/passwd", "root:x:0:0::/root:/bin/sh\n")]);
    let yaml = "policy:\n  id: p\n  file: p.yml\n  name: P\n  description: D\nrequirements:\n  title: Debian only\n  description: D\n  condition: all\n  rules:\n    - 'f:/etc/os-release -> r:^ID=debian'\nchecks:\n  - id: 1\n    title: passwd exists\n    condition: all\n    rules:\n      - 'f:/etc/passwd'\n";
    let report = sca::run(&Policy::parse(yaml).unwrap(), &env_at(&root));
    assert_eq!(report.not_applicable, 1);
    assert_eq!(report.score, 0);
    assert!(
        report.checks[0].reason.starts_with("policy requirements not met: Debian only"),
        "{}",
        report.checks[0].reason
    );
    // Met: the check runs.
    std::fs::write(root.join("etc/os-release"), "ID=debian\n").unwrap();
    let report = sca::run(&Policy::parse(yaml).unwrap(), &env_at(&root));
    assert_eq!(results(&report), vec![(1, "passed")]);
    assert_eq!(report.score, 100);
}

#[test]
fn variables_expand_to_lists_in_the_location() {
    let root = tree(&[
        ("etc/pam.d/system-auth", "password requisite pam_pwquality.so retry=3\n"),
        ("etc/ssh/sshd_config", "Port 22\n"),
    ]);
    let yaml = "policy:\n  id: v\n  file: v.yml\n  name: V\n  description: D\nrequirements:\n  title: sshd\n  description: D\n  condition: any\n  rules:\n    - 'f:$sshd_file'\nvariables:\n  $sshd_file: /etc/ssh/sshd_config\n  $sshd_file_list: /nope,/etc/ssh/sshd_config\n  $pam_d_files: /etc/pam.d/common-password,/etc/pam.d/system-auth\n  $prog: sshd_config\nchecks:\n  - id: 1\n    title: pam\n    condition: all\n    rules:\n      - 'f:$pam_d_files -> r:pam_pwquality.so && n:retry=(\\d+) compare <= 3'\n  - id: 2\n    title: longest name first\n    condition: all\n    rules:\n      - 'f:$sshd_file_list -> r:^Port'\n  - id: 3\n    title: inside a path\n    condition: all\n    rules:\n      - 'f:/etc/ssh/$prog'\n  - id: 4\n    title: not in the pattern part\n    condition: all\n    rules:\n      - 'd:/etc/ssh -> $prog'\n";
    let p = Policy::parse(yaml).unwrap();
    assert_eq!(p.variables.len(), 4);
    assert_eq!(p.regex_type, RegexType::OsRegex);
    let report = sca::run(&p, &env_at(&root));
    assert_eq!(results(&report), vec![(1, "passed"), (2, "passed"), (3, "passed"), (4, "failed")]);
}

#[test]
fn severity_and_compliance_forms() {
    let yaml = "policy:\n  id: s\n  file: s.yml\n  name: S\n  description: D\nchecks:\n  - id: 1\n    title: a\n    compliance:\n      - pci_dss: [\"8.2.8\"]\n      - bposhield: [critical]\n    condition: all\n    rules:\n      - 'f:/etc/x'\n  - id: 2\n    title: b\n    compliance:\n      - pci_dss: [\"1.1\"]\n    condition: all\n    rules:\n      - 'f:/etc/x'\n";
    let p = Policy::parse(yaml).unwrap();
    let report = sca::run(&p, &env_at(&tree(&[])));
    assert_eq!(report.checks[0].severity, "critical");
    assert_eq!(report.checks[1].severity, "normal");
    assert_eq!(p.checks[0].compliance[0], ("pci_dss".to_string(), vec!["8.2.8".to_string()]));
}

// ---------------------------------------------------------------------------- parse errors

#[test]
fn parse_reports_every_error_with_its_line() {
    let yaml = r#"policy:
  id: "broken"
  file: "broken.yml"
  description: "no name"
checks:
  - id: 1
    title: "ok"
    condition: all
    rules:
      - 'f:/etc/passwd'
  - id: 1
    title: "duplicate id"
    condition: all
    rules:
      - 'f:/etc/passwd'
  - id: 3
    title: "bad condition"
    condition: most
    rules:
      - 'f:/etc/passwd'
  - id: 4
    title: "bad rule type and bad regex"
    condition: all
    rules:
      - 'x:/etc/passwd'
      - 'f:/etc/passwd -> r:(unclosed'
      - 'f:/etc/passwd -> n:^x(\d+) compare ~ 3'
  - id: -5
    condition: all
    rules:
      - 'f:/etc/passwd'
  - id: 6
    title: "no rules"
    condition: any
    rules: []
  - id: 7
    title: "osregex"
    regex_type: osregex
    condition: all
    rules:
      - 'f:/etc/passwd -> r:\q'
      - 'f:/etc/passwd -> n:^PASS(\d+)'
"#;
    let errors = Policy::parse(yaml).unwrap_err();
    let got: Vec<(usize, &str)> = errors.iter().map(|e| (e.line, e.code)).collect();
    let want = vec![
        (2, codes::MISSING_FIELD),       // policy has no name
        (11, codes::DUPLICATE_CHECK_ID), // id 1 again
        (18, codes::UNKNOWN_CONDITION),  // most
        (25, codes::INVALID_RULE),       // x:
        (28, codes::MISSING_FIELD),      // no title (column of the mapping)
        (28, codes::INVALID_CHECK_ID),   // -5 (column of the value)
        (35, codes::MISSING_FIELD),      // rules: []
    ];
    assert_eq!(got, want, "{errors:#?}");
    // Malformed patterns do not stop a policy from loading (Wazuh compiles them only
    // when it evaluates them): they are warnings.
    let warned: Vec<(usize, &str)> = sca::validate(yaml).warnings.iter().map(|w| (w.line, w.code)).collect();
    for want in [
        (26, codes::INVALID_REGEX),   // (unclosed
        (27, codes::INVALID_NUMERIC), // compare ~
        (41, codes::INVALID_REGEX),   // \q in OS_Regex
        (42, codes::INVALID_NUMERIC), // no compare
    ] {
        assert!(warned.contains(&want), "{want:?} not in {warned:?}");
    }
    for e in &errors {
        assert!(e.to_string().starts_with(&format!("line {}: BPS-SCA-00", e.line)), "{e}");
    }
    assert!(errors[1].message.contains("line 6"), "{}", errors[1].message);
}

#[test]
fn yaml_syntax_errors_and_non_policies() {
    let errors = Policy::parse("policy:\n  id: x\n  name: [unclosed\nchecks: []\n").unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, codes::YAML);
    assert!(errors[0].line >= 3, "{:?}", errors[0]);
    assert_eq!(Policy::parse("").unwrap_err()[0].code, codes::NOT_A_POLICY);
    assert_eq!(Policy::parse("- a\n- b\n").unwrap_err()[0].code, codes::NOT_A_POLICY);
    let missing = Policy::parse("policy:\n  id: x\n  name: n\n  description: d\n").unwrap_err();
    assert_eq!((missing[0].line, missing[0].code), (1, codes::MISSING_FIELD));
    assert!(missing[0].message.contains("checks"));
}

#[test]
fn validate_returns_warnings_for_unknown_fields_and_duplicate_keys() {
    let yaml = "policy:\n  id: w\n  name: W\n  description: D\n  colour: blue\nchecks:\n  - id: 1\n    title: t\n    title: again\n    condition: all required\n    rules:\n      - 'f:/etc/$undefined_var'\n";
    let v = sca::validate(yaml);
    assert!(v.errors.is_empty(), "{:?}", v.errors);
    let codes_seen: Vec<(usize, &str)> = v.warnings.iter().map(|w| (w.line, w.code)).collect();
    assert!(codes_seen.contains(&(2, codes::MISSING_FIELD)), "{codes_seen:?}"); // no `file`
    assert!(codes_seen.contains(&(5, codes::UNKNOWN_FIELD)), "{codes_seen:?}");
    assert!(codes_seen.contains(&(9, codes::DUPLICATE_KEY)), "{codes_seen:?}");
    assert!(codes_seen.contains(&(10, codes::DEPRECATED)), "{codes_seen:?}");
    assert!(codes_seen.contains(&(12, codes::UNDEFINED_VARIABLE)), "{codes_seen:?}");
}

// ---------------------------------------------------------------------------- shipped content

#[test]
fn shipped_baselines_parse_without_errors_or_warnings() {
    for name in ["bposhield_floor_desktop.yml", "bposhield_server.yml"] {
        let v = sca::validate(&content(name));
        assert!(v.errors.is_empty(), "{name}: {:#?}", v.errors);
        assert!(v.warnings.is_empty(), "{name}: {:#?}", v.warnings);
        let p = Policy::parse(&content(name)).unwrap();
        assert!((20..=40).contains(&p.checks.len()), "{name}: {} checks", p.checks.len());
        assert_eq!(p.regex_type, RegexType::Pcre2);
        assert!(p.checks.iter().any(|c| c.severity() == "critical"));
        let range = if name.contains("desktop") { 90000..91000 } else { 91000..92000 };
        assert!(p.checks.iter().all(|c| range.contains(&c.id)), "{name}: ids outside {range:?}");
        assert_eq!(p.file.as_deref(), Some(name));
    }
}

#[test]
fn desktop_baseline_on_a_compliant_desktop() {
    let p = Policy::parse(&content("bposhield_floor_desktop.yml")).unwrap();
    let report = sca::run(&p, &env_at(&fixture("desktop_good")));
    assert_eq!(report.policy_id, "bposhield_floor_desktop");
    let failed: Vec<_> = report.checks.iter().filter(|c| c.result == "failed").map(|c| (c.id, &c.reason)).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    // Not applicable: LightDM is not installed (90081).
    assert_eq!(ids_with(&report, "not applicable"), vec![90081], "{:#?}", report.checks);
    assert_eq!(report.score, 100);
    assert_eq!(report.passed, 39);
}

#[test]
fn desktop_baseline_on_a_non_compliant_desktop() {
    let p = Policy::parse(&content("bposhield_floor_desktop.yml")).unwrap();
    let report = sca::run(&p, &env_at(&fixture("desktop_bad")));
    let failed = ids_with(&report, "failed");
    let expected = [
        90001, 90002, 90003, 90005, // screen lock
        90010, 90011, 90012, 90013, // USB, automount, Bluetooth
        90020, 90021, // firewall
        90030, 90031, 90032, 90033, // updates
        90040, 90041, 90042, 90043, 90044, 90046, 90047, 90048, // passwords, accounts
        90060, 90061, 90063, // AnyDesk, TeamViewer, VNC
        90070, 90071, 90073, 90074, 90075, // services
        90080, 90081, // autologin
        90082, // no time sync
    ];
    assert_eq!(failed, expected, "{:#?}", report.checks);
    // No dconf locks directory at all: the content check cannot be made (Wazuh: invalid).
    assert_eq!(ids_with(&report, "not applicable"), vec![90004]);
    assert!(report.score < 25, "score {}", report.score);
    let critical_failed = report.checks.iter().filter(|c| c.result == "failed" && c.severity == "critical").count();
    assert_eq!(critical_failed, 13);
    let r = report.checks.iter().find(|c| c.id == 90001).unwrap();
    assert!(r.reason.contains("idle-delay"), "{}", r.reason);
}

#[test]
fn server_baseline_on_compliant_and_non_compliant_servers() {
    let p = Policy::parse(&content("bposhield_server.yml")).unwrap();
    let good = sca::run(&p, &env_at(&fixture("server_good")));
    let failed: Vec<_> = good.checks.iter().filter(|c| c.result == "failed").map(|c| (c.id, &c.reason)).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    // Not applicable: no update-notifier on Debian (91023), no rsyslog-style
    // files are needed; ufw absent but nftables enabled passes 91070.
    assert_eq!(ids_with(&good, "not applicable"), vec![91023], "{:#?}", good.checks);
    assert_eq!(good.score, 100);

    let bad = sca::run(&p, &env_at(&fixture("server_bad")));
    let failed = ids_with(&bad, "failed");
    for id in [91000, 91001, 91003, 91005, 91010, 91011, 91020, 91030, 91050, 91070] {
        assert!(failed.contains(&id), "{id} should fail: {:#?}", bad.checks.iter().find(|c| c.id == id));
    }
    let root = bad.checks.iter().find(|c| c.id == 91000).unwrap();
    assert!(root.reason.contains("PermitRootLogin"), "{}", root.reason);
    assert!(bad.score < 50, "{}", bad.score);
}

#[test]
fn desktop_baseline_does_not_apply_to_a_server() {
    let p = Policy::parse(&content("bposhield_floor_desktop.yml")).unwrap();
    let report = sca::run(&p, &env_at(&fixture("server_good")));
    assert_eq!(report.not_applicable as usize, report.checks.len());
    assert!(report.checks[0].reason.contains("requirements not met"));
}

// ---------------------------------------------------------------------------- Wazuh policies

#[test]
fn wazuh_policies_load_unchanged() {
    let dir = fixture("wazuh");
    let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    assert!(names.len() >= 3);
    for path in names {
        let text = std::fs::read_to_string(&path).unwrap();
        let v = sca::validate(&text);
        assert!(v.errors.is_empty(), "{}: {:#?}", path.display(), v.errors);
        assert!(v.warnings.is_empty(), "{}: {:#?}", path.display(), v.warnings);
        let p = Policy::parse(&text).unwrap();
        assert!(!p.checks.is_empty());
        let expected = if path.ends_with("cis_debian13_excerpt.yml") { RegexType::Pcre2 } else { RegexType::OsRegex };
        assert_eq!(p.regex_type, expected, "{}", path.display());
    }
    let deb12 = Policy::parse(&std::fs::read_to_string(dir.join("cis_debian12_excerpt.yml")).unwrap()).unwrap();
    let pcre = deb12.checks.iter().find(|c| c.id == 33140).unwrap();
    assert_eq!(pcre.regex_type, RegexType::Pcre2);
    assert!(deb12.checks[1].impact.is_some());
    let deb13 = Policy::parse(&std::fs::read_to_string(dir.join("cis_debian13_excerpt.yml")).unwrap()).unwrap();
    assert_eq!(deb13.checks[0].title, "Loader test policy 5");
    assert!(deb13.checks[0].mitre.iter().any(|(k, v)| k == "technique.id" && v.contains(&"T1036".to_string())));
    assert_eq!(deb13.requirements.as_ref().unwrap().title, "Loader test policy 3");
}

#[test]
fn wazuh_unix_audit_runs_on_a_host_tree() {
    let root = tree(&[
        ("etc/ssh/sshd_config", "#Port 22\nPort 2200\nProtocol 2\nPermitRootLogin no\nLoginGraceTime 30s\nMaxAuthTries 6\n"),
        ("etc/passwd", "root:x:0:0::/root:/bin/bash\n"),
        ("etc/shadow", "root:$6$abc$def:19000:0:99999:7:::\nold:$1$abc$def:19000:0:99999:7:::\n"),
        ("etc/pam.d/common-password", "password\trequisite\tpam_pwquality.so retry=3\npassword\t[success=1 default=ignore]\tpam_unix.so obscure sha512\n"),
        ("proc/1/comm", "systemd\n"),
        ("home/bob/.profile", "\n"),
    ]);
    let text = std::fs::read_to_string(fixture("wazuh/sca_unix_audit.yml")).unwrap();
    let report = sca::run(&Policy::parse(&text).unwrap(), &env_at(&root));
    let by_id = |id: i64| report.checks.iter().find(|c| c.id == id).unwrap().result.as_str();
    assert_eq!(by_id(3000), "passed"); // port is not 22
    assert_eq!(by_id(3001), "passed");
    assert_eq!(by_id(3002), "passed");
    assert_eq!(by_id(3007), "passed"); // 30s <= 60
    assert_eq!(by_id(3008), "failed"); // 6 > 4
    assert_eq!(by_id(3010), "passed"); // pwquality retry=3 (other pam files missing)
    assert_eq!(by_id(3016), "not applicable"); // no common-auth
    assert_eq!(by_id(3017), "passed"); // `\.+` = anything, `.` literal
    assert_eq!(by_id(3018), "failed"); // an MD5 hash
    assert_eq!(by_id(3020), "passed"); // no telnetd
    assert_eq!(by_id(3021), "passed"); // no .rhosts / .netrc
}

// ---------------------------------------------------------------------------- performance

#[test]
fn a_200_check_baseline_runs_within_two_seconds() {
    let mut checks: Vec<String> = Vec::new();
    for i in 0..200 {
        let rules = match i % 5 {
            0 => format!("f:/etc/login.defs -> n:^\\s*PASS_MAX_DAYS\\s+(\\d+) compare <= {}", 300 + i),
            1 => format!("d:/etc/dconf/db/local.d -> r:. -> r:^\\s*idle-delay\\s*=\\s*uint32\\s+{}", i % 400),
            2 => format!("not p:r:^proc{i}$"),
            3 => format!("not f:/var/lib/dpkg/info/pkg{i}.list"),
            _ => "d:/etc -> ufw.conf -> r:^ENABLED=yes".to_string(),
        };
        checks.push(format!("  - id: {}\n    title: \"c{i}\"\n    condition: all\n    rules:\n      - '{rules}'\n      - 'f:/etc/passwd -> r:^root:'\n", 95000 + i));
    }
    let yaml = format!(
        "policy:\n  id: perf\n  file: perf.yml\n  name: Perf\n  description: D\n  regex_type: pcre2\nchecks:\n{}",
        checks.concat()
    );
    let started = Instant::now();
    let p = Policy::parse(&yaml).unwrap();
    let report = sca::run(&p, &env_at(&fixture("desktop_good")));
    let elapsed = started.elapsed();
    assert_eq!(report.checks.len(), 200);
    assert_eq!(report.not_applicable, 0);
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

// ---------------------------------------------------------------------------- facts

#[test]
fn facts_from_a_fixture_tree() {
    let root = fixture("facts");
    let env = FactsEnv {
        root: root.clone(),
        proc_root: root.join("proc"),
        allow_commands: false,
        command_timeout: Duration::from_secs(5),
    };
    let f = facts::collect(&env);
    assert_eq!(f.os, "Debian GNU/Linux 12 (bookworm)");
    assert_eq!(f.kernel, "6.1.0-25-amd64");
    assert_eq!(f.packages, 3);
    assert_eq!(f.pending_security_updates, 3);
    assert_eq!(f.updates_pending_since, None);
    assert_eq!(f.firewall, "ufw");
    // 10-bposhield overrides 00-defaults: 240 s idle + 5 s lock delay.
    assert_eq!(f.screen_lock_seconds, Some(245));
    // pwquality.conf.d wins over pwquality.conf and login.defs.
    assert_eq!(f.password_min_length, Some(12));
    assert_eq!(
        f.listening,
        vec![
            "tcp 0.0.0.0:22 sshd".to_string(),
            "tcp 127.0.0.53:53 -".to_string(),
            "tcp6 [::1]:631 -".to_string(),
            "tcp6 [::]:22 sshd".to_string(),
            "udp 127.0.0.53:53 -".to_string(),
        ]
    );
}

#[test]
fn facts_on_the_desktop_fixtures() {
    let good = fixture("desktop_good");
    let f = facts::collect(&FactsEnv {
        root: good.clone(),
        proc_root: good.join("proc"),
        allow_commands: false,
        command_timeout: Duration::from_secs(5),
    });
    assert_eq!(f.os, "Ubuntu 24.04.1 LTS");
    assert_eq!(f.screen_lock_seconds, Some(300));
    assert_eq!(f.password_min_length, Some(14));
    assert_eq!(f.pending_security_updates, 0);
    assert_eq!(f.firewall, "ufw");
    let bad = fixture("desktop_bad");
    let f = facts::collect(&FactsEnv {
        root: bad.clone(),
        proc_root: bad.join("proc"),
        allow_commands: false,
        command_timeout: Duration::from_secs(5),
    });
    assert_eq!(f.screen_lock_seconds, None); // lock disabled
    assert_eq!(f.firewall, "none");
    assert_eq!(f.pending_security_updates, 5);
    assert_eq!(f.password_min_length, Some(8));
    let empty = tree(&[]);
    let f = facts::collect(&FactsEnv {
        root: empty.clone(),
        proc_root: empty.join("proc"),
        allow_commands: false,
        command_timeout: Duration::from_secs(5),
    });
    assert_eq!(f, bposhield_proto::fleet::HostFacts { firewall: "none".into(), ..Default::default() });
}
