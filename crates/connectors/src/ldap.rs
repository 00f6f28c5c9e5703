//! LDAP and Active Directory: accounts are user entries, entitlements are the groups that
//! list them as members.
//!
//! Two flavours differ only in how "disabled" and "last used" are stored:
//! - `active_directory`: bit 0x2 (ACCOUNTDISABLE) of `userAccountControl`, set and cleared by
//!   read-modify-write; last use from `lastLogonTimestamp` (Windows FILETIME).
//! - `openldap`: a configurable attribute value marks a disabled account. The default is the
//!   ppolicy overlay's `pwdAccountLockedTime: 000001010000Z` (permanently locked: the
//!   directory itself then refuses the user's binds). Without ppolicy, configure another
//!   attribute, e.g. `description` / `bposhield-disabled`, which the consuming systems must
//!   then check in their login filter.
//!
//! Group membership is read from the groups (not from `memberOf`), so it works without the
//! memberof overlay; `member` (groupOfNames, AD groups; values are DNs) and `memberUid`
//! (posixGroup; values are logins) are supported. AD's ranged retrieval of groups with more
//! than 1,500 members is not implemented.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bposhield_identity::model::{Account, Op, Target, TargetKind, Time};
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{ldap_escape, Ldap, LdapConnAsync, LdapConnSettings, LdapError, LdapResult, Mod, Scope, SearchEntry};
use serde::Deserialize;

use crate::{BoxFuture, Connector, ConnectorError, NewAccount, Secret};

/// How the directory stores "disabled" and "last used".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flavour {
    #[default]
    Openldap,
    ActiveDirectory,
}

/// How an entitlement (a group) is named in accounts and ops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupName {
    /// The group's `cn` (readable; must be unique under `groups_base`).
    #[default]
    Cn,
    /// The group's full DN.
    Dn,
}

/// The config of an LDAP / AD target. Defaults in brackets depend on the flavour
/// (OpenLDAP / AD).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// `ldap://host:389` or `ldaps://host:636`.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS.
    #[serde(default)]
    pub starttls: bool,
    /// PEM file of the CA that signed the directory's certificate, trusted besides the
    /// system roots.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    pub bind_dn: String,
    #[serde(default)]
    pub bind_password: Option<Secret>,
    #[serde(default)]
    pub bind_password_file: Option<PathBuf>,
    #[serde(default)]
    pub flavour: Flavour,
    /// Where the user entries are (subtree).
    pub users_base: String,
    /// [`(objectClass=inetOrgPerson)` / `(&(objectCategory=person)(objectClass=user))`]
    #[serde(default)]
    pub users_filter: Option<String>,
    /// Where the groups are (subtree); without it accounts have no entitlements and
    /// Grant/Revoke are refused.
    #[serde(default)]
    pub groups_base: Option<String>,
    /// [`(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))` / `(objectClass=group)`]
    #[serde(default)]
    pub groups_filter: Option<String>,
    /// `member` (values are DNs) or `memberUid` (values are logins). [`member`]
    #[serde(default)]
    pub member_attribute: Option<String>,
    #[serde(default)]
    pub group_name: GroupName,
    /// [`uid` / `sAMAccountName`]
    #[serde(default)]
    pub login_attribute: Option<String>,
    /// [`employeeNumber`]
    #[serde(default)]
    pub employee_id_attribute: Option<String>,
    /// [`mail`]
    #[serde(default)]
    pub email_attribute: Option<String>,
    /// OpenLDAP only. [`pwdAccountLockedTime`]
    #[serde(default)]
    pub disable_attribute: Option<String>,
    /// OpenLDAP only. [`000001010000Z`]
    #[serde(default)]
    pub disable_value: Option<String>,
    /// Last use as GeneralizedTime (OpenLDAP, e.g. `pwdLastSuccess` or `authTimestamp`) or
    /// FILETIME (AD). [none / `lastLogonTimestamp`]
    #[serde(default)]
    pub last_used_attribute: Option<String>,
    /// Object classes of created entries. [`inetOrgPerson` / `top,person,organizationalPerson,user`]
    #[serde(default)]
    pub object_classes: Option<Vec<String>>,
    /// RDN attribute of created entries. [`uid` / `cn`]
    #[serde(default)]
    pub rdn_attribute: Option<String>,
    /// Simple paged results page size (AD caps it at 1,000).
    #[serde(default = "default_page_size")]
    pub page_size: u16,
    /// Timeout of each network call, seconds.
    #[serde(default = "crate::config::default_timeout_secs")]
    pub timeout_secs: u64,
}

