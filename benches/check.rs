//! Check-path benchmarks: decisions (cache hit and fresh verification per
//! algorithm), bare JWT verification, rule selection over 100 rules, protobuf
//! wire costs, one whole Check without the gRPC transport, what revocations
//! add to a cache hit, and opaque credentials (introspected tokens, API keys).
//!
//! Run with `cargo bench --bench check`. Under `cargo test --all-targets` each
//! benchmark runs once, so every fixture below is checked with assertions that
//! must hold in both modes.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use prost::Message;
use serde_json::json;

use gatehouse::internals::wire::{attribute_context, CheckRequest, CheckResponse};
use gatehouse::internals::{
    cached_tokens, evaluate, from_yaml, parse_jwks, parse_token, policy_with_keys_revoking,
    to_check_response, to_http_request, write_answer, Decision, DenyReason, KeySource, Policy, StaticKeys,
    Validation, DEFAULT_MAX_KEYS,
};
use gatehouse_testkit::{unix_now, Algorithm, CheckRequestBuilder, SigningKey};

#[path = "check/opaque.rs"]
mod opaque;

const ISSUER: &str = "https://idp.example.com";
const ALGORITHMS: [Algorithm; 4] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA, Algorithm::HS256];

// ---------------------------------------------------------------------------
// Fixtures (all built outside the measured closures)
// ---------------------------------------------------------------------------

/// A signing key, its JWKS (compact JSON) and one valid token it signed.
struct Fixture {
    alg: Algorithm,
    key: SigningKey,
    jwks: String,
    token: String,
}

impl Fixture {
    /// A fresh key for `alg` and a token valid for an hour of wall-clock time
    /// (the cache computes entry lifetimes from the real clock).
    fn new(alg: Algorithm, now: u64) -> Self {
        let key = SigningKey::generate(alg, format!("bench-{alg}")).expect("generate signing key");
        let claims = json!({
            "iss": ISSUER,
            "sub": "user-7f3c9a12",
            "aud": ["orders-api", "billing-api"],
            "azp": "web-frontend",
            "iat": now - 60,
            "nbf": now - 60,
            "exp": now + 3600,
            "jti": "5b1f0c2e-8d7a-4e3b-9a61-0c4d2f7e8b90",
            "scope": "openid profile email orders:read orders:write",
            "email": "alice@example.com",
            "email_verified": true,
            "org": { "id": "org-42", "name": "Example Corp" },
            "roles": ["buyer", "admin"],
        });
        let token = key.mint(&claims).expect("mint token");
        let jwks = json!({ "keys": [key.public_jwk()] }).to_string();
        Self { alg, key, jwks, token }
    }

    fn key_source(&self) -> Arc<dyn KeySource> {
        let loaded = parse_jwks(self.jwks.as_bytes(), &[self.alg], DEFAULT_MAX_KEYS).expect("parse jwks");
        assert_eq!(loaded.set.len(), 1, "the bench JWKS must load its one key");
        Arc::new(StaticKeys::new(loaded.set, "inline"))
    }
}

/// One provider (`idp`) for the fixture's algorithm with three
/// `claims_to_headers`, then `rules` and `extra` appended verbatim.
fn policy(fixture: &Fixture, rules: &str, extra: &str) -> Policy {
    // The JWKS is compact JSON without single quotes: a single-quoted YAML scalar holds it as is.
    let yaml = format!(
        r#"
providers:
  - name: idp
    issuer: {ISSUER}
    audiences: [orders-api]
    algorithms: [{alg}]
    jwks: {{ inline: '{jwks}' }}
    claims_to_headers:
      - {{ claim: sub, header: x-user-id }}
      - {{ claim: org.id, header: x-org-id }}
      - {{ claim: email, header: x-user-email }}
rules:
{rules}
{extra}
"#,
        alg = fixture.alg,
        jwks = fixture.jwks,
    );
    let specs = from_yaml(&yaml).unwrap_or_else(|e| panic!("bench config does not load:\n{e}\n---\n{yaml}"));
    policy_with_keys_revoking(specs, vec![fixture.key_source()]).expect("revocations start")
}

