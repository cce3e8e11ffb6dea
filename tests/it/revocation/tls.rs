//! `rediss://`: the revocation log over TLS, Redis's certificate checked
//! against the trusted roots (the system's; here the test CA, through
//! `SSL_CERT_FILE`). A replica that cannot verify Redis keeps serving,
//! unsynced, and refuses revocations with 503.

use std::net::SocketAddr;

use gatehouse_testkit::process::{free_addr, gatehouse_command, Served};
use gatehouse_testkit::redis::unrelated_ca_pem;

use super::*;

/// The gatehouse binary on its own directory, trusting `roots` (PEM file).
struct Process {
    served: Served,
    grpc: SocketAddr,
    http: SocketAddr,
    admin: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Process {
    fn start(key: &SigningKey, redis: &Redis, roots: &Path) -> Process {
        let dir = tempfile::tempdir().unwrap();
        let (grpc, http, admin) = (free_addr(), free_addr(), free_addr());
        let revocation = shared(&redis.url(), &admin.to_string(), &token_file(dir.path()));
        let server = format!("server: {{ grpc_addr: \"{grpc}\", http_addr: \"{http}\" }}\n");
        let path = dir.path().join("gatehouse.yaml");
        std::fs::write(&path, server + &config(&inline(key), &revocation)).unwrap();
        let mut command = gatehouse_command(&["serve", "--config", path.to_str().unwrap()]);
        command.env("SSL_CERT_FILE", roots).env_remove("SSL_CERT_DIR");
        Process { served: Served::spawn_command(dir.path(), command), grpc, http, admin, _dir: dir }
    }

    /// Waits for `/readyz`; whether the stream was read (`revocations_synced`).
    async fn ready(&mut self) -> bool {
        self.served.wait_ready(self.http, Duration::from_secs(15)).await;
        let (_, body) = ops::readyz(self.http).await;
        body["revocations_synced"].as_bool().expect("revocations_synced in /readyz")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_travel_over_tls_to_a_verified_redis_only() {
    let redis = Redis::start_tls();
    assert!(redis.url().starts_with("rediss://"));
    let key = es256_key("k1");
    let mut a = Process::start(&key, &redis, &redis.ca_file());
    let mut b = Process::start(&key, &redis, &redis.ca_file());
    assert!(a.ready().await && b.ready().await, "both read the stream over TLS");

    let revoked = fresh_token(&key, json!({ "jti": "over-tls" }));
    let (status, entry) = Admin::at(a.admin).revoke(json!({ "issuer": ISSUER, "jti": "over-tls" })).await;
    assert_eq!(status, 201, "written over TLS: {entry}");
    let mut at_b = Checker::connect(b.grpc).await;
    until_denied(&mut at_b, &revoked, Duration::from_secs(2)).await;
    assert_revoked(&at_b.check_token(&revoked).await, "read over TLS by the other replica");

    // Trusting another CA: Redis's certificate is refused, nothing else breaks.
    let dir = tempfile::tempdir().unwrap();
    let unrelated = dir.path().join("unrelated-ca.pem");
    std::fs::write(&unrelated, unrelated_ca_pem()).unwrap();
    let mut c = Process::start(&key, &redis, &unrelated);
    assert!(!c.ready().await, "ready after startup_timeout, and says it has not read the stream");
    assert_eq!(ops::metric(c.http, "gatehouse_revocation_redis_up").await, Some(0.0));
    let (status, answer) = Admin::at(c.admin).revoke(json!({ "issuer": ISSUER, "jti": "x" })).await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(status_of(&mut Checker::connect(c.grpc).await, &fresh_token(&key, json!({}))).await, 0);
    assert!(c.served.exited().is_none(), "still serving");
    assert!(c.served.stderr().contains("revocation stream"), "the failure is logged");
}