const fn default_page_size() -> u16 {
    500
}

/// The ppolicy value that locks an account until an administrator unlocks it.
pub const PPOLICY_PERMANENT_LOCK: &str = "000001010000Z";

/// Bit 0x2 of AD's `userAccountControl`.
const UAC_ACCOUNTDISABLE: u32 = 0x2;
/// A normal account, disabled: how AD accounts are created (no password yet).
const UAC_NORMAL_DISABLED: &str = "514";

// LDAP result codes (RFC 4511 appendix A) the connector reacts to.
const RC_TIME_LIMIT: u32 = 3;
const RC_NO_SUCH_ATTRIBUTE: u32 = 16;
const RC_UNDEFINED_TYPE: u32 = 17;
const RC_CONSTRAINT: u32 = 19;
const RC_VALUE_EXISTS: u32 = 20;
const RC_NO_SUCH_OBJECT: u32 = 32;
const RC_INVALID_CREDENTIALS: u32 = 49;
const RC_INSUFFICIENT_ACCESS: u32 = 50;
const RC_BUSY: u32 = 51;
const RC_UNAVAILABLE: u32 = 52;
const RC_ALREADY_EXISTS: u32 = 68;

/// The config with every default filled in.
#[derive(Debug, Clone)]
struct Settings {
    url: String,
    starttls: bool,
    bind_dn: String,
    flavour: Flavour,
    users_base: String,
    users_filter: String,
    groups_base: Option<String>,
    groups_filter: String,
    member_attribute: String,
    group_name: GroupName,
    login_attribute: String,
    employee_id_attribute: String,
    email_attribute: String,
    disable_attribute: String,
    disable_value: String,
    last_used_attribute: Option<String>,
    object_classes: Vec<String>,
    rdn_attribute: String,
    page_size: i32,
    timeout: Duration,
}

impl Settings {
    fn new(c: LdapConfig) -> Self {
        let ad = c.flavour == Flavour::ActiveDirectory;
        let pick = |v: Option<String>, openldap: &str, active_directory: &str| {
            v.unwrap_or_else(|| if ad { active_directory } else { openldap }.to_owned())
        };
        Self {
            starttls: c.starttls,
            bind_dn: c.bind_dn,
            flavour: c.flavour,
            users_base: c.users_base,
            users_filter: pick(
                c.users_filter,
                "(objectClass=inetOrgPerson)",
                "(&(objectCategory=person)(objectClass=user))",
            ),
            groups_base: c.groups_base,
            groups_filter: pick(
                c.groups_filter,
                "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))",
                "(objectClass=group)",
            ),
            member_attribute: c.member_attribute.unwrap_or_else(|| "member".to_owned()),
            group_name: c.group_name,
            login_attribute: pick(c.login_attribute, "uid", "sAMAccountName"),
            employee_id_attribute: c.employee_id_attribute.unwrap_or_else(|| "employeeNumber".to_owned()),
            email_attribute: c.email_attribute.unwrap_or_else(|| "mail".to_owned()),
            disable_attribute: pick(c.disable_attribute, "pwdAccountLockedTime", "userAccountControl"),
            disable_value: c.disable_value.unwrap_or_else(|| PPOLICY_PERMANENT_LOCK.to_owned()),
            last_used_attribute: c.last_used_attribute.or_else(|| ad.then(|| "lastLogonTimestamp".to_owned())),
            object_classes: c.object_classes.unwrap_or_else(|| {
                if ad {
                    ["top", "person", "organizationalPerson", "user"].map(str::to_owned).to_vec()
                } else {
                    vec!["inetOrgPerson".to_owned()]
                }
            }),
            rdn_attribute: pick(c.rdn_attribute, "uid", "cn"),
            page_size: i32::from(c.page_size.max(1)),
            timeout: Duration::from_secs(c.timeout_secs.max(1)),
            url: c.url,
        }
    }

    /// Members are logins (posixGroup `memberUid`) rather than DNs.
    fn members_are_logins(&self) -> bool {
        self.member_attribute.eq_ignore_ascii_case("memberUid")
    }
}

/// The LDAP / AD connector. Keeps one bound connection (LDAP multiplexes requests on it)
/// and reconnects when it has closed.
pub struct LdapConnector {
    target: String,
    kind: TargetKind,
    s: Settings,
    password: Secret,
    tls: Option<Arc<rustls::ClientConfig>>,
    conn: tokio::sync::Mutex<Option<Ldap>>,
}

