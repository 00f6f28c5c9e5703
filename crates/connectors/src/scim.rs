//! SCIM 2.0 client (RFC 7643/7644): client process applications that expose `/Users` and
//! `/Groups`. Accounts are Users (key = SCIM `id`), enabled is `active`, entitlements are
//! group display names or role values, and the employee number comes from the enterprise
//! extension.
//!
//! Every change first reads the user, so ops stay idempotent on servers that would
//! otherwise duplicate a role or refuse to remove a missing member.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use bposhield_identity::model::{Account, Op, Target, TargetKind};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{BoxFuture, Connector, ConnectorError, NewAccount, Secret};

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const SCIM_JSON: &str = "application/scim+json";

/// Where a SCIM target keeps entitlements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScimEntitlements {
    /// Group membership: `groups[].display`; changed through `PATCH /Groups/{id}`.
    #[default]
    Groups,
    /// `roles[].value` on the user; changed through `PATCH /Users/{id}`.
    Roles,
}

/// The config of a SCIM 2.0 target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScimConfig {
    /// The SCIM root, e.g. `https://app.example.com/scim/v2` (`/Users` is appended).
    pub base_url: String,
    #[serde(default)]
    pub bearer_token: Option<Secret>,
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    /// PEM file of a private CA trusted besides the system roots.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    #[serde(default)]
    pub entitlements: ScimEntitlements,
    /// Users per page when reading (`count`).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Timeout of each HTTP request, seconds.
    #[serde(default = "crate::config::default_timeout_secs")]
    pub timeout_secs: u64,
}

const fn default_page_size() -> u32 {
    100
}

/// The SCIM client connector.
pub struct ScimConnector {
    target: String,
    kind: TargetKind,
    base: String,
    token: Secret,
    entitlements: ScimEntitlements,
    page_size: u32,
    http: reqwest::Client,
}

