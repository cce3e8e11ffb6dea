//! The network edge: the ext_authz gRPC service (wire translation), the
//! HTTP check listener for other proxies, what every Check leaves behind
//! (metrics, decision log, span), the operations endpoints and the admin API.
//! Decisions come from `authz`; nothing here decides.

mod admin;
mod answer;
mod check;
mod grpc;
mod http;
mod http_check;
mod live;
mod observe;
mod wire;

pub(crate) use admin::{admin_router, AdminState};
pub use answer::write_answer;
pub(crate) use check::Checks;
pub(crate) use grpc::{decide, CheckService};
pub(crate) use http::{router as ops_router, OpsState};
pub(crate) use http_check::http_check_router;
pub(crate) use live::{Live, Snapshot};
pub(crate) use observe::CheckMetrics;
pub use wire::{to_check_response, to_http_request};

/// Every request header gatehouse reads under `specs`, lower-case, each
/// once: what decisions read, then what logs and traces read. Envoy's
/// ext_authz `allowed_headers` must pass these; `check-config` prints them.
pub fn headers_read(specs: &crate::config::Specs) -> Vec<String> {
    let mut names = specs.policy.headers_read();
    for observed in observe::OBSERVED_HEADERS {
        if !names.iter().any(|name| name == observed) {
            names.push(observed.to_owned());
        }
    }
    names
}

/// `headers` as the value of Envoy's `allowed_headers.patterns`, one line.
pub fn envoy_allowed_patterns(headers: &[String]) -> String {
    let patterns: Vec<String> = headers.iter().map(|name| format!("{{ exact: {name} }}")).collect();
    format!("[{}]", patterns.join(", "))
}
