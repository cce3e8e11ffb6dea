//! Operations endpoints on `server.http_addr`: `/healthz` (the process is
//! alive), `/readyz` (no provider still waiting for its first keys within its
//! `startup_timeout`, not shutting down; the JSON body names providers that
//! are starting or have no keys) and `/metrics` (Prometheus).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::registry::Registry;

use crate::authz::Authorizer;

/// What the endpoints read.
#[derive(Clone)]
pub struct OpsState {
    pub authorizer: Arc<Authorizer>,
    pub registry: Arc<Registry>,
    /// Set first during shutdown, so load balancers stop sending before the listener drains.
    pub shutting_down: Arc<AtomicBool>,
}

pub fn router(state: OpsState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn readyz(State(state): State<OpsState>) -> Response {
    let policy = state.authorizer.policy();
    let names = |keep: fn(&dyn crate::keys::KeySource) -> bool| -> Vec<&str> {
        policy.providers.iter().filter(|p| keep(p.keys.as_ref())).map(|p| &*p.name).collect()
    };
    let without_keys = names(|keys| keys.current().is_none());
    // Only a provider still inside its start-up window holds readiness back:
    // one broken IdP must not take down routes that do not need it (its own
    // routes deny with 503 meanwhile).
    let starting = names(|keys| keys.awaiting_first_keys());
    let shutting_down = state.shutting_down.load(Ordering::Acquire);
    let ready = starting.is_empty() && !shutting_down;
    let body = serde_json::json!({
        "ready": ready,
        "shutting_down": shutting_down,
        "providers_starting": starting,
        "providers_without_keys": without_keys,
    });
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn metrics(State(state): State<OpsState>) -> Response {
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &state.registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([(header::CONTENT_TYPE, content_type)], text).into_response()
}
