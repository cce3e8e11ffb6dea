//! The network edge: the ext_authz gRPC service (wire translation, the
//! Check's metrics, decision log and span) and the operations endpoints.
//! Decisions come from `authz`; nothing here decides.

mod admin;
mod grpc;
mod http;
mod live;
mod observe;
mod wire;

pub(crate) use admin::{admin_router, AdminState};
pub(crate) use grpc::{decide, CheckService};
pub(crate) use http::{router as ops_router, OpsState};
pub(crate) use live::{Live, Snapshot};
pub(crate) use observe::CheckMetrics;
pub use wire::{to_check_response, to_http_request};
