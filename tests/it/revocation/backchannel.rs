//! OpenID Connect back-channel logout: a logout token the IdP signs revokes
//! the session and the subject's earlier tokens on every replica; a logout
//! token that breaks the spec, or comes twice, is refused and revokes nothing.

use super::*;

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A logout token for alice's session `sid`, `extra` over its claims (null removes).
fn logout_token(key: &SigningKey, typ: &str, extra: Value) -> String {
    let now = unix_now();
    let mut claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 120,
        "jti": format!("logout-{:016x}", rand::random::<u64>()),
        "sub": "alice", "sid": "session-1", "events": { EVENT: {} },
    });
    for (name, value) in extra.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    let header = json!({ "alg": "ES256", "typ": typ, "kid": key.kid() }).to_string();
    key.sign_raw(header.as_bytes(), claims.to_string().as_bytes()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_token_revokes_the_session_and_the_subject_on_both_replicas() {
    let redis = Redis::start();
    let mut pair = Pair::start(&redis).await;
    let now = unix_now();
    let in_session = fresh_token(&pair.key, json!({ "sid": "session-1", "iat": now - 30 }));
    let earlier = fresh_token(&pair.key, json!({ "iat": now - 30 }));
    let bob = fresh_token(&pair.key, json!({ "sub": "bob", "iat": now - 30 }));
    // Stamped with the second the logout arrives in (or an earlier one): covered.
    let just_before = fresh_token(&pair.key, json!({}));
    for token in [&in_session, &earlier, &bob, &just_before] {
        assert_eq!(status_of(&mut pair.b.checker, token).await, 0);
    }
    let (status, answer) = Admin::of(&pair.a).logout(&logout_token(&pair.key, "logout+jwt", json!({}))).await;
    assert_eq!(status, 200, "{answer}");

    for (name, replica) in [("a", &mut pair.a), ("b", &mut pair.b)] {
        until_denied(&mut replica.checker, &earlier, Duration::from_secs(2)).await;
        assert_revoked(&replica.check_token(&in_session).await, name);
        assert_revoked(&replica.check_token(&earlier).await, name);
        assert_revoked(&replica.check_token(&just_before).await, name);
        assert_eq!(status_of(&mut replica.checker, &bob).await, 0, "{name}: another subject");
    }
    let listed = Admin::of(&pair.b).list().await;
    let kinds: Vec<&str> = listed.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, ["sid", "sub"]);
    assert!(listed.iter().all(|e| e["by"] == "backchannel"));
    // Logging in again after the logout: a token issued later passes.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let later = fresh_token(&pair.key, json!({}));
    assert_eq!(status_of(&mut pair.a.checker, &later).await, 0, "a token issued after the logout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_tokens_that_break_the_spec_or_come_twice_revoke_nothing() {
    let redis = Redis::start();
    let mut pair = Pair::start(&redis).await;
    let admin = Admin::of(&pair.a);
    let alice = fresh_token(&pair.key, json!({ "sid": "session-1", "iat": unix_now() - 30 }));
    let stranger = es256_key(pair.key.kid());
    let cases = [
        ("a nonce", logout_token(&pair.key, "logout+jwt", json!({ "nonce": "n-1" })), "nonce"),
        ("no events", logout_token(&pair.key, "logout+jwt", json!({ "events": null })), "events"),
        ("a bad signature", logout_token(&stranger, "logout+jwt", json!({})), "signature"),
        (
            "another issuer",
            logout_token(&pair.key, "logout+jwt", json!({ "iss": "https://other.test" })),
            "issuer",
        ),
        ("another audience", logout_token(&pair.key, "logout+jwt", json!({ "aud": "billing" })), "audience"),
        ("no sub or sid", logout_token(&pair.key, "logout+jwt", json!({ "sub": null, "sid": null })), "sub"),
        ("an ID token's typ", logout_token(&pair.key, "JWT", json!({})), "typ"),
        (
            "issued an hour ago",
            logout_token(&pair.key, "logout+jwt", json!({ "iat": unix_now() - 3600 })),
            "too long ago",
        ),
        ("not a JWT", "garbage".to_owned(), "not a valid JWT"),
    ];
    for (what, token, reason) in cases {
        let (status, answer) = admin.logout(&token).await;
        assert_eq!(status, 400, "{what}: {answer}");
        let description = answer["error_description"].as_str().unwrap_or_default();
        assert!(description.contains(reason), "{what}: {description}");
    }
    let (status, _) = admin.post("/v1/backchannel-logout", None, "application/json", "{}".into()).await;
    assert_eq!(status, 400, "not form-encoded");

    let once = logout_token(&pair.key, "logout+jwt", json!({ "sub": null }));
    assert_eq!(admin.logout(&once).await.0, 200);
    let (status, answer) = Admin::of(&pair.b).logout(&once).await;
    assert_eq!(status, 400, "replayed, at another replica: {answer}");
    assert!(answer["error_description"].as_str().unwrap().contains("already used"));
    let listed = admin.list().await;
    assert_eq!(listed.len(), 1, "only the first logout revoked something: {listed:?}");
    until_denied(&mut pair.b.checker, &alice, Duration::from_secs(2)).await;
}
