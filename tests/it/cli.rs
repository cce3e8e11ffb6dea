//! The built `gatehouse` binary: `--version`, `check-config`, the `dev`
//! helpers, and a full `serve` → Check → SIGTERM round trip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use gatehouse::internals::wire::authorization_client::AuthorizationClient;
use gatehouse_testkit::process::{free_addr, gatehouse_command, Served};
use gatehouse_testkit::{denied, header, ok, request};

fn run(command: &mut Command) -> Output {
    command.output().expect("run the gatehouse binary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

const GOOD_CONFIG: &str = r#"
providers:
  - name: corp
    issuer: https://idp.test
    audiences: [orders-api]
    algorithms: [ES256]
    jwks: { uri: "https://idp.test/.well-known/jwks.json", refresh_interval: 10m }
    clock_skew: 30s
    claims_to_headers:
      - { claim: sub, header: x-user-id }
rules:
  - match: { path_prefix: /public }
    allow: anonymous
  - match: { path_prefix: /api }
    require: { providers: [corp] }
"#;

#[test]
fn version_is_printed() {
    let output = run(&mut gatehouse_command(&["--version"]));
    assert!(output.status.success(), "{output:?}");
    let version = text(&output.stdout);
    let revision = String::from_utf8(
        Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).output().unwrap().stdout,
    )
    .unwrap();
    // The test binary and gatehouse are built from the same checkout.
    assert_eq!(version.trim(), format!("gatehouse 0.1.0 ({}, debug)", revision.trim()), "{version}");
}

#[test]
fn serve_help_mentions_the_config_env_variable() {
    let output = run(&mut gatehouse_command(&["serve", "--help"]));
    assert!(output.status.success(), "{output:?}");
    let help = text(&output.stdout);
    assert!(help.contains("GATEHOUSE_CONFIG"), "{help}");
    assert!(help.contains("--config"), "{help}");
}

#[test]
fn check_config_accepts_a_good_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.yaml", GOOD_CONFIG);
    let output = run(&mut gatehouse_command(&["check-config", "--config", good.to_str().unwrap()]));
    assert_eq!(output.status.code(), Some(0), "stderr: {}", text(&output.stderr));
    assert!(text(&output.stdout).contains("ok"), "{output:?}");
    // What Envoy's `allowed_headers` must pass: the token's header, then what logs and traces read.
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("request headers read: authorization, x-request-id, traceparent, tracestate\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "allowed_headers: { patterns: [{ exact: authorization }, { exact: x-request-id }, { exact: traceparent }, { exact: tracestate }] }"
        ),
        "{stdout}"
    );
}

/// Structural problems (unknown keys, unparsable values) are collected per
/// section and per list entry, so one run names all of these. Semantic checks
/// (such as a rule naming an unknown provider) only run on a structurally
/// valid file, which is why they get their own file below.
#[test]
fn check_config_reports_every_structural_problem_with_its_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "structural.yaml",
        r#"
server:
  drain_timeout: soon
providers:
  - name: corp
    issuer: https://idp.test
    jwks: { uri: "https://idp.test/jwks.json" }
    audience: orders-api
  - name: partner
    issuer: https://partner.test
    jwks: { uri: "https://partner.test/jwks.json", refresh_interval: every 5 minutes }
rules:
  - match: { path_prefix: /api }
    require: { providers: [corp] }
"#,
    );
    let output = run(&mut gatehouse_command(&["check-config", "--config", bad.to_str().unwrap()]));
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "a bad file must fail: {output:?}");
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("invalid configuration"), "{stderr}");
    for expected in [
        "providers[0].audience: unknown field `audience`",
        "server.drain_timeout: invalid duration `soon`",
        "providers[1].jwks.refresh_interval: invalid duration `every 5 minutes`",
    ] {
        assert!(stderr.contains(expected), "missing `{expected}` in:\n{stderr}");
    }
    assert!(text(&output.stdout).is_empty(), "problems go to stderr: {output:?}");
}

#[test]
fn check_config_reports_every_semantic_problem_with_its_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "semantic.yaml",
        r#"