impl std::fmt::Debug for LdapConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapConnector")
            .field("target", &self.target)
            .field("url", &self.s.url)
            .field("bind_dn", &self.s.bind_dn)
            .field("password", &self.password)
            .finish_non_exhaustive()
    }
}

impl LdapConnector {
    /// A connector for `target`. Reads the password file now, so a bad path shows at
    /// configuration time; does not connect.
    pub fn new(target: &Target, config: LdapConfig) -> Result<Self, ConnectorError> {
        let password =
            Secret::require(config.bind_password.as_ref(), config.bind_password_file.as_deref(), "bind_password")?;
        let scheme = config.url.split("://").next().unwrap_or_default().to_ascii_lowercase();
        if !matches!(scheme.as_str(), "ldap" | "ldaps") {
            return Err(ConnectorError::Config(format!("url must start with ldap:// or ldaps://, not {scheme}://")));
        }
        if config.users_base.trim().is_empty() {
            return Err(ConnectorError::Config("users_base is required".into()));
        }
        // Loading the system trust store costs a few milliseconds: only when TLS is used.
        let tls = if scheme == "ldaps" || config.starttls {
            Some(crate::tls::client_config(config.tls_ca_file.as_deref())?)
        } else {
            None
        };
        Ok(Self {
            target: target.id.clone(),
            kind: target.kind,
            s: Settings::new(config),
            password,
            tls,
            conn: tokio::sync::Mutex::new(None),
        })
    }

