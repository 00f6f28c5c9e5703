//! Host facts for the fleet view: OS, kernel, package count, pending security updates,
//! firewall, screen lock, password length and listening sockets.
//!
//! Every path is read under [`FactsEnv::root`] (and procfs under
//! [`FactsEnv::proc_root`]) so tests run against a fixture tree. Each fact is best
//! effort: what cannot be read is left empty (`None`, `""`, `0`), never an error.
//!
//! - `os`: `PRETTY_NAME` of `etc/os-release` (or `usr/lib/os-release`).
//! - `kernel`: `<proc_root>/sys/kernel/osrelease`.
//! - `packages`: entries of `var/lib/dpkg/status` whose status is `install ok installed`.
//! - `pending_security_updates`: with commands allowed, the `Inst` lines of
//!   `apt-get -s upgrade` that come from a `-security` suite; otherwise (or when apt is
//!   missing) the count Ubuntu's update-notifier caches in
//!   `var/lib/update-notifier/updates-available` ("N of these updates are standard
//!   security updates."). `updates_pending_since` is not known from either source and
//!   stays `None`.
//! - `firewall`: `ufw` when `etc/ufw/ufw.conf` says `ENABLED=yes`; with commands
//!   allowed, `nftables` when `nft list ruleset` has a chain with a drop/reject policy
//!   or rule; `firewalld` or `nftables` when their systemd unit is enabled; else `none`.
//! - `screen_lock_seconds`: GNOME's `idle-delay` plus `lock-delay` from the dconf
//!   keyfiles `etc/dconf/db/local.d/*` (later files win), when `lock-enabled` is not
//!   false and the delay is not 0 (never).
//! - `password_min_length`: `minlen=` of `pam_pwquality`/`pam_cracklib` in
//!   `etc/pam.d/common-password`, else `minlen` of `etc/security/pwquality.conf.d/*.conf`
//!   then `etc/security/pwquality.conf`, else `PASS_MIN_LEN` of `etc/login.defs`.
//! - `listening`: `proto address:port process` for TCP sockets in LISTEN and bound UDP
//!   sockets of `<proc_root>/net/{tcp,tcp6,udp,udp6}`; the process name comes from the
//!   `socket:[inode]` links under `<proc_root>/<pid>/fd` when readable, else `-`.

