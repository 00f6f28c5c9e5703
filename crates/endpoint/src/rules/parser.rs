//! USBGuard's rule grammar (`RuleParser/Grammar.hpp`, PEGTL) as recursive descent.
//!
//! The PEG is followed rule by rule, so what it accepts is what USBGuard accepts.
//! Two simplifications, both invisible in the result: values are checked right
//! after they are read (USBGuard's actions run at the same point, but a failure
//! there and a grammar failure both reject the line), and a failed attribute has
//! no side effects (in USBGuard it may have, but a failed attribute always ends in
//! a rejected line, because only a comment may follow the blanks before it).

use super::{cnum, Attribute, Condition, ConditionKind, DeviceId, InterfaceType, Rule, RuleError, SetOperator, Target};

/// What one line holds.
pub(crate) enum Parsed {
    Rule(Box<Rule>),
    /// Only a comment (USBGuard's `Target::Empty`).
    Comment,
    /// Nothing at all (USBGuard's `Target::Invalid`).
    Empty,
}

/// `allowed-matches(…)` parses its argument as a rule; nesting cannot close
/// (the inner `)` would have to be escaped), but a bound keeps odd input cheap.
const MAX_DEPTH: usize = 4;

const TARGETS: [(&[u8], Target); 5] = [
    (b"allow", Target::Allow),
    (b"block", Target::Block),
    (b"reject", Target::Reject),
    (b"match", Target::Match),
    (b"device", Target::Device),
];

/// In the order of the grammar's `sor<multiset_operator>`: `equals-ordered` before
/// `equals`.
const OPERATORS: [(&[u8], SetOperator); 6] = [
    (b"all-of", SetOperator::AllOf),
    (b"one-of", SetOperator::OneOf),
    (b"none-of", SetOperator::NoneOf),
    (b"equals-ordered", SetOperator::EqualsOrdered),
    (b"equals", SetOperator::Equals),
    (b"match-all", SetOperator::MatchAll),
];

#[derive(Clone, Copy)]
enum Keyword {
    Id,
    Name,
    Hash,
    ParentHash,
    Serial,
    ViaPort,
    WithInterface,
    WithConnectType,
    If,
    Label,
}

/// In the order of the grammar's `sor<rule_attributes>` (no keyword is a prefix of
/// another, so the first that matches is the only candidate).
const KEYWORDS: [(&[u8], Keyword); 10] = [
    (b"id", Keyword::Id),
    (b"name", Keyword::Name),
    (b"hash", Keyword::Hash),
    (b"parent-hash", Keyword::ParentHash),
    (b"serial", Keyword::Serial),
    (b"via-port", Keyword::ViaPort),
    (b"with-interface", Keyword::WithInterface),
    (b"with-connect-type", Keyword::WithConnectType),
    (b"if", Keyword::If),
    (b"label", Keyword::Label),
];

/// An attribute's values as written: the operator, if one was, and the values.
type Values<T> = (Option<SetOperator>, Vec<T>);

enum RawTarget {
    Invalid,
    Empty,
    Set(Target),
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    depth: usize,
    target: RawTarget,
    rule: Rule,
}

/// Parses one line (`rule_grammar = until<eof, must<sor<comment, rule>>>`).
pub(crate) fn parse_line(s: &[u8], depth: usize) -> Result<Parsed, RuleError> {
    let mut p = Parser { s, pos: 0, depth, target: RawTarget::Invalid, rule: Rule::new(Target::Allow) };
    while p.pos < s.len() {
        if p.comment() || p.rule()? {
            continue;
        }
        return Err(RuleError::syntax(
            p.pos,
            "expected a rule target (allow, block, reject, match, device) or a comment",
        ));
    }
    Ok(match p.target {
        RawTarget::Invalid => Parsed::Empty,
        RawTarget::Empty => Parsed::Comment,
        RawTarget::Set(t) => {
            p.rule.target = t;
            Parsed::Rule(Box::new(p.rule))
        }
    })
}

fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn rest(&self) -> &'a [u8] {
        self.s.get(self.pos..).unwrap_or_default()
    }

    /// `star<blank>`; returns how many were consumed (`plus<blank>` is `> 0`).
    fn blanks(&mut self) -> usize {
        let start = self.pos;
        while self.peek().is_some_and(is_blank) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// `comment = seq<star<blank>, if_must<'#', star<any>>>`: to the end of input.
    fn comment(&mut self) -> bool {
        let save = self.pos;
        self.blanks();
        if self.peek() == Some(b'#') {
            self.pos = self.s.len();
            if matches!(self.target, RawTarget::Invalid) {
                self.target = RawTarget::Empty;
            }
            true
        } else {
            self.pos = save;
            false
        }
    }

    /// `rule = seq<target, opt<blank+, device_id>, opt<blank+, list<attribute, blank+>>, opt<comment>>`.
    fn rule(&mut self) -> Result<bool, RuleError> {
        let Some(&(kw, target)) = TARGETS.iter().find(|(kw, _)| self.rest().starts_with(kw)) else {
            return Ok(false);
        };
        self.pos += kw.len();
        self.target = RawTarget::Set(target);

        let save = self.pos;
        if self.blanks() > 0 {
            let at = self.pos;
            match self.device_id()? {
                Some(id) => self.set_bare_id(id, at)?,
                None => self.pos = save,
            }
        }

        let save = self.pos;
        if self.blanks() > 0 && self.attribute()? {
            loop {
                let save = self.pos;
                if self.blanks() > 0 && self.attribute()? {
                    continue;
                }
                self.pos = save;
                break;
            }
        } else {
            self.pos = save;
        }

        self.comment();
        Ok(true)
    }

    /// The id right after the target goes through `Rule::setDeviceID`, i.e.
    /// `Attribute::set`: it replaces a single id (from an earlier rule on the same
    /// line) and refuses to replace a set.
    fn set_bare_id(&mut self, id: DeviceId, at: usize) -> Result<(), RuleError> {
        let attr = &mut self.rule.id;
        match attr.values.len() {
            0 => attr.values.push(id),
            1 => attr.values[0] = id,
            _ => return Err(RuleError::invalid(at, "cannot set a single id over an id set")),
        }
        Ok(())
    }

    /// One `rule_attributes` alternative. On `Ok(false)` the position is unchanged.
    fn attribute(&mut self) -> Result<bool, RuleError> {
        let start = self.pos;
        let Some(&(kw, keyword)) = KEYWORDS.iter().find(|(kw, _)| self.rest().starts_with(kw)) else {
            return Ok(false);
        };
        self.pos += kw.len();
        if self.blanks() == 0 {
            self.pos = start;
            return Ok(false);
        }
        match keyword {
            Keyword::Id => self.attribute_values(start, Self::device_id, |r| &mut r.id, true),
            Keyword::Name => self.attribute_values(start, Self::string, |r| &mut r.name, true),
            Keyword::Hash => self.attribute_values(start, Self::string, |r| &mut r.hash, true),
            Keyword::ParentHash => self.attribute_values(start, Self::string, |r| &mut r.parent_hash, true),
            Keyword::Serial => self.attribute_values(start, Self::string, |r| &mut r.serial, true),
            Keyword::ViaPort => self.attribute_values(start, Self::string, |r| &mut r.via_port, true),
            Keyword::WithInterface => self.attribute_values(start, Self::interface, |r| &mut r.with_interface, true),
            Keyword::WithConnectType => self.attribute_values(start, Self::string, |r| &mut r.with_connect_type, true),
            Keyword::If => self.attribute_values(start, Self::condition, |r| &mut r.conditions, true),
            // Upstream's duplicate check for `label` is keyed on the wrong keyword
            // (`label_actions<str_serial>`), so a second label appends.
            Keyword::Label => self.attribute_values(start, Self::string, |r| &mut r.label, false),
        }
    }

    /// The values of an attribute whose keyword started at `start`, then the
    /// attribute's actions: the duplicate check, the set operator, the values
    /// appended. On `Ok(false)` the position is back at `start`.
    fn attribute_values<T>(
        &mut self,
        start: usize,
        one: fn(&mut Self) -> Result<Option<T>, RuleError>,
        field: fn(&mut Rule) -> &mut Attribute<T>,
        check_duplicate: bool,
    ) -> Result<bool, RuleError> {
        let Some((op, values)) = self.values(one)? else {
            self.pos = start;
            return Ok(false);
        };
        let attr = field(&mut self.rule);
        if check_duplicate && !attr.values.is_empty() {
            return Err(RuleError::invalid(start, "attribute already defined"));
        }
        if let Some(op) = op {
            attr.op = op;
        }
        attr.values.extend(values);
        Ok(true)
    }

    /// `sor<attribute_value_multiset<V>, V>` where the multiset is
    /// `seq<opt<operator, blank+>, '{', blank*, list<V, blank+>, blank*, '}'>`.
    /// On `Ok(None)` the position is unchanged.
    fn values<T>(
        &mut self,
        one: fn(&mut Self) -> Result<Option<T>, RuleError>,
    ) -> Result<Option<Values<T>>, RuleError> {
        let save = self.pos;
        let mut op = None;
        if let Some(&(kw, o)) = OPERATORS.iter().find(|(kw, _)| self.rest().starts_with(kw)) {
            self.pos += kw.len();
            if self.blanks() > 0 {
                op = Some(o);
            } else {
                self.pos = save;
            }
        }
        if self.peek() == Some(b'{') {
            self.pos += 1;
            self.blanks();
            if let Some(first) = one(self)? {
                let mut values = vec![first];
                loop {
                    let s = self.pos;
                    if self.blanks() > 0 {
                        if let Some(v) = one(self)? {
                            values.push(v);
                            continue;
                        }
                    }
                    self.pos = s;
                    break;
                }
                self.blanks();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(Some((op, values)));
                }
            }
        }
        self.pos = save;
        match one(self)? {
            Some(v) => Ok(Some((None, vec![v]))),
            None => {
                self.pos = save;
                Ok(None)
            }
        }
    }

    /// `rep<n, xdigit>`.
    fn hex(&mut self, n: usize) -> Option<&'a [u8]> {
        let start = self.pos;
        let digits = self.s.get(start..start + n)?;
        if digits.iter().all(u8::is_ascii_hexdigit) {
            self.pos += n;
            Some(digits)
        } else {
            None
        }
    }

    /// `sor<hex<n>, '*'>`, as text.
    fn hex_or_star(&mut self, n: usize) -> Option<String> {
        if self.peek() == Some(b'*') {
            self.pos += 1;
            return Some("*".into());
        }
        self.hex(n).map(|d| String::from_utf8_lossy(d).into_owned())
    }

    fn expect(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// `device_id_value = seq<sor<hex4, '*'>, ':', sor<hex4, '*'>>`, then
    /// `USBDeviceID`'s check.
    fn device_id(&mut self) -> Result<Option<DeviceId>, RuleError> {
        let start = self.pos;
        let parsed = (|| {
            let v = self.hex_or_star(4)?;
            self.expect(b':').then_some(())?;
            let p = self.hex_or_star(4)?;
            Some((v, p))
        })();
        match parsed {
            Some((v, p)) => DeviceId::new(&v, &p).map(Some).map_err(|_| {
                RuleError::invalid(start, format!("invalid USB device id {v}:{p} (a product id needs a vendor id)"))
            }),
            None => {
                self.pos = start;
                Ok(None)
            }
        }
    }

    /// `interface_value = seq<hex2, ':', sor<hex2, '*'>, ':', sor<hex2, '*'>>`, then
    /// `USBInterfaceType`'s check (`cc:*:pp` is refused).
    fn interface(&mut self) -> Result<Option<InterfaceType>, RuleError> {
        let start = self.pos;
        let byte = |t: &str| u8::from_str_radix(t, 16).ok();
        let parsed = (|| {
            let c = self.hex(2).map(|d| String::from_utf8_lossy(d).into_owned())?;
            self.expect(b':').then_some(())?;
            let s = self.hex_or_star(2)?;
            self.expect(b':').then_some(())?;
            let p = self.hex_or_star(2)?;
            Some((c, s, p))
        })();
        let Some((c, s, p)) = parsed else {
            self.pos = start;
            return Ok(None);
        };
        let class = byte(&c).unwrap_or_default();
        InterfaceType::new(class, byte(&s), byte(&p))
            .map(Some)
            .ok_or_else(|| RuleError::invalid(start, format!("invalid interface type {c}:{s}:{p}")))
    }

    /// `bounded_string<open, close>`: returns the raw text between the delimiters.
    /// Past the opening delimiter everything is `must`: a bad escape or a missing
    /// end is an error, not a backtrack.
    fn bounded(&mut self, close: u8) -> Result<&'a [u8], RuleError> {
        let open_at = self.pos;
        self.pos += 1;
        let start = self.pos;
        loop {
            match self.peek() {
                None => return Err(RuleError::syntax(open_at, "missing end of string")),
                Some(c) if c == close => {
                    let raw = self.s.get(start..self.pos).unwrap_or_default();
                    self.pos += 1;
                    return Ok(raw);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    self.escape(close)?;
                }
                Some(b'\r' | b'\n') => return Err(RuleError::syntax(self.pos, "line break in a string")),
                Some(_) => self.pos += 1,
            }
        }
    }

    /// `sor<escaped_hexbyte, escaped_decbyte, escaped_single, boundary>` after `\`.
    fn escape(&mut self, close: u8) -> Result<(), RuleError> {
        let at = self.pos - 1;
        match self.peek() {
            Some(b'x') => {
                self.pos += 1;
                if self.hex(2).is_none() {
                    return Err(RuleError::syntax(at, "\\x needs two hex digits"));
                }
            }
            Some(c) if c.is_ascii_digit() => {
                self.pos += 1;
                for _ in 0..2 {
                    if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                        self.pos += 1;
                    }
                }
            }
            Some(b'a' | b'b' | b'f' | b'n' | b'r' | b't' | b'v' | b'\\' | b'\'' | b'\n') => self.pos += 1,
            Some(c) if c == close => self.pos += 1,
            _ => return Err(RuleError::syntax(at, "unknown escape sequence")),
        }
        Ok(())
    }

    /// `string_value`, unescaped like `Utility::unescapeString`: only `\"`, `\\` and
    /// `\xHH` survive (the grammar lets more through, the unescaping refuses them).
    fn string(&mut self) -> Result<Option<Vec<u8>>, RuleError> {
        if self.peek() != Some(b'"') {
            return Ok(None);
        }
        let start = self.pos;
        let raw = self.bounded(b'"')?;
        let mut out = Vec::with_capacity(raw.len());
        let mut i = 0;
        while let Some(&c) = raw.get(i) {
            if c != b'\\' {
                out.push(c);
                i += 1;
                continue;
            }
            match raw.get(i + 1) {
                Some(&e @ (b'"' | b'\\')) => {
                    out.push(e);
                    i += 2;
                }
                Some(b'x') => {
                    let hh = raw.get(i + 2..i + 4).and_then(|h| std::str::from_utf8(h).ok());
                    match hh.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                        Some(b) => out.push(b),
                        None => return Err(RuleError::invalid(start, "invalid \\xHH escape")),
                    }
                    i += 4;
                }
                _ => return Err(RuleError::invalid(start + 1 + i, "strings take only \\\", \\\\ and \\xHH escapes")),
            }
        }
        Ok(Some(out))
    }

    /// `condition = seq<opt<'!'>, identifier, opt<bounded_string<'(', ')'>>>`, then
    /// `RuleConditionBase::getImplementation`.
    fn condition(&mut self) -> Result<Option<Condition>, RuleError> {
        let start = self.pos;
        let negated = self.expect(b'!');
        let id_start = self.pos;
        if !self.peek().is_some_and(|c| c.is_ascii_alphabetic() || c == b'-') {
            self.pos = start;
            return Ok(None);
        }
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == b'-') {
            self.pos += 1;
        }
        let ident = self.s.get(id_start..self.pos).unwrap_or_default();
        let arg = if self.peek() == Some(b'(') { Some(self.bounded(b')')?) } else { None };
        if arg.is_some_and(<[u8]>::is_empty) {
            return Err(RuleError::invalid(start, "a condition argument cannot be empty"));
        }
        let text = |a: &[u8]| String::from_utf8_lossy(a).into_owned();
        let bad = |what: &str| RuleError::invalid(start, what.to_owned());
        let kind = match ident {
            b"true" => ConditionKind::True,
            b"false" => ConditionKind::False,
            b"localtime" => {
                let a = arg.unwrap_or_default();
                let (b, e) = match a.iter().position(|&c| c == b'-') {
                    Some(d) => (a.get(..d).unwrap_or_default(), a.get(d + 1..).unwrap_or_default()),
                    None => (a, &[][..]),
                };
                let begin = cnum::daytime(b).ok_or_else(|| bad("invalid time or range format"))?;
                let end = if e.is_empty() { begin } else { cnum::daytime(e).ok_or_else(|| bad("invalid time"))? };
                if begin > end {
                    return Err(bad("invalid time range (begin > end)"));
                }
                ConditionKind::Localtime { arg: text(a), begin, end }
            }
            b"allowed-matches" => {
                let a = arg.unwrap_or_default();
                if self.depth >= MAX_DEPTH {
                    return Err(bad("allowed-matches nested too deeply"));
                }
                let mut body = b"allow ".to_vec();
                body.extend_from_slice(a);
                match parse_line(&body, self.depth + 1) {
                    Ok(Parsed::Rule(rule)) => ConditionKind::AllowedMatches { arg: text(a), rule },
                    Ok(_) => return Err(bad("allowed-matches needs a rule body")),
                    Err(e) => return Err(bad(&format!("allowed-matches: {e}"))),
                }
            }
            b"random" => {
                if let Some(a) = arg {
                    cnum::probability(a).ok_or_else(|| bad("random() needs a number"))?;
                }
                ConditionKind::Random { arg: arg.map(text) }
            }
            b"rule-applied" | b"rule-evaluated" => {
                let seconds = match arg {
                    Some(a) => cnum::seconds(a).ok_or_else(|| bad("invalid time, expected HH:MM, HH:MM:SS or SS"))?,
                    None => 0,
                };
                let arg = arg.map(text);
                if ident == b"rule-applied" {
                    ConditionKind::RuleApplied { arg, seconds }
                } else {
                    ConditionKind::RuleEvaluated { arg, seconds }
                }
            }
            _ => return Err(bad("unknown rule condition")),
        };
        Ok(Some(Condition { negated, kind }))
    }
}
