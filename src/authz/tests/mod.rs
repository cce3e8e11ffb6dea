// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
//! End-to-end tests of [`evaluate`]: YAML config → compiled [`Policy`] →
//! decision for a request, with HS256 tokens signed here.
//!
//! Every `Allow` produced by these tests goes through [`allow`], which checks
//! the invariants that must hold for any allow (no header both set and
//! removed, no control characters in a set value, ...).

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::alg::Algorithm;
use crate::authz::jwt::TokenError;
pub(super) use crate::authz::*;
use crate::keys::{KeySet, KeySource, StaticKeys, VerifyingKey};

pub(super) const NOW: u64 = 1_700_000_000;
pub(super) const SECRET_A: &[u8] = b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-secret-of-provider-a";
pub(super) const SECRET_B: &[u8] = b"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-secret-of-provider-b";
pub(super) const ISS_A: &str = "https://a.example";
pub(super) const ISS_B: &str = "https://b.example";
pub(super) const HS256_HEADER: &str = r#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#;

// ---------------------------------------------------------------------------
// Keys and tokens
// ---------------------------------------------------------------------------

pub(super) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(super) use crate::dev::testing::{hs256_raw as sign_raw, REMOVE};

pub(super) fn sign(secret: &[u8], claims: &Value) -> String {
    sign_raw(secret, HS256_HEADER, &claims.to_string())
}

/// Valid claims for `issuer` at [`NOW`], with `extra` merged over them.
pub(super) fn claims(issuer: &str, extra: Value) -> Value {
    crate::dev::testing::claims(issuer, NOW, extra)
}

pub(super) fn token_a(extra: Value) -> String {
    sign(SECRET_A, &claims(ISS_A, extra))
}

pub(super) fn token_b(extra: Value) -> String {
    sign(SECRET_B, &claims(ISS_B, extra))
}

pub(super) fn hmac_keys(secret: &[u8]) -> Arc<dyn KeySource> {
    let key = VerifyingKey::hmac(Some("k1".into()), secret, &[Algorithm::HS256]).expect("hmac key");
    Arc::new(StaticKeys::new(KeySet::new(vec![key]), "inline"))
}

/// A remote JWKS that has never been fetched.
pub(super) struct NoKeys;

impl KeySource for NoKeys {
    fn current(&self) -> Option<Arc<KeySet>> {
        None
    }

    fn kind(&self) -> &'static str {
        "remote"
    }
}

pub(super) fn no_keys() -> Arc<dyn KeySource> {
    Arc::new(NoKeys)
}

// ---------------------------------------------------------------------------
// Policies
// ---------------------------------------------------------------------------

pub(super) fn policy(yaml: &str, keys: Vec<Arc<dyn KeySource>>) -> Policy {
    crate::config::test_policy(yaml, keys)
}

/// Provider `a`: header names deliberately mixed-case in the config.
pub(super) const PROVIDER_A: &str = r#"
  - name: a
    issuer: https://a.example
    audiences: [api]
    algorithms: [HS256]
    hmac_secret: { env: GATEHOUSE_TEST_SECRET_A }
    claims_to_headers:
      - { claim: sub, header: X-User-Id }
      - { claim: org.id, header: x-org-id }
      - { claim: level, header: x-level }
      - { claim: roles, header: x-roles }
      - { claim: email, header: X-Email }
    payload_header: x-jwt-payload
    forward_token: false
"#;

/// Provider `b`: shares `x-user-id` with `a`, has two headers of its own, and
/// forwards the token.
pub(super) const PROVIDER_B: &str = r#"
  - name: b
    issuer: https://b.example
    audiences: [api]
    algorithms: [HS256]
    hmac_secret: { env: GATEHOUSE_TEST_SECRET_B }
    claims_to_headers:
      - { claim: sub, header: x-user-id }
      - { claim: tenant, header: x-b-tenant }
    payload_header: x-b-payload
    forward_token: true
"#;

pub(super) const RULES: &str = r#"
rules:
  - name: public
    match: { path_prefix: /public }
    allow: anonymous
  - name: health
    match: { path: /health }
    allow: anonymous
  - name: only-a
    match: { path_prefix: /a }
    require: { providers: [a] }
  - name: only-b
    match: { path_prefix: /b }
    require: { providers: [b] }
  - name: any
    match: { path_prefix: /any }
    require: {}
"#;

