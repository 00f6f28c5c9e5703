//! The USBGuard rule language: table tests, round-trip properties, the differential
//! test against `usbguard-rule-parser`, and evaluation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bposhield_endpoint::rules::{
    ConditionKind, DeviceView, EvalContext, Rule, RuleError, RuleHistory, RuleSet, SetOperator, Target,
};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Command;

// ---------------------------------------------------------------------------
// (a) Table tests: every line here was checked against usbguard-rule-parser 1.1.2.

/// (input, normalized output); an empty output is a comment-only line.
const ACCEPTED: &[(&str, &str)] = &[
    ("allow", "allow"),
    ("block", "block"),
    ("reject", "reject"),
    ("match", "match"),
    ("device", "device"),
    ("allow id 1234:5678", "allow id 1234:5678"),
    ("allow 1234:5678", "allow id 1234:5678"),
    ("allow  id 1234:5678", "allow id 1234:5678"),
    ("allow\tid\t1234:5678", "allow id 1234:5678"),
    ("allow id *:*", "allow id *:*"),
    ("allow id 1234:*", "allow id 1234:*"),
    ("allow id AbCd:eF01", "allow id AbCd:eF01"),
    ("allow id { 1234:5678 }", "allow id 1234:5678"),
    ("allow id {1234:5678}", "allow id 1234:5678"),
    ("allow id {  1234:5678\t}", "allow id 1234:5678"),
    ("allow id one-of  { 1234:5678 }", "allow id one-of { 1234:5678 }"),
    ("allow id equals { 1234:5678 1111:2222 }", "allow id { 1234:5678 1111:2222 }"),
    ("allow id equals { 1234:5678 }", "allow id 1234:5678"),
    ("allow id equals-ordered { 1234:5678 }", "allow id equals-ordered { 1234:5678 }"),
    ("allow id match-all { 1234:5678 }", "allow id match-all { 1234:5678 }"),
    ("allow id none-of { *:* }", "allow id none-of { *:* }"),
    ("allow with-interface 08:06:50", "allow with-interface 08:06:50"),
    ("allow with-interface 08:06:*", "allow with-interface 08:06:*"),
    ("allow with-interface 08:*:*", "allow with-interface 08:*:*"),
    ("allow with-interface AB:Cd:eF", "allow with-interface ab:cd:ef"),
    ("allow with-interface { 08:06:50 03:00:00 }", "allow with-interface { 08:06:50 03:00:00 }"),
    ("allow with-connect-type \"hotplug\"", "allow with-connect-type \"hotplug\""),
    ("allow with-connect-type { \"a\" \"b\" }", "allow with-connect-type { \"a\" \"b\" }"),
    ("allow label \"x\"", "allow label \"x\""),
    ("allow via-port { \"1-2\" \"1-3\" }", "allow via-port { \"1-2\" \"1-3\" }"),
    ("allow hash \"abc=\" parent-hash \"def=\"", "allow hash \"abc=\" parent-hash \"def=\""),
    ("allow serial \"\"", "allow serial \"\""),
    ("allow name \"a b\"", "allow name \"a b\""),
    ("allow name  \"a\"", "allow name \"a\""),
    ("allow name\t\"a\"", "allow name \"a\""),
    ("allow name \"\\x4a\\x4B\"", "allow name \"JK\""),
    ("allow name \"\\x41\"", "allow name \"A\""),
    ("allow name \"\\x00\"", "allow name \"\\x00\""),
    ("allow name \"\\x7f\\x80\\xff\"", "allow name \"\\x7f\\x80\\xff\""),
    ("allow name \"é\"", "allow name \"\\xc3\\xa9\""),
    ("allow name \"a\tb\"", "allow name \"a\\x09b\""),
    ("allow name \"a\\\"b\"", "allow name \"a\\\"b\""),
    ("allow name \"a\\\\\"", "allow name \"a\\\\\""),
    ("allow name \"~ !\"", "allow name \"~ !\""),
    // Attributes print in USBGuard's order.
    (
        "allow label \"l\" name \"n\" id 1234:5678 with-connect-type \"c\" if true with-interface 03:00:00 via-port \"p\" parent-hash \"ph\" hash \"h\" serial \"s\"",
        "allow id 1234:5678 serial \"s\" name \"n\" hash \"h\" parent-hash \"ph\" via-port \"p\" with-interface 03:00:00 if true with-connect-type \"c\" label \"l\"",
    ),
    // Comments.
    ("allow #x", "allow"),
    ("allow#x", "allow"),
    ("allow name \"a\" #", "allow name \"a\""),
    ("allow name \"a\"  #x", "allow name \"a\""),
    ("#c", ""),
    (" #c", ""),
    // Several rules on one line write into one rule.
    ("allowblock", "block"),
    ("allowallow", "allow"),
    ("allow name \"a\"block", "block name \"a\""),
    ("allow id 1234:5678block 1111:2222", "block id 1111:2222"),
    ("allow id one-of { 1234:5678 }block 1111:2222", "block id one-of { 1111:2222 }"),
    // label has no duplicate check upstream.
    ("allow label \"a\" label \"b\"", "allow label { \"a\" \"b\" }"),
    ("allow label \"a\" label { \"b\" \"c\" }", "allow label { \"a\" \"b\" \"c\" }"),
    ("allow label one-of { \"a\" } label \"b\"", "allow label one-of { \"a\" \"b\" }"),
    // Conditions.
    ("allow if true", "allow if true"),
    ("allow if true(x)", "allow if true"),
    ("allow if false(abc)", "allow if false"),
    ("allow if !true", "allow if !true"),
    ("allow if { true }", "allow if true"),
    ("allow if { true false }", "allow if { true false }"),
    ("allow if one-of { true !false }", "allow if one-of { true !false }"),
    ("allow if equals { true }", "allow if true"),
    ("allow if equals-ordered { true }", "allow if equals-ordered { true }"),
    ("allow  if true", "allow if true"),
    ("allow if rule-evaluated", "allow if rule-applied"),
    ("allow if rule-evaluated(5)", "allow if rule-applied(5)"),
    ("allow if rule-applied(12abc)", "allow if rule-applied(12abc)"),
    ("allow if rule-applied(1:2)", "allow if rule-applied(1:2)"),
    ("allow if rule-applied(18446744073709551616)", "allow if rule-applied(18446744073709551616)"),
    ("allow if random", "allow if random"),
    ("allow if random(5)", "allow if random(5)"),
    ("allow if random(-1)", "allow if random(-1)"),
    ("allow if random( 0.5x)", "allow if random( 0.5x)"),
    ("allow if random(inf)", "allow if random(inf)"),
    ("allow if random(0x1p-2)", "allow if random(0x1p-2)"),
    ("allow if random(0x)", "allow if random(0x)"),
    ("allow if random(1\\))", "allow if random(1\\))"),
    ("allow if localtime(08:00)", "allow if localtime(08:00)"),
    ("allow if localtime(8:00)", "allow if localtime(8:00)"),
    ("allow if localtime(08:60)", "allow if localtime(08:60)"),
    ("allow if localtime(08:00-17:00)", "allow if localtime(08:00-17:00)"),
    ("allow if localtime(08:00:30-09:00)", "allow if localtime(08:00:30-09:00)"),
    ("allow if localtime(08:00junk)", "allow if localtime(08:00junk)"),
    ("allow if localtime( 8:00)", "allow if localtime( 8:00)"),
    ("allow if localtime(08:00-)", "allow if localtime(08:00-)"),
    ("allow if localtime(1:00\\))", "allow if localtime(1:00\\))"),
    ("allow if allowed-matches(id 1234:5678)", "allow if allowed-matches(id 1234:5678)"),
    ("allow if allowed-matches(1234:5678)", "allow if allowed-matches(1234:5678)"),
    ("allow if allowed-matches(#x)", "allow if allowed-matches(#x)"),
    ("allow if allowed-matches(if true)", "allow if allowed-matches(if true)"),
];