    /// Opens and binds a new connection.
    async fn connect(&self) -> Result<Ldap, ConnectorError> {
        let mut settings = LdapConnSettings::new().set_conn_timeout(self.s.timeout).set_starttls(self.s.starttls);
        if let Some(tls) = &self.tls {
            settings = settings.set_config(Arc::clone(tls));
        }
        let (conn, mut ldap) =
            tokio::time::timeout(self.s.timeout, LdapConnAsync::with_settings(settings, &self.s.url))
                .await
                .map_err(|_| ConnectorError::Timeout(format!("connecting to {}", self.s.url)))?
                .map_err(|e| map_err(e, &format!("connecting to {}", self.s.url)))?;
        let url = self.s.url.clone();
        tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                tracing::debug!(url, error = %e, "LDAP connection ended");
            }
        });
        ldap.with_timeout(self.s.timeout)
            .simple_bind(&self.s.bind_dn, self.password.expose())
            .await
            .and_then(LdapResult::success)
            .map_err(|e| map_err(e, &format!("binding as {}", self.s.bind_dn)))?;
        Ok(ldap)
    }

    /// The shared connection, (re)connected when needed.
    async fn handle(&self) -> Result<Ldap, ConnectorError> {
        let mut guard = self.conn.lock().await;
        if let Some(ldap) = guard.as_mut() {
            if !ldap.is_closed() {
                return Ok(ldap.clone());
            }
        }
        let ldap = self.connect().await?;
        *guard = Some(ldap.clone());
        Ok(ldap)
    }

    /// Forgets the shared connection after a transport error, so the next call reconnects.
    async fn on_error<T>(&self, r: Result<T, ConnectorError>) -> Result<T, ConnectorError> {
        if let Err(e) = &r {
            if e.retryable() {
                *self.conn.lock().await = None;
            }
        }
        r
    }

    async fn test(&self) -> Result<String, ConnectorError> {
        // A fresh connection: the button must prove the current credentials, not an old bind.
        let mut ldap = self.connect().await?;
        self.entry(&mut ldap, &self.s.users_base, &["objectClass"])
            .await?
            .ok_or_else(|| ConnectorError::Config(format!("users_base {} does not exist", self.s.users_base)))?;
        if let Some(base) = &self.s.groups_base {
            self.entry(&mut ldap, base, &["objectClass"])
                .await?
                .ok_or_else(|| ConnectorError::Config(format!("groups_base {base} does not exist")))?;
        }
        if self.s.flavour == Flavour::Openldap && !self.schema_has(&mut ldap, &self.s.disable_attribute).await? {
            return Err(ConnectorError::Config(format!(
                "the directory's schema has no attribute {}: load the ppolicy overlay or set disable_attribute",
                self.s.disable_attribute
            )));
        }
        let _ = ldap.unbind().await;
        Ok(format!("bound to {} as {}; users base found", self.s.url, self.s.bind_dn))
    }

    /// Whether the subschema names `attr` (checked by `test_connection`, because an OpenLDAP
    /// without ppolicy would otherwise fail only at the first disable).
    async fn schema_has(&self, ldap: &mut Ldap, attr: &str) -> Result<bool, ConnectorError> {
        let root = self.entry(ldap, "", &["subschemaSubentry"]).await?;
        let Some(sub) = root.as_ref().and_then(|e| first(e, "subschemaSubentry")) else {
            return Ok(true); // no schema published: nothing to check against
        };
        let sub = sub.to_owned();
        let schema = self.entry(ldap, &sub, &["attributeTypes"]).await?;
        let needle = format!("'{}'", attr.to_ascii_lowercase());
        Ok(schema.is_none_or(|e| values(&e, "attributeTypes").iter().any(|t| t.to_ascii_lowercase().contains(&needle))))
    }

    async fn read(&self) -> Result<Vec<Account>, ConnectorError> {
        let mut ldap = self.handle().await?;
        let memberships = self.read_memberships(&mut ldap).await?;
        let mut attrs = vec![
            self.s.login_attribute.clone(),
            self.s.employee_id_attribute.clone(),
            self.s.email_attribute.clone(),
            self.s.disable_attribute.clone(),
        ];
        attrs.extend(self.s.last_used_attribute.clone());
        let entries = self.paged(&mut ldap, &self.s.users_base, &self.s.users_filter, attrs).await?;
        Ok(entries
            .into_iter()
            .map(|e| {
                let login = first(&e, &self.s.login_attribute).unwrap_or_default().to_owned();
                let member_key =
                    if self.s.members_are_logins() { login.to_ascii_lowercase() } else { normalize_dn(&e.dn) };
                Account {
                    target: self.target.clone(),
                    entitlements: memberships.get(&member_key).cloned().unwrap_or_default(),
                    enabled: !self.is_disabled(&e),
                    employee_id: first(&e, &self.s.employee_id_attribute).map(str::to_owned),
                    email: first(&e, &self.s.email_attribute).map(str::to_owned),
                    last_used: self.s.last_used_attribute.as_deref().and_then(|a| first(&e, a)).and_then(
                        |v| match self.s.flavour {
                            Flavour::ActiveDirectory => filetime_to_unix(v),
                            Flavour::Openldap => generalized_time_to_unix(v),
                        },
                    ),
                    login,
                    key: e.dn,
                }
            })
            .collect())
    }

    /// Member key (normalized DN or lowercase login) to the names of the groups listing it.
    async fn read_memberships(&self, ldap: &mut Ldap) -> Result<HashMap<String, BTreeSet<String>>, ConnectorError> {
        let mut map: HashMap<String, BTreeSet<String>> = HashMap::new();
        let Some(base) = &self.s.groups_base else { return Ok(map) };
        let attrs = vec!["cn".to_owned(), self.s.member_attribute.clone()];
        for group in self.paged(ldap, base, &self.s.groups_filter, attrs).await? {
            let name = self.group_name(&group);
            for member in values(&group, &self.s.member_attribute) {
                let key = if self.s.members_are_logins() { member.to_ascii_lowercase() } else { normalize_dn(member) };
                map.entry(key).or_default().insert(name.clone());
            }
        }
        Ok(map)
    }

    fn group_name(&self, group: &SearchEntry) -> String {
        match self.s.group_name {
            GroupName::Dn => group.dn.clone(),
            GroupName::Cn => first(group, "cn").map_or_else(|| group.dn.clone(), str::to_owned),
        }
    }

    fn is_disabled(&self, e: &SearchEntry) -> bool {
        match self.s.flavour {
            Flavour::ActiveDirectory => first(e, "userAccountControl")
                .and_then(|v| v.parse::<u32>().ok())
                .is_some_and(|u| u & UAC_ACCOUNTDISABLE != 0),
            Flavour::Openldap => {
                values(e, &self.s.disable_attribute).iter().any(|v| v.eq_ignore_ascii_case(&self.s.disable_value))
            }
        }
    }

    /// A subtree search with the simple paged results control (RFC 2696), so directories
    /// with a server size limit return everything.
    async fn paged(
        &self,
        ldap: &mut Ldap,
        base: &str,
        filter: &str,
        attrs: Vec<String>,
    ) -> Result<Vec<SearchEntry>, ConnectorError> {
        let what = format!("searching {base}");
        let adapters: Vec<Box<dyn Adapter<'_, String, Vec<String>>>> =
            vec![Box::new(EntriesOnly::new()), Box::new(PagedResults::new(self.s.page_size))];
        let mut stream = ldap
            .with_timeout(self.s.timeout)
            .streaming_search_with(adapters, base, Scope::Subtree, filter, attrs)
            .await
            .map_err(|e| map_err(e, &what))?;
        let mut out = Vec::new();
        while let Some(entry) = stream.next().await.map_err(|e| map_err(e, &what))? {
            out.push(SearchEntry::construct(entry));
        }
        stream.finish().await.success().map_err(|e| map_err(e, &what))?;
        Ok(out)
    }

    /// One entry by DN, or `None` if it does not exist.
    async fn entry(&self, ldap: &mut Ldap, dn: &str, attrs: &[&str]) -> Result<Option<SearchEntry>, ConnectorError> {
        let res = ldap.with_timeout(self.s.timeout).search(dn, Scope::Base, "(objectClass=*)", attrs.to_vec()).await;
        match res.and_then(ldap3::SearchResult::success) {
            Ok((mut entries, _)) => Ok(entries.pop().map(SearchEntry::construct)),
            Err(LdapError::LdapResult { result }) if result.rc == RC_NO_SUCH_OBJECT => Ok(None),
            Err(e) => Err(map_err(e, &format!("reading {dn}"))),
        }
    }

    /// Applies one modification; returns the raw result code so callers can treat "already
    /// so" codes as success.
    async fn modify(&self, ldap: &mut Ldap, dn: &str, m: Mod<String>) -> Result<u32, ConnectorError> {
        let res = ldap
            .with_timeout(self.s.timeout)
            .modify(dn, vec![m])
            .await
            .map_err(|e| map_err(e, &format!("modifying {dn}")))?;
        Ok(res.rc)
    }

    async fn apply_op(&self, key: Option<&str>, op: &Op) -> Result<String, ConnectorError> {
        if let Op::Create { login, entitlements } = op {
            return self.create_account(&NewAccount::from_op(login, entitlements)).await;
        }
        let dn = key.ok_or_else(|| ConnectorError::Config(format!("{} needs the account's DN", op.name())))?;
        let mut ldap = self.handle().await?;
        match op {
            Op::Create { .. } => {} // handled above, before a key is required
            Op::Disable => self.set_disabled(&mut ldap, dn, true).await?,
            Op::Enable => self.set_disabled(&mut ldap, dn, false).await?,
            Op::Grant { entitlement } => self.membership(&mut ldap, dn, entitlement, true).await?,
            Op::Revoke { entitlement } => self.membership(&mut ldap, dn, entitlement, false).await?,
            Op::Delete => self.delete(&mut ldap, dn).await?,
        }
        Ok(dn.to_owned())
    }

    async fn set_disabled(&self, ldap: &mut Ldap, dn: &str, disable: bool) -> Result<(), ConnectorError> {
        let rc = match self.s.flavour {
            Flavour::ActiveDirectory => {
                // Read-modify-write: the other UAC bits (password never expires, smartcard
                // required, …) must survive. A concurrent UAC change in between is the accepted risk.
                let Some(e) = self.entry(ldap, dn, &["userAccountControl"]).await? else {
                    return gone(dn, disable);
                };
                let uac = first(&e, "userAccountControl").and_then(|v| v.parse::<u32>().ok()).ok_or_else(|| {
                    ConnectorError::Rejected(format!("{dn} has no numeric userAccountControl: is it a user?"))
                })?;
                let new = if disable { uac | UAC_ACCOUNTDISABLE } else { uac & !UAC_ACCOUNTDISABLE };
                if new == uac {
                    return Ok(());
                }
                self.modify(ldap, dn, Mod::Replace("userAccountControl".into(), set(new.to_string()))).await?
            }
            Flavour::Openldap => {
                let (attr, value) = (self.s.disable_attribute.clone(), self.s.disable_value.clone());
                if disable {
                    // Adding the value (rather than replacing the attribute) keeps the other
                    // values of a multi-valued marker attribute such as `description`.
                    let rc = self.modify(ldap, dn, Mod::Add(attr.clone(), set(value.clone()))).await?;
                    if rc == RC_CONSTRAINT {
                        // Single-valued and holding another value (e.g. a ppolicy lockout time).
                        self.modify(ldap, dn, Mod::Replace(attr, set(value))).await?
                    } else {
                        rc
                    }
                } else {
                    self.modify(ldap, dn, Mod::Delete(attr, set(value))).await?
                }
            }
        };
        match rc {
            0 | RC_VALUE_EXISTS | RC_NO_SUCH_ATTRIBUTE => Ok(()),
            RC_NO_SUCH_OBJECT => gone(dn, disable),
            RC_UNDEFINED_TYPE => Err(ConnectorError::Config(format!(
                "the directory does not know attribute {}: load the ppolicy overlay or set disable_attribute",
                self.s.disable_attribute
            ))),
            rc => Err(rc_error(rc, &format!("{} {dn}", if disable { "disabling" } else { "enabling" }))),
        }
    }

    /// Grants (adds the account to) or revokes (removes it from) one group.
    async fn membership(
        &self,
        ldap: &mut Ldap,
        dn: &str,
        entitlement: &str,
        grant: bool,
    ) -> Result<(), ConnectorError> {
        let Some(group) = self.find_group(ldap, entitlement).await? else {
            if grant {
                return Err(ConnectorError::Rejected(format!("no group {entitlement} under the groups base")));
            }
            tracing::info!(target_id = self.target, entitlement, "revoke: the group does not exist, nothing to remove");
            return Ok(());
        };
        let value = if self.s.members_are_logins() {
            match self.entry(ldap, dn, &[&self.s.login_attribute]).await? {
                Some(e) => first(&e, &self.s.login_attribute).unwrap_or_default().to_owned(),
                None if grant => return Err(ConnectorError::NotFound(dn.to_owned())),
                None => return gone(dn, true),
            }
        } else {
            // A grant to an entry that does not exist would leave a dangling member value.
            if grant && self.entry(ldap, dn, &["objectClass"]).await?.is_none() {
                return Err(ConnectorError::NotFound(dn.to_owned()));
            }
            dn.to_owned()
        };
        let attr = self.s.member_attribute.clone();
        let m = if grant { Mod::Add(attr, set(value)) } else { Mod::Delete(attr, set(value)) };
        match self.modify(ldap, &group, m).await? {
            0 | RC_VALUE_EXISTS | RC_NO_SUCH_ATTRIBUTE => Ok(()),
            65 => Err(ConnectorError::Rejected(format!(
                "{group} would be left without members, which its object class forbids; add a placeholder member first"
            ))),
            RC_NO_SUCH_OBJECT if !grant => Ok(()),
            rc => Err(rc_error(rc, &format!("changing membership of {group}"))),
        }
    }

    /// The DN of the group an entitlement names (a DN is taken as is when it exists).
    async fn find_group(&self, ldap: &mut Ldap, entitlement: &str) -> Result<Option<String>, ConnectorError> {
        let base = self.s.groups_base.as_deref().ok_or_else(|| {
            ConnectorError::Config("groups_base is not configured: this target has no group entitlements".into())
        })?;
        if entitlement.contains('=') {
            return Ok(self.entry(ldap, entitlement, &["objectClass"]).await?.map(|e| e.dn));
        }
        let filter = format!("(&{}(cn={}))", self.s.groups_filter, ldap_escape(entitlement));
        let mut found = self.paged(ldap, base, &filter, vec!["cn".to_owned()]).await?;
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop().map(|e| e.dn)),
            n => Err(ConnectorError::Rejected(format!("{n} groups are named {entitlement}: use the group's DN"))),
        }
    }

    async fn delete(&self, ldap: &mut Ldap, dn: &str) -> Result<(), ConnectorError> {
        let Some(entry) = self.entry(ldap, dn, &[&self.s.login_attribute]).await? else {
            return gone(dn, true);
        };
        // AD keeps group links itself; OpenLDAP without the refint overlay would keep the
        // deleted DN in every group, so remove the memberships first.
        if self.s.flavour == Flavour::Openldap {
            if let Some(base) = self.s.groups_base.clone() {
                let value = if self.s.members_are_logins() {
                    first(&entry, &self.s.login_attribute).unwrap_or_default().to_owned()
                } else {
                    entry.dn.clone()
                };
                let filter =
                    format!("(&{}({}={}))", self.s.groups_filter, self.s.member_attribute, ldap_escape(&value));
                for group in self.paged(ldap, &base, &filter, vec!["cn".to_owned()]).await? {
                    let m = Mod::Delete(self.s.member_attribute.clone(), set(value.clone()));
                    match self.modify(ldap, &group.dn, m).await? {
                        0 | RC_NO_SUCH_ATTRIBUTE | RC_NO_SUCH_OBJECT => {}
                        rc => return Err(rc_error(rc, &format!("removing {dn} from {}", group.dn))),
                    }
                }
            }
        }
        let res =
            ldap.with_timeout(self.s.timeout).delete(dn).await.map_err(|e| map_err(e, &format!("deleting {dn}")))?;
        match res.rc {
            0 => Ok(()),
            RC_NO_SUCH_OBJECT => gone(dn, true),
            rc => Err(rc_error(rc, &format!("deleting {dn}"))),
        }
    }

    async fn create_account(&self, new: &NewAccount) -> Result<String, ConnectorError> {
        if new.login.trim().is_empty() {
            return Err(ConnectorError::Rejected("a new account needs a login".into()));
        }
        let mut ldap = self.handle().await?;
        let filter = format!("(&{}({}={}))", self.s.users_filter, self.s.login_attribute, ldap_escape(&new.login));
        let existing = self.paged(&mut ldap, &self.s.users_base, &filter, vec!["objectClass".to_owned()]).await?;
        let dn = if let Some(e) = existing.into_iter().next() {
            e.dn
        } else {
            let dn = format!("{}={},{}", self.s.rdn_attribute, ldap3::dn_escape(&new.login), self.s.users_base);
            let attrs = self.new_entry_attributes(new);
            let res = ldap
                .with_timeout(self.s.timeout)
                .add(&dn, attrs)
                .await
                .map_err(|e| map_err(e, &format!("adding {dn}")))?;
            match res.rc {
                0 | RC_ALREADY_EXISTS => {}
                rc => return Err(rc_error(rc, &format!("adding {dn}: {}", res.text))),
            }
            dn
        };
        for entitlement in &new.entitlements {
            self.membership(&mut ldap, &dn, entitlement, true).await?;
        }
        Ok(dn)
    }

    /// The attributes of a new entry. Names the joiner lacks default to the login, because
    /// inetOrgPerson requires `cn` and `sn`.
    fn new_entry_attributes(&self, new: &NewAccount) -> Vec<(String, HashSet<String>)> {
        let mut attrs: Vec<(String, HashSet<String>)> = Vec::new();
        let mut put = |name: &str, value: &str| {
            if value.is_empty() {
                return;
            }
            match attrs.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                Some((_, vals)) => {
                    vals.insert(value.to_owned());
                }
                None => attrs.push((name.to_owned(), set(value.to_owned()))),
            }
        };
        for class in &self.s.object_classes {
            put("objectClass", class);
        }
        let given = new.given_name.as_deref().unwrap_or_default();
        let family = new.family_name.as_deref().unwrap_or(&new.login);
        let cn = if given.is_empty() { family.to_owned() } else { format!("{given} {family}") };
        put(&self.s.rdn_attribute, &new.login);
        put(&self.s.login_attribute, &new.login);
        match self.s.flavour {
            Flavour::Openldap => {
                put("cn", &cn);
                put("sn", family);
                put("givenName", given);
            }
            Flavour::ActiveDirectory => {
                put("displayName", &cn);
                put("givenName", given);
                put("sn", family);
                put("userAccountControl", UAC_NORMAL_DISABLED);
            }
        }
        if let Some(v) = &new.employee_id {
            put(&self.s.employee_id_attribute, v);
        }
        if let Some(v) = &new.email {
            put(&self.s.email_attribute, v);
        }
        for (name, vals) in &new.attributes {
            for v in vals {
                put(name, v);
            }
        }
        attrs
    }
}

