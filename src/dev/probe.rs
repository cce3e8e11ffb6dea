//! `gatehouse dev check`: sends one Check to a running gatehouse, the way
//! Envoy would, and prints the answer. For demos and for debugging a config
//! without an Envoy in front.

use std::fmt::Write;

use super::request::CheckRequestBuilder;
use super::DevError;
use crate::proto::envoy::service::auth::v3::{
    authorization_client::AuthorizationClient, check_response::HttpResponse, CheckRequest, CheckResponse,
};

/// Arguments of `gatehouse dev check`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct CheckArgs {
    /// gRPC address of a running gatehouse.
    #[arg(long, default_value = "http://127.0.0.1:9001")]
    addr: String,
    #[command(flatten)]
    request: RequestArgs,
}

/// The simulated HTTP request (shared by `dev check` and `explain`).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RequestArgs {
    /// HTTP method of the simulated request.
    #[arg(long, default_value = "GET")]
    method: String,
    /// Path (with query string) of the simulated request.
    #[arg(long, default_value = "/")]
    path: String,
    /// Host of the simulated request.
    #[arg(long, default_value = "localhost")]
    host: String,
    /// A request header as `name: value`; repeatable.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// A bearer token, sent as `Authorization: Bearer TOKEN`.
    #[arg(long)]
    token: Option<String>,
    /// A context extension as `key=value`, as an Envoy route would set it
    /// (e.g. `gatehouse_rule=admin`); repeatable.
    #[arg(long = "context", value_name = "KEY=VALUE")]
    context: Vec<String>,
}

/// Sends the Check and returns a readable rendering of the response.
pub(crate) async fn run_check(args: &CheckArgs) -> Result<String, DevError> {
    let request = build_request(&args.request)?;
    let mut client = AuthorizationClient::connect(args.addr.clone())
        .await
        .map_err(|source| DevError::Connect { addr: args.addr.clone(), source })?;
    let response =
        client.check(request).await.map_err(|source| DevError::Rpc { addr: args.addr.clone(), source })?;
    Ok(render(&response.into_inner()))
}

/// Builds the CheckRequest Envoy would send for this request.
pub(crate) fn build_request(args: &RequestArgs) -> Result<CheckRequest, DevError> {
    let mut builder = CheckRequestBuilder::new(&args.method, &args.path).host(&args.host);
    for header in &args.headers {
        let (name, value) = header.split_once(':').ok_or_else(|| DevError::Header(header.clone()))?;
        builder = builder.header(name, value.trim());
    }
    if let Some(token) = &args.token {
        builder = builder.bearer(token);
    }
    for entry in &args.context {
        let (key, value) = entry.split_once('=').ok_or_else(|| DevError::Header(entry.clone()))?;
        builder = builder.context(key, value);
    }
    Ok(builder.build())
}

/// A readable rendering of a CheckResponse.
pub(crate) fn render(response: &CheckResponse) -> String {
    let mut out = String::new();
    let code = response.status.as_ref().map_or(0, |s| s.code);
    match &response.http_response {
        Some(HttpResponse::OkResponse(ok)) if code == 0 => {
            let _ = writeln!(out, "ALLOW");
            for option in &ok.headers {
                if let Some(h) = &option.header {
                    let _ = writeln!(out, "  set    {}: {}", h.key, h.value);
                }
            }
            for name in &ok.headers_to_remove {
                let _ = writeln!(out, "  remove {name}");
            }
        }
        Some(HttpResponse::DeniedResponse(denied)) => {
            let status = denied.status.as_ref().map_or(403, |s| s.code);
            let _ = writeln!(out, "DENY {status} (grpc code {code})");
            for h in denied.headers.iter().filter_map(|o| o.header.as_ref()) {
                let _ = writeln!(out, "  {}: {}", h.key, h.value);
            }
            let _ = writeln!(out, "  body: {}", denied.body);
        }
        _ => {
            let _ = writeln!(out, "UNEXPECTED response (grpc code {code})");
        }
    }
    out
}

#[cfg(test)]
mod tests;
