//! The harness for tests that put a real proxy in front of the built
//! `gatehouse` binary: Envoy (gRPC ext_authz or `http_service`), nginx
//! (`auth_request`) or Traefik (`forwardAuth`), each running the config
//! users copy from `deploy/` (values on `# test:NAME` lines replaced); the
//! fake IdP serves the JWKS, and the in-process echo app is the upstream, so
//! a test can assert both what the client got and what the app received.
//!
//! Everything listens on 127.0.0.1 with free ports. Each process writes its
//! stdout/stderr into the stack's temporary directory; when a test fails the
//! directory is kept and the tail of every log is printed.
//!
//! [`JwtAuthnEnvoy`] is the other side of a comparison: Envoy's own
//! jwt_authn filter, no gatehouse, in front of the same echo upstream.

mod http1;
mod jwt_authn;
mod proxies;

pub use http1::{parse_http1, raw_request, upstream_path, upstream_saw, Front, Reply};
pub use jwt_authn::{JwtAuthnEnvoy, JWKS_CLUSTER, JWT_AUTHN_TYPE};
pub use proxies::Proxy;

use std::fs::{File, OpenOptions};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::envoy::free_port;
use crate::gatehouse_bin;
use crate::idp::{Idp, Mode};
use proxies::Launch;

/// How long a process gets to become ready.
const START_DEADLINE: Duration = Duration::from_secs(15);

/// Lines of each log printed when a test fails.
const LOG_TAIL_LINES: usize = 40;

/// What a test chooses about a [`Stack`].
pub struct StackOptions {
    /// The proxy in front, and its config.
    pub proxy: Proxy,
    /// Render values besides the ports and the access log the stack sets itself
    /// (e.g. `encode_raw_headers`, `gatehouse_host`).
    pub values: Vec<(&'static str, String)>,
    /// The gatehouse config without `server:` (the stack adds it); `{JWKS_URI}`
    /// is replaced with the IdP's JWKS URL, `{INTROSPECTION_URI}` with its
    /// introspection endpoint, `{CLIENT_SECRET_FILE}` with a file holding
    /// [`crate::idp::CLIENT_SECRET`], and `{ADMIN_ADDR}` with a free address
    /// of each replica's own.
    pub gatehouse_yaml: String,
    /// The JWKS document the IdP serves at first.
    pub jwks: String,
    /// gatehouse processes behind Envoy's `gatehouse` cluster (round robin).
    pub replicas: usize,
    /// gatehouse serves Check on a Unix socket (`server.grpc_addr: unix:...`)
    /// and Envoy reaches it through the shipped config's `gatehouse_uds`
    /// cluster (one replica).
    pub grpc_over_unix_socket: bool,
}

impl StackOptions {
    /// One gatehouse behind Envoy with `deploy/envoy/<template>` (gRPC), no extra render values.
    pub fn new(template: &'static str, gatehouse_yaml: &str, jwks: String) -> Self {
        Self::behind(Proxy::Envoy(template), gatehouse_yaml, jwks)
    }

    /// One gatehouse behind `proxy`, no extra render values.
    pub fn behind(proxy: Proxy, gatehouse_yaml: &str, jwks: String) -> Self {
        Self {
            proxy,
            values: Vec::new(),
            gatehouse_yaml: gatehouse_yaml.to_owned(),
            jwks,
            replicas: 1,
            grpc_over_unix_socket: false,
        }
    }
}

/// One gatehouse process of a [`Stack`].
pub struct Replica {
    /// Its gRPC (ext_authz) address.
    pub grpc: SocketAddr,
    /// Its gRPC Unix socket instead, with [`StackOptions::grpc_over_unix_socket`].
    pub grpc_socket: Option<PathBuf>,
    /// Its `/readyz` and `/metrics` address.
    pub http: SocketAddr,
    /// Its HTTP check listener (`server.http_check_addr`).
    pub http_check: SocketAddr,
    /// Its admin listener, when the config has `{ADMIN_ADDR}`.
    pub admin: Option<SocketAddr>,
    config: PathBuf,
    log: String,
    child: Option<Child>,
}

/// IdP + echo upstream + the gatehouse binary + the proxy, torn down on drop.
pub struct Stack {
    pub idp: Idp,
    /// The gatehouse gRPC (ext_authz) address.
    pub gatehouse_grpc: SocketAddr,
    /// The gatehouse `/readyz` and `/metrics` address.
    pub gatehouse_http: SocketAddr,
    /// The proxy's listener (connect here).
    pub listener: SocketAddr,
    /// Envoy's admin endpoint (Envoy stacks only).
    pub admin: SocketAddr,
    /// The rendered proxy config (for Traefik, its dynamic config).
    pub proxy_config: PathBuf,
    /// Every gatehouse process; the first is `gatehouse_grpc`/`gatehouse_http`.
    pub replicas: Vec<Replica>,
    proxy: Proxy,
    front: Front,
    dir: Option<tempfile::TempDir>,
    proxy_process: Child,
    upstream: Upstream,
}

impl Replica {
    /// Free addresses and the config file of replica `index`.
    fn write(dir: &Path, index: usize, yaml: &str, unix: bool) -> Replica {
        let grpc = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let http_check = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let admin = yaml.contains("{ADMIN_ADDR}").then(|| SocketAddr::from(([127, 0, 0, 1], free_port())));
        let yaml = match admin {
            Some(admin) => yaml.replace("{ADMIN_ADDR}", &admin.to_string()),
            None => yaml.to_owned(),
        };
        let config = dir.join(format!("gatehouse-{index}.yaml"));
        let grpc_socket = unix.then(|| dir.join(format!("grpc-{index}.sock")));
        let grpc_addr = match &grpc_socket {
            Some(path) => format!("unix:{}", path.display()),
            None => grpc.to_string(),
        };
        let server = format!(
            "server:\n  grpc_addr: \"{grpc_addr}\"\n  http_addr: \"{http}\"\n  http_check_addr: \"{http_check}\"\n  drain_timeout: 1s\n"
        );
        std::fs::write(&config, format!("{server}{yaml}")).expect("write gatehouse config");
        let log = if index == 0 { "gatehouse.log".to_owned() } else { format!("gatehouse-{index}.log") };
        Replica { grpc, grpc_socket, http, http_check, admin, config, log, child: None }
    }
}

/// The echo upstream, counting every request it gets.
struct Upstream {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    async fn start() -> Upstream {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let app = gatehouse::internals::echo_router().layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let counter = counter.clone();
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    next.run(request).await
                }
            },
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind upstream");
        let addr = listener.local_addr().expect("upstream address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Upstream { addr, hits, task }
    }
}

