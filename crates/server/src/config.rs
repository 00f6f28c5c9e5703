//! Configuration: defaults, then a TOML file, then `BPOSHIELD_*` environment variables,
//! then command-line flags (applied by the caller on the returned value).
//!
//! Every key of the file is documented in `bposhield.example.toml`. Unknown keys in the
//! file are errors naming the key. An environment variable maps to a key by upper-casing
//! its path with `_` between section and key (`auth.lockout_minutes` →
//! `BPOSHIELD_AUTH_LOCKOUT_MINUTES`). Secrets may come from a file: `BPOSHIELD_X_FILE`
//! (or `x_file` in the TOML) reads the value of `x` from that path. Secrets never appear in
//! `Debug` output or logs.

use bposhield_proto::Role;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The whole configuration.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Holds the SQLite database and the keys.
    pub data_dir: PathBuf,
    /// `postgres://…` for PostgreSQL; empty for SQLite in `data_dir`. Secret.
    pub database_url: String,
    /// Address to listen on.
    pub bind: String,
    pub port: u16,
    /// PEM certificate chain and key; both set turns TLS on.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Log filter, e.g. `info` or `bposhield=debug`.
    pub log: String,
    pub auth: AuthConfig,
    pub controls: ControlsConfig,
    pub http: HttpConfig,
    pub ledger: LedgerConfig,
    pub identity: IdentityConfig,
    pub vault: VaultConfig,
    pub fleet: FleetConfig,
}

/// The endpoint fleet: what `bposhield-agent` hosts receive and how they are judged.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FleetConfig {
    /// The Ed25519 seed that signs policy bundles; empty means
    /// `<data_dir>/fleet-bundle.key`, created (mode 0600) at first use. Agents pin its
    /// public key at enrollment; replicas must share the file.
    pub bundle_key_path: String,
    /// Hours a signed bundle stays valid; an agent keeps enforcing its last good one
    /// after that, but refuses a stale bundle offered again.
    pub bundle_valid_hours: i64,
    /// Defaults of the per-scope settings: seconds between SCA scans and between
    /// heartbeats (and bundle checks).
    pub scan_interval_seconds: i64,
    pub heartbeat_seconds: i64,
    /// Largest batch an agent may send, in bytes and in events.
    pub max_batch_bytes: usize,
    pub max_batch_events: usize,
    /// A host silent for this many hours counts as not reporting (controls R1, R4).
    pub not_reporting_hours: i64,
    /// A baseline result below this score (0-100) fails control CTL-R4-002.
    pub min_baseline_score: i64,
    /// Security updates pending for more than this many days fail control CTL-R4-004.
    pub updates_overdue_days: i64,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self {
            bundle_key_path: String::new(),
            bundle_valid_hours: 168,
            scan_interval_seconds: 3600,
            heartbeat_seconds: 60,
            max_batch_bytes: 16 * 1024 * 1024,
            max_batch_events: 10_000,
            not_reporting_hours: 24,
            min_baseline_score: 80,
            updates_overdue_days: 14,
        }
    }
}

/// The recording vault: where encrypted recordings live and the keys that wrap them.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct VaultConfig {
    /// Blob store: empty for `<data_dir>/blobs`, `file:///dir`, or `s3://bucket/prefix`
    /// (credentials, region and endpoint from the `AWS_*` environment).
    pub blob_url: String,
    /// The keyring file of key-encryption keys; empty means `<data_dir>/vault.keys`,
    /// created (mode 0600) when first needed. A file group or others can read is refused.
    pub keys_path: String,
    /// The keyring itself, usually from a secret file (`BPOSHIELD_VAULT_KEYS_FILE` or
    /// `keys_file`): used instead of `keys_path`, read-only. Secret.
    pub keys: String,
    /// Plaintext bytes per encrypted segment, in KiB (64..=1024): what a seek decrypts.
    pub segment_kib: u32,
    /// How often recordings due under their retention policy are purged (one replica).
    pub purge_every_seconds: u64,
}

impl Default for VaultConfig {
    fn default() -> Self {
        Self {
            blob_url: String::new(),
            keys_path: String::new(),
            keys: String::new(),
            segment_kib: 256,
            purge_every_seconds: 300,
        }
    }
}

