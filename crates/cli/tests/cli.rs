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
