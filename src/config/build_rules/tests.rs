// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
//! Validation of `rules[]` through [`crate::config::from_yaml`]: each bad
//! input is reported at its exact key path, and every semantic problem of a
//! file is reported in one run.

use crate::config::{from_yaml, parse, AllowMode, Config, ConfigError, Problem};

/// Two providers (`corp`, `internal`) and the given `rules:` list.
fn with_rules(rules: &str) -> String {
    format!(
        r#"
providers:
  - name: corp
    issuer: https://idp.example.com
    jwks: {{ uri: https://idp.example.com/jwks.json }}
  - name: internal
    issuer: https://internal.example.com
    hmac_secret: {{ env: INTERNAL_SECRET }}
rules:
{rules}
"#
    )
}

fn problems(rules: &str) -> Vec<Problem> {
    match from_yaml(&with_rules(rules)) {
        Err(ConfigError::Invalid(problems)) => problems,
        other => panic!("expected problems for\n{rules}\ngot {other:?}"),
    }
}

fn paths(rules: &str) -> Vec<String> {
    problems(rules).into_iter().map(|p| p.path).collect()
}

/// The parsed config of a file that builds.
fn accepted(rules: &str) -> Config {
    let yaml = with_rules(rules);
    if let Err(error) = from_yaml(&yaml) {
        panic!("expected\n{rules}\nto be accepted, got:\n{error}");
    }
    parse(&yaml).expect("a file that builds parses")
}

/// Runs a table of `(what, rules yaml, expected key paths in order)`.
fn expect_paths(cases: &[(&str, &str, &[&str])]) {
    for (what, rules, expected) in cases {
        assert_eq!(paths(rules), *expected, "{what}");
    }
}

#[test]
fn invalid_regexes_are_reported_where_they_are() {
    expect_paths(&[
        (
            "path_regex, second rule",
            r#"
  - match: { path_prefix: /ok }
    allow: anonymous
  - match: { path_regex: "/items/(" }
    allow: anonymous
"#,
            &["rules[1].match.path_regex"],
        ),
        (
            "header regex",
            r#"
  - match: { headers: [ { name: x-ok, exact: a }, { name: x-version, regex: "v[0-9" } ] }
    allow: anonymous
"#,
            &["rules[0].match.headers[1].regex"],
        ),
        (
            "claim regex",
            r#"
  - require: { claims: [ { claim: email, regex: "(.*@example.com" } ] }
"#,
            &["rules[0].require.claims[0].regex"],
        ),
        (
            "claim regex nested in any_of",
            r#"
  - require:
      any_of:
        - { scopes_all: [a] }
        - { claims: [ { claim: sub, equals: x }, { claim: email, regex: "*" } ] }
"#,
            &["rules[0].require.any_of[1].claims[1].regex"],
        ),
    ]);
    for problem in problems("  - match: { path_regex: \"(\" }\n    allow: anonymous") {
        assert!(problem.message.starts_with("invalid regex: "), "{problem:?}");
        assert!(!problem.message.contains('\n'), "one line only: {problem:?}");
    }
}

#[test]
fn a_regex_over_the_size_limit_is_refused() {
    for (rules, path) in [
        ("  - match: { path_regex: \"a{1000}{1000}\" }\n    allow: anonymous", "rules[0].match.path_regex"),
        (
            "  - match: { headers: [ { name: x-a, regex: \"(?:ab){1000}{1000}\" } ] }\n    allow: anonymous",
            "rules[0].match.headers[0].regex",
        ),
        (
            "  - require: { claims: [ { claim: sub, regex: \"a{1000}{1000}\" } ] }",
            "rules[0].require.claims[0].regex",
        ),
    ] {
        let found = problems(rules);
        assert_eq!(found.iter().map(|p| p.path.as_str()).collect::<Vec<_>>(), [path], "{rules}");
        assert!(found[0].message.starts_with("invalid regex: "), "{:?}", found[0]);
        assert!(found[0].message.contains("size limit"), "{:?}", found[0]);
    }
    // A big but reasonable pattern is fine.
    accepted("  - match: { path_regex: \"/[a-z0-9]{1,64}(/[a-z0-9]{1,64}){0,8}\" }\n    allow: anonymous");
}

#[test]
fn header_conditions_need_exactly_one_test_and_a_valid_name() {
    expect_paths(&[
        (
            "no condition",
            "  - match: { headers: [ { name: x-tenant } ] }\n    allow: anonymous",
            &["rules[0].match.headers[0]"],
        ),
        (
            "two conditions",
            "  - match: { headers: [ { name: x-a, exact: a }, { name: x-b, exact: b, present: true } ] }\n    allow: anonymous",
            &["rules[0].match.headers[1]"],
        ),
        (
            "prefix and regex, with a bad regex: both reported",
            "  - match: { headers: [ { name: x-b, prefix: a, regex: \"[\" } ] }\n    allow: anonymous",
            &["rules[0].match.headers[0]", "rules[0].match.headers[0].regex"],
        ),
        (
            "bad header name",
            "  - match: { headers: [ { name: \"x tenant\", present: false } ] }\n    allow: anonymous",
            &["rules[0].match.headers[0].name"],
        ),
    ]);
    accepted(
        r#"
  - match:
      headers:
        - { name: x-exact, exact: "" }
        - { name: x-prefix, prefix: v }
        - { name: x-regex, regex: "v[0-9]+" }
        - { name: x-present, present: true }
        - { name: x-absent, present: false }
    allow: anonymous
"#,
    );
}

#[test]
fn claim_requirements_need_exactly_one_test_and_a_claim_path() {
    expect_paths(&[
        ("no condition", "  - require: { claims: [ { claim: sub } ] }", &["rules[0].require.claims[0]"]),
        (
            "two conditions",
            "  - require: { claims: [ { claim: sub, equals: a }, { claim: tier, equals: a, one_of: [a, b] } ] }",
            &["rules[0].require.claims[1]"],
        ),
        (
            "contains and prefix in all_of",
            "  - require: { all_of: [ { claims: [ { claim: groups, contains: a, prefix: b } ] } ] }",
            &["rules[0].require.all_of[0].claims[0]"],
        ),
        ("empty segment", "  - require: { claims: [ { claim: a..b, equals: 1 } ] }", &["rules[0].require.claims[0].claim"]),
        ("leading dot", "  - require: { claims: [ { claim: .a, equals: 1 } ] }", &["rules[0].require.claims[0].claim"]),
        ("trailing dot", "  - require: { claims: [ { claim: a., equals: 1 } ] }", &["rules[0].require.claims[0].claim"]),
        ("empty claim", "  - require: { claims: [ { claim: \"\", equals: 1 } ] }", &["rules[0].require.claims[0].claim"]),
        (
            "bad path and no condition",
            "  - require: { claims: [ { claim: a..b } ] }",
            &["rules[0].require.claims[0].claim", "rules[0].require.claims[0]"],
        ),
    ]);
    let config = accepted(
        r#"
  - require:
      claims:
        - { claim: org.id, equals: acme }
        - { claim: email_verified, equals: true }
        - { claim: tier, one_of: [gold, 3, null] }
        - { claim: groups, contains: admins }
        - { claim: email, prefix: "ops-" }
        - { claim: email, regex: ".*@example\\.com" }
"#,
    );
    assert_eq!(config.rules[0].require.as_ref().unwrap().claims.len(), 6);
}

#[test]
fn unknown_providers_are_found_at_any_depth() {
    expect_paths(&[
        ("top level", "  - require: { providers: [corp, nope] }", &["rules[0].require.providers[1]"]),
        (
            "nested in any_of",
            "  - require: { any_of: [ { providers: [corp] }, { providers: [internal, nope] } ] }",
            &["rules[0].require.any_of[1].providers[1]"],
        ),
        (
            "nested twice",
            r#"
  - match: { path_prefix: /a }
    allow: anonymous
  - require:
      all_of:
        - any_of:
            - { scopes_all: [x] }
            - { providers: [Corp] }
"#,
            &["rules[1].require.all_of[0].any_of[1].providers[0]"],
        ),
    ]);
    let message = &problems("  - require: { any_of: [ { providers: [nope] } ] }")[0].message;
    assert!(message.contains("unknown provider `nope`"), "{message}");
}

#[test]
fn scopes_must_be_rfc6749_scope_tokens() {
    // Single-quoted YAML: `\` is literal, `"` needs no escape.
    let rules = r#"
  - require:
      scopes_all: ["orders:read", "a b", 'a"b', "ok!#[]~"]
      scopes_any: ['a\b', "", "tab\tx"]
      any_of:
        - { scopes_any: [fine, "x y"] }
"#;
    assert_eq!(
        paths(rules),
        [
            "rules[0].require.scopes_all[1]",
            "rules[0].require.scopes_all[2]",
            "rules[0].require.scopes_any[0]",
            "rules[0].require.scopes_any[1]",
            "rules[0].require.scopes_any[2]",
            "rules[0].require.any_of[0].scopes_any[1]",
        ]
    );
    // Non-ASCII is not NQCHAR either.
    assert_eq!(paths("  - require: { scopes_all: [\"caf\u{e9}\"] }"), ["rules[0].require.scopes_all[0]"]);
}

#[test]
fn rule_names_are_unique_and_non_empty() {
    expect_paths(&[
        (
            "duplicate",
            r#"
  - name: api
    match: { path_prefix: /a }
    allow: anonymous
  - name: other
    match: { path_prefix: /b }
    allow: anonymous
  - name: api
    match: { path_prefix: /c }
    allow: anonymous
"#,
            &["rules[2].name"],
        ),
        ("empty", "  - name: \"\"\n    match: { path: /x }\n    allow: anonymous", &["rules[0].name"]),
    ]);
    let message = &problems(
        "  - { name: x, match: { path: /a }, allow: anonymous }\n  - { name: x, match: { path: /b }, allow: anonymous }",
    )[0]
    .message;
    assert!(message.contains("`x`"), "{message}");
}

#[test]
fn rule_paths_must_be_normalized() {
    let rules = r#"
  - { match: { path: /api/./x }, allow: anonymous }
  - { match: { path_prefix: "/%7Eadmin" }, allow: anonymous }
  - { match: { path: "/a?b" }, allow: anonymous }
  - { match: { path_prefix: /api/ }, allow: anonymous }
  - { match: { path_prefix: // }, allow: anonymous }
"#;
    let found = problems(rules);
    let paths: Vec<_> = found.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "rules[0].match.path",
            "rules[1].match.path_prefix",
            "rules[2].match.path",
            "rules[4].match.path_prefix"
        ]
    );
    assert!(found[0].message.contains("`/api/x`"), "{}", found[0].message);
    assert!(found[1].message.contains("`/~admin`"), "{}", found[1].message);
}

#[test]
fn unnamed_rules_after_a_catch_all_are_unreachable() {
    for catch_all in ["match: {}", "match: { path_prefix: / }", "allow: anonymous"] {
        let rules = format!(
            r#"
  - match: {{ path_prefix: /public }}
    allow: anonymous
  - {catch_all}
    require: {{}}
  - match: {{ path_prefix: /late }}
    allow: anonymous
  - name: named-late
    match: {{ path_prefix: /named }}
    allow: anonymous
  - match: {{ path: /later }}
    require: {{}}
"#
        )
        // `allow: anonymous` as the catch-all's only line: drop its `require`.
        .replace("  - allow: anonymous\n    require: {}\n", "  - allow: anonymous\n");
        let found = problems(&rules);
        assert_eq!(
            found.iter().map(|p| p.path.as_str()).collect::<Vec<_>>(),
            ["rules[2]", "rules[4]"],
            "{catch_all}"
        );
        for problem in &found {
            assert!(problem.message.starts_with("unreachable"), "{problem:?}");
            assert!(problem.message.contains("rules[1]"), "names the catch-all: {problem:?}");
        }
    }
}

#[test]
fn a_named_rule_after_a_catch_all_is_accepted() {
    let config = accepted(
        r#"
  - match: { path_prefix: / }
    require: { providers: [corp] }
  - name: billing-webhook
    match: { path_prefix: /webhooks/billing }
    require: { providers: [internal] }
  - name: status
    allow: anonymous
"#,
    );
    assert_eq!(config.rules.len(), 3);
    assert_eq!(config.rules[1].name.as_deref(), Some("billing-webhook"));
}

#[test]
fn narrowed_catch_alls_do_not_shadow_later_rules() {
    // Each first rule has a condition beyond `/`, so later rules stay reachable.
    for first in [
        "match: { path_prefix: /, methods: [GET] }",
        "match: { path_prefix: /, host: api.example.com }",
        "match: { path_regex: \"/.*\" }",
        "match: { headers: [ { name: x-a, present: true } ] }",
        "match: { path: / }",
        "match: { path_prefix: /api }",
    ] {
        accepted(&format!("  - {first}\n    allow: anonymous\n  - match: {{ path: /x }}\n    require: {{}}"));
    }
}

#[test]
fn host_patterns_are_host_names_or_one_leading_wildcard() {
    for bad in [
        "\"*\"",
        "\"*.\"",
        "a b",
        "\"**.x\"",
        "\"*x.example.com\"",
        "\"a.*.example.com\"",
        "\".example.com\"",
        "\"\"",
        "\"*..x\"",
        "\"[::1]\"",
        "\"api.example.com:8443\"",
    ] {
        assert_eq!(
            paths(&format!("  - match: {{ host: {bad} }}\n    allow: anonymous")),
            ["rules[0].match.host"],
            "{bad}"
        );
    }
    for good in
        ["api.example.com", "API.Example.COM", "\"*.example.com\"", "localhost", "10.0.0.1", "a-b.c-d"]
    {
        accepted(&format!("  - match: {{ host: {good} }}\n    allow: anonymous"));
    }
}

#[test]
fn methods_and_paths_are_checked() {
    expect_paths(&[
        (
            "methods",
            "  - match: { methods: [GET, \"PO ST\", \"\", \" GET\", get] }\n    allow: anonymous",
            &["rules[0].match.methods[1]", "rules[0].match.methods[2]", "rules[0].match.methods[3]"],
        ),
        (
            "relative path and prefix",
            "  - match: { path: api, path_prefix: \"\" }\n    allow: anonymous",
            &["rules[0].match.path", "rules[0].match.path_prefix"],
        ),
    ]);
}

#[test]
fn actions_are_allow_or_require_never_both() {
    expect_paths(&[
        (
            "both",
            "  - match: { path: /x }\n    allow: anonymous\n    require: { providers: [corp] }",
            &["rules[0]"],
        ),
        ("both, optional", "  - match: { path: /x }\n    allow: optional\n    require: {}", &["rules[0]"]),
        ("neither", "  - match: { path: /a }\n    allow: anonymous\n  - match: { path: /x }", &["rules[1]"]),
    ]);
    let config = accepted(
        r#"
  - match: { path_prefix: /feed }
    allow: optional
  - match: { path_prefix: /public }
    allow: anonymous
  - match: { path_prefix: /api }
    require: {}
"#,
    );
    assert_eq!(config.rules[0].allow, Some(AllowMode::Optional));
    assert_eq!(config.rules[1].allow, Some(AllowMode::Anonymous));
    assert!(config.rules[2].allow.is_none() && config.rules[2].require.is_some());
}

#[test]
fn structural_problems_in_rules_name_their_entry() {
    // Wrong types and unknown keys are found before the semantic checks.
    let found =
        paths("  - match: { path: /a }\n    allow: sometimes\n  - match: { paht: /x }\n    allow: anonymous");
    assert!(found.iter().any(|p| p.starts_with("rules[0].allow")), "{found:?}");
    assert!(found.iter().any(|p| p.starts_with("rules[1].match")), "{found:?}");
}

#[test]
fn every_semantic_problem_of_a_file_is_reported_together() {
    let rules = r#"
  - name: dup
    match: { host: "*", path_regex: "(", methods: ["BAD METHOD"], headers: [ { name: x-a }, { name: x-b, regex: "[" } ] }
    allow: anonymous
    require: {}
  - name: dup
    match: { path_prefix: nope }
    require:
      providers: [ghost]
      scopes_all: ["a b"]
      claims: [ { claim: a..b, equals: 1, prefix: x }, { claim: e, regex: "a{1000}{1000}" } ]
      any_of:
        - { providers: [corp] }
        - { providers: [phantom], scopes_any: ['x\y'] }
  - match: {}
    allow: optional
  - match: { path: /x }
    allow: anonymous
"#;
    assert_eq!(
        paths(rules),
        [
            "rules[0]",
            "rules[0].match.host",
            "rules[0].match.path_regex",
            "rules[0].match.methods[0]",
            "rules[0].match.headers[0]",
            "rules[0].match.headers[1].regex",
            "rules[1].name",
            "rules[1].match.path_prefix",
            "rules[1].require.providers[0]",
            "rules[1].require.scopes_all[0]",
            "rules[1].require.claims[0].claim",
            "rules[1].require.claims[0]",
            "rules[1].require.claims[1].regex",
            "rules[1].require.any_of[1].providers[0]",
            "rules[1].require.any_of[1].scopes_any[0]",
            "rules[3]",
        ]
    );
    // Together with problems elsewhere in the file.
    let yaml = with_rules(rules).replace("issuer: https://idp.example.com", "issuer: \"\"");
    let Err(ConfigError::Invalid(found)) = from_yaml(&yaml) else { panic!("expected problems") };
    assert!(found.iter().any(|p| p.path == "providers[0].issuer"), "{found:?}");
    assert!(found.iter().any(|p| p.path == "rules[3]"), "{found:?}");
}

#[test]
fn a_pattern_invalid_on_its_own_is_refused() {
    let rules = r#"
  - match: { path_regex: "/public)|(.*" }
    allow: anonymous
  - match: { headers: [ { name: x-version, regex: "v1)|(.*" } ] }
    allow: anonymous
  - require: { claims: [ { claim: email, regex: ".*@example\\.com)|(.*" } ] }
"#;
    assert_eq!(
        paths(rules),
        ["rules[0].match.path_regex", "rules[1].match.headers[0].regex", "rules[2].require.claims[0].regex"]
    );
}
