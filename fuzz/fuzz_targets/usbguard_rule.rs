//! The USBGuard rule parser on arbitrary text (rules come from policy bundles,
//! operators and imported USBGuard files): never a panic; whatever parses prints
//! to a rule that parses and prints the same; evaluating it never panics.
#![no_main]

use bposhield_endpoint::rules::{DeviceView, EvalContext, Rule, RuleSet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(rule) = Rule::parse(text) {
        let printed = rule.to_string();
        match Rule::parse(&printed) {
            Ok(again) => assert_eq!(again.to_string(), printed, "printing is not idempotent for {text:?}"),
            Err(e) => panic!("{text:?} printed as {printed:?}, which does not parse: {e}"),
        }
        let dev = DeviceView { interfaces: vec![(8, 6, 0x50), (3, 0, 0)], ..DeviceView::default() };
        let ctx = EvalContext { allowed_devices: vec![dev.clone()], ..EvalContext::at_unix(1_700_000_000) };
        let _ = rule.matches(&dev) && rule.conditions_hold(0, &ctx);
    }
    if let Ok(set) = RuleSet::parse(text) {
        let _ = set.evaluate(&DeviceView::default(), &EvalContext::default());
    }
});
