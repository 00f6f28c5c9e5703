//! Content patterns (`r:`, `!r:`, `n:… compare …`, literals, `&&`) and the two regex
//! dialects of Wazuh SCA.
//!
//! # OS_Regex (`regex_type: osregex`, the Wazuh 4.x default)
//!
//! OS_Regex is OSSEC's small regex language. [`translate_osregex`] turns it into the
//! `regex` crate's syntax:
//!
//! | OS_Regex | meaning                                  | Rust `regex`                  |
//! |----------|------------------------------------------|-------------------------------|
//! | `\w`     | `A-Z a-z 0-9 - @ _`                      | `[A-Za-z0-9@_-]`              |
//! | `\W`     | anything but `\w`                        | `[^A-Za-z0-9@_-]`             |
//! | `\d` `\D`| digit, non-digit                         | `[0-9]`, `[^0-9]`             |
//! | `\s` `\S`| an ASCII space (not a tab), non-space    | `[ ]`, `[^ ]`                 |
//! | `\t`     | a tab                                    | `\t`                          |
//! | `\p`     | punctuation ``()*+,-.:;<=>?[]!"'#$%&|{}``| that character class          |
//! | `\.`     | any character                            | `.`                           |
//! | `\\` `\$` `\(` `\)` `\|` `\<` | the literal character | escaped literal            |
//! | `+` `*`  | after a backslash class: one/zero or more| `+`, `*`                      |
//! | `+` `*`  | anywhere else: the literal character     | `\+`, `\*`                    |
//! | `.` `[` `{` `?` … | literal characters              | escaped                       |
//! | `^` / `$`| start / end, only first / last of an alternative | `^` / `$` (else literal) |
//! | `|`      | alternation, top level only              | `|`                           |
//! | `(` `)`  | a capture group, one level, no `|` inside| `(` `)`                       |
//!
//! OS_Regex is case-insensitive (SCA compiles it without `OS_CASE_SENSITIVE`), so the
//! translation starts with `(?i)`. Differences that remain, all in the direction of
//! matching more: OS_Regex backtracks only a little (`\p*\d*\s*\w*:` does not match a
//! lone `:` there; it does here), and it has no way to express what Rust can, which
//! never arises since the input is OS_Regex. An unknown escape (`\q`), nested or
//! unbalanced parentheses and `|` inside parentheses are errors, as in OS_Regex: the
//! policy still loads, [`crate::sca::validate`] warns (`BPS-SCA-0009`) and the check
//! is "not applicable", as in Wazuh.
//!
//! # PCRE2 (`regex_type: pcre2`, the Wazuh 5.x engine)
//!
//! Patterns go to the `regex` crate unchanged but for `\Z` (read as `\z`: lines carry
//! no newline) and `\h` (horizontal space). PCRE2 is case-sensitive, as in Wazuh. What
//! the `regex` crate cannot do — look-ahead and look-behind, back-references, atomic
//! groups, possessive quantifiers, `\K`, `\G`, `\Q…\E`, recursion, conditionals, verbs
//! — is detected: the policy still loads, [`crate::sca::validate`] warns
//! (`BPS-SCA-0017`) and the check is "not applicable" with the reason.

use regex::{Regex, RegexBuilder};

/// Which regex engine a check's `r:`/`n:` patterns use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegexType {
    /// OSSEC/Wazuh OS_Regex, translated (see the module docs).
    OsRegex,
    /// PCRE2, run by the `regex` crate.
    Pcre2,
}

impl RegexType {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "osregex" => Some(Self::OsRegex),
            "pcre2" => Some(Self::Pcre2),
            _ => None,
        }
    }

    /// The Wazuh name (`osregex`, `pcre2`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OsRegex => "osregex",
            Self::Pcre2 => "pcre2",
        }
    }
}

/// A compiled regex, or why this engine cannot run it.
#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    Compiled(Regex),
    Unsupported(String),
}

