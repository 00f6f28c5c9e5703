//! Table-driven tests of the SCIM protocol crate (RFC 7644 examples included) and
//! property tests: the parsers never panic, printed filters parse back, PATCH never
//! panics and `replace` is idempotent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bposhield_scim::filter::{matches, AttrPath, CompareOp, Filter};
use bposhield_scim::schema::{ENTERPRISE_USER_SCHEMA, GROUP_TYPE, USER_TYPE};
use bposhield_scim::{normalize, patch, Projection, ScimType};
use proptest::prelude::*;
use serde_json::{json, Value};

fn user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "Bjensen",
        "userName": "bjensen@example.com",
        "name": { "familyName": "Jensen", "givenName": "Barbara" },
        "title": "Tour Guide",
        "userType": "Employee",
        "active": true,
        "emails": [
            { "value": "bjensen@example.com", "type": "work", "primary": true },
            { "value": "babs@jensen.org", "type": "home" }
        ],
        "phoneNumbers": [{ "value": "555-555-8377", "type": "work" }],
        "meta": { "lastModified": "2011-05-13T04:42:34Z", "created": "2010-01-23T04:56:22Z" },
        ENTERPRISE_USER_SCHEMA: { "employeeNumber": "701984", "manager": { "value": "26118915-6090-4610-87e4-49d8ca9f808d" } }
    })
}

