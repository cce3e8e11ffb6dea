//! Opaque credentials on the Check path, beside a JWT's cache hit in the
//! same run: an introspected token and an API key, each from the
//! verified-token cache and without it (then the introspection answer or
//! the key file is read from memory and the identity built again).

use std::hint::black_box;

use criterion::Criterion;
use serde_json::json;

use gatehouse::internals::{
    api_key_sha256_hex, cached_tokens, evaluate, from_yaml, start_policy, to_http_request, Authorizer, Policy,
};
use gatehouse_testkit::idp::{Idp, Mode, CLIENT_SECRET};
use gatehouse_testkit::{active_answer, opaque_token};

use super::{assert_allow, check_request, check_request_with, http_of, Fixture, ORDERS_PATH, ORDERS_RULE};

/// Providers `idp` (the fixture's JWT issuer, as in the other benches),
/// `as` (introspection at the test IdP) and `partners` (API keys).
fn opaque_policy(fixture: &Fixture, idp: &Idp, dir: &std::path::Path, key: &str, extra: &str) -> Policy {
    let secret = dir.join("secret");
    std::fs::write(&secret, CLIENT_SECRET).expect("write the secret");
    let keys = dir.join("api-keys.yaml");
    let entry = format!(
        "- key_sha256: {}\n  claims: {{ sub: user-7f3c9a12, scope: \"orders:read\", org: {{ id: org-42 }}, email: alice@example.com }}\n",
        api_key_sha256_hex(key)
    );
    std::fs::write(&keys, entry).expect("write the API keys");
    let yaml = format!(
        r#"
providers:
  - name: idp
    issuer: {issuer}
    audiences: [orders-api]
    jwks: {{ inline: '{jwks}' }}
    claims_to_headers: [{{ claim: sub, header: x-user-id }}, {{ claim: org.id, header: x-org-id }}, {{ claim: email, header: x-email }}]
  - name: as
    issuer: {as_issuer}
    audiences: [orders-api]
    introspection: {{ endpoint: "{endpoint}", client_id: gatehouse, client_secret: {{ file: "{secret}" }}, wait: 2s }}
    claims_to_headers: [{{ claim: sub, header: x-user-id }}, {{ claim: org.id, header: x-org-id }}, {{ claim: email, header: x-email }}]
  - name: partners
    issuer: https://keys.partners
    api_keys: {{ file: "{keys}" }}
    claims_to_headers: [{{ claim: sub, header: x-user-id }}, {{ claim: org.id, header: x-org-id }}, {{ claim: email, header: x-email }}]
rules:
{ORDERS_RULE}
{extra}
"#,
        issuer = super::ISSUER,
        jwks = fixture.jwks,
        as_issuer = gatehouse_testkit::AS_ISSUER,
        endpoint = idp.introspection_uri(),
        secret = secret.display(),
        keys = keys.display(),
    )
    .replace("providers: [idp]", "providers: [idp, as, partners]");
    let specs = from_yaml(&yaml).unwrap_or_else(|e| panic!("bench config does not load:\n{e}\n---\n{yaml}"));
    start_policy(specs).expect("the providers start")
}

pub(super) fn benches(c: &mut Criterion, fixture: &Fixture, now: u64) {
    // The IdP and the key-file watcher run on this runtime, in the background.
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let _entered = runtime.enter();
    let idp = runtime.block_on(Idp::start(Mode::Fail));
    let dir = tempfile::tempdir().expect("temp dir");
    let opaque = opaque_token();
    let claims = json!({ "sub": "user-7f3c9a12", "org": { "id": "org-42" }, "email": "alice@example.com",
        "scope": "openid profile email orders:read orders:write", "jti": "5b1f0c2e-8d7a-4e3b-9a61-0c4d2f7e8b90" });
    idp.answer(&opaque, active_answer(claims));
    let key = format!("gh_{:032x}", rand::random::<u128>());

    let mut group = c.benchmark_group("opaque");
    for (cache, extra) in [("cache_hit", ""), ("no_token_cache", super::NO_CACHE)] {
        let policy = opaque_policy(fixture, &idp, dir.path(), &key, extra);
        let requests = [
            ("jwt", check_request(&fixture.token, ORDERS_PATH)),
            ("introspected", check_request(&opaque, ORDERS_PATH)),
            ("api_key", check_request_with(&format!("ApiKey {key}"), ORDERS_PATH)),
        ];
        for (kind, check) in &requests {
            let request = to_http_request(check, http_of(check));
            // The first Check of the opaque token asks the IdP; every later one reads memory.
            let first = runtime.block_on(Authorizer::new().check(&policy, &request));
            assert_allow(&first, "orders-read", 3);
            assert_allow(&evaluate(&policy, &request, now), "orders-read", 3);
            group.bench_function(format!("{cache}/{kind}"), |b| {
                b.iter(|| evaluate(black_box(&policy), black_box(&request), black_box(now)))
            });
        }
        if extra.is_empty() {
            assert_eq!(cached_tokens(&policy), Some(3), "measured calls must all be hits");
        }
    }
    group.finish();
    assert_eq!(idp.introspections(), 2, "one call per policy, none while measuring");
}
