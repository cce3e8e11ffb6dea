//! API keys: a key from `gatehouse dev api-key` passes with its claims, in
//! its header or as `Authorization: ApiKey`; anything else is 401; a line
//! removed from the watched file stops its key within the poll interval.

use std::time::{Duration, Instant};

use gatehouse_testkit::process::gatehouse_command;
use gatehouse_testkit::*;

use super::outcome;

/// Runs `gatehouse dev api-key`; returns the key and its file entry.
fn new_key(sub: &str, scope: &str) -> (String, String) {
    let output = gatehouse_command(&["dev", "api-key", "--sub", sub, "--scope", scope]).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let (key, entry) = lines.split_first().expect("a key line");
    assert!(key.starts_with("gh_") && key.len() > 40, "{key}");
    assert!(!text.contains(&format!("key_sha256: {key}")), "the entry holds the hash, not the key");
    (key.to_string(), entry.join("\n") + "\n")
}

fn config(file: &std::path::Path) -> String {
    config_with(file, "")
}

fn config_with(file: &std::path::Path, extra: &str) -> String {
    format!(
        r#"
providers:
  - name: partners
    issuer: https://keys.partners
    api_keys: {{ file: "{}" }}
    claims_to_headers: [{{ claim: sub, header: x-user-id }}]
rules:
  - match: {{ path_prefix: /partners }}
    require: {{ providers: [partners], scopes_all: ["orders:read"] }}
{extra}"#,
        file.display()
    )
}

async fn check(gatehouse: &mut Gatehouse, headers: &[(&str, &str)]) -> String {
    outcome(&gatehouse.check(request("GET", "/partners/orders", headers)).await)
}

#[tokio::test]
async fn api_keys_pass_with_their_claims_and_stop_when_their_line_is_removed() {
    let (key, entry) = new_key("partner-1", "orders:read");
    let (other_key, other_entry) = new_key("partner-2", "orders:read");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("api-keys.yaml");
    std::fs::write(&file, format!("{entry}{other_entry}")).unwrap();
    let mut gatehouse = Gatehouse::start(&config(&file)).await;

    let allowed = gatehouse.check(request("GET", "/partners/orders", &[("x-api-key", &key)])).await;
    let ok = ok(&allowed);
    assert_eq!(header(&ok.headers, "x-user-id"), Some("partner-1"));
    assert!(ok.headers_to_remove.contains(&"x-api-key".to_owned()), "the key never reaches the upstream");
    let scheme = format!("ApiKey {other_key}");
    assert_eq!(check(&mut gatehouse, &[("authorization", &scheme)]).await, "allow partner-2");

    let mut one_byte_off = key.clone().into_bytes();
    let last = one_byte_off.len() - 1;
    one_byte_off[last] = if one_byte_off[last] == b'A' { b'B' } else { b'A' };
    let one_byte_off = String::from_utf8(one_byte_off).unwrap();
    for (what, headers, expected) in [
        ("unknown key", vec![("x-api-key", "gh_not-a-key")], "unknown_api_key 401"),
        ("one byte off", vec![("x-api-key", one_byte_off.as_str())], "unknown_api_key 401"),
        ("a prefix of the key", vec![("x-api-key", &key[..key.len() - 1])], "unknown_api_key 401"),
        ("as a bearer token", vec![("authorization", &*format!("Bearer {key}"))], "missing_token 401"),
        ("in another header", vec![("x-api-token", key.as_str())], "missing_token 401"),
        ("no key", vec![], "missing_token 401"),
    ] {
        assert_eq!(check(&mut gatehouse, &headers).await, expected, "{what}");
    }

    // Revoked by removing its line: the file is re-read within the poll interval.
    std::fs::write(&file, &other_entry).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = check(&mut gatehouse, &[("x-api-key", &key)]).await;
        if answer == "unknown_api_key 401" {
            break;
        }
        assert_eq!(answer, "allow partner-1");
        assert!(Instant::now() < deadline, "the removed key still passes");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(check(&mut gatehouse, &[("authorization", &scheme)]).await, "allow partner-2");
    let metrics = gatehouse_testkit::ops::metrics(gatehouse.http).await;
    assert_eq!(ops::metric_in(&metrics, r#"gatehouse_api_keys{provider="partners"}"#), Some(1.0));
    gatehouse.stop().await;
}

#[tokio::test]
async fn a_key_without_the_scope_is_forbidden_and_a_broken_rewrite_keeps_the_keys() {
    let (key, entry) = new_key("partner-3", "billing:read");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("api-keys.yaml");
    std::fs::write(&file, &entry).unwrap();
    let mut gatehouse = Gatehouse::start(&config(&file)).await;
    assert_eq!(check(&mut gatehouse, &[("x-api-key", &key)]).await, "insufficient_scope 403");
    // A half-written file is not applied: the last good keys stay.
    std::fs::write(&file, "- key_sha256: 12\n").unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(check(&mut gatehouse, &[("x-api-key", &key)]).await, "insufficient_scope 403");
    gatehouse.stop().await;
}

/// The revocation mechanisms name an API key's holder by `sub` under the
/// provider's issuer, as for a token (a key has no `iat`, so a `sub`
/// cut-off covers it until the revocation entry expires).
#[tokio::test]
async fn an_api_key_holder_is_revoked_by_sub_through_the_revocation_file() {
    let (key, entry) = new_key("partner-4", "orders:read");
    let (other_key, other_entry) = new_key("partner-5", "orders:read");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("api-keys.yaml");
    std::fs::write(&file, format!("{entry}{other_entry}")).unwrap();
    let revoked = dir.path().join("revoked.yaml");
    std::fs::write(&revoked, "[]\n").unwrap();
    let extra = format!("revocation: {{ file: \"{}\", retention: 1h }}\n", revoked.display());
    let mut gatehouse = Gatehouse::start(&config_with(&file, &extra)).await;
    assert_eq!(check(&mut gatehouse, &[("x-api-key", &key)]).await, "allow partner-4");
    std::fs::write(&revoked, "- { issuer: https://keys.partners, sub: partner-4 }\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while check(&mut gatehouse, &[("x-api-key", &key)]).await != "revoked 401" {
        assert!(Instant::now() < deadline, "the revocation by sub did not apply");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(check(&mut gatehouse, &[("x-api-key", &other_key)]).await, "allow partner-5");
    gatehouse.stop().await;
}
