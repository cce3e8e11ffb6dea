//! Fixtures shared by the fuzz targets and the seed generator: fixed keys, a
//! fixed time, a policy with several kinds of rules, and the invariants every
//! decision must satisfy (a failed invariant panics, which libFuzzer reports
//! as a crash).
//!
//! Everything here is built once per process (`LazyLock`), so each fuzz
//! iteration only runs the code under test.

use std::sync::{Arc, LazyLock};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use gatehouse::internals::{
    from_yaml, policy_with_keys, Algorithm, Decision, HttpRequest, KeySet, KeySource, Policy, SigningKey,
    StaticKeys, Validation, VerifyingKey,
};
use serde_json::{json, Value};

/// The fixed "now" of every decision (2023-11-14), so a run is deterministic.
pub const NOW: u64 = 1_700_000_000;

/// Issuer of provider `hs` (HS256) in [`POLICY_YAML`].
pub const ISS_HS: &str = "https://fuzz.example";
/// Issuer of provider `es` (ES256) in [`POLICY_YAML`].
pub const ISS_ES: &str = "https://es.fuzz.example";

/// 64 bytes: enough for HS256, HS384 and HS512.
pub const HMAC_SECRET: &[u8] = b"fuzz-only-hmac-secret-0123456789-fuzz-only-hmac-secret-012345678";

/// A P-256 key made for these fuzz targets only (`gatehouse dev keygen --alg ES256
/// --kid es`). It protects nothing; it is fixed so that seed tokens verify.
pub const ES256_KEY_JSON: &str = include_str!("../keys/es256.json");

/// The HS256 signing key (kid `hs`) matching [`HMAC_SECRET`].
pub fn hs256_signing_key() -> SigningKey {
    let json = json!({ "alg": "HS256", "kid": "hs", "secret": STANDARD.encode(HMAC_SECRET) });
    SigningKey::from_json(&json.to_string()).expect("fixed HMAC key loads")
}

/// The ES256 signing key (kid `es`) from [`ES256_KEY_JSON`].
pub fn es256_signing_key() -> SigningKey {
    SigningKey::from_json(ES256_KEY_JSON).expect("fixed ES256 key loads")
}

fn build_key_set() -> KeySet {
    let hmac = VerifyingKey::hmac(
        Some("hs".into()),
        HMAC_SECRET,
        &[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512],
    )
    .expect("HMAC verifying key");
    let jwk = es256_signing_key().public_jwk();
    let coordinate = |name: &str| {
        URL_SAFE_NO_PAD.decode(jwk[name].as_str().expect("EC JWK coordinate")).expect("base64url coordinate")
    };
    let ec = VerifyingKey::ec(Some("es".into()), Algorithm::ES256, &coordinate("x"), &coordinate("y"))
        .expect("ES256 verifying key");
    KeySet::new(vec![hmac, ec])
}

/// The HMAC key (kid `hs`, HS256/384/512) and the ES256 key (kid `es`).
pub static KEYS: LazyLock<KeySet> = LazyLock::new(build_key_set);

/// A key source serving [`KEYS`], used for every provider of every policy.
pub fn static_keys() -> Arc<dyn KeySource> {
    static SOURCE: LazyLock<Arc<dyn KeySource>> =
        LazyLock::new(|| Arc::new(StaticKeys::new(build_key_set(), "inline")));
    SOURCE.clone()
}

/// Validations the `token` target verifies against: HS only (with the strict
/// settings), ES only (lenient), and both algorithms at once.
pub static VALIDATIONS: LazyLock<Vec<Validation>> = LazyLock::new(|| {
    vec![
        Validation {
            issuer: ISS_HS.into(),
            audiences: vec!["api".into()],
            algorithms: vec![Algorithm::HS256],
            clock_skew_secs: 60,
            max_lifetime_secs: Some(86_400),
            require_expiration: true,
            token_types: Vec::new(),
        },
        Validation {
            issuer: ISS_ES.into(),
            audiences: Vec::new(),
            algorithms: vec![Algorithm::ES256],
            clock_skew_secs: 0,
            max_lifetime_secs: None,
            require_expiration: false,
            token_types: Vec::new(),
        },
        Validation {
            issuer: ISS_HS.into(),
            audiences: vec!["api".into(), "other".into()],
            algorithms: vec![Algorithm::HS256, Algorithm::HS512, Algorithm::ES256],
            clock_skew_secs: 3600,
            max_lifetime_secs: Some(0),
            require_expiration: false,
            token_types: Vec::new(),
        },
    ]
});

