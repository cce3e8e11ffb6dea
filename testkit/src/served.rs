//! A gatehouse served in-process on 127.0.0.1:0, with a gRPC client: what
//! most integration tests run against.

use std::net::SocketAddr;

use gatehouse::internals::wire::authorization_client::AuthorizationClient;
use gatehouse::internals::wire::{CheckRequest, CheckResponse};
use gatehouse::internals::{Server, Specs};
use tokio::sync::oneshot;
use tonic::transport::Channel;

pub struct Gatehouse {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    /// The admin listener, when the config has `revocation.admin`.
    pub admin: Option<SocketAddr>,
    /// The HTTP check listener, when the config has `server.http_check_addr`.
    pub http_check: Option<SocketAddr>,
    pub checker: Checker,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Gatehouse {
    /// Starts gatehouse from a YAML config; listen addresses are forced to 127.0.0.1:0.
    pub async fn start(yaml: &str) -> Gatehouse {
        Gatehouse::start_specs(crate::specs(yaml)).await
    }

    /// Starts gatehouse from a config that a test adjusted after building it.
    pub async fn start_specs(mut specs: Specs) -> Gatehouse {
        specs.server.grpc_addr = "127.0.0.1:0".parse().expect("an address");
        specs.server.http_addr = "127.0.0.1:0".parse().expect("an address");
        if let Some(addr) = &mut specs.server.http_check_addr {
            *addr = "127.0.0.1:0".parse().expect("an address");
        }
        if let Some(admin) = &mut specs.admin {
            admin.addr = "127.0.0.1:0".parse().expect("an address");
        }
        let server = Server::bind(specs).await.expect("bind");
        let grpc = server.grpc_addr().unwrap();
        let http = server.http_addr().unwrap();
        let admin = server.admin_addr().map(|addr| addr.unwrap());
        let http_check = server.http_check_addr().map(|addr| addr.unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        let checker = Checker::connect(grpc).await;
        Gatehouse { grpc, http, admin, http_check, checker, stop: Some(stop), task: Some(task) }
    }

    pub async fn check(&mut self, request: CheckRequest) -> CheckResponse {
        self.checker.check(request).await
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server result");
        }
    }

    pub async fn http_get(&self, path: &str) -> (u16, String) {
        let (status, _, body) = crate::ops::get(self.http, path, None).await;
        (status, body)
    }

    /// Waits until `/readyz` is 200.
    pub async fn wait_ready(&self, within: std::time::Duration) {
        crate::ops::wait_readyz(self.http, 200, within).await;
    }

    /// One series of `/metrics` now.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        crate::ops::metric(self.http, series).await
    }

    /// `GET /api/orders` with `Authorization: Bearer <token>`.
    pub async fn check_token(&mut self, token: &str) -> CheckResponse {
        self.checker.check_token(token).await
    }
}

/// A gRPC (ext_authz) client of one gatehouse: in this process, or a
/// replica of an Envoy [`crate::envoy::Stack`].
#[derive(Clone)]
pub struct Checker {
    pub client: AuthorizationClient<Channel>,
}

impl Checker {
    pub async fn connect(grpc: SocketAddr) -> Checker {
        Checker { client: AuthorizationClient::connect(format!("http://{grpc}")).await.expect("connect") }
    }

    pub async fn check(&mut self, request: CheckRequest) -> CheckResponse {
        self.client.check(request).await.expect("Check must never fail at the RPC level").into_inner()
    }

    /// `GET /api/orders` with `Authorization: Bearer <token>`.
    pub async fn check_token(&mut self, token: &str) -> CheckResponse {
        self.check(crate::request("GET", "/api/orders", &[("authorization", &crate::bearer(token))])).await
    }
}