/// The rule the decision benches hit: a provider and a scope.
const ORDERS_RULE: &str = r#"
  - name: health
    match: { path: /healthz }
    allow: anonymous
  - name: orders-read
    match: { path_prefix: /api/orders, methods: [GET, HEAD] }
    require: { providers: [idp], scopes_all: ["orders:read"] }
"#;

const NO_CACHE: &str = "cache: { enabled: false }";

/// 100 anonymous rules on distinct prefixes `/svc000` … `/svc099`; every tenth
/// also has a path regex, every tenth (offset) a header condition, a few a
/// method list. The last one has both a regex and a header condition.
fn hundred_rules() -> String {
    let mut yaml = String::new();
    for i in 0..100 {
        let mut conditions = vec![format!("path_prefix: /svc{i:03}")];
        if i % 10 == 5 || i == 99 {
            conditions.push(format!(r#"path_regex: '^/svc{i:03}/v[0-9]+/[a-z]+/[0-9]+$'"#));
        }
        if i % 10 == 7 || i == 99 {
            conditions.push(r#"headers: [{ name: x-tenant, prefix: "t-" }]"#.to_owned());
        }
        if i % 25 == 3 {
            conditions.push("methods: [GET, POST]".to_owned());
        }
        yaml.push_str(&format!(
            "  - name: r{i:03}\n    match: {{ {} }}\n    allow: anonymous\n",
            conditions.join(", ")
        ));
    }
    yaml
}

/// A CheckRequest as Envoy sends it by default (merged, lower-cased `headers`
/// map): 20 headers including the bearer token, a path with a query string,
/// peers and context extensions.
fn check_request(token: &str, path: &str) -> CheckRequest {
    check_request_with(&format!("Bearer {token}"), path)
}

/// [`check_request`] with this `authorization` value (`Bearer ..`, `ApiKey ..`).
fn check_request_with(authorization: &str, path: &str) -> CheckRequest {
    let headers = [
        (":authority", "api.example.com"),
        (":method", "GET"),
        (":path", path),
        (":scheme", "https"),
        ("accept", "application/json, text/plain, */*"),
        ("accept-encoding", "gzip, deflate, br, zstd"),
        ("accept-language", "en-GB,en;q=0.9,de;q=0.8"),
        ("authorization", authorization),
        ("cache-control", "no-cache"),
        ("cookie", "session_hint=1; theme=dark; _ga=GA1.2.1234567890.1700000000"),
        ("origin", "https://app.example.com"),
        ("referer", "https://app.example.com/orders?tab=open"),
        ("sec-ch-ua", r#""Chromium";v="128", "Not;A=Brand";v="24", "Google Chrome";v="128""#),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36",
        ),
        ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        ("x-envoy-expected-rq-timeout-ms", "15000"),
        ("x-forwarded-for", "203.0.113.7, 10.0.3.17"),
        ("x-forwarded-proto", "https"),
        ("x-request-id", "8d2c6f0e-3b7a-4c1e-9f5d-2a6b8c0d4e1f"),
        ("x-tenant", "t-acme"),
    ];
    CheckRequestBuilder::new("GET", path)
        .id("11532497071046349386")
        .scheme("https", "HTTP/2")
        .headers(&headers)
        .peers(
            ("ingress-gateway", "spiffe://cluster.local/ns/ingress/sa/gateway"),
            ("orders", "spiffe://cluster.local/ns/shop/sa/orders"),
        )
        .context("virtual_host", "api")
        .context("route", "orders")
        .build()
}

const ORDERS_PATH: &str = "/api/orders/12345/items?page=2&sort=desc";

fn http_of(check: &CheckRequest) -> &attribute_context::HttpRequest {
    check
        .attributes
        .as_ref()
        .and_then(|a| a.request.as_ref())
        .and_then(|r| r.http.as_ref())
        .expect("http attributes")
}

fn assert_allow(decision: &Decision, rule: &str, identity_headers: usize) {
    match decision {
        Decision::Allow(allow) => {
            assert_eq!(&*allow.rule, rule, "matched the wrong rule");
            assert_eq!(allow.set_headers.len(), identity_headers, "identity headers set");
        }
        Decision::Deny(deny) => panic!("expected allow by {rule}, got deny {deny:?}"),
    }
}

fn is_ok(response: &CheckResponse) -> bool {
    response.status.as_ref().is_some_and(|s| s.code == 0)
}

// ---------------------------------------------------------------------------
// Benchmarks
// ---------------------------------------------------------------------------

fn benches(c: &mut Criterion) {
    let now = unix_now();
    let fixtures: Vec<Fixture> = ALGORITHMS.iter().map(|&alg| Fixture::new(alg, now)).collect();
    let rs256 = &fixtures[0];

    decision(c, &fixtures, now);
    verify(c, &fixtures, now);
    rules(c, rs256, now);
    wire(c, rs256, now);
    end_to_end(c, rs256, now);
    revocation(c, rs256, now);
    opaque::benches(c, rs256, now);
}

fn decision(c: &mut Criterion, fixtures: &[Fixture], now: u64) {
    let mut group = c.benchmark_group("decision");

    // Measures: evaluate() for an RS256 token already in the verified-token cache
    // (path normalisation, rule selection, token extraction, SHA-256 digest, cache
    // lookup, scope check, 3 identity headers).
    {
        let fixture = &fixtures[0];
        let policy = policy(fixture, ORDERS_RULE, "");
        let check = check_request(&fixture.token, ORDERS_PATH);
        let request = to_http_request(&check, http_of(&check));
        assert_allow(&evaluate(&policy, &request, now), "orders-read", 3);
        assert_eq!(cached_tokens(&policy), Some(1), "the warm-up must have cached the token");
        group.bench_function("cache_hit", |b| {
            b.iter(|| evaluate(black_box(&policy), black_box(&request), black_box(now)))
        });
        assert_eq!(cached_tokens(&policy), Some(1), "measured calls must all be hits");
    }

    // Measures: evaluate() with the cache disabled, per algorithm: the full
    // parse + signature + registered claims + rule + identity-header path.
    for fixture in fixtures {
        let policy = policy(fixture, ORDERS_RULE, NO_CACHE);
        assert_eq!(cached_tokens(&policy), None);
        let check = check_request(&fixture.token, ORDERS_PATH);
        let request = to_http_request(&check, http_of(&check));
        assert_allow(&evaluate(&policy, &request, now), "orders-read", 3);
        group.bench_function(format!("fresh/{}", fixture.alg), |b| {
            b.iter(|| evaluate(black_box(&policy), black_box(&request), black_box(now)))
        });
    }
    group.finish();
}

fn verify(c: &mut Criterion, fixtures: &[Fixture], now: u64) {
    let mut group = c.benchmark_group("verify");
    // Measures: jwt::parse(token) + verify(keys, validation, now) alone (base64 +
    // strict JSON parse, signature check, registered claims, claims clone), no
    // token extraction, cache, rules or headers.
    for fixture in fixtures {
        let keys = fixture.key_source().current().expect("static keys");
        let validation = &Validation {
            issuer: ISSUER.to_owned(),
            audiences: vec!["orders-api".to_owned()],
            algorithms: vec![fixture.alg],
            clock_skew_secs: 60,
            max_lifetime_secs: None,
            require_expiration: true,
            token_types: Vec::new(),
        };
        let max = 8 * 1024;
        let token = fixture.token.as_str();
        parse_token(token, max).expect("parse").verify(&keys, validation, now).expect("verifies");
        // `verify` takes the claims out of a parsed token: parse inside the loop.
        group.bench_function(format!("signature_only/{}", fixture.alg), |b| {
            b.iter(|| {
                parse_token(black_box(token), max)
                    .and_then(|mut t| t.verify(&keys, validation, black_box(now)))
            })
        });
    }
    group.finish();
}

fn rules(c: &mut Criterion, fixture: &Fixture, now: u64) {
    let mut group = c.benchmark_group("rules");
    let policy = policy(fixture, &hundred_rules(), "");
    let last = check_request(&fixture.token, "/svc099/v2/items/42?page=3");
    let last = to_http_request(&last, http_of(&last));
    let first = check_request(&fixture.token, "/svc000/v2/items/42?page=3");
    let first = to_http_request(&first, http_of(&first));
    assert_allow(&evaluate(&policy, &last, now), "r099", 0);
    assert_allow(&evaluate(&policy, &first, now), "r000", 0);

    // Measures: evaluate() of an anonymous request matching the 100th of 100
    // rules (99 misses incl. 10 regexes and 10 header conditions, then a match
    // on prefix + regex + header); no crypto.
    group.bench_function("100_rules", |b| {
        b.iter(|| evaluate(black_box(&policy), black_box(&last), black_box(now)))
    });
    // Measures: the same policy and request shape, matching the first rule.
    group.bench_function("100_rules_first_match", |b| {
        b.iter(|| evaluate(black_box(&policy), black_box(&first), black_box(now)))
    });
    group.finish();
}

fn wire(c: &mut Criterion, fixture: &Fixture, now: u64) {
    let mut group = c.benchmark_group("wire");
    let bytes = check_request(&fixture.token, ORDERS_PATH).encode_to_vec();
    assert_eq!(
        CheckRequest::decode(bytes.as_slice()).expect("decodes"),
        check_request(&fixture.token, ORDERS_PATH)
    );

    // Measures: prost decode of a ~2.2 KB CheckRequest (20 headers with an RS256
    // bearer token, peers, context extensions) into owned Rust types.
    group.bench_function("check_request_decode", |b| {
        b.iter(|| CheckRequest::decode(black_box(bytes.as_slice())))
    });

    let policy = policy(fixture, ORDERS_RULE, "");
    let check = check_request(&fixture.token, ORDERS_PATH);
    let decision = evaluate(&policy, &to_http_request(&check, http_of(&check)), now);
    assert_allow(&decision, "orders-read", 3);
    let response = to_check_response(&decision);
    assert!(is_ok(&response) && response.dynamic_metadata.is_some());
    eprintln!(
        "wire: CheckRequest {} bytes, CheckResponse {} bytes, token {} bytes",
        bytes.len(),
        response.encoded_len(),
        fixture.token.len()
    );

    // Measures: prost encode to a new Vec of the allow CheckResponse built by
    // to_check_response (3 set headers, 1 removed header, metadata with all claims).
    group.bench_function("check_response_encode", |b| b.iter(|| black_box(&response).encode_to_vec()));
    // Measures: what the service does instead — the same answer built from
    // nothing and written straight from the decision into a reused buffer.
    group.bench_function("check_response_build_encode", |b| {
        b.iter(|| to_check_response(black_box(&decision)).encode_to_vec())
    });
    let mut buffer = Vec::with_capacity(4096);
    group.bench_function("answer_write", |b| {
        b.iter(|| {
            buffer.clear();
            write_answer(black_box(&decision), &mut buffer);
        })
    });
    group.finish();
}

fn end_to_end(c: &mut Criterion, fixture: &Fixture, now: u64) {
    let mut group = c.benchmark_group("end_to_end");
    let policy = policy(fixture, ORDERS_RULE, "");
    let bytes = check_request(&fixture.token, ORDERS_PATH).encode_to_vec();
    let check_once = |bytes: &[u8]| -> Vec<u8> {
        let check = CheckRequest::decode(bytes).expect("decodes");
        let decision = evaluate(&policy, &to_http_request(&check, http_of(&check)), now);
        let mut answer = Vec::with_capacity(1024);
        write_answer(&decision, &mut answer);
        answer
    };
    // Warm the cache and check the answer is an allow.
    let response = CheckResponse::decode(check_once(&bytes).as_slice()).expect("response decodes");
    assert!(is_ok(&response), "expected allow: {response:?}");

    // Measures: one Check minus gRPC/HTTP2 framing: decode bytes, to_http_request,
    // evaluate (cache hit), the answer written to a new Vec.
    group.bench_function("decode_decide_encode_hit", |b| b.iter(|| check_once(black_box(&bytes))));
    group.finish();
}

/// A revocation file of 10 000 `jti`, 1 000 `sid` and 1 000 `sub` entries
/// of the bench issuer (plus one issuer cut-off from long ago), none of
/// them covering the fixture's token.
fn revocation_file(dir: &std::path::Path, now: u64) -> std::path::PathBuf {
    let mut yaml = String::new();
    for i in 0..10_000 {
        yaml.push_str(&format!("- {{ issuer: \"{ISSUER}\", jti: jti-{i:05} }}\n"));
    }
    for i in 0..1_000 {
        yaml.push_str(&format!("- {{ issuer: \"{ISSUER}\", sid: sid-{i:04} }}\n"));
        yaml.push_str(&format!("- {{ issuer: \"{ISSUER}\", sub: user-{i:04}, issued_before: {now} }}\n"));
    }
    yaml.push_str(&format!("- {{ issuer: \"{ISSUER}\", issued_before: {} }}\n", now - 86_400));
    let path = dir.join("revoked.yaml");
    std::fs::write(&path, yaml).expect("write the revocation file");
    path
}

fn revocation(c: &mut Criterion, fixture: &Fixture, now: u64) {
    let mut group = c.benchmark_group("revocation");
    // The file source spawns its watcher: a runtime must be current.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let _entered = runtime.enter();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = revocation_file(dir.path(), now);
    let with = policy(
        fixture,
        ORDERS_RULE,
        &format!("revocation: {{ file: \"{}\", retention: 24h }}", file.display()),
    );
    let without = policy(fixture, ORDERS_RULE, "");
    let check = check_request(&fixture.token, ORDERS_PATH);
    let request = to_http_request(&check, http_of(&check));
    for policy in [&with, &without] {
        assert_allow(&evaluate(policy, &request, now), "orders-read", 3);
        assert_eq!(cached_tokens(policy), Some(1), "the warm-up must have cached the token");
    }

    // Measures: the cache hit of decision/cache_hit, with and without the
    // lookup in a set of 12 001 revocations (jti, sid, sub, one issuer
    // cut-off); the difference is what revocation costs the hot path.
    group.bench_function("cache_hit_no_revocations", |b| {
        b.iter(|| evaluate(black_box(&without), black_box(&request), black_box(now)))
    });
    group.bench_function("cache_hit_12k_revocations", |b| {
        b.iter(|| evaluate(black_box(&with), black_box(&request), black_box(now)))
    });
    group.finish();

    // The set is in force: a token of a subject it cuts off is refused, on
    // its first Check and from the cache.
    let claims = json!({
        "iss": ISSUER, "sub": "user-0001", "aud": "orders-api", "iat": now - 60, "exp": now + 3600,
        "scope": "orders:read",
    });
    let covered = fixture.key.mint(&claims).expect("mint token");
    let check = check_request(&covered, ORDERS_PATH);
    let request = to_http_request(&check, http_of(&check));
    for _ in 0..2 {
        match evaluate(&with, &request, now) {
            Decision::Deny(deny) => assert_eq!(deny.reason, DenyReason::Revoked),
            Decision::Allow(_) => panic!("a revoked subject was allowed"),
        }
        // Of the three identity claims this token has only `sub`.
        assert_allow(&evaluate(&without, &request, now), "orders-read", 1);
    }
}

criterion_group! {
    name = check;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = benches
}
criterion_main!(check);
