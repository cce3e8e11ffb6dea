//! Writes the seed corpora under `fuzz/corpus/<target>/` (replacing the files
//! it wrote before; other files are left alone). Run from the repository root:
//!
//!     cargo run --manifest-path fuzz/Cargo.toml --example seed [TARGET...]
//!
//! (every target's corpus by default, else only the named ones).
//!
//! Seeds: tokens valid and invalid (minted with `gatehouse::internals::SigningKey`
//! and the fuzz fixture keys), encoded CheckRequests aimed at each rule of the
//! fuzz policy, the repository's example configs, and the tricky paths of
//! `src/path/tests.rs`. ES256 signatures are randomized, so a rerun
//! changes those files' bytes, not what they exercise.

use std::fs;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use gatehouse::internals::wire::{AttributeContext, CheckRequest};
use gatehouse::internals::CheckRequestBuilder;
use gatehouse_fuzz::{
    claims, es256_signing_key, hs256_signing_key, GOOD_TOKENS, ISS_ES, ISS_HS, NOW, POLICY_YAML,
};
use prost::Message;
use serde_json::json;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let corpus = root.join("corpus");
    // Targets named on the command line, or all of them.
    let only: Vec<String> = std::env::args().skip(1).collect();
    let wanted = |target: &str| only.is_empty() || only.iter().any(|t| t == target);
    if wanted("token") {
        write_all(
            &corpus.join("token"),
            "seed-token",
            &tokens().into_iter().map(String::into_bytes).collect::<Vec<_>>(),
        );
    }
    if wanted("check_request") {
        let checks = check_requests();
        summarize(&checks);
        write_all(&corpus.join("check_request"), "seed-check", &checks);
    }
    if wanted("config") {
        write_all(&corpus.join("config"), "seed-config", &configs(&root.join("..")));
    }
    if wanted("path") {
        write_all(
            &corpus.join("path"),
            "seed-path",
            &PATHS.iter().map(|p| p.as_bytes().to_vec()).collect::<Vec<_>>(),
        );
    }
    if wanted("jwt_oracle") {
        write_all(&corpus.join("jwt_oracle"), "seed-oracle", &oracle_inputs());
    }
}