impl Connector for LdapConnector {
    fn kind(&self) -> TargetKind {
        self.kind
    }

    fn test_connection(&self) -> BoxFuture<'_, Result<String, ConnectorError>> {
        Box::pin(self.test())
    }

    fn read_accounts(&self) -> BoxFuture<'_, Result<Vec<Account>, ConnectorError>> {
        Box::pin(async move {
            let r = self.read().await;
            self.on_error(r).await
        })
    }

    fn apply<'a>(&'a self, key: Option<&'a str>, op: &'a Op) -> BoxFuture<'a, Result<String, ConnectorError>> {
        Box::pin(async move {
            let r = self.apply_op(key, op).await;
            self.on_error(r).await
        })
    }

    fn create<'a>(&'a self, new: &'a NewAccount) -> BoxFuture<'a, Result<String, ConnectorError>> {
        Box::pin(async move {
            let r = self.create_account(new).await;
            self.on_error(r).await
        })
    }
}

/// The outcome of an op on an account that no longer exists: done for Disable, Revoke and
/// Delete (the goal, no access, is met), an error for the others.
fn gone(dn: &str, goal_met: bool) -> Result<(), ConnectorError> {
    if goal_met {
        tracing::info!(dn, "account is gone from the directory: nothing left to remove");
        Ok(())
    } else {
        Err(ConnectorError::NotFound(dn.to_owned()))
    }
}

