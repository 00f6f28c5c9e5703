//! Input normalisation against the schema, attribute projection (`attributes`,
//! `excludedAttributes`) and the list response.

use crate::error::{ScimError, ScimResult};
use crate::filter::{get_ci, AttrPath};
use crate::schema::{AttrType, Attribute, Mutability, ResourceType, Returned, Schema, LIST_RESPONSE_SCHEMA};
use serde_json::{json, Map, Value};

/// Normalises a resource a client sent (POST, PUT, or the result of PATCH): attribute
/// names in their canonical case, string booleans (`"False"`) as booleans, single
/// values of multi-valued attributes wrapped in arrays, types checked, `primary` at most
/// once. Drops what the server owns or never keeps: read-only attributes (`id`, `meta`,
/// `groups`), `password`, `schemas`, and attributes no schema defines. Errors when a
/// required attribute is missing.
pub fn normalize(rt: &ResourceType, input: &Value) -> ScimResult<Value> {
    let Value::Object(m) = input else { return Err(ScimError::syntax("a resource is a JSON object")) };
    let mut out = Map::new();
    for (k, v) in m {
        if let Some(ext) = rt.extension(k) {
            match v {
                Value::Null => {}
                Value::Object(inner) => {
                    let n = attrs(ext, inner)?;
                    if !n.is_empty() {
                        out.insert(ext.id.to_owned(), Value::Object(n));
                    }
                }
                _ => return Err(ScimError::value(format!("{k} must be an object"))),
            }
            continue;
        }
        if crate::filter::is_urn(k) {
            // `urn:…:User:employeeNumber` as a key.
            let Ok(p) = AttrPath::parse(k) else { continue };
            let Some(ext) = p.urn.as_deref().and_then(|u| rt.extension(u)) else { continue };
            let mut one = Map::new();
            one.insert(p.attr.clone(), v.clone());
            let n = attrs(ext, &one)?;
            let slot = out.entry(ext.id.to_owned()).or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(s) = slot {
                s.extend(n);
            }
            continue;
        }
        let Some(def) =
            rt.schema.attr(k).or_else(|| crate::schema::COMMON.iter().find(|a| a.name.eq_ignore_ascii_case(k)))
        else {
            continue;
        };
        if let Some(x) = attr_value(def, v)? {
            out.insert(def.name.to_owned(), x);
        }
    }
    for def in rt.schema.attributes.iter().filter(|a| a.required) {
        if !out.contains_key(def.name) {
            return Err(ScimError::value(format!("{} is required", def.name)));
        }
    }
    Ok(Value::Object(out))
}

fn attrs(schema: &Schema, m: &Map<String, Value>) -> ScimResult<Map<String, Value>> {
    let mut out = Map::new();
    for (k, v) in m {
        let Some(def) = schema.attr(k) else { continue };
        if let Some(x) = attr_value(def, v)? {
            out.insert(def.name.to_owned(), x);
        }
    }
    Ok(out)
}

