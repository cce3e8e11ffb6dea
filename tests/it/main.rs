//! gatehouse's integration tests, one binary with a module per topic (built
//! once, not once per file). Shared harness and fixtures: the
//! `gatehouse-testkit` crate.

// Test code: an unwrap that fails is a test that fails, with its location.
#![allow(clippy::unwrap_used)]

mod architecture;
mod cli;
mod deploy;
mod envoy_e2e;
mod envoy_headers;
mod flood;
mod grpc_check;
mod import_jwt_authn;
mod jwks_cache;
mod limits;
mod monitoring;
mod opaque;
mod operations;
mod oracle;
mod otel_env;
mod proxies;
mod remote_jwks;
mod revocation;
mod rules;
mod schema;
mod security;
mod token_cache;
mod unix_socket;
mod unknown_kid_flood;