fn set(value: String) -> HashSet<String> {
    HashSet::from([value])
}

/// Attribute values by case-insensitive name (servers return the schema's spelling).
fn values<'e>(e: &'e SearchEntry, name: &str) -> &'e [String] {
    e.attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map_or(&[], |(_, v)| v.as_slice())
}

fn first<'e>(e: &'e SearchEntry, name: &str) -> Option<&'e str> {
    values(e, name).first().map(String::as_str)
}

/// A DN in a form where two spellings of the same DN compare equal in the common cases
/// (case, spaces after commas). Not full RFC 4514 matching, which needs the schema.
fn normalize_dn(dn: &str) -> String {
    dn.split(',').map(str::trim).collect::<Vec<_>>().join(",").to_lowercase()
}

/// Windows FILETIME (100 ns since 1601-01-01) to Unix seconds; 0 means "never".
fn filetime_to_unix(v: &str) -> Option<Time> {
    let ticks = v.trim().parse::<i64>().ok().filter(|t| *t > 0)?;
    Some(ticks / 10_000_000 - 11_644_473_600)
}

/// LDAP GeneralizedTime (`YYYYMMDDHHMMSS[.fff]Z`) to Unix seconds.
fn generalized_time_to_unix(v: &str) -> Option<Time> {
    let digits = v.get(..14).filter(|d| d.bytes().all(|b| b.is_ascii_digit()))?;
    let num = |r: std::ops::Range<usize>| digits.get(r).and_then(|s| s.parse::<i32>().ok());
    let month = time::Month::try_from(u8::try_from(num(4..6)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(num(0..4)?, month, u8::try_from(num(6..8)?).ok()?).ok()?;
    let t = time::Time::from_hms(
        u8::try_from(num(8..10)?).ok()?,
        u8::try_from(num(10..12)?).ok()?,
        u8::try_from(num(12..14)?).ok()?,
    )
    .ok()?;
    Some(time::PrimitiveDateTime::new(date, t).assume_utc().unix_timestamp())
}

/// Maps an ldap3 error to what the caller can do about it. `what` says which step failed;
/// no message holds the bind password.
fn map_err(e: LdapError, what: &str) -> ConnectorError {
    match e {
        LdapError::LdapResult { result } => rc_error(result.rc, &format!("{what}: {}", result.text)),
        LdapError::Timeout { .. } => ConnectorError::Timeout(what.to_owned()),
        LdapError::Io { source } => ConnectorError::Unreachable(format!("{what}: {source}")),
        LdapError::Rustls { source } => ConnectorError::Unreachable(format!("{what}: TLS: {source}")),
        LdapError::DNSName { source } => ConnectorError::Config(format!("{what}: TLS server name: {source}")),
        LdapError::OpSend { .. }
        | LdapError::ResultRecv { .. }
        | LdapError::EndOfStream
        | LdapError::IdScrubSend { .. } => ConnectorError::Unreachable(format!("{what}: connection closed")),
        LdapError::UrlParsing { .. } | LdapError::UnknownScheme(_) | LdapError::FilterParsing => {
            ConnectorError::Config(format!("{what}: {e}"))
        }
        other => ConnectorError::Rejected(format!("{what}: {other}")),
    }
}

fn rc_error(rc: u32, what: &str) -> ConnectorError {
    match rc {
        RC_INVALID_CREDENTIALS => ConnectorError::Auth(format!("{what}: invalid credentials")),
        RC_INSUFFICIENT_ACCESS => ConnectorError::Auth(format!("{what}: insufficient access rights")),
        RC_NO_SUCH_OBJECT => ConnectorError::NotFound(what.to_owned()),
        RC_BUSY | RC_UNAVAILABLE => {
            ConnectorError::Unreachable(format!("{what}: server busy or unavailable (rc {rc})"))
        }
        RC_TIME_LIMIT => ConnectorError::Timeout(format!("{what}: server time limit")),
        rc => ConnectorError::Rejected(format!("{what} (LDAP result {rc})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        // 2021-01-01T00:00:00Z
        assert_eq!(filetime_to_unix("132539328000000000"), Some(1_609_459_200));
        assert_eq!(filetime_to_unix("0"), None);
        assert_eq!(generalized_time_to_unix("20210101000000Z"), Some(1_609_459_200));
        assert_eq!(generalized_time_to_unix("20210101000000.123Z"), Some(1_609_459_200));
        assert_eq!(generalized_time_to_unix("2021"), None);
    }

    #[test]
    fn dn_normalization() {
        assert_eq!(normalize_dn("UID=a, OU=People,dc=X"), normalize_dn("uid=A,ou=people, DC=x"));
    }
}