providers:
  - name: corp
    issuer: https://idp.test
    clock_skew: 2h
    jwks: { uri: "http://idp.example.com/jwks.json", refresh_interval: 500ms }
rules:
  - match: { path_prefix: /api }
    require: { providers: [corp] }
  - match: { path_prefix: /admin }
    require: { providers: [corp, nobody] }
"#,
    );
    let output = run(&mut gatehouse_command(&["check-config", "--config", bad.to_str().unwrap()]));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    for expected in [
        "rules[1].require.providers[1]: unknown provider `nobody`",
        "providers[0].clock_skew:",
        "providers[0].jwks.refresh_interval:",
        "providers[0].jwks.uri:",
    ] {
        assert!(stderr.contains(expected), "missing `{expected}` in:\n{stderr}");
    }
}

/// The configuration reference in the README is a config that loads, with
/// no warning: every key it shows exists and every value is accepted.
#[test]
fn the_readme_configuration_reference_passes_check_config() {
    let readme = std::fs::read_to_string(gatehouse_testkit::repo_root().join("README.md")).unwrap();
    let section = readme.split("\n## Configuration reference\n").nth(1).expect("the section");
    let yaml = section.split("```yaml\n").nth(1).and_then(|s| s.split("```").next()).expect("its YAML block");
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "reference.yaml", yaml);
    let output = run(&mut gatehouse_command(&["check-config", "--config", path.to_str().unwrap()]));
    assert!(output.status.success(), "{}{}", text(&output.stdout), text(&output.stderr));
    assert_eq!(text(&output.stderr), "", "no warnings");
}

#[test]
fn check_config_on_a_missing_file_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("does-not-exist.yaml");
    let output = run(&mut gatehouse_command(&["check-config", "--config", missing.to_str().unwrap()]));
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{output:?}");
    assert!(stderr.contains("cannot read"), "{stderr}");
    assert!(stderr.contains(missing.to_str().unwrap()), "the message must name the file: {stderr}");
    assert!(stderr.contains("No such file"), "{stderr}");

    // No --config and no GATEHOUSE_CONFIG: a usage error, not a panic.
    let output = run(&mut gatehouse_command(&["check-config"]));
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(text(&output.stderr).contains("--config"), "{output:?}");
}

#[test]
fn check_config_reads_the_path_from_gatehouse_config() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.yaml", GOOD_CONFIG);
    let output = run(gatehouse_command(&["check-config"]).env("GATEHOUSE_CONFIG", &good));
    assert_eq!(output.status.code(), Some(0), "stderr: {}", text(&output.stderr));
    assert!(text(&output.stdout).contains(good.to_str().unwrap()), "{output:?}");

    let bad = write(dir.path(), "bad.yaml", "providers: []\nsurprise: 1\n");
    let output = run(gatehouse_command(&["check-config"]).env("GATEHOUSE_CONFIG", &bad));
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(text(&output.stderr).contains("surprise"), "{output:?}");
}