const REJECTED: &[&str] = &[
    "",
    "bogus",
    "ALLOW",
    "allow id 1234:5678 ",
    "allow  ",
    "\tallow",
    " allow",
    "allow block",
    "allow ID 1234:5678",
    "allow id 1234:5678name \"a\"",
    "allow name \"a\"id 1234:5678",
    "allow name",
    "allow name \"a\"  ",
    "allow id *:1234",
    "allow id 12345:5678",
    "allow id 123:5678",
    "allow id {}",
    "allow id { }",
    "allow id one-of{ 1234:5678 }",
    "allow id match { 1234:5678 }",
    "allow with-interface 08:*:50",
    "allow with-interface *:*:*",
    "allow with-interface 8:06:50",
    "allow name \"a\" serial \"b\" id 1:1",
    "allow 1234:5678 id 1234:5678",
    "allow id 1234:5678 id 1234:5679",
    "allow name \"a\"block name \"b\"",
    "allow name \"\\a\"",
    "allow name \"\\n\"",
    "allow name \"\\x4\"",
    "allow name \"\\101\"",
    "allow name \"\\0\"",
    "allow name \"\\'\"",
    "allow name \"a\\\"",
    "allow name \"a\"b\"",
    "allow if !!true",
    "allow if !{ true }",
    "allow if TRUE",
    "allow if true()",
    "allow if x",
    "allow if -",
    "allow if true2",
    "allow if 2true",
    "allow if rule-applied()",
    "allow if rule-applied(abc)",
    "allow if rule-applied( 5)",
    "allow if rule-applied(5\\)",
    "allow if rule-applied(99999999999999999)",
    "allow if random(abc)",
    "allow if random(1e999)",
    "allow if random(1e-999)",
    "allow if random(\\x41)",
    "allow if random(\\t1)",
    "allow if localtime(25:00)",
    "allow if localtime(24:00)",
    "allow if localtime(08:00-7:00)",
    "allow if localtime(00:30-00:10:00)",
    "allow if localtime(-08:00)",
    "allow if localtime(3:00-30:00)",
    "allow if localtime(1\\))",
    "allow if allowed-matches(block)",
    "allow if allowed-matches(name \"a\\)\")",
    "allow if allowed-matches(name \"a)\")",
    "allow if allowed-matches(id 1234:5678 )",
    "allow if allowed-matches(allow)",
];

#[test]
fn accepted_rules_print_like_usbguard() {
    for (input, want) in ACCEPTED {
        let got = match Rule::parse(input) {
            Ok(r) => r.to_string(),
            Err(RuleError::CommentOnly) => String::new(),
            Err(e) => panic!("{input:?} refused: {e}"),
        };
        assert_eq!(&got, want, "for {input:?}");
    }
}

#[test]
fn rejected_rules_are_refused() {
    for input in REJECTED {
        assert!(Rule::parse(input).is_err(), "{input:?} accepted as {}", Rule::parse(input).unwrap());
    }
    assert_eq!(Rule::parse(""), Err(RuleError::Empty));
    assert_eq!(Rule::parse("#x"), Err(RuleError::CommentOnly));
    assert!("allow id *:1234".parse::<Rule>().is_err());
}

