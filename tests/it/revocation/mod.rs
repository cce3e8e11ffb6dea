//! Revocations end to end, against a real Redis (Debian's `redis-server`):
//! the admin API, back-channel logout, propagation between replicas behind
//! the real Envoy, faults (Redis killed and back, replicas started late or
//! restarted), expiry and trimming, and the watched file.

mod admin;
mod backchannel;
mod expiry;
mod faults;
mod file;
mod propagation;
mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gatehouse::internals::wire::CheckResponse;
use gatehouse_testkit::redis::Redis;
use gatehouse_testkit::*;
use serde_json::{json, Value};

/// The admin bearer token of every test (read from a file).
pub(super) const ADMIN_TOKEN: &str = "test-admin-token-0f3c9a7e5b1d";
pub(super) const STREAM: &str = "gatehouse:revocations";

/// Writes the admin token into `dir`; the path for `token: { file: .. }`.
pub(super) fn token_file(dir: &Path) -> PathBuf {
    let path = dir.join("admin-token");
    std::fs::write(&path, format!("{ADMIN_TOKEN}\n")).unwrap();
    path
}

/// Provider `corp` of the test IdP (`max_lifetime: 1h`, back-channel
/// logout on), `/api` needing its token, and `revocation` (a flow mapping).
/// `jwks` is the inside of `jwks:`.
pub(super) fn config(jwks: &str, revocation: &str) -> String {
    format!(
        r#"
providers:
  - name: corp
    issuer: {ISSUER}
    audiences: [{AUDIENCE}]
    algorithms: [ES256]
    jwks: {{ {jwks} }}
    max_lifetime: 1h
    backchannel_logout: true
    claims_to_headers:
      - {{ claim: sub, header: x-user-id }}
rules:
  - match: {{ path_prefix: /api }}
    require: {{ providers: [corp] }}
revocation: {revocation}
"#
    )
}

/// Revocations shared through `redis`, the admin listener on `admin`.
pub(super) fn shared(redis: &str, admin: &str, token_file: &Path) -> String {
    format!(
        r#"{{ redis: {{ url: "{redis}", startup_timeout: 5s, timeout: 1s, trim_interval: 1s }}, admin: {{ addr: "{admin}", token: {{ file: "{}" }} }} }}"#,
        token_file.display()
    )
}

/// Two gatehouses in this process sharing `redis`, keyed by one inline JWKS.
pub(super) struct Pair {
    pub(super) a: Gatehouse,
    pub(super) b: Gatehouse,
    pub(super) key: SigningKey,
    pub(super) _dir: tempfile::TempDir,
}

impl Pair {
    pub(super) async fn start(redis: &Redis) -> Pair {
        let dir = tempfile::tempdir().unwrap();
        let key = es256_key("k1");
        let a = replica(&key, redis, dir.path()).await;
        let b = replica(&key, redis, dir.path()).await;
        Pair { a, b, key, _dir: dir }
    }
}

/// One more replica in this process, ready (its first read of the stream done).
pub(super) async fn replica(key: &SigningKey, redis: &Redis, dir: &Path) -> Gatehouse {
    let replica = Gatehouse::start(&in_process_config(key, redis, dir)).await;
    replica.wait_ready(Duration::from_secs(10)).await;
    replica
}

pub(super) fn in_process_config(key: &SigningKey, redis: &Redis, dir: &Path) -> String {
    config(&inline(key), &shared(&redis.url(), "127.0.0.1:0", &token_file(dir)))
}

/// `jwks:` holding `key`.
pub(super) fn inline(key: &SigningKey) -> String {
    format!("inline: '{}'", inline_jwks(&[key]))
}

/// A token of alice (or `extra` over her claims) with its own `jti`.
pub(super) fn fresh_token(key: &SigningKey, extra: Value) -> String {
    let mut claims = json!({ "jti": format!("jti-{:016x}", rand::random::<u64>()) });
    claims.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    token_with(key, claims)
}

/// The admin API of one replica.
pub(super) struct Admin {
    base: String,
    client: reqwest::Client,
}

impl Admin {
    pub(super) fn of(gatehouse: &Gatehouse) -> Admin {
        Admin::at(gatehouse.admin.expect("the admin listener is configured"))
    }

    pub(super) fn at(addr: SocketAddr) -> Admin {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
        Admin { base: format!("http://{addr}"), client }
    }

    /// `POST /v1/revocations` with the right token.
    pub(super) async fn revoke(&self, body: Value) -> (u16, Value) {
        self.post("/v1/revocations", Some(ADMIN_TOKEN), "application/json", body.to_string()).await
    }

    /// `GET /v1/revocations`: the live entries.
    pub(super) async fn list(&self) -> Vec<Value> {
        let response = self.client.get(format!("{}/v1/revocations", self.base)).bearer_auth(ADMIN_TOKEN);
        let response = response.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        body["revocations"].as_array().unwrap().clone()
    }

    /// `POST /v1/backchannel-logout` with `logout_token=<token>`.
    pub(super) async fn logout(&self, token: &str) -> (u16, Value) {
        let form = format!("logout_token={token}");
        self.post("/v1/backchannel-logout", None, "application/x-www-form-urlencoded", form).await
    }

    pub(super) async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: String,
    ) -> (u16, Value) {
        let mut request =
            self.client.post(format!("{}{path}", self.base)).header("content-type", content_type);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.body(body).send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

/// The answer to `GET /api/orders` with `token`: 0 for an allow, else the deny's HTTP status.
pub(super) async fn status_of(checker: &mut Checker, token: &str) -> i32 {
    let response = checker.check_token(token).await;
    outcome(&response)
}

pub(super) fn outcome(response: &CheckResponse) -> i32 {
    match response.status.as_ref().map(|s| s.code) {
        Some(0) => 0,
        _ => denied(response).0,
    }
}

/// Asserts a 401 whose reason is `revoked`.
pub(super) fn assert_revoked(response: &CheckResponse, what: &str) {
    let (status, _, deny) = denied(response);
    assert_eq!(status, 401, "{what}: {response:?}");
    assert_eq!(response.status.as_ref().unwrap().message, "revoked", "{what}");
    let challenge = header(&deny.headers, "www-authenticate").unwrap_or_default();
    assert!(challenge.contains(r#"error_description="token revoked""#), "{what}: {challenge}");
}

/// Polls `gatehouse` until `token` is denied; how long it took.
pub(super) async fn until_denied(checker: &mut Checker, token: &str, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if status_of(checker, token).await == 401 {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "still allowed after {within:?}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
