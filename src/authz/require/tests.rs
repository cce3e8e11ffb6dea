// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
use super::*;
use serde_json::json;

/// Providers known to these tests, by id.
const PROVIDERS: [&str; 4] = ["p", "corp", "partner", "other"];

fn requirement(yaml: &str) -> Requirement {
    crate::config::testing::requirement(yaml, &PROVIDERS)
}

fn id(name: &str) -> ProviderId {
    ProviderId(PROVIDERS.iter().position(|p| *p == name).expect("a known provider"))
}

fn claims(value: Value) -> Claims {
    Claims::from_map(value.as_object().unwrap().clone())
}

#[test]
fn the_claims_a_requirement_reads_include_nested_blocks() {
    let block = requirement(
        "claims: [ { claim: org.id, equals: 1 } ]\nany_of: [ { claims: [ { claim: tenant, equals: t } ] } ]\nall_of: [ { scopes_all: [a], claims: [ { claim: roles, contains: admin } ] } ]",
    );
    let mut names = Vec::new();
    block.read_claims(&mut names);
    assert_eq!(names, ["org", "tenant", "roles"]);
}

#[test]
fn scopes_come_from_scope_and_scp_in_both_shapes() {
    let granted = |claims: Claims| scopes(&claims).map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(granted(claims(json!({"scope": "a  b"}))), ["a", "b"]);
    assert_eq!(granted(claims(json!({"scope": ["a", "b"]}))), ["a", "b"]);
    assert_eq!(granted(claims(json!({"scp": "c", "scope": "a"}))), ["a", "c"]);
    assert_eq!(granted(claims(json!({"scp": ["c", 5]}))), ["c"]);
    assert!(granted(claims(json!({"scope": 5}))).is_empty());
}

#[test]
fn scope_requirements() {
    let all = requirement("scopes_all: [orders:read, orders:write]");
    let any = requirement("scopes_any: [admin, orders:read]");
    let cases = [
        (json!({"scope": "orders:read orders:write"}), Ok(()), Ok(())),
        (json!({"scope": "orders:read"}), Err(Unmet::Scope("orders:read orders:write".into())), Ok(())),
        (json!({"scp": ["admin"]}), Err(Unmet::Scope("orders:read orders:write".into())), Ok(())),
        (
            json!({}),
            Err(Unmet::Scope("orders:read orders:write".into())),
            Err(Unmet::Scope("admin orders:read".into())),
        ),
        (
            json!({"scope": "orders:readx"}),
            Err(Unmet::Scope("orders:read orders:write".into())),
            Err(Unmet::Scope("admin orders:read".into())),
        ),
    ];
    for (token, want_all, want_any) in cases {
        let token = claims(token);
        assert_eq!(all.check(id("p"), &token), want_all, "all {token:?}");
        assert_eq!(any.check(id("p"), &token), want_any, "any {token:?}");
    }
}

#[test]
fn claim_conditions() {
    let token = claims(json!({
        "sub": "alice", "email": "alice@corp.example", "level": 3,
        "groups": ["eng", "ops"], "org": {"id": "acme", "tier": "gold"}, "amr": "pwd mfa"
    }));
    let cases = [
        ("claims: [{ claim: sub, equals: alice }]", true),
        ("claims: [{ claim: sub, equals: bob }]", false),
        ("claims: [{ claim: level, equals: 3 }]", true),
        ("claims: [{ claim: level, equals: '3' }]", false),
        ("claims: [{ claim: org.id, one_of: [acme, globex] }]", true),
        ("claims: [{ claim: org.tier, one_of: [silver] }]", false),
        ("claims: [{ claim: groups, contains: ops }]", true),
        ("claims: [{ claim: groups, contains: admin }]", false),
        ("claims: [{ claim: amr, contains: mfa }]", true),
        ("claims: [{ claim: amr, contains: mf }]", false),
        ("claims: [{ claim: email, prefix: alice@ }]", true),
        ("claims: [{ claim: level, prefix: '3' }]", false),
        (r#"claims: [{ claim: email, regex: '[a-z]+@corp\.example' }]"#, true),
        (r#"claims: [{ claim: email, regex: 'corp\.example' }]"#, false),
        ("claims: [{ claim: missing, equals: x }]", false),
        ("claims: [{ claim: org.id.deeper, equals: x }]", false),
        ("claims: [{ claim: sub, equals: alice }, { claim: level, equals: 4 }]", false),
    ];
    for (yaml, want) in cases {
        assert_eq!(requirement(yaml).check(id("p"), &token).is_ok(), want, "{yaml}");
    }
}

#[test]
fn combinations_and_providers() {
    let token = claims(json!({"scope": "read", "role": "viewer"}));
    let any =
        requirement("any_of: [ { scopes_all: [write] }, { claims: [{ claim: role, equals: viewer }] } ]");
    assert_eq!(any.check(id("p"), &token), Ok(()));
    let none =
        requirement("any_of: [ { scopes_all: [write] }, { claims: [{ claim: role, equals: admin }] } ]");
    assert_eq!(
        none.check(id("p"), &token),
        Err(Unmet::Scope("write".into())),
        "first alternative's shortfall"
    );
    let all = requirement("all_of: [ { scopes_all: [read] }, { claims: [{ claim: role, equals: admin }] } ]");
    assert_eq!(all.check(id("p"), &token), Err(Unmet::Forbidden));
    let pinned = requirement("providers: [corp]");
    assert_eq!(pinned.check(id("corp"), &token), Ok(()));
    assert_eq!(pinned.check(id("partner"), &token), Err(Unmet::Forbidden));
    let nested =
        requirement("any_of: [ { providers: [corp] }, { providers: [partner], scopes_all: [read] } ]");
    assert_eq!(nested.check(id("partner"), &token), Ok(()));
    assert_eq!(nested.check(id("other"), &token), Err(Unmet::Forbidden));
    assert!(nested.providers().is_empty(), "nested lists do not restrict which providers verify");
}
