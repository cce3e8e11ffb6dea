//! A no-op ext_authz server: answers OK to every Check without looking at it.
//!
//! The floor any ext_authz server written with tonic starts from: the same
//! runtime (multi-threaded tokio, one worker per allowed CPU), the same
//! generated service code and the same transport settings as `gatehouse
//! serve`, but no decision. `loadtest/load.sh` measures it beside gatehouse.
//!
//! ```sh
//! cargo run --release --example noop_authz -- 127.0.0.1:9101 [plain|headers|full|http]
//! ```
//!
//! The optional second argument shapes the answer, to see what Envoy pays for
//! each part of an allow: `plain` (default) is a bare OK; `headers` adds what
//! gatehouse's allow carries in headers (set `x-user-id`, remove
//! `authorization`); `full` adds dynamic metadata shaped like gatehouse's
//! default answer (decision, rule, provider, sub, iss, scope). `http` is the
//! no-op for proxies that ask over HTTP (Envoy `http_service`, nginx
//! `auth_request`): 200 with `x-user-id` to any request, over HTTP/1.1 or h2c,
//! served by axum as gatehouse's HTTP check listener is.

use std::net::SocketAddr;

use gatehouse::internals::wire::authorization_server::{Authorization, AuthorizationServer};
use gatehouse::internals::wire::{
    check_response, CheckRequest, CheckResponse, HeaderValue, HeaderValueOption, OkHttpResponse, RpcStatus,
};
use prost_types::{value::Kind, Struct, Value};
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

struct Noop {
    answer: CheckResponse,
}

#[tonic::async_trait]
impl Authorization for Noop {
    async fn check(&self, _request: Request<CheckRequest>) -> Result<Response<CheckResponse>, Status> {
        Ok(Response::new(self.answer.clone()))
    }
}

fn answer(shape: &str) -> CheckResponse {
    let mut ok = OkHttpResponse::default();
    let mut dynamic_metadata = None;
    if shape == "headers" || shape == "full" {
        ok.headers.push(HeaderValueOption {
            header: Some(HeaderValue {
                key: "x-user-id".into(),
                value: "user-000000".into(),
                raw_value: Vec::new(),
            }),
            append: Some(false),
            ..Default::default()
        });
        ok.headers_to_remove.push("authorization".into());
    }
    if shape == "full" {
        // gatehouse's default allow metadata (`dynamic_metadata` unset).
        let s = |v: &str| Value { kind: Some(Kind::StringValue(v.into())) };
        let fields = [
            ("decision", s("allow")),
            ("rule", s("rules[0]")),
            ("provider", s("bench")),
            ("sub", s("user-000000")),
            ("iss", s("https://gatehouse.local")),
            ("scope", s("openid profile orders:read orders:write")),
        ];
        dynamic_metadata =
            Some(Struct { fields: fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect() });
    }
    CheckResponse {
        status: Some(RpcStatus { code: 0, ..Default::default() }),
        http_response: Some(check_response::HttpResponse::OkResponse(ok)),
        dynamic_metadata,
    }
}

fn main() -> anyhow::Result<()> {
    let addr: SocketAddr = std::env::args().nth(1).as_deref().unwrap_or("127.0.0.1:9101").parse()?;
    let shape = std::env::args().nth(2).unwrap_or_else(|| "plain".into());
    anyhow::ensure!(
        ["plain", "headers", "full", "http"].contains(&shape.as_str()),
        "shape: plain, headers, full or http"
    );
    // The same runtime `gatehouse serve` builds.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        eprintln!("noop_authz serving on {} ({shape})", listener.local_addr()?);
        if shape == "http" {
            let allow = || async { ([("x-user-id", "user-000000")], "") };
            axum::serve(listener, axum::Router::new().fallback(allow))
                .with_graceful_shutdown(terminated())
                .await?;
            return Ok(());
        }
        let noop = Noop { answer: answer(&shape) };
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        // The transport settings of `gatehouse serve`, so only the decision differs.
        gatehouse::internals::grpc_builder()
            .add_service(AuthorizationServer::new(noop))
            .serve_with_incoming_shutdown(incoming, terminated())
            .await?;
        Ok(())
    })
}

async fn terminated() {
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}
