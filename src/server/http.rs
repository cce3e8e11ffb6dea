//! Operations endpoints on `server.http_addr`: `/healthz` (the process is
//! alive), `/readyz` (no provider still waiting for its first keys within its
//! `startup_timeout`, not shutting down; the JSON body names providers that
//! are starting or have no keys) and `/metrics` (Prometheus).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::registry::Registry;

use super::live::Live;
use crate::keys::KeySource;
use crate::revocation::RevocationService;

/// What the endpoints read.
#[derive(Clone)]
pub(crate) struct OpsState {
    pub(crate) live: Arc<Live>,
    pub(crate) registry: Arc<Registry>,
    /// Set first during shutdown, so load balancers stop sending before the listener drains.
    pub(crate) shutting_down: Arc<AtomicBool>,
    /// Revocations, when configured: readiness waits for the first read of the stream.
    pub(crate) revocations: Option<Arc<RevocationService>>,
}

pub(crate) fn router(state: OpsState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn readyz(State(state): State<OpsState>) -> Response {
    let snapshot = state.live.load();
    let names = |keep: fn(&dyn KeySource) -> bool| -> Vec<&str> {
        snapshot.policy.providers().iter().filter(|p| keep(p.keys.as_ref())).map(|p| &*p.name).collect()
    };
    let without_keys = names(|keys| keys.current().is_none());
    // Only a provider still inside its start-up window holds readiness back:
    // one broken IdP must not take down routes that do not need it (its own
    // routes deny with 503 meanwhile).
    let starting = names(|keys| keys.awaiting_first_keys());
    let shutting_down = state.shutting_down.load(Ordering::Acquire);
    // Past `revocation.redis.startup_timeout` a replica serves with what it
    // has, and says here that it has not read the whole stream.
    let revocations_starting = state.revocations.as_ref().is_some_and(|r| r.starting());
    let ready = starting.is_empty() && !revocations_starting && !shutting_down;
    let mut body = serde_json::json!({
        "ready": ready,
        "shutting_down": shutting_down,
        "providers_starting": starting,
        "providers_without_keys": without_keys,
    });
    if let Some(revocations) = &state.revocations {
        body["revocations_synced"] = revocations.revocations().is_synced().into();
    }
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// Prometheus text format 0.0.4 by default; OpenMetrics 1.0 when the scraper
/// asks for it in `Accept` (Prometheus does, and then gets exemplar-ready output).
async fn metrics(State(state): State<OpsState>, request_headers: HeaderMap) -> Response {
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &state.registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let wants_openmetrics = request_headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    if wants_openmetrics {
        let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
        return ([(header::CONTENT_TYPE, content_type)], text).into_response();
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], to_prometheus_text(&text))
        .into_response()
}

/// OpenMetrics → Prometheus text 0.0.4: counters are declared under their
/// `_total` sample name, and the `# UNIT` and `# EOF` lines go.
fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let renamed = ["# TYPE ", "# HELP "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            (counters.contains(&name) && !name.ends_with("_total"))
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests;
