//! The PATCH engine (RFC 7644 §3.5.2): `add`, `replace` and `remove` with and without
//! `path`, value filters in paths, URN paths, multi-valued append, `primary` kept
//! unique. Accepts what real clients send: capitalised op names (Azure AD), string
//! booleans, dotted and URN-qualified keys in a path-less value.
//!
//! The engine works on the resource as JSON and returns the new JSON; the caller then
//! normalises it against the schema ([`crate::resource::normalize`]), which also turns
//! `"False"` into `false` and checks required attributes.

use crate::error::{ScimError, ScimResult};
use crate::filter::{get_ci, matches, AttrPath, Filter};
use crate::schema::{Attribute, Mutability, ResourceType, PATCH_OP_SCHEMA};
use serde_json::{Map, Value};

/// A PATCH operation kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Replace,
    Remove,
}

/// A PATCH path: `attrPath`, or `attrPath[filter]` optionally followed by `.sub`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    /// The sub-attribute after a value filter (`emails[type eq "work"].value`).
    pub sub_after: Option<String>,
}

impl PatchPath {
    /// Parses a PATCH path.
    pub fn parse(text: &str) -> ScimResult<Self> {
        let t = text.trim();
        let Some(open) = t.find('[') else {
            return Ok(Self { attr: AttrPath::parse(t)?, filter: None, sub_after: None });
        };
        let close =
            t.rfind(']').filter(|c| *c > open).ok_or_else(|| ScimError::path(format!("unclosed '[' in {t:?}")))?;
        let attr = AttrPath::parse(&t[..open])?;
        if attr.sub.is_some() {
            return Err(ScimError::path(format!("a value filter applies to an attribute, not a sub-attribute: {t:?}")));
        }
        let filter = Filter::parse(&t[open + 1..close]).map_err(|e| ScimError::path(e.detail))?;
        let after = &t[close + 1..];
        let sub_after = if after.is_empty() {
            None
        } else {
            let s = after
                .strip_prefix('.')
                .ok_or_else(|| ScimError::path(format!("unexpected text after ']' in {t:?}")))?;
            Some(AttrPath::parse(s)?.attr)
        };
        Ok(Self { attr, filter: Some(filter), sub_after })
    }
}

/// One operation of a PATCH request.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    pub op: OpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// Parses a PATCH request body (`schemas` must name the PatchOp message when present).
pub fn parse_request(body: &Value) -> ScimResult<Vec<PatchOp>> {
    let o = body.as_object().ok_or_else(|| ScimError::syntax("a PATCH body is a JSON object"))?;
    if let Some(s) = get_ci(body, "schemas") {
        let ok = s
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x.as_str().is_some_and(|x| x.eq_ignore_ascii_case(PATCH_OP_SCHEMA))));
        if !ok {
            return Err(ScimError::syntax(format!("schemas must contain {PATCH_OP_SCHEMA}")));
        }
    }
    let ops = o
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Operations"))
        .and_then(|(_, v)| v.as_array())
        .ok_or_else(|| ScimError::syntax("Operations (an array) is required"))?;
    ops.iter().map(parse_op).collect()
}

fn parse_op(v: &Value) -> ScimResult<PatchOp> {
    let op = get_ci(v, "op").and_then(Value::as_str).ok_or_else(|| ScimError::syntax("each operation needs an op"))?;
    let op = match op.to_ascii_lowercase().as_str() {
        "add" => OpKind::Add,
        "replace" => OpKind::Replace,
        "remove" => OpKind::Remove,
        other => return Err(ScimError::syntax(format!("unknown op {other:?}: use add, replace or remove"))),
    };
    let path = match get_ci(v, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.trim().is_empty() => None,
        Some(Value::String(p)) => Some(PatchPath::parse(p)?),
        Some(_) => return Err(ScimError::path("path must be a string")),
    };
    let value = get_ci(v, "value").filter(|x| !x.is_null()).cloned();
    if op != OpKind::Remove && value.is_none() {
        return Err(ScimError::syntax("add and replace need a value"));
    }
    if op == OpKind::Remove && path.is_none() {
        return Err(ScimError::no_target("remove needs a path"));
    }
    Ok(PatchOp { op, path, value })
}

