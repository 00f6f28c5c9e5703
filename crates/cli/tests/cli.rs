//! The `bposhield` binary end to end: demo seeding, admin commands, configuration
//! errors. Runs the real executable on a fresh data directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bposhield"));
    // The developer's own configuration must not leak into these runs.
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("BPOSHIELD_") && !k.starts_with("BPOSHIELD_TEST_")) {
        c.env_remove(k);
    }
    c
}

fn run(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut c = bin();
    c.arg("--data-dir").arg(dir).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    if let Some(input) = stdin {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bposhield-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn demo_seeds_once_and_admin_commands_work() {
    let dir = tempdir("demo");
    let o = run(&dir, &["demo", "--seed-only"], None);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("freshly seeded") && out.contains("http://127.0.0.1:8080/"), "{out}");
    for user in [
        "admin",
        "iso",
        "hradmin",
        "itadmin",
        "auditor",
        "exec",
        "head.acme",
        "tl.acme01",
        "agent.acme",
        "vendor.kiran",
    ] {
        assert!(out.contains(user), "sign-in for {user} missing: {out}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    }
    let o = run(&dir, &["demo", "--seed-only"], None);
    assert!(text(&o).contains("reusing"), "{}", text(&o));

    // A user from stdin; a weak password is refused with the policy's reason.
    let o = run(
        &dir,
        &["admin", "user", "create", "--username", "rita.iso", "--role", "security_officer"],
        Some("password1234\n"),
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("most commonly used"), "{}", text(&o));
    let o = run(
        &dir,
        &["admin", "user", "create", "--username", "rita.iso", "--role", "security_officer", "--scope", "site:PNQ1"],
        Some("Lantern-Quasar-Mosaic-31\n"),
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = run(
        &dir,
        &["admin", "user", "create", "--username", "rita.iso", "--role", "hr"],
        Some("Lantern-Quasar-Mosaic-31\n"),
    );
    assert!(!o.status.success() && text(&o).contains("taken"), "{}", text(&o));
    let o =
        run(&dir, &["admin", "user", "reset-password", "--username", "rita.iso"], Some("Orchid-Nebula-Ticket-77\n"));
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&dir, &["admin", "user", "disable", "--username", "rita.iso"], None);
    assert!(o.status.success(), "{}", text(&o));

    // A machine token: the secret alone on stdout, once.
    let o = run(
        &dir,
        &["admin", "token", "create", "--role", "it_admin", "--expires", "30d", "--name", "prometheus"],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let token = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    assert!(token.starts_with("bps_") && !token.contains(char::is_whitespace), "{token}");
    let o = run(&dir, &["admin", "token", "create", "--role", "it_admin", "--expires", "400d"], None);
    assert!(!o.status.success() && text(&o).contains("365"), "{}", text(&o));
    let o = run(&dir, &["admin", "token", "create", "--role", "wizard", "--expires", "1d"], None);
    assert!(!o.status.success() && text(&o).contains("unknown role"), "{}", text(&o));

    let o = run(&dir, &["admin", "roles"], None);
    let out = text(&o);
    assert!(out.contains("platform_admin") && out.contains("users.admin"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn configuration_errors_name_the_key() {
    let dir = tempdir("cfg");
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("bad.toml");
    std::fs::write(&cfg, "port = 8080\n[auth]\nlockout_minutez = 3\n").unwrap();
    let o = run(&dir, &["--config", cfg.to_str().unwrap(), "admin", "roles"], None);
    assert!(!o.status.success());
    assert!(text(&o).contains("lockout_minutez"), "{}", text(&o));
    let mut c = bin();
    let o =
        c.args(["--data-dir", dir.to_str().unwrap(), "admin", "roles"]).env("BPOSHIELD_PROT", "1").output().unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("BPOSHIELD_PROT"), "{}", text(&o));
    // The example file is valid as shipped.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bposhield.example.toml");
    let o = run(&dir, &["--config", example.to_str().unwrap(), "admin", "roles"], None);
    assert!(o.status.success(), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The demo and the admin commands on PostgreSQL (when `BPOSHIELD_TEST_PG_URL` is set).
#[test]
fn demo_on_postgres() {
    let Some(admin_url) = std::env::var("BPOSHIELD_TEST_PG_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!("demo_on_postgres skipped: set BPOSHIELD_TEST_PG_URL to run it");
        return;
    };
    use sqlx::Connection;
    let name = format!("bps_cli_{}", uuid::Uuid::now_v7().simple());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let exec = |sql: String| {
        rt.block_on(async {
            let mut c = sqlx::PgConnection::connect(&admin_url).await.unwrap();
            sqlx::query(&sql).execute(&mut c).await.unwrap();
        })
    };
    exec(format!("CREATE DATABASE {name}"));
    // With a password (the test cluster trusts loopback, so any will do) to check it never
    // appears in the output.
    let base = admin_url.rsplit_once('/').unwrap().0.replacen("postgres@", "postgres:s3cret-pw@", 1);
    let url = format!("{base}/{name}");
    let dir = tempdir("pg");
    let o = run(&dir, &["--database-url", &url, "demo", "--seed-only"], None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("freshly seeded"), "{}", text(&o));
    if url.contains("s3cret-pw") {
        assert!(!text(&o).contains("s3cret-pw"), "database password printed: {}", text(&o));
    }
    let o =
        run(&dir, &["--database-url", &url, "admin", "token", "create", "--role", "auditor", "--expires", "2d"], None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!dir.join("bposhield.db").exists(), "nothing written to SQLite when PostgreSQL is configured");
    exec(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One HTTP/1.1 GET with a bearer token; returns the status and the `x-request-id`.
fn get(port: u16, path: &str, token: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n")?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    let status = buf.get(9..12).and_then(|x| x.parse().ok()).ok_or(std::io::ErrorKind::InvalidData)?;
    let rid = buf
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("x-request-id: ").map(str::to_owned))
        .ok_or(std::io::ErrorKind::InvalidData)?;
    Ok((status, rid.trim().to_owned()))
}

/// Durability: a server is killed with SIGKILL at random moments while eight clients
/// cause audited denials (each 403 is acknowledged only after its ledger entry
/// committed). After every crash the log verifies and every acknowledged request is in
/// it. Then a row changed directly in the database is caught with its index.
#[test]
fn ledger_survives_sigkill_and_detects_tampering() {
    let dir = tempdir("ledger");
    let o = run(&dir, &["admin", "token", "create", "--role", "agent", "--name", "floor", "--expires", "1d"], None);
    assert!(o.status.success(), "{}", text(&o));
    let token = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    for round in 0..3u64 {
        let port = free_port();
        let mut child = bin()
            .arg("--data-dir")
            .arg(&dir)
            .args(["serve", "--port", &port.to_string()])
            .env("BPOSHIELD_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while get(port, "/healthz", &token).is_err() {
            assert!(std::time::Instant::now() < deadline, "server did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let (acked, stop, token) = (acked.clone(), stop.clone(), token.clone());
                std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        match get(port, "/api/v1/people", &token) {
                            Ok((403, rid)) => acked.lock().unwrap().push(rid),
                            Ok((status, _)) => panic!("unexpected status {status}"),
                            Err(_) => return,
                        }
                    }
                })
            })
            .collect();
        // A different moment in each round: mid-batch, between batches, early.
        std::thread::sleep(std::time::Duration::from_millis(300 + 350 * round + u64::from(rand_ms())));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for w in workers {
            w.join().unwrap();
        }
        let o = run(&dir, &["ledger", "verify"], None);
        assert!(o.status.success(), "round {round}: {}", text(&o));
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 50, "too few acknowledged requests to mean anything: {}", acked.len());

    // Every acknowledged request id is in an exported, offline-verified bundle.
    let bundle = dir.join("bundle");
    let o = run(&dir, &["ledger", "export", "--out", bundle.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", text(&o));
    let key = String::from_utf8_lossy(&run(&dir, &["ledger", "key"], None).stdout).trim().to_owned();
    let o = bin().args(["ledger", "verify-bundle", bundle.to_str().unwrap(), "--key", &key]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let in_ledger: std::collections::HashSet<String> = std::fs::read_to_string(bundle.join("entries.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let line: serde_json::Value = serde_json::from_str(l).unwrap();
            let entry: serde_json::Value = serde_json::from_str(line["entry"].as_str().unwrap()).unwrap();
            entry["request_id"].as_str().unwrap().to_owned()
        })
        .collect();
    let missing: Vec<&String> = acked.iter().filter(|rid| !in_ledger.contains(*rid)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged entries missing, e.g. {:?}",
        missing.len(),
        acked.len(),
        missing.first()
    );

    // Proofs printed as JSON verify with the ledger crate.
    let b64 = |v: &serde_json::Value| -> [u8; 32] {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap()).unwrap().try_into().unwrap()
    };
    let o = run(&dir, &["ledger", "prove", "--index", "3"], None);
    assert!(o.status.success(), "{}", text(&o));
    let p: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let hashes: Vec<[u8; 32]> = p["hashes"].as_array().unwrap().iter().map(b64).collect();
    let size = p["size"].as_u64().unwrap();
    bposhield_ledger::tree::verify_inclusion(&b64(&p["leaf_hash"]), 3, size, &hashes, &b64(&p["root"])).unwrap();
    let o = run(&dir, &["ledger", "consistency", "--from", "5", "--to", &size.to_string()], None);
    assert!(o.status.success(), "{}", text(&o));
    let c: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let hashes: Vec<[u8; 32]> = c["hashes"].as_array().unwrap().iter().map(b64).collect();
    bposhield_ledger::tree::verify_consistency(5, size, &b64(&c["from_root"]), &b64(&c["to_root"]), &hashes).unwrap();
    let o = run(&dir, &["ledger", "prove", "--index", &size.to_string()], None);
    assert!(!o.status.success() && text(&o).contains("BPS-LED-0001"), "{}", text(&o));

    // Tampering: change one entry in place; verify names its index and fails.
    let db = dir.join("bposhield.db");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let victim = rt.block_on(async {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}", db.display());
        let mut c = <sqlx::AnyConnection as sqlx::Connection>::connect(&url).await.unwrap();
        let n: i64 = sqlx::Row::get(&sqlx::query("SELECT size FROM ledger_head").fetch_one(&mut c).await.unwrap(), 0);
        let victim = n / 2;
        sqlx::query("UPDATE audit_events SET entry = replace(entry, '\"v\":1', '\"v\":2') WHERE ledger_idx = $1")
            .bind(victim)
            .execute(&mut c)
            .await
            .unwrap();
        victim
    });
    let o = run(&dir, &["ledger", "verify"], None);
    assert!(!o.status.success(), "tampering not detected: {}", text(&o));
    assert!(text(&o).contains(&format!("at index {victim}")), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

fn rand_ms() -> u16 {
    rand::random::<u16>() % 400
}

#[test]
fn dlp_scans_directories_and_redacts() {
    let dir = tempdir("dlp");
    std::fs::create_dir_all(dir.join("calls/day2")).unwrap();
    std::fs::write(
        dir.join("calls/one.txt"),
        "agent: the card number please\ncustomer: 2223 0031 2200 3222, ssn 123-45-6789\n",
    )
    .unwrap();
    std::fs::write(dir.join("calls/day2/two.txt"), "order 4411-2233 shipped, tracking 99887766554\n").unwrap();
    let calls = dir.join("calls").display().to_string();
    let one = dir.join("calls/one.txt").display().to_string();
    let o = run(&dir, &["dlp", "scan", &calls], None);
    assert!(o.status.success(), "{}", text(&o));
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let types: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["CARD", "SSN"], "{lines:?}");
    assert_eq!(lines[0]["masked"], "**** **** **** 3222");
    assert!(!String::from_utf8_lossy(&o.stdout).contains("2223 0031"), "no raw value in the output");
    assert!(String::from_utf8_lossy(&o.stderr).contains("scanned 2 file(s)"), "{}", text(&o));
    // Pipelines: a find fails the step; a clean input does not.
    let o = run(&dir, &["dlp", "scan", "--fail-on-find", &calls], None);
    assert_eq!(o.status.code(), Some(3));
    let o = run(&dir, &["dlp", "scan", "--fail-on-find", "-"], Some("nothing to see, order 12345\n"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Redaction keeps the text and the last four digits only.
    let o = run(&dir, &["dlp", "redact", "--style", "last4", &one], None);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("customer: **** **** **** 3222, ssn ***-**-6789"), "{out}");
    let o = run(&dir, &["dlp", "scan", "--types", "nope", &calls], None);
    assert!(!o.status.success() && text(&o).contains("unknown type"), "{}", text(&o));
    // Spoken numbers, a custom pattern and an extra keyword, per call.
    let said = "agent: your card number\ncustomer: four one one one one one one one one one one one one one one one\n\
                badge EMP-123456, seguro 536221234\n";
    let o = run(
        &dir,
        &["dlp", "scan", "--pattern", r"EMPLOYEE_ID=\bEMP-\d{6}\b", "--keyword", "ssn=seguro", "-"],
        Some(said),
    );
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let got: Vec<(&str, bool)> =
        lines.iter().map(|l| (l["type"].as_str().unwrap(), l["spoken"].as_bool().unwrap())).collect();
    assert_eq!(got, [("CARD", true), ("CUSTOM", false), ("SSN", false)], "{lines:?}");
    assert_eq!(lines[1]["pattern"], "EMPLOYEE_ID");
    assert!(!String::from_utf8_lossy(&o.stdout).contains("four one"), "spoken value masked whole");
    let o = run(&dir, &["dlp", "scan", "--pattern", "X=(", "-"], Some(""));
    assert!(!o.status.success() && text(&o).contains("custom pattern `X`"), "{}", text(&o));
    // Redaction to a file, streamed over a multi-chunk input.
    let big = dir.join("big.txt");
    let line = "agent: and the card?\ncustomer: 4111 1111 1111 1111 thanks\n";
    std::fs::write(&big, line.repeat(60_000)).unwrap();
    let red = dir.join("big.redacted.txt");
    let o = run(&dir, &["dlp", "redact", "--out", &red.display().to_string(), &big.display().to_string()], None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("redacted 60000 findings"), "{}", text(&o));
    let out = std::fs::read_to_string(&red).unwrap();
    assert_eq!(out.len(), line.len() * 60_000);
    assert!(!out.contains("4111") && out.contains("**** **** **** ****"));
}

/// Streams 1 GiB of generated call transcripts through `bposhield dlp scan -` and checks
/// the process's peak resident memory (Linux `VmHWM`, reported in the summary) stays
/// under the 64 MiB bound, whatever the input size.
#[test]
fn dlp_scans_a_gibibyte_stream_within_the_memory_bound() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    const GIB: usize = 1 << 30;
    let (block, _) = bposhield_dlp::corpus::generate_text(3, bposhield_dlp::corpus::Profile::Typical, 4 << 20);
    let mut child = Command::new(env!("CARGO_BIN_EXE_bposhield"))
        .args(["dlp", "scan", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let mut sent = 0;
        while sent < GIB {
            let n = block.len().min(GIB - sent);
            stdin.write_all(&block.as_bytes()[..n]).unwrap();
            sent += n;
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let summary = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{summary}");
    assert!(summary.contains(&format!("{:.1} MB", GIB as f64 / 1e6)), "all bytes scanned: {summary}");
    let peak: f64 = summary
        .split("peak memory ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no peak memory in {summary}"));
    assert!(peak < 64.0, "peak memory {peak} MiB for a 1 GiB stream: {summary}");
    let findings: u64 = summary
        .split("; ")
        .find_map(|p| {
            p.strip_suffix(" findings").or_else(|| p.split(" findings").next().filter(|_| p.contains(" findings")))
        })
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    assert!(findings > 100_000, "a GiB of transcripts holds PII: {summary}");
}

/// `bposhield vault rotate-kek --retire` re-wraps every stored object under a new
/// key-encryption key without touching the media, records it in the ledger, and
/// `vault check` reports orphans.
#[test]
fn vault_kek_rotation_and_check() {
    use bposhield_vault::{Keyring, Vault};
    let dir = tempdir("vault");
    std::fs::create_dir_all(&dir).unwrap();
    // Two objects stored through the library, as the server does.
    let keys = Keyring::load_or_create(&dir.join("vault.keys")).unwrap();
    let vault = Vault::open_url("", &dir, keys).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let ids: Vec<_> = rt.block_on(async {
        let mut v = Vec::new();
        for n in 0..2 {
            v.push(vault.put_bytes(format!("recording {n}").as_bytes()).await.unwrap().id);
        }
        v
    });
    let body = |id: &bposhield_vault::ObjectId| std::fs::read(dir.join("blobs/b").join(id.to_string())).unwrap();
    let before: Vec<Vec<u8>> = ids.iter().map(body).collect();

    let o = run(&dir, &["vault", "check"], None);
    assert!(o.status.success() && text(&o).contains("2 objects") && text(&o).contains("consistent"), "{}", text(&o));
    let o = run(&dir, &["vault", "rotate-kek", "--retire"], None);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("added key-encryption key kek-2") && out.contains("re-wrapped 2 objects"), "{out}");
    assert!(out.contains("retired kek-1"), "{out}");

    // Only the new key is left, the media are byte-identical and still read.
    let keys = Keyring::load(&dir.join("vault.keys")).unwrap();
    assert_eq!(keys.ids(), ["kek-2"]);
    assert_eq!(ids.iter().map(body).collect::<Vec<_>>(), before);
    let vault = Vault::open_url("", &dir, keys).unwrap();
    rt.block_on(async {
        for (n, id) in ids.iter().enumerate() {
            let r = vault.open(id).await.unwrap();
            assert_eq!(r.read_range(0..r.len()).await.unwrap(), format!("recording {n}").as_bytes());
        }
    });

    // The rotation is in the ledger.
    let bundle = dir.join("bundle");
    let o = run(&dir, &["ledger", "export", "--out", bundle.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", text(&o));
    let mut all = String::new();
    for f in std::fs::read_dir(&bundle).unwrap() {
        all.push_str(&std::fs::read_to_string(f.unwrap().path()).unwrap_or_default());
    }
    for action in ["vault.kek_added", "vault.rewrapped", "vault.kek_retired"] {
        assert!(all.contains(action), "{action} not in the ledger");
    }

    // A keyring given as a secret file (BPOSHIELD_VAULT_KEYS_FILE): rotate-kek cannot
    // change it and says how; after a line is added to the secret, `rewrap` moves
    // every object to it.
    let secret = dir.join("keys.secret");
    let mut keyring = std::fs::read_to_string(dir.join("vault.keys")).unwrap();
    keyring.push_str(&format!("bposhield-vault-kek-v1 kek-sec {}\n", "5a".repeat(32)));
    std::fs::write(&secret, keyring).unwrap();
    let with_secret = |args: &[&str]| {
        bin().arg("--data-dir").arg(&dir).args(args).env("BPOSHIELD_VAULT_KEYS_FILE", &secret).output().unwrap()
    };
    let o = with_secret(&["vault", "rotate-kek"]);
    assert!(!o.status.success() && text(&o).contains("vault rewrap"), "{}", text(&o));
    let o = with_secret(&["vault", "rewrap"]);
    assert!(o.status.success() && text(&o).contains("re-wrapped 2 objects"), "{}", text(&o));

    // An orphan body (an upload cut short before its header) makes check fail.
    std::fs::write(dir.join("blobs/b").join("00".repeat(16)), b"junk").unwrap();
    let o = run(&dir, &["vault", "check"], None);
    assert!(!o.status.success() && text(&o).contains("orphan body"), "{}", text(&o));
}

/// `bposhield recordings import DIR`: sidecars and index.csv, problems reported by file
/// and line while the rest goes in, and a second run resumes where the first stopped.
#[test]
fn recordings_import_resumes() {
    let dir = tempdir("recimport");
    let o = run(&dir, &["demo", "--seed-only"], None);
    assert!(o.status.success(), "{}", text(&o));
    let objects = || {
        let o = run(&dir, &["vault", "check"], None);
        assert!(o.status.success(), "{}", text(&o));
        let out = text(&o);
        let n = out.split(" objects").next().and_then(|h| h.rsplit(' ').next()).and_then(|n| n.parse::<usize>().ok());
        n.unwrap_or_else(|| panic!("no object count in {out}"))
    };
    let demo_objects = objects();
    assert!(demo_objects >= 300, "the demo's recordings: {demo_objects}");
    let export = dir.join("export");
    std::fs::create_dir_all(&export).unwrap();
    let sidecar = |call: &str, media: &str, extra: &str| {
        format!(
            r#"{{"call_id": "{call}", "agent": "E1", "process": "ACME-CARDS-IN", "started_at": 1795900000,
                "duration_seconds": 95, "channel": "voice", "customer_ref": "C-{call}", "media": "{media}"{extra}}}"#
        )
    };
    std::fs::write(export.join("a.json"), sidecar("IMP-A", "a.wav", r#", "transcript": "card 4111 1111 1111 1111""#))
        .unwrap();
    std::fs::write(export.join("a.wav"), vec![7u8; 300_000]).unwrap();
    std::fs::write(export.join("b.json"), sidecar("IMP-B", "b.wav", "")).unwrap();
    std::fs::write(export.join("bad.json"), "{ not json").unwrap();
    std::fs::write(export.join("c.wav"), vec![9u8; 1000]).unwrap();
    std::fs::write(export.join("d.wav"), vec![5u8; 1000]).unwrap();
    let csv = |d_duration: &str| {
        format!(
            "call_id,agent,process,team_id,started_at,duration_seconds,channel,customer_ref,media,media_type,transcript_file\n\
             IMP-C,E2,ACME-CARDS-IN,,1795900000,60,voice,C-9,c.wav,,\n\
             IMP-D,E3,ACME-CARDS-IN,,1795900000,{d_duration},voice,C-10,d.wav,audio/wav,\n"
        )
    };
    std::fs::write(export.join("index.csv"), csv("x")).unwrap();

    let o = run(&dir, &["recordings", "import", export.to_str().unwrap()], None);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(out.contains("2 imported, 0 completed (media added), 0 already complete, 3 rejected"), "{out}");
    assert!(out.contains("rejected b.json: media file `b.wav` is missing"), "{out}");
    assert!(out.contains("rejected bad.json: not a recording sidecar"), "{out}");
    assert!(out.contains("rejected index.csv line 3: duration_seconds: not a number"), "{out}");

    // Fixed: the second run adds what was missing and skips what is there.
    std::fs::write(export.join("b.wav"), vec![1u8; 5000]).unwrap();
    std::fs::remove_file(export.join("bad.json")).unwrap();
    std::fs::write(export.join("index.csv"), csv("45")).unwrap();
    let o = run(&dir, &["recordings", "import", export.to_str().unwrap()], None);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("2 imported, 0 completed (media added), 2 already complete, 0 rejected"), "{out}");
    // Four media objects and one original transcript, all whole; the card number is
    // nowhere on disk.
    assert_eq!(objects(), demo_objects + 5);
    // Every file of the data directory (database, WAL, blobs, keys), the export aside.
    let mut files = vec![dir.clone()];
    let mut seen = 0;
    while let Some(p) = files.pop() {
        if p.is_dir() {
            if p != export {
                files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            }
        } else {
            seen += 1;
            let b = std::fs::read(&p).unwrap();
            assert!(!b.windows(19).any(|w| w == b"4111 1111 1111 1111"), "card number in {}", p.display());
        }
    }
    assert!(seen >= 5, "only {seen} files checked");
}
