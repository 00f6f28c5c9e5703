//! The agent's configuration: `/etc/bposhield-agent/agent.toml` by default, every key
//! optional (docs/agent.md lists them). Paths to the system (`sys_root`, `root`,
//! `proc_root`) and the uevent source are settings so tests run the real agent against
//! a fake sysfs tree and scripted uevents.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Where kernel uevents come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UeventSource {
    /// The kernel's `NETLINK_KOBJECT_UEVENT` multicast group (production).
    Netlink,
    /// A Unix datagram socket the agent binds at this path; each datagram is one uevent
    /// in the kernel's wire format (tests, and replaying captured events).
    Socket(PathBuf),
    /// No uevents: devices are judged at start only (`bposhield-agent` on a server).
    None,
}

/// The agent's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// The bposhield server, `https://…` (plain `http://` only to loopback).
    pub server_url: Option<String>,
    /// A PEM file of CA certificates to trust for the server besides the system's.
    pub ca_file: Option<PathBuf>,
    /// Credential, keys, last good bundle and the event queue (0700).
    pub state_dir: PathBuf,
    /// Where sysfs is mounted.
    pub sys_root: PathBuf,
    /// The filesystem root SCA policies and host facts read (`/`).
    pub root: PathBuf,
    /// Where procfs is mounted.
    pub proc_root: PathBuf,
    /// `netlink`, `socket:/path` or `none`.
    pub uevents: String,
    /// The local socket through which users read offline challenges and enter
    /// response codes (`bposhield-agent unlock`).
    pub control_socket: PathBuf,
    /// Largest size of the on-disk event queue; the oldest events go first beyond it.
    pub queue_max_bytes: u64,
    /// Events per batch sent to the server.
    pub batch_size: usize,
    /// Days between credential rotations.
    pub rotate_days: i64,
    /// Whether `c:` rules of SCA policies from the server may run commands (as root).
    /// Off by default, like Wazuh's `sca.remote_commands=0`: a compromised server must not
    /// be a way to run code on every desktop. The shipped baselines need no command.
    /// Host facts always run their own fixed commands (`apt-get -s upgrade`, `nft`).
    pub allow_commands: bool,
    pub command_timeout_seconds: u64,
    /// Heartbeat before the first bundle says otherwise.
    pub heartbeat_seconds: u64,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            server_url: None,
            ca_file: None,
            state_dir: PathBuf::from("/var/lib/bposhield-agent"),
            sys_root: PathBuf::from("/sys"),
            root: PathBuf::from("/"),
            proc_root: PathBuf::from("/proc"),
            uevents: "netlink".into(),
            control_socket: PathBuf::from("/run/bposhield-agent/control.sock"),
            queue_max_bytes: 64 << 20,
            batch_size: 500,
            rotate_days: 30,
            allow_commands: false,
            command_timeout_seconds: 30,
            heartbeat_seconds: 60,
        }
    }
}

impl AgentConfig {
    /// Reads a config file; a missing default file means all defaults.
    ///
    /// # Errors
    /// When the file cannot be read or has an unknown key or a bad value.
    pub fn load(path: &Path, must_exist: bool) -> anyhow::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let c: Self =
                    toml::from_str(&text).map_err(|e| anyhow::anyhow!("BPS-AGT-0001: {}: {e}", path.display()))?;
                c.uevent_source()?;
                Ok(c)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => Ok(Self::default()),
            Err(e) => Err(anyhow::anyhow!("BPS-AGT-0001: cannot read {}: {e}", path.display())),
        }
    }

    /// The parsed `uevents` setting.
    ///
    /// # Errors
    /// On a value that is none of the three forms.
    pub fn uevent_source(&self) -> anyhow::Result<UeventSource> {
        match self.uevents.as_str() {
            "netlink" => Ok(UeventSource::Netlink),
            "none" => Ok(UeventSource::None),
            s => match s.strip_prefix("socket:") {
                Some(p) if !p.is_empty() => Ok(UeventSource::Socket(PathBuf::from(p))),
                _ => Err(anyhow::anyhow!("BPS-AGT-0002: uevents must be netlink, none or socket:/path, not {s:?}")),
            },
        }
    }
}