#[test]
fn parsed_values_are_exposed() {
    let r = Rule::parse("reject id one-of { 1d6b:* 0781:5567 } name \"A\\x42\" if !localtime(08:00-17:00)").unwrap();
    assert_eq!(r.target, Target::Reject);
    assert_eq!(r.id.op(), SetOperator::OneOf);
    assert_eq!(r.id.values().iter().map(ToString::to_string).collect::<Vec<_>>(), ["1d6b:*", "0781:5567"]);
    assert_eq!(r.name.values(), [b"AB".to_vec()]);
    let c = &r.conditions.values()[0];
    assert!(c.negated);
    assert!(matches!(c.kind, ConditionKind::Localtime { begin: 28_800, end: 61_200, .. }));
}

#[test]
fn rule_sets_report_the_failing_line() {
    let text = "# policy\n\nallow id 1d6b:*\n  # indented comment\nblock with-interface 08:*:*\n";
    let set = RuleSet::parse(text).unwrap();
    assert_eq!(set.rules().len(), 2);
    assert_eq!(set.lines(), [3, 5]);
    assert_eq!(set.to_string(), "allow id 1d6b:*\nblock with-interface 08:*:*\n");

    let err = RuleSet::parse("allow\nblock id *:1234\nallow").unwrap_err();
    assert_eq!(err.line, 2);
    assert!(matches!(err.reason, RuleError::Invalid { .. }), "{err}");
    // As in USBGuard: a line of blanks and a CR line end are errors.
    assert_eq!(RuleSet::parse("allow\n  \n").unwrap_err().line, 2);
    assert_eq!(RuleSet::parse("allow\r\nblock").unwrap_err().line, 1);
}

// ---------------------------------------------------------------------------
// A seeded generator over the grammar, with mutations that make rules invalid.

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len())]
    }
}

fn hex_digit(rng: &mut Rng) -> char {
    let c = char::from_digit(rng.below(16) as u32, 16).unwrap();
    if rng.chance(20) {
        c.to_ascii_uppercase()
    } else {
        c
    }
}

fn hex(rng: &mut Rng, n: usize) -> String {
    (0..n).map(|_| hex_digit(rng)).collect()
}

fn blank(rng: &mut Rng) -> String {
    match rng.below(12) {
        0 => "  ".into(),
        1 => "\t".into(),
        2 => " \t ".into(),
        _ => " ".into(),
    }
}

fn gen_id(rng: &mut Rng) -> String {
    match rng.below(10) {
        0 => "*:*".into(),
        1 | 2 => format!("{}:*", hex(rng, 4)),
        3 if rng.chance(30) => format!("*:{}", hex(rng, 4)),
        _ => format!("{}:{}", hex(rng, 4), hex(rng, 4)),
    }
}

fn gen_interface(rng: &mut Rng) -> String {
    match rng.below(10) {
        0 => format!("{}:*:*", hex(rng, 2)),
        1 => format!("{}:{}:*", hex(rng, 2), hex(rng, 2)),
        2 if rng.chance(20) => format!("{}:*:{}", hex(rng, 2), hex(rng, 2)),
        _ => format!("{}:{}:{}", hex(rng, 2), hex(rng, 2), hex(rng, 2)),
    }
}

fn gen_string(rng: &mut Rng) -> String {
    let mut s = String::from("\"");
    for _ in 0..rng.below(9) {
        match rng.below(24) {
            0 => s.push_str("\\\""),
            1 => s.push_str("\\\\"),
            2 => s.push_str(&format!("\\x{}", hex(rng, 2))),
            3 => s.push(' '),
            4 => s.push(*rng.pick(&[&'é', &'€', &'\t', &'~', &'#', &'{', &')', &'\u{7f}'])),
            5 if rng.chance(15) => s.push_str(rng.pick(&["\\n", "\\0", "\\x4", "\\q", "\\'"])),
            _ => s.push(char::from(b"abcXYZ019-_:/.=+"[rng.below(16)])),
        }
    }
    s.push('"');
    s
}

fn gen_time(rng: &mut Rng) -> String {
    let one = |rng: &mut Rng| match rng.below(8) {
        0 => format!("{}:{:02}", rng.below(26), rng.below(62)),
        1 => format!("{:02}:{:02}:{}", rng.below(24), rng.below(60), rng.below(100_000)),
        2 => format!("{}:{}", rng.below(24), rng.below(60)),
        3 => format!(" {:02}:{:02}x", rng.below(24), rng.below(60)),
        _ => format!("{:02}:{:02}", rng.below(24), rng.below(60)),
    };
    if rng.chance(50) {
        format!("{}-{}", one(rng), one(rng))
    } else {
        one(rng)
    }
}

fn gen_condition(rng: &mut Rng, depth: usize) -> String {
    let neg = if rng.chance(25) { "!" } else { "" };
    if depth > 0 {
        // Inside `allowed-matches(…)`: no arguments (their `)` would end the outer one).
        let c = rng.pick(&["true", "false", "random", "rule-applied", "rule-evaluated", "unknown"]);
        return format!("{neg}{c}");
    }
    let body = match rng.below(16) {
        0 | 1 => "true".to_string(),
        2 => "false".into(),
        3 => format!("true({})", rng.pick(&["x", "1", "a b"])),
        4..=6 => format!("localtime({})", gen_time(rng)),
        7 => "rule-applied".into(),
        8 => "rule-evaluated".into(),
        9 => format!(
            "{}({})",
            rng.pick(&["rule-applied", "rule-evaluated"]),
            rng.pick(&["5", "00:10", "1:2:3", "12abc", "abc", " 5", "86400", "99999999999999999", "0"])
        ),
        10 => "random".into(),
        11 => format!(
            "random({})",
            rng.pick(&["0.3", "1", "0", "1e-3", "0x1p-2", " 0.5", "abc", "-1", "inf", "nan", ".", "2e308", "+.25x"])
        ),
        12 | 13 if depth == 0 => format!("allowed-matches({})", gen_body(rng, depth + 1)),
        14 => rng.pick(&["unknown", "TRUE", "x-y", "true2"]).into(),
        _ => "true".into(),
    };
    format!("{neg}{body}")
}

