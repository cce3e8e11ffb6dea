//! Envoy's own JWT filter (`envoy.filters.http.jwt_authn`) in front of the
//! echo upstream, with no gatehouse: what `gatehouse import jwt-authn` is
//! compared against. The HTTP connection manager handles paths as
//! `deploy/envoy/sidecar.yaml` does (normalize_path, merge_slashes, %2F/%5C
//! and header names with `_` refused), so jwt_authn sees the very paths the
//! sidecar stack's gatehouse sees.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{log_file, Front, Reply, Upstream, LOG_TAIL_LINES, START_DEADLINE};
use crate::envoy::envoy_bin;

/// The cluster a jwt_authn config's `remote_jwks.http_uri.cluster` names:
/// it points at the address given to [`JwtAuthnEnvoy::start`].
pub const JWKS_CLUSTER: &str = "idp";

/// The `@type` of jwt_authn's filter config.
pub const JWT_AUTHN_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication";

/// A running Envoy with the jwt_authn filter; killed on drop (its logs are
/// printed when the test fails).
pub struct JwtAuthnEnvoy {
    /// The listener (connect here).
    pub listener: SocketAddr,
    front: Front,
    child: Child,
    dir: Option<tempfile::TempDir>,
    upstream: Upstream,
}

impl JwtAuthnEnvoy {
    /// Starts Envoy with `filter`, the `JwtAuthentication` message (its
    /// `@type` is set here), in front of a new echo upstream; the
    /// [`JWKS_CLUSTER`] cluster points at `jwks_host`. Returns once Envoy is
    /// live; panics (with its log) if it exits or is not live in time.
    pub async fn start(filter: &Value, jwks_host: SocketAddr) -> JwtAuthnEnvoy {
        let envoy = envoy_bin(); // fail before starting anything
        let dir = tempfile::Builder::new().prefix("gatehouse-jwt-authn-").tempdir().expect("temp dir");
        let upstream = Upstream::start().await;
        let config = dir.path().join("envoy-jwt-authn.json");
        std::fs::write(&config, bootstrap(filter, upstream.addr, jwks_host).to_string())
            .expect("write the envoy config");
        let child = Command::new(&envoy)
            .arg("-c")
            .arg(&config)
            .args(["--use-dynamic-base-id", "--concurrency", "1", "--log-level", "warn"])
            .arg("--admin-address-path")
            .arg(dir.path().join("admin.address"))
            .stdin(Stdio::null())
            .stdout(log_file(dir.path(), "envoy.stdout.log"))
            .stderr(log_file(dir.path(), "envoy.stderr.log"))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", envoy.display()));
        let client = reqwest::Client::builder()
            .http1_only()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .expect("reqwest client");
        let unbound = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut envoy = JwtAuthnEnvoy {
            listener: unbound,
            front: Front { client, listener: unbound },
            child,
            dir: Some(dir),
            upstream,
        };
        envoy.wait_live().await;
        envoy
    }

    /// GET through Envoy (reqwest, HTTP/1.1, no redirects).
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.front.get(path, headers).await
    }

    /// An exact request target and header names as written (raw HTTP/1.1).
    pub async fn raw(&self, method: &str, target: &str, headers: &[(&str, &str)]) -> Reply {
        self.front.raw(method, target, headers).await
    }

    fn dir(&self) -> &Path {
        self.dir.as_ref().expect("temp dir").path()
    }

    async fn wait_live(&mut self) {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("Envoy (jwt_authn) exited during start-up with {status}");
            }
            let Err(last) = self.listener_port().await else { return };
            assert!(
                Instant::now() < deadline,
                "Envoy (jwt_authn) not live within {START_DEADLINE:?}: {last}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Once the admin API says LIVE, the listener's bound port from it.
    async fn listener_port(&mut self) -> Result<(), String> {
        let address = std::fs::read_to_string(self.dir().join("admin.address")).map_err(|e| e.to_string())?;
        let admin = format!("http://{}", address.trim());
        let get = |path: &str| self.front.client.get(format!("{admin}{path}")).send();
        let ready = get("/ready").await.map_err(|e| e.to_string())?;
        let ready = ready.text().await.map_err(|e| e.to_string())?;
        if ready.trim() != "LIVE" {
            return Err(format!("/ready: {}", ready.trim()));
        }
        let listeners = get("/listeners?format=json").await.map_err(|e| e.to_string())?;
        let listeners = listeners.text().await.map_err(|e| e.to_string())?;
        let listeners: Value = serde_json::from_str(&listeners).map_err(|e| e.to_string())?;
        let port = listeners["listener_statuses"]
            .as_array()
            .and_then(|all| all.iter().find(|l| l["name"] == "ingress"))
            .and_then(|l| l["local_address"]["socket_address"]["port_value"].as_u64())
            .ok_or_else(|| format!("no bound `ingress` listener in {listeners}"))?;
        self.listener = SocketAddr::from(([127, 0, 0, 1], port as u16));
        self.front.listener = self.listener;
        Ok(())
    }
}

impl Drop for JwtAuthnEnvoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.upstream.task.abort();
        let Some(dir) = self.dir.take() else { return };
        if std::thread::panicking() {
            let path = dir.keep();
            eprintln!("=== the jwt_authn Envoy's files are kept in {}", path.display());
            for log in ["envoy.stdout.log", "envoy.stderr.log"] {
                let text = std::fs::read_to_string(path.join(log)).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
                eprintln!("--- {log} (last {} lines) ---\n{}", tail.len(), tail.join("\n"));
            }
        }
    }
}

/// The bootstrap: one listener (port 0) with jwt_authn then the router, the
/// `app` cluster (the echo upstream) and the [`JWKS_CLUSTER`] cluster.
fn bootstrap(filter: &Value, upstream: SocketAddr, jwks_host: SocketAddr) -> Value {
    let mut typed_config = filter.clone();
    if let Some(message) = typed_config.as_object_mut() {
        message.insert("@type".into(), Value::from(JWT_AUTHN_TYPE));
    }
    let address = |addr: SocketAddr| json!({ "socket_address": { "address": addr.ip().to_string(), "port_value": addr.port() } });
    let cluster = |name: &str, addr: SocketAddr| {
        json!({
            "name": name, "type": "STATIC", "connect_timeout": "0.25s",
            "load_assignment": { "cluster_name": name, "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": address(addr) } }] }] }
        })
    };
    let manager = json!({
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "ingress",
        "normalize_path": true,
        "merge_slashes": true,
        "path_with_escaped_slashes_action": "REJECT_REQUEST",
        "common_http_protocol_options": { "headers_with_underscores_action": "REJECT_REQUEST" },
        "route_config": { "name": "app", "virtual_hosts": [{
            "name": "app", "domains": ["*"], "routes": [{ "match": { "prefix": "/" }, "route": { "cluster": "app" } }]
        }] },
        "http_filters": [
            { "name": "envoy.filters.http.jwt_authn", "typed_config": typed_config },
            { "name": "envoy.filters.http.router", "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }
        ]
    });
    json!({
        "admin": { "address": address(SocketAddr::from(([127, 0, 0, 1], 0))) },
        "static_resources": {
            "listeners": [{
                "name": "ingress",
                "address": address(SocketAddr::from(([127, 0, 0, 1], 0))),
                "filter_chains": [{ "filters": [{ "name": "envoy.filters.network.http_connection_manager", "typed_config": manager }] }]
            }],
            "clusters": [cluster("app", upstream), cluster(JWKS_CLUSTER, jwks_host)]
        }
    })
}
