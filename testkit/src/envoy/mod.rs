//! The real Envoy in front of the built `gatehouse` binary: the config
//! renderer, the HTTP client side, and the [`Stack`] of IdP, echo upstream,
//! gatehouse and Envoy.

mod http1;
mod render;
mod stack;

pub use http1::{parse_http1, upstream_path, upstream_saw, Front, Reply};
pub use render::{deploy_config, envoy_bin, envoy_validate, free_port, render};
pub use stack::{Stack, StackOptions};

/// The gatehouse config the Envoy tests run behind the shipped Envoy configs
/// (`{JWKS_URI}` is the stack's IdP): provider `corp` of the test IdP with
/// `sub` and `scope` as identity headers, an anonymous `/public`, `/admin`
/// needing scope `admin`, `/orders` needing `orders:read`, any token
/// elsewhere, CORS preflights let through.
pub const STACK_CONFIG: &str = r#"
providers:
  - name: corp
    issuer: https://idp.test
    audiences: [orders-api]
    jwks: { uri: "{JWKS_URI}", refresh_interval: 5m }
    claims_to_headers:
      - { claim: sub, header: x-user-id }
      - { claim: scope, header: x-user-scope }
    forward_token: false
rules:
  - name: public
    match: { path_prefix: /public }
    allow: anonymous
  - name: admin
    match: { path_prefix: /admin }
    require: { scopes_all: [admin] }
  - name: orders
    match: { path_prefix: /orders }
    require: { scopes_all: [orders:read] }
  - name: everything-else
    match: { path_prefix: / }
    require: {}
bypass_cors_preflight: true
"#;
