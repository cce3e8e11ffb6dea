//! No token or API key bytes in any log line at any level: the built binary
//! runs with `GATEHOUSE_LOG=trace` (every dependency's trace output too)
//! while it allows and denies JWTs, opaque tokens and API keys, and while
//! the introspection server fails; then its whole output is searched.

use std::time::Duration;

use gatehouse_testkit::idp::{Idp, Introspection, Mode, CLIENT_SECRET};
use gatehouse_testkit::process::{free_addr, gatehouse_command, Served};
use gatehouse_testkit::*;
use serde_json::json;

/// The parts of a credential that must never be printed: the whole of it
/// and, for a JWS, its payload and signature segments (a log could cut a
/// token at a dot).
fn secrets_of(credential: &str) -> Vec<String> {
    let mut parts = vec![credential.to_owned()];
    parts.extend(credential.split('.').filter(|part| part.len() >= 16).map(str::to_owned));
    parts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_bytes_reach_the_logs_at_trace_level() {
    let idp = Idp::start(Mode::Fail).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("client-secret");
    std::fs::write(&secret, CLIENT_SECRET).unwrap();
    let api_key = format!("gh_{:032x}", rand::random::<u128>());
    let keys_file = dir.path().join("api-keys.yaml");
    let digest = gatehouse::internals::api_key_sha256_hex(&api_key);
    std::fs::write(&keys_file, format!("- key_sha256: {digest}\n  claims: {{ sub: partner-1 }}\n")).unwrap();
    let corp = es256_key("corp-1");
    let (grpc, http) = (free_addr(), free_addr());
    let mut yaml = config::introspection_config(&corp, &idp.introspection_uri(), &secret, "wait: 2s", "");
    yaml.push_str(&format!(
        r#"
  - match: {{ path_prefix: /partners }}
    require: {{ providers: [partners] }}
decision_log: true
server: {{ grpc_addr: "{grpc}", http_addr: "{http}" }}
"#
    ));
    let yaml = yaml.replacen(
        "rules:",
        &format!(
            "  - {{ name: partners, issuer: https://keys.partners, api_keys: {{ file: \"{}\" }} }}\nrules:",
            keys_file.display()
        ),
        1,
    );
    let path = dir.path().join("gatehouse.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let mut command = gatehouse_command(&["serve", "--config", path.to_str().unwrap()]);
    command.env("GATEHOUSE_LOG", "trace");
    let mut served = Served::spawn_command(dir.path(), command);
    served.wait_ready(http, Duration::from_secs(10)).await;
    let mut checker = Checker::connect(grpc).await;

    let active = opaque_token();
    idp.answer(&active, active_answer(json!({})));
    let inactive = opaque_token();
    let during_outage = opaque_token();
    let jwt = token(&corp);
    let forged = token(&random_key());
    let mut credentials =
        vec![active.clone(), inactive.clone(), during_outage.clone(), jwt.clone(), forged.clone()];
    for (path, token) in [("/api/a", &active), ("/api/b", &inactive), ("/api/c", &jwt), ("/api/d", &forged)] {
        checker.check(request("GET", path, &[("authorization", &bearer(token))])).await;
    }
    idp.set_introspection(Introspection::Fail);
    checker.check(request("GET", "/api/e", &[("authorization", &bearer(&during_outage))])).await;
    let wrong_key = format!("{api_key}x");
    for key in [&api_key, &wrong_key] {
        checker.check(request("GET", "/partners/x", &[("x-api-key", key)])).await;
        let scheme = format!("ApiKey {key}");
        checker.check(request("GET", "/partners/y", &[("authorization", &scheme)])).await;
    }
    credentials.extend([api_key, wrong_key]);
    drop(checker);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let output = format!("{}{}", served.stdout(), served.stderr());
    assert!(output.lines().count() > 50, "trace logging is on: {} lines", output.lines().count());
    assert!(output.contains("token introspection failed"), "the outage is logged");
    for credential in &credentials {
        for secret in secrets_of(credential) {
            let line = output.lines().find(|line| line.contains(&secret));
            assert!(line.is_none(), "credential bytes in a log line: {line:?}");
        }
    }
}
