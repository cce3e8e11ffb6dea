//! Wiring: starts key sources, compiles the policy, binds and runs both
//! servers (and the config reloader) from a built configuration, until a
//! shutdown signal.

mod listen;
mod revocation;
mod shutdown;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

use listen::Listener;
pub(crate) use shutdown::signal as shutdown_signal;
use shutdown::Shutdown;

use crate::authz::{CacheMetrics, Policy};
use crate::config::{ServerConfig, Specs};
use crate::keys::{self, KeyMetrics};
use crate::reload::{ReloadMetrics, Reloader, Running};
use crate::revocation::RevocationService;
use crate::server::{
    admin_router, http_check_router, ops_router, CheckMetrics, CheckService, Checks, Live, OpsState, Snapshot,
};

/// Largest CheckRequest decoded (tonic's default is 4 MiB). Above anything
/// Envoy can send (headers ≤ 8 MiB, plus a body if configured): a large
/// CheckRequest must reach the handler and get a `headers_too_large` deny,
/// not a decode error Envoy could fail open on.
const MAX_CHECK_REQUEST_BYTES: usize = 16 * 1024 * 1024;

/// A bound, not yet running gatehouse.
pub struct Server {
    grpc: Listener,
    http: TcpListener,
    http_check: Option<Listener>,
    max_concurrent_checks: usize,
    live: Arc<Live>,
    registry: Registry,
    check_metrics: Arc<CheckMetrics>,
    key_metrics: Arc<KeyMetrics>,
    reload_metrics: ReloadMetrics,
    running: Running,
    config_path: Option<PathBuf>,
    revocations: Option<Arc<RevocationService>>,
    admin: Option<revocation::Admin>,
}

impl Server {
    /// Binds both listeners, starts the key sources (remote ones begin
    /// fetching) and compiles the policy.
    pub async fn bind(specs: Specs) -> anyhow::Result<Self> {
        let Specs {
            policy,
            keys,
            server,
            telemetry,
            decision_log,
            max_concurrent_checks,
            revocation: revocation_spec,
            admin,
            warnings,
            notes: _,
        } = specs;
        for warning in &warnings {
            tracing::warn!(path = %warning.path, "{}", warning.message);
        }
        let grpc = Listener::bind(&server.grpc_addr, "server.grpc_addr").await?;
        let http = TcpListener::bind(server.http_addr)
            .await
            .with_context(|| format!("binding server.http_addr {}", server.http_addr))?;
        let http_check = match &server.http_check_addr {
            Some(addr) => Some(Listener::bind(addr, "server.http_check_addr").await?),
            None => None,
        };
        let mut registry = Registry::default();
        let check_metrics = Arc::new(CheckMetrics::register(&mut registry));
        let key_metrics = Arc::new(KeyMetrics::register(&mut registry));
        let cache_metrics = Arc::new(CacheMetrics::register(&mut registry));
        let mut policy = policy;
        policy.report_cache_to(&cache_metrics);
        let reload_metrics = ReloadMetrics::register(&mut registry);
        register_build_info(&mut registry);
        crate::telemetry::process::register(&mut registry);
        let sources = keys::start_all(&keys, &key_metrics)?;
        let revocations = revocation::start(revocation_spec.clone(), &policy, &mut registry)?;
        let store = revocations.as_ref().map(|r| r.revocations().clone());
        let compiled = Policy::compile(policy, sources.clone(), store.clone());
        let live = Arc::new(Live::new(Snapshot::new(compiled, decision_log)));
        let admin = revocation::bind_admin(admin, &live, revocations.as_ref()).await?;
        Ok(Self {
            grpc,
            http,
            http_check,
            max_concurrent_checks,
            live,
            registry,
            check_metrics,
            key_metrics,
            reload_metrics,
            running: Running {
                cache_metrics,
                keys,
                sources,
                server,
                telemetry,
                revocation: revocation_spec,
                store,
                admin: admin.is_some(),
            },
            config_path: None,
            revocations,
            admin,
        })
    }

    /// Reload the config from `path` on SIGHUP and whenever the file changes.
    pub fn reload_from(mut self, path: PathBuf) -> Self {
        self.config_path = Some(path);
        self
    }

    pub fn grpc_addr(&self) -> std::io::Result<SocketAddr> {
        self.grpc.local_addr()
    }

    pub fn http_addr(&self) -> std::io::Result<SocketAddr> {
        self.http.local_addr()
    }

    /// The HTTP check listener's address, when `server.http_check_addr` is set.
    pub fn http_check_addr(&self) -> Option<std::io::Result<SocketAddr>> {
        self.http_check.as_ref().map(Listener::local_addr)
    }

    /// The admin listener's address, when `revocation.admin` is set.
    pub fn admin_addr(&self) -> Option<std::io::Result<SocketAddr>> {
        self.admin.as_ref().map(|admin| admin.listener.local_addr())
    }

