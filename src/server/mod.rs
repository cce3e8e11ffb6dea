//! The network edge: the ext_authz gRPC service (wire translation), the
//! HTTP check listener for other proxies, what every Check leaves behind
//! (metrics, decision log, span), the operations endpoints and the admin API.
//! Decisions come from `authz`; nothing here decides.

mod admin;
mod check;
mod grpc;
mod http;
mod http_check;
mod live;
mod observe;
mod wire;

pub(crate) use admin::{admin_router, AdminState};
pub(crate) use check::Checks;
pub(crate) use grpc::{decide, CheckService};
pub(crate) use http::{router as ops_router, OpsState};
pub(crate) use http_check::http_check_router;
pub(crate) use live::{Live, Snapshot};
pub(crate) use observe::CheckMetrics;
pub use wire::{to_check_response, to_http_request};
