//! The admin API: authentication, bad requests, each kind of revocation,
//! the list, the `gatehouse revoke` command, and `check-config`'s warning.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_admin_token_nothing_is_revoked() {
    let redis = Redis::start();
    let mut pair = Pair::start(&redis).await;
    let admin = Admin::of(&pair.a);
    let token = fresh_token(&pair.key, json!({}));
    let body = json!({ "issuer": ISSUER, "sub": "alice" }).to_string();
    for presented in [None, Some("wrong-token"), Some(&ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1])] {
        let (status, answer) =
            admin.post("/v1/revocations", presented, "application/json", body.clone()).await;
        assert_eq!(status, 401, "{presented:?}: {answer}");
        assert_eq!(answer["error"], "invalid_token");
    }
    let listed = reqwest::get(format!("http://{}/v1/revocations", pair.a.admin.unwrap())).await.unwrap();
    assert_eq!(listed.status(), 401, "listing needs the token too");
    assert!(admin.list().await.is_empty());
    assert_eq!(status_of(&mut pair.a.checker, &token).await, 0, "nothing was revoked");
    assert_eq!(redis.stream_len(STREAM), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_refused_with_the_reason() {
    let redis = Redis::start();
    let pair = Pair::start(&redis).await;
    let admin = Admin::of(&pair.a);
    let cases = [
        ("not JSON", "{".to_owned(), "EOF"),
        ("not an object", "[1]".to_owned(), "invalid type"),
        (
            "an unknown member",
            json!({ "issuer": ISSUER, "jti": "a", "why": "x" }).to_string(),
            "unknown field",
        ),
        ("no selector", json!({ "issuer": ISSUER }).to_string(), "exactly one of"),
        ("two selectors", json!({ "issuer": ISSUER, "jti": "a", "sid": "b" }).to_string(), "exactly one of"),
        (
            "an unknown issuer",
            json!({ "issuer": "https://nobody.test", "jti": "a" }).to_string(),
            "unknown issuer",
        ),
        (
            "issued_before with a jti",
            json!({ "issuer": ISSUER, "jti": "a", "issued_before": 1 }).to_string(),
            "only applies",
        ),
        ("an empty sub", json!({ "issuer": ISSUER, "sub": "" }).to_string(), "1 to 1024 bytes"),
        (
            "expires_at in the past",
            json!({ "issuer": ISSUER, "jti": "a", "expires_at": 1 }).to_string(),
            "has passed",
        ),
    ];
    for (what, body, reason) in cases {
        let (status, answer) =
            admin.post("/v1/revocations", Some(ADMIN_TOKEN), "application/json", body).await;
        assert_eq!(status, 400, "{what}: {answer}");
        assert_eq!(answer["error"], "invalid_request", "{what}");
        let description = answer["error_description"].as_str().unwrap_or_default();
        assert!(description.contains(reason), "{what}: {description}");
    }
    let huge = json!({ "issuer": ISSUER, "jti": "x".repeat(20_000) }).to_string();
    let (status, _) = admin.post("/v1/revocations", Some(ADMIN_TOKEN), "application/json", huge).await;
    assert_eq!(status, 413, "bodies are bounded (revocation.admin.max_body_bytes)");
    assert!(admin.list().await.is_empty());
    assert_eq!(redis.stream_len(STREAM), 0, "nothing reached the stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_jti_is_refused_and_listed_while_other_tokens_pass() {
    let redis = Redis::start();
    let mut pair = Pair::start(&redis).await;
    let admin = Admin::of(&pair.a);
    let revoked = fresh_token(&pair.key, json!({ "jti": "order-token-1" }));
    let other = fresh_token(&pair.key, json!({}));
    assert_eq!(status_of(&mut pair.a.checker, &revoked).await, 0, "cached before the revocation");

    let before = unix_now();
    let (status, entry) = admin.revoke(json!({ "issuer": ISSUER, "jti": "order-token-1" })).await;
    assert_eq!(status, 201, "{entry}");
    assert_eq!(
        (entry["kind"].as_str(), entry["jti"].as_str(), entry["by"].as_str()),
        (Some("jti"), Some("order-token-1"), Some("admin"))
    );
    let expires_at = entry["expires_at"].as_u64().unwrap();
    // max_lifetime 1h plus the default 60s clock skew, from now.
    assert!((before + 3660..=unix_now() + 3660).contains(&expires_at), "{entry}");
    assert!(entry["id"].as_str().is_some_and(|id| id.contains('-')), "the stream id: {entry}");

    assert_revoked(&pair.a.check_token(&revoked).await, "the replica that took it, a cache hit");
    assert_eq!(status_of(&mut pair.a.checker, &other).await, 0, "another token of alice");
    let listed = admin.list().await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], entry["id"]);
    assert_eq!(redis.stream_len(STREAM), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gatehouse_revoke_calls_the_admin_api() {
    let redis = Redis::start();
    let mut pair = Pair::start(&redis).await;
    let dir = tempfile::tempdir().unwrap();
    let token_path = token_file(dir.path());
    let addr = format!("http://{}", pair.a.admin.unwrap());
    let revoked = fresh_token(&pair.key, json!({ "sid": "session-9" }));
    let run = |args: &[&str]| {
        let mut command = gatehouse_testkit::process::gatehouse_command(&["revoke", "--addr", &addr]);
        command.args(args).arg("--token-file").arg(&token_path).output().unwrap()
    };
    let output = run(&["--issuer", ISSUER, "--sid", "session-9"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["kind"], "sid");
    until_denied(&mut pair.b.checker, &revoked, Duration::from_secs(2)).await;
    assert_revoked(&pair.b.check_token(&revoked).await, "the other replica");

    let listed = run(&["--list"]);
    assert!(listed.status.success());
    assert!(String::from_utf8_lossy(&listed.stdout).contains("session-9"));
    let refused = run(&["--issuer", "https://nobody.test", "--jti", "x"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("unknown issuer"));
}

#[test]
fn check_config_warns_when_tokens_may_outlive_their_revocations() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "providers:\n  - {{ name: corp, issuer: {ISSUER}, jwks: {{ uri: https://idp.test/jwks }} }}\n\
         revocation: {{ file: {}, retention: 1h }}\n",
        dir.path().join("revoked.yaml").display()
    );
    let path = dir.path().join("gatehouse.yaml");
    std::fs::write(&path, yaml).unwrap();
    let output =
        gatehouse_testkit::process::gatehouse_command(&["check-config", "--config", path.to_str().unwrap()])
            .output()
            .unwrap();
    assert!(output.status.success(), "a warning is no error: {}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("warning: providers[0].max_lifetime"), "{stderr}");
}