/// Why a pattern could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PatternProblem {
    /// Not a valid pattern at all (turned into [`PatternProblem::Broken`] by
    /// [`Pattern::parse`]).
    Invalid { code: &'static str, message: String },
    /// Valid PCRE2 that the `regex` crate cannot run (a warning).
    Unsupported(String),
    /// Accepted, but written in a non-standard way (a warning).
    Deprecated(String),
    /// A malformed regex or `n:` comparison. Wazuh does not compile patterns when it
    /// loads a policy: such a rule is "invalid" when evaluated and its check "not
    /// applicable", while the rest of the policy runs. So it is a warning (with the
    /// code of the problem) and the term evaluates to that reason.
    Broken { code: &'static str, message: String },
}

/// Compiles a regex of the given dialect.
pub(crate) fn compile(src: &str, engine: RegexType) -> Result<Matcher, PatternProblem> {
    if src.is_empty() {
        return Err(PatternProblem::Invalid { code: super::codes::INVALID_REGEX, message: "empty regex".into() });
    }
    let translated = match engine {
        RegexType::OsRegex => translate_osregex(src).map_err(|message| PatternProblem::Invalid {
            code: super::codes::INVALID_REGEX,
            message: format!("invalid OS_Regex '{src}': {message}"),
        })?,
        RegexType::Pcre2 => {
            let rewritten = rewrite_pcre2(src);
            if let Some(construct) = pcre2_unsupported(src) {
                // A pattern the regex crate rejects for a construct it lacks is valid
                // PCRE2: keep the policy loadable and say so.
                if build(&rewritten).is_err() {
                    return Ok(Matcher::Unsupported(format!(
                        "the PCRE2 pattern '{src}' uses {construct}, which bposhield's regex engine does not support"
                    )));
                }
            }
            rewritten
        }
    };
    build(&translated).map(Matcher::Compiled).map_err(|e| PatternProblem::Invalid {
        code: super::codes::INVALID_REGEX,
        message: format!("invalid regex '{src}': {}", first_line(&e.to_string())),
    })
}

fn build(src: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(src).size_limit(1 << 20).build()
}

fn first_line(s: &str) -> String {
    s.lines().rfind(|l| !l.trim().is_empty()).unwrap_or(s).trim().to_string()
}

const OS_W: &str = "A-Za-z0-9@_-";
const OS_P: &str = r#"()*+,\-.:;<=>?\[\]!"'#$%&|{}"#;

/// Translates an OS_Regex pattern to the `regex` crate's syntax (see the module docs).
///
/// # Errors
/// An unknown escape, a trailing backslash, nested or unbalanced parentheses, or `|`
/// inside parentheses, with a short description.
pub fn translate_osregex(src: &str) -> Result<String, String> {
    let mut alternatives = Vec::new();
    for alt in split_top_alternatives(src)? {
        let mut out = String::new();
        let mut depth = 0usize;
        let mut body = alt;
        let anchored_start = body.starts_with('^');
        if anchored_start {
            body = &body[1..];
        }
        // A trailing `$` anchors unless it is escaped (`\$`).
        let anchored_end = body.ends_with('$') && !ends_with_escape(&body[..body.len() - 1]);
        if anchored_end {
            body = &body[..body.len() - 1];
        }
        if anchored_start {
            out.push('^');
        }
        let mut chars = body.chars().peekable();
        let mut prev_was_class = false;
        while let Some(c) = chars.next() {
            let mut is_class = false;
            match c {
                '\\' => {
                    let Some(e) = chars.next() else { return Err("a trailing backslash".into()) };
                    match e {
                        'w' => out.push_str(&format!("[{OS_W}]")),
                        'W' => out.push_str(&format!("[^{OS_W}]")),
                        'd' => out.push_str("[0-9]"),
                        'D' => out.push_str("[^0-9]"),
                        's' => out.push_str("[ ]"),
                        'S' => out.push_str("[^ ]"),
                        't' => out.push_str(r"\t"),
                        'p' => out.push_str(&format!("[{OS_P}]")),
                        '.' => out.push_str("(?s:.)"),
                        '\\' | '$' | '(' | ')' | '|' | '<' => out.push_str(&regex::escape(&e.to_string())),
                        other => return Err(format!("unknown escape '\\{other}'")),
                    }
                    is_class = true;
                }
                '+' | '*' if prev_was_class => out.push(c),
                '(' => {
                    depth += 1;
                    if depth > 1 {
                        return Err("nested parentheses".into());
                    }
                    out.push('(');
                }
                ')' => {
                    if depth == 0 {
                        return Err("unbalanced ')'".into());
                    }
                    depth -= 1;
                    out.push(')');
                }
                other => out.push_str(&regex::escape(&other.to_string())),
            }
            prev_was_class = is_class;
        }
        if depth != 0 {
            return Err("unclosed '('".into());
        }
        if anchored_end {
            out.push('$');
        }
        // An empty alternative never matches in OS_Regex (it would match everything
        // here), so it is left out.
        if !body.is_empty() {
            alternatives.push(out);
        }
    }
    if alternatives.is_empty() {
        return Err("nothing to match".into());
    }
    Ok(format!("(?i){}", alternatives.join("|")))
}

/// Whether `s` ends in an odd run of backslashes (its last character is escaped).
fn ends_with_escape(s: &str) -> bool {
    s.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// Splits at unescaped `|`; a `|` inside parentheses is an OS_Regex error.
fn split_top_alternatives(src: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let (mut start, mut depth, mut escaped) = (0usize, 0usize, false);
    for (i, c) in src.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            '|' if depth > 0 => return Err("'|' inside parentheses".into()),
            '|' => {
                parts.push(&src[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&src[start..]);
    Ok(parts)
}

/// `\Z` → `\z` and `\h`/`\H` → classes; everything else untouched.
fn rewrite_pcre2(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut chars = src.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('Z') if !in_class => out.push_str(r"\z"),
                Some('h') if in_class => out.push_str(r"\t \xA0"),
                Some('h') => out.push_str(r"[\t \xA0]"),
                Some('H') if !in_class => out.push_str(r"[^\t \xA0]"),
                Some(e) => {
                    out.push('\\');
                    out.push(e);
                }
                None => out.push('\\'),
            },
            '[' => {
                in_class = true;
                out.push(c);
            }
            ']' => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// The first PCRE2-only construct in `src`, named for the reader.
fn pcre2_unsupported(src: &str) -> Option<&'static str> {
    const GROUPS: &[(&str, &str)] = &[
        ("(?=", "a look-ahead"),
        ("(?!", "a negative look-ahead"),
        ("(?<=", "a look-behind"),
        ("(?<!", "a negative look-behind"),
        ("(?>", "an atomic group"),
        ("(?|", "a branch-reset group"),
        ("(?R", "recursion"),
        ("(?(", "a conditional group"),
        ("(*", "a backtracking verb"),
    ];
    for (needle, name) in GROUPS {
        if src.contains(needle) {
            return Some(name);
        }
    }
    let bytes = src.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if i + 1 < bytes.len() => {
                match bytes[i + 1] {
                    b'1'..=b'9' | b'g' | b'k' => return Some("a back-reference"),
                    b'K' => return Some("\\K"),
                    b'G' => return Some("\\G"),
                    b'Q' => return Some("\\Q…\\E quoting"),
                    b'R' | b'X' | b'C' | b'e' | b'v' | b'V' | b'N' => return Some("a PCRE2-only escape"),
                    _ => {}
                }
                i += 2;
                continue;
            }
            b'*' | b'+' | b'?' | b'}' if bytes.get(i + 1) == Some(&b'+') => return Some("a possessive quantifier"),
            _ => {}
        }
        i += 1;
    }
    None
}

/// A relational operator of `n:` comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Lt,
    Le,
    Eq,
    Ne,
    Ge,
    Gt,
}