impl std::fmt::Debug for VaultConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultConfig")
            .field("blob_url", &self.blob_url)
            .field("keys_path", &self.keys_path)
            .field("keys", &if self.keys.is_empty() { "" } else { "***" })
            .field("segment_kib", &self.segment_kib)
            .field("purge_every_seconds", &self.purge_every_seconds)
            .finish()
    }
}

/// The identity lifecycle (joiners, movers, leavers, absconders, reviews).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    /// How often targets are read and everyone reconciled (leader replica only).
    pub reconcile_every_seconds: u64,
    /// A plan that would disable more accounts than this...
    pub breaker_max_disables: u64,
    /// ...and more than this share (0-1) of the enabled accounts is held for approval.
    pub breaker_max_share: f64,
    /// Consecutive full HR files a person must be missing from before counting as gone.
    pub hr_misses_before_gone: u32,
    /// Hours an IT admin has to complete a manual work item before it is escalated.
    pub work_item_sla_hours: i64,
    /// Largest HR CSV upload accepted.
    pub max_csv_bytes: usize,
    /// Concurrent actions the executor runs on one replica.
    pub executor_concurrency: usize,
    /// A review campaign is opened for each process unit whose last one is older than
    /// this many days (0: only campaigns opened by hand).
    pub review_every_days: i64,
    /// Days reviewers have to decide a scheduled campaign.
    pub review_deadline_days: i64,
    /// What happens to items of a scheduled campaign nobody decided: `keep` or `revoke`.
    pub review_default_decision: String,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            reconcile_every_seconds: 900,
            breaker_max_disables: 50,
            breaker_max_share: 0.05,
            hr_misses_before_gone: 3,
            work_item_sla_hours: 24,
            max_csv_bytes: 64 * 1024 * 1024,
            executor_concurrency: 16,
            review_every_days: 90,
            review_deadline_days: 14,
            review_default_decision: "revoke".into(),
        }
    }
}

/// The tamper-evident ledger.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LedgerConfig {
    /// The Ed25519 signing key; empty means `<data_dir>/ledger.key`. Created (mode 0600)
    /// at first start. Replicas sharing one database must share this key.
    pub signing_key_path: String,
    /// Key name and checkpoint origin used when the key is created (afterwards the key
    /// file's name is what counts).
    pub origin: String,
    /// A signed checkpoint is published at least this often while entries arrive...
    pub checkpoint_every_seconds: u64,
    /// ...and whenever the log crosses a multiple of this many entries.
    pub checkpoint_every_entries: u64,
    /// Most events committed in one transaction (group commit).
    pub max_batch: usize,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            signing_key_path: String::new(),
            origin: "bposhield.local/ledger".into(),
            checkpoint_every_seconds: 60,
            checkpoint_every_entries: 10_000,
            max_batch: 4096,
        }
    }
}

/// Sign-in and session policy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// A session ends after this long without a request.
    pub session_idle_minutes: i64,
    /// A session ends this long after sign-in, whatever the activity.
    pub session_absolute_hours: i64,
    /// Holders of these roles must enrol a second factor before using anything else.
    pub require_totp_roles: Vec<Role>,
    /// Failed sign-ins in a row before the account locks.
    pub max_failed_logins: i64,
    pub lockout_minutes: i64,
    /// Sign-in attempts allowed per source address per minute.
    pub signin_per_ip_per_minute: u32,
    /// Mark cookies `Secure` even without TLS here (behind a TLS-terminating proxy).
    pub secure_cookies: bool,
}

/// Control evaluation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ControlsConfig {
    /// How often the background job evaluates every control.
    pub evaluate_every_seconds: u64,
}

/// HTTP limits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Largest accepted request body.
    pub max_body_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./bposhield-data"),
            database_url: String::new(),
            bind: "127.0.0.1".into(),
            port: 8080,
            tls_cert: None,
            tls_key: None,
            log: "info".into(),
            auth: AuthConfig::default(),
            controls: ControlsConfig::default(),
            http: HttpConfig::default(),
            ledger: LedgerConfig::default(),
            identity: IdentityConfig::default(),
            vault: VaultConfig::default(),
            fleet: FleetConfig::default(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_idle_minutes: 30,
            session_absolute_hours: 12,
            require_totp_roles: vec![Role::PlatformAdmin, Role::SecurityOfficer],
            max_failed_logins: 5,
            lockout_minutes: 15,
            signin_per_ip_per_minute: 30,
            secure_cookies: false,
        }
    }
}

