//! `gatehouse import jwt-authn` checked against the real thing. For each
//! jwt_authn config: the built binary translates it; Envoy 1.40 with that
//! very jwt_authn filter (the kit's `JwtAuthnEnvoy`) and the sidecar stack
//! (`deploy/envoy/sidecar.yaml` in front of gatehouse running the
//! translation) get the same requests, with the same tokens of the same IdP.
//! Every answer's status must be the same on both sides, except for the
//! differences each case lists; each of those must happen, and the
//! importer's output must declare it.

use std::collections::BTreeSet;

use gatehouse_testkit::idp::{Idp, Mode};
use gatehouse_testkit::process::gatehouse_command;
use gatehouse_testkit::stack::{
    upstream_path, upstream_saw, JwtAuthnEnvoy, Reply, Stack, StackOptions, JWT_AUTHN_TYPE,
};
use gatehouse_testkit::{es256_key, jwks_json, token_with, unix_now, SigningKey, ISSUER};
use serde_json::{json, Value};

const PARTNERS_ISSUER: &str = "https://partners.test";

/// Text of the importer's output that announces each kind of difference.
const AUDIENCE_STATUS: &str =
    "with 403 by jwt_authn (\"Audiences in Jwt are not allowed\") and 401 by gatehouse";
const SCHEME_CASE: &str = "jwt_authn finds a header's value_prefix case-sensitively";
const MISSING_OR_FAILED: &str = "allow_missing_or_failed lets even an invalid or expired token through";
const MAX_LIFETIME: &str = "jwt_authn bounds the time left until `exp` (exp - now)";
const TWO_TOKENS: &str = "Two different tokens in one request: gatehouse answers 400";
const FUTURE_IAT: &str = "gatehouse also refuses an `iat` in the future (beyond clock_skew)";
const SCHEME_PLACE: &str = "anywhere in the value; gatehouse reads it case-insensitively at the start";
const NEW_KEY: &str = "gatehouse fetches the JWKS again when a token names an unknown kid";

/// How one provider's tokens travel.
struct Style {
    name: &'static str,
    issuer: &'static str,
    header: &'static str,
    prefix: &'static str,
    param: &'static str,
}

const CORP: Style =
    Style { name: "corp", issuer: ISSUER, header: "authorization", prefix: "Bearer ", param: "access_token" };
const PARTNERS: Style = Style {
    name: "partners",
    issuer: PARTNERS_ISSUER,
    header: "x-partner-token",
    prefix: "Token ",
    param: "partner_token",
};

/// One request: what it is, an optional query, its headers.
struct Probe {
    label: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
}

/// The requests each path gets for a style: a valid token and each way one goes wrong.
/// With `strict`, also the tokens gatehouse reads more strictly than jwt_authn.
fn probes(key: &SigningKey, style: &Style, strict: bool) -> Vec<Probe> {
    let forger = es256_key(key.kid()); // same kid, another key
    let now = unix_now();
    let mint = |signer: &SigningKey, extra: Value| {
        let mut claims = json!({ "iss": style.issuer });
        claims.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        token_with(signer, claims)
    };
    let in_header = |label: &str, token: String| Probe {
        label: format!("{}: {label}", style.name),
        query: None,
        headers: vec![(style.header.to_owned(), format!("{}{token}", style.prefix))],
    };
    let valid = mint(key, json!({}));
    let mut probes = vec![
        in_header("valid", valid.clone()),
        in_header("expired", mint(key, json!({ "iat": now - 7200, "exp": now - 3600 }))),
        in_header("wrong audience", mint(key, json!({ "aud": "billing-api" }))),
        in_header("wrong issuer", mint(key, json!({ "iss": "https://evil.test" }))),
        in_header("bad signature", mint(&forger, json!({}))),
        in_header("audience spelled https://orders-api/", mint(key, json!({ "aud": "https://orders-api/" }))),
        in_header("no exp", mint(key, json!({ "exp": null }))),
        in_header(
            "issued 50 min ago, expires in 20",
            mint(key, json!({ "iat": now - 3000, "exp": now + 1200 })),
        ),
        Probe {
            label: format!("{}: lower-case scheme", style.name),
            query: None,
            headers: vec![(style.header.to_owned(), format!("{}{valid}", style.prefix.to_lowercase()))],
        },
        Probe {
            label: format!("{}: in the query", style.name),
            query: Some(format!("{}={valid}", style.param)),
            headers: vec![],
        },
    ];
    if strict {
        probes.push(in_header("issued in 10 min", mint(key, json!({ "iat": now + 600, "exp": now + 900 }))));
        probes.push(Probe {
            label: format!("{}: scheme after other text", style.name),
            query: None,
            headers: vec![(style.header.to_owned(), format!("Other {}{valid}", style.prefix))],
        });
    }
    probes
}

