//! From YAML text to a [`Policy`], collecting every error and warning with its line.

use super::pattern::{Pattern, PatternProblem, RegexType};
use super::yaml::{self, Node, Value};
use super::{codes, Check, Condition, NameFilter, Policy, Requirements, Rule, RuleKind, ScaError, Validation};
use std::collections::HashMap;

/// Checks a policy without keeping it: every error and every warning, by line.
pub fn validate(yaml: &str) -> Validation {
    match parse(yaml) {
        Ok((_, v)) | Err(v) => v,
    }
}

/// Wazuh's limit of rules per check.
const MAX_RULES: usize = 255;

const ROOT_KEYS: &[&str] = &["policy", "requirements", "variables", "checks"];
const POLICY_KEYS: &[&str] = &["id", "file", "name", "description", "references", "regex_type"];
const REQUIREMENT_KEYS: &[&str] = &["title", "name", "description", "condition", "rules"];
const CHECK_KEYS: &[&str] = &[
    "id",
    "title",
    "name",
    "description",
    "rationale",
    "remediation",
    "impact",
    "references",
    "compliance",
    "mitre",
    "condition",
    "rules",
    "regex_type",
];

pub(super) fn parse(src: &str) -> Result<(Policy, Validation), Validation> {
    let mut cx = Cx::default();
    let policy = parse_policy(&mut cx, src);
    cx.errors.sort_by_key(|e| (e.line, e.column));
    cx.warnings.sort_by_key(|e| (e.line, e.column));
    let validation = Validation { errors: cx.errors, warnings: cx.warnings };
    match policy {
        Some(mut p) if validation.errors.is_empty() => {
            p.warnings = validation.warnings.clone();
            Ok((p, validation))
        }
        _ => Err(validation),
    }
}

#[derive(Default)]
struct Cx {
    errors: Vec<ScaError>,
    warnings: Vec<ScaError>,
}

impl Cx {
    fn error(&mut self, at: &Node, code: &'static str, message: impl Into<String>) {
        self.errors.push(ScaError { line: at.line, column: at.col, code, message: message.into() });
    }

    fn warn(&mut self, at: &Node, code: &'static str, message: impl Into<String>) {
        self.warnings.push(ScaError { line: at.line, column: at.col, code, message: message.into() });
    }
}

/// A mapping's entries by key (first occurrence wins), after reporting duplicate and
/// unknown keys.
struct Fields<'a> {
    node: &'a Node,
    entries: Vec<(&'a str, &'a Node)>,
}

impl<'a> Fields<'a> {
    fn of(cx: &mut Cx, node: &'a Node, what: &str, known: &[&str]) -> Option<Self> {
        let Value::Map(pairs) = &node.value else {
            cx.error(node, codes::WRONG_TYPE, format!("{what} must be a mapping, found {}", node.kind()));
            return None;
        };
        let mut entries: Vec<(&str, &Node)> = Vec::new();
        for (k, v) in pairs {
            let Some(key) = k.as_str() else {
                cx.error(k, codes::WRONG_TYPE, format!("a key of {what} must be text, found {}", k.kind()));
                continue;
            };
            if entries.iter().any(|(seen, _)| *seen == key) {
                cx.warn(k, codes::DUPLICATE_KEY, format!("'{key}' appears twice in {what}; the first one counts"));
                continue;
            }
            if !known.is_empty() && !known.contains(&key) {
                cx.warn(k, codes::UNKNOWN_FIELD, format!("unknown field '{key}' in {what} (ignored)"));
            }
            entries.push((key, v));
        }
        Some(Self { node, entries })
    }

    fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    fn required_str(&self, cx: &mut Cx, key: &str, what: &str) -> Option<String> {
        match self.get(key) {
            None => {
                cx.error(self.node, codes::MISSING_FIELD, format!("{what} has no '{key}'"));
                None
            }
            Some(v) => text(cx, v, &format!("'{key}' of {what}"), true),
        }
    }

    fn optional_str(&self, cx: &mut Cx, key: &str, what: &str) -> Option<String> {
        self.get(key).and_then(|v| text(cx, v, &format!("'{key}' of {what}"), false))
    }
}

