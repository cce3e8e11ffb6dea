//! The harness for tests that put the real Envoy in front of the built
//! `gatehouse` binary: Envoy renders one of the bootstrap configs users copy
//! (`deploy/envoy/*.yaml`, values on `# test:NAME` lines replaced), the fake
//! IdP serves the JWKS, and the in-process echo app is the upstream, so a
//! test can assert both what the client got and what the app received.
//!
//! Everything listens on 127.0.0.1 (Envoy's listener on the template's
//! address) with free ports. Each process writes its stdout/stderr into the
//! stack's temporary directory; when a test fails the directory is kept and
//! the tail of every log is printed.

use std::fs::{File, OpenOptions};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::http1::{Front, Reply};
use super::render::{deploy_config, envoy_bin, free_port, render};
use crate::gatehouse_bin;
use crate::idp::{Idp, Mode};

/// How long a process gets to become ready.
const START_DEADLINE: Duration = Duration::from_secs(15);

/// Lines of each log printed when a test fails.
const LOG_TAIL_LINES: usize = 40;

/// What a test chooses about a [`Stack`].
pub struct StackOptions {
    /// A file in `deploy/envoy/`.
    pub template: &'static str,
    /// Render values besides the ports and the access log the stack sets itself
    /// (e.g. `encode_raw_headers`, `gatehouse_host`).
    pub values: Vec<(&'static str, String)>,
    /// The gatehouse config without `server:` (the stack adds it); `{JWKS_URI}`
    /// is replaced with the IdP's JWKS URL and `{ADMIN_ADDR}` with a free
    /// address of each replica's own.
    pub gatehouse_yaml: String,
    /// The JWKS document the IdP serves at first.
    pub jwks: String,
    /// gatehouse processes behind Envoy's `gatehouse` cluster (round robin).
    pub replicas: usize,
}

impl StackOptions {
    /// One gatehouse behind the template's Envoy, with no extra render values.
    pub fn new(template: &'static str, gatehouse_yaml: &str, jwks: String) -> Self {
        Self { template, values: Vec::new(), gatehouse_yaml: gatehouse_yaml.to_owned(), jwks, replicas: 1 }
    }
}

/// One gatehouse process of a [`Stack`].
pub struct Replica {
    /// Its gRPC (ext_authz) address.
    pub grpc: SocketAddr,
    /// Its `/readyz` and `/metrics` address.
    pub http: SocketAddr,
    /// Its admin listener, when the config has `{ADMIN_ADDR}`.
    pub admin: Option<SocketAddr>,
    config: PathBuf,
    log: String,
    child: Option<Child>,
}

/// IdP + echo upstream + the gatehouse binary + Envoy, torn down on drop.
pub struct Stack {
    pub idp: Idp,
    /// The gatehouse gRPC (ext_authz) address.
    pub gatehouse_grpc: SocketAddr,
    /// The gatehouse `/readyz` and `/metrics` address.
    pub gatehouse_http: SocketAddr,
    /// Envoy's listener (connect here).
    pub listener: SocketAddr,
    /// Envoy's admin endpoint.
    pub admin: SocketAddr,
    /// The rendered Envoy bootstrap.
    pub envoy_config: PathBuf,
    /// Every gatehouse process; the first is `gatehouse_grpc`/`gatehouse_http`.
    pub replicas: Vec<Replica>,
    front: Front,
    dir: Option<tempfile::TempDir>,
    envoy: Child,
    upstream: Upstream,
}

impl Replica {
    /// Free addresses and the config file of replica `index`.
    fn write(dir: &Path, index: usize, yaml: &str) -> Replica {
        let grpc = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let admin = yaml.contains("{ADMIN_ADDR}").then(|| SocketAddr::from(([127, 0, 0, 1], free_port())));
        let yaml = match admin {
            Some(admin) => yaml.replace("{ADMIN_ADDR}", &admin.to_string()),
            None => yaml.to_owned(),
        };
        let config = dir.join(format!("gatehouse-{index}.yaml"));
        let server =
            format!("server:\n  grpc_addr: \"{grpc}\"\n  http_addr: \"{http}\"\n  drain_timeout: 1s\n");
        std::fs::write(&config, format!("{server}{yaml}")).expect("write gatehouse config");
        let log = if index == 0 { "gatehouse.log".to_owned() } else { format!("gatehouse-{index}.log") };
        Replica { grpc, http, admin, config, log, child: None }
    }
}

/// The rendered config with the gatehouse cluster's endpoint repeated for
/// each of `ports` (replicas beyond the first).
fn with_endpoints(rendered: &str, ports: &[u16]) -> String {
    if ports.is_empty() {
        return rendered.to_owned();
    }
    let lines: Vec<&str> = rendered.lines().collect();
    let at = lines.iter().position(|l| l.contains("# test:gatehouse_port"));
    let at = at.expect("the template has no gatehouse endpoint to repeat");
    assert!(at >= 2 && lines[at - 2].trim_start().starts_with("- endpoint:"), "unexpected endpoint shape");
    let endpoint = &lines[at - 2..=at];
    let port = |line: &str| {
        line.split("port_value: ").nth(1).and_then(|v| v.split([' ', '}']).next()).map(str::to_owned)
    };
    let first = port(lines[at]).expect("the endpoint's port");
    let mut out: Vec<String> = lines[..=at].iter().map(|l| (*l).to_owned()).collect();
    for extra in ports {
        out.extend(
            endpoint
                .iter()
                .map(|l| l.replace(&format!("port_value: {first}"), &format!("port_value: {extra}"))),
        );
    }
    out.extend(lines[at + 1..].iter().map(|l| (*l).to_owned()));
    out.join("\n") + "\n"
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

/// Envoy on `config`, one worker, its admin address written to `admin_path`.
fn spawn_envoy(bin: &Path, config: &Path, admin_path: &Path, dir: &Path) -> Child {
    Command::new(bin)
        .arg("-c")
        .arg(config)
        .args(["--use-dynamic-base-id", "--concurrency", "1", "--log-level", "warn"])
        .args(["--file-flush-interval-msec", "50"])
        .arg("--admin-address-path")
        .arg(admin_path)
        .stdin(Stdio::null())
        .stdout(log_file(dir, "envoy.stdout.log"))
        .stderr(log_file(dir, "envoy.stderr.log"))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()))
}