#[tokio::test]
async fn keygen_mint_serve_check_and_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");

    // dev keygen
    let output = run(&mut gatehouse_command(&["dev", "keygen", "--out-dir", keys.to_str().unwrap()]));
    assert!(output.status.success(), "keygen: {output:?}");
    let jwks_path = keys.join("jwks.json");
    let key_path = keys.join("signing-key.json");
    let jwks: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&jwks_path).unwrap()).unwrap();
    assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(1), "{jwks}");
    assert!(jwks["keys"][0].get("d").is_none(), "the public JWKS must not hold the private key");

    // dev mint
    let output = run(&mut gatehouse_command(&[
        "dev",
        "mint",
        "--key",
        key_path.to_str().unwrap(),
        "--sub",
        "alice",
        "--aud",
        "orders-api",
    ]));
    assert!(output.status.success(), "mint: {output:?}");
    let token = text(&output.stdout).trim().to_owned();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    assert!(parts.iter().all(|p| !p.is_empty()), "{token}");

    // serve
    let grpc = free_addr();
    let http = free_addr();
    let config = write(
        dir.path(),
        "gatehouse.yaml",
        &format!(
            r#"
server:
  grpc_addr: "{grpc}"
  http_addr: "{http}"
providers:
  - name: dev
    issuer: {issuer}
    audiences: [orders-api]
    jwks: {{ file: "{jwks}" }}
    claims_to_headers:
      - {{ claim: sub, header: x-user-id }}
rules:
  - match: {{ path_prefix: /api }}
    require: {{ providers: [dev] }}
"#,
            issuer = gatehouse::internals::DEFAULT_ISSUER,
            jwks = jwks_path.display(),
        ),
    );
    let mut served = Served::spawn(dir.path(), &["serve", "--config", config.to_str().unwrap()]);
    served.wait_ready(http, Duration::from_secs(10)).await;

    {
        let mut client =
            AuthorizationClient::connect(format!("http://{grpc}")).await.expect("connect to gatehouse");
        let auth = format!("Bearer {token}");
        let response = client
            .check(request("GET", "/api/orders", &[("authorization", &auth)]))
            .await
            .expect("Check RPC")
            .into_inner();
        let allowed = ok(&response);
        assert_eq!(header(&allowed.headers, "x-user-id"), Some("alice"), "{allowed:?}");

        let response =
            client.check(request("GET", "/api/orders", &[])).await.expect("Check RPC").into_inner();
        let (status, code, _) = denied(&response);
        assert_eq!((status, code), (401, 16));
    }

    // SIGTERM: a clean exit with status 0.
    served.signal("TERM");
    let status = served.wait_exit(Duration::from_secs(15)).await;
    assert_eq!(status.code(), Some(0), "exit after SIGTERM: {status}");
    // Nothing was in flight, so draining must not have waited out `drain_timeout`.
    let log = format!("{}{}", served.stdout(), served.stderr());
    assert!(log.contains("shutting down"), "{log}");
    assert!(!log.contains("drain timeout reached"), "{log}");
}

#[test]
fn explain_names_the_rule_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    assert!(run(&mut gatehouse_command(&["dev", "keygen", "--out-dir", out])).status.success());
    let key = format!("{out}/signing-key.json");
    let config = write(
        dir.path(),
        "explain.yaml",
        &format!(
            r#"
providers:
  - name: local
    issuer: https://gatehouse.local
    jwks: {{ file: {out}/jwks.json }}
    claims_to_headers: [ {{ claim: sub, header: x-user-id }} ]
rules:
  - name: public
    match: {{ path_prefix: /public }}
    allow: anonymous
  - name: orders
    match: {{ path_prefix: /orders }}
    require: {{ scopes_all: [orders:read] }}
revocation: {{ file: {out}/revoked.yaml }}
"#
        ),
    );
    // bob's tokens issued until half a minute from now are revoked.
    let cutoff = gatehouse_testkit::unix_now() + 30;
    let revoked = format!("- {{ issuer: https://gatehouse.local, sub: bob, issued_before: {cutoff} }}\n");
    write(dir.path(), "revoked.yaml", &revoked);
    let config = config.to_str().unwrap();
    let mint_for = |sub: &str, scope: &str| {
        let output =
            run(&mut gatehouse_command(&["dev", "mint", "--key", &key, "--sub", sub, "--scope", scope]));
        assert!(output.status.success(), "{}", text(&output.stderr));
        text(&output.stdout).trim().to_owned()
    };
    let mint = |scope: &str| mint_for("alice", scope);
    let explain = |extra: &[&str]| {
        let mut args = vec!["--log-level", "warn", "explain", "--config", config];
        args.extend_from_slice(extra);
        let output = run(&mut gatehouse_command(&args));
        assert!(output.status.success(), "{}", text(&output.stderr));
        text(&output.stdout)
    };
    let reader = mint("orders:read");
    let allowed = explain(&["--path", "/orders/7", "--token", &reader]);
    assert!(allowed.contains("rule:     orders") && allowed.contains("ALLOW"), "{allowed}");
    assert!(allowed.contains("set    x-user-id: alice"), "{allowed}");
    let writer = mint("orders:write");
    let denied = explain(&["--path", "/public/../orders/7", "--token", &writer]);
    assert!(denied.contains("rule:     orders") && denied.contains("insufficient_scope"), "{denied}");
    assert!(denied.contains("scope=\"orders:read\""), "{denied}");
    let by_route = explain(&["--path", "/orders/7", "--context", "gatehouse_rule=public"]);
    assert!(by_route.contains("rule:     public") && by_route.contains("ALLOW"), "{by_route}");
    let bob = mint_for("bob", "orders:read");
    let revoked = explain(&["--path", "/orders/7", "--token", &bob]);
    assert!(revoked.contains("DENY") && revoked.contains("token revoked"), "{revoked}");
}