/// `[op] { v v … }` or a single value.
fn gen_values(rng: &mut Rng, value: &mut dyn FnMut(&mut Rng) -> String) -> String {
    if rng.chance(60) {
        return value(rng);
    }
    let mut s = String::new();
    if rng.chance(60) {
        s.push_str(rng.pick(&["all-of", "one-of", "none-of", "equals", "equals-ordered", "match-all"]));
        s.push_str(&blank(rng));
    }
    s.push('{');
    if rng.chance(60) {
        s.push_str(&blank(rng));
    }
    let n = 1 + rng.below(4);
    for i in 0..n {
        if i > 0 {
            s.push_str(&blank(rng));
        }
        s.push_str(&value(rng));
    }
    if rng.chance(60) {
        s.push_str(&blank(rng));
    }
    s.push('}');
    s
}

fn gen_attribute(rng: &mut Rng, depth: usize) -> String {
    let (name, values) = match rng.below(11) {
        0 => ("id", gen_values(rng, &mut gen_id)),
        1 => ("name", gen_values(rng, &mut gen_string)),
        2 => ("hash", gen_values(rng, &mut gen_string)),
        3 => ("parent-hash", gen_values(rng, &mut gen_string)),
        4 => ("serial", gen_values(rng, &mut gen_string)),
        5 => ("via-port", gen_values(rng, &mut gen_string)),
        6 | 7 => ("with-interface", gen_values(rng, &mut gen_interface)),
        8 => ("with-connect-type", gen_values(rng, &mut gen_string)),
        9 => ("if", gen_values(rng, &mut |r| gen_condition(r, depth))),
        _ => ("label", gen_values(rng, &mut gen_string)),
    };
    format!("{name}{}{values}", blank(rng))
}

/// Attributes without a target (also the body of `allowed-matches`).
fn gen_body(rng: &mut Rng, depth: usize) -> String {
    let mut parts = Vec::new();
    if rng.chance(15) {
        parts.push(gen_id(rng));
    }
    for _ in 0..rng.below(if depth == 0 { 5 } else { 3 }) {
        parts.push(gen_attribute(rng, depth));
    }
    let mut s = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            s.push_str(&blank(rng));
        }
        s.push_str(p);
    }
    if depth > 0 {
        // Inside a condition argument a `)` must be escaped; mostly avoid it.
        s = s.replace(')', if rng.chance(10) { "\\)" } else { "x" });
        if s.is_empty() {
            s = rng.pick(&["id 1234:5678", "#x", "if true"]).into();
        }
    }
    s
}

fn gen_rule(rng: &mut Rng) -> String {
    let mut s = rng.pick(&["allow", "allow", "allow", "block", "block", "reject", "match", "device"]).to_string();
    let body = gen_body(rng, 0);
    if !body.is_empty() {
        s.push_str(&blank(rng));
        s.push_str(&body);
    }
    if rng.chance(8) {
        // A second rule on the same line.
        s.push_str(rng.pick(&["block", "allow"]));
        if rng.chance(50) {
            s.push(' ');
            s.push_str(&gen_attribute(rng, 0));
        }
    }
    if rng.chance(10) {
        s.push_str(rng.pick(&[" # comment", "#", "  #x y"]));
    }
    s
}

/// Random edits; many make the rule invalid, some do not.
fn mutate(rng: &mut Rng, s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    for _ in 0..1 + rng.below(2) {
        let at = rng.below(chars.len() + 1);
        match rng.below(9) {
            0 if !chars.is_empty() => {
                chars.remove(at.min(chars.len() - 1));
            }
            1 => {
                chars.insert(at, *rng.pick(&[&' ', &'\t', &'{', &'}', &'"', &'\\', &':', &'*', &'#', &'!', &'(', &')']))
            }
            2 => chars.insert(at, *rng.pick(&[&'x', &'0', &'g', &'é', &'-', &'Z'])),
            3 => chars.push(' '),
            4 => chars.insert(0, *rng.pick(&[&' ', &'\t', &'#'])),
            5 => {
                if let Some(i) = chars.iter().position(|c| c.is_ascii_hexdigit()) {
                    chars[i] = 'g';
                }
            }
            6 if !chars.is_empty() => {
                // Delete a whole word.
                let i = at.min(chars.len() - 1);
                let start = chars[..i].iter().rposition(|c| *c == ' ').map_or(0, |p| p + 1);
                let end = chars[i..].iter().position(|c| *c == ' ').map_or(chars.len(), |p| p + i);
                chars.drain(start..end);
            }
            7 => {
                let w = rng.pick(&[" name \"dup\"", " label \"l\"", " if true", " 1234:5678", "block"]);
                chars.extend(w.chars());
            }
            _ => {
                let i = at.min(chars.len().saturating_sub(1));
                if let Some(c) = chars.get_mut(i) {
                    *c = c.to_ascii_uppercase();
                }
            }
        }
    }
    chars.into_iter().collect()
}