/// A difference a case expects: on `path` (its label), `probe` gets
/// `jwt_authn` from Envoy's filter and `gatehouse` from the stack, and the
/// importer's output contains `declared`.
struct Expected {
    path: &'static str,
    probe: &'static str,
    jwt_authn: u16,
    gatehouse: u16,
    declared: &'static str,
}

fn on(
    paths: &[&'static str],
    probe: &'static str,
    statuses: (u16, u16),
    declared: &'static str,
) -> Vec<Expected> {
    let (jwt_authn, gatehouse) = statuses;
    paths.iter().map(|&path| Expected { path, probe, jwt_authn, gatehouse, declared }).collect()
}

/// How the input file is written.
enum Form {
    /// The filter entry: `name` and `typed_config` with `@type`, YAML.
    Entry,
    /// The bare message with `@type`, YAML.
    BareYaml,
    /// The bare message with `@type`, JSON.
    BareJson,
}

/// `(label, path, headers)`: where the probes go.
type Target = (&'static str, &'static str, &'static [(&'static str, &'static str)]);

struct Case {
    /// The `JwtAuthentication` message, YAML without `@type`; `{JWKS_URI}` is the IdP's.
    message: &'static str,
    form: Form,
    exit: i32,
    styles: &'static [&'static Style],
    paths: &'static [Target],
    expected: Vec<Expected>,
    /// Also send the tokens gatehouse reads more strictly (see [`probes`]).
    strict_probes: bool,
}

fn input_file(message: &str, form: &Form) -> String {
    match form {
        Form::Entry => {
            let indented: Vec<String> = message.lines().map(|line| format!("  {line}")).collect();
            format!(
                "name: envoy.filters.http.jwt_authn\ntyped_config:\n  \"@type\": {JWT_AUTHN_TYPE}\n{}\n",
                indented.join("\n")
            )
        }
        Form::BareYaml => format!("\"@type\": {JWT_AUTHN_TYPE}\n{message}"),
        Form::BareJson => {
            let mut value: Value = serde_yaml_ng::from_str(message).unwrap();
            value.as_object_mut().unwrap().insert("@type".into(), JWT_AUTHN_TYPE.into());
            serde_json::to_string_pretty(&value).unwrap()
        }
    }
}

/// `gatehouse import jwt-authn` on the case's file: (exit code, stdout, stderr).
fn import(dir: &std::path::Path, text: &str) -> (i32, String, String) {
    let file = dir.join("jwt-authn-filter.yaml");
    std::fs::write(&file, text).unwrap();
    let output = gatehouse_command(&["import", "jwt-authn", file.to_str().unwrap()]).output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let header = format!("# Generated by `gatehouse import jwt-authn` from {}.", file.display());
    assert!(stdout.starts_with(&header), "the output names its input first:\n{stdout}");
    (output.status.code().unwrap_or(-1), stdout, String::from_utf8_lossy(&output.stderr).into_owned())
}

/// The output's comments as running text (a note may be wrapped over lines).
fn comment_text(output: &str) -> String {
    let lines = output.lines().filter_map(|line| line.trim_start().strip_prefix('#')).map(str::trim);
    lines.collect::<Vec<_>>().join(" ")
}

/// Both sides of a comparison, still running, for a case's own checks.
struct Sides {
    envoy: JwtAuthnEnvoy,
    stack: Stack,
    key: SigningKey,
    idp: Idp,
    /// The output's comments as running text.
    declared: String,
}

/// One difference: (path label, probe label, jwt_authn's status, gatehouse's).
type Difference = (String, String, u16, u16);

async fn compare(case: Case) -> Sides {
    let key = es256_key("import-k1");
    let idp = Idp::start(Mode::Serve(jwks_json(&[&key]))).await;
    let message = case.message.replace("{JWKS_URI}", &idp.uri());
    let dir = tempfile::tempdir().unwrap();
    let (code, imported, stderr) = import(dir.path(), &input_file(&message, &case.form));
    assert_eq!(code, case.exit, "exit status of the import; stderr:\n{stderr}\noutput:\n{imported}");

    let filter: Value = serde_yaml_ng::from_str(&message).unwrap();
    let envoy = JwtAuthnEnvoy::start(&filter, idp.addr).await;
    let stack = Stack::start(StackOptions::new("sidecar.yaml", &imported, jwks_json(&[&key]))).await;
    let differences = ask_both(&case, &case_probes(&case, &key), &envoy, &stack).await;
    let expected: BTreeSet<Difference> = case
        .expected
        .iter()
        .map(|e| (e.path.to_owned(), e.probe.to_owned(), e.jwt_authn, e.gatehouse))
        .collect();
    assert_eq!(
        differences, expected,
        "observed vs expected differences (path, request, jwt_authn, gatehouse)"
    );
    let declared = comment_text(&imported);
    for difference in &case.expected {
        let text = difference.declared;
        assert!(declared.contains(text), "the output does not declare `{text}`:\n{imported}");
    }
    Sides { envoy, stack, key, idp, declared }
}

/// No token, each style's probes, and (with two styles) both valid tokens at once.
fn case_probes(case: &Case, key: &SigningKey) -> Vec<Probe> {
    let mut all = vec![Probe { label: "no token".into(), query: None, headers: vec![] }];
    for style in case.styles {
        all.extend(probes(key, style, case.strict_probes));
    }
    if let [first, second, ..] = case.styles {
        let mut headers = Vec::new();
        for style in [first, second] {
            let token = token_with(key, json!({ "iss": style.issuer }));
            headers.push((style.header.to_owned(), format!("{}{token}", style.prefix)));
        }
        let label = format!("two tokens: {} and {}", first.name, second.name);
        all.push(Probe { label, query: None, headers });
    }
    all
}

/// Every probe on every path, to both sides; the table of statuses is printed.
async fn ask_both(
    case: &Case,
    probes: &[Probe],
    envoy: &JwtAuthnEnvoy,
    stack: &Stack,
) -> BTreeSet<Difference> {
    let mut table = String::new();
    let mut differences = BTreeSet::new();
    for (label, path, extra) in case.paths {
        for probe in probes {
            let target = probe.query.as_ref().map_or_else(|| path.to_string(), |q| format!("{path}?{q}"));
            let mut headers: Vec<(&str, &str)> = extra.to_vec();
            headers.extend(probe.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let (theirs, ours) = (envoy.get(&target, &headers).await, stack.get(&target, &headers).await);
            let (jwt_authn, gatehouse) = (theirs.status, ours.status);
            table.push_str(&format!(
                "{label:<28} {:<48} jwt_authn {jwt_authn} gatehouse {gatehouse}\n",
                probe.label
            ));
            check_upstream(&theirs, &ours, &probe.label);
            if jwt_authn != gatehouse {
                differences.insert((label.to_string(), probe.label.clone(), jwt_authn, gatehouse));
            }
        }
    }
    eprintln!("--- statuses ---\n{table}");
    differences
}

/// An allowed request reached the upstream on both sides, with the same identity header.
fn check_upstream(theirs: &Reply, ours: &Reply, what: &str) {
    if theirs.status == 200 && ours.status == 200 {
        assert!(theirs.is_from_upstream() && ours.is_from_upstream(), "{what}: {theirs:?} / {ours:?}");
        let (theirs, ours) = (upstream_saw(&theirs.body), upstream_saw(&ours.body));
        if theirs.get("x-user-id").is_some() {
            assert_eq!(theirs["x-user-id"], ours["x-user-id"], "{what}: x-user-id upstream");
        }
    }
}

const REMOTE_JWKS_FILTER: &str = r#"
providers:
  corp:
    issuer: https://idp.test
    audiences: [orders-api]
    remote_jwks:
      http_uri: { uri: "{JWKS_URI}", cluster: idp, timeout: 5s }
      cache_duration: 300s
    claim_to_headers:
      - { header_name: x-user-id, claim_name: sub }
    forward_payload_header: x-jwt-payload
rules:
  - match: { prefix: /public }
  - match: { prefix: /api }
    requires: { provider_name: corp }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_jwks_with_audiences_and_claim_headers() {
    let protected = &["/api/orders", "/apix"];
    let mut expected = on(protected, "corp: wrong audience", (403, 401), AUDIENCE_STATUS);
    expected.extend(on(protected, "corp: lower-case scheme", (401, 200), SCHEME_CASE));
    let sides = compare(Case {
        message: REMOTE_JWKS_FILTER,
        form: Form::Entry,
        exit: 0,
        styles: &[&CORP],
        paths: &[
            ("/public/info", "/public/info", &[]),
            ("/publicity", "/publicity", &[]),
            ("/api/orders", "/api/orders", &[]),
            ("/apix", "/apix", &[]),
            ("/other", "/other", &[]),
        ],
        expected,
        strict_probes: false,
    })
    .await;
    same_upstream_view(&sides).await;
    new_signing_key(&sides).await;
}

/// What the upstream sees and which path decides: the same on both sides.
async fn same_upstream_view(sides: &Sides) {
    // A forged identity header: both replace it with the token's claim, and
    // both remove it from requests they do not verify.
    let token = format!("Bearer {}", token_with(&sides.key, json!({})));
    let forged = [("authorization", token.as_str()), ("x-user-id", "admin")];
    for (path, user) in
        [("/api/orders", json!("alice")), ("/public/info", Value::Null), ("/other", Value::Null)]
    {
        let theirs = upstream_saw(&sides.envoy.get(path, &forged).await.body);
        let ours = upstream_saw(&sides.stack.get(path, &forged).await.body);
        assert_eq!((&theirs["x-user-id"], &ours["x-user-id"]), (&user, &user), "{path}: {theirs} / {ours}");
    }
    // forward: false: both remove a token read from the query string.
    let target = format!("/api/orders?access_token={}&page=2", token_with(&sides.key, json!({})));
    let theirs = upstream_path(&sides.envoy.get(&target, &[]).await.body);
    let ours = upstream_path(&sides.stack.get(&target, &[]).await.body);
    assert_eq!((theirs.as_str(), ours.as_str()), ("/api/orders?page=2", "/api/orders?page=2"));
    // Both see the normalized path: a way around /api is not one.
    for target in ["/public/../api/orders", "/public/./../api/orders", "/public//info"] {
        let theirs = sides.envoy.raw("GET", target, &[]).await.status;
        let ours = sides.stack.raw("GET", target, &[]).await.status;
        assert_eq!(theirs, ours, "{target}: jwt_authn {theirs}, gatehouse {ours}");
    }
}

/// The IdP publishes a new key and signs with it: gatehouse fetches the
/// JWKS for the unknown kid, jwt_authn keeps its cached set until
/// cache_duration (300 s) runs out (as the output's general notes say).
async fn new_signing_key(sides: &Sides) {
    assert!(sides.declared.contains(NEW_KEY), "the output does not declare `{NEW_KEY}`");
    let fresh = es256_key("import-k2");
    sides.idp.set(Mode::Serve(jwks_json(&[&sides.key, &fresh])));
    let token = format!("Bearer {}", token_with(&fresh, json!({})));
    let headers = [("authorization", token.as_str())];
    assert_eq!(sides.envoy.get("/api/orders", &headers).await.status, 401, "jwt_authn, new kid");
    // The Check waits for the fetch only so long (limits.unknown_kid_wait):
    // a 503 meanwhile is the documented "retry" answer.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let status = sides.stack.get("/api/orders", &headers).await.status;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "gatehouse, new kid");
        assert!(std::time::Instant::now() < deadline, "gatehouse never accepted the new key");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(sides.envoy.get("/api/orders", &headers).await.status, 401, "jwt_authn, new kid, again");
}

const HEADER_AND_PARAM_FILTER: &str = r#"
providers:
  partners:
    issuer: https://partners.test
    remote_jwks:
      http_uri: { uri: "{JWKS_URI}", cluster: idp, timeout: 5s }
    from_headers:
      - { name: x-partner-token, value_prefix: "Token " }
    from_params: [partner_token]
    forward: true
    clock_skew_seconds: 30
    require_expiration: true
rules:
  - match: { prefix: / }
    requires: { provider_name: partners }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_header_prefix_and_query_parameter() {
    let paths = &["/", "/anything/deeper"];
    compare(Case {
        message: HEADER_AND_PARAM_FILTER,
        form: Form::BareJson,
        exit: 0,
        styles: &[&PARTNERS, &CORP],
        paths: &[("/", "/", &[]), ("/anything/deeper", "/anything/deeper", &[])],
        expected: on(paths, "partners: lower-case scheme", (401, 200), SCHEME_CASE),
        strict_probes: false,
    })
    .await;
}

const RULES_FILTER: &str = r#"
providers:
  corp:
    issuer: https://idp.test
    audiences: [orders-api]
    remote_jwks: { http_uri: { uri: "{JWKS_URI}", cluster: idp, timeout: 5s } }
  partners:
    issuer: https://partners.test
    remote_jwks: { http_uri: { uri: "{JWKS_URI}", cluster: idp, timeout: 5s } }
    from_headers: [{ name: x-partner-token, value_prefix: "Token " }]
rules:
  - match: { path: /health }
  - match: { safe_regex: { regex: "/items/[0-9]+" } }
    requires:
      requires_any:
        requirements: [{ provider_name: corp }, { provider_name: partners }]
  - match:
      prefix: /admin
      headers: [{ name: x-tenant, string_match: { exact: acme } }]
    requires:
      requires_all:
        requirements: [{ provider_name: corp }, { allow_missing: {} }]
  - match: { path_separated_prefix: /catalog }
    requires:
      requires_any:
        requirements: [{ provider_name: corp }, { provider_name: partners }, { allow_missing: {} }]
  - match: { prefix: /opt }
    requires: { allow_missing: {} }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_with_path_regex_header_matches_and_requirement_groups() {
    let corp_verified = &["/items/42", "/admin/users with x-tenant", "/catalog/books", "/optional"];
    let mut expected = on(corp_verified, "corp: wrong audience", (403, 401), AUDIENCE_STATUS);
    expected.extend(on(
        &["/items/42", "/admin/users with x-tenant"],
        "corp: lower-case scheme",
        (401, 200),
        SCHEME_CASE,
    ));
    expected.extend(on(&["/items/42"], "partners: lower-case scheme", (401, 200), SCHEME_CASE));
    let both = &["/items/42", "/catalog/books", "/optional"];
    expected.extend(on(both, "two tokens: corp and partners", (200, 400), TWO_TOKENS));
    compare(Case {
        message: RULES_FILTER,
        form: Form::Entry,
        exit: 0,
        styles: &[&CORP, &PARTNERS],
        paths: &[
            ("/health", "/health", &[]),
            ("/items/42", "/items/42", &[]),
            ("/items/abc", "/items/abc", &[]),
            ("/admin/users with x-tenant", "/admin/users", &[("x-tenant", "acme")]),
            ("/admin/users", "/admin/users", &[]),
            ("/catalog/books", "/catalog/books", &[]),
            ("/catalogue", "/catalogue", &[]),
            ("/optional", "/optional", &[]),
        ],
        expected,
        strict_probes: false,
    })
    .await;
}

const LENIENT_FILTER: &str = r#"
providers:
  corp:
    issuer: https://idp.test
    audiences: [orders-api]
    remote_jwks: { http_uri: { uri: "{JWKS_URI}", cluster: idp, timeout: 5s } }
    max_lifetime: 1800s
rules:
  - match: { prefix: /lenient }
    requires: { allow_missing_or_failed: {} }
  - match: { prefix: / }
    requires: { provider_name: corp }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_missing_or_failed_and_max_lifetime_exit_1() {
    let mut expected = Vec::new();
    for probe in
        ["corp: expired", "corp: wrong audience", "corp: wrong issuer", "corp: bad signature", "corp: no exp"]
    {
        expected.extend(on(&["/lenient/page"], probe, (200, 401), MISSING_OR_FAILED));
    }
    expected.extend(on(
        &["/lenient/page"],
        "corp: issued 50 min ago, expires in 20",
        (200, 401),
        MISSING_OR_FAILED,
    ));
    expected.extend(on(&["/orders"], "corp: wrong audience", (403, 401), AUDIENCE_STATUS));
    expected.extend(on(&["/orders"], "corp: lower-case scheme", (401, 200), SCHEME_CASE));
    expected.extend(on(&["/orders"], "corp: issued 50 min ago, expires in 20", (200, 401), MAX_LIFETIME));
    expected.extend(on(&["/lenient/page"], "corp: issued in 10 min", (200, 401), MISSING_OR_FAILED));
    expected.extend(on(&["/orders"], "corp: issued in 10 min", (200, 401), FUTURE_IAT));
    expected.extend(on(&["/orders"], "corp: scheme after other text", (200, 401), SCHEME_PLACE));
    compare(Case {
        message: LENIENT_FILTER,
        form: Form::BareYaml,
        exit: 1,
        styles: &[&CORP],
        paths: &[("/lenient/page", "/lenient/page", &[]), ("/orders", "/orders", &[])],
        expected,
        strict_probes: true,
    })
    .await;
}