impl Default for ControlsConfig {
    fn default() -> Self {
        Self { evaluate_every_seconds: 300 }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { max_body_bytes: 64 * 1024 }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact_url(&self.database_url))
            .field("bind", &self.bind)
            .field("port", &self.port)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("log", &self.log)
            .field("auth", &self.auth)
            .field("controls", &self.controls)
            .field("http", &self.http)
            .field("ledger", &self.ledger)
            .field("identity", &self.identity)
            .field("vault", &self.vault)
            .field("fleet", &self.fleet)
            .finish()
    }
}

/// A database URL with any password replaced by `***`.
#[must_use]
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A configuration problem, naming the key or variable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("config file {path}: {message}")]
    File { path: String, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// Keys whose value may be read from a file (`<key>_file`).
const SECRET_KEYS: &[&str] = &["database_url", "vault.keys"];

impl Config {
    /// Parses a TOML document (the file layer) over the defaults.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let mut value: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::File { path: origin.into(), message: e.message().to_owned() })?;
        for key in SECRET_KEYS {
            // `a.b` is key `b` of section `[a]`, whose file form is `b_file` there.
            let (section, key) = match key.split_once('.') {
                Some((s, k)) => (Some(s), k),
                None => (None, *key),
            };
            let table = match section {
                None => &mut value,
                Some(s) => match value.get_mut(s) {
                    Some(toml::Value::Table(t)) => t,
                    _ => continue,
                },
            };
            let file_key = format!("{key}_file");
            if let Some(v) = table.remove(&file_key) {
                let path = v.as_str().ok_or_else(|| ConfigError::File {
                    path: origin.into(),
                    message: format!("`{file_key}` must be a path string"),
                })?;
                let secret = read_secret(Path::new(path))
                    .map_err(|m| ConfigError::File { path: origin.into(), message: format!("`{file_key}`: {m}") })?;
                table.insert(key.to_owned(), toml::Value::String(secret));
            }
        }
        let cfg: Config = toml::Value::Table(value)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::File { path: origin.into(), message: e.message().to_owned() })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Loads defaults ← optional file ← environment (`env` is usually `std::env::vars()`).
    pub fn load(file: Option<&Path>, env: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let base = match file {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConfigError::File { path: p.display().to_string(), message: e.to_string() })?;
                Self::from_toml(&text, &p.display().to_string())?
            }
            None => Self::default(),
        };
        base.with_env(env)
    }

    /// Applies `BPOSHIELD_*` variables. Variables that name no key are errors, so a typo
    /// in a deployment manifest does not silently fall back to a default.
    pub fn with_env(self, env: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let mut table = match toml::Value::try_from(&self) {
            Ok(toml::Value::Table(t)) => t,
            _ => return Err(ConfigError::Invalid("cannot represent configuration".into())),
        };
        let keys = key_paths(&table);
        for (var, raw) in env {
            let Some(name) = var.strip_prefix("BPOSHIELD_") else { continue };
            // Variables used by tests and tools, not configuration.
            if name.starts_with("TEST_") || name == "CONFIG" {
                continue;
            }
            let (name, from_file) = match name.strip_suffix("_FILE") {
                Some(n) => (n, true),
                None => (name, false),
            };
            let Some(path) = keys.iter().find(|k| k.join("_").to_uppercase() == name) else {
                return Err(ConfigError::Env {
                    var: var.clone(),
                    message: "names no configuration key (see bposhield.example.toml)".into(),
                });
            };
            let raw = if from_file {
                if !SECRET_KEYS.contains(&path.join(".").as_str()) {
                    return Err(ConfigError::Env {
                        var: var.clone(),
                        message: "only secrets can be read from a file".into(),
                    });
                }
                read_secret(Path::new(raw)).map_err(|m| ConfigError::Env { var: var.clone(), message: m })?
            } else {
                raw.clone()
            };
            let current = lookup(&table, path);
            let value = coerce(&raw, current).map_err(|m| ConfigError::Env { var: var.clone(), message: m })?;
            set(&mut table, path, value);
        }
        let cfg: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(format!("environment: {}", e.message())))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks cross-field rules.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Invalid("tls_cert and tls_key must be set together".into()));
        }
        if !self.database_url.is_empty()
            && !self.database_url.starts_with("postgres://")
            && !self.database_url.starts_with("postgresql://")
            && !self.database_url.starts_with("sqlite:")
        {
            return Err(ConfigError::Invalid(
                "database_url must start with postgres:// or sqlite: (or be empty for SQLite in data_dir)".into(),
            ));
        }
        if self.auth.session_idle_minutes < 1 || self.auth.session_absolute_hours < 1 {
            return Err(ConfigError::Invalid("auth session timeouts must be positive".into()));
        }
        if self.auth.max_failed_logins < 1 || self.auth.lockout_minutes < 1 {
            return Err(ConfigError::Invalid(
                "auth.max_failed_logins and auth.lockout_minutes must be positive".into(),
            ));
        }
        if self.http.max_body_bytes < 1024 {
            return Err(ConfigError::Invalid("http.max_body_bytes must be at least 1024".into()));
        }
        let idn = &self.identity;
        if idn.reconcile_every_seconds < 5
            || !(0.0..=1.0).contains(&idn.breaker_max_share)
            || idn.hr_misses_before_gone < 1
            || idn.work_item_sla_hours < 1
            || !(1..=256).contains(&idn.executor_concurrency)
            || !(0..=3650).contains(&idn.review_every_days)
            || !(1..=365).contains(&idn.review_deadline_days)
            || !matches!(idn.review_default_decision.as_str(), "keep" | "revoke")
        {
            return Err(ConfigError::Invalid(
                "identity: reconcile_every_seconds >= 5, breaker_max_share in 0..1, hr_misses_before_gone >= 1, \
                 work_item_sla_hours >= 1, executor_concurrency 1..=256, review_every_days 0..=3650, \
                 review_deadline_days 1..=365, review_default_decision keep or revoke"
                    .into(),
            ));
        }
        if self.controls.evaluate_every_seconds < 5 {
            return Err(ConfigError::Invalid("controls.evaluate_every_seconds must be at least 5".into()));
        }
        if self.ledger.checkpoint_every_seconds < 1
            || self.ledger.checkpoint_every_entries < 1
            || !(1..=100_000).contains(&self.ledger.max_batch)
        {
            return Err(ConfigError::Invalid(
                "ledger.checkpoint_every_seconds and ledger.checkpoint_every_entries must be positive, ledger.max_batch 1..=100000".into(),
            ));
        }
        if !(64..=1024).contains(&self.vault.segment_kib) || self.vault.purge_every_seconds < 5 {
            return Err(ConfigError::Invalid(
                "vault.segment_kib must be 64..=1024 and vault.purge_every_seconds at least 5".into(),
            ));
        }
        let f = &self.fleet;
        if !(1..=8760).contains(&f.bundle_valid_hours)
            || !(60..=604_800).contains(&f.scan_interval_seconds)
            || !(10..=86_400).contains(&f.heartbeat_seconds)
            || f.max_batch_bytes < 64 * 1024
            || !(1..=1_000_000).contains(&f.max_batch_events)
            || !(1..=8760).contains(&f.not_reporting_hours)
            || !(0..=100).contains(&f.min_baseline_score)
            || !(1..=3650).contains(&f.updates_overdue_days)
        {
            return Err(ConfigError::Invalid(
                "fleet: bundle_valid_hours 1..=8760, scan_interval_seconds 60..=604800, heartbeat_seconds 10..=86400, \
                 max_batch_bytes >= 65536, max_batch_events 1..=1000000, not_reporting_hours 1..=8760, \
                 min_baseline_score 0..=100, updates_overdue_days 1..=3650"
                    .into(),
            ));
        }
        let url = &self.vault.blob_url;
        if !(url.is_empty() || url == "file:" || url.starts_with("file:///") || url.starts_with("s3://")) {
            return Err(ConfigError::Invalid(
                "vault.blob_url must be empty (the data directory), file:///dir or s3://bucket/prefix".into(),
            ));
        }
        Ok(())
    }

    /// The vault's keyring file.
    #[must_use]
    pub fn vault_keys_path(&self) -> PathBuf {
        if self.vault.keys_path.is_empty() {
            self.data_dir.join("vault.keys")
        } else {
            PathBuf::from(&self.vault.keys_path)
        }
    }

    /// Opens the recording vault this configuration names (creating the keyring with
    /// one key-encryption key on first use).
    ///
    /// # Errors
    /// The keyring or the blob store cannot be used.
    pub fn open_vault(&self) -> Result<bposhield_vault::Vault, bposhield_vault::VaultError> {
        let keys = if self.vault.keys.is_empty() {
            bposhield_vault::Keyring::load_or_create(&self.vault_keys_path())?
        } else {
            bposhield_vault::Keyring::parse(&self.vault.keys)
                .map_err(|e| bposhield_vault::VaultError::Keyring(format!("vault.keys (from a secret): {e}")))?
        };
        bposhield_vault::Vault::open_url(&self.vault.blob_url, &self.data_dir, keys)?
            .with_segment(self.vault.segment_kib * 1024)
    }

    /// The fleet's bundle-signing seed file.
    #[must_use]
    pub fn fleet_key_path(&self) -> PathBuf {
        if self.fleet.bundle_key_path.is_empty() {
            self.data_dir.join("fleet-bundle.key")
        } else {
            PathBuf::from(&self.fleet.bundle_key_path)
        }
    }

    /// The ledger signing key file.
    #[must_use]
    pub fn ledger_key_path(&self) -> PathBuf {
        if self.ledger.signing_key_path.is_empty() {
            self.data_dir.join("ledger.key")
        } else {
            PathBuf::from(&self.ledger.signing_key_path)
        }
    }

    /// Whether cookies get the `Secure` attribute.
    #[must_use]
    pub fn tls(&self) -> bool {
        self.tls_cert.is_some()
    }

    /// The database URL to use: the configured one or SQLite in the data directory.
    #[must_use]
    pub fn effective_database_url(&self) -> String {
        if self.database_url.is_empty() {
            bposhield_store::Store::sqlite_url(&self.data_dir.join("bposhield.db"))
        } else {
            self.database_url.clone()
        }
    }
}

