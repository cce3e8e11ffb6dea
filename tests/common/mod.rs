//! Shared harness for the in-process gRPC tests: a gatehouse bound to
//! 127.0.0.1:0, a tonic client, and CheckRequest builders.
#![allow(dead_code)]

pub mod envoy;
pub mod idp;

use std::collections::HashMap;
use std::net::SocketAddr;

use gatehouse::server::proto::envoy::config::core::v3::{HeaderMap, HeaderValue};
use gatehouse::server::proto::envoy::service::auth::v3::{
    attribute_context, authorization_client::AuthorizationClient, check_response::HttpResponse,
    AttributeContext, CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse,
};
use tokio::sync::oneshot;
use tonic::transport::Channel;

pub struct Gatehouse {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    pub client: AuthorizationClient<Channel>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Gatehouse {
    /// Starts gatehouse from a YAML config; listen addresses are forced to 127.0.0.1:0.
    pub async fn start(yaml: &str) -> Gatehouse {
        Gatehouse::start_config(gatehouse::config::from_yaml(yaml).expect("valid test config")).await
    }

    /// Starts gatehouse from a config built in code (which may bypass validation).
    pub async fn start_config(mut config: gatehouse::config::Config) -> Gatehouse {
        config.server.grpc_addr = "127.0.0.1:0".parse().unwrap();
        config.server.http_addr = "127.0.0.1:0".parse().unwrap();
        let server = gatehouse::app::Server::bind(config).await.expect("bind");
        let grpc = server.grpc_addr().unwrap();
        let http = server.http_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        let client = AuthorizationClient::connect(format!("http://{grpc}")).await.expect("connect");
        Gatehouse { grpc, http, client, stop: Some(stop), task: Some(task) }
    }

    pub async fn check(&mut self, request: CheckRequest) -> CheckResponse {
        self.client.check(request).await.expect("Check must never fail at the RPC level").into_inner()
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
        let response = reqwest::get(format!("http://{}{path}", self.http)).await.expect("http get");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }
}

/// A CheckRequest as Envoy sends it by default: merged, lower-cased `headers`.
pub fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> CheckRequest {
    let mut map = HashMap::new();
    for (name, value) in headers {
        map.entry(name.to_ascii_lowercase())
            .and_modify(|v: &mut String| {
                v.push(',');
                v.push_str(value);
            })
            .or_insert_with(|| value.to_string());
    }
    wrap(attribute_context::HttpRequest {
        method: method.into(),
        path: path.into(),
        host: "api.example.com".into(),
        headers: map,
        ..Default::default()
    })
}

/// A CheckRequest as Envoy sends it with `encode_raw_headers: true`.
pub fn raw_request(method: &str, path: &str, headers: &[(&str, &[u8])]) -> CheckRequest {
    let header_map = HeaderMap {
        headers: headers
            .iter()
            .map(|(k, v)| HeaderValue { key: k.to_string(), value: String::new(), raw_value: v.to_vec() })
            .collect(),
    };
    wrap(attribute_context::HttpRequest {
        method: method.into(),
        path: path.into(),
        host: "api.example.com".into(),
        header_map: Some(header_map),
        ..Default::default()
    })
}

fn wrap(http: attribute_context::HttpRequest) -> CheckRequest {
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(attribute_context::Request { http: Some(http) }),
            ..Default::default()
        }),
    }
}

pub fn ok(response: &CheckResponse) -> &OkHttpResponse {
    assert_eq!(response.status.as_ref().map(|s| s.code), Some(0), "expected allow: {response:?}");
    match &response.http_response {
        Some(HttpResponse::OkResponse(ok)) => ok,
        other => panic!("expected ok_response, got {other:?}"),
    }
}

/// Asserts a deny and returns (http status, grpc code, denied response).
pub fn denied(response: &CheckResponse) -> (i32, i32, &DeniedHttpResponse) {
    let code = response.status.as_ref().map(|s| s.code).unwrap_or(0);
    assert_ne!(code, 0, "expected deny: {response:?}");
    match &response.http_response {
        Some(HttpResponse::DeniedResponse(denied)) => {
            (denied.status.as_ref().map(|s| s.code).unwrap_or(0), code, denied)
        }
        other => panic!("expected denied_response, got {other:?}"),
    }
}

pub fn header<'a>(
    headers: &'a [gatehouse::server::proto::envoy::config::core::v3::HeaderValueOption],
    name: &str,
) -> Option<&'a str> {
    headers.iter().filter_map(|h| h.header.as_ref()).find(|h| h.key == name).map(|h| h.value.as_str())
}

/// Every header gatehouse sets must overwrite (append explicitly false).
pub fn assert_overwrites(ok: &OkHttpResponse) {
    for option in &ok.headers {
        assert_eq!(option.append, Some(false), "header must be set with append=false: {option:?}");
        let name = &option.header.as_ref().unwrap().key;
        assert!(!ok.headers_to_remove.contains(name), "{name} is both set and removed");
    }
}