/// A scalar's text; a null is missing (an error when `required`), a collection an error.
fn text(cx: &mut Cx, v: &Node, what: &str, required: bool) -> Option<String> {
    if v.is_null() {
        if required {
            cx.error(v, codes::MISSING_FIELD, format!("{what} is empty"));
        }
        return None;
    }
    match v.as_str() {
        Some(s) => Some(s.to_string()),
        None => {
            cx.error(v, codes::WRONG_TYPE, format!("{what} must be text, found {}", v.kind()));
            None
        }
    }
}

/// A list of scalars, or one scalar as a list of one.
fn text_list(cx: &mut Cx, v: &Node, what: &str) -> Vec<String> {
    match &v.value {
        _ if v.is_null() => Vec::new(),
        Value::Scalar { text, .. } => vec![text.clone()],
        Value::Seq(items) => items
            .iter()
            .filter_map(|i| match i.as_str() {
                Some(s) => Some(s.to_string()),
                None => {
                    cx.error(i, codes::WRONG_TYPE, format!("an item of {what} must be text, found {}", i.kind()));
                    None
                }
            })
            .collect(),
        Value::Map(_) => {
            cx.error(v, codes::WRONG_TYPE, format!("{what} must be a list, found a mapping"));
            Vec::new()
        }
    }
}

fn parse_policy(cx: &mut Cx, src: &str) -> Option<Policy> {
    let root = match yaml::parse(src) {
        Ok(Some(root)) => root,
        Ok(None) => {
            cx.errors.push(ScaError {
                line: 1,
                column: 1,
                code: codes::NOT_A_POLICY,
                message: "the document is empty".into(),
            });
            return None;
        }
        Err(e) => {
            cx.errors.push(ScaError {
                line: e.line,
                column: e.col,
                code: codes::YAML,
                message: format!("not valid YAML: {}", e.message),
            });
            return None;
        }
    };
    if !matches!(root.value, Value::Map(_)) {
        cx.error(&root, codes::NOT_A_POLICY, format!("a policy is a mapping, found {}", root.kind()));
        return None;
    }
    let top = Fields::of(cx, &root, "the policy file", ROOT_KEYS)?;

    let variables = top.get("variables").map(|v| parse_variables(cx, v)).unwrap_or_default();
    let mut sorted_vars = variables.clone();
    // Longest name first, so `$sshd_file_list` is not replaced as `$sshd_file` + `_list`.
    sorted_vars.sort_by_key(|v| std::cmp::Reverse(v.0.len()));

    let wazuh5 = looks_like_wazuh5(&top);
    let header = match top.get("policy") {
        None => {
            cx.error(&root, codes::MISSING_FIELD, "the section 'policy' is missing");
            None
        }
        Some(p) => Fields::of(cx, p, "'policy'", POLICY_KEYS),
    };
    let (mut id, mut name, mut description, mut file, mut references) = (None, None, None, None, Vec::new());
    let mut regex_type = if wazuh5 { RegexType::Pcre2 } else { RegexType::OsRegex };
    if let Some(h) = &header {
        id = h.required_str(cx, "id", "'policy'");
        name = h.required_str(cx, "name", "'policy'");
        description = h.required_str(cx, "description", "'policy'");
        file = h.optional_str(cx, "file", "'policy'");
        if h.get("file").is_none() {
            cx.warn(h.node, codes::MISSING_FIELD, "'policy' has no 'file' (Wazuh 4.x requires it)");
        }
        references = h.get("references").map(|r| text_list(cx, r, "'references'")).unwrap_or_default();
        if let Some(rt) = parse_regex_type(cx, h.get("regex_type")) {
            regex_type = rt;
        }
    }

    let requirements = top.get("requirements").and_then(|r| parse_requirements(cx, r, &sorted_vars, regex_type));

    let mut checks = Vec::new();
    match top.get("checks") {
        None => cx.error(&root, codes::MISSING_FIELD, "the section 'checks' is missing"),
        Some(node) => match &node.value {
            Value::Seq(items) => {
                let mut seen: HashMap<i64, usize> = HashMap::new();
                for item in items {
                    if let Some(check) = parse_check(cx, item, &sorted_vars, regex_type, &mut seen) {
                        checks.push(check);
                    }
                }
            }
            _ if node.is_null() => {}
            _ => cx.error(node, codes::WRONG_TYPE, format!("'checks' must be a list, found {}", node.kind())),
        },
    }

    Some(Policy {
        id: id?,
        name: name?,
        description: description?,
        file,
        references,
        regex_type,
        requirements,
        variables,
        checks,
        warnings: Vec::new(),
    })
}