/// The normalised value of one attribute; `None` when unassigned or not kept.
fn attr_value(def: &Attribute, v: &Value) -> ScimResult<Option<Value>> {
    if def.mutability == Mutability::ReadOnly || def.returned == Returned::Never {
        return Ok(None);
    }
    if v.is_null() {
        return Ok(None);
    }
    if def.multi_valued {
        let items: Vec<&Value> = match v {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        let mut out = Vec::new();
        for it in items {
            if let Some(x) = single(def, it)? {
                out.push(x);
            }
        }
        if out.is_empty() {
            return Ok(None);
        }
        let primaries = out.iter().filter(|x| get_ci(x, "primary") == Some(&Value::Bool(true))).count();
        if primaries > 1 {
            return Err(ScimError::value(format!("{}: primary may be true for one value only", def.name)));
        }
        return Ok(Some(Value::Array(out)));
    }
    single(def, v)
}

fn single(def: &Attribute, v: &Value) -> ScimResult<Option<Value>> {
    let bad = || ScimError::value(format!("{} must be of type {}", def.name, def.ty.as_str()));
    Ok(Some(match (def.ty, v) {
        (_, Value::Null) => return Ok(None),
        (AttrType::Complex, Value::Object(m)) => {
            let mut out = Map::new();
            for (k, x) in m {
                let Some(s) = def.sub(k) else { continue };
                if s.mutability == Mutability::ReadOnly && def.name != "manager" {
                    continue;
                }
                if let Some(y) = single(s, x)? {
                    out.insert(s.name.to_owned(), y);
                }
            }
            if out.is_empty() {
                return Ok(None);
            }
            Value::Object(out)
        }
        // A multi-valued complex attribute given a bare value, e.g. `members: ["id"]`.
        (AttrType::Complex, Value::String(s)) if def.sub("value").is_some() => json!({ "value": s }),
        (AttrType::Boolean, Value::Bool(b)) => Value::Bool(*b),
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
        (AttrType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => v.clone(),
        (AttrType::Decimal, Value::Number(_)) => v.clone(),
        (AttrType::String | AttrType::Reference | AttrType::Binary | AttrType::DateTime, Value::String(_)) => v.clone(),
        _ => return Err(bad()),
    }))
}

/// Which attributes a response carries (RFC 7644 §3.4.2.5).
#[derive(Debug, Clone, Default)]
pub struct Projection {
    /// `attributes`: only these (plus those returned always).
    pub attributes: Vec<AttrPath>,
    /// `excludedAttributes`: all but these (those returned always stay).
    pub excluded: Vec<AttrPath>,
}

impl Projection {
    /// From the comma-separated query parameters.
    pub fn parse(attributes: Option<&str>, excluded: Option<&str>) -> ScimResult<Self> {
        let list = |s: Option<&str>| -> ScimResult<Vec<AttrPath>> {
            s.map(|s| s.split(',').map(str::trim).filter(|x| !x.is_empty()).map(parse_attr_or_urn).collect())
                .unwrap_or_else(|| Ok(Vec::new()))
        };
        Ok(Self { attributes: list(attributes)?, excluded: list(excluded)? })
    }

    /// Applies the projection to a full resource.
    #[must_use]
    pub fn apply(&self, rt: &ResourceType, doc: &Value) -> Value {
        let Value::Object(m) = doc else { return doc.clone() };
        let mut out = Map::new();
        for (k, v) in m {
            if k == "schemas" {
                out.insert(k.clone(), v.clone());
                continue;
            }
            if let Some(ext) = rt.extension(k) {
                let Value::Object(inner) = v else { continue };
                let mut e = Map::new();
                for (ik, iv) in inner {
                    let Some(def) = ext.attr(ik) else { continue };
                    if let Some(x) = self.pick(Some(ext.id), def, iv) {
                        e.insert(ik.clone(), x);
                    }
                }
                if !e.is_empty() {
                    out.insert(k.clone(), Value::Object(e));
                }
                continue;
            }
            let Some(def) = rt.attr(None, k) else { continue };
            if let Some(x) = self.pick(None, def, v) {
                out.insert(k.clone(), x);
            }
        }
        Value::Object(out)
    }

    /// The (possibly narrowed) value of a top-level attribute, or `None` to omit it.
    fn pick(&self, urn: Option<&str>, def: &Attribute, v: &Value) -> Option<Value> {
        let names = |p: &AttrPath| {
            p.attr.eq_ignore_ascii_case(def.name)
                && match (&p.urn, urn) {
                    (None, None) => true,
                    (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                    (Some(a), None) => {
                        a.eq_ignore_ascii_case(crate::schema::USER_SCHEMA)
                            || a.eq_ignore_ascii_case(crate::schema::GROUP_SCHEMA)
                    }
                    (None, Some(_)) => false,
                }
        };
        // The whole extension named by its URN.
        let names_ext = |p: &AttrPath| {
            urn.is_some_and(|u| format!("{}:{}", p.urn.as_deref().unwrap_or(""), p.attr).eq_ignore_ascii_case(u))
        };
        match def.returned {
            Returned::Never => return None,
            Returned::Always => return Some(v.clone()),
            _ => {}
        }
        if !self.attributes.is_empty() {
            if self.attributes.iter().any(|p| names_ext(p) || (names(p) && p.sub.is_none())) {
                return Some(v.clone());
            }
            let subs: Vec<&str> =
                self.attributes.iter().filter(|p| names(p)).filter_map(|p| p.sub.as_deref()).collect();
            if subs.is_empty() {
                return None;
            }
            return narrow(v, &|k: &str| subs.iter().any(|s| s.eq_ignore_ascii_case(k)));
        }
        if def.returned == Returned::Request {
            return None;
        }
        if self.excluded.iter().any(|p| names_ext(p) || (names(p) && p.sub.is_none())) {
            return None;
        }
        let subs: Vec<&str> = self.excluded.iter().filter(|p| names(p)).filter_map(|p| p.sub.as_deref()).collect();
        if subs.is_empty() {
            return Some(v.clone());
        }
        narrow(v, &|k: &str| !subs.iter().any(|s| s.eq_ignore_ascii_case(k)))
    }
}

/// An attribute path, or a bare schema URN (the whole extension).
fn parse_attr_or_urn(s: &str) -> ScimResult<AttrPath> {
    AttrPath::parse(s).map_err(|_| ScimError::value(format!("invalid attribute {s:?}")))
}

/// Keeps the sub-attributes `keep` accepts, in an object or every object of an array.
fn narrow(v: &Value, keep: &dyn Fn(&str) -> bool) -> Option<Value> {
    let one = |x: &Value| -> Option<Value> {
        let Value::Object(m) = x else { return Some(x.clone()) };
        let n: Map<String, Value> = m.iter().filter(|(k, _)| keep(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
        (!n.is_empty()).then_some(Value::Object(n))
    };
    match v {
        Value::Array(a) => {
            let items: Vec<Value> = a.iter().filter_map(one).collect();
            (!items.is_empty()).then_some(Value::Array(items))
        }
        other => one(other),
    }
}

/// A list response (RFC 7644 §3.4.2). `start_index` is 1-based.
#[must_use]
pub fn list_response(resources: Vec<Value>, total: u64, start_index: u64) -> Value {
    json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}
