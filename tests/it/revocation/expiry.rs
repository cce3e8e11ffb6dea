//! An entry lives until no token it covers can still be accepted, then
//! leaves memory on every replica and the stream is trimmed (a short
//! `trim_interval` here).

use super::*;

/// The `kind`/selector pairs a replica lists now.
async fn listed(admin: &Admin) -> Vec<String> {
    let entries = admin.list().await;
    entries
        .iter()
        .map(|e| {
            format!(
                "{}:{}",
                e["kind"].as_str().unwrap(),
                e["jti"].as_str().or(e["sub"].as_str()).unwrap_or("")
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_leave_after_their_lifetime_and_the_stream_is_trimmed() {
    let redis = Redis::start();
    let mut pair = Pair::start(&redis).await;
    let (admin_a, admin_b) = (Admin::of(&pair.a), Admin::of(&pair.b));
    let now = unix_now();
    let brief = fresh_token(&pair.key, json!({ "jti": "brief" }));
    let kept = fresh_token(&pair.key, json!({ "jti": "kept" }));

    // Oldest first, the one that stays last: the stream is trimmed up to its oldest live entry.
    let (status, entry) =
        admin_a.revoke(json!({ "issuer": ISSUER, "jti": "brief", "expires_at": now + 2 })).await;
    assert_eq!((status, entry["expires_at"].as_u64()), (201, Some(now + 2)), "{entry}");
    // Without expires_at: issued_before + max_lifetime (1h) + clock skew (60s).
    let issued_before = now + 3 - 3600 - 60;
    let (status, entry) =
        admin_a.revoke(json!({ "issuer": ISSUER, "sub": "bob", "issued_before": issued_before })).await;
    assert_eq!((status, entry["expires_at"].as_u64()), (201, Some(now + 3)), "{entry}");
    assert_eq!(
        admin_a.revoke(json!({ "issuer": ISSUER, "jti": "kept", "expires_at": now + 600 })).await.0,
        201
    );
    until_denied(&mut pair.b.checker, &kept, Duration::from_secs(2)).await;
    assert_revoked(&pair.b.check_token(&brief).await, "before its expiry");
    assert_eq!(listed(&admin_b).await, ["jti:brief", "sub:bob", "jti:kept"]);
    assert_eq!(redis.stream_len(STREAM), 3);

    let deadline = Instant::now() + Duration::from_secs(15);
    while redis.stream_len(STREAM) > 1 || listed(&admin_a).await.len() > 1 || listed(&admin_b).await.len() > 1
    {
        assert!(
            Instant::now() < deadline,
            "still {} in the stream, listed {:?}",
            redis.stream_len(STREAM),
            listed(&admin_b).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(listed(&admin_b).await, ["jti:kept"]);
    for (name, replica) in [("a", &mut pair.a), ("b", &mut pair.b)] {
        assert_eq!(status_of(&mut replica.checker, &brief).await, 0, "{name}: its revocation has expired");
        assert_revoked(&replica.check_token(&kept).await, name);
        let gauge = replica.metric(r#"gatehouse_revocations{provider="corp",kind="sub"}"#).await;
        assert_eq!(gauge, Some(0.0), "{name}");
    }
    // A replica started now reads only what is left.
    let late = replica(&pair.key, &redis, pair._dir.path()).await;
    assert_eq!(listed(&Admin::of(&late)).await, ["jti:kept"]);
}