impl Stack {
    pub async fn start(options: StackOptions) -> Stack {
        let envoy_bin = envoy_bin(); // fail before starting anything
        let dir = tempfile::Builder::new().prefix("gatehouse-envoy-e2e-").tempdir().expect("temp dir");
        let idp = Idp::start(Mode::Serve(options.jwks.clone())).await;
        let upstream = Upstream::start().await;
        let yaml = options.gatehouse_yaml.replace("{JWKS_URI}", &idp.uri());
        let replicas: Vec<Replica> =
            (0..options.replicas.max(1)).map(|i| Replica::write(dir.path(), i, &yaml)).collect();

        // Envoy: admin and listener on port 0, read back from the admin API.
        let mut values: Vec<(&str, String)> = vec![
            ("admin_port", "0".into()),
            ("listen_port", "0".into()),
            ("access_log", dir.path().join("access.log").display().to_string()),
            ("gatehouse_port", replicas[0].grpc.port().to_string()),
            ("upstream_port", upstream.addr.port().to_string()),
        ];
        values.extend(options.values.iter().map(|(k, v)| (*k, v.clone())));
        let rendered = render(&deploy_config(options.template), &values);
        let extra_ports: Vec<u16> = replicas[1..].iter().map(|r| r.grpc.port()).collect();
        let envoy_config = dir.path().join(format!("envoy-{}", options.template));
        std::fs::write(&envoy_config, with_endpoints(&rendered, &extra_ports)).expect("write envoy config");
        let admin_path = dir.path().join("admin.address");
        let envoy = spawn_envoy(&envoy_bin, &envoy_config, &admin_path, dir.path());

        let client = reqwest::Client::builder()
            .http1_only()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .expect("reqwest client");
        let mut stack = Stack {
            idp,
            gatehouse_grpc: replicas[0].grpc,
            gatehouse_http: replicas[0].http,
            listener: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin: SocketAddr::from(([127, 0, 0, 1], 0)),
            envoy_config,
            replicas,
            front: Front { client, listener: SocketAddr::from(([127, 0, 0, 1], 0)) },
            dir: Some(dir),
            envoy,
            upstream,
        };
        // Envoy starts meanwhile; it is only asked once gatehouse is ready.
        for index in 0..stack.replicas.len() {
            stack.spawn_replica(index);
        }
        for index in 0..stack.replicas.len() {
            stack.wait_replica_ready(index).await;
        }
        stack.wait_envoy_ready(&admin_path).await;
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

    async fn wait_envoy_ready(&mut self, admin_path: &Path) {
        let deadline = Instant::now() + START_DEADLINE;
        let mut last = String::from("no admin address yet");
        loop {
            if let Some(status) = self.envoy.try_wait().expect("try_wait") {
                panic!("Envoy exited during start-up with {status}");
            }
            let address = std::fs::read_to_string(admin_path).ok().and_then(|a| a.trim().parse().ok());
            if let Some(admin) = address {
                self.admin = admin;
                match self.admin_get("/ready").await {
                    Ok((200, body)) if body.trim() == "LIVE" => break,
                    Ok((status, body)) => last = format!("/ready: {status} {}", body.trim()),
                    Err(error) => last = format!("/ready: {error}"),
                }
            }
            assert!(Instant::now() < deadline, "Envoy not LIVE within {START_DEADLINE:?}: {last}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let (_, listeners) = self.admin_get("/listeners?format=json").await.expect("admin /listeners");
        let listeners: serde_json::Value = serde_json::from_str(&listeners).expect("listeners JSON");
        let port = listeners["listener_statuses"]
            .as_array()
            .and_then(|all| all.iter().find(|l| l["name"] == "ingress"))
            .and_then(|l| l["local_address"]["socket_address"]["port_value"].as_u64())
            .unwrap_or_else(|| panic!("no bound `ingress` listener in {listeners}"));
        self.listener = SocketAddr::from(([127, 0, 0, 1], port as u16));
        self.front.listener = self.listener;
    }

    async fn admin_get(&self, path: &str) -> Result<(u16, String), reqwest::Error> {
        let response = self.front.client.get(format!("http://{}{path}", self.admin)).send().await?;
        let status = response.status().as_u16();
        Ok((status, response.text().await?))
    }

    /// A cloneable client for Envoy's listener, for background tasks.
    pub fn front(&self) -> Front {
        self.front.clone()
    }

    /// GET through Envoy (reqwest, HTTP/1.1, no redirects).
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.front.get(path, headers).await
    }

    /// Any method through Envoy (reqwest).
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

    /// SIGKILLs gatehouse (replica 0; Envoy keeps running).
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
        let _ = self.envoy.kill();
        let _ = self.envoy.wait();
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
            eprintln!("=== the Envoy stack's files are kept in {}", path.display());
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
