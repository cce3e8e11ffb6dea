//! A no-op ext_authz server: answers OK to every Check without looking at it.
//!
//! The floor any ext_authz server written with tonic starts from: the same
//! runtime (multi-threaded tokio, one worker per allowed CPU), the same
//! generated service code and the same transport settings as `gatehouse
//! serve`, but no decision. `bench/load.sh` measures it beside gatehouse.
//!
//! ```sh
//! cargo run --release --example noop_authz -- 127.0.0.1:9101 [plain|headers|full]
//! ```
//!
//! The optional second argument shapes the answer, to see what Envoy pays for
//! each part of an allow: `plain` (default) is a bare OK; `headers` adds what
//! gatehouse's allow carries in headers (set `x-user-id`, remove
//! `authorization`); `full` adds dynamic metadata shaped like gatehouse's
//! (decision, rule, provider, sub, iss, scope and a 12-claim `claims` struct).

use std::net::SocketAddr;
use std::time::Duration;

use gatehouse::server::proto::envoy::config::core::v3::{HeaderValue, HeaderValueOption};
use gatehouse::server::proto::envoy::service::auth::v3::authorization_server::{
    Authorization, AuthorizationServer,
};
use gatehouse::server::proto::envoy::service::auth::v3::{
    check_response, CheckRequest, CheckResponse, OkHttpResponse,
};
use gatehouse::server::proto::google::rpc;
use prost_types::{value::Kind, ListValue, Struct, Value};
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
        let s = |v: &str| Value { kind: Some(Kind::StringValue(v.into())) };
        let n = |v: f64| Value { kind: Some(Kind::NumberValue(v)) };
        let strukt = |fields: Vec<(&str, Value)>| Struct {
            fields: fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        };
        let claims = strukt(vec![
            ("iss", s("https://gatehouse.local")),
            ("sub", s("user-000000")),
            ("aud", s("orders-api")),
            ("azp", s("web-frontend")),
            ("iat", n(1.7e9)),
            ("nbf", n(1.7e9)),
            ("exp", n(1.7e9 + 7200.0)),
            ("jti", s("bench-1700000000-0")),
            ("scope", s("openid profile orders:read orders:write")),
            ("email", s("user-000000@example.com")),
            (
                "org",
                Value {
                    kind: Some(Kind::StructValue(strukt(vec![
                        ("id", s("org-42")),
                        ("name", s("Example Corp")),
                    ]))),
                },
            ),
            ("roles", Value { kind: Some(Kind::ListValue(ListValue { values: vec![s("buyer")] })) }),
        ]);
        dynamic_metadata = Some(strukt(vec![
            ("decision", s("allow")),
            ("rule", s("rules[0]")),
            ("provider", s("bench")),
            ("sub", s("user-000000")),
            ("iss", s("https://gatehouse.local")),
            ("scope", s("openid profile orders:read orders:write")),
            ("claims", Value { kind: Some(Kind::StructValue(claims)) }),
        ]));
    }
    CheckResponse {
        status: Some(rpc::Status { code: 0, ..Default::default() }),
        http_response: Some(check_response::HttpResponse::OkResponse(ok)),
        dynamic_metadata,
    }
}

fn main() -> anyhow::Result<()> {
    let addr: SocketAddr = std::env::args().nth(1).as_deref().unwrap_or("127.0.0.1:9101").parse()?;
    let shape = std::env::args().nth(2).unwrap_or_else(|| "plain".into());
    anyhow::ensure!(["plain", "headers", "full"].contains(&shape.as_str()), "shape: plain, headers or full");
    let noop = Noop { answer: answer(&shape) };
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
        // The transport settings of `gatehouse serve` (src/app.rs), so only the decision differs.
        tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(10)))
            .initial_connection_window_size(Some(4 * 1024 * 1024))
            .initial_stream_window_size(Some(1024 * 1024))
            .max_concurrent_streams(Some(4096))
            .add_service(AuthorizationServer::new(noop))
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await?;
        Ok(())
    })
}