impl std::fmt::Debug for ScimConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScimConnector")
            .field("target", &self.target)
            .field("base", &self.base)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl ScimConnector {
    /// A connector for `target`; reads the token file now, does not connect.
    pub fn new(target: &Target, config: ScimConfig) -> Result<Self, ConnectorError> {
        let token = Secret::require(config.bearer_token.as_ref(), config.bearer_token_file.as_deref(), "bearer_token")?;
        let base = config.base_url.trim_end_matches('/').to_owned();
        let tls = if base.starts_with("https://") {
            crate::tls::client_config(config.tls_ca_file.as_deref())?
        } else if base.starts_with("http://") {
            crate::tls::client_config(None)?
        } else {
            return Err(ConnectorError::Config("base_url must start with http:// or https://".into()));
        };
        let timeout = Duration::from_secs(config.timeout_secs.max(1));
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(rustls::ClientConfig::clone(&tls))
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| ConnectorError::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            target: target.id.clone(),
            kind: target.kind,
            base,
            token,
            entitlements: config.entitlements,
            page_size: config.page_size.clamp(1, 1000),
            http,
        })
    }

    /// One SCIM request. `Ok(None)` for a body-less success (204).
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Option<Value>, ConnectorError> {
        let what = format!("{method} {path}");
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .query(query)
            .header(AUTHORIZATION, format!("Bearer {}", self.token.expose()))
            .header(ACCEPT, format!("{SCIM_JSON}, application/json"));
        if let Some(body) = body {
            let bytes = serde_json::to_vec(body).map_err(|e| ConnectorError::Rejected(format!("{what}: {e}")))?;
            req = req.header(CONTENT_TYPE, SCIM_JSON).body(bytes);
        }
        let resp = req.send().await.map_err(|e| http_error(&e, &what))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| http_error(&e, &what))?;
        let body: Option<Value> = if bytes.is_empty() { None } else { serde_json::from_slice(&bytes).ok() };
        if status.is_success() {
            return Ok(body);
        }
        Err(status_error(status, body.as_ref(), &what))
    }

    async fn test(&self) -> Result<String, ConnectorError> {
        let list = self.call(Method::GET, "/Users", &[("startIndex", "1".into()), ("count", "1".into())], None).await?;
        let total = list.as_ref().and_then(|l| l.get("totalResults")).and_then(Value::as_u64).unwrap_or(0);
        Ok(format!("SCIM service at {} answered; {total} users", self.base))
    }

    async fn read(&self) -> Result<Vec<Account>, ConnectorError> {
        let mut accounts: Vec<Account> = self.list("/Users").await?.iter().filter_map(|u| self.account(u)).collect();
        if self.entitlements == ScimEntitlements::Groups {
            // `User.groups` is optional and read-only (RFC 7643 §4.1.2): some servers leave it
            // out, so membership is also read from the groups themselves.
            let mut by_member: HashMap<String, BTreeSet<String>> = HashMap::new();
            for group in self.list("/Groups").await? {
                let Some(name) = group.get("displayName").and_then(Value::as_str) else { continue };
                for id in member_ids(&group) {
                    by_member.entry(id.to_owned()).or_default().insert(name.to_owned());
                }
            }
            for a in &mut accounts {
                if let Some(names) = by_member.remove(&a.key) {
                    a.entitlements.extend(names);
                }
            }
        }
        Ok(accounts)
    }

    /// Every resource of a collection, page by page (`startIndex`/`count`).
    async fn list(&self, path: &str) -> Result<Vec<Value>, ConnectorError> {
        let mut out = Vec::new();
        let mut start: u64 = 1;
        loop {
            let query = [("startIndex", start.to_string()), ("count", self.page_size.to_string())];
            let mut list = self.call(Method::GET, path, &query, None).await?.unwrap_or(Value::Null);
            let resources = match list.get_mut("Resources").map(Value::take) {
                Some(Value::Array(r)) => r,
                _ => Vec::new(),
            };
            let total = list.get("totalResults").and_then(Value::as_u64).unwrap_or(0);
            let n = resources.len() as u64;
            out.extend(resources);
            start += n;
            if n == 0 || start > total {
                return Ok(out);
            }
        }
    }

    fn account(&self, user: &Value) -> Option<Account> {
        let str_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let emails = user.get("emails").and_then(Value::as_array);
        let email = emails.and_then(|es| {
            es.iter().find(|e| e.get("primary").and_then(Value::as_bool) == Some(true)).or_else(|| es.first())
        });
        Some(Account {
            target: self.target.clone(),
            key: str_of(user, "id")?,
            login: str_of(user, "userName").unwrap_or_default(),
            employee_id: user.get(ENTERPRISE).and_then(|x| str_of(x, "employeeNumber")),
            email: email.and_then(|e| str_of(e, "value")),
            // RFC 7643: a user without `active` is not known to be inactive.
            enabled: user.get("active").and_then(Value::as_bool).unwrap_or(true),
            entitlements: self.entitlements_of(user),
            last_used: None,
        })
    }

    fn entitlements_of(&self, user: &Value) -> BTreeSet<String> {
        let (attr, field) = match self.entitlements {
            ScimEntitlements::Groups => ("groups", "display"),
            ScimEntitlements::Roles => ("roles", "value"),
        };
        user.get(attr)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|g| g.get(field).or_else(|| g.get("value")).and_then(Value::as_str).map(str::to_owned))
            .collect()
    }

    /// The user, or `None` if the server says it is gone.
    async fn user(&self, id: &str) -> Result<Option<Value>, ConnectorError> {
        match self.call(Method::GET, &user_path(id), &[], None).await {
            Ok(v) => Ok(v),
            Err(ConnectorError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn patch(&self, path: &str, operations: Value) -> Result<(), ConnectorError> {
        let body = json!({ "schemas": [PATCH_OP], "Operations": operations });
        self.call(Method::PATCH, path, &[], Some(&body)).await.map(|_| ())
    }

    async fn apply_op(&self, key: Option<&str>, op: &Op) -> Result<String, ConnectorError> {
        let id = match (op, key) {
            (Op::Create { login, entitlements }, _) => {
                return self.create_user(&NewAccount::from_op(login, entitlements)).await
            }
            (_, Some(id)) => id,
            (_, None) => return Err(ConnectorError::Config(format!("{} needs the user's SCIM id", op.name()))),
        };
        let goal_met_if_gone = matches!(op, Op::Disable | Op::Revoke { .. } | Op::Delete);
        if let Op::Delete = op {
            return match self.call(Method::DELETE, &user_path(id), &[], None).await {
                Ok(_) => Ok(id.to_owned()),
                Err(ConnectorError::NotFound(_)) => gone(id),
                Err(e) => Err(e),
            };
        }
        let Some(user) = self.user(id).await? else {
            return if goal_met_if_gone { gone(id) } else { Err(ConnectorError::NotFound(format!("user {id}"))) };
        };
        match op {
            Op::Disable | Op::Enable => {
                let want = matches!(op, Op::Enable);
                if user.get("active").and_then(Value::as_bool).unwrap_or(true) != want {
                    self.patch(&user_path(id), json!([{ "op": "replace", "path": "active", "value": want }])).await?;
                }
            }
            Op::Grant { entitlement } | Op::Revoke { entitlement } => {
                self.set_entitlement(id, &user, entitlement, matches!(op, Op::Grant { .. })).await?;
            }
            Op::Create { .. } | Op::Delete => {} // handled above
        }
        Ok(id.to_owned())
    }

    /// Grants or revokes one entitlement of an existing user, if it is not already so.
    async fn set_entitlement(
        &self,
        id: &str,
        user: &Value,
        entitlement: &str,
        grant: bool,
    ) -> Result<(), ConnectorError> {
        match self.entitlements {
            ScimEntitlements::Roles => {
                if self.entitlements_of(user).contains(entitlement) == grant {
                    return Ok(());
                }
                let ops = if grant {
                    json!([{ "op": "add", "path": "roles", "value": [{ "value": entitlement }] }])
                } else {
                    json!([{ "op": "remove", "path": format!("roles[value eq {}]", scim_string(entitlement)) }])
                };
                self.patch(&user_path(id), ops).await
            }
            ScimEntitlements::Groups => {
                let Some(group) = self.find_group(entitlement).await? else {
                    if grant {
                        return Err(ConnectorError::Rejected(format!("no group named {entitlement}")));
                    }
                    return Ok(());
                };
                if member_ids(&group).any(|m| m == id) == grant {
                    return Ok(());
                }
                let group_id = group.get("id").and_then(Value::as_str).unwrap_or_default();
                let ops = if grant {
                    json!([{ "op": "add", "path": "members", "value": [{ "value": id }] }])
                } else {
                    json!([{ "op": "remove", "path": format!("members[value eq {}]", scim_string(id)) }])
                };
                match self.patch(&format!("/Groups/{}", path_segment(group_id)), ops).await {
                    // A remove whose filter matched nothing (a concurrent change): not a member.
                    Err(ConnectorError::Rejected(msg)) if !grant && msg.contains("noTarget") => Ok(()),
                    r => r,
                }
            }
        }
    }

    /// The group named `name` (with its members), if exactly one exists.
    async fn find_group(&self, name: &str) -> Result<Option<Value>, ConnectorError> {
        let query = [("filter", format!("displayName eq {}", scim_string(name))), ("count", "2".into())];
        let mut list = self.call(Method::GET, "/Groups", &query, None).await?.unwrap_or(Value::Null);
        let mut found = match list.get_mut("Resources").map(Value::take) {
            Some(Value::Array(r)) => r,
            _ => Vec::new(),
        };
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop()),
            _ => Err(ConnectorError::Rejected(format!("several groups are named {name}"))),
        }
    }

    async fn create_user(&self, new: &NewAccount) -> Result<String, ConnectorError> {
        if new.login.trim().is_empty() {
            return Err(ConnectorError::Rejected("a new account needs a login".into()));
        }
        let id = match self.find_user(&new.login).await? {
            Some(id) => id,
            None => {
                let mut user = json!({ "schemas": [USER_SCHEMA], "userName": new.login, "active": true });
                let mut name = serde_json::Map::new();
                if let Some(v) = &new.given_name {
                    name.insert("givenName".into(), json!(v));
                }
                if let Some(v) = &new.family_name {
                    name.insert("familyName".into(), json!(v));
                }
                if !name.is_empty() {
                    user["name"] = Value::Object(name);
                }
                if let Some(v) = &new.email {
                    user["emails"] = json!([{ "value": v, "type": "work", "primary": true }]);
                }
                if let Some(v) = &new.employee_id {
                    user["schemas"] = json!([USER_SCHEMA, ENTERPRISE]);
                    user[ENTERPRISE] = json!({ "employeeNumber": v });
                }
                match self.call(Method::POST, "/Users", &[], Some(&user)).await {
                    Ok(created) => created
                        .as_ref()
                        .and_then(|c| c.get("id"))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .ok_or_else(|| ConnectorError::Rejected("POST /Users returned no id".into()))?,
                    // Created concurrently (or the earlier attempt's answer was lost).
                    Err(ConnectorError::Rejected(msg)) if msg.contains("409") => self
                        .find_user(&new.login)
                        .await?
                        .ok_or_else(|| ConnectorError::Rejected(format!("POST /Users: {msg}")))?,
                    Err(e) => return Err(e),
                }
            }
        };
        if !new.entitlements.is_empty() {
            let user = self.user(&id).await?.ok_or_else(|| ConnectorError::NotFound(format!("user {id}")))?;
            for entitlement in &new.entitlements {
                self.set_entitlement(&id, &user, entitlement, true).await?;
            }
        }
        Ok(id)
    }

    async fn find_user(&self, login: &str) -> Result<Option<String>, ConnectorError> {
        let query = [("filter", format!("userName eq {}", scim_string(login))), ("count", "1".into())];
        let list = self.call(Method::GET, "/Users", &query, None).await?.unwrap_or(Value::Null);
        Ok(list
            .get("Resources")
            .and_then(Value::as_array)
            .and_then(|r| r.first())
            .and_then(|u| u.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned))
    }
}

