//! The network edges: the ext_authz gRPC service and the operations HTTP
//! endpoints. Both only translate between the wire and `authz`.
pub mod grpc;
pub mod http;
pub mod proto;