/// The `jwt_oracle` target's inputs: every token seed as is, then
/// structure-aware inputs (a first byte below 0x20: bit 0 the key, HS256 `hs`
/// or ES256 `es`; bits 1-2 the variant; bit 3 a flipped signature bit; see
/// the target's doc) with valid and odd headers and payloads.
fn oracle_inputs() -> Vec<Vec<u8>> {
    let hs_claims = claims(ISS_HS, json!({})).to_string();
    let es_claims = claims(ISS_ES, json!({ "sub": "svc-batch" })).to_string();
    let structured = |selector: u8, rest: &[u8]| [&[selector][..], rest].concat();
    let header_and_payload = |selector: u8, header: &str, payload: &str| {
        structured(selector, &[header.as_bytes(), &[0], payload.as_bytes()].concat())
    };
    let mut seeds: Vec<Vec<u8>> = tokens().into_iter().map(String::into_bytes).collect();
    seeds.extend([
        // Variant 0 (header 0x00 payload), HS256 and ES256 keys.
        header_and_payload(0, r#"{"alg":"HS256","kid":"hs"}"#, &hs_claims),
        header_and_payload(1, r#"{"alg":"ES256","kid":"es"}"#, &es_claims),
        header_and_payload(0, r#"{"alg":"HS512"}"#, &hs_claims),
        header_and_payload(0, r#"{"alg":"HS256","kid":"hs","typ":7,"jwk":{"kty":"oct"}}"#, &hs_claims),
        header_and_payload(0, r#"{"alg":"HS256","crit":["b64"],"b64":true}"#, &hs_claims),
        header_and_payload(1, r#"{"alg":"ES256","kid":"hs"}"#, &es_claims),
        // Variant 1 (payload under the key's header).
        structured(2, hs_claims.as_bytes()),
        structured(3, es_claims.as_bytes()),
        structured(
            2,
            br#"{"iss":"https://fuzz.example","exp":1700000100,"n":[1e308,-0,0.1,18446744073709551615]}"#,
        ),
        // Variant 2 (header over valid claims).
        structured(4, br#"{"alg":"HS256","kid":"hs","x5c":["AA"],"enc":"A256GCM"}"#),
        structured(5, br#"{"alg":"ES256"}"#),
        // Variant 3 (members appended to valid claims), and a flipped signature bit.
        structured(6, br#","extra":{"a":[true,null,"\u00e9"]}"#),
        structured(7, br#","iss":"https://es.fuzz.example""#),
        structured(8, hs_claims.as_bytes()),
        structured(9, br#"{"alg":"ES256","kid":"es"}"#),
    ]);
    seeds
}

/// Prints what the fuzz policy decides for each CheckRequest seed, so a
/// change to the policy or the seeds that leaves no seed allowed is seen.
fn summarize(checks: &[Vec<u8>]) {
    use gatehouse::internals::{evaluate, to_http_request, Decision};
    for (i, bytes) in checks.iter().enumerate() {
        let check = CheckRequest::decode(bytes.as_slice()).expect("seed decodes");
        let Some(http) =
            check.attributes.as_ref().and_then(|a| a.request.as_ref()).and_then(|r| r.http.as_ref())
        else {
            println!("  check {i:03}: no HTTP attributes");
            continue;
        };
        let outcome = match evaluate(&gatehouse_fuzz::POLICY, &to_http_request(&check, http), NOW) {
            Decision::Allow(allow) => format!("allow rule={} provider={:?}", allow.rule, allow.provider),
            Decision::Deny(deny) => format!("deny {} rule={:?}", deny.reason.as_str(), deny.rule),
        };
        println!(
            "  check {i:03}: {} {} -> {outcome}",
            http.method,
            http.path.chars().take(40).collect::<String>()
        );
    }
}

fn write_all(dir: &Path, prefix: &str, seeds: &[Vec<u8>]) {
    fs::create_dir_all(dir).expect("create corpus dir");
    for entry in fs::read_dir(dir).expect("read corpus dir").flatten() {
        if entry.file_name().to_string_lossy().starts_with(prefix) {
            fs::remove_file(entry.path()).expect("remove old seed");
        }
    }
    for (i, seed) in seeds.iter().enumerate() {
        fs::write(dir.join(format!("{prefix}-{i:03}")), seed).expect("write seed");
    }
    println!("{}: {} seeds", dir.display(), seeds.len());
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn tokens() -> Vec<String> {
    let hs = hs256_signing_key();
    let es = es256_signing_key();
    let (good_hs, good_es) = GOOD_TOKENS.clone();
    let hs_claims = |extra| claims(ISS_HS, extra).to_string();
    let raw = |header: &str, payload: &str| hs.sign_raw(header.as_bytes(), payload.as_bytes()).unwrap();
    let hs_header = r#"{"alg":"HS256","typ":"JWT","kid":"hs"}"#;
    let mut tampered = good_hs.clone();
    tampered.pop();
    tampered.push(if good_hs.ends_with('A') { 'B' } else { 'A' });
    let (head, rest) = good_hs.split_once('.').unwrap();
    vec![
        good_hs.clone(),
        good_es.clone(),
        tampered,
        format!("{head}.{rest}="),
        format!("{good_hs}."),
        // Just under and just over the 8192-byte limit.
        hs.mint(&claims(ISS_HS, json!({ "pad": "x".repeat(5800) }))).unwrap(),
        hs.mint(&claims(ISS_HS, json!({ "pad": "x".repeat(6000) }))).unwrap(),
        hs.mint(&claims(ISS_HS, json!({ "exp": NOW - 3600 }))).unwrap(),
        hs.mint(&claims(ISS_HS, json!({ "nbf": NOW + 3600 }))).unwrap(),
        hs.mint(&claims(ISS_HS, json!({ "iat": NOW + 3600 }))).unwrap(),
        hs.mint(&claims(ISS_HS, json!({ "aud": ["x", "api"] }))).unwrap(),
        hs.mint(&claims(ISS_HS, json!({ "aud": "nope" }))).unwrap(),
        hs.mint(&claims(ISS_HS, json!({ "exp": 1e300, "iat": -1.5 }))).unwrap(),
        hs.mint(&claims(ISS_HS, json!({ "exp": "soon" }))).unwrap(),
        hs.mint(&claims(ISS_HS, json!({ "iss": ISS_ES }))).unwrap(),
        es.mint(&claims(ISS_HS, json!({}))).unwrap(),
        es.mint(&claims(ISS_ES, json!({ "exp": NOW - 1 }))).unwrap(),
        raw(r#"{"alg":"HS512","kid":"hs"}"#, &hs_claims(json!({}))),
        raw(r#"{"alg":"HS256"}"#, &hs_claims(json!({}))),
        raw(r#"{"alg":"HS256","kid":"unknown"}"#, &hs_claims(json!({}))),
        raw(r#"{"alg":"none","kid":"hs"}"#, &hs_claims(json!({}))),
        raw(r#"{"alg":"HS256","crit":["exp"]}"#, &hs_claims(json!({}))),
        raw(r#"{"alg":"HS256","b64":false}"#, &hs_claims(json!({}))),
        raw(r#"{"alg":"HS256","cty":"JWT"}"#, &hs_claims(json!({}))),
        raw(
            r#"{"alg":"HS256","jku":"https://evil.example/jwks","jwk":{"kty":"oct"}}"#,
            &hs_claims(json!({})),
        ),
        raw(r#"{"alg":"HS256","alg":"HS256"}"#, &hs_claims(json!({}))),
        raw(hs_header, r#"{"iss":"https://fuzz.example","iss":"https://fuzz.example","exp":1700000100}"#),
        raw(hs_header, r#"{"iss":"https://fuzz.example","exp":1700000100,"sub":"\u0000\ud800"}"#),
        raw(hs_header, r#"{"iss":"https://fuzz.example","exp":1700000100,"a":[[[[[[[[[[{}]]]]]]]]]]}"#),
        raw(hs_header, r#"[]"#),
        raw(hs_header, r#"{"iss":"https://fuzz.example","exp":17e8,"aud":[]} "#),
        format!("{}.{}.", b64(br#"{"alg":"none"}"#), b64(hs_claims(json!({})).as_bytes())),
        format!("{}.{}.{}.{}.{}", b64(br#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#), "a", "b", "c", "d"),
        "eyJhbGciOiJIUzI1NiJ9.e30.".to_owned(),
        "..".to_owned(),
        ".".to_owned(),
        String::new(),
        "Bearer abc".to_owned(),
    ]
}

fn check(
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    raw_headers: &[(&str, &[u8])],
    context: &[(&str, &str)],
) -> Vec<u8> {
    let builder = CheckRequestBuilder::new(method, path).host(host).id("17").scheme("https", "HTTP/2");
    let builder = raw_headers.iter().fold(builder.headers(headers), |b, (k, v)| b.raw_header(k, v));
    context.iter().fold(builder, |b, (k, v)| b.context(k, v)).build().encode_to_vec()
}

fn check_requests() -> Vec<Vec<u8>> {
    let (hs, es) = GOOD_TOKENS.clone();
    let bearer_hs = format!("Bearer {hs}");
    let bearer_es = format!("Bearer {es}");
    let cookie = format!("theme=dark; access_token={hs}");
    let hs_scoped = hs256_signing_key()
        .mint(&claims(ISS_HS, json!({ "scope": "orders:admin", "org": { "id": "initech" }, "groups": [] })))
        .unwrap();
    let bearer_scoped = format!("Bearer {hs_scoped}");
    let hs_ctl =
        hs256_signing_key().mint(&claims(ISS_HS, json!({ "sub": "al\nice", "roles": "r\u{7f}" }))).unwrap();
    let bearer_ctl = format!("Bearer {hs_ctl}");
    let many: Vec<(String, String)> = (0..70).map(|i| (format!("x-h{i}"), "v".to_owned())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    vec![
        check("GET", "api.example.com", "/healthz", &[], &[], &[]),
        check("GET", "api.example.com", "/public/x?y=1", &[("x-user-id", "mallory")], &[], &[]),
        check("GET", "api.example.com", "/catalog/1", &[], &[], &[]),
        check("GET", "api.example.com", "/catalog/1", &[("authorization", "Bearer not.a.token")], &[], &[]),
        check(
            "GET",
            "api.example.com:443",
            "/orders/12",
            &[("authorization", &bearer_hs), ("x-tenant", "acme"), ("x-org-id", "spoof")],
            &[],
            &[],
        ),
        check("HEAD", "shop.example.com", "/orders/7?access_token=abc", &[("x-tenant", "acme")], &[], &[]),
        check(
            "GET",
            "api.example.com",
            &format!("/orders/12?access_token={hs}"),
            &[("x-tenant", "acme")],
            &[],
            &[],
        ),
        check("GET", "api.example.com", "/orders/12", &[("cookie", &cookie), ("x-tenant", "acme")], &[], &[]),
        check(
            "GET",
            "api.example.com",
            "/orders/12",
            &[("authorization", &bearer_scoped), ("x-tenant", "acme")],
            &[],
            &[],
        ),
        check(
            "POST",
            "svc.internal",
            "/admin/users",
            &[("authorization", &bearer_scoped), ("x-tenant", "acme"), ("x-env", "production")],
            &[],
            &[],
        ),
        check(
            "POST",
            "svc.internal",
            "/admin/users",
            &[("x-token", &es), ("x-tenant", "ops"), ("x-env", "prod")],
            &[],
            &[],
        ),
        check("GET", "svc.internal", "/es/jobs", &[("x-token", &es)], &[], &[]),
        check(
            "GET",
            "svc.internal",
            "/es/jobs",
            &[("authorization", &bearer_es), ("x-token", &es)],
            &[],
            &[],
        ),
        check("GET", "svc.internal", "/api/x", &[("authorization", &bearer_ctl)], &[], &[]),
        check(
            "GET",
            "svc.internal",
            "/api/x",
            &[],
            &[("authorization", bearer_hs.as_bytes()), ("authorization", b"Bearer x")],
            &[],
        ),
        check(
            "GET",
            "svc.internal",
            "/api/x",
            &[],
            &[("authorization", bearer_es.as_bytes()), ("x-b", b"\xff\xfe")],
            &[],
        ),
        check(
            "GET",
            "svc.internal",
            "/api/x",
            &[("authorization", &bearer_hs)],
            &[],
            &[("gatehouse_rule", "admin")],
        ),
        check(
            "GET",
            "svc.internal",
            "/api/x",
            &[("authorization", &bearer_hs)],
            &[],
            &[("gatehouse_rule", "nope")],
        ),
        check(
            "OPTIONS",
            "api.example.com",
            "/admin",
            &[("origin", "https://app.example"), ("access-control-request-method", "DELETE")],
            &[],
            &[],
        ),
        check("GET", "api.example.com", "/public/%2e%2e/admin", &[], &[], &[]),
        check("GET", "api.example.com", "/public//../admin", &[], &[], &[]),
        check("GET", "api.example.com", "/a%2fb", &[], &[], &[]),
        check("GET", "api.example.com", "relative", &[], &[], &[]),
        check("GET", "api.example.com", "/api/many", &many, &[], &[]),
        CheckRequest { attributes: Some(AttributeContext::default()) }.encode_to_vec(),
        Vec::new(),
    ]
}

fn configs(repo: &Path) -> Vec<Vec<u8>> {
    let mut seeds = vec![POLICY_YAML.as_bytes().to_vec()];
    for file in ["deploy/kubernetes/base/config.yaml", "deploy/kubernetes/sidecar/config.yaml"] {
        seeds.push(fs::read(repo.join(file)).unwrap_or_else(|e| panic!("{file}: {e}")));
    }
    // The README's YAML blocks that are gatehouse configs (not Envoy or Kubernetes ones).
    let readme = fs::read_to_string(repo.join("README.md")).expect("README.md");
    for block in readme.split("```yaml").skip(1).filter_map(|b| b.split("```").next()) {
        let trimmed = block.trim_start();
        if ["server:", "providers:", "rules:", "telemetry:"].iter().any(|k| trimmed.starts_with(k)) {
            seeds.push(block.as_bytes().to_vec());
        }
    }
    let inline_jwks = gatehouse::internals::jwks_json(&[&es256_signing_key()]).replace('\n', "");
    seeds.extend(
        [
            "providers:\n  - name: a\n    issuer: https://a.example\n    hmac_secret: { env: X }\n".to_owned(),
            format!(
                "providers:\n  - name: e\n    issuer: {ISS_ES}\n    jwks:\n      inline: '{inline_jwks}'\n\
                 rules:\n  - match: {{ path_regex: \"/(a|b)+/[^/]*\" }}\n    require: {{ claims: [ {{ claim: sub, regex: \"svc-.*\" }} ] }}\n"
            ),
            "providers:\n  - name: f\n    issuer: https://f.example\n    jwks:\n      file: /nonexistent\n      refresh_interval: 1s\n      max_stale: 0s\n\
             default: allow_anonymous\nallow_encoded_slashes: true\nlimits: { max_token_bytes: 0, max_headers: 0 }\n"
                .to_owned(),
            "providers: []\nrules: [ { allow: anonymous, require: {} } ]\n".to_owned(),
            "providers:\n  - &p { name: a, issuer: x, hmac_secret: { file: /dev/null } }\n  - *p\n".to_owned(),
            "server: { grpc_addr: 'nope' }\nunknown: 1\n".to_owned(),
            "{}".to_owned(),
            "- a\n- b\n".to_owned(),
            "providers:\n  - name: a\n    issuer: x\n    hmac_secret: { env: X }\n    clock_skew: 99999h\n    max_lifetime: 1ms\n".to_owned(),
        ]
        .map(String::into_bytes),
    );
    seeds
}

/// The raw paths of `src/path/tests.rs` (CASES and the borrow test), and a few more.
const PATHS: &[&str] = &[
    "/",
    "/api/v1/users",
    "/a/b?x=1&y=/../admin",
    "/a/b#frag",
    "/a?q#f",
    "/a#f?q",
    "/?x",
    "/a/./b",
    "/a/../b",
    "/../../x",
    "/a//b",
    "///a////b///",
    "/public/../admin",
    "/public/%2e%2e/admin",
    "/public/%2E%2E/admin",
    "/public/.%2E/admin",
    "/public//%2e%2e/admin",
    "/public//../admin",
    "/a//b/../c",
    "/%61dmin",
    "/%41dmin",
    "/%2D%5f%7E%2e",
    "/v%31",
    "/a%3ab",
    "/a%3Ab",
    "/a%3A%3a%2e%2E%7e",
    "/%252e%252e/admin",
    "/a%00b",
    "/a\\..\\admin",
    "/a\\b",
    "/a/b/",
    "/a/b/.",
    "/a/b/..",
    "/a/..",
    "/.",
    "/..",
    "/a/..b/c.",
    "/a/.../b",
    "/caf\u{e9}/../men\u{fc}",
    "/a%2fb",
    "/a%2Fb",
    "/a%5Cb",
    "/a%5cb",
    "/a%5cb/../c",
    "/a%2F..%2Fadmin",
    "/a%",
    "/a%4",
    "/a%4?x",
    "/a%zz",
    "/a%4g",
    "/%2f%zz",
    "/a\0b",
    "/a\nb",
    "/a\r",
    "/a\tb",
    "/a\x7f",
    "",
    "?x",
    "a/b",
    "*",
    "http://host/admin",
    "../admin",
    "/caf\u{e9}",
    "/%2e/%2e%2e/./x/%2E",
    "/\\\\a/..\\b",
    "/a/%3F/%23/x?%2e#/..",
];