/// Wazuh 5.x policies evaluate everything with PCRE2 and are recognised by `name` in
/// place of `title`, `compliance` as a mapping, or a `mitre` mapping.
fn looks_like_wazuh5(top: &Fields<'_>) -> bool {
    let map_has = |n: &Node, key: &str| match &n.value {
        Value::Map(pairs) => pairs.iter().any(|(k, _)| k.as_str() == Some(key)),
        _ => false,
    };
    let map_value_is_map = |n: &Node, key: &str| match &n.value {
        Value::Map(pairs) => pairs.iter().any(|(k, v)| k.as_str() == Some(key) && matches!(v.value, Value::Map(_))),
        _ => false,
    };
    let renamed = |n: &Node| map_has(n, "name") && !map_has(n, "title");
    if top.get("requirements").is_some_and(renamed) {
        return true;
    }
    let Some(Node { value: Value::Seq(checks), .. }) = top.get("checks") else { return false };
    checks.iter().any(|c| renamed(c) || map_has(c, "mitre") || map_value_is_map(c, "compliance"))
}

fn parse_regex_type(cx: &mut Cx, node: Option<&Node>) -> Option<RegexType> {
    let node = node?;
    let s = text(cx, node, "'regex_type'", false)?;
    let rt = RegexType::parse(&s);
    if rt.is_none() {
        cx.error(node, codes::UNKNOWN_REGEX_TYPE, format!("unknown regex_type '{s}' (expected osregex or pcre2)"));
    }
    rt
}

fn parse_variables(cx: &mut Cx, node: &Node) -> Vec<(String, String)> {
    let Some(fields) = Fields::of(cx, node, "'variables'", &[]) else { return Vec::new() };
    let mut out = Vec::new();
    for (name, value) in &fields.entries {
        if !name.starts_with('$') || name.len() < 2 {
            cx.error(value, codes::INVALID_VARIABLE, format!("variable '{name}' must start with '$'"));
            continue;
        }
        match value.as_str() {
            Some(v) => out.push(((*name).to_string(), v.to_string())),
            None => cx.error(
                value,
                codes::INVALID_VARIABLE,
                format!("variable '{name}' must be text (a comma-separated list), found {}", value.kind()),
            ),
        }
    }
    out
}

fn parse_condition(cx: &mut Cx, node: &Node, value: &str) -> Option<Condition> {
    match value {
        "all" => Some(Condition::All),
        "any" => Some(Condition::Any),
        "none" => Some(Condition::None),
        "all required" | "any required" => {
            cx.warn(node, codes::DEPRECATED, format!("condition '{value}' is deprecated; read as '{}'", &value[..3]));
            Some(if value.starts_with("all") { Condition::All } else { Condition::Any })
        }
        other => {
            cx.error(
                node,
                codes::UNKNOWN_CONDITION,
                format!("unknown condition '{other}' (expected all, any or none)"),
            );
            None
        }
    }
}

fn title_of(cx: &mut Cx, fields: &Fields<'_>, what: &str) -> Option<String> {
    if fields.get("title").is_some() {
        fields.required_str(cx, "title", what)
    } else if fields.get("name").is_some() {
        fields.required_str(cx, "name", what)
    } else {
        cx.error(fields.node, codes::MISSING_FIELD, format!("{what} has no 'title' (or 'name')"));
        None
    }
}

fn parse_requirements(cx: &mut Cx, node: &Node, vars: &[(String, String)], engine: RegexType) -> Option<Requirements> {
    let f = Fields::of(cx, node, "'requirements'", REQUIREMENT_KEYS)?;
    let title = title_of(cx, &f, "'requirements'");
    let description = f.required_str(cx, "description", "'requirements'");
    let condition = f
        .required_str(cx, "condition", "'requirements'")
        .and_then(|c| f.get("condition").and_then(|n| parse_condition(cx, n, &c)));
    let rules = parse_rules(cx, &f, "'requirements'", vars, engine);
    Some(Requirements { title: title?, description: description?, condition: condition?, rules: rules? })
}