#[test]
fn rfc_7644_filter_examples_parse_and_match() {
    let u = user();
    let cases: &[(&str, bool)] = &[
        (r#"userName Eq "john""#, false),
        (r#"userName eq "BJENSEN@example.com""#, true),
        (r#"name.familyName co "O'Malley""#, false),
        (r#"name.familyName co "ens""#, true),
        (r#"userName sw "J""#, false),
        (r#"userName sw "bj""#, true),
        (r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "BJ""#, true),
        ("title pr", true),
        ("nickName pr", false),
        (r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, false),
        (r#"meta.lastModified ge "2011-05-13T04:42:34Z""#, true),
        (r#"meta.lastModified lt "2011-05-13T05:42:34+01:00""#, false),
        (r#"meta.lastModified le "2011-05-13T05:42:34+01:00""#, true),
        (r#"title pr and userType eq "Employee""#, true),
        (r#"title pr or userType eq "Intern""#, true),
        (r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#, false),
        (r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#, true),
        (r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#, false),
        (r#"userType eq "Employee" and (emails.type eq "work")"#, true),
        (r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#, true),
        (r#"emails[type eq "work" and value co "@jensen.org"]"#, false),
        (r#"emails[type eq "home" and value co "@jensen.org"] or ims[type eq "xmpp" and value co "@foo.com"]"#, true),
        (r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#, true),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#,
            true,
        ),
        // id and externalId are case-exact.
        (r#"externalId eq "bjensen""#, false),
        (r#"externalId eq "Bjensen""#, true),
        (r#"id eq "2819C223-7F76-453A-919D-413861904646""#, false),
        ("active eq true", true),
        ("active eq false", false),
        ("nickName eq null", true),
        (r#"NAME.GIVENNAME EQ "barbara""#, true),
    ];
    for (f, want) in cases {
        let parsed = Filter::parse(f).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(matches(&parsed, &USER_TYPE, &u).unwrap(), *want, "{f}");
    }
}

#[test]
fn bad_filters_are_invalid_filter_errors() {
    for f in [
        "",
        "userName",
        "userName eq",
        r#"userName xx "a""#,
        r#"userName eq "unterminated"#,
        r#"(userName eq "a""#,
        r#"emails[type eq "work""#,
        r#"userName eq "a" and"#,
        r#"not userName eq "a""#,
        "userName eq bogus",
        r#"1abc eq "a""#,
    ] {
        let e = Filter::parse(f).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{f}");
        assert_eq!(e.status, 400);
    }
    let deep = format!("{}userName pr{}", "(".repeat(200), ")".repeat(200));
    assert!(Filter::parse(&deep).is_err());
    // Ordering a boolean is refused at evaluation.
    let f = Filter::parse("active gt true").unwrap();
    assert_eq!(matches(&f, &USER_TYPE, &user()).unwrap_err().scim_type, Some(ScimType::InvalidFilter));
}

#[test]
fn precedence_and_escapes() {
    let f = Filter::parse(r#"a eq 1 or b eq 2 and c eq 3"#).unwrap();
    assert!(matches!(f, Filter::Or(_, ref r) if matches!(**r, Filter::And(..))));
    let f = Filter::parse(r#"displayName eq "say \"hi\" \\ \u00e9""#).unwrap();
    assert_eq!(f, Filter::Compare(AttrPath::new("displayName", None), CompareOp::Eq, json!("say \"hi\" \\ é")));
    assert_eq!(Filter::parse(&f.to_string()).unwrap(), f);
}

fn ops(v: Value) -> Vec<patch::PatchOp> {
    patch::parse_request(&v).unwrap()
}

fn apply(doc: &Value, body: Value) -> Result<Value, bposhield_scim::ScimError> {
    patch::apply(&USER_TYPE, doc, &ops(body))
}

fn patch_body(ops: Value) -> Value {
    json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops })
}

#[test]
fn patch_add_replace_remove() {
    let u = user();
    // Add to a multi-valued attribute appends.
    let r = apply(
        &u,
        patch_body(json!([{ "op": "add", "path": "emails", "value": [{ "value": "b@x.org", "type": "other" }] }])),
    )
    .unwrap();
    assert_eq!(r["emails"].as_array().unwrap().len(), 3);
    // Replace through a value filter with a sub-attribute.
    let r = apply(
        &u,
        patch_body(json!([{ "op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@example.com" }])),
    )
    .unwrap();
    assert_eq!(r["emails"][0]["value"], "new@example.com");
    assert_eq!(r["emails"][1]["value"], "babs@jensen.org");
    // Remove with a filter.
    let r = apply(&u, patch_body(json!([{ "op": "remove", "path": "emails[type eq \"home\"]" }]))).unwrap();
    assert_eq!(r["emails"].as_array().unwrap().len(), 1);
    // Remove with a filter that matches nothing: noTarget.
    let e = apply(&u, patch_body(json!([{ "op": "remove", "path": "emails[type eq \"fax\"]" }]))).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::NoTarget));
    // Remove without a path: noTarget.
    assert_eq!(
        patch::parse_request(&patch_body(json!([{ "op": "remove" }]))).unwrap_err().scim_type,
        Some(ScimType::NoTarget)
    );
    // A sub-attribute of a single-valued complex attribute.
    let r = apply(&u, patch_body(json!([{ "op": "replace", "path": "name.givenName", "value": "Babs" }]))).unwrap();
    assert_eq!(r["name"], json!({ "familyName": "Jensen", "givenName": "Babs" }));
    // URN path into the enterprise extension, creating the extension when absent.
    let r = apply(&json!({ "userName": "x" }), patch_body(json!([{ "op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "ACME" }]))).unwrap();
    assert_eq!(r[ENTERPRISE_USER_SCHEMA]["department"], "ACME");
    // Read-only attributes: mutability.
    let e = apply(&u, patch_body(json!([{ "op": "replace", "path": "id", "value": "other" }]))).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::Mutability));
    // Unknown attribute: invalidPath.
    let e = apply(&u, patch_body(json!([{ "op": "replace", "path": "shoeSize", "value": 9 }]))).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    // Primary stays unique: the newly primary value wins.
    let r = apply(
        &u,
        patch_body(json!([{ "op": "add", "path": "emails", "value": [{ "value": "p@x.org", "primary": true }] }])),
    )
    .unwrap();
    let prim: Vec<_> = r["emails"].as_array().unwrap().iter().filter(|e| e["primary"] == json!(true)).collect();
    assert_eq!(prim.len(), 1);
    assert_eq!(prim[0]["value"], "p@x.org");
}

#[test]
fn patch_accepts_azure_quirks() {
    let u = user();
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            { "op": "Replace", "path": "active", "value": "False" },
            { "op": "Add", "value": { "name.givenName": "Bee", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter": "CC1" } },
            { "op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555" }
        ]
    });
    let r = apply(&u, body).unwrap();
    let n = normalize(&USER_TYPE, &r).unwrap();
    assert_eq!(n["active"], json!(false));
    assert_eq!(n["name"]["givenName"], "Bee");
    assert_eq!(n[ENTERPRISE_USER_SCHEMA]["costCenter"], "CC1");
    assert!(n["phoneNumbers"].as_array().unwrap().iter().any(|p| p["type"] == "mobile" && p["value"] == "+1 555"));
}

#[test]
fn group_members_add_and_remove() {
    let g = json!({ "displayName": "Agents", "members": [{ "value": "a" }, { "value": "b" }] });
    let r =
        patch::apply(&GROUP_TYPE, &g, &ops(patch_body(json!([{ "op": "remove", "path": "members[value eq \"a\"]" }]))))
            .unwrap();
    assert_eq!(r["members"], json!([{ "value": "b" }]));
    let r = patch::apply(
        &GROUP_TYPE,
        &g,
        &ops(patch_body(json!([{ "op": "add", "path": "members", "value": [{ "value": "c" }, { "value": "a" }] }]))),
    )
    .unwrap();
    assert_eq!(r["members"].as_array().unwrap().len(), 3);
    // Azure AD: remove listing the members in the value.
    let r = patch::apply(
        &GROUP_TYPE,
        &g,
        &ops(patch_body(json!([{ "op": "Remove", "path": "members", "value": [{ "value": "b" }] }]))),
    )
    .unwrap();
    assert_eq!(r["members"], json!([{ "value": "a" }]));
    // Removing the last member leaves the attribute unassigned.
    let r = patch::apply(&GROUP_TYPE, &g, &ops(patch_body(json!([{ "op": "remove", "path": "members" }])))).unwrap();
    assert!(r.get("members").is_none());
}

#[test]
fn normalize_checks_types_and_required() {
    let n = normalize(&USER_TYPE, &json!({ "USERNAME": "a", "Active": "true", "password": "x", "id": "y", "bogus": 1, "emails": { "value": "a@b.c" } })).unwrap();
    assert_eq!(n, json!({ "userName": "a", "active": true, "emails": [{ "value": "a@b.c" }] }));
    assert_eq!(normalize(&USER_TYPE, &json!({ "name": {} })).unwrap_err().scim_type, Some(ScimType::InvalidValue));
    assert_eq!(normalize(&USER_TYPE, &json!({ "userName": 5 })).unwrap_err().scim_type, Some(ScimType::InvalidValue));
    let two = json!({ "userName": "a", "emails": [{ "value": "a@b", "primary": true }, { "value": "c@d", "primary": true }] });
    assert_eq!(normalize(&USER_TYPE, &two).unwrap_err().scim_type, Some(ScimType::InvalidValue));
}

#[test]
fn projection_follows_returned() {
    let mut u = user();
    u["password"] = json!("secret");
    let p = Projection::parse(Some("userName,name.givenName"), None).unwrap();
    let r = p.apply(&USER_TYPE, &u);
    assert_eq!(r["id"], u["id"]);
    assert_eq!(r["userName"], u["userName"]);
    assert_eq!(r["name"], json!({ "givenName": "Barbara" }));
    assert!(r.get("emails").is_none() && r.get("password").is_none() && r.get("title").is_none());
    let p =
        Projection::parse(None, Some("emails,id,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")).unwrap();
    let r = p.apply(&USER_TYPE, &u);
    assert!(r.get("emails").is_none() && r.get(ENTERPRISE_USER_SCHEMA).is_none() && r.get("password").is_none());
    assert_eq!(r["id"], u["id"], "id is returned always");
    let p = Projection::parse(Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"), None)
        .unwrap();
    assert_eq!(p.apply(&USER_TYPE, &u)[ENTERPRISE_USER_SCHEMA], json!({ "employeeNumber": "701984" }));
}

fn arb_path() -> impl Strategy<Value = AttrPath> {
    let name = "[a-zA-Z][a-zA-Z0-9_-]{0,6}";
    let urn = prop_oneof![Just(None), Just(Some(ENTERPRISE_USER_SCHEMA.to_owned()))];
    (urn, name, proptest::option::of(name)).prop_map(|(urn, attr, sub)| AttrPath { urn, attr, sub })
}

fn arb_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>().prop_map(Value::String),
        any::<i32>().prop_map(|i| json!(i)),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ]
}

fn arb_op() -> impl Strategy<Value = CompareOp> {
    use CompareOp::*;
    prop_oneof![Just(Eq), Just(Ne), Just(Co), Just(Sw), Just(Ew), Just(Gt), Just(Ge), Just(Lt), Just(Le)]
}

fn arb_filter() -> impl Strategy<Value = Filter> {
    let leaf = prop_oneof![
        (arb_path(), arb_op(), arb_value()).prop_map(|(p, o, v)| Filter::Compare(p, o, v)),
        arb_path().prop_map(Filter::Present),
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
            inner.clone().prop_map(|a| Filter::Not(Box::new(a))),
            ("[a-z]{1,5}", inner).prop_map(|(n, a)| Filter::ValuePath(AttrPath::new(&n, None), Box::new(a))),
        ]
    })
}

proptest! {
    #[test]
    fn filter_parser_never_panics(s in "\\PC{0,80}") {
        let _ = Filter::parse(&s);
        let _ = patch::PatchPath::parse(&s);
    }

    #[test]
    fn filter_parser_never_panics_on_filterish(s in r#"[a-z.:\[\]() "\\]{0,40}( (eq|and|or|not|pr) [a-z"()\[\]0-9]{0,10}){0,4}"#) {
        if let Ok(f) = Filter::parse(&s) {
            let _ = matches(&f, &USER_TYPE, &user());
        }
    }

    #[test]
    fn printed_filters_parse_back(f in arb_filter()) {
        let text = f.to_string();
        let back = Filter::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(back, f);
    }

    #[test]
    fn patch_never_panics(path in "\\PC{0,30}", op in "(add|replace|remove|Add|x)", value in arb_value()) {
        let body = patch_body(json!([{ "op": op, "path": path, "value": value }]));
        if let Ok(o) = patch::parse_request(&body) {
            let _ = patch::apply(&USER_TYPE, &user(), &o);
        }
    }

    #[test]
    fn replace_is_idempotent(
        path in prop_oneof![Just("title"), Just("name.givenName"), Just("emails[type eq \"work\"].value"), Just("emails"), Just("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter"), Just("active")],
        value in arb_value(),
    ) {
        let Ok(o) = patch::parse_request(&patch_body(json!([{ "op": "replace", "path": path, "value": value }]))) else {
            return Ok(());
        };
        if let Ok(once) = patch::apply(&USER_TYPE, &user(), &o) {
            let twice = patch::apply(&USER_TYPE, &once, &o).unwrap();
            prop_assert_eq!(once, twice);
        }
    }
}
