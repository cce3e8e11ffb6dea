//! The real Envoy in front of the built `gatehouse` binary: the config
//! renderer, the HTTP client side, and the [`Stack`] of IdP, echo upstream,
//! gatehouse and Envoy.

mod http1;
mod render;
mod stack;

pub use http1::{parse_http1, upstream_path, upstream_saw, Front, Reply};
pub use render::{deploy_config, envoy_bin, envoy_validate, free_port, render};
pub use stack::{Stack, StackOptions};
