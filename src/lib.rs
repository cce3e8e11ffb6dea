//! Gatehouse: an authorization service for Envoy's external authorization
//! API (`envoy.service.auth.v3.Authorization/Check`, gRPC).
//!
//! Envoy sends every request's attributes; gatehouse finds the bearer JWT,
//! verifies it against its issuer's keys, applies the route rules and answers
//! allow (with the verified identity as upstream headers and dynamic
//! metadata) or deny (401/403/503 with a `WWW-Authenticate` challenge). Every
//! deny is a successful RPC carrying a non-OK status, so Envoy can never
//! mistake it for an error and fail open.
//!
//! # Layout
//!
//! - [`config`]: the YAML file's serde types, defaults, loading and validation.
//! - [`authz`]: the pure decision core: token extraction, JWT verification,
//!   rule matching and the decision. No I/O.
//! - [`keys`]: verification keys and the [`keys::KeySource`] seam; the only
//!   module that fetches (remote JWKS) or reads (JWKS files) key material.
//! - [`server`]: the gRPC Check service and the HTTP operations endpoints;
//!   translation between the wire and `authz` only.
//! - [`telemetry`]: logging, metrics (Check, keys, process, reload) and tracing spans.
//! - [`reload`]: live config reload (SIGHUP, file change) with key caches kept.
//! - [`cli`]: the command line (`serve`, `check-config`, `dev`).
//! - [`app`]: wiring: builds everything from a config and runs it until shutdown.
//! - [`explain`]: `gatehouse explain`, one offline decision through the Check code path.
//! - [`dev`]: local signing keys and token minting for demos and tests.
#![forbid(unsafe_code)]

pub mod app;
pub mod authz;
pub mod cli;
pub mod config;
pub mod dev;
pub mod explain;
pub mod keys;
pub mod reload;
pub mod server;
pub mod telemetry;