/// Grammar tokens thrown together: odd neighbours (`allow{`, `id"x"`, `!!`, …).
fn soup(seed: u64, n: usize) -> Vec<String> {
    const TOKENS: &[&str] = &[
        "allow",
        "block",
        "reject",
        "match",
        "device",
        "id",
        "name",
        "hash",
        "parent-hash",
        "serial",
        "via-port",
        "with-interface",
        "with-connect-type",
        "if",
        "label",
        "one-of",
        "none-of",
        "all-of",
        "equals",
        "equals-ordered",
        "match-all",
        "{",
        "}",
        "\"a\"",
        "\"\"",
        "\"\\x41\"",
        "1234:5678",
        "*:*",
        "12ab:*",
        "08:06:50",
        "03:*:*",
        "#",
        "#x",
        "!",
        "true",
        "false",
        "random",
        "random(0.5)",
        "localtime(08:00)",
        "rule-applied",
        "rule-evaluated(5)",
        "allowed-matches(id 1234:*)",
        "allowed-matches(#)",
        "(",
        ")",
        ":",
        "*",
        "\\",
        "\"",
        "-",
        "é",
    ];
    let mut rng = Rng(seed);
    (0..n)
        .map(|_| {
            let mut s = String::new();
            for i in 0..1 + rng.below(8) {
                if i > 0 && rng.chance(75) {
                    s.push_str(&blank(&mut rng));
                }
                s.push_str(TOKENS[rng.below(TOKENS.len())]);
            }
            s
        })
        .collect()
}

/// Edge cases probed by hand while writing the parser; kept in the differential run.
const PROBES: &[&str] = &[
    "allow if random(1e-310)",
    "allow if random(4.9e-324)",
    "allow if random(2.2250738585072014e-308)",
    "allow if random(2.225073858507201e-308)",
    "allow if random(1.8e308)",
    "allow if random(.)",
    "allow if random(+.5)",
    "allow if random(-)",
    "allow if random(infinity)",
    "allow if random(nan(123))",
    "allow if random(1e)",
    "allow if random(0x1p-1080)",
    "allow if random(0x1p-1074)",
    "allow if random(0x1.8p-1074)",
    "allow if random(0x.8p-1073)",
    "allow if random(0x3p-1075)",
    "allow if random(0x1.fffffffffffff8p1023)",
    "allow if random(0x1.fffffffffffffp1023)",
    "allow if random(0x1p1024)",
    "allow if random(0x.p1)",
    "allow if random(0xp3)",
    r"allow if random(\t1)",
    "allow if random(\t0.5)",
    "allow if rule-applied(9999999999999999)",
    "allow if rule-applied(67768036191676799)",
    "allow if rule-applied(67768036191676800)",
    "allow if rule-applied(9223372036854775807)",
    "allow if rule-applied(9223372036854775808)",
    "allow if rule-applied(99999999999999999999999)",
    "allow if rule-applied(0)",
    "allow if rule-applied(00:00)",
    "allow if rule-applied(1:1:1)",
    "allow if localtime(00:00:99999999999999999)",
    "allow if localtime(00:00:99999999999999999-00:00)",
    "allow if localtime(23:59-00:00:86399)",
    "allow if localtime(23:59-00:00:86340)",
    "allow if localtime(23:59-00:00:86339)",
    "allow if localtime(00:30-00:40:00)",
    "allow if localtime(8: 00)",
    "allow if localtime(3x:00)",
    r"allow if localtime(\x30:00)",
    r"allow if localtime(1\12:00)",
    "allow if allowed-matches( id 1234:5678)",
    "allow if allowed-matches(\tid 1234:5678)",
    r#"allow if allowed-matches(name "a")"#,
    r"allow if allowed-matches(if allowed-matches(id 1234:5678\))",
    "allow if allowed-matches",
    "allow if localtime",
    "allow if random()",
    r"allow if true(\))",
    r"allow if true(\a\b\f\n\r\t\v\'\0\123\x4F)",
    r"allow if true(\\)",
    r"allow if true(\\\))",
    r"allow if true(\\\\))",
    r#"allow if true(\"))"#,
    r#"allow id 1234:5678block 1111:2222 name "n"reject"#,
    "allow id { 1234:5678 1111:2222 }block 1111:2222",
    "allow 1234:5678block id 1111:2222",
    "allow#",
    "allow # x # y",
    "#",
    "  #",
    "\t#",
];

fn corpus(seed: u64, n: usize, invalid_percent: usize) -> Vec<String> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|_| {
            let r = gen_rule(&mut rng);
            if rng.chance(invalid_percent) {
                mutate(&mut rng, &r)
            } else {
                r
            }
        })
        .filter(|r| !r.is_empty() && !r.contains('\n'))
        .collect()
}

/// Our answer in the tool's terms: the printed rule, `""` for a comment-only
/// line, `None` when refused.
fn ours(line: &str) -> Option<String> {
    match Rule::parse(line) {
        Ok(r) => Some(r.to_string()),
        Err(RuleError::CommentOnly) => Some(String::new()),
        Err(_) => None,
    }
}

// ---------------------------------------------------------------------------
// (b) Properties.

/// `rule-evaluated` prints as `rule-applied`, so only the printed form survives a
/// round trip for rules that use it.
fn uses_rule_evaluated(r: &Rule) -> bool {
    r.conditions.values().iter().any(|c| matches!(c.kind, ConditionKind::RuleEvaluated { .. }))
}