/// The policy of the `check_request` target: two providers (HS256 with every
/// token source kind, ES256 with a custom header), anonymous / optional /
/// require rules, regex, header and host matchers, nested requirements, CORS
/// bypass. The token cache is off here; [`CACHED_POLICY`] is the same with it on.
pub const POLICY_YAML: &str = r#"
providers:
  - name: hs
    issuer: https://fuzz.example
    audiences: [api]
    algorithms: [HS256]
    hmac_secret: { env: GATEHOUSE_FUZZ_UNUSED }
    token_sources:
      - header: authorization
        prefix: "Bearer "
      - cookie: access_token
      - query: access_token
    max_lifetime: 24h
    claims_to_headers:
      - { claim: sub, header: X-User-Id }
      - { claim: org.id, header: x-org-id }
      - { claim: roles, header: x-roles }
    payload_header: x-jwt-payload
    forward_token: false
  - name: es
    issuer: https://es.fuzz.example
    algorithms: [ES256]
    jwks: { uri: https://es.fuzz.example/jwks.json }
    token_sources:
      - header: x-token
      - header: authorization
        prefix: "Bearer "
    clock_skew: 0s
    require_expiration: false
    claims_to_headers:
      - { claim: sub, header: x-user-id }
      - { claim: email, header: x-email }
    forward_token: true
rules:
  - name: health
    match: { path: /healthz, methods: [GET] }
    allow: anonymous
  - name: public
    match: { path_prefix: /public }
    allow: anonymous
  - name: catalog
    match: { path_prefix: /catalog }
    allow: optional
  - name: orders-read
    match:
      host: "*.example.com"
      path_regex: "/orders/[0-9]+"
      methods: [GET, HEAD]
      headers:
        - { name: x-tenant, exact: acme }
        - { name: x-debug, present: false }
    require:
      providers: [hs]
      scopes_all: [orders:read]
      claims:
        - { claim: org.id, one_of: [acme, globex] }
  - name: admin
    match:
      path_prefix: /admin
      headers:
        - { name: x-tenant, regex: "[a-z]{1,8}" }
        - { name: x-env, prefix: prod }
    require:
      any_of:
        - { claims: [ { claim: groups, contains: ops } ] }
        - { scopes_any: [orders:admin, admin] }
        - all_of:
            - { providers: [es] }
            - { claims: [ { claim: email, regex: ".+@fuzz\\.example" } ] }
  - name: es-only
    match: { path_prefix: /es }
    require:
      providers: [es]
      claims:
        - { claim: sub, prefix: svc- }
        - { claim: level, equals: 3 }
  - name: any
    match: { path_prefix: /api }
    require: {}
default: deny
bypass_cors_preflight: true
cache: { enabled: false }
limits: { max_token_bytes: 8192, max_headers: 64, max_header_bytes: 16384 }
"#;

fn compile(yaml: &str) -> Policy {
    let specs = from_yaml(yaml).unwrap_or_else(|e| panic!("fuzz policy does not load: {e}"));
    let sources = (0..specs.providers()).map(|_| static_keys()).collect();
    policy_with_keys(specs, sources)
}

/// [`POLICY_YAML`] compiled, cache off.
pub static POLICY: LazyLock<Policy> = LazyLock::new(|| compile(POLICY_YAML));

/// [`POLICY_YAML`] with the verified-token cache on (small, so it stays bounded
/// over millions of iterations): its decisions must equal [`POLICY`]'s.
pub static CACHED_POLICY: LazyLock<Policy> = LazyLock::new(|| {
    compile(&POLICY_YAML.replace("cache: { enabled: false }", "cache: { enabled: true, max_entries: 256 }"))
});

/// Valid claims for `issuer` at [`NOW`], with `extra` merged over them.
pub fn claims(issuer: &str, extra: Value) -> Value {
    let mut base = json!({
        "iss": issuer, "aud": "api", "sub": "alice", "iat": NOW - 10, "exp": NOW + 300,
        "scope": "orders:read profile", "org": { "id": "acme" }, "groups": ["ops"],
        "email": "alice@fuzz.example", "roles": ["reader", "writer"], "level": 3,
    });
    let map = base.as_object_mut().expect("object");
    for (key, value) in extra.as_object().expect("extra claims must be an object") {
        if value.is_null() {
            map.remove(key);
        } else {
            map.insert(key.clone(), value.clone());
        }
    }
    base
}

/// Tokens that verify under [`POLICY`] (and the first two [`VALIDATIONS`]).
pub static GOOD_TOKENS: LazyLock<(String, String)> = LazyLock::new(|| {
    let hs = hs256_signing_key().mint(&claims(ISS_HS, json!({}))).expect("mint HS256");
    let es = es256_signing_key()
        .mint(&claims(ISS_ES, json!({ "sub": "svc-batch", "exp": null })))
        .expect("mint ES256");
    (hs, es)
});

/// Checks the invariants every decision of `policy` must satisfy; panics (a
/// fuzz finding) if one does not hold.
///
/// On allow: no header is both set and removed, none is set twice, set names
/// are lower-case, set values carry no control characters, a provider comes
/// with a token, and every identity header of every provider is either set or
/// removed (so a client-sent copy never reaches the upstream).
pub fn check_decision(policy: &Policy, decision: &Decision) {
    let Decision::Allow(allow) = decision else { return };
    for (name, value) in allow.set_headers.iter() {
        assert!(!allow.remove_headers.contains(name), "header `{name}` both set and removed: {allow:?}");
        assert_eq!(allow.set_headers.iter().filter(|(n, _)| n == name).count(), 1, "`{name}` set twice");
        assert_eq!(name.to_ascii_lowercase(), **name, "header name `{name}` not lower-cased");
        assert!(
            value.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f)),
            "header `{name}` carries a control character: {value:?}"
        );
    }
    assert_eq!(allow.provider.is_some(), allow.token.is_some(), "provider and token go together");
    for identity in gatehouse::internals::identity_headers(policy) {
        let set = allow.set_headers.iter().any(|(n, _)| n == identity);
        let removed = allow.remove_headers.contains(identity);
        assert!(set || removed, "identity header `{identity}` neither set nor removed: {allow:?}");
    }
}

