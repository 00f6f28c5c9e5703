//! A throw-away OpenLDAP server for the integration tests and `bposhield bench`: starts
//! `slapd` on a free loopback port with a config in a temporary directory (mdb backend, the
//! core/cosine/inetorgperson/nis schemas, the ppolicy overlay so the default disable
//! convention works), seeds users fast, and kills the server on drop.
//!
//! Needs the Debian packages `slapd` (the server, its modules and schemas) and, for manual
//! poking, `ldap-utils`. `BPOSHIELD_SLAPD` overrides the binary path.

use std::collections::HashSet;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ldap3::{Ldap, LdapConnAsync, LdapResult};

/// The directory's suffix.
pub const SUFFIX: &str = "dc=bposhield,dc=test";
/// The root DN (bypasses ACLs and size limits).
pub const ADMIN_DN: &str = "cn=admin,dc=bposhield,dc=test";
/// The root DN's password (a throw-away server on loopback).
pub const ADMIN_PASSWORD: &str = "testkit-admin-password";
/// Where users are seeded.
pub const PEOPLE: &str = "ou=people,dc=bposhield,dc=test";
/// Where groups are created.
pub const GROUPS: &str = "ou=groups,dc=bposhield,dc=test";

const SCHEMAS: [&str; 4] = ["core", "cosine", "inetorgperson", "nis"];

/// A running slapd; stopped and its files removed on drop.
pub struct Slapd {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for Slapd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slapd").field("port", &self.port).field("dir", &self.dir.path()).finish()
    }
}

impl Slapd {
    /// The slapd binary: `BPOSHIELD_SLAPD` or `/usr/sbin/slapd`.
    #[must_use]
    pub fn binary() -> PathBuf {
        std::env::var_os("BPOSHIELD_SLAPD").map_or_else(|| PathBuf::from("/usr/sbin/slapd"), PathBuf::from)
    }

    /// Whether slapd and its schemas are installed.
    #[must_use]
    pub fn available() -> bool {
        Self::binary().is_file() && PathBuf::from("/etc/ldap/schema/core.schema").is_file()
    }

