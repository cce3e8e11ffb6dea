//! Wiring: builds key sources, the policy, the authorizer and both servers
//! from a [`Config`], and runs them until a shutdown signal.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

use crate::authz::{Authorizer, Policy};
use crate::config::Config;
use crate::keys::{self, KeySource};
use crate::reload::Reloader;
use crate::server::grpc::CheckService;
use crate::server::http::{self, OpsState};
use crate::server::proto::envoy::service::auth::v3::authorization_server::AuthorizationServer;
use crate::telemetry::ops::OpsMetrics;
use crate::telemetry::{KeyMetrics, Metrics};

/// Builds every provider's key source, naming the provider on failure.
/// Remote sources start fetching at once, all in parallel.
pub fn build_key_sources(
    config: &Config,
    metrics: &Arc<KeyMetrics>,
) -> anyhow::Result<Vec<Arc<dyn KeySource>>> {
    config
        .providers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            keys::build_source(p, metrics).with_context(|| format!("providers[{i}] ({}): keys", p.name))
        })
        .collect()
}

/// Largest CheckRequest decoded (tonic's default is 4 MiB).
const MAX_CHECK_REQUEST_BYTES: usize = 16 * 1024 * 1024;

/// A bound, not yet running gatehouse.
pub struct Server {
    config: Config,
    grpc: TcpListener,
    http: TcpListener,
    authorizer: Arc<Authorizer>,
    registry: Registry,
    metrics: Arc<Metrics>,
    key_metrics: Arc<KeyMetrics>,
    ops_metrics: Arc<OpsMetrics>,
    sources: Vec<Arc<dyn KeySource>>,
    config_path: Option<PathBuf>,
}

impl Server {
    /// Binds both listeners and builds the authorizer (starting key fetches).
    pub async fn bind(config: Config) -> anyhow::Result<Self> {
        let grpc = TcpListener::bind(config.server.grpc_addr)
            .await
            .with_context(|| format!("binding server.grpc_addr {}", config.server.grpc_addr))?;
        let http = TcpListener::bind(config.server.http_addr)
            .await
            .with_context(|| format!("binding server.http_addr {}", config.server.http_addr))?;
        let mut registry = Registry::default();
        let metrics = Arc::new(Metrics::register(&mut registry));
        let key_metrics = Arc::new(KeyMetrics::register(&mut registry));
        let ops_metrics = Arc::new(OpsMetrics::register(&mut registry));
        crate::telemetry::process::register(&mut registry);
        let sources = build_key_sources(&config, &key_metrics)?;
        let policy = Policy::compile(&config, sources.clone()).context("compiling rules")?;
        let authorizer = Arc::new(Authorizer::new(policy));
        Ok(Self {
            config,
            grpc,
            http,
            authorizer,
            registry,
            metrics,
            key_metrics,
            ops_metrics,
            sources,
            config_path: None,
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

    /// Serves until `shutdown` resolves. Then readiness turns false and the
    /// gRPC health status goes NOT_SERVING; after `server.shutdown_delay` the
    /// listeners stop accepting, and in-flight Checks get up to
    /// `server.drain_timeout` to finish.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let shutting_down = Arc::new(AtomicBool::new(false));
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<AuthorizationServer<CheckService>>().await;
        let drain_timeout = self.config.server.drain_timeout;
        let shutdown_delay = self.config.server.shutdown_delay;
        let reloading = self.config_path.clone().map(|path| {
            let reloader = Reloader::new(
                path,
                self.config.clone(),
                self.sources.clone(),
                self.authorizer.clone(),
                self.key_metrics.clone(),
                self.ops_metrics.clone(),
            );
            tokio::spawn(Arc::new(reloader).watch())
        });

        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let flag = shutting_down.clone();
        tokio::spawn(async move {
            shutdown.await;
            flag.store(true, Ordering::Release);
            health.set_not_serving::<AuthorizationServer<CheckService>>().await;
            // The server as a whole (empty service name, what most probes ask about) too.
            health.set_service_status("", tonic_health::ServingStatus::NotServing).await;
            tracing::info!(delay = ?shutdown_delay, "shutting down: not ready; draining after the delay");
            tokio::time::sleep(shutdown_delay).await;
            let _ = stop_tx.send(true);
        });

        let ops = OpsState {
            authorizer: self.authorizer.clone(),
            registry: Arc::new(self.registry),
            shutting_down,
        };
        let http_server =
            axum::serve(self.http, http::router(ops)).with_graceful_shutdown(stopped(stop_rx.clone()));

        let check = CheckService::new(
            self.authorizer.clone(),
            self.metrics.clone(),
            self.config.limits.max_concurrent_checks,
        );
        let incoming = TcpIncoming::from(self.grpc).with_nodelay(Some(true));
        // Tuned for few long-lived Envoy connections carrying many concurrent
        // streams: generous windows (Checks are small, so flow control should
        // never be what waits), a high stream limit, keepalive to notice dead peers.
        let grpc_server = tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(10)))
            .initial_connection_window_size(Some(4 * 1024 * 1024))
            .initial_stream_window_size(Some(1024 * 1024))
            .max_concurrent_streams(Some(4096))
            // Bounds what one connection can make us buffer for headers.
            .http2_max_header_list_size(Some(256 * 1024))
            .add_service(health_service)
            .add_service(
                // Above anything Envoy can send (headers ≤ 8 MiB, plus a body if
                // configured): a large CheckRequest must reach the handler and get
                // a `headers_too_large` deny, not a decode error Envoy could fail open on.
                AuthorizationServer::new(check).max_decoding_message_size(MAX_CHECK_REQUEST_BYTES),
            )
            .serve_with_incoming_shutdown(incoming, stopped(stop_rx.clone()));

        tracing::info!(grpc = ?self.config.server.grpc_addr, http = ?self.config.server.http_addr, "gatehouse serving");
        let servers = async {
            tokio::try_join!(async { grpc_server.await.map_err(anyhow::Error::from) }, async {
                http_server.await.map_err(anyhow::Error::from)
            })
        };
        tokio::pin!(servers);
        let mut draining = stop_rx;
        tokio::select! {
            result = &mut servers => { result?; }
            _ = async { let _ = draining.wait_for(|stop| *stop).await; tokio::time::sleep(drain_timeout).await } => {
                tracing::warn!("drain timeout reached, closing remaining connections");
            }
        }
        if let Some(task) = reloading {
            task.abort();
        }
        Ok(())
    }
}

async fn stopped(mut stop: tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
