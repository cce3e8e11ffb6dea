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
//! The modules stand in layers; a module imports only from layers below it
//! (checked by the `architecture` integration test). Bottom to top:
//!
//! 1. Vocabulary leaves, which import nothing of gatehouse: [`alg`] (the JWS
//!    algorithms), [`path`] (the request path normalizer), [`clock`],
//!    [`redact`] (what may stand in logs for a secret), [`watch`] (file change
//!    polling), [`proto`] (the generated Envoy types) and [`telemetry`] (log
//!    subscriber, OTLP span export, process metrics).
//! 2. [`keys`]: verification keys and the `KeySource` seam; the only module
//!    that fetches or reads key material. [`revocation`]: revoked tokens,
//!    sessions, users and issuers, shared through a Redis Stream. Each owns
//!    its specs and metrics.
//! 3. [`authz`]: the decision core: token extraction, JWT verification, rule
//!    matching, the decision. No I/O, no wire types.
//! 4. [`config`]: the YAML file's serde types and the one step that checks
//!    it and builds the `keys` and `authz` specs.
//! 5. [`server`]: the gRPC Check service (wire translation, the Check's
//!    metrics, decision log and span) and the operations endpoints.
//! 6. On top, in this order: [`dev`] (local keys, tokens, the CheckRequest
//!    builder, the echo upstream), [`explain`], [`revoke`] (the admin API's
//!    client), [`import`] (Envoy `jwt_authn` configs into gatehouse
//!    configs), [`reload`], [`app`] (wiring), [`cli`].
//!
//! The public surface is [`cli::main`] for the binary and [`internals`] for
//! gatehouse's own tests, test kit, benchmarks and fuzz targets.
#![forbid(unsafe_code)]

mod alg;
mod clock;
mod path;
mod proto;
mod redact;
mod telemetry;
mod watch;

mod keys;
mod revocation;

mod authz;

mod config;

mod server;

mod app;
pub mod cli;
mod dev;
mod explain;
mod import;
mod reload;
mod revoke;

pub mod internals;
