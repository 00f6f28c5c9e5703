//! SCIM filters (RFC 7644 §3.4.2.2): parser into an AST, a printer whose output parses
//! back to the same AST, and an evaluator over JSON resources that follows the schema's
//! case-exactness and types.
//!
//! Hand-written recursive descent: the grammar is small, and the crates on offer either
//! target another AST or lack value paths and URN-qualified attributes.

use crate::error::{ScimError, ScimResult};
use crate::schema::{AttrType, Attribute, ResourceType};
use serde_json::Value;
use std::cmp::Ordering;
use std::fmt;

/// Deepest nesting of parentheses and `not` accepted (stack safety on hostile input).
pub const MAX_DEPTH: usize = 64;
/// Longest filter accepted, in bytes.
pub const MAX_LEN: usize = 8192;

/// An attribute path: `[urn:]attr[.sub]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    /// The schema URN prefix, if written.
    pub urn: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
}

impl AttrPath {
    /// A path without URN.
    #[must_use]
    pub fn new(attr: &str, sub: Option<&str>) -> Self {
        Self { urn: None, attr: attr.to_owned(), sub: sub.map(str::to_owned) }
    }

    /// Parses `[urn:]attr[.sub]` (used for `attributes` parameters and PATCH paths).
    pub fn parse(text: &str) -> ScimResult<Self> {
        let t = text.trim();
        let (urn, rest) = if is_urn(t) {
            match t.rfind(':') {
                Some(i) => (Some(t[..i].to_owned()), &t[i + 1..]),
                None => (None, t),
            }
        } else {
            (None, t)
        };
        let (attr, sub) = match rest.split_once('.') {
            Some((a, s)) => (a, Some(s)),
            None => (rest, None),
        };
        if !valid_name(attr) || sub.is_some_and(|s| !valid_name(s)) {
            return Err(ScimError::path(format!("invalid attribute path {text:?}")));
        }
        Ok(Self { urn, attr: attr.to_owned(), sub: sub.map(str::to_owned) })
    }
}

/// Whether `s` starts with `urn:` (case-insensitive).
#[must_use]
pub fn is_urn(s: &str) -> bool {
    s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
}

/// `ATTRNAME = ALPHA *(nameChar)`, plus `$ref`.
fn valid_name(n: &str) -> bool {
    n == "$ref"
        || n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(u) = &self.urn {
            write!(f, "{u}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(s) = &self.sub {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    fn parse(w: &str) -> Option<Self> {
        Some(match w.to_ascii_lowercase().as_str() {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "co" => Self::Co,
            "sw" => Self::Sw,
            "ew" => Self::Ew,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            _ => return None,
        })
    }

    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Co => "co",
            Self::Sw => "sw",
            Self::Ew => "ew",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
        }
    }
}

