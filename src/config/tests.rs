// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
use super::*;

const MINIMAL: &str = r#"
providers:
  - name: corp
    issuer: https://idp.example.com
    jwks: { uri: https://idp.example.com/jwks.json }
"#;

fn problems(yaml: &str) -> Vec<Problem> {
    match from_yaml(yaml) {
        Err(ConfigError::Invalid(problems)) => problems,
        other => panic!("expected problems, got {other:?}"),
    }
}

fn paths(yaml: &str) -> Vec<String> {
    problems(yaml).into_iter().map(|p| p.path).collect()
}

/// The parsed config of a file that builds.
fn accepted(yaml: &str) -> Config {
    if let Err(error) = from_yaml(yaml) {
        panic!("expected the file to be accepted, got:\n{error}");
    }
    parse(yaml).expect("a file that builds parses")
}

#[test]
fn minimal_config_gets_documented_defaults() {
    let config = accepted(MINIMAL);
    assert_eq!(config.server.grpc_addr.to_string(), "0.0.0.0:9001");
    assert_eq!(config.server.http_addr.to_string(), "0.0.0.0:9090");
    let provider = &config.providers[0];
    assert_eq!(provider.clock_skew, Duration::from_secs(60));
    assert!(provider.require_expiration);
    assert!(!provider.forward_token);
    assert_eq!(provider.effective_token_sources()[0].header.as_deref(), Some("authorization"));
    assert_eq!(provider.effective_token_sources()[0].prefix.as_deref(), Some("Bearer "));
    assert_eq!(provider.jwks.as_ref().unwrap().refresh_interval, Duration::from_secs(300));
    assert!(provider.effective_algorithms().iter().all(|a| !a.is_symmetric()));
    assert_eq!(config.default, DefaultAction::Deny);
    assert_eq!(config.limits.max_token_bytes, 8192);
    assert_eq!(config.cache.max_bytes, 256 * 1024 * 1024);
    assert_eq!(config.dynamic_metadata.claims, ["sub", "iss", "scope", "scp"]);
    assert!(!config.dynamic_metadata.all_claims);
}

#[test]
fn dynamic_metadata_and_cache_budget_problems_name_their_keys() {
    let yaml = format!(
        "{MINIMAL}dynamic_metadata: {{ claims: [sub, org..id, rule, sub, ''] }}\ncache: {{ max_bytes: 1000 }}\n"
    );
    let mut found = paths(&yaml);
    found.sort();
    assert_eq!(
        found,
        [
            "cache.max_bytes",
            "dynamic_metadata.claims[1]",
            "dynamic_metadata.claims[2]",
            "dynamic_metadata.claims[3]",
            "dynamic_metadata.claims[4]",
        ]
    );
    assert_eq!(paths(&format!("{MINIMAL}dynamic_metadata: {{ all: true }}\n")), ["dynamic_metadata.all"]);
}

#[test]
fn the_documented_example_parses() {
    let yaml = r#"
server:
  grpc_addr: 0.0.0.0:9001
  http_addr: 0.0.0.0:9090
providers:
  - name: corp
    issuer: https://idp.example.com
    audiences: [orders-api]
    algorithms: [RS256, ES256]
    jwks:
      uri: https://idp.example.com/jwks.json
    token_sources:
      - header: authorization
        prefix: "Bearer "
      - cookie: access_token
      - query: access_token
    clock_skew: 60s
    max_lifetime: 24h
    require_expiration: true
    claims_to_headers:
      - { claim: sub, header: x-user-id }
      - { claim: email, header: x-user-email }
      - { claim: org.id, header: x-org-id }
    payload_header: x-jwt-payload
    forward_token: false
rules:
  - match: { path_prefix: /public }
    allow: anonymous
  - match: { path_prefix: / }
    require: { providers: [corp] }
default: deny
"#;
    let config = accepted(yaml);
    assert_eq!(config.providers[0].max_lifetime, Some(Duration::from_secs(86_400)));
    assert_eq!(config.providers[0].effective_token_sources().len(), 3);
    assert_eq!(config.rules.len(), 2);
}

#[test]
fn unknown_keys_are_reported_with_their_paths_across_entries() {
    let yaml = r#"
providers:
  - name: a
    issuer: x
    jwks: { uri: https://a/jwks }
    audience: [typo]
  - name: b
    issuer: y
    jwks: { uri: https://b/jwks, refresh: 5m }
colour: blue
"#;
    let found = paths(yaml);
    assert!(
        found.contains(&"providers[0].audience".to_owned()) || found.contains(&"providers[0]".to_owned()),
        "{found:?}"
    );
    assert!(found.iter().any(|p| p.starts_with("providers[1].jwks")), "{found:?}");
    assert!(found.contains(&"colour".to_owned()), "{found:?}");
}

#[test]
fn bad_duration_names_its_key() {
    let yaml = MINIMAL.replace("issuer:", "clock_skew: sixty\n    issuer:");
    let found = problems(&yaml);
    assert_eq!(found[0].path, "providers[0].clock_skew");
    assert!(found[0].message.contains("invalid duration"), "{}", found[0].message);
}

#[test]
fn semantic_problems_are_all_reported_at_once() {
    let yaml = r#"
providers:
  - name: Corp!
    issuer: ""
    algorithms: [RS256, HS256]
    jwks: { uri: "http://idp.example.com/jwks", file: /x }
    token_sources: [ { cookie: a, prefix: "Bearer " } ]
    claims_to_headers:
      - { claim: sub, header: x-user-id }
      - { claim: email, header: X-User-Id }
      - { claim: "org..id", header: host }
  - name: hs
    issuer: https://hs
    algorithms: [RS256]
    hmac_secret: { env: A, file: /b }
rules:
  - match: { path_prefix: api }
    require: { providers: [nope] }
  - match: {}
limits: { max_token_bytes: 10 }
"#;
    let found = paths(yaml);
    for expected in [
        "providers[0].name",
        "providers[0].issuer",
        "providers[0].algorithms",
        "providers[0].jwks",
        "providers[0].jwks.uri",
        "providers[0].token_sources[0].prefix",
        "providers[0].claims_to_headers[1].header",
        "providers[0].claims_to_headers[2].claim",
        "providers[0].claims_to_headers[2].header",
        "providers[1].algorithms",
        "providers[1].hmac_secret",
        "rules[0].match.path_prefix",
        "rules[0].require.providers[0]",
        "rules[1]",
        "limits.max_token_bytes",
    ] {
        assert!(found.contains(&expected.to_owned()), "missing {expected} in {found:?}");
    }
}

#[test]
fn remote_hmac_keys_and_duplicate_providers_are_refused() {
    let yaml = r#"
providers:
  - { name: a, issuer: x, algorithms: [HS256], jwks: { uri: https://a/jwks } }
  - { name: a, issuer: y, jwks: { inline: '{"keys":[]}' } }
"#;
    let found = paths(yaml);
    assert!(found.contains(&"providers[0].algorithms".to_owned()), "{found:?}");
    assert!(found.contains(&"providers[1].name".to_owned()), "{found:?}");
}

#[test]
fn fetch_urls_need_tls_except_to_loopback() {
    assert!(crate::keys::check_url("https://idp.example.com/jwks", false).is_ok());
    assert!(crate::keys::check_url("http://127.0.0.1:8080/jwks", false).is_ok());
    assert!(crate::keys::check_url("http://[::1]/jwks", false).is_ok());
    assert!(crate::keys::check_url("http://localhost/jwks", false).is_ok());
    assert!(crate::keys::check_url("http://idp.example.com/jwks", false).is_err());
    assert!(crate::keys::check_url("file:///etc/passwd", false).is_err());
    assert!(crate::keys::check_url("not a url", false).is_err());
    assert!(crate::keys::check_url("http://idp.example.com/jwks", true).is_ok());
}

#[test]
fn not_yaml_or_not_a_mapping_is_a_clear_error() {
    assert_eq!(paths("providers: [")[0], "(document)");
    assert_eq!(paths("- just\n- a list\n")[0], "(document)");
    assert_eq!(paths("server: {}\n"), vec!["providers".to_owned()]);
}

#[test]
fn an_identity_header_cannot_be_another_providers_token_header() {
    let yaml = r#"
providers:
  - { name: a, issuer: x, jwks: { uri: https://a/jwks }, token_sources: [ { header: x-api-token } ] }
  - { name: b, issuer: y, jwks: { uri: https://b/jwks }, claims_to_headers: [ { claim: sub, header: X-Api-Token } ] }
"#;
    assert_eq!(paths(yaml), vec!["providers[1].claims_to_headers[0].header".to_owned()]);
}

#[test]
fn unknown_kid_limits_have_defaults_and_bounds() {
    let limits = accepted(MINIMAL).limits;
    assert_eq!(limits.unknown_kid_wait, Duration::from_millis(250));
    assert_eq!(limits.max_unknown_kid_waiters, None);
    assert_eq!(limits.unknown_kid_waiters(), 1000);
    assert_eq!(LimitsConfig::default().unknown_kid_waiters(), 1000);

    let with = |limits: &str| format!("{MINIMAL}limits: {limits}\n");
    // Unset, the default leaves at least half of the permits to cached keys.
    let small = accepted(&with("{ max_concurrent_checks: 64 }")).limits;
    assert_eq!(small.unknown_kid_waiters(), 32);
    let one = accepted(&with("{ max_concurrent_checks: 1 }")).limits;
    assert_eq!(one.unknown_kid_waiters(), 0);
    let set =
        accepted(&with("{ max_concurrent_checks: 64, max_unknown_kid_waiters: 63, unknown_kid_wait: 10s }"));
    assert_eq!(set.limits.unknown_kid_waiters(), 63);

    for (limits, message) in [
        ("{ unknown_kid_wait: 0s }", "more than 0"),
        ("{ unknown_kid_wait: 10001ms }", "at most 10s"),
        ("{ max_unknown_kid_waiters: 0 }", "at least 1"),
        (
            "{ max_concurrent_checks: 64, max_unknown_kid_waiters: 64 }",
            "less than `limits.max_concurrent_checks` (64)",
        ),
        ("{ max_unknown_kid_waiters: 20000 }", "less than `limits.max_concurrent_checks` (10000)"),
    ] {
        let found = problems(&with(limits));
        assert_eq!(found.len(), 1, "{limits}: {found:?}");
        let key = if limits.contains("wait:") {
            "limits.unknown_kid_wait"
        } else {
            "limits.max_unknown_kid_waiters"
        };
        assert_eq!(found[0].path, key, "{limits}");
        assert!(found[0].message.contains(message), "{limits}: {}", found[0].message);
    }
    assert_eq!(paths(&with("{ unknown_kid_wait: soon }")), vec!["limits.unknown_kid_wait".to_owned()]);
}

#[test]
fn opaque_credential_problems_are_reported_with_their_key_paths() {
    let yaml = r#"
providers:
  - name: as
    issuer: https://as.example
    token_types: [at+jwt]
    introspection:
      endpoint: http://as.example/introspect
      client_id: ""
      client_secret: { env: GATEHOUSE_TEST_SECRET_THAT_IS_NEVER_SET }
      cache_ttl: 0s
      wait: 5s
      timeout: 1s
      max_in_flight: 0
  - name: both
    issuer: https://b.example
    introspection: { discovery: true, endpoint: https://b.example/i, client_id: g, client_secret: { file: /s } }
  - name: keys
    issuer: https://keys.example
    jwks: { uri: https://keys.example/jwks }
    api_keys: { file: /etc/keys.yaml, header: "bad header" }
    token_sources: [ { header: x-key } ]
  - name: nothing
    issuer: https://n.example
  - name: opaque-only
    issuer: https://o.example
    payload_header: x-payload
    backchannel_logout: true
    api_keys: { file: /k }
"#;
    let found = paths(yaml);
    for expected in [
        "providers[0].token_types",
        "providers[0].introspection.endpoint",
        "providers[0].introspection.client_id",
        "providers[0].introspection.client_secret.env",
        "providers[0].introspection.cache_ttl",
        "providers[0].introspection.wait",
        "providers[0].introspection.max_in_flight",
        "providers[1].introspection",
        "providers[2].jwks",
        "providers[2].token_sources",
        "providers[2].api_keys.header",
        "providers[3]",
        "providers[4].payload_header",
        "providers[4].backchannel_logout",
    ] {
        assert!(found.contains(&expected.to_owned()), "missing {expected} in {found:?}");
    }
    let secret = problems(yaml).into_iter().find(|p| p.path.ends_with("client_secret.env")).unwrap();
    assert!(secret.message.contains("GATEHOUSE_TEST_SECRET_THAT_IS_NEVER_SET` is not set"), "{secret:?}");
}

#[test]
fn opaque_providers_build_their_specs_and_token_sources() {
    let yaml = r#"
providers:
  - name: as
    issuer: https://as.example
    jwks: { uri: https://as.example/jwks }
    token_types: [AT+JWT, application/at+jwt]
    introspection: { endpoint: https://as.example/introspect, client_id: g, client_secret: { file: /s }, auth_method: client_secret_post }
  - name: partners
    issuer: https://keys.partners
    api_keys: { file: /etc/keys.yaml }
"#;
    let specs = from_yaml(yaml).unwrap();
    let introspection = specs.keys[0].introspection.as_ref().unwrap();
    assert_eq!(introspection.endpoint, crate::keys::Endpoint::Url("https://as.example/introspect".into()));
    assert_eq!(introspection.auth, crate::keys::ClientAuth::Post);
    assert_eq!(
        (introspection.cache_ttl, introspection.negative_ttl),
        (Duration::from_secs(60), Duration::from_secs(5))
    );
    assert_eq!(specs.policy.providers[0].validation.token_types, vec!["at+jwt".to_owned()]);
    assert!(specs.policy.providers[0].jws);
    assert!(!specs.policy.providers[1].jws);
    assert_eq!(specs.keys[1].api_keys.as_deref(), Some(std::path::Path::new("/etc/keys.yaml")));
    assert_eq!(
        specs.policy.providers[1].token_sources,
        vec![
            crate::authz::TokenSource::header("x-api-key", None),
            crate::authz::TokenSource::header("authorization", Some("ApiKey")),
        ]
    );
    // The JWS provider with an audience and no token_types gets advice; these have none.
    assert!(specs.notes().is_empty(), "{:?}", specs.notes());
    let advised = from_yaml(&MINIMAL.replace("    jwks:", "    audiences: [api]\n    jwks:")).unwrap();
    assert_eq!(
        advised.notes().iter().map(|n| n.path.as_str()).collect::<Vec<_>>(),
        ["providers[0].token_types"]
    );
}

#[test]
fn token_types_compare_case_insensitively_with_or_without_the_application_prefix() {
    let mut validation = crate::authz::Validation {
        issuer: "i".into(),
        audiences: Vec::new(),
        algorithms: Vec::new(),
        clock_skew_secs: 0,
        max_lifetime_secs: None,
        require_expiration: true,
        token_types: Vec::new(),
    };
    assert!(validation.accepts_type(None) && validation.accepts_type(Some("JWT")), "off: anything goes");
    validation.token_types = vec!["at+jwt".into()];
    for typ in ["at+jwt", "AT+JWT", "application/at+jwt", "Application/At+Jwt"] {
        assert!(validation.accepts_type(Some(typ)), "{typ}");
    }
    for typ in [None, Some("JWT"), Some("jwt"), Some("application/jwt"), Some("at+jwt "), Some("")] {
        assert!(!validation.accepts_type(typ), "{typ:?}");
    }
}

#[test]
fn the_request_headers_decisions_read_are_listed_once_each() {
    let specs = from_yaml(
        r#"
providers:
  - name: corp
    issuer: https://idp.example.com
    jwks: { uri: https://idp.example.com/jwks.json }
    token_sources: [ { header: authorization, prefix: "Bearer " }, { cookie: session }, { cookie: sso }, { query: access_token } ]
  - name: partner
    issuer: https://partner.example.com
    jwks: { uri: https://partner.example.com/jwks.json }
    token_sources: [ { header: X-Partner-Token }, { header: Authorization, prefix: "Bearer " } ]
rules:
  - match: { path: /h, headers: [ { name: X-Tenant, exact: acme }, { name: x-partner-token, present: true } ] }
    require: { providers: [partner] }
  - match: { path_prefix: / }
    require: { providers: [corp] }
bypass_cors_preflight: true
"#,
    )
    .expect("a valid config");
    assert_eq!(
        specs.policy.headers_read(),
        ["authorization", "cookie", "x-partner-token", "x-tenant", "origin", "access-control-request-method"]
    );
    let default_sources = from_yaml(MINIMAL).expect("a valid config");
    assert_eq!(default_sources.policy.headers_read(), ["authorization"]);
}
