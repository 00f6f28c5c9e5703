//! SCIM parsers on arbitrary input: the filter parser (and the evaluator on what it
//! accepts), PATCH paths, and the PATCH engine on an arbitrary JSON request.
#![no_main]

use bposhield_scim::filter::{matches, Filter};
use bposhield_scim::schema::{GROUP_TYPE, USER_TYPE};
use bposhield_scim::{normalize, patch, PatchPath};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let user = serde_json::json!({
        "userName": "bjensen", "name": { "givenName": "Barbara" }, "active": true,
        "emails": [{ "value": "b@example.com", "type": "work", "primary": true }],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { "employeeNumber": "E1" }
    });
    if let Ok(f) = Filter::parse(text) {
        let _ = matches(&f, &USER_TYPE, &user);
        // What prints must parse back to the same filter.
        assert_eq!(Filter::parse(&f.to_string()).ok(), Some(f));
    }
    let _ = PatchPath::parse(text);
    if let Ok(body) = serde_json::from_str::<serde_json::Value>(text) {
        if let Ok(ops) = patch::parse_request(&body) {
            for rt in [&USER_TYPE, &GROUP_TYPE] {
                if let Ok(out) = patch::apply(rt, &user, &ops) {
                    let _ = normalize(rt, &out);
                }
            }
        }
        let _ = normalize(&USER_TYPE, &body);
    }
});
