// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
use serde_json::json;

use super::*;
use crate::authz::tests::{hmac_keys, sign_raw, NOW, SECRET_A, SECRET_B};

const ISS_A: &str = "https://a.example";
const ISS_B: &str = "https://b.example";
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
const LOGOUT_HEADER: &str = r#"{"alg":"HS256","typ":"logout+jwt","kid":"k1"}"#;

/// `a` takes logout tokens (audience `rp`); `b` does not.
fn policy() -> Policy {
    let yaml = r#"
providers:
  - { name: a, issuer: "https://a.example", audiences: [rp], algorithms: [HS256], hmac_secret: { env: A }, backchannel_logout: true }
  - { name: b, issuer: "https://b.example", audiences: [rp], algorithms: [HS256], hmac_secret: { env: B } }
revocation:
  redis: { url: "redis://127.0.0.1:1" }
  admin: { addr: "127.0.0.1:0", token: { env: T } }
"#;
    crate::config::test_policy(yaml, vec![hmac_keys(SECRET_A), hmac_keys(SECRET_B)])
}

fn claims(extra: serde_json::Value) -> serde_json::Value {
    let mut base = json!({
        "iss": ISS_A, "aud": "rp", "iat": NOW - 10, "exp": NOW + 110, "jti": "j1",
        "sub": "alice", "sid": "s1", "events": { EVENT: {} },
    });
    for (key, value) in extra.as_object().unwrap() {
        if value.is_null() {
            base.as_object_mut().unwrap().remove(key);
        } else {
            base[key] = value.clone();
        }
    }
    base
}

fn token(header: &str, secret: &[u8], extra: serde_json::Value) -> String {
    sign_raw(secret, header, &claims(extra).to_string())
}

#[test]
fn a_valid_logout_token_names_whom_to_log_out() {
    let logout = verify_logout_token(&policy(), &token(LOGOUT_HEADER, SECRET_A, json!({})), NOW).unwrap();
    assert_eq!(
        logout,
        Logout {
            issuer: ISS_A.into(),
            sub: Some("alice".into()),
            sid: Some("s1".into()),
            jti: "j1".into(),
            exp: NOW + 110
        }
    );
    let without_typ = r#"{"alg":"HS256","kid":"k1"}"#;
    assert!(
        verify_logout_token(&policy(), &token(without_typ, SECRET_A, json!({ "sid": null })), NOW).is_ok()
    );
    let media_type = r#"{"alg":"HS256","typ":"application/Logout+JWT","kid":"k1"}"#;
    assert!(verify_logout_token(&policy(), &token(media_type, SECRET_A, json!({ "sub": null })), NOW).is_ok());
}

#[test]
fn logout_tokens_that_break_the_spec_are_refused() {
    let policy = policy();
    let cases = [
        ("no events", token(LOGOUT_HEADER, SECRET_A, json!({ "events": null })), LogoutError::Events),
        (
            "another event",
            token(LOGOUT_HEADER, SECRET_A, json!({ "events": { "x": {} } })),
            LogoutError::Events,
        ),
        (
            "event not an object",
            token(LOGOUT_HEADER, SECRET_A, json!({ "events": { EVENT: 1 } })),
            LogoutError::Events,
        ),
        ("nonce", token(LOGOUT_HEADER, SECRET_A, json!({ "nonce": "n" })), LogoutError::Nonce),
        (
            "no sub or sid",
            token(LOGOUT_HEADER, SECRET_A, json!({ "sub": null, "sid": null })),
            LogoutError::Subject,
        ),
        ("sid a number", token(LOGOUT_HEADER, SECRET_A, json!({ "sid": 5 })), LogoutError::Subject),
        ("no jti", token(LOGOUT_HEADER, SECRET_A, json!({ "jti": null })), LogoutError::Claims),
        (
            "stale",
            token(LOGOUT_HEADER, SECRET_A, json!({ "iat": NOW - 400 - 60, "exp": NOW + 100 })),
            LogoutError::Stale,
        ),
        (
            "an ID token's typ",
            token(r#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#, SECRET_A, json!({})),
            LogoutError::Type,
        ),
        ("other issuer", token(LOGOUT_HEADER, SECRET_B, json!({ "iss": ISS_B })), LogoutError::UnknownIssuer),
        (
            "unknown issuer",
            token(LOGOUT_HEADER, SECRET_A, json!({ "iss": "https://x" })),
            LogoutError::UnknownIssuer,
        ),
        (
            "bad signature",
            token(LOGOUT_HEADER, SECRET_B, json!({})),
            LogoutError::Token(TokenError::BadSignature),
        ),
        (
            "wrong audience",
            token(LOGOUT_HEADER, SECRET_A, json!({ "aud": "api" })),
            LogoutError::Token(TokenError::WrongAudience),
        ),
        (
            "expired",
            token(LOGOUT_HEADER, SECRET_A, json!({ "exp": NOW - 100 })),
            LogoutError::Token(TokenError::Expired),
        ),
        (
            "no exp",
            token(LOGOUT_HEADER, SECRET_A, json!({ "exp": null })),
            LogoutError::Token(TokenError::MissingExpiration),
        ),
    ];
    for (what, token, error) in cases {
        assert_eq!(verify_logout_token(&policy, &token, NOW), Err(error), "{what}");
    }
    assert!(matches!(verify_logout_token(&policy, "not.a.jwt", NOW), Err(LogoutError::Token(_))));
}