impl Stack {
    pub async fn start(options: StackOptions) -> Stack {
        options.proxy.check_installed(); // fail before starting anything
        let dir = tempfile::Builder::new().prefix("gatehouse-proxy-e2e-").tempdir().expect("temp dir");
        let idp = Idp::start(Mode::Serve(options.jwks.clone())).await;
        let upstream = Upstream::start().await;
        let secret = dir.path().join("client-secret");
        std::fs::write(&secret, crate::idp::CLIENT_SECRET).expect("write the client secret");
        let yaml = options
            .gatehouse_yaml
            .replace("{JWKS_URI}", &idp.uri())
            .replace("{INTROSPECTION_URI}", &idp.introspection_uri())
            .replace("{CLIENT_SECRET_FILE}", &secret.display().to_string());
        let replicas: Vec<Replica> = (0..options.replicas.max(1))
            .map(|i| Replica::write(dir.path(), i, &yaml, options.grpc_over_unix_socket))
            .collect();
        let launch =
            Launch { dir: dir.path(), replicas: &replicas, upstream: upstream.addr, values: &options.values };
        let launched = options.proxy.launch(&launch);

        let client = reqwest::Client::builder()
            .http1_only()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .expect("reqwest client");
        let unbound = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut stack = Stack {
            idp,
            gatehouse_grpc: replicas[0].grpc,
            gatehouse_http: replicas[0].http,
            listener: launched.listener.unwrap_or(unbound),
            admin: unbound,
            proxy_config: launched.config,
            replicas,
            proxy: options.proxy,
            front: Front { client, listener: launched.listener.unwrap_or(unbound) },
            dir: Some(dir),
            proxy_process: launched.child,
            upstream,
        };
        // The proxy starts meanwhile; it is only asked once gatehouse is ready.
        for index in 0..stack.replicas.len() {
            stack.spawn_replica(index);
        }
        for index in 0..stack.replicas.len() {
            stack.wait_replica_ready(index).await;
        }
        stack.wait_proxy_ready().await;
        stack
    }

    fn dir(&self) -> &Path {
        self.dir.as_ref().expect("temp dir").path()
    }

