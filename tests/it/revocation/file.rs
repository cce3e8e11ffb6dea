//! `revocation.file`: revocations for teams without Redis, in a YAML list
//! gatehouse watches; an invalid rewrite keeps the previous entries.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_file_revokes_without_redis() {
    let dir = tempfile::tempdir().unwrap();
    let key = es256_key("k1");
    let path = dir.path().join("revoked.yaml");
    std::fs::write(&path, format!("- {{ issuer: {ISSUER}, jti: file-1 }}\n")).unwrap();
    let yaml = config(&inline(&key), &format!(r#"{{ file: "{}" }}"#, path.display()))
        // Logout tokens come in on the admin listener, which needs Redis.
        .replace("backchannel_logout: true", "backchannel_logout: false");
    let mut gatehouse = Gatehouse::start(&yaml).await;
    gatehouse.wait_ready(Duration::from_secs(5)).await;
    assert!(gatehouse.admin.is_none(), "no admin listener unless configured");
    let first = fresh_token(&key, json!({ "jti": "file-1" }));
    let bob = fresh_token(&key, json!({ "sub": "bob", "iat": unix_now() - 10 }));
    assert_revoked(&gatehouse.check_token(&first).await, "listed in the file at start");
    assert_eq!(status_of(&mut gatehouse.checker, &bob).await, 0);

    // file-1 taken out, bob's earlier tokens revoked.
    std::fs::write(&path, format!("- {{ issuer: {ISSUER}, sub: bob, issued_before: {} }}\n", unix_now()))
        .unwrap();
    until_denied(&mut gatehouse.checker, &bob, Duration::from_secs(5)).await;
    assert_eq!(status_of(&mut gatehouse.checker, &first).await, 0, "no longer in the file");
    let gauge = gatehouse.metric(r#"gatehouse_revocations{provider="corp",kind="sub"}"#).await;
    assert_eq!(gauge, Some(1.0));

    // An invalid rewrite changes nothing.
    for invalid in ["- { issuer: https://nobody.test, jti: x }\n", "- [ not, a, revocation\n"] {
        std::fs::write(&path, invalid).unwrap();
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_revoked(&gatehouse.check_token(&bob).await, invalid);
        assert_eq!(status_of(&mut gatehouse.checker, &first).await, 0, "{invalid}");
    }
    let (status, body) = gatehouse.http_get("/readyz").await;
    assert_eq!(status, 200, "{body}");
}
