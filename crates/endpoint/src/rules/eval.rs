//! Matching rules against devices, as USBGuard's `Rule::Attribute::appliesTo` and
//! `RulePrivate::meetsConditions` do.

use super::{Attribute, Condition, ConditionKind, DeviceId, Rule, RuleSet, SetOperator, Target};

/// The attributes of one device that rules are matched against: USBGuard's
/// "device rule" (`Device::getDeviceRule(with_port = true, with_parent_hash = true)`).
///
/// Every string is one value, also when empty (a device without a serial number
/// has serial `""`, which `serial ""` matches). `label` is not here: USBGuard never
/// matches labels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceView {
    /// `idVendor`, 4 lowercase hex digits as sysfs shows them.
    pub vendor_id: String,
    /// `idProduct`, 4 lowercase hex digits.
    pub product_id: String,
    /// The product string.
    pub name: String,
    /// The serial number string.
    pub serial: String,
    /// The USBGuard device hash.
    pub hash: String,
    /// The parent's hash (for a root hub: the hash of its parent's sysfs path).
    pub parent_hash: String,
    /// The sysfs port name.
    pub via_port: String,
    /// (class, subclass, protocol) of every interface, in descriptor order.
    pub interfaces: Vec<(u8, u8, u8)>,
    /// `port/connect_type`, empty when unknown.
    pub connect_type: String,
}

/// What `if` conditions are evaluated against.
///
/// USBGuard reads the clock and the daemon's state itself; here the caller passes
/// them in, so evaluation is a pure function:
/// - `localtime(…)` compares [`time_of_day`](Self::time_of_day). USBGuard uses
///   `time(NULL) % 86400`, which is the UTC time of day despite the condition's
///   name; [`EvalContext::at_unix`] does the same.
/// - `allowed-matches(…)` is true when one of
///   [`allowed_devices`](Self::allowed_devices) (the devices present and allowed
///   now) matches the rule body (attributes only).
/// - `rule-applied[(t)]`/`rule-evaluated[(t)]` read [`history`](Self::history) by
///   rule index: true when the rule was applied/evaluated (within `t` seconds if
///   given). Without history they are false. (In USBGuard 1.1 they read the
///   counters of the freshly built device rule, which are always 0, so they are
///   false there too.) Evaluation records nothing: the caller keeps the history.
/// - `random[(p)]` draws from a generator seeded with
///   [`random_seed`](Self::random_seed), the rule index and the condition index:
///   the same context gives the same answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvalContext {
    /// Seconds since midnight, 0..86400.
    pub time_of_day: u32,
    /// Devices present and allowed now, for `allowed-matches`.
    pub allowed_devices: Vec<DeviceView>,
    /// Per rule index, when the rule was last applied and evaluated.
    pub history: Vec<RuleHistory>,
    /// Seed for `random`.
    pub random_seed: u64,
}

impl EvalContext {
    /// The context at a Unix time: UTC time of day (as USBGuard computes it) and the
    /// time as the random seed.
    #[must_use]
    pub fn at_unix(unix_seconds: i64) -> EvalContext {
        EvalContext {
            time_of_day: u32::try_from(unix_seconds.rem_euclid(86_400)).unwrap_or_default(),
            random_seed: unix_seconds as u64,
            ..EvalContext::default()
        }
    }

    /// The context at a time of day (seconds since midnight, taken modulo a day).
    #[must_use]
    pub fn at_time_of_day(seconds: u32) -> EvalContext {
        EvalContext { time_of_day: seconds % 86_400, ..EvalContext::default() }
    }
}

/// When a rule was last applied (it decided a device) and evaluated (it was
/// compared with a device), in seconds before now; `None` = never.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleHistory {
    /// Seconds since the rule last decided a device.
    pub applied_ago: Option<u64>,
    /// Seconds since the rule was last compared with a device.
    pub evaluated_ago: Option<u64>,
}

/// The outcome of evaluating a rule set for a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// The matching rule's target, or the rule set's default target.
    pub target: Target,
    /// Index into [`RuleSet::rules`] of the matching rule; `None` = default.
    pub rule_index: Option<usize>,
    /// 1-based line of the matching rule in the parsed text; `None` = default.
    pub line: Option<usize>,
}

impl RuleSet {
    /// The first rule that matches the device and whose conditions hold decides
    /// (whatever its target, `match` and `device` included, as in USBGuard's
    /// `RuleSet::getFirstMatchingRule`); with none, the default target (`block`).
    #[must_use]
    pub fn evaluate(&self, dev: &DeviceView, ctx: &EvalContext) -> Verdict {
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.matches(dev) && rule.conditions_hold(i, ctx) {
                return Verdict { target: rule.target, rule_index: Some(i), line: self.lines.get(i).copied() };
            }
        }
        Verdict { target: self.default_target, rule_index: None, line: None }
    }
}