fn check_round_trip(line: &str) -> Result<(), TestCaseError> {
    if let Ok(r1) = Rule::parse(line) {
        let p1 = r1.to_string();
        let r2 = Rule::parse(&p1).map_err(|e| TestCaseError::fail(format!("{line:?} printed as {p1:?}: {e}")))?;
        prop_assert_eq!(r2.to_string(), p1.clone(), "printing is not idempotent for {:?}", line);
        if !uses_rule_evaluated(&r1) {
            prop_assert_eq!(r2, r1, "{:?} printed as {:?} parses differently", line, p1);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn generated_rules_round_trip(seed in any::<u64>()) {
        let mut rng = Rng(seed);
        let line = gen_rule(&mut rng);
        check_round_trip(&line)?;
        check_round_trip(&mutate(&mut rng, &line))?;
    }

    #[test]
    fn arbitrary_text_never_panics(line in "[a-z0-9 \t\"\\\\{}():*!#.,-]{0,60}") {
        check_round_trip(&line)?;
    }
}

// ---------------------------------------------------------------------------
// (c) The differential test against usbguard-rule-parser.

fn find_tool(name: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BPOSHIELD_USBGUARD_RULE_PARSER") {
        return Some(PathBuf::from(p));
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| p.is_file())
}

/// The tool, or `None` with a skip message; with `BPOSHIELD_TEST_REQUIRE_TOOLS=1` a
/// missing tool fails the test instead.
fn rule_parser_or_skip(test: &str) -> Option<PathBuf> {
    let found = find_tool("usbguard-rule-parser");
    if found.is_none() {
        assert!(
            std::env::var("BPOSHIELD_TEST_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "{test}: usbguard-rule-parser is not installed and BPOSHIELD_TEST_REQUIRE_TOOLS=1"
        );
        eprintln!("SKIP {test}: usbguard-rule-parser is not installed (apt-get install usbguard)");
    }
    found
}

/// Runs `usbguard-rule-parser -f` over the lines; it stops at the first refused
/// line, so it is started again after each one. `TZ=UTC` because `%s` in
/// `localtime(…)` goes through `localtime_r`.
fn tool_answers(tool: &Path, dir: &Path, lines: &[String]) -> Vec<Option<String>> {
    let mut answers = Vec::with_capacity(lines.len());
    let file = dir.join("rules.txt");
    while answers.len() < lines.len() {
        let rest = &lines[answers.len()..];
        std::fs::write(&file, rest.join("\n") + "\n").unwrap();
        let out = Command::new(tool).arg("-f").arg(&file).env("TZ", "UTC").output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let before = answers.len();
        for l in stdout.split('\n') {
            if let Some(o) = l.strip_prefix("OUTPUT: ") {
                answers.push(Some(o.to_string()));
            }
        }
        let printed = answers.len() - before;
        assert!(printed <= rest.len(), "more outputs than inputs");
        if out.status.success() {
            assert_eq!(printed, rest.len(), "usbguard-rule-parser skipped lines:\n{stdout}");
        } else {
            answers.push(None);
        }
    }
    answers
}

#[test]
fn differential_against_usbguard_rule_parser() {
    let Some(tool) = rule_parser_or_skip("differential_against_usbguard_rule_parser") else {
        return;
    };
    let mut lines = corpus(0x5eed_0001, 4000, 30);
    // The seeds of the table tests too.
    lines.extend(soup(0x5eed_0002, 600));
    lines.extend(PROBES.iter().map(|r| r.to_string()));
    lines.extend(ACCEPTED.iter().map(|(r, _)| r.to_string()));
    lines.extend(REJECTED.iter().map(|r| r.to_string()));
    lines.retain(|l| !l.is_empty());

    let workers = 4;
    let chunk = 100;
    let chunks: Vec<&[String]> = lines.chunks(chunk).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let base = std::env::temp_dir().join(format!("bposhield-rules-diff-{}", std::process::id()));
    let mut theirs: Vec<Option<Vec<Option<String>>>> = vec![None; chunks.len()];
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let (chunks, next, base, tool) = (&chunks, &next, &base, &tool);
                s.spawn(move || {
                    let dir = base.join(w.to_string());
                    std::fs::create_dir_all(&dir).unwrap();
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(c) = chunks.get(i) else { break };
                        done.push((i, tool_answers(tool, &dir, c)));
                    }
                    done
                })
            })
            .collect();
        for h in handles {
            for (i, a) in h.join().unwrap() {
                theirs[i] = Some(a);
            }
        }
    });
    let _ = std::fs::remove_dir_all(&base);
    let theirs: Vec<Option<String>> = theirs.into_iter().flat_map(Option::unwrap).collect();
    assert_eq!(theirs.len(), lines.len());

    let mut mismatches = Vec::new();
    let (mut accepted, mut comments) = (0, 0);
    for (line, want) in lines.iter().zip(&theirs) {
        let got = ours(line);
        accepted += usize::from(want.as_deref().is_some_and(|w| !w.is_empty()));
        comments += usize::from(want.as_deref() == Some(""));
        if &got != want {
            mismatches.push(format!("  {line:?}\n    usbguard: {want:?}\n    ours:     {got:?}"));
        }
    }
    eprintln!(
        "differential: {} lines, {} accepted, {} comment-only, {} refused, {} mismatches",
        lines.len(),
        accepted,
        comments,
        lines.len() - accepted - comments,
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(25)].join("\n")
    );
    // The corpus must exercise both sides.
    assert!(accepted > lines.len() / 3 && lines.len() - accepted - comments > lines.len() / 5);
}