/// Owned header list that borrows into an [`HttpRequest`].
pub struct OwnedRequest {
    pub method: &'static str,
    pub host: &'static str,
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
}

impl OwnedRequest {
    pub fn request(&self) -> HttpRequest<'_> {
        HttpRequest {
            method: self.method,
            host: self.host,
            path: &self.path,
            headers: self.headers.iter().map(|(n, v)| (*n, v.as_bytes())).collect(),
            context_extensions: None,
        }
    }
}

/// A handful of requests the `config` target decides under each fuzzed
/// policy: anonymous, each good token by header, cookie, query and custom
/// header, a CORS preflight, and a path that needs normalizing.
pub static PROBE_REQUESTS: LazyLock<Vec<OwnedRequest>> = LazyLock::new(|| {
    let (hs, es) = &*GOOD_TOKENS;
    let req = |method, host, path: &str, headers: Vec<(&'static str, String)>| OwnedRequest {
        method,
        host,
        path: path.to_owned(),
        headers,
    };
    vec![
        req("GET", "api.example.com", "/", vec![]),
        req(
            "GET",
            "api.example.com:8443",
            "/orders/12?x=1",
            vec![("authorization", format!("Bearer {hs}")), ("x-tenant", "acme".into())],
        ),
        req("POST", "svc.internal", "/admin/../es/x", vec![("x-token", es.clone())]),
        req("GET", "api.example.com", "/catalog", vec![("cookie", format!("a=b; access_token={hs}"))]),
        req("HEAD", "api.example.com", &format!("/api/v1?access_token={hs}"), vec![]),
        req(
            "OPTIONS",
            "api.example.com",
            "/admin",
            vec![("origin", "https://app.example".into()), ("access-control-request-method", "PUT".into())],
        ),
        req(
            "GET",
            "Api.Example.COM",
            "/admin/%2e%2e/public//x",
            vec![
                ("authorization", format!("Bearer {es}")),
                ("x-tenant", "ops".into()),
                ("x-env", "prod-1".into()),
            ],
        ),
    ]
});
