//! The USBGuard 1.x rule language: parse, print normalized, evaluate.
//!
//! The parser accepts exactly what `usbguard-rule-parser` 1.1.x accepts and
//! [`Rule`]'s `Display` prints exactly what it prints after `OUTPUT: `; a
//! differential test (`tests/rules.rs`) checks thousands of generated rules against
//! the real binary. The grammar is USBGuard's PEGTL grammar
//! (`src/Library/RuleParser/Grammar.hpp`) with its actions (`Actions.hpp`), the
//! value checks of `USBDeviceID`, `USBInterfaceType`, `Utility::unescapeString` and
//! the rule conditions, quirks included:
//!
//! - One line may hold several rules back to back (`allow name "a"block` is
//!   `block name "a"`): the grammar is `until<eof, sor<comment, rule>>` and all of
//!   them write into one rule; a repeated attribute is an error, except `label`,
//!   whose duplicate check is missing upstream (`label "a" label "b"` is
//!   `label { "a" "b" }`), and the id right after the target, which replaces.
//! - No whitespace before the target, none at the end (a comment may follow).
//! - Strings take only `\"`, `\\` and `\xHH`; printed back, bytes outside
//!   0x20..=0x7e become `\xHH`.
//! - Condition arguments are kept raw (never unescaped) and checked with glibc's
//!   `strptime`/`strtod` rules (see `cnum`), e.g. `localtime(08:60)` is accepted as
//!   08:06 with trailing garbage; `rule-evaluated` prints as `rule-applied`
//!   (upstream constructs it under the wrong name).
//!
//! Evaluation follows `Rule::Attribute::appliesTo` and `RulePrivate::meetsConditions`:
//! an absent attribute matches anything; a single value or an implicit `{ … }`
//! set is `equals`. [`Rule::matches`] says where we deliberately differ
//! (`match-all`); [`EvalContext`] carries what USBGuard reads by itself (the time,
//! the allowed devices, rule history, randomness).
//!
//! Not here: reading devices (see [`crate::device`]), storing or distributing rule
//! sets (the server and the agent do that).

mod cnum;
mod eval;
mod parser;

use std::fmt;

pub use eval::{DeviceView, EvalContext, RuleHistory, Verdict};

/// What a matching rule does with a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// Authorize the device.
    Allow,
    /// Leave the device unauthorized.
    Block,
    /// Unauthorize and remove the device from the bus.
    Reject,
    /// Matches, but decides nothing by itself (USBGuard uses it for actions).
    Match,
    /// A rule describing one device, as `usbguard list-devices` prints it.
    Device,
}

impl Target {
    /// The keyword as written in a rule.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Allow => "allow",
            Target::Block => "block",
            Target::Reject => "reject",
            Target::Match => "match",
            Target::Device => "device",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an attribute's set of values is compared with the device's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SetOperator {
    /// Every rule value matches some device value.
    AllOf,
    /// At least one rule value matches some device value.
    OneOf,
    /// No rule value matches any device value.
    NoneOf,
    /// Same number of values and every rule value matches some device value.
    /// The operator of a single value and of a `{ … }` set without operator.
    #[default]
    Equals,
    /// Same number of values, matching position by position.
    EqualsOrdered,
    /// Every device value is matched by some rule value.
    MatchAll,
}

impl SetOperator {
    /// The keyword as written in a rule.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            SetOperator::AllOf => "all-of",
            SetOperator::OneOf => "one-of",
            SetOperator::NoneOf => "none-of",
            SetOperator::Equals => "equals",
            SetOperator::EqualsOrdered => "equals-ordered",
            SetOperator::MatchAll => "match-all",
        }
    }
}

/// One attribute of a rule: a set operator and its values. No values means the
/// attribute is absent (it matches every device and is not printed).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attribute<T> {
    op: SetOperator,
    values: Vec<T>,
}

impl<T> Default for Attribute<T> {
    fn default() -> Self {
        Self { op: SetOperator::Equals, values: Vec::new() }
    }
}

impl<T> Attribute<T> {
    /// An attribute with these values; without values the operator is dropped.
    #[must_use]
    pub fn new(op: SetOperator, values: Vec<T>) -> Self {
        if values.is_empty() {
            Self::default()
        } else {
            Self { op, values }
        }
    }

    /// A single value (operator `equals`).
    #[must_use]
    pub fn single(value: T) -> Self {
        Self { op: SetOperator::Equals, values: vec![value] }
    }

    /// The set operator.
    #[must_use]
    pub fn op(&self) -> SetOperator {
        self.op
    }

    /// The values, in rule order.
    #[must_use]
    pub fn values(&self) -> &[T] {
        &self.values
    }

