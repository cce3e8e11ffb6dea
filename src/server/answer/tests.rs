// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
//! The directly written answer, decoded by prost, is the reference answer.

use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{json, Map};

use super::*;
use crate::authz::{CacheOutcome, ClaimPath, DenyReason, MetadataSpec, Origin, VerifiedToken};
use crate::proto::envoy::service::auth::v3::CheckResponse;

fn written(decision: &Decision) -> CheckResponse {
    let mut buf = Vec::new();
    write_answer(decision, &mut buf);
    CheckResponse::decode(buf.as_slice()).expect("the written answer decodes")
}

fn assert_same(decision: &Decision) {
    assert_eq!(written(decision), to_check_response(decision));
}

fn token(claims: Value) -> Arc<VerifiedToken> {
    let Value::Object(map) = claims else { panic!("claims are an object") };
    Arc::new(VerifiedToken::new(Origin::Introspection, map, 7))
}

fn metadata(paths: &[(&str, &str)], all_claims: bool) -> Arc<MetadataSpec> {
    let claims = paths.iter().map(|(key, path)| (Arc::from(*key), ClaimPath::parse(path))).collect();
    Arc::new(MetadataSpec { claims, all_claims })
}

fn allow(token: Option<Arc<VerifiedToken>>, metadata: Arc<MetadataSpec>) -> Decision {
    Decision::Allow(Allow {
        rule: Arc::from("orders-read"),
        provider: token.as_ref().map(|_| Arc::from("corp")),
        set_headers: Arc::from(vec![
            (Arc::from("x-user-id"), Arc::from("alice")),
            (Arc::from("x-user-email"), Arc::from("")),
        ]),
        remove_headers: smallvec::smallvec![Arc::from("authorization"), Arc::from("x-tenant")],
        remove_query_params: vec![Arc::from("access_token")],
        token,
        metadata,
        cache: CacheOutcome::Hit,
    })
}

#[test]
fn an_authenticated_allow_with_every_kind_of_claim() {
    let claims = json!({
        "sub": "alice", "iss": "https://idp.example.com", "scope": "orders:read orders:write",
        "n": 42, "neg": -1.5, "big": 18446744073709551615u64, "yes": true, "no": false, "none": null,
        "empty": "", "unicode": "Zoë ✓ 日本", "long": "x".repeat(70_000),
        "roles": ["buyer", ["nested", 1], { "deep": { "er": [null] } }], "org": { "id": 7, "name": "Acme" },
    });
    let paths =
        [("sub", "sub"), ("iss", "iss"), ("scope", "scope"), ("org_id", "org.id"), ("missing", "nope.x")];
    for all_claims in [false, true] {
        assert_same(&allow(Some(token(claims.clone())), metadata(&paths, all_claims)));
    }
}

#[test]
fn an_anonymous_allow_and_repeated_metadata_keys() {
    assert_same(&allow(None, metadata(&[("sub", "sub")], true)));
    // A metadata key named like a fixed one: the claim's value wins in both.
    let shadowing = metadata(&[("decision", "sub"), ("rule", "org.name")], false);
    assert_same(&allow(Some(token(json!({ "sub": "alice", "org": { "name": "Acme" } }))), shadowing));
}

#[test]
fn denies_are_the_reference_encoding() {
    for reason in
        [DenyReason::MissingToken, DenyReason::MalformedRequest, DenyReason::IntrospectionUnavailable]
    {
        assert_same(&Decision::deny(reason));
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e300f64..1e300).prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

proptest! {
    #[test]
    fn any_claims_are_written_as_the_reference_writes_them(
        claims in prop::collection::btree_map("[a-z]{1,8}", json_value(), 0..8),
        header_value in ".{0,300}",
    ) {
        let claims: Map<String, Value> = claims.into_iter().collect();
        let names: Vec<String> = claims.keys().cloned().collect();
        let paths: Vec<(&str, &str)> = names.iter().map(|name| (name.as_str(), name.as_str())).collect();
        let token = token(Value::Object(claims));
        let mut decision = allow(Some(token), metadata(&paths, true));
        if let Decision::Allow(allow) = &mut decision {
            let mut set = allow.set_headers.to_vec();
            set[0].1 = header_value.into();
            allow.set_headers = set.into();
        }
        prop_assert_eq!(written(&decision), to_check_response(&decision));
    }
}