/// Applies `ops` in order to `resource` and returns the result. All or nothing: an
/// error leaves the caller's resource untouched.
pub fn apply(rt: &ResourceType, resource: &Value, ops: &[PatchOp]) -> ScimResult<Value> {
    let mut doc = resource.clone();
    if !doc.is_object() {
        return Err(ScimError::value("the resource is not a JSON object"));
    }
    for op in ops {
        match &op.path {
            // The path is a whole extension (`urn:…:enterprise:2.0:User`).
            Some(p) if p.filter.is_none() && p.attr.sub.is_none() && rt.extension(&ext_urn(&p.attr)).is_some() => {
                let urn = ext_urn(&p.attr);
                match (op.op, &op.value) {
                    (OpKind::Remove, _) => {
                        if let Some(root) = doc.as_object_mut() {
                            root.retain(|k, _| !k.eq_ignore_ascii_case(&urn));
                        }
                    }
                    (kind, Some(v)) => {
                        // Replacing the whole extension drops the attributes not given.
                        if kind == OpKind::Replace {
                            if let Some(root) = doc.as_object_mut() {
                                root.retain(|k, _| !k.eq_ignore_ascii_case(&urn));
                            }
                        }
                        apply_key(rt, &mut doc, OpKind::Add, &urn, v)?;
                    }
                    (_, None) => return Err(ScimError::syntax("add and replace need a value")),
                }
            }
            Some(p) => apply_path(rt, &mut doc, op.op, p, op.value.as_ref())?,
            None => {
                let Some(Value::Object(m)) = &op.value else {
                    return Err(ScimError::value("without a path, the value must be an object of attributes"));
                };
                for (k, v) in m {
                    apply_key(rt, &mut doc, op.op, k, v)?;
                }
            }
        }
    }
    Ok(doc)
}

/// The text of an attribute path read as a schema URN.
fn ext_urn(p: &AttrPath) -> String {
    match &p.urn {
        Some(u) => format!("{u}:{}", p.attr),
        None => p.attr.clone(),
    }
}

/// One member of a path-less value: an attribute, `name.givenName`, an URN-qualified
/// attribute, or an extension URN holding an object of its attributes.
fn apply_key(rt: &ResourceType, doc: &mut Value, op: OpKind, key: &str, v: &Value) -> ScimResult<()> {
    if key.eq_ignore_ascii_case("schemas") {
        return Ok(());
    }
    if let Some(ext) = rt.extension(key) {
        let Value::Object(inner) = v else {
            return Err(ScimError::value(format!("{key} must be an object of its attributes")));
        };
        // Clients serialise the extension with its own `schemas` member: not an attribute.
        for (k, x) in inner.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("schemas")) {
            let path = PatchPath {
                attr: AttrPath { urn: Some(ext.id.to_owned()), attr: k.clone(), sub: None },
                filter: None,
                sub_after: None,
            };
            apply_path(rt, doc, op, &path, Some(x))?;
        }
        return Ok(());
    }
    let path = PatchPath::parse(key)?;
    apply_path(rt, doc, op, &path, Some(v))
}

/// The attribute definitions a path names: the top-level attribute and the addressed
/// sub-attribute, if any.
fn defs(rt: &ResourceType, p: &PatchPath) -> ScimResult<(&'static Attribute, Option<&'static Attribute>)> {
    if let Some(u) = &p.attr.urn {
        if !rt.is_core(u) && rt.extension(u).is_none() {
            return Err(ScimError::path(format!("unknown schema {u}")));
        }
    }
    let top = rt
        .attr(p.attr.urn.as_deref(), &p.attr.attr)
        .ok_or_else(|| ScimError::path(format!("unknown attribute {}", p.attr)))?;
    let sub_name = p.attr.sub.as_deref().or(p.sub_after.as_deref());
    let sub = match sub_name {
        Some(s) => {
            Some(top.sub(s).ok_or_else(|| ScimError::path(format!("unknown sub-attribute {s} of {}", top.name)))?)
        }
        None => None,
    };
    if p.filter.is_some() && !top.multi_valued {
        return Err(ScimError::path(format!("{} is not multi-valued: no value filter applies", top.name)));
    }
    Ok((top, sub))
}

/// The object holding the attribute (the resource or its extension object).
fn container<'d>(
    rt: &ResourceType,
    doc: &'d mut Value,
    urn: Option<&str>,
    create: bool,
) -> Option<&'d mut Map<String, Value>> {
    let root = doc.as_object_mut()?;
    match urn {
        Some(u) if !rt.is_core(u) => {
            let key = rt.extension(u)?.id;
            let existing = root.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned();
            let k = existing.unwrap_or_else(|| key.to_owned());
            if !root.contains_key(&k) {
                if !create {
                    return None;
                }
                root.insert(k.clone(), Value::Object(Map::new()));
            }
            root.get_mut(&k)?.as_object_mut()
        }
        _ => Some(root),
    }
}

/// The existing key matching `name` case-insensitively, else the canonical name.
fn key_in(m: &Map<String, Value>, name: &str) -> String {
    m.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned().unwrap_or_else(|| name.to_owned())
}

fn check_mutable(def: &Attribute, current: Option<&Value>, new: Option<&Value>) -> ScimResult<()> {
    let same = current == new || (current.is_none_or(Value::is_null) && new.is_none_or(Value::is_null));
    match def.mutability {
        Mutability::ReadOnly if !same => Err(ScimError::mutability(format!("{} is read-only", def.name))),
        Mutability::Immutable if !same && current.is_some_and(|c| !c.is_null()) => {
            Err(ScimError::mutability(format!("{} is immutable once set", def.name)))
        }
        _ => Ok(()),
    }
}

