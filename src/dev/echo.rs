//! `gatehouse dev echo`: a tiny upstream that answers every request with the
//! request it received (method, path, headers) as JSON. The demo and the
//! end-to-end tests put it behind Envoy to show what reaches an app.

use std::net::SocketAddr;

use axum::extract::Request;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Router;

use super::DevError;

/// Arguments of `gatehouse dev echo`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct EchoArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    addr: SocketAddr,
}

/// The echo app: any method, any path.
pub fn echo_router() -> Router {
    Router::new().fallback(echo)
}

async fn echo(request: Request) -> impl IntoResponse {
    let mut headers = serde_json::Map::new();
    for (name, value) in request.headers() {
        let value = serde_json::Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned());
        match headers.get_mut(name.as_str()) {
            // Repeated headers are kept apart, as the app would see them.
            Some(serde_json::Value::Array(values)) => values.push(value),
            Some(first) => *first = serde_json::Value::Array(vec![first.take(), value]),
            None => {
                headers.insert(name.as_str().to_owned(), value);
            }
        }
    }
    let body = serde_json::json!({
        "method": request.method().as_str(),
        "path": request.uri().path_and_query().map_or("/", |p| p.as_str()),
        "headers": headers,
    });
    ([(header::CONTENT_TYPE, "application/json")], format!("{body:#}\n"))
}

/// Serves the echo app until the process is stopped.
pub(crate) async fn run_echo(args: &EchoArgs) -> Result<(), DevError> {
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|source| DevError::Bind { addr: args.addr, source })?;
    axum::serve(listener, echo_router()).await.map_err(|source| DevError::Serve { addr: args.addr, source })
}
