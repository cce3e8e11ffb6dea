//! `token_types` (RFC 9068 §4): with `[at+jwt]`, an access token typed
//! `at+jwt` passes and an ID token (no `typ`, or `JWT`) with the API's
//! audience is refused; without it, both pass as before.

use gatehouse_testkit::*;
use serde_json::json;

use super::check_bearer;

fn config(key: &SigningKey, token_types: &str) -> String {
    format!(
        r#"
providers:
  - name: corp
    issuer: {ISSUER}
    audiences: [{AUDIENCE}]
    jwks: {{ inline: '{}' }}
    {token_types}
    claims_to_headers: [{{ claim: sub, header: x-user-id }}]
rules:
  - match: {{ path_prefix: /api }}
    require: {{ providers: [corp] }}
"#,
        inline_jwks(&[key])
    )
}

#[tokio::test]
async fn token_types_keep_id_tokens_out_and_are_off_by_default() {
    let key = es256_key("k1");
    let access = typed_token(&key, Some("at+jwt"), json!({}));
    let access_long = typed_token(&key, Some("application/AT+JWT"), json!({}));
    // An ID token of a client whose id is the API's audience.
    let id_token = typed_token(&key, None, json!({ "nonce": "n", "azp": AUDIENCE }));
    let jwt_typed = typed_token(&key, Some("JWT"), json!({}));

    let mut pinned = Gatehouse::start(&config(&key, "token_types: [at+jwt]")).await;
    assert_eq!(check_bearer(&mut pinned, "/api/x", &access).await, "allow alice");
    assert_eq!(check_bearer(&mut pinned, "/api/x", &access_long).await, "allow alice");
    assert_eq!(check_bearer(&mut pinned, "/api/x", &id_token).await, "wrong_token_type 401");
    assert_eq!(check_bearer(&mut pinned, "/api/x", &jwt_typed).await, "wrong_token_type 401");
    pinned.stop().await;

    let mut open = Gatehouse::start(&config(&key, "")).await;
    for token in [&access, &id_token, &jwt_typed] {
        assert_eq!(check_bearer(&mut open, "/api/x", token).await, "allow alice");
    }
    open.stop().await;
}