/// A filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attr op value`; `value` is a string, number, boolean or null.
    Compare(AttrPath, CompareOp, Value),
    /// `attr pr`.
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attr[filter]`: some value of the multi-valued `attr` matches `filter`, whose
    /// paths are relative to that value.
    ValuePath(AttrPath, Box<Filter>),
}

impl Filter {
    /// Parses a filter.
    pub fn parse(text: &str) -> ScimResult<Self> {
        if text.len() > MAX_LEN {
            return Err(ScimError::filter(format!("filter longer than {MAX_LEN} bytes")));
        }
        let mut p = Parser { s: text, pos: 0, depth: 0 };
        let f = p.or()?;
        p.ws();
        if p.pos < p.s.len() {
            return Err(p.err("unexpected text"));
        }
        Ok(f)
    }

    fn precedence(&self) -> u8 {
        match self {
            Filter::Or(..) => 0,
            Filter::And(..) => 1,
            _ => 2,
        }
    }

    /// When every leaf is `attr eq value` joined by `and`: those pairs (used to create the
    /// value a PATCH `add` with a value filter addresses, as Azure AD expects).
    #[must_use]
    pub fn eq_pairs(&self) -> Option<Vec<(&AttrPath, &Value)>> {
        match self {
            Filter::Compare(p, CompareOp::Eq, v) => Some(vec![(p, v)]),
            Filter::And(l, r) => {
                let mut a = l.eq_pairs()?;
                a.extend(r.eq_pairs()?);
                Some(a)
            }
            _ => None,
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Parenthesise a child that binds looser than its parent, and a right child of
        // equal precedence (the grammar is left-associative), so printing round-trips.
        let side = |f: &mut fmt::Formatter<'_>, c: &Filter, min: u8| {
            if c.precedence() < min {
                write!(f, "({c})")
            } else {
                write!(f, "{c}")
            }
        };
        match self {
            Filter::Compare(p, op, v) => write!(f, "{p} {} {}", op.as_str(), literal(v)),
            Filter::Present(p) => write!(f, "{p} pr"),
            Filter::And(l, r) => {
                side(f, l, 1)?;
                f.write_str(" and ")?;
                side(f, r, 2)
            }
            Filter::Or(l, r) => {
                side(f, l, 0)?;
                f.write_str(" or ")?;
                side(f, r, 1)
            }
            Filter::Not(x) => write!(f, "not ({x})"),
            Filter::ValuePath(p, x) => write!(f, "{p}[{x}]"),
        }
    }
}

fn literal(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> ScimError {
        ScimError::filter(format!("{what} at offset {} of the filter", self.pos))
    }

    fn rest(&self) -> &str {
        &self.s[self.pos..]
    }

    fn ws(&mut self) {
        let r = self.rest();
        self.pos += r.len() - r.trim_start_matches([' ', '\t', '\n', '\r']).len();
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    /// Consumes the keyword `kw` (case-insensitive) when it stands as a whole word.
    fn keyword(&mut self, kw: &str) -> bool {
        let r = self.rest();
        let matches = r.len() >= kw.len()
            && r.is_char_boundary(kw.len())
            && r[..kw.len()].eq_ignore_ascii_case(kw)
            && !r[kw.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '$'));
        if matches {
            self.pos += kw.len();
        }
        matches
    }

    fn enter(&mut self) -> ScimResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("filter nested too deeply"));
        }
        Ok(())
    }

    fn or(&mut self) -> ScimResult<Filter> {
        let mut l = self.and()?;
        loop {
            let save = self.pos;
            self.ws();
            if self.keyword("or") {
                let r = self.and()?;
                l = Filter::Or(Box::new(l), Box::new(r));
            } else {
                self.pos = save;
                return Ok(l);
            }
        }
    }

    fn and(&mut self) -> ScimResult<Filter> {
        let mut l = self.unary()?;
        loop {
            let save = self.pos;
            self.ws();
            if self.keyword("and") {
                let r = self.unary()?;
                l = Filter::And(Box::new(l), Box::new(r));
            } else {
                self.pos = save;
                return Ok(l);
            }
        }
    }

    fn unary(&mut self) -> ScimResult<Filter> {
        self.ws();
        let save = self.pos;
        if self.keyword("not") {
            self.ws();
            if self.peek() == Some('(') {
                self.pos += 1;
                self.enter()?;
                let inner = self.or()?;
                self.close(')')?;
                self.depth -= 1;
                return Ok(Filter::Not(Box::new(inner)));
            }
            self.pos = save;
        }
        if self.peek() == Some('(') {
            self.pos += 1;
            self.enter()?;
            let inner = self.or()?;
            self.close(')')?;
            self.depth -= 1;
            return Ok(inner);
        }
        let path = self.attr_path()?;
        if self.peek() == Some('[') {
            self.pos += 1;
            self.enter()?;
            let inner = self.or()?;
            self.close(']')?;
            self.depth -= 1;
            if path.sub.is_some() {
                return Err(self.err("a value filter applies to an attribute, not a sub-attribute"));
            }
            return Ok(Filter::ValuePath(path, Box::new(inner)));
        }
        self.ws();
        let op_start = self.pos;
        let word: String = self.rest().chars().take_while(char::is_ascii_alphabetic).collect();
        self.pos += word.len();
        if word.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let Some(op) = CompareOp::parse(&word) else {
            self.pos = op_start;
            return Err(self.err("expected an operator (eq ne co sw ew gt ge lt le pr)"));
        };
        self.ws();
        let value = self.value()?;
        Ok(Filter::Compare(path, op, value))
    }

    fn close(&mut self, c: char) -> ScimResult<()> {
        self.ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected '{c}'")))
        }
    }

    fn attr_path(&mut self) -> ScimResult<AttrPath> {
        let r = self.rest();
        let len = r.find(|c: char| c.is_whitespace() || matches!(c, '[' | ']' | '(' | ')' | '"')).unwrap_or(r.len());
        if len == 0 {
            return Err(self.err("expected an attribute name"));
        }
        let text = &r[..len];
        let p = AttrPath::parse(text).map_err(|_| self.err(&format!("invalid attribute path {text:?}")))?;
        self.pos += len;
        Ok(p)
    }

    fn value(&mut self) -> ScimResult<Value> {
        let r = self.s.get(self.pos..).unwrap_or_default();
        if r.starts_with('"') {
            // Find the closing quote, skipping escapes; serde_json decodes the escapes.
            let mut esc = false;
            let mut end = None;
            for (i, c) in r.char_indices().skip(1) {
                if esc {
                    esc = false;
                } else if c == '\\' {
                    esc = true;
                } else if c == '"' {
                    end = Some(i);
                    break;
                }
            }
            let Some(end) = end else { return Err(self.err("unterminated string")) };
            let v: Value = serde_json::from_str(&r[..=end]).map_err(|_| self.err("invalid string literal"))?;
            self.pos += end + 1;
            return Ok(v);
        }
        for (kw, v) in [("true", Value::Bool(true)), ("false", Value::Bool(false)), ("null", Value::Null)] {
            if self.keyword(kw) {
                return Ok(v);
            }
        }
        let r = self.s.get(self.pos..).unwrap_or_default();
        let len =
            r.find(|c: char| !(c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))).unwrap_or(r.len());
        if len == 0 {
            return Err(self.err("expected a value (string, number, true, false or null)"));
        }
        let n: serde_json::Number = r[..len].parse().map_err(|_| self.err("invalid number"))?;
        self.pos += len;
        Ok(Value::Number(n))
    }
}

// ---- evaluation ----------------------------------------------------------------------

/// Where a filter is evaluated: the resource type (for attribute metadata) and, inside
/// a value path, the complex attribute whose values are being tested.
#[derive(Clone, Copy)]
struct Scope<'a> {
    rt: &'a ResourceType,
    parent: Option<&'static Attribute>,
}

/// Whether `resource` matches `filter`. Errors (`invalidFilter`) for comparisons the
/// RFC forbids, such as `gt` on a boolean.
pub fn matches(filter: &Filter, rt: &ResourceType, resource: &Value) -> ScimResult<bool> {
    eval(filter, Scope { rt, parent: None }, resource)
}

fn eval(f: &Filter, sc: Scope<'_>, v: &Value) -> ScimResult<bool> {
    Ok(match f {
        Filter::And(l, r) => eval(l, sc, v)? && eval(r, sc, v)?,
        Filter::Or(l, r) => eval(l, sc, v)? || eval(r, sc, v)?,
        Filter::Not(x) => !eval(x, sc, v)?,
        Filter::Present(p) => values(sc, p, v).iter().any(|x| present(x)),
        Filter::ValuePath(p, inner) => {
            let def = lookup(sc, p);
            let inner_sc = Scope { rt: sc.rt, parent: def };
            let mut any = false;
            for item in values(sc, p, v) {
                if eval(inner, inner_sc, item)? {
                    any = true;
                    break;
                }
            }
            any
        }
        Filter::Compare(p, op, lit) => {
            let def = lookup(sc, p);
            let def = def.and_then(|d| match &p.sub {
                Some(s) if sc.parent.is_none() => d.sub(s),
                _ => Some(d),
            });
            let vals = values(sc, p, v);
            if matches!(op, CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le)
                && (def.is_some_and(|d| matches!(d.ty, AttrType::Boolean | AttrType::Binary)) || lit.is_boolean())
            {
                return Err(ScimError::filter(format!("{} cannot be applied to boolean or binary {p}", op.as_str())));
            }
            match op {
                CompareOp::Ne => !vals.iter().any(|x| compare(def, CompareOp::Eq, x, lit)),
                CompareOp::Eq if lit.is_null() => vals.iter().all(|x| !present(x)),
                _ => vals.iter().any(|x| compare(def, *op, x, lit)),
            }
        }
    })
}

/// The definition of `p` in scope (inside a value path, relative to the parent).
fn lookup(sc: Scope<'_>, p: &AttrPath) -> Option<&'static Attribute> {
    match sc.parent {
        Some(parent) if p.urn.is_none() => parent.sub(&p.attr),
        _ => sc.rt.attr(p.urn.as_deref(), &p.attr),
    }
}

/// The values at `p`, multi-valued attributes flattened; a complex multi-valued
/// attribute compared as a whole stands for its `value` sub-attributes.
fn values<'v>(sc: Scope<'_>, p: &AttrPath, v: &'v Value) -> Vec<&'v Value> {
    let container = match (&p.urn, sc.parent) {
        (Some(u), _) if !sc.rt.is_core(u) => get_ci(v, u),
        _ => Some(v),
    };
    let Some(top) = container.and_then(|c| get_ci(c, &p.attr)) else { return Vec::new() };
    let mut out = Vec::new();
    for x in flatten(top) {
        match &p.sub {
            Some(s) => {
                if let Some(y) = get_ci(x, s) {
                    out.extend(flatten(y));
                }
            }
            None => out.push(x),
        }
    }
    out
}

fn flatten(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    }
}

/// A member of a JSON object by case-insensitive name.
#[must_use]
pub fn get_ci<'v>(v: &'v Value, name: &str) -> Option<&'v Value> {
    let o = v.as_object()?;
    o.get(name).or_else(|| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, x)| x))
}

fn present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn compare(def: Option<&Attribute>, op: CompareOp, actual: &Value, lit: &Value) -> bool {
    // A complex value compared as a whole: compare its `value` sub-attribute.
    let actual = match actual {
        Value::Object(_) => match get_ci(actual, "value") {
            Some(x) => x,
            None => return false,
        },
        x => x,
    };
    match (actual, lit) {
        (Value::String(a), Value::String(b)) => {
            let ty = def.map(|d| d.ty);
            if ty == Some(AttrType::DateTime) {
                if let (Some(x), Some(y)) = (crate::datetime(a), crate::datetime(b)) {
                    return ordered(op, x.cmp(&y));
                }
            }
            let exact = def.is_some_and(|d| d.case_exact);
            let (a, b) = if exact { (a.clone(), b.clone()) } else { (a.to_lowercase(), b.to_lowercase()) };
            match op {
                CompareOp::Co => a.contains(&b),
                CompareOp::Sw => a.starts_with(&b),
                CompareOp::Ew => a.ends_with(&b),
                _ => ordered(op, a.cmp(&b)),
            }
        }
        (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x.partial_cmp(&y).is_some_and(|o| ordered(op, o)),
            _ => false,
        },
        (Value::Bool(a), Value::Bool(b)) => op == CompareOp::Eq && a == b,
        _ => false,
    }
}

fn ordered(op: CompareOp, o: Ordering) -> bool {
    match op {
        CompareOp::Eq => o == Ordering::Equal,
        CompareOp::Ne => o != Ordering::Equal,
        CompareOp::Gt => o == Ordering::Greater,
        CompareOp::Ge => o != Ordering::Less,
        CompareOp::Lt => o == Ordering::Less,
        CompareOp::Le => o != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}