    /// True when the rule does not constrain this attribute.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// A USB vendor:product id pattern: each half is 4 hex digits (case kept as
/// written) or `*`; `*:pppp` does not exist.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceId {
    vendor: String,
    product: String,
}

impl DeviceId {
    /// Checks the halves like `USBDeviceID::checkDeviceID` does (after the grammar).
    ///
    /// # Errors
    /// When a half is neither `*` nor 4 hex digits, or the vendor is `*` and the
    /// product is not.
    pub fn new(vendor: &str, product: &str) -> Result<Self, RuleError> {
        let ok = |s: &str| s == "*" || (s.len() == 4 && s.bytes().all(|b| b.is_ascii_hexdigit()));
        if !ok(vendor) || !ok(product) || (vendor == "*" && product != "*") {
            return Err(RuleError::invalid(0, format!("invalid USB device id {vendor}:{product}")));
        }
        Ok(Self { vendor: vendor.to_owned(), product: product.to_owned() })
    }

    /// `*:*`.
    #[must_use]
    pub fn any() -> Self {
        Self { vendor: "*".into(), product: "*".into() }
    }

    /// The vendor half as written (`*` or 4 hex digits).
    #[must_use]
    pub fn vendor(&self) -> &str {
        &self.vendor
    }

    /// The product half as written (`*` or 4 hex digits).
    #[must_use]
    pub fn product(&self) -> &str {
        &self.product
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.vendor, self.product)
    }
}

/// A USB interface type pattern `cc:ss:pp`, `cc:ss:*` or `cc:*:*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InterfaceType {
    class: u8,
    subclass: Option<u8>,
    protocol: Option<u8>,
}

impl InterfaceType {
    /// A pattern; `None` for a wildcard. A protocol needs a subclass (`08:*:50`
    /// does not exist).
    #[must_use]
    pub fn new(class: u8, subclass: Option<u8>, protocol: Option<u8>) -> Option<Self> {
        if subclass.is_none() && protocol.is_some() {
            return None;
        }
        Some(Self { class, subclass, protocol })
    }

    /// An exact class, subclass and protocol.
    #[must_use]
    pub fn exact(class: u8, subclass: u8, protocol: u8) -> Self {
        Self { class, subclass: Some(subclass), protocol: Some(protocol) }
    }

    /// The class.
    #[must_use]
    pub fn class(&self) -> u8 {
        self.class
    }

    /// The subclass, `None` for `*`.
    #[must_use]
    pub fn subclass(&self) -> Option<u8> {
        self.subclass
    }

    /// The protocol, `None` for `*`.
    #[must_use]
    pub fn protocol(&self) -> Option<u8> {
        self.protocol
    }

    /// Whether an interface with these numbers belongs to the pattern.
    #[must_use]
    pub fn matches(&self, class: u8, subclass: u8, protocol: u8) -> bool {
        self.class == class
            && self.subclass.is_none_or(|s| s == subclass)
            && self.protocol.is_none_or(|p| p == protocol)
    }
}

impl fmt::Display for InterfaceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}:", self.class)?;
        match self.subclass {
            Some(s) => write!(f, "{s:02x}:")?,
            None => f.write_str("*:")?,
        }
        match self.protocol {
            Some(p) => write!(f, "{p:02x}"),
            None => f.write_str("*"),
        }
    }
}

/// A rule condition (`if …`), possibly negated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Condition {
    /// `!cond`.
    pub negated: bool,
    /// What is tested.
    pub kind: ConditionKind,
}

/// The conditions USBGuard knows. Arguments are kept exactly as written (USBGuard
/// never unescapes them and prints them back raw).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConditionKind {
    /// `true` (an argument is accepted and dropped).
    True,
    /// `false` (an argument is accepted and dropped).
    False,
    /// `localtime(begin[-end])`: the time of day, in seconds, within the range
    /// (both ends included; without an end, `end == begin`).
    Localtime { arg: String, begin: u32, end: u32 },
    /// `allowed-matches(<rule body>)`: some allowed device matches the body.
    AllowedMatches { arg: String, rule: Box<Rule> },
    /// `rule-applied[(time)]`: this rule was applied (within `seconds`, 0 = ever).
    RuleApplied { arg: Option<String>, seconds: u64 },
    /// `rule-evaluated[(time)]`: this rule was evaluated (within `seconds`, 0 =
    /// ever). Printed as `rule-applied`, as USBGuard does.
    RuleEvaluated { arg: Option<String>, seconds: u64 },
    /// `random[(p)]`: true with probability `p` (default 0.5); the argument is
    /// kept as written and read with `strtod` when evaluated.
    Random { arg: Option<String> },
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negated {
            f.write_str("!")?;
        }
        let (name, arg) = match &self.kind {
            ConditionKind::True => ("true", None),
            ConditionKind::False => ("false", None),
            ConditionKind::Localtime { arg, .. } => ("localtime", Some(arg.as_str())),
            ConditionKind::AllowedMatches { arg, .. } => ("allowed-matches", Some(arg.as_str())),
            // USBGuard's RuleEvaluatedCondition names itself "rule-applied".
            ConditionKind::RuleApplied { arg, .. } | ConditionKind::RuleEvaluated { arg, .. } => {
                ("rule-applied", arg.as_deref())
            }
            ConditionKind::Random { arg } => ("random", arg.as_deref()),
        };
        f.write_str(name)?;
        if let Some(a) = arg {
            write!(f, "({a})")?;
        }
        Ok(())
    }
}