/// `check-config` names an introspection secret whose variable is not set,
/// by its key path, and advises `token_types` where an ID token could pass.
#[test]
fn check_config_reports_unset_secrets_and_advises_token_types() {
    let dir = tempfile::tempdir().unwrap();
    let unset = write(
        dir.path(),
        "unset.yaml",
        r#"
providers:
  - name: as
    issuer: https://as.example
    introspection: { endpoint: https://as.example/introspect, client_id: gatehouse, client_secret: { env: AS_CLIENT_SECRET } }
"#,
    );
    let output = run(gatehouse_command(&["check-config", "--config", unset.to_str().unwrap()])
        .env_remove("AS_CLIENT_SECRET"));
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("providers[0].introspection.client_secret.env: environment variable `AS_CLIENT_SECRET` is not set"),
        "{stderr}"
    );
    let output = run(gatehouse_command(&["check-config", "--config", unset.to_str().unwrap()])
        .env("AS_CLIENT_SECRET", "s"));
    assert!(output.status.success(), "{output:?}");

    let advised = write(
        dir.path(),
        "advised.yaml",
        "providers:\n  - { name: corp, issuer: https://idp, audiences: [api], jwks: { uri: https://idp/jwks } }\n",
    );
    let output = run(&mut gatehouse_command(&["check-config", "--config", advised.to_str().unwrap()]));
    assert!(output.status.success(), "{output:?}");
    assert!(text(&output.stdout).contains("note: providers[0].token_types: not set"), "{output:?}");
}

#[test]
fn completions_for_each_shell_and_a_man_page_come_from_the_same_definition() {
    for (shell, marker) in
        [("bash", "_gatehouse()"), ("zsh", "#compdef gatehouse"), ("fish", "complete -c gatehouse")]
    {
        let output = run(&mut gatehouse_command(&["completions", shell]));
        let script = text(&output.stdout);
        assert!(script.contains(marker), "{shell}: {}", &script[..script.len().min(300)]);
        for command in ["check-config", "explain", "revoke", "api-key"] {
            assert!(script.contains(command), "{shell} completes `{command}`");
        }
    }
    let output = run(&mut gatehouse_command(&["man"]));
    let page = text(&output.stdout);
    assert!(
        page.starts_with(".ie \\n(.g .ds Aq") || page.contains(".TH gatehouse"),
        "{}",
        &page[..page.len().min(300)]
    );
    assert!(page.contains(".TH gatehouse 1"), "a section-1 page");
    assert!(page.contains("check\\-config"), "lists the subcommands");
    let output = gatehouse_command(&["completions", "tcsh"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "an unknown shell is a usage error");
}

/// The README's troubleshooting table has a row for every deny reason, with
/// the status the client sees.
#[test]
fn the_troubleshooting_table_lists_every_deny_reason() {
    let readme = std::fs::read_to_string(gatehouse_testkit::repo_root().join("README.md")).unwrap();
    let section = readme.split("\n## Troubleshooting\n").nth(1).expect("the section");
    let section = section.split("\n## ").next().unwrap();
    for reason in gatehouse::internals::DenyReason::all() {
        let row = section
            .lines()
            .find(|line| line.starts_with(&format!("| `{}` |", reason.as_str())))
            .unwrap_or_else(|| panic!("no troubleshooting row for `{}`", reason.as_str()));
        let status = reason.http_status().to_string();
        assert!(row.split('|').nth(2).is_some_and(|cell| cell.trim().starts_with(&status)), "{row}");
    }
}