impl Rule {
    /// Whether the device matches every attribute of the rule (conditions and label
    /// aside). An absent attribute matches anything.
    ///
    /// Id patterns compare their hex digits as written, case included, as USBGuard
    /// does (`1D6B:*` does not match sysfs's `1d6b`).
    ///
    /// `match-all` differs from USBGuard 1.1 on purpose: there, on string
    /// attributes it is always true (the generic `Predicates::isSupersetOf` is "not
    /// implemented" and returns true), and on ids it ignores the rule's wildcards.
    /// Here it means what it says for every attribute: each device value is matched
    /// by some rule value, with the same value matching as the other operators.
    #[must_use]
    pub fn matches(&self, dev: &DeviceView) -> bool {
        let s = |a: &Attribute<Vec<u8>>, v: &String| applies(a, std::slice::from_ref(v), |r, d| r == d.as_bytes());
        applies(&self.id, &[(dev.vendor_id.as_str(), dev.product_id.as_str())], id_matches)
            && s(&self.serial, &dev.serial)
            && s(&self.with_connect_type, &dev.connect_type)
            && s(&self.name, &dev.name)
            && s(&self.hash, &dev.hash)
            && s(&self.parent_hash, &dev.parent_hash)
            && s(&self.via_port, &dev.via_port)
            && applies(&self.with_interface, &dev.interfaces, |r, &(c, sc, p)| r.matches(c, sc, p))
    }

    /// Whether the `if` conditions hold for the rule at `index` of its rule set.
    /// `one-of`: any; `none-of`: none; every other operator: all.
    #[must_use]
    pub fn conditions_hold(&self, index: usize, ctx: &EvalContext) -> bool {
        let mut results = self.conditions.values.iter().enumerate().map(|(k, c)| c.holds(index, k, ctx));
        match self.conditions.op {
            SetOperator::OneOf => results.any(|r| r),
            SetOperator::NoneOf => !results.any(|r| r),
            SetOperator::AllOf | SetOperator::Equals | SetOperator::EqualsOrdered | SetOperator::MatchAll => {
                results.all(|r| r)
            }
        }
    }
}

impl Condition {
    fn holds(&self, rule_index: usize, condition_index: usize, ctx: &EvalContext) -> bool {
        let history = ctx.history.get(rule_index).copied().unwrap_or_default();
        let within = |ago: Option<u64>, seconds: u64| ago.is_some_and(|a| seconds == 0 || a <= seconds);
        let value = match &self.kind {
            ConditionKind::True => true,
            ConditionKind::False => false,
            ConditionKind::Localtime { begin, end, .. } => (*begin..=*end).contains(&ctx.time_of_day),
            ConditionKind::AllowedMatches { rule, .. } => ctx.allowed_devices.iter().any(|d| rule.matches(d)),
            ConditionKind::RuleApplied { seconds, .. } => within(history.applied_ago, *seconds),
            ConditionKind::RuleEvaluated { seconds, .. } => within(history.evaluated_ago, *seconds),
            ConditionKind::Random { arg } => {
                let p = arg.as_deref().map_or(Some(0.5), |a| super::cnum::probability(a.as_bytes())).unwrap_or(0.5);
                draw(ctx.random_seed, rule_index, condition_index) < p
            }
        };
        value != self.negated
    }
}

/// `USBDeviceID::isSubsetOf`: the rule's `*` matches anything, otherwise the text
/// must be equal.
fn id_matches(rule: &DeviceId, &(vendor, product): &(&str, &str)) -> bool {
    rule.vendor == "*" || (rule.vendor == vendor && (rule.product == "*" || rule.product == product))
}

/// The set operators over a rule attribute and the device's values.
fn applies<R, D>(attr: &Attribute<R>, dev: &[D], m: impl Fn(&R, &D) -> bool) -> bool {
    let rule = &attr.values;
    if rule.is_empty() {
        return true;
    }
    let in_device = |r: &R| dev.iter().any(|d| m(r, d));
    match attr.op {
        SetOperator::AllOf => rule.iter().all(in_device),
        SetOperator::OneOf => rule.iter().any(in_device),
        SetOperator::NoneOf => !rule.iter().any(in_device),
        SetOperator::Equals => rule.len() == dev.len() && rule.iter().all(in_device),
        SetOperator::EqualsOrdered => rule.len() == dev.len() && rule.iter().zip(dev).all(|(r, d)| m(r, d)),
        SetOperator::MatchAll => dev.iter().all(|d| rule.iter().any(|r| m(r, d))),
    }
}

/// A uniform draw in [0, 1) from SplitMix64 over the seed and the position.
fn draw(seed: u64, rule_index: usize, condition_index: usize) -> f64 {
    let mut z = seed
        ^ (rule_index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ (condition_index as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}