fn apply_path(rt: &ResourceType, doc: &mut Value, op: OpKind, p: &PatchPath, value: Option<&Value>) -> ScimResult<()> {
    let (top, sub) = defs(rt, p)?;
    let create = op != OpKind::Remove;
    let Some(cont) = container(rt, doc, p.attr.urn.as_deref(), create) else {
        // Removing from an extension the resource does not have: nothing to do.
        return Ok(());
    };
    let key = key_in(cont, top.name);
    let before_primary = primaries(cont.get(&key));
    match (&p.filter, sub) {
        (None, None) => whole(cont, &key, top, op, value)?,
        (None, Some(s)) => sub_everywhere(cont, &key, top, s, op, value)?,
        (Some(f), _) => filtered(rt, cont, &key, top, f, sub, op, value)?,
    }
    if let Some(v) = cont.get_mut(&key) {
        fix_primary(v, &before_primary);
    }
    if cont.get(&key).is_some_and(|v| {
        v.is_null() || v.as_array().is_some_and(Vec::is_empty) || v.as_object().is_some_and(Map::is_empty)
    }) {
        cont.remove(&key);
    }
    Ok(())
}

/// The attribute as a whole.
fn whole(
    cont: &mut Map<String, Value>,
    key: &str,
    def: &Attribute,
    op: OpKind,
    value: Option<&Value>,
) -> ScimResult<()> {
    let current = cont.get(key).cloned();
    match op {
        OpKind::Remove => {
            // Azure AD removes members by listing them in the value.
            if let (true, Some(v)) = (def.multi_valued, value) {
                let gone: Vec<&Value> = as_list(v).into_iter().collect();
                if let Some(Value::Array(items)) = cont.get_mut(key) {
                    items.retain(|it| !gone.iter().any(|g| same_value(it, g)));
                }
                return Ok(());
            }
            check_mutable(def, current.as_ref(), None)?;
            cont.remove(key);
        }
        OpKind::Add | OpKind::Replace => {
            let v = value.cloned().unwrap_or(Value::Null);
            let new = if def.multi_valued {
                let items: Vec<Value> = as_list(&v).into_iter().cloned().collect();
                match (op, current.as_ref()) {
                    (OpKind::Add, Some(Value::Array(old))) => {
                        let mut all = old.clone();
                        for it in items {
                            if !all.iter().any(|o| o == &it) {
                                all.push(it);
                            }
                        }
                        Value::Array(all)
                    }
                    _ => Value::Array(items),
                }
            } else if let (Value::Object(add), Some(Value::Object(old))) = (&v, current.as_ref()) {
                // A complex single-valued attribute: the sub-attributes given replace
                // theirs, the others stay (RFC 7644 §3.5.2.1 and §3.5.2.3).
                let mut merged = old.clone();
                for (k, x) in add {
                    let k2 = key_in(&merged, k);
                    merged.insert(k2, x.clone());
                }
                Value::Object(merged)
            } else {
                v
            };
            check_mutable(def, current.as_ref(), Some(&new))?;
            cont.insert(key.to_owned(), new);
        }
    }
    Ok(())
}

/// `name.familyName`, or `emails.value` (every value of a multi-valued attribute).
fn sub_everywhere(
    cont: &mut Map<String, Value>,
    key: &str,
    top: &Attribute,
    sub: &Attribute,
    op: OpKind,
    value: Option<&Value>,
) -> ScimResult<()> {
    if top.mutability == Mutability::ReadOnly {
        return Err(ScimError::mutability(format!("{} is read-only", top.name)));
    }
    let entry = cont.entry(key.to_owned()).or_insert_with(|| {
        if top.multi_valued {
            Value::Array(vec![])
        } else {
            Value::Object(Map::new())
        }
    });
    if top.multi_valued {
        let Value::Array(items) = entry else { return Err(ScimError::value(format!("{} is not an array", top.name))) };
        if items.is_empty() && op != OpKind::Remove {
            items.push(Value::Object(Map::new()));
        }
        for it in items.iter_mut() {
            set_sub(it, sub, op, value)?;
        }
        Ok(())
    } else {
        set_sub(entry, sub, op, value)
    }
}