/// Whole files: `RuleSet::parse` refuses the same first line as the tool (which
/// skips empty lines and stops at the first error).
#[test]
fn differential_rule_files() {
    let Some(tool) = rule_parser_or_skip("differential_rule_files") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("bposhield-rules-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng(0xf11e);
    for round in 0..40 {
        let mut lines: Vec<String> = Vec::new();
        for _ in 0..2 + rng.below(8) {
            lines.push(match rng.below(10) {
                0 => String::new(),
                1 => "# a comment".into(),
                2 => "   # indented".into(),
                3 if rng.chance(40) => "  ".into(),
                4 | 5 => {
                    let r = gen_rule(&mut rng);
                    mutate(&mut rng, &r)
                }
                _ => gen_rule(&mut rng),
            });
        }
        lines.retain(|l| !l.contains('\n'));
        let text = lines.join("\n") + "\n";
        let file = dir.join("policy.rules");
        std::fs::write(&file, &text).unwrap();
        let out = Command::new(&tool).arg("-f").arg(&file).env("TZ", "UTC").output().unwrap();
        let inputs = String::from_utf8_lossy(&out.stdout).split('\n').filter(|l| l.starts_with("INPUT: ")).count();
        let theirs = if out.status.success() {
            None
        } else {
            // The n-th non-empty line failed.
            let mut seen = 0;
            lines.iter().position(|l| {
                seen += usize::from(!l.is_empty());
                seen == inputs
            })
        };
        let ours = RuleSet::parse(&text).err().map(|e| e.line - 1);
        assert_eq!(ours, theirs, "round {round}:\n{text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------
// (d) Evaluation.

fn headset() -> DeviceView {
    DeviceView {
        vendor_id: "0b0e".into(),
        product_id: "245e".into(),
        name: "Jabra Evolve 20".into(),
        serial: "A1B2C3".into(),
        hash: "h-headset".into(),
        parent_hash: "h-root".into(),
        via_port: "1-1".into(),
        interfaces: vec![
            (0x01, 0x01, 0x00),
            (0x01, 0x02, 0x00),
            (0x01, 0x02, 0x00),
            (0x03, 0x00, 0x00),
            (0x08, 0x06, 0x50),
        ],
        connect_type: "hotplug".into(),
    }
}

fn keyboard() -> DeviceView {
    DeviceView {
        vendor_id: "413c".into(),
        product_id: "2113".into(),
        name: "Dell KB216 Wired Keyboard".into(),
        serial: String::new(),
        hash: "h-kbd".into(),
        parent_hash: "h-root".into(),
        via_port: "1-2".into(),
        interfaces: vec![(0x03, 0x01, 0x01)],
        connect_type: "hotplug".into(),
    }
}

fn matches(rule: &str, dev: &DeviceView) -> bool {
    Rule::parse(rule).unwrap().matches(dev)
}

#[test]
fn set_operators() {
    let h = headset();
    // all-of: the device has every listed value.
    assert!(matches("allow with-interface all-of { 01:01:00 03:00:00 }", &h));
    assert!(!matches("allow with-interface all-of { 01:01:00 0e:01:00 }", &h));
    // one-of: at least one.
    assert!(matches("allow with-interface one-of { 0e:01:00 08:06:50 }", &h));
    assert!(!matches("allow with-interface one-of { 0e:01:00 e0:01:01 }", &h));
    // none-of: none.
    assert!(matches("allow with-interface none-of { 0e:*:* e0:*:* }", &h));
    assert!(!matches("allow with-interface none-of { 08:*:* }", &h));
    // equals: same size, every listed value present (USBGuard's definition).
    assert!(matches("allow with-interface equals { 01:01:00 01:02:00 01:02:00 03:00:00 08:06:50 }", &h));
    assert!(matches("allow with-interface { 08:06:50 03:00:00 01:02:00 01:02:00 01:01:00 }", &h));
    assert!(!matches("allow with-interface { 01:01:00 01:02:00 03:00:00 08:06:50 }", &h));
    // A single value is `equals`: one interface only.
    assert!(!matches("allow with-interface 03:00:00", &h));
    assert!(matches("allow with-interface 03:01:01", &keyboard()));
    // equals-ordered: position by position.
    assert!(matches("allow with-interface equals-ordered { 01:01:00 01:02:00 01:02:00 03:00:00 08:06:50 }", &h));
    assert!(!matches("allow with-interface equals-ordered { 08:06:50 01:02:00 01:02:00 03:00:00 01:01:00 }", &h));
    // match-all: every device value is matched by a listed one (a subset check).
    assert!(matches("allow with-interface match-all { 01:*:* 03:00:00 08:06:50 }", &h));
    assert!(!matches("allow with-interface match-all { 01:*:* 03:00:00 }", &h));
    assert!(matches("allow name match-all { \"Jabra Evolve 20\" \"other\" }", &h));
    assert!(!matches("allow name match-all { \"other\" }", &h));
    assert!(matches("allow id match-all { 0b0e:* }", &h));
}

#[test]
fn wildcards_and_strings() {
    let h = headset();
    assert!(matches("allow id *:*", &h));
    assert!(matches("allow id 0b0e:*", &h));
    assert!(matches("allow id 0b0e:245e", &h));
    assert!(!matches("allow id 0b0e:245f", &h));
    // Hex digits compare as written, as in USBGuard.
    assert!(!matches("allow id 0B0E:245E", &h));
    assert!(matches("allow id one-of { 1111:2222 0b0e:* }", &h));
    assert!(matches("allow with-interface one-of { 08:*:* }", &h));
    assert!(matches("allow with-interface one-of { 08:06:* }", &h));
    assert!(!matches("allow with-interface one-of { 08:05:* }", &h));
    assert!(matches("allow name \"Jabra Evolve 20\" serial \"A1B2C3\" via-port \"1-1\"", &h));
    assert!(!matches("allow name \"jabra evolve 20\"", &h));
    assert!(matches("allow serial \"\"", &keyboard()));
    assert!(!matches("allow serial \"\"", &h));
    assert!(matches("allow hash \"h-headset\" parent-hash \"h-root\" with-connect-type \"hotplug\"", &h));
    assert!(!matches("allow with-connect-type \"hardwired\"", &h));
    assert!(matches("allow name \"Jabra\\x20Evolve 20\"", &h));
    // Labels are never matched.
    assert!(matches("allow label \"anything\"", &h));
}

#[test]
fn first_match_wins_and_default_blocks() {
    let set = RuleSet::parse(
        "# floor policy\n\
         reject with-interface one-of { 08:*:* }\n\
         allow id 0b0e:*\n\
         allow with-interface equals { 03:*:* }\n",
    )
    .unwrap();
    let ctx = EvalContext::default();
    let v = set.evaluate(&headset(), &ctx);
    assert_eq!((v.target, v.rule_index, v.line), (Target::Reject, Some(0), Some(2)));
    let v = set.evaluate(&keyboard(), &ctx);
    assert_eq!((v.target, v.rule_index, v.line), (Target::Allow, Some(2), Some(4)));
    let mut phone = keyboard();
    phone.interfaces = vec![(0x06, 0x01, 0x01)];
    let v = set.evaluate(&phone, &ctx);
    assert_eq!((v.target, v.rule_index, v.line), (Target::Block, None, None));
    let v = set.clone().with_default_target(Target::Allow).evaluate(&phone, &ctx);
    assert_eq!((v.target, v.line), (Target::Allow, None));
    assert_eq!(RuleSet::default().evaluate(&phone, &ctx).target, Target::Block);
}

#[test]
fn conditions_with_injected_time_and_state() {
    let kbd = keyboard();
    let office = RuleSet::parse("allow id 413c:2113 if localtime(08:00-17:00)").unwrap();
    assert_eq!(office.evaluate(&kbd, &EvalContext::at_time_of_day(8 * 3600)).target, Target::Allow);
    assert_eq!(office.evaluate(&kbd, &EvalContext::at_time_of_day(17 * 3600)).target, Target::Allow);
    assert_eq!(office.evaluate(&kbd, &EvalContext::at_time_of_day(17 * 3600 + 1)).target, Target::Block);
    assert_eq!(office.evaluate(&kbd, &EvalContext::at_time_of_day(3600)).target, Target::Block);
    // at_unix takes the UTC time of day, like USBGuard's time(NULL) % 86400.
    assert_eq!(office.evaluate(&kbd, &EvalContext::at_unix(1_700_000_000)).target, Target::Block); // 22:13 UTC
    assert_eq!(office.evaluate(&kbd, &EvalContext::at_unix(1_699_963_200)).target, Target::Allow); // 12:00 UTC

    let ctx = EvalContext::at_time_of_day(12 * 3600);
    let eval = |rule: &str, ctx: &EvalContext| RuleSet::parse(rule).unwrap().evaluate(&kbd, ctx).target;
    assert_eq!(eval("allow if true", &ctx), Target::Allow);
    assert_eq!(eval("allow if !true", &ctx), Target::Block);
    assert_eq!(eval("allow if { true false }", &ctx), Target::Block);
    assert_eq!(eval("allow if all-of { true !false }", &ctx), Target::Allow);
    assert_eq!(eval("allow if one-of { false true }", &ctx), Target::Allow);
    assert_eq!(eval("allow if none-of { false false }", &ctx), Target::Allow);
    assert_eq!(eval("allow if none-of { false true }", &ctx), Target::Block);
    assert_eq!(eval("allow if !localtime(13:00-14:00)", &ctx), Target::Allow);

    // allowed-matches: an allowed device present now matches the body.
    let rule = "allow id 413c:2113 if allowed-matches(with-interface one-of { 01:*:* })";
    assert_eq!(eval(rule, &ctx), Target::Block);
    let with_headset = EvalContext { allowed_devices: vec![headset()], ..ctx.clone() };
    assert_eq!(eval(rule, &with_headset), Target::Allow);

    // rule-applied / rule-evaluated: false without history.
    assert_eq!(eval("allow if rule-applied", &ctx), Target::Block);
    let history = |applied, evaluated| EvalContext {
        history: vec![RuleHistory { applied_ago: applied, evaluated_ago: evaluated }],
        ..ctx.clone()
    };
    assert_eq!(eval("allow if rule-applied", &history(Some(3600), None)), Target::Allow);
    assert_eq!(eval("allow if rule-applied(00:10)", &history(Some(3600), None)), Target::Block);
    assert_eq!(eval("allow if rule-applied(00:10)", &history(Some(60), None)), Target::Allow);
    assert_eq!(eval("allow if rule-evaluated(30)", &history(None, Some(30))), Target::Allow);
    assert_eq!(eval("allow if rule-evaluated(30)", &history(Some(1), Some(31))), Target::Block);

    // random: decided by the seed, stable for a context, roughly the probability.
    assert_eq!(eval("allow if random(1)", &ctx), Target::Allow);
    assert_eq!(eval("allow if random(0)", &ctx), Target::Block);
    let allowed = (0..2000u64)
        .filter(|&seed| {
            eval("allow if random(0.25)", &EvalContext { random_seed: seed, ..ctx.clone() }) == Target::Allow
        })
        .count();
    assert!((400..600).contains(&allowed), "{allowed} of 2000");
    let c = EvalContext { random_seed: 7, ..ctx };
    assert_eq!(eval("allow if random", &c), eval("allow if random", &c));
}