use crate::sca::{exec, Env};
use bposhield_proto::fleet::HostFacts;
use std::collections::{BTreeSet, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where facts are read from and whether commands may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactsEnv {
    /// The filesystem root (`/` on a host, a fixture tree in tests).
    pub root: PathBuf,
    /// Where procfs is (`/proc`).
    pub proc_root: PathBuf,
    /// Whether `apt-get -s upgrade` and `nft list ruleset` may run.
    pub allow_commands: bool,
    pub command_timeout: Duration,
}

impl Default for FactsEnv {
    fn default() -> Self {
        Self::from(&Env::default())
    }
}

impl From<&Env> for FactsEnv {
    fn from(env: &Env) -> Self {
        Self {
            root: env.root.clone(),
            proc_root: env.proc_root.clone(),
            allow_commands: env.allow_commands,
            command_timeout: env.command_timeout,
        }
    }
}

/// Collects every fact (see the module docs for the sources).
pub fn collect(env: &FactsEnv) -> HostFacts {
    HostFacts {
        os: os_name(env),
        kernel: read(&env.proc_root.join("sys/kernel/osrelease")).map(|s| s.trim().to_string()).unwrap_or_default(),
        packages: dpkg_installed(env),
        pending_security_updates: pending_security_updates(env),
        updates_pending_since: None,
        firewall: firewall(env),
        screen_lock_seconds: screen_lock_seconds(env),
        password_min_length: password_min_length(env),
        listening: listening(env),
    }
}

fn under(env: &FactsEnv, path: &str) -> PathBuf {
    env.root.join(path.trim_start_matches('/'))
}

fn read(path: &Path) -> Option<String> {
    std::fs::read(path).ok().map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Non-comment lines, trimmed.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// `KEY=value` or `KEY value` (with optional quotes) → value, last occurrence wins.
fn setting(text: &str, key: &str) -> Option<String> {
    lines(text)
        .filter_map(|l| {
            let rest = l.strip_prefix(key)?;
            let rest = rest.trim_start();
            let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
            (!rest.is_empty() || l.len() > key.len()).then(|| rest.trim_matches('"').trim_matches('\'').to_string())
        })
        .last()
}

fn os_name(env: &FactsEnv) -> String {
    let text = read(&under(env, "etc/os-release")).or_else(|| read(&under(env, "usr/lib/os-release")));
    let Some(text) = text else { return String::new() };
    if let Some(pretty) = setting(&text, "PRETTY_NAME") {
        return pretty;
    }
    let name = setting(&text, "NAME").unwrap_or_default();
    let version = setting(&text, "VERSION").unwrap_or_default();
    format!("{name} {version}").trim().to_string()
}

fn dpkg_installed(env: &FactsEnv) -> i64 {
    let Some(text) = read(&under(env, "var/lib/dpkg/status")) else { return 0 };
    text.lines().filter(|l| l.trim_end() == "Status: install ok installed").count() as i64
}

fn pending_security_updates(env: &FactsEnv) -> i64 {
    if env.allow_commands {
        let argv: Vec<String> =
            ["apt-get", "-s", "-o", "Debug::NoLocking=1", "upgrade"].iter().map(|s| s.to_string()).collect();
        if let Ok(out) = exec::run(&argv, env.command_timeout) {
            if out.stdout.lines().any(|l| l.starts_with("Inst ") || l.contains("upgraded,")) {
                return count_apt_security(&out.stdout);
            }
        }
    }
    read(&under(env, "var/lib/update-notifier/updates-available")).map(|t| update_notifier_security(&t)).unwrap_or(0)
}

/// `Inst pkg [old] (new Debian-Security:12/stable-security [amd64])` lines from a
/// `-security` suite.
pub(crate) fn count_apt_security(apt_output: &str) -> i64 {
    apt_output.lines().filter(|l| l.starts_with("Inst ") && l.contains("-security")).count() as i64
}

/// update-notifier's motd text: "2 of these updates are standard security updates." or,
/// in older releases, "3 updates are security updates.".
fn update_notifier_security(text: &str) -> i64 {
    text.lines()
        .filter(|l| l.contains("security update"))
        .filter_map(|l| l.split_whitespace().next()?.parse::<i64>().ok())
        .next()
        .unwrap_or(0)
}

fn firewall(env: &FactsEnv) -> String {
    if let Some(conf) = read(&under(env, "etc/ufw/ufw.conf")) {
        if setting(&conf, "ENABLED").is_some_and(|v| v.eq_ignore_ascii_case("yes")) {
            return "ufw".into();
        }
    }
    if env.allow_commands {
        let argv = vec!["nft".to_string(), "list".into(), "ruleset".into()];
        if let Ok(out) = exec::run(&argv, env.command_timeout) {
            let filtering = out.stdout.lines().any(|l| {
                let l = l.trim();
                (l.starts_with("type filter hook input") && (l.contains("policy drop") || l.contains("policy reject")))
                    || l.ends_with(" drop")
                    || l.ends_with(" reject")
                    || l == "drop"
                    || l == "reject"
            });
            if filtering {
                return "nftables".into();
            }
        }
    }
    let wants = "etc/systemd/system/multi-user.target.wants";
    for (unit, name) in [("firewalld.service", "firewalld"), ("nftables.service", "nftables")] {
        // A dangling link still means "enabled" (the unit file may live elsewhere).
        if std::fs::symlink_metadata(under(env, &format!("{wants}/{unit}"))).is_ok() {
            return name.into();
        }
    }
    "none".into()
}

/// dconf keyfiles in order: `(section, key) → value` of the last file that sets it.
fn dconf_local(env: &FactsEnv) -> HashMap<(String, String), String> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir(under(env, "etc/dconf/db/local.d")) else { return out };
    let mut files: Vec<PathBuf> = dir.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()).collect();
    files.sort();
    for f in files {
        let Some(text) = read(&f) else { continue };
        let mut section = String::new();
        for l in lines(&text) {
            if let Some(s) = l.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                section = s.trim().to_string();
            } else if let Some((k, v)) = l.split_once('=') {
                out.insert((section.clone(), k.trim().to_string()), v.trim().to_string());
            }
        }
    }
    out
}