    fn spawn_replica(&mut self, index: usize) {
        let dir = self.dir().to_owned();
        let replica = &mut self.replicas[index];
        let log = dir.join(&replica.log);
        let bin = gatehouse_bin();
        let child = Command::new(&bin)
            .arg("serve")
            .arg("--config")
            .arg(&replica.config)
            .env_remove("GATEHOUSE_CONFIG")
            .env_remove("GATEHOUSE_LOG")
            .env_remove("GATEHOUSE_LOG_FORMAT")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(log_file(&dir, &replica.log))
            .stderr(log_file(&dir, &replica.log))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e} (log {})", bin.display(), log.display()));
        replica.child = Some(child);
    }

    async fn wait_replica_ready(&mut self, index: usize) {
        let url = format!("http://{}/readyz", self.replicas[index].http);
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            let child = self.replicas[index].child.as_mut();
            if let Some(status) = child.and_then(|c| c.try_wait().expect("try_wait")) {
                panic!("gatehouse replica {index} exited during start-up with {status}");
            }
            let last = match self.front.client.get(&url).send().await {
                Ok(response) if response.status() == 200 => return,
                Ok(response) => {
                    format!("{} {}", response.status(), response.text().await.unwrap_or_default())
                }
                Err(error) => error.to_string(),
            };
            assert!(Instant::now() < deadline, "gatehouse /readyz not 200 within {START_DEADLINE:?}: {last}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn wait_proxy_ready(&mut self) {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(status) = self.proxy_process.try_wait().expect("try_wait") {
                panic!("{} exited during start-up with {status}", self.proxy.name());
            }
            let Err(last) = proxies::ready(self).await else { return };
            assert!(
                Instant::now() < deadline,
                "{} not ready within {START_DEADLINE:?}: {last}",
                self.proxy.name()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn admin_get(&self, path: &str) -> Result<(u16, String), reqwest::Error> {
        let response = self.front.client.get(format!("http://{}{path}", self.admin)).send().await?;
        let status = response.status().as_u16();
        Ok((status, response.text().await?))
    }

    /// A cloneable client for the proxy's listener, for background tasks.
    pub fn front(&self) -> Front {
        self.front.clone()
    }

    /// GET through the proxy (reqwest, HTTP/1.1, no redirects).
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.front.get(path, headers).await
    }

    /// Any method through the proxy (reqwest).
    pub async fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.front.request(method, path, headers).await
    }

    /// An exact request target and header names as written (raw HTTP/1.1).
    pub async fn raw(&self, method: &str, target: &str, headers: &[(&str, &str)]) -> Reply {
        self.front.raw(method, target, headers).await
    }

    /// Requests the echo upstream has received so far.
    pub fn upstream_hits(&self) -> usize {
        self.upstream.hits.load(Ordering::SeqCst)
    }

    /// SIGKILLs gatehouse (replica 0; the proxy keeps running).
    pub fn kill_gatehouse(&mut self) {
        self.kill_replica(0);
    }

    /// Starts gatehouse (replica 0) again with the same config and ports; waits for `/readyz`.
    pub async fn restart_gatehouse(&mut self) {
        self.restart_replica(0).await;
    }

    /// SIGKILLs one gatehouse replica.
    pub fn kill_replica(&mut self, index: usize) {
        let mut child = self.replicas[index].child.take().expect("the replica is not running");
        child.kill().expect("kill gatehouse");
        child.wait().expect("reap gatehouse");
    }

    /// Starts a replica again with the same config and ports; waits for `/readyz`.
    pub async fn restart_replica(&mut self, index: usize) {
        assert!(self.replicas[index].child.is_none(), "the replica is still running");
        self.spawn_replica(index);
        self.wait_replica_ready(index).await;
    }

    /// Polls Envoy's access log for a line containing `needle`.
    pub async fn access_log_line_containing(&self, needle: &str, within: Duration) -> String {
        let path = self.dir().join("access.log");
        let deadline = Instant::now() + within;
        loop {
            let log = std::fs::read_to_string(&path).unwrap_or_default();
            if let Some(line) = log.lines().find(|line| line.contains(needle)) {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no access log line containing `{needle}` within {within:?}; the log:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// A counter or gauge from Envoy's admin `/stats` (0 if not created yet).
    pub async fn envoy_stat(&self, name: &str) -> u64 {
        assert!(self.proxy.is_envoy(), "envoy_stat on a {} stack", self.proxy.name());
        let (status, stats) = self.admin_get("/stats").await.expect("admin /stats");
        assert_eq!(status, 200, "admin /stats: {stats}");
        stats
            .lines()
            .filter_map(|line| line.split_once(": "))
            .find(|(key, _)| *key == name)
            .map_or(0, |(_, value)| value.trim().parse().unwrap_or(0))
    }

    /// gatehouse's `/metrics` text.
    pub async fn gatehouse_metrics(&self) -> String {
        let url = format!("http://{}/metrics", self.gatehouse_http);
        let response = self.front.client.get(url).send().await.expect("gatehouse /metrics");
        response.text().await.expect("metrics body")
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.proxy_process.kill();
        let _ = self.proxy_process.wait();
        for replica in &mut self.replicas {
            if let Some(mut child) = replica.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        self.upstream.task.abort();
        let Some(dir) = self.dir.take() else { return };
        if std::thread::panicking() {
            let path = dir.keep();
            eprintln!("=== the {} stack's files are kept in {}", self.proxy.name(), path.display());
            let mut logs: Vec<PathBuf> = std::fs::read_dir(&path)
                .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            logs.sort();
            for log in logs.iter().filter(|p| p.extension().is_some_and(|e| e == "log")) {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
                eprintln!("--- {} (last {} lines) ---\n{}", log.display(), tail.len(), tail.join("\n"));
            }
        }
    }
}

fn log_file(dir: &Path, name: &str) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(name))
        .unwrap_or_else(|e| panic!("open {name}: {e}"))
}