/// Every identity header of `a` and `b` (lower-cased, as compiled).
pub(super) const A_HEADERS: &[&str] =
    &["x-user-id", "x-org-id", "x-level", "x-roles", "x-email", "x-jwt-payload"];
pub(super) const B_ONLY_HEADERS: &[&str] = &["x-b-tenant", "x-b-payload"];

pub(super) fn two_providers_yaml(extra: &str) -> String {
    format!("providers:{PROVIDER_A}{PROVIDER_B}{RULES}{extra}")
}

pub(super) fn two_providers() -> Policy {
    policy(&two_providers_yaml(""), vec![hmac_keys(SECRET_A), hmac_keys(SECRET_B)])
}

/// One provider reading the token from `Authorization: Bearer` or `?access_token=`.
pub(super) fn header_and_query(forward_token: bool) -> Policy {
    let yaml = format!(
        r#"
providers:
  - name: q
    issuer: https://a.example
    audiences: [api]
    algorithms: [HS256]
    hmac_secret: {{ env: GATEHOUSE_TEST_SECRET_A }}
    token_sources:
      - header: authorization
        prefix: "Bearer "
      - query: access_token
    claims_to_headers:
      - {{ claim: sub, header: x-user-id }}
    forward_token: {forward_token}
rules:
  - name: api
    match: {{ path_prefix: /api }}
    require: {{ providers: [q] }}
"#
    );
    policy(&yaml, vec![hmac_keys(SECRET_A)])
}

// ---------------------------------------------------------------------------
// Requests and decisions
// ---------------------------------------------------------------------------

/// Owned headers; [`Headers::request`] borrows them into an [`HttpRequest`].
pub(super) struct Headers(Vec<(&'static str, String)>);

impl Headers {
    fn new(headers: &[(&'static str, &str)]) -> Self {
        Headers(headers.iter().map(|(n, v)| (*n, v.to_string())).collect())
    }

    fn bearer(token: &str) -> Self {
        Headers(vec![("authorization", format!("Bearer {token}"))])
    }

    fn none() -> Self {
        Headers(Vec::new())
    }

    fn with(mut self, name: &'static str, value: &str) -> Self {
        self.0.push((name, value.to_owned()));
        self
    }

    fn request<'a>(&'a self, path: &'a str) -> HttpRequest<'a> {
        HttpRequest {
            method: "GET",
            host: "service.example",
            path,
            headers: self.0.iter().map(|(n, v)| (*n, v.as_bytes())).collect(),
            context_extensions: None,
        }
    }
}

pub(super) fn decide(policy: &Policy, path: &str, headers: &Headers) -> Decision {
    evaluate(policy, &headers.request(path), NOW)
}

/// Unwraps an allow and checks the invariants every allow must satisfy.
#[track_caller]
pub(super) fn expect_allow(case: &str, decision: Decision) -> Allow {
    let allow = match decision {
        Decision::Allow(allow) => allow,
        Decision::Deny(deny) => panic!("[{case}] expected allow, got deny {deny:?}"),
    };
    for (name, value) in allow.set_headers.iter() {
        assert!(
            !allow.remove_headers.contains(name),
            "[{case}] header `{name}` is both set and removed: {allow:#?}"
        );
        assert_eq!(
            allow.set_headers.iter().filter(|(n, _)| n == name).count(),
            1,
            "[{case}] header `{name}` set twice: {:?}",
            allow.set_headers
        );
        assert_eq!(name.to_ascii_lowercase(), **name, "[{case}] header name `{name}` not lower-cased");
        assert!(
            value.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f)),
            "[{case}] header `{name}` carries a control character: {value:?}"
        );
    }
    assert_eq!(allow.provider.is_some(), allow.token.is_some(), "[{case}] provider and token go together");
    allow
}

#[track_caller]
pub(super) fn expect_deny(case: &str, decision: Decision) -> Deny {
    match decision {
        Decision::Deny(deny) => deny,
        Decision::Allow(allow) => panic!("[{case}] expected deny, got allow {allow:#?}"),
    }
}

pub(super) fn header<'a>(allow: &'a Allow, name: &str) -> Option<&'a str> {
    allow.set_headers.iter().find(|(n, _)| &**n == name).map(|(_, v)| &**v)
}

pub(super) fn removes(allow: &Allow, name: &str) -> bool {
    allow.remove_headers.iter().any(|h| &**h == name)
}

pub(super) fn label(value: &Option<Arc<str>>) -> Option<&str> {
    value.as_deref()
}

mod access;
mod revoked;
mod tokens;