fn parse_check(
    cx: &mut Cx,
    node: &Node,
    vars: &[(String, String)],
    policy_engine: RegexType,
    seen: &mut HashMap<i64, usize>,
) -> Option<Check> {
    let errors_before = cx.errors.len();
    let f = Fields::of(cx, node, "a check", CHECK_KEYS)?;
    let id = match f.get("id") {
        None => {
            cx.error(node, codes::MISSING_FIELD, "a check has no 'id'");
            None
        }
        Some(v) => match v.as_str().map(|s| s.trim().parse::<i64>()) {
            Some(Ok(n)) if n > 0 => {
                if let Some(first) = seen.get(&n) {
                    cx.error(v, codes::DUPLICATE_CHECK_ID, format!("check id {n} is already used on line {first}"));
                } else {
                    seen.insert(n, v.line);
                }
                Some(n)
            }
            _ => {
                let shown = v.as_str().map_or_else(|| v.kind().to_string(), |s| format!("'{s}'"));
                cx.error(v, codes::INVALID_CHECK_ID, format!("check id {shown} is not a positive integer"));
                None
            }
        },
    };
    let what = id.map_or_else(|| "a check".to_string(), |i| format!("check {i}"));
    let title = title_of(cx, &f, &what);
    let description = f.optional_str(cx, "description", &what);
    let rationale = f.optional_str(cx, "rationale", &what);
    let remediation = f.optional_str(cx, "remediation", &what);
    let impact = f.optional_str(cx, "impact", &what);
    let references = f.get("references").map(|r| text_list(cx, r, "'references'")).unwrap_or_default();
    let compliance = f.get("compliance").map(|c| parse_compliance(cx, c, "compliance")).unwrap_or_default();
    let mitre = f.get("mitre").map(|c| parse_compliance(cx, c, "mitre")).unwrap_or_default();
    let condition = f
        .required_str(cx, "condition", &what)
        .and_then(|c| f.get("condition").and_then(|n| parse_condition(cx, n, &c)));
    let regex_type = parse_regex_type(cx, f.get("regex_type")).unwrap_or(policy_engine);
    let rules = parse_rules(cx, &f, &what, vars, regex_type);
    if cx.errors.len() > errors_before {
        return None;
    }
    Some(Check {
        id: id?,
        title: title?,
        description,
        rationale,
        remediation,
        impact,
        references,
        compliance,
        mitre,
        condition: condition?,
        regex_type,
        rules: rules?,
        line: node.line,
    })
}

/// `compliance` (4.x: a list of one-key mappings; 5.x: a mapping) or `mitre` (5.x:
/// nested mappings such as `tactic: {id: [...], name: [...]}`, kept as `tactic.id`).
fn parse_compliance(cx: &mut Cx, node: &Node, what: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    match &node.value {
        _ if node.is_null() => {}
        Value::Map(pairs) => compliance_pairs(cx, pairs, "", what, &mut out),
        Value::Seq(items) => {
            for item in items {
                match &item.value {
                    Value::Map(pairs) => compliance_pairs(cx, pairs, "", what, &mut out),
                    _ => cx.warn(
                        item,
                        codes::COMPLIANCE_FORMAT,
                        format!("an item of '{what}' is not a mapping (ignored)"),
                    ),
                }
            }
        }
        Value::Scalar { .. } => {
            cx.warn(node, codes::COMPLIANCE_FORMAT, format!("'{what}' is not a list or mapping (ignored)"))
        }
    }
    out
}

fn compliance_pairs(
    cx: &mut Cx,
    pairs: &[(Node, Node)],
    prefix: &str,
    what: &str,
    out: &mut Vec<(String, Vec<String>)>,
) {
    for (k, v) in pairs {
        let Some(key) = k.as_str() else {
            cx.warn(k, codes::COMPLIANCE_FORMAT, format!("a key of '{what}' is not text (ignored)"));
            continue;
        };
        let key = format!("{prefix}{key}");
        match &v.value {
            Value::Map(inner) => compliance_pairs(cx, inner, &format!("{key}."), what, out),
            Value::Scalar { text, .. } => out.push((key, vec![text.clone()])),
            Value::Seq(items) => match items.iter().map(|i| i.as_str().map(str::to_string)).collect() {
                Some(values) => out.push((key, values)),
                None => {
                    cx.warn(k, codes::COMPLIANCE_FORMAT, format!("'{key}' in '{what}' is not a list of text (ignored)"))
                }
            },
        }
    }
}

