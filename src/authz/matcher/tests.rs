// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
use super::*;

type Headers<'a> = Vec<(&'a str, &'a [u8])>;

fn matcher(yaml: &str) -> Matcher {
    crate::config::testing::matcher(yaml)
}

fn request<'a>(method: &'a str, host: &'a str, headers: Vec<(&'a str, &'a [u8])>) -> HttpRequest<'a> {
    HttpRequest { method, host, path: "/", headers: headers.into(), context_extensions: None }
}

#[test]
fn prefixes_respect_segment_boundaries() {
    let cases = [
        ("/api", "/api", true),
        ("/api/x", "/api", true),
        ("/apix", "/api", false),
        ("/ap", "/api", false),
        ("/anything", "", true),
        ("/", "", true),
        ("/api/", "/api", true),
    ];
    for (path, prefix, want) in cases {
        assert_eq!(has_segment_prefix(path, prefix), want, "{path} vs {prefix}");
    }
    let m = matcher("path_prefix: /api/");
    assert!(m.matches(&request("GET", "h", vec![]), "/api"));
    assert!(!m.matches(&request("GET", "h", vec![]), "/apix"));
}

#[test]
fn hosts_match_case_insensitively_without_port() {
    let exact = matcher("host: API.example.com");
    let wildcard = matcher("host: '*.example.com'");
    let cases = [
        ("api.example.com", true, true),
        ("API.EXAMPLE.COM:8443", true, true),
        ("a.b.example.com", false, true),
        ("example.com", false, false),
        ("evil-example.com", false, false),
        ("api.example.com.evil.net", false, false),
        ("[::1]:80", false, false),
    ];
    for (host, want_exact, want_wildcard) in cases {
        let r = request("GET", host, vec![]);
        assert_eq!(exact.matches(&r, "/"), want_exact, "exact {host}");
        assert_eq!(wildcard.matches(&r, "/"), want_wildcard, "wildcard {host}");
    }
    assert_eq!(strip_port("[::1]:8080"), "[::1]");
    assert_eq!(strip_port("host"), "host");
}

#[test]
fn methods_match_case_insensitively() {
    let m = matcher("methods: [get, POST]");
    for (method, want) in [("GET", true), ("get", true), ("Post", true), ("DELETE", false), ("", false)] {
        assert_eq!(m.matches(&request(method, "h", vec![]), "/"), want, "{method}");
    }
}

#[test]
fn regex_is_anchored() {
    let m = matcher(r#"path_regex: "/users/[0-9]+""#);
    for (path, want) in
        [("/users/42", true), ("/users/42/x", false), ("/x/users/42", false), ("/users/", false)]
    {
        assert_eq!(m.matches(&request("GET", "h", vec![]), path), want, "{path}");
    }
    let alternation = matcher(r#"path_regex: "/a|/b""#);
    assert!(!alternation.matches(&request("GET", "h", vec![]), "/a/evil"), "alternation stays anchored");
}

#[test]
fn header_conditions() {
    let m = matcher(
        r#"headers:
  - { name: X-Tenant, exact: acme }
  - { name: x-version, prefix: "v2" }
  - { name: x-trace, regex: "[a-f0-9]{4}" }
  - { name: x-debug, present: false }
  - { name: x-client, present: true }"#,
    );
    let base: Headers =
        vec![("x-tenant", b"acme"), ("x-version", b"v2.1"), ("x-trace", b"beef"), ("x-client", b"")];
    assert!(m.matches(&request("GET", "h", base.clone()), "/"));
    let variants: Vec<(&str, Headers)> = vec![
        ("wrong tenant", vec![("x-tenant", b"acme2")]),
        ("bad trace", vec![("x-trace", b"beef0")]),
        ("debug present", vec![("x-debug", b"1")]),
    ];
    for (name, overrides) in variants {
        let mut headers: Headers =
            base.iter().filter(|(n, _)| !overrides.iter().any(|(o, _)| o == n)).cloned().collect();
        headers.extend(overrides);
        assert!(!m.matches(&request("GET", "h", headers), "/"), "{name}");
    }
    let without_client: Vec<_> = base.iter().filter(|(n, _)| *n != "x-client").cloned().collect();
    assert!(!m.matches(&request("GET", "h", without_client), "/"), "client missing");
}

#[test]
fn catch_all_detection() {
    assert!(matcher("{}").is_catch_all());
    assert!(matcher("path_prefix: /").is_catch_all());
    assert!(!matcher("path_prefix: /a").is_catch_all());
    assert!(!matcher("methods: [GET]").is_catch_all());
}