fn read_secret(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim_end_matches(['\n', '\r']).to_owned())
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn key_paths(t: &toml::Table) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (k, v) in t {
        match v {
            toml::Value::Table(sub) => {
                for mut p in key_paths(sub) {
                    p.insert(0, k.clone());
                    out.push(p);
                }
            }
            _ => out.push(vec![k.clone()]),
        }
    }
    // Options that default to none are absent from the serialized table.
    for k in ["tls_cert", "tls_key"] {
        if !t.contains_key(k) && !out.iter().any(|p| p.len() == 1 && p[0] == k) && t.contains_key("auth") {
            out.push(vec![k.to_owned()]);
        }
    }
    out
}

fn lookup<'a>(t: &'a toml::Table, path: &[String]) -> Option<&'a toml::Value> {
    let (first, rest) = path.split_first()?;
    let v = t.get(first)?;
    if rest.is_empty() {
        Some(v)
    } else {
        v.as_table().and_then(|sub| lookup(sub, rest))
    }
}

fn set(t: &mut toml::Table, path: &[String], value: toml::Value) {
    if let Some((first, rest)) = path.split_first() {
        if rest.is_empty() {
            t.insert(first.clone(), value);
        } else if let Some(toml::Value::Table(sub)) = t.get_mut(first) {
            set(sub, rest, value);
        }
    }
}