/// `uint32 300` or `300` → 300.
fn gvariant_int(v: &str) -> Option<i64> {
    v.split_whitespace().last()?.parse().ok()
}

fn screen_lock_seconds(env: &FactsEnv) -> Option<i64> {
    let db = dconf_local(env);
    let get = |section: &str, key: &str| db.get(&(section.to_string(), key.to_string()));
    let idle = gvariant_int(get("org/gnome/desktop/session", "idle-delay")?)?;
    let lock_enabled = get("org/gnome/desktop/screensaver", "lock-enabled").is_none_or(|v| v != "false");
    if idle == 0 || !lock_enabled {
        return None;
    }
    let lock_delay = get("org/gnome/desktop/screensaver", "lock-delay").and_then(|v| gvariant_int(v)).unwrap_or(0);
    Some(idle + lock_delay)
}

fn password_min_length(env: &FactsEnv) -> Option<i64> {
    if let Some(pam) = read(&under(env, "etc/pam.d/common-password")) {
        let from_pam = lines(&pam)
            .filter(|l| l.contains("pam_pwquality.so") || l.contains("pam_cracklib.so"))
            .flat_map(|l| l.split_whitespace())
            .filter_map(|w| w.strip_prefix("minlen=")?.parse::<i64>().ok())
            .last();
        if from_pam.is_some() {
            return from_pam;
        }
    }
    let mut dropins: Vec<PathBuf> = std::fs::read_dir(under(env, "etc/security/pwquality.conf.d"))
        .map(|d| {
            d.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "conf")).collect()
        })
        .unwrap_or_default();
    dropins.sort();
    let from_conf = dropins
        .iter()
        .rev()
        .chain(std::iter::once(&under(env, "etc/security/pwquality.conf")))
        .find_map(|p| setting(&read(p)?, "minlen")?.parse::<i64>().ok());
    if from_conf.is_some() {
        return from_conf;
    }
    setting(&read(&under(env, "etc/login.defs"))?, "PASS_MIN_LEN")?.parse().ok()
}

fn listening(env: &FactsEnv) -> Vec<String> {
    let owners = socket_owners(&env.proc_root);
    let mut out = BTreeSet::new();
    for (proto, listen_state) in [("tcp", "0A"), ("tcp6", "0A"), ("udp", "07"), ("udp6", "07")] {
        let Some(table) = read(&env.proc_root.join("net").join(proto)) else { continue };
        for line in table.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 10 || cols[3] != listen_state {
                continue;
            }
            let Some(addr) = parse_socket_address(cols[1]) else { continue };
            let process = cols[9].parse::<u64>().ok().and_then(|inode| owners.get(&inode)).map_or("-", String::as_str);
            out.insert(format!("{proto} {addr} {process}"));
        }
    }
    out.into_iter().collect()
}

/// `0100007F:0035` → `127.0.0.1:53`; IPv6 as `[::1]:631`.
fn parse_socket_address(s: &str) -> Option<String> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match ip.len() {
        8 => Ipv4Addr::from(u32::from_str_radix(ip, 16).ok()?.swap_bytes()).to_string(),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                let word = u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok()?.swap_bytes();
                chunk.copy_from_slice(&word.to_be_bytes());
            }
            format!("[{}]", Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(format!("{ip}:{port}"))
}

/// Socket inode → process name, from `<proc_root>/<pid>/fd/*` links (root only).
fn socket_owners(proc_root: &Path) -> HashMap<u64, String> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir(proc_root) else { return out };
    for entry in dir.filter_map(Result::ok) {
        if !entry.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else { continue };
        let mut name: Option<String> = None;
        for fd in fds.filter_map(Result::ok) {
            let Ok(target) = std::fs::read_link(fd.path()) else { continue };
            let target = target.to_string_lossy();
            let Some(inode) = target.strip_prefix("socket:[").and_then(|s| s.strip_suffix(']')) else { continue };
            let Ok(inode) = inode.parse::<u64>() else { continue };
            let name = name.get_or_insert_with(|| {
                read(&entry.path().join("comm")).map(|s| s.trim().to_string()).unwrap_or_else(|| "-".into())
            });
            out.entry(inode).or_insert_with(|| name.clone());
        }
    }
    out
}