    /// Serves until `shutdown` resolves. Then readiness turns false and the
    /// gRPC health status goes NOT_SERVING; after `server.shutdown_delay` the
    /// listeners stop accepting, and in-flight Checks get up to
    /// `server.drain_timeout` to finish.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let ServerConfig { grpc_addr, http_addr, http_check_addr, drain_timeout, shutdown_delay } =
            self.running.server.clone();
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<CheckService>().await;
        let not_serving = async move {
            health.set_not_serving::<CheckService>().await;
            // The server as a whole (empty service name, what most probes ask about) too.
            health.set_service_status("", tonic_health::ServingStatus::NotServing).await;
        };
        let shutdown = Shutdown::after(shutdown, shutdown_delay, not_serving);
        let reloading = self.config_path.map(|path| {
            let reloader =
                Reloader::new(path, self.running, self.live.clone(), self.key_metrics, self.reload_metrics);
            tokio::spawn(Arc::new(reloader).watch())
        });

        let ops = OpsState {
            live: self.live.clone(),
            registry: Arc::new(self.registry),
            shutting_down: shutdown.begun(),
            revocations: self.revocations,
        };
        let http_server =
            axum::serve(self.http, ops_router(ops)).with_graceful_shutdown(shutdown.clone().stopped());
        let admin_server = self.admin.map(|admin| {
            axum::serve(admin.listener, admin_router(admin.state, admin.max_body_bytes))
                .with_graceful_shutdown(shutdown.clone().stopped())
        });
        // One authorizer and one concurrency limit behind every front door.
        let checks = Arc::new(Checks::new(self.live, self.check_metrics, self.max_concurrent_checks));
        let http_check_server = self.http_check.map(|listener| {
            serve_http(listener, http_check_router(checks.clone()), shutdown.clone().stopped())
        });
        let router = grpc_builder()
            .add_service(health_service)
            .add_service(CheckService::new(checks, MAX_CHECK_REQUEST_BYTES));
        let stopped = shutdown.clone().stopped();
        let grpc_server: BoxedServer = match self.grpc {
            Listener::Tcp(listener) => Box::pin(async move {
                let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
                Ok(router.serve_with_incoming_shutdown(incoming, stopped).await?)
            }),
            Listener::Unix(listener, _file) => Box::pin(async move {
                let served =
                    router.serve_with_incoming_shutdown(listen::unix_incoming(listener), stopped).await;
                drop(_file);
                Ok(served?)
            }),
        };

        tracing::info!(grpc = ?grpc_addr, http = ?http_addr, http_check = ?http_check_addr, "gatehouse serving");
        let servers = async {
            tokio::try_join!(
                grpc_server,
                async { http_server.await.map_err(anyhow::Error::from) },
                async {
                    match admin_server {
                        Some(server) => server.await.map_err(anyhow::Error::from),
                        None => Ok(()),
                    }
                },
                async {
                    match http_check_server {
                        Some(server) => server.await,
                        None => Ok(()),
                    }
                },
            )
        };
        tokio::select! {
            result = servers => { result?; }
            () = shutdown.drained(drain_timeout) => {
                tracing::warn!("drain timeout reached, closing remaining connections");
            }
        }
        if let Some(task) = reloading {
            task.abort();
        }
        Ok(())
    }
}

/// A server future, whichever kind of listener it serves.
type BoxedServer = std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// Serves `router` (HTTP/1.1 and h2c) on a TCP or Unix listener until `stopped`.
fn serve_http(
    listener: Listener,
    router: axum::Router,
    stopped: impl Future<Output = ()> + Send + 'static,
) -> BoxedServer {
    match listener {
        Listener::Tcp(listener) => {
            Box::pin(async move { Ok(axum::serve(listener, router).with_graceful_shutdown(stopped).await?) })
        }
        Listener::Unix(listener, file) => Box::pin(async move {
            let served = axum::serve(listener, router).with_graceful_shutdown(stopped).await;
            drop(file);
            Ok(served?)
        }),
    }
}

/// Tuned for few long-lived Envoy connections carrying many concurrent
/// streams: generous windows (Checks are small, so flow control should never
/// be what waits), a high stream limit, keepalive to notice dead peers, and
/// a bound on what one connection can make us buffer for headers.
pub fn grpc_builder() -> tonic::transport::Server {
    tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .initial_connection_window_size(Some(4 * 1024 * 1024))
        .initial_stream_window_size(Some(1024 * 1024))
        .max_concurrent_streams(Some(4096))
        .http2_max_header_list_size(Some(256 * 1024))
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    revision: &'static str,
    profile: &'static str,
}

/// `gatehouse_build_info{version,revision,profile}`, always 1.
fn register_build_info(registry: &mut Registry) {
    let build = Family::<BuildLabels, Gauge>::default();
    build
        .get_or_create(&BuildLabels {
            version: env!("CARGO_PKG_VERSION"),
            revision: env!("GATEHOUSE_GIT_REVISION"),
            profile: env!("GATEHOUSE_BUILD_PROFILE"),
        })
        .set(1);
    registry.register("gatehouse_build_info", "Build information (always 1)", build);
}