impl Connector for ScimConnector {
    fn kind(&self) -> TargetKind {
        self.kind
    }

    fn test_connection(&self) -> BoxFuture<'_, Result<String, ConnectorError>> {
        Box::pin(self.test())
    }

    fn read_accounts(&self) -> BoxFuture<'_, Result<Vec<Account>, ConnectorError>> {
        Box::pin(self.read())
    }

    fn apply<'a>(&'a self, key: Option<&'a str>, op: &'a Op) -> BoxFuture<'a, Result<String, ConnectorError>> {
        Box::pin(self.apply_op(key, op))
    }

    fn create<'a>(&'a self, new: &'a NewAccount) -> BoxFuture<'a, Result<String, ConnectorError>> {
        Box::pin(self.create_user(new))
    }
}

fn gone(id: &str) -> Result<String, ConnectorError> {
    tracing::info!(id, "SCIM user is gone: nothing left to remove");
    Ok(id.to_owned())
}

/// The user ids a group lists as members.
fn member_ids(group: &Value) -> impl Iterator<Item = &str> {
    group
        .get("members")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("value").and_then(Value::as_str))
}

fn user_path(id: &str) -> String {
    format!("/Users/{}", path_segment(id))
}

/// Percent-encodes an id for a URL path (ids are usually UUIDs, but nothing guarantees it).
fn path_segment(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A SCIM filter string literal (JSON string syntax, RFC 7644 §3.4.2.2).
fn scim_string(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

fn http_error(e: &reqwest::Error, what: &str) -> ConnectorError {
    if e.is_timeout() {
        ConnectorError::Timeout(what.to_owned())
    } else if e.is_builder() {
        ConnectorError::Config(format!("{what}: {e}"))
    } else {
        ConnectorError::Unreachable(format!("{what}: {e}"))
    }
}

fn status_error(status: StatusCode, body: Option<&Value>, what: &str) -> ConnectorError {
    let detail = body.and_then(|b| b.get("detail")).and_then(Value::as_str).unwrap_or_default();
    let scim_type = body.and_then(|b| b.get("scimType")).and_then(Value::as_str).unwrap_or_default();
    let msg = format!("{what}: HTTP {} {scim_type} {detail}", status.as_u16()).trim_end().to_owned();
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ConnectorError::Auth(msg),
        StatusCode::NOT_FOUND => ConnectorError::NotFound(msg),
        StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => ConnectorError::Timeout(msg),
        StatusCode::TOO_MANY_REQUESTS => ConnectorError::Unreachable(msg),
        s if s.is_server_error() => ConnectorError::Unreachable(msg),
        _ => ConnectorError::Rejected(msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(scim_string("a \"b\""), r#""a \"b\"""#);
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn statuses() {
        assert!(status_error(StatusCode::SERVICE_UNAVAILABLE, None, "x").retryable());
        assert!(matches!(status_error(StatusCode::FORBIDDEN, None, "x"), ConnectorError::Auth(_)));
        let body = json!({"scimType": "noTarget", "detail": "nothing"});
        assert!(
            matches!(status_error(StatusCode::BAD_REQUEST, Some(&body), "x"), ConnectorError::Rejected(m) if m.contains("noTarget"))
        );
    }
}