impl CmpOp {
    fn apply(self, a: i64, b: i64) -> bool {
        match self {
            Self::Lt => a < b,
            Self::Le => a <= b,
            Self::Eq => a == b,
            Self::Ne => a != b,
            Self::Ge => a >= b,
            Self::Gt => a > b,
        }
    }
}

#[derive(Debug, Clone)]
enum TermKind {
    /// The whole line equals the text.
    Literal(String),
    Regex(Matcher),
    Numeric {
        re: Matcher,
        op: CmpOp,
        value: i64,
    },
}

#[derive(Debug, Clone)]
struct Term {
    negated: bool,
    kind: TermKind,
}

/// A content pattern: minterms joined by ` && `, each optionally negated with `!`,
/// all of which must hold on the same line.
#[derive(Debug, Clone)]
pub struct Pattern {
    text: String,
    terms: Vec<Term>,
    /// OS_Regex policies compare literals case-insensitively (`strcasecmp` in Wazuh
    /// 4.x); PCRE2 ones exactly (Wazuh 5.x).
    literal_ci: bool,
}

impl Pattern {
    /// Parses a pattern; problems are returned (errors and warnings) with the pattern
    /// when it is still usable.
    pub(crate) fn parse(text: &str, engine: RegexType) -> (Option<Pattern>, Vec<PatternProblem>) {
        let mut problems = Vec::new();
        let mut terms = Vec::new();
        for raw in text.split(" && ") {
            let (negated, body) = match raw.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, raw),
            };
            let prefix = body.get(..2).map(str::to_ascii_lowercase);
            let kind = match prefix.as_deref() {
                Some("r:") => match compile(&body[2..], engine) {
                    Ok(m) => {
                        if let Matcher::Unsupported(why) = &m {
                            problems.push(PatternProblem::Unsupported(why.clone()));
                        }
                        TermKind::Regex(m)
                    }
                    Err(p) => {
                        problems.push(p);
                        broken(&mut problems)
                    }
                },
                Some("n:") => match parse_numeric(&body[2..], engine, &mut problems) {
                    Some(kind) => kind,
                    None => broken(&mut problems),
                },
                _ => TermKind::Literal(body.to_string()),
            };
            terms.push(Term { negated, kind });
        }
        let pattern = Pattern { text: text.to_string(), terms, literal_ci: engine == RegexType::OsRegex };
        (Some(pattern), problems)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Why this pattern cannot be evaluated here, if it cannot.
    pub(crate) fn unsupported(&self) -> Option<&str> {
        self.terms.iter().find_map(|t| match &t.kind {
            TermKind::Regex(Matcher::Unsupported(why)) | TermKind::Numeric { re: Matcher::Unsupported(why), .. } => {
                Some(why.as_str())
            }
            _ => None,
        })
    }

    /// Whether one line satisfies every minterm. `Err` carries why the line could not
    /// be judged (a captured number that is not an integer).
    pub(crate) fn matches_line(&self, line: &str) -> Result<bool, String> {
        for term in &self.terms {
            let hit = match &term.kind {
                TermKind::Literal(s) => {
                    if self.literal_ci {
                        line.eq_ignore_ascii_case(s)
                    } else {
                        line == s
                    }
                }
                TermKind::Regex(Matcher::Compiled(re)) => re.is_match(line),
                TermKind::Numeric { re: Matcher::Compiled(re), op, value } => match re.captures(line) {
                    None => false,
                    Some(caps) => {
                        let Some(m) = caps.get(1) else {
                            return Err(format!("regex of '{}' captured nothing", self.text));
                        };
                        let captured: i64 =
                            m.as_str().trim().parse().map_err(|_| {
                                format!("Conversion error. Cannot convert '{}' to integer.", m.as_str())
                            })?;
                        op.apply(captured, *value)
                    }
                },
                TermKind::Regex(Matcher::Unsupported(why))
                | TermKind::Numeric { re: Matcher::Unsupported(why), .. } => return Err(why.clone()),
            };
            if hit == term.negated {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Whether `text` satisfies the pattern: some line satisfies every minterm. A
    /// pattern that is one negated minterm alone (`-> !r:^\s*1$`) is Wazuh's "NIN"
    /// rule instead: it holds when no line matches the minterm (4.x `wm_sca.c` logs
    /// "Negation found, is a NIN rule"; 5.x does the same), so a blank line does not
    /// satisfy it.
    pub(crate) fn matches_any_line(&self, text: &str) -> Result<bool, String> {
        if let [term] = &self.terms[..] {
            if term.negated {
                let positive = Self { terms: vec![Term { negated: false, kind: term.kind.clone() }], ..self.clone() };
                return positive.matches_any_line(text).map(|found| !found);
            }
        }
        for line in text.lines() {
            if self.matches_line(line.strip_suffix('\r').unwrap_or(line))? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Turns the [`PatternProblem::Invalid`] just reported for a term into a
/// [`PatternProblem::Broken`] warning and returns a term that makes the rule invalid
/// with that reason, as Wazuh does when it evaluates a pattern it cannot compile.
fn broken(problems: &mut [PatternProblem]) -> TermKind {
    let mut reason = String::from("malformed pattern");
    if let Some(last) = problems.iter_mut().rev().find(|p| matches!(p, PatternProblem::Invalid { .. })) {
        if let PatternProblem::Invalid { code, message } = last {
            reason = message.clone();
            *last = PatternProblem::Broken { code, message: std::mem::take(message) };
        }
    }
    TermKind::Regex(Matcher::Unsupported(reason))
}

fn parse_numeric(body: &str, engine: RegexType, problems: &mut Vec<PatternProblem>) -> Option<TermKind> {
    let invalid = |message: String| PatternProblem::Invalid { code: super::codes::INVALID_NUMERIC, message };
    let Some((re_src, cmp)) = body.split_once(" compare ") else {
        problems
            .push(invalid(format!("'n:{body}' has no ' compare ' (expected 'n:REGEX_WITH_CAPTURE compare OP VALUE')")));
        return None;
    };
    let cmp = cmp.trim();
    let (op_text, value_text) = match cmp.split_once(char::is_whitespace) {
        Some((op, value)) => (op, value.trim()),
        None => {
            // `compare <=5`: the operator glued to the value.
            let split = cmp.find(|c: char| c.is_ascii_digit() || c == '-').unwrap_or(cmp.len());
            (&cmp[..split], cmp[split..].trim())
        }
    };
    let op = match op_text {
        "<" => CmpOp::Lt,
        "<=" => CmpOp::Le,
        "==" => CmpOp::Eq,
        "!=" => CmpOp::Ne,
        ">=" => CmpOp::Ge,
        ">" => CmpOp::Gt,
        "=" => {
            problems.push(PatternProblem::Deprecated(format!("'compare =' in 'n:{body}' is read as '=='")));
            CmpOp::Eq
        }
        "=>" | "=<" | "\\!=" => {
            let (op, meaning) = match op_text {
                "=>" => (CmpOp::Ge, ">="),
                "=<" => (CmpOp::Le, "<="),
                _ => (CmpOp::Ne, "!="),
            };
            problems.push(PatternProblem::Deprecated(format!(
                "non-standard operator 'compare {op_text}' in 'n:{body}' is read as '{meaning}'"
            )));
            op
        }
        other => {
            problems.push(invalid(format!(
                "unknown comparison operator '{other}' in 'n:{body}' (use <, <=, ==, !=, >= or >)"
            )));
            return None;
        }
    };
    let Ok(value) = value_text.parse::<i64>() else {
        problems.push(invalid(format!("'{value_text}' in 'n:{body}' is not an integer")));
        return None;
    };
    let re = match compile(re_src, engine) {
        Ok(m) => m,
        Err(p) => {
            problems.push(p);
            return None;
        }
    };
    match &re {
        Matcher::Compiled(r) if r.captures_len() < 2 => {
            problems.push(invalid(format!("the regex of 'n:{body}' has no capture group for the number")));
            return None;
        }
        Matcher::Unsupported(why) => problems.push(PatternProblem::Unsupported(why.clone())),
        Matcher::Compiled(_) => {}
    }
    Some(TermKind::Numeric { re, op, value })
}