/// Parses an environment string into the type of the key's current value.
fn coerce(raw: &str, current: Option<&toml::Value>) -> Result<toml::Value, String> {
    match current {
        Some(toml::Value::Integer(_)) => {
            raw.trim().parse().map(toml::Value::Integer).map_err(|_| format!("`{raw}` is not an integer"))
        }
        Some(toml::Value::Boolean(_)) => match raw.trim() {
            "true" | "1" | "yes" => Ok(toml::Value::Boolean(true)),
            "false" | "0" | "no" => Ok(toml::Value::Boolean(false)),
            _ => Err(format!("`{raw}` is not a boolean (true/false)")),
        },
        Some(toml::Value::Array(_)) => Ok(toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        )),
        _ => Ok(toml::Value::String(raw.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn layers_apply_in_order() {
        let file = Config::from_toml("port = 9000\n[auth]\nlockout_minutes = 5\n", "t.toml").unwrap();
        assert_eq!(file.port, 9000);
        assert_eq!(file.auth.lockout_minutes, 5);
        let e = file
            .with_env(&env(&[
                ("BPOSHIELD_PORT", "9100"),
                ("BPOSHIELD_AUTH_REQUIRE_TOTP_ROLES", "hr, auditor"),
                ("BPOSHIELD_AUTH_SECURE_COOKIES", "true"),
                ("BPOSHIELD_TEST_PG_URL", "ignored"),
                ("OTHER", "x"),
            ]))
            .unwrap();
        assert_eq!(e.port, 9100);
        assert_eq!(e.auth.require_totp_roles, vec![Role::Hr, Role::Auditor]);
        assert!(e.auth.secure_cookies);
        assert_eq!(e.auth.lockout_minutes, 5);
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = Config::from_toml("prot = 1\n", "t.toml").unwrap_err().to_string();
        assert!(err.contains("prot"), "{err}");
        let err = Config::from_toml("[auth]\nlockout = 1\n", "t.toml").unwrap_err().to_string();
        assert!(err.contains("lockout"), "{err}");
        let err = Config::default().with_env(&env(&[("BPOSHIELD_PROT", "1")])).unwrap_err().to_string();
        assert!(err.contains("BPOSHIELD_PROT"), "{err}");
        let err = Config::default().with_env(&env(&[("BPOSHIELD_PORT", "eighty")])).unwrap_err().to_string();
        assert!(err.contains("BPOSHIELD_PORT") && err.contains("integer"), "{err}");
    }

    #[test]
    fn secrets_from_files_and_redacted() {
        let dir = std::env::temp_dir().join(format!("bps-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("db");
        std::fs::write(&f, "postgres://bps:s3cret@db/bps\n").unwrap();
        let c = Config::default().with_env(&env(&[("BPOSHIELD_DATABASE_URL_FILE", f.to_str().unwrap())])).unwrap();
        assert_eq!(c.database_url, "postgres://bps:s3cret@db/bps");
        assert!(!format!("{c:?}").contains("s3cret"));
        let err = Config::default().with_env(&env(&[("BPOSHIELD_PORT_FILE", "/x")])).unwrap_err();
        assert!(err.to_string().contains("only secrets"));
        let c = Config::from_toml(&format!("database_url_file = {:?}\n", f.to_str().unwrap()), "t").unwrap();
        assert!(c.database_url.contains("s3cret"));
        // The vault's keyring from a secret file, by environment or in its section.
        let k = dir.join("keys");
        let line = format!("bposhield-vault-kek-v1 kek-9 {}\n", "ab".repeat(32));
        std::fs::write(&k, &line).unwrap();
        let c = Config::default().with_env(&env(&[("BPOSHIELD_VAULT_KEYS_FILE", k.to_str().unwrap())])).unwrap();
        assert_eq!(c.vault.keys, line.trim_end());
        assert!(!format!("{c:?}").contains("abab"), "keyring in Debug output");
        let c = Config::from_toml(&format!("[vault]\nkeys_file = {:?}\n", k.to_str().unwrap()), "t").unwrap();
        assert_eq!(c.vault.keys, line.trim_end());
        let c = Config { data_dir: dir.clone(), vault: c.vault, ..Config::default() };
        assert_eq!(c.open_vault().unwrap().keys().ids(), ["kek-9"]);
        assert!(!dir.join("vault.keys").exists(), "a keyring file was created beside the secret");
    }

    #[test]
    fn tls_vars_and_validation() {
        let c = Config::default()
            .with_env(&env(&[("BPOSHIELD_TLS_CERT", "/c.pem"), ("BPOSHIELD_TLS_KEY", "/k.pem")]))
            .unwrap();
        assert!(c.tls());
        assert!(Config::default().with_env(&env(&[("BPOSHIELD_TLS_CERT", "/c.pem")])).is_err());
        assert!(Config::from_toml("database_url = \"mysql://x\"", "t").is_err());
    }

    #[test]
    fn example_file_parses_to_defaults() {
        let text = include_str!("../../../bposhield.example.toml");
        let c = Config::from_toml(text, "bposhield.example.toml").unwrap();
        assert_eq!(c, Config::default());
    }
}
