//! Remote JWKS against a fake identity provider served from the test itself:
//! first fetch, IdP outage at start (503, then recovery), garbage documents
//! and outages after keys were loaded.

use std::time::Duration;

use gatehouse::internals::wire::CheckResponse;
use gatehouse_testkit::idp::{Idp, Mode};
use gatehouse_testkit::*;
use serde_json::json;

fn config(jwks_uri: &str, refresh_interval: Option<&str>) -> String {
    let refresh = refresh_interval.map(|r| format!(", refresh_interval: {r}")).unwrap_or_default();
    CorpConfig::new(format!(r#"uri: "{jwks_uri}"{refresh}"#)).yaml()
}

/// Asserts `/readyz` is 503 and names `corp` as a provider without keys.
async fn assert_not_ready(gatehouse: &Gatehouse) {
    let (status, body) = gatehouse.http_get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).expect("/readyz body is JSON");
    assert_eq!(body["ready"], false, "{body}");
    assert_eq!(body["providers_without_keys"], json!(["corp"]), "{body}");
}

/// Asserts the token is denied with 503 / UNAVAILABLE (and so never allowed).
async fn assert_unavailable(gatehouse: &mut Gatehouse, token: &str) {
    let response = gatehouse.check_token(token).await;
    let (status, code, deny) = denied(&response);
    assert_eq!((status, code), (503, 14), "{response:?}");
    let body: serde_json::Value = serde_json::from_str(&deny.body).unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
}

fn assert_allowed_as_alice(response: &CheckResponse) {
    let allowed = ok(response);
    assert_eq!(header(&allowed.headers, "x-user-id"), Some("alice"), "{allowed:?}");
}

#[tokio::test]
async fn remote_keys_are_fetched_and_used() {
    let key = SigningKey::generate(Algorithm::ES256, "k1").unwrap();
    let idp = Idp::start(Mode::Serve(jwks_json(&[&key]))).await;
    let mut gatehouse = Gatehouse::start(&config(&idp.uri(), None)).await;

    gatehouse.wait_ready(Duration::from_secs(5)).await;
    let (_, body) = gatehouse.http_get("/readyz").await;
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["providers_without_keys"], json!([]), "{body}");

    let response = gatehouse.check_token(&token(&key)).await;
    assert_allowed_as_alice(&response);
    assert!(idp.requests() >= 1, "the JWKS was never requested");

    // A token signed by a different key with the same kid still fails.
    let impostor = SigningKey::generate(Algorithm::ES256, "k1").unwrap();
    let (status, code, _) = denied(&gatehouse.check_token(&token(&impostor)).await);
    assert_eq!((status, code), (401, 16));
    gatehouse.stop().await;
}

#[tokio::test]
async fn idp_down_at_start_denies_with_503_then_recovers() {
    let key = SigningKey::generate(Algorithm::ES256, "k1").unwrap();
    let idp = Idp::start(Mode::Fail).await;
    let mut gatehouse = Gatehouse::start(&config(&idp.uri(), None)).await;
    let token = token(&key);

    // The first fetch has been made (and answered 500): not ready, and a
    // perfectly valid token is refused with 503, never allowed.
    idp.wait_for_requests(1, Duration::from_secs(5)).await;
    assert_not_ready(&gatehouse).await;
    assert_unavailable(&mut gatehouse, &token).await;
    assert_not_ready(&gatehouse).await;

    // The IdP comes back: the retry (backoff from 1s) loads the keys.
    idp.set(Mode::Serve(jwks_json(&[&key])));
    gatehouse.wait_ready(Duration::from_secs(8)).await;
    assert_allowed_as_alice(&gatehouse.check_token(&token).await);
    assert!(idp.requests() >= 2, "expected a retry, got {} requests", idp.requests());
    gatehouse.stop().await;
}

#[tokio::test]
async fn garbage_jwks_is_a_failed_fetch() {
    let key = SigningKey::generate(Algorithm::ES256, "k1").unwrap();
    let idp = Idp::start(Mode::Raw("text/html", "<html><body>Sign in</body></html>".into())).await;
    // A 1s interval caps the retry backoff at 1s, keeping the test short.
    let mut gatehouse = Gatehouse::start(&config(&idp.uri(), Some("1s"))).await;

    // A second request only starts once the first answer was read and
    // rejected, so from here on the garbage has certainly been processed.
    idp.wait_for_requests(2, Duration::from_secs(5)).await;
    assert_not_ready(&gatehouse).await;
    assert_unavailable(&mut gatehouse, &token(&key)).await;

    // JSON that is not a usable key set is refused the same way.
    idp.set(Mode::Raw("application/json", r#"{"keys": "nope"}"#.into()));
    let seen = idp.requests();
    idp.wait_for_requests(seen + 2, Duration::from_secs(5)).await;
    assert_not_ready(&gatehouse).await;
    assert_unavailable(&mut gatehouse, &token(&key)).await;
    gatehouse.stop().await;
}

#[tokio::test]
async fn last_good_keys_survive_an_idp_outage() {
    let key = SigningKey::generate(Algorithm::ES256, "k1").unwrap();
    let idp = Idp::start(Mode::Serve(jwks_json(&[&key]))).await;
    let mut gatehouse = Gatehouse::start(&config(&idp.uri(), Some("1s"))).await;
    let token = token(&key);

    gatehouse.wait_ready(Duration::from_secs(5)).await;
    assert_allowed_as_alice(&gatehouse.check_token(&token).await);

    idp.set(Mode::Fail);
    let before = idp.requests();
    // The point of the test is the passage of time: several 1s refreshes fail.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let after = idp.requests();
    assert!(after >= before + 2, "expected at least two failed refreshes, requests went {before} -> {after}");

    let (status, body) = gatehouse.http_get("/readyz").await;
    assert_eq!(status, 200, "the last good keys must keep gatehouse ready: {body}");
    assert_allowed_as_alice(&gatehouse.check_token(&token).await);

    // And garbage during the outage does not replace them either.
    idp.set(Mode::Raw("text/html", "<html>maintenance</html>".into()));
    let seen = idp.requests();
    idp.wait_for_requests(seen + 2, Duration::from_secs(5)).await;
    assert_allowed_as_alice(&gatehouse.check_token(&token).await);
    gatehouse.stop().await;
}

/// The IdP rotates in a new key; a token naming the new `kid` should make
/// gatehouse refresh once instead of waiting for `refresh_interval` (5m by
/// default). See `KeySource::refresh_for_unknown_kid` and `Authorizer::check`.
#[tokio::test]
async fn unknown_kid_triggers_a_refresh() {
    let old = SigningKey::generate(Algorithm::ES256, "k1").unwrap();
    let new = SigningKey::generate(Algorithm::ES256, "k2").unwrap();
    let idp = Idp::start(Mode::Serve(jwks_json(&[&old]))).await;
    let mut gatehouse = Gatehouse::start(&config(&idp.uri(), None)).await;
    gatehouse.wait_ready(Duration::from_secs(5)).await;

    idp.set(Mode::Serve(jwks_json(&[&old, &new])));
    let response = gatehouse.check_token(&token(&new)).await;
    assert_allowed_as_alice(&response);
    assert!(idp.requests() >= 2, "no refresh was made for the unknown kid");
    gatehouse.stop().await;
}