    /// Starts a server with an empty tree (`SUFFIX`, `PEOPLE`, `GROUPS`) and waits until the
    /// root DN can bind.
    pub async fn start() -> Result<Self, String> {
        if !Self::available() {
            return Err(format!(
                "slapd not found at {} (or /etc/ldap/schema missing): apt-get install slapd ldap-utils",
                Self::binary().display()
            ));
        }
        let mut last = String::new();
        // The free port is found by binding port 0 and releasing it: another process may
        // take it in between, hence a few attempts.
        for _ in 0..3 {
            match Self::start_once().await {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn start_once() -> Result<Self, String> {
        let dir = tempfile::Builder::new().prefix("bposhield-slapd-").tempdir().map_err(|e| e.to_string())?;
        let db = dir.path().join("db");
        std::fs::create_dir(&db).map_err(|e| e.to_string())?;
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let mut conf = String::new();
        for s in SCHEMAS {
            conf.push_str(&format!("include /etc/ldap/schema/{s}.schema\n"));
        }
        conf.push_str(&format!(
            "modulepath /usr/lib/ldap\nmoduleload back_mdb\nmoduleload ppolicy\n\
             pidfile {dir}/slapd.pid\n\
             database mdb\nsuffix \"{SUFFIX}\"\nrootdn \"{ADMIN_DN}\"\nrootpw {ADMIN_PASSWORD}\n\
             directory {db}\nmaxsize 17179869184\ndbnosync\n\
             index objectClass eq\nindex uid,cn,member,memberUid,employeeNumber eq\n\
             overlay ppolicy\nppolicy_default \"cn=default,ou=policies,{SUFFIX}\"\n",
            dir = dir.path().display(),
            db = db.display(),
        ));
        let conf_path = dir.path().join("slapd.conf");
        std::fs::write(&conf_path, conf).map_err(|e| e.to_string())?;
        let log = std::fs::File::create(dir.path().join("slapd.log")).map_err(|e| e.to_string())?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        // `-d 0`: stay in the foreground (so the child is the server and dies with us) and
        // log nothing but fatal errors.
        let child = Command::new(Self::binary())
            .arg("-f")
            .arg(&conf_path)
            .arg("-h")
            .arg(format!("ldap://127.0.0.1:{port}/"))
            .args(["-d", "0"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", Self::binary().display()))?;
        let mut slapd = Self { child, port, dir };
        slapd.wait_ready().await?;
        let mut ldap = slapd.admin().await?;
        for (dn, attrs) in [
            (
                SUFFIX,
                vec![
                    ("objectClass", vec!["dcObject", "organization"]),
                    ("dc", vec!["bposhield"]),
                    ("o", vec!["bposhield test"]),
                ],
            ),
            (PEOPLE, vec![("objectClass", vec!["organizationalUnit"]), ("ou", vec!["people"])]),
            (GROUPS, vec![("objectClass", vec!["organizationalUnit"]), ("ou", vec!["groups"])]),
            (
                "ou=policies,dc=bposhield,dc=test",
                vec![("objectClass", vec!["organizationalUnit"]), ("ou", vec!["policies"])],
            ),
            (
                "cn=default,ou=policies,dc=bposhield,dc=test",
                vec![
                    ("objectClass", vec!["organizationalRole", "pwdPolicy"]),
                    ("cn", vec!["default"]),
                    ("pwdAttribute", vec!["userPassword"]),
                    ("pwdLockout", vec!["TRUE"]),
                ],
            ),
        ] {
            add(&mut ldap, dn, attrs).await?;
        }
        Ok(slapd)
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("slapd exited ({status}) at start: {}", self.log_tail()));
            }
            if self.admin().await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("slapd did not accept binds within 15 s: {}", self.log_tail()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_tail(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(self.dir.path().join("slapd.log")) {
            let _ = f.read_to_string(&mut s);
        }
        let start = s.len().saturating_sub(2000);
        s.get(start..).unwrap_or_default().to_owned()
    }

    /// The server's port on 127.0.0.1.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `ldap://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// An LDAP connector config (`type: ldap`) for this server, bound as the root DN.
    #[must_use]
    pub fn connector_config(&self) -> serde_json::Value {
        serde_json::json!({
            "type": "ldap",
            "url": self.url(),
            "bind_dn": ADMIN_DN,
            "bind_password": ADMIN_PASSWORD,
            "users_base": PEOPLE,
            "groups_base": GROUPS,
        })
    }

    /// A connection bound as the root DN.
    pub async fn admin(&self) -> Result<Ldap, String> {
        let (conn, mut ldap) = LdapConnAsync::new(&self.url()).await.map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = conn.drive().await;
        });
        ldap.with_timeout(Duration::from_secs(10))
            .simple_bind(ADMIN_DN, ADMIN_PASSWORD)
            .await
            .and_then(LdapResult::success)
            .map_err(|e| e.to_string())?;
        Ok(ldap)
    }

    /// Adds one inetOrgPerson `uid=<uid>,PEOPLE` with employee number `employee_id`, mail
    /// `<uid>@bposhield.test` and, if given, a password. Returns its DN.
    pub async fn add_user(&self, uid: &str, employee_id: &str, password: Option<&str>) -> Result<String, String> {
        let mut ldap = self.admin().await?;
        let dn = user_dn(uid);
        add(
            &mut ldap,
            &dn,
            user_attrs(uid, employee_id, password)
                .iter()
                .map(|(k, v)| (*k, v.iter().map(String::as_str).collect()))
                .collect(),
        )
        .await?;
        Ok(dn)
    }

    /// Adds a groupOfNames `cn=<cn>,GROUPS` with the given member DNs (at least one:
    /// groupOfNames requires a member). Returns its DN.
    pub async fn add_group(&self, cn: &str, members: &[&str]) -> Result<String, String> {
        let mut ldap = self.admin().await?;
        let dn = format!("cn={cn},{GROUPS}");
        let mut attrs = vec![("objectClass", vec!["groupOfNames"]), ("cn", vec![cn])];
        attrs.push(("member", members.to_vec()));
        add(&mut ldap, &dn, attrs).await?;
        Ok(dn)
    }

    /// Seeds `n` users `<prefix><i>` (employee numbers `E<prefix><i>`) over `connections`
    /// connections with 8 requests in flight on each. Measured: about 7,000 entries per
    /// second on two cores (dev profile, `dbnosync`), so 300k users take under a minute.
    /// Returns their DNs in order.
    pub async fn seed_users(&self, prefix: &str, n: usize, connections: usize) -> Result<Vec<String>, String> {
        let dns: Vec<String> = (0..n).map(|i| user_dn(&format!("{prefix}{i}"))).collect();
        let workers = connections.max(1) * 8;
        let mut tasks = tokio::task::JoinSet::new();
        for c in 0..connections.max(1) {
            let ldap = self.admin().await?;
            for w in 0..8 {
                let mut ldap = ldap.clone();
                let prefix = prefix.to_owned();
                let worker = c * 8 + w;
                tasks.spawn(async move {
                    for i in (worker..n).step_by(workers) {
                        let uid = format!("{prefix}{i}");
                        let attrs = user_attrs(&uid, &format!("E{uid}"), None);
                        let attrs = attrs.iter().map(|(k, v)| (*k, v.iter().map(String::as_str).collect())).collect();
                        add(&mut ldap, &user_dn(&uid), attrs).await?;
                    }
                    Ok::<(), String>(())
                });
            }
        }
        while let Some(r) = tasks.join_next().await {
            r.map_err(|e| e.to_string())??;
        }
        Ok(dns)
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The DN of a seeded user.
#[must_use]
pub fn user_dn(uid: &str) -> String {
    format!("uid={uid},{PEOPLE}")
}

fn user_attrs(uid: &str, employee_id: &str, password: Option<&str>) -> Vec<(&'static str, Vec<String>)> {
    let mut attrs = vec![
        ("objectClass", vec!["inetOrgPerson".to_owned()]),
        ("uid", vec![uid.to_owned()]),
        ("cn", vec![format!("User {uid}")]),
        ("sn", vec![uid.to_owned()]),
        ("employeeNumber", vec![employee_id.to_owned()]),
        ("mail", vec![format!("{uid}@bposhield.test")]),
    ];
    if let Some(p) = password {
        attrs.push(("userPassword", vec![p.to_owned()]));
    }
    attrs
}

async fn add(ldap: &mut Ldap, dn: &str, attrs: Vec<(&str, Vec<&str>)>) -> Result<(), String> {
    let attrs: Vec<(&str, HashSet<&str>)> = attrs.into_iter().map(|(k, v)| (k, v.into_iter().collect())).collect();
    ldap.with_timeout(Duration::from_secs(30))
        .add(dn, attrs)
        .await
        .and_then(LdapResult::success)
        .map(|_| ())
        .map_err(|e| format!("adding {dn}: {e}"))
}