fn parse_rules(
    cx: &mut Cx,
    f: &Fields<'_>,
    what: &str,
    vars: &[(String, String)],
    engine: RegexType,
) -> Option<Vec<Rule>> {
    let Some(node) = f.get("rules") else {
        cx.error(f.node, codes::MISSING_FIELD, format!("{what} has no 'rules'"));
        return None;
    };
    let Value::Seq(items) = &node.value else {
        if node.is_null() {
            cx.error(node, codes::MISSING_FIELD, format!("{what} has no rules"));
        } else {
            cx.error(node, codes::WRONG_TYPE, format!("'rules' of {what} must be a list, found {}", node.kind()));
        }
        return None;
    };
    if items.is_empty() {
        cx.error(node, codes::MISSING_FIELD, format!("{what} has no rules"));
        return None;
    }
    if items.len() > MAX_RULES {
        cx.error(
            node,
            codes::TOO_MANY_RULES,
            format!("{what} has {} rules; at most {MAX_RULES} are allowed", items.len()),
        );
    }
    let before = cx.errors.len();
    let rules: Vec<Rule> = items.iter().filter_map(|item| parse_rule(cx, item, vars, engine)).collect();
    (cx.errors.len() == before).then_some(rules)
}

fn parse_rule(cx: &mut Cx, node: &Node, vars: &[(String, String)], engine: RegexType) -> Option<Rule> {
    let Some(text) = node.as_str() else {
        cx.error(node, codes::INVALID_RULE, format!("a rule must be text, found {}", node.kind()));
        return None;
    };
    let (negated, body) = match text.strip_prefix("not ").or_else(|| text.strip_prefix("NOT ")) {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let Some((ty, value)) = body.split_once(':') else {
        cx.error(
            node,
            codes::INVALID_RULE,
            format!("'{text}' is not a rule (expected TYPE:LOCATION, TYPE one of f, d, p, c, r)"),
        );
        return None;
    };
    if !matches!(ty, "f" | "d" | "p" | "c" | "r") {
        cx.error(node, codes::INVALID_RULE, format!("unknown rule type '{ty}' in '{text}' (expected f, d, p, c or r)"));
        return None;
    }
    let (location, rest) = match value.split_once(" -> ") {
        Some((l, r)) => (l, Some(r)),
        None => (value, None),
    };
    if location.trim().is_empty() {
        cx.error(node, codes::INVALID_RULE, format!("'{text}' has an empty location"));
        return None;
    }
    let before = cx.errors.len();
    let pattern = |cx: &mut Cx, p: &str| -> Option<Pattern> {
        if p.is_empty() {
            cx.error(node, codes::INVALID_RULE, format!("'{text}' has an empty pattern after '->'"));
            return None;
        }
        let (pat, problems) = Pattern::parse(p, engine);
        report(cx, node, problems);
        pat
    };
    let kind = match ty {
        "f" => {
            let paths = paths(cx, node, text, &expand(location, vars));
            let pat = rest.and_then(|r| pattern(cx, r));
            RuleKind::File { paths, pattern: pat }
        }
        "d" => {
            let paths = paths(cx, node, text, &expand(location, vars));
            let (filter, content) = match rest {
                None => (None, None),
                Some(r) => match r.split_once(" -> ") {
                    Some((f, c)) => (Some(f), Some(c)),
                    None => (Some(r), None),
                },
            };
            let filter = filter.and_then(|f| {
                if f.is_empty() {
                    cx.error(node, codes::INVALID_RULE, format!("'{text}' has an empty file name filter"));
                    None
                } else if f.starts_with("r:") || f.starts_with("!r:") {
                    pattern(cx, f).map(NameFilter::Regex)
                } else if engine == RegexType::OsRegex {
                    Some(NameFilter::OsMatch(f.to_string()))
                } else {
                    Some(NameFilter::Exact(f.to_string()))
                }
            });
            let content = content.and_then(|c| pattern(cx, c));
            RuleKind::Dir { paths, filter, pattern: content }
        }
        "p" => {
            if rest.is_some() {
                cx.error(node, codes::INVALID_RULE, format!("'{text}': process rules check existence only (no '->')"));
            }
            match pattern(cx, value) {
                Some(name) => RuleKind::Process { name },
                None => return None,
            }
        }
        "c" => {
            let command = expand(location, vars);
            let argv = match split_command(&command) {
                Ok(argv) if !argv.is_empty() => argv,
                Ok(_) => {
                    cx.error(node, codes::INVALID_RULE, format!("'{text}' has no command"));
                    Vec::new()
                }
                Err(why) => {
                    cx.error(node, codes::INVALID_RULE, format!("'{text}': {why}"));
                    Vec::new()
                }
            };
            let pat = rest.and_then(|r| pattern(cx, r));
            RuleKind::Command { command, argv, pattern: pat }
        }
        _ => {
            cx.warn(node, codes::WINDOWS_ONLY, format!("'{text}' reads the Windows registry: not applicable on Linux"));
            let (value_name, content) = match rest {
                None => (None, None),
                Some(r) => match r.split_once(" -> ") {
                    Some((v, c)) => (Some(v.to_string()), Some(c)),
                    None => (Some(r.to_string()), None),
                },
            };
            let pat = content.and_then(|c| pattern(cx, c));
            RuleKind::Registry { key: location.to_string(), value: value_name, pattern: pat }
        }
    };
    if ty == "f" || ty == "d" {
        if let RuleKind::File { paths, .. } | RuleKind::Dir { paths, .. } = &kind {
            if let Some(var) = paths.iter().find_map(|p| undefined_variable(p)) {
                cx.warn(
                    node,
                    codes::UNDEFINED_VARIABLE,
                    format!("'{text}' uses '{var}', which 'variables' does not define"),
                );
            }
        }
    }
    (cx.errors.len() == before).then(|| Rule { text: text.to_string(), line: node.line, negated, kind })
}

fn report(cx: &mut Cx, node: &Node, problems: Vec<PatternProblem>) {
    for p in problems {
        match p {
            PatternProblem::Invalid { code, message } => cx.error(node, code, message),
            PatternProblem::Unsupported(m) => {
                cx.warn(node, codes::UNSUPPORTED_REGEX, format!("{m}: the check will be not applicable"))
            }
            PatternProblem::Deprecated(m) => cx.warn(node, codes::DEPRECATED, m),
            PatternProblem::Broken { code, message } => {
                cx.warn(node, code, format!("{message}: the check will be not applicable"))
            }
        }
    }
}

fn expand(location: &str, vars: &[(String, String)]) -> String {
    let mut out = location.to_string();
    for (name, value) in vars {
        if out.contains(name.as_str()) {
            out = out.replace(name.as_str(), value);
        }
    }
    out
}

fn paths(cx: &mut Cx, node: &Node, text: &str, list: &str) -> Vec<String> {
    let out: Vec<String> = list.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_string).collect();
    if out.is_empty() {
        cx.error(node, codes::INVALID_RULE, format!("'{text}' names no path"));
    }
    out
}

fn undefined_variable(path: &str) -> Option<&str> {
    let start = path.find('$')?;
    let rest = &path[start + 1..];
    let len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
    (len > 0 && rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')).then(|| &path[start..start + 1 + len])
}

/// Splits a command line like Wazuh's `w_strtok`: spaces separate words, double quotes
/// group (and are removed), a backslash escapes a space, a double quote or a backslash
/// (and is kept before anything else). Single quotes are ordinary characters.
pub(crate) fn split_command(s: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut cur = String::new();
    let (mut has, mut quoting) = (false, false);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' if !quoting => {
                if has {
                    args.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            '"' => {
                quoting = !quoting;
                has = true;
            }
            '\\' => {
                match chars.peek() {
                    Some(&n @ (' ' | '"' | '\\')) => {
                        cur.push(n);
                        chars.next();
                    }
                    _ => cur.push('\\'),
                }
                has = true;
            }
            other => {
                cur.push(other);
                has = true;
            }
        }
    }
    if quoting {
        return Err("unclosed double quote in the command".into());
    }
    if has {
        args.push(cur);
    }
    Ok(args)
}
