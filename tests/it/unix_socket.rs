//! `server.grpc_addr` and `server.http_check_addr` on Unix domain sockets
//! (`unix:/path`), as a sidecar in the same pod uses them: the built binary
//! answers Check over the socket and the HTTP check door over its own, the
//! socket files are 0660, a stale socket from a killed process is replaced,
//! something else at the path is refused, and the files go on shutdown.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use gatehouse::internals::wire::authorization_client::AuthorizationClient;
use gatehouse_testkit::process::{free_addr, gatehouse_command, Served};
use gatehouse_testkit::*;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::{Channel, Endpoint, Uri};

/// A gRPC channel to the socket at `path`.
async fn unix_channel(path: &Path) -> Channel {
    let path = path.to_owned();
    Endpoint::try_from("http://gatehouse.invalid")
        .unwrap()
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(path).await?)) }
        }))
        .await
        .expect("connect over the Unix socket")
}

fn config(dir: &Path, key: &SigningKey, http: std::net::SocketAddr) -> String {
    format!(
        "server: {{ grpc_addr: \"unix:{}\", http_check_addr: \"unix:{}\", http_addr: \"{http}\", drain_timeout: 1s }}\n{}",
        dir.join("grpc.sock").display(),
        dir.join("check.sock").display(),
        CorpConfig::new(format!("inline: '{}'", inline_jwks(&[key]))).yaml()
    )
}

/// One HTTP/1.1 request over the socket at `path`; the response head and body.
async fn http_over_unix(path: &Path, request: &str) -> String {
    let mut stream = tokio::net::UnixStream::connect(path).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_the_http_door_answer_on_unix_sockets() {
    let dir = tempfile::tempdir().unwrap();
    let key = es256_key("k1");
    let http = free_addr();
    // A socket left behind by a killed process: replaced, not an error.
    drop(std::os::unix::net::UnixListener::bind(dir.path().join("grpc.sock")).unwrap());
    let path = dir.path().join("gatehouse.yaml");
    std::fs::write(&path, config(dir.path(), &key, http)).unwrap();
    let mut served = Served::spawn(dir.path(), &["serve", "--config", path.to_str().unwrap()]);
    served.wait_ready(http, Duration::from_secs(10)).await;

    for socket in ["grpc.sock", "check.sock"] {
        let meta = std::fs::symlink_metadata(dir.path().join(socket)).unwrap();
        assert!(meta.file_type().is_socket(), "{socket}");
        assert_eq!(meta.permissions().mode() & 0o777, 0o660, "{socket}: owner and group only");
    }
    let mut client = AuthorizationClient::new(unix_channel(&dir.path().join("grpc.sock")).await);
    let allowed = client
        .check(request("GET", "/api/orders", &[("authorization", &bearer(&token(&key)))]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(header(&ok(&allowed).headers, "x-user-id"), Some("alice"));
    let denied_response = client.check(request("GET", "/api/orders", &[])).await.unwrap().into_inner();
    assert_eq!(denied(&denied_response).0, 401);

    let request_line = format!(
        "GET /v1/check/envoy/api/orders HTTP/1.1\r\nhost: app\r\nauthorization: {}\r\nconnection: close\r\n\r\n",
        bearer(&token(&key))
    );
    let response = http_over_unix(&dir.path().join("check.sock"), &request_line).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.to_ascii_lowercase().contains("x-user-id: alice"), "{response}");

    drop(client);
    served.signal("TERM");
    assert!(served.wait_exit(Duration::from_secs(10)).await.success());
    for socket in ["grpc.sock", "check.sock"] {
        assert!(!dir.path().join(socket).exists(), "{socket} is removed on shutdown");
    }
}

#[test]
fn a_path_that_is_not_a_socket_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let key = es256_key("k1");
    std::fs::write(dir.path().join("grpc.sock"), "not a socket").unwrap();
    let path = dir.path().join("gatehouse.yaml");
    std::fs::write(&path, config(dir.path(), &key, free_addr())).unwrap();
    let output = gatehouse_command(&["serve", "--config", path.to_str().unwrap()]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("binding server.grpc_addr unix:") && stderr.contains("not a socket"), "{stderr}");
    assert_eq!(std::fs::read_to_string(dir.path().join("grpc.sock")).unwrap(), "not a socket", "left alone");
}

/// The shipped sidecar Envoy config reaches gatehouse over the Unix socket
/// through its `gatehouse_uds` cluster (`pipe`), deciding as over TCP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sidecar_envoy_checks_over_the_unix_socket() {
    use gatehouse_testkit::envoy::STACK_CONFIG;
    use gatehouse_testkit::stack::{upstream_saw, Stack, StackOptions};
    let key = es256_key("k1");
    let options = StackOptions {
        grpc_over_unix_socket: true,
        ..StackOptions::new("sidecar.yaml", STACK_CONFIG, jwks_json(&[&key]))
    };
    let stack = Stack::start(options).await;
    let reader = bearer(&token_with(&key, serde_json::json!({ "scope": "orders:read" })));
    let reply = stack.get("/orders/1", &[("authorization", &reader), ("x-user-id", "forged")]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(upstream_saw(&reply.body)["x-user-id"], "alice");
    let reply = stack.get("/orders/1", &[]).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    assert!(
        stack.envoy_stat("cluster.gatehouse_uds.upstream_rq_total").await >= 2,
        "the Checks took the socket"
    );
    assert_eq!(stack.envoy_stat("cluster.gatehouse.upstream_rq_total").await, 0, "and not loopback TCP");
}