/// One USBGuard rule.
///
/// String values are bytes: a rule may hold any byte through `\xHH`, and a device's
/// strings are compared byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rule {
    /// What a match does.
    pub target: Target,
    /// `id vvvv:pppp` (also the bare id right after the target).
    pub id: Attribute<DeviceId>,
    /// `serial "…"`: the iSerial string.
    pub serial: Attribute<Vec<u8>>,
    /// `name "…"`: the iProduct string.
    pub name: Attribute<Vec<u8>>,
    /// `hash "…"`: the USBGuard device hash (see [`crate::device`]).
    pub hash: Attribute<Vec<u8>>,
    /// `parent-hash "…"`: the hash of the hub the device is plugged into.
    pub parent_hash: Attribute<Vec<u8>>,
    /// `via-port "…"`: the sysfs port name, e.g. `1-2`.
    pub via_port: Attribute<Vec<u8>>,
    /// `with-interface cc:ss:pp`.
    pub with_interface: Attribute<InterfaceType>,
    /// `if …`.
    pub conditions: Attribute<Condition>,
    /// `with-connect-type "…"`: `hotplug`, `hardwired`, … as sysfs says.
    pub with_connect_type: Attribute<Vec<u8>>,
    /// `label "…"`: free text; never used for matching.
    pub label: Attribute<Vec<u8>>,
}

impl Rule {
    /// A rule with this target and no attributes (it matches every device).
    #[must_use]
    pub fn new(target: Target) -> Self {
        Self {
            target,
            id: Attribute::default(),
            serial: Attribute::default(),
            name: Attribute::default(),
            hash: Attribute::default(),
            parent_hash: Attribute::default(),
            via_port: Attribute::default(),
            with_interface: Attribute::default(),
            conditions: Attribute::default(),
            with_connect_type: Attribute::default(),
            label: Attribute::default(),
        }
    }

    /// Parses one rule line as `usbguard-rule-parser` does.
    ///
    /// # Errors
    /// [`RuleError::Empty`] for an empty line, [`RuleError::CommentOnly`] for a line
    /// that is only a comment, otherwise a syntax or value error with its byte offset.
    pub fn parse(line: &str) -> Result<Rule, RuleError> {
        match parser::parse_line(line.as_bytes(), 0)? {
            parser::Parsed::Rule(r) => Ok(*r),
            parser::Parsed::Comment => Err(RuleError::CommentOnly),
            parser::Parsed::Empty => Err(RuleError::Empty),
        }
    }
}

impl std::str::FromStr for Rule {
    type Err = RuleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Rule::parse(s)
    }
}

/// Prints `"…"` with USBGuard's escaping (`Utility::escapeString`).
pub(crate) fn write_quoted(f: &mut impl fmt::Write, value: &[u8]) -> fmt::Result {
    f.write_char('"')?;
    for &b in value {
        match b {
            b'"' => f.write_str("\\\"")?,
            b'\\' => f.write_str("\\\\")?,
            0x20..=0x7e => f.write_char(char::from(b))?,
            _ => write!(f, "\\x{b:02x}")?,
        }
    }
    f.write_char('"')
}