fn set_sub(item: &mut Value, sub: &Attribute, op: OpKind, value: Option<&Value>) -> ScimResult<()> {
    let Value::Object(m) = item else { return Err(ScimError::value("expected a complex value")) };
    let k = key_in(m, sub.name);
    let current = m.get(&k).cloned();
    match op {
        OpKind::Remove => {
            check_mutable(sub, current.as_ref(), None)?;
            m.remove(&k);
        }
        OpKind::Add | OpKind::Replace => {
            let v = value.cloned().unwrap_or(Value::Null);
            check_mutable(sub, current.as_ref(), Some(&v))?;
            m.insert(k, v);
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn filtered(
    rt: &ResourceType,
    cont: &mut Map<String, Value>,
    key: &str,
    top: &'static Attribute,
    f: &Filter,
    sub: Option<&Attribute>,
    op: OpKind,
    value: Option<&Value>,
) -> ScimResult<()> {
    if top.mutability == Mutability::ReadOnly {
        return Err(ScimError::mutability(format!("{} is read-only", top.name)));
    }
    // The filter is evaluated on each value as `attr[filter]` on a one-value resource.
    let vp = Filter::ValuePath(AttrPath::new(top.name, None), Box::new(f.clone()));
    let mut hits = Vec::new();
    if let Some(Value::Array(items)) = cont.get(key) {
        for (i, it) in items.iter().enumerate() {
            let probe = Value::Object(Map::from_iter([(top.name.to_owned(), Value::Array(vec![it.clone()]))]));
            if matches(&vp, rt, &probe)? {
                hits.push(i);
            }
        }
    }
    if hits.is_empty() {
        if op == OpKind::Remove {
            return Err(ScimError::no_target(format!("no value of {} matches the filter", top.name)));
        }
        // Azure AD adds and replaces `emails[type eq "work"].value` when there is no
        // work e-mail yet: create the value the filter describes.
        let pairs =
            f.eq_pairs().ok_or_else(|| ScimError::no_target(format!("no value of {} matches the filter", top.name)))?;
        let mut m = Map::new();
        for (p, v) in pairs {
            let d = top.sub(&p.attr).ok_or_else(|| ScimError::path(format!("unknown sub-attribute {}", p.attr)))?;
            m.insert(d.name.to_owned(), v.clone());
        }
        let mut item = Value::Object(m);
        match sub {
            Some(s) => set_sub(&mut item, s, op, value)?,
            None => {
                if let (Some(Value::Object(add)), Value::Object(m)) = (value, &mut item) {
                    m.extend(add.clone());
                }
            }
        }
        let arr = cont.entry(key.to_owned()).or_insert_with(|| Value::Array(vec![]));
        if let Value::Array(a) = arr {
            a.push(item);
        }
        return Ok(());
    }
    let Some(Value::Array(items)) = cont.get_mut(key) else { return Ok(()) };
    match (op, sub) {
        (OpKind::Remove, None) => {
            let mut i = 0;
            items.retain(|_| {
                let keep = !hits.contains(&i);
                i += 1;
                keep
            });
        }
        (_, Some(s)) => {
            for &i in &hits {
                if let Some(it) = items.get_mut(i) {
                    set_sub(it, s, op, value)?;
                }
            }
        }
        (OpKind::Replace, None) => {
            for &i in &hits {
                if let Some(it) = items.get_mut(i) {
                    *it = value.cloned().unwrap_or(Value::Null);
                }
            }
        }
        (OpKind::Add, None) => {
            for &i in &hits {
                if let (Some(Value::Object(m)), Some(Value::Object(add))) = (items.get_mut(i), value) {
                    for (k, x) in add {
                        let k2 = key_in(m, k);
                        m.insert(k2, x.clone());
                    }
                }
            }
        }
    }
    Ok(())
}

fn as_list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    }
}

/// Two values of a multi-valued attribute are the same when equal, or when both are
/// complex with equal `value` sub-attributes.
fn same_value(a: &Value, b: &Value) -> bool {
    a == b || matches!((get_ci(a, "value"), get_ci(b, "value")), (Some(x), Some(y)) if x == y)
}

fn is_primary(v: &Value) -> bool {
    match get_ci(v, "primary") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn primaries(v: Option<&Value>) -> Vec<Value> {
    match v {
        Some(Value::Array(a)) => a.iter().filter(|x| is_primary(x)).cloned().collect(),
        _ => Vec::new(),
    }
}

/// `primary` is true at most once: the value that became primary by this operation
/// wins over one that was primary before (RFC 7643 §2.4, RFC 7644 §3.5.2).
fn fix_primary(v: &mut Value, before: &[Value]) {
    let Value::Array(items) = v else { return };
    let idx: Vec<usize> = items.iter().enumerate().filter(|(_, x)| is_primary(x)).map(|(i, _)| i).collect();
    if idx.len() < 2 {
        return;
    }
    let keep = idx.iter().rev().find(|&&i| !before.contains(&items[i])).or(idx.last()).copied();
    for i in idx {
        if Some(i) != keep {
            if let Some(Value::Object(m)) = items.get_mut(i) {
                let k = key_in(m, "primary");
                m.insert(k, Value::Bool(false));
            }
        }
    }
}
