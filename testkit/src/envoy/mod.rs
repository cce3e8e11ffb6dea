//! The pinned Envoy, its shipped configs (`deploy/envoy/`), and the
//! gatehouse config the proxy stacks ([`crate::stack`]) run.

mod render;

pub use render::{deploy_config, envoy_bin, envoy_validate, free_port};

/// The gatehouse config the proxy tests run behind the shipped proxy configs
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