/// A value printable inside a rule.
trait RuleValue {
    fn write_value(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

impl RuleValue for Vec<u8> {
    fn write_value(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_quoted(f, self)
    }
}

impl RuleValue for DeviceId {
    fn write_value(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl RuleValue for InterfaceType {
    fn write_value(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl RuleValue for Condition {
    fn write_value(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// ` name value`, ` name { a b }` or ` name op { a }` (`Attribute::toRuleString`).
fn write_attribute<T: RuleValue>(f: &mut fmt::Formatter<'_>, name: &str, a: &Attribute<T>) -> fmt::Result {
    if a.values.is_empty() {
        return Ok(());
    }
    write!(f, " {name} ")?;
    let explicit_op = a.op != SetOperator::Equals;
    if a.values.len() == 1 && !explicit_op {
        return a.values[0].write_value(f);
    }
    if explicit_op {
        write!(f, "{} ", a.op.as_str())?;
    }
    f.write_str("{ ")?;
    for v in &a.values {
        v.write_value(f)?;
        f.write_str(" ")?;
    }
    f.write_str("}")
}

impl fmt::Display for Rule {
    /// The normalized form, attribute order as USBGuard's `RulePrivate::toString`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.target.as_str())?;
        write_attribute(f, "id", &self.id)?;
        write_attribute(f, "serial", &self.serial)?;
        write_attribute(f, "name", &self.name)?;
        write_attribute(f, "hash", &self.hash)?;
        write_attribute(f, "parent-hash", &self.parent_hash)?;
        write_attribute(f, "via-port", &self.via_port)?;
        write_attribute(f, "with-interface", &self.with_interface)?;
        write_attribute(f, "if", &self.conditions)?;
        write_attribute(f, "with-connect-type", &self.with_connect_type)?;
        write_attribute(f, "label", &self.label)
    }
}

/// Why a rule line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// The line is empty (USBGuard: "Invalid rule target string").
    #[error("empty rule")]
    Empty,
    /// The line is only a comment: there is no rule in it.
    #[error("the line is a comment, not a rule")]
    CommentOnly,
    /// The text does not follow the grammar.
    #[error("syntax error at byte {offset}: {reason}")]
    Syntax { offset: usize, reason: String },
    /// A value the grammar accepts but USBGuard refuses (bad escape, `*:1234`,
    /// `08:*:50`, unknown condition, bad time, duplicate attribute, …).
    #[error("invalid value at byte {offset}: {reason}")]
    Invalid { offset: usize, reason: String },
}

impl RuleError {
    pub(crate) fn syntax(offset: usize, reason: impl Into<String>) -> Self {
        RuleError::Syntax { offset, reason: reason.into() }
    }

    pub(crate) fn invalid(offset: usize, reason: impl Into<String>) -> Self {
        RuleError::Invalid { offset, reason: reason.into() }
    }
}

/// A rule file: one rule per line, first match wins.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSet {
    rules: Vec<Rule>,
    lines: Vec<usize>,
    default_target: Target,
}

impl Default for RuleSet {
    fn default() -> Self {
        Self { rules: Vec::new(), lines: Vec::new(), default_target: Target::Block }
    }
}

/// A rule file line that was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct RuleSetError {
    /// 1-based line number.
    pub line: usize,
    /// Why.
    pub reason: RuleError,
}

impl RuleSet {
    /// Parses a rule file like USBGuard's `RuleSet::load`: empty lines and comment
    /// lines (`#`, optionally after blanks) are skipped; anything else must be a
    /// rule. A line of only blanks, or one ending in `\r`, is an error there and here.
    ///
    /// # Errors
    /// The first refused line, 1-based, with the reason.
    pub fn parse(text: &str) -> Result<RuleSet, RuleSetError> {
        let mut set = RuleSet::default();
        for (i, line) in text.split('\n').enumerate() {
            match Rule::parse(line) {
                Ok(rule) => {
                    set.rules.push(rule);
                    set.lines.push(i + 1);
                }
                Err(RuleError::Empty | RuleError::CommentOnly) => {}
                Err(reason) => return Err(RuleSetError { line: i + 1, reason }),
            }
        }
        Ok(set)
    }

    /// A rule set from rules already parsed; lines are numbered from 1.
    #[must_use]
    pub fn from_rules(rules: Vec<Rule>) -> RuleSet {
        let lines = (1..=rules.len()).collect();
        RuleSet { rules, lines, default_target: Target::Block }
    }

    /// The target when no rule matches (USBGuard's `ImplicitPolicyTarget`;
    /// `block` unless set).
    #[must_use]
    pub fn with_default_target(mut self, target: Target) -> RuleSet {
        self.default_target = target;
        self
    }

    /// The rules, in order.
    #[must_use]
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The 1-based line of each rule in the parsed text.
    #[must_use]
    pub fn lines(&self) -> &[usize] {
        &self.lines
    }

    /// The target when no rule matches.
    #[must_use]
    pub fn default_target(&self) -> Target {
        self.default_target
    }
}

impl fmt::Display for RuleSet {
    /// One normalized rule per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.rules {
            writeln!(f, "{r}")?;
        }
        Ok(())
    }
}
