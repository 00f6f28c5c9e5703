//! HTTPS with rustls: a self-signed certificate made by `openssl`, requests made by
//! `curl` (both installed by scripts/test.sh). Cookies carry `Secure` under TLS.

use crate::harness::{Db, TestServer, PASSWORD};
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_with_secure_cookies() {
    let dir = std::env::temp_dir().join(format!("bposhield-tls-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    let Ok(made) = made else {
        assert!(std::env::var("BPOSHIELD_TEST_REQUIRE_TOOLS").is_err(), "openssl missing");
        eprintln!("TLS test skipped: openssl not installed");
        return;
    };
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let (c, k) = (cert.clone(), key.clone());
    let Some(s) = TestServer::start_with(Db::Sqlite, "tls", move |cfg| {
        cfg.tls_cert = Some(c);
        cfg.tls_key = Some(k);
    })
    .await
    else {
        return;
    };
    let url = s.base.replace("http://", "https://");
    let out = Command::new("curl")
        .args(["-sS", "-i", "--cacert"])
        .arg(&cert)
        .args(["--resolve", &format!("localhost:{}:127.0.0.1", s.running.as_ref().unwrap().addr.port())])
        .args(["-H", "content-type: application/json", "-d"])
        .arg(format!(r#"{{"username":"u.hr","password":"{PASSWORD}"}}"#))
        .arg(format!("{}/api/v1/auth/signin", url.replace("127.0.0.1", "localhost")))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "curl failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(text.starts_with("HTTP/"), "{text}");
    assert!(text.contains(" 200"), "{text}");
    let cookie = text.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).unwrap_or_default();
    assert!(cookie.contains("Secure") && cookie.contains("HttpOnly"), "{cookie}");
    // Plain HTTP on the TLS port is refused.
    let plain = s.client.get(format!("{}/healthz", s.base)).send().await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    s.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
