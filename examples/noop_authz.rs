//! A no-op ext_authz server: answers OK to every Check without looking at it.
//!
//! The floor any ext_authz server written with tonic starts from: the same
//! runtime (multi-threaded tokio, one worker per allowed CPU), the same
//! generated service code and the same transport settings as `gatehouse
//! serve`, but no decision. `bench/load.sh` measures it beside gatehouse.
//!
//! ```sh
//! cargo run --release --example noop_authz -- 127.0.0.1:9101
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use gatehouse::server::proto::envoy::service::auth::v3::authorization_server::{
    Authorization, AuthorizationServer,
};
use gatehouse::server::proto::envoy::service::auth::v3::{
    check_response, CheckRequest, CheckResponse, OkHttpResponse,
};
use gatehouse::server::proto::google::rpc;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

struct Noop;

#[tonic::async_trait]
impl Authorization for Noop {
    async fn check(&self, _request: Request<CheckRequest>) -> Result<Response<CheckResponse>, Status> {
        Ok(Response::new(CheckResponse {
            status: Some(rpc::Status { code: 0, ..Default::default() }),
            http_response: Some(check_response::HttpResponse::OkResponse(OkHttpResponse::default())),
            dynamic_metadata: None,
        }))
    }
}

fn main() -> anyhow::Result<()> {
    let addr: SocketAddr = std::env::args().nth(1).as_deref().unwrap_or("127.0.0.1:9101").parse()?;
    // The same runtime `gatehouse serve` builds.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        eprintln!("noop_authz serving on {}", listener.local_addr()?);
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let shutdown = async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("SIGTERM handler");
            tokio::select! {
                _ = term.recv() => {},
                _ = tokio::signal::ctrl_c() => {},
            }
        };
        tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .add_service(AuthorizationServer::new(Noop))
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await?;
        Ok(())
    })
}
