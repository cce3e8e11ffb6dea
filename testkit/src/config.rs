//! Gatehouse configs for tests: the one most tests share (provider `corp`
//! of the test IdP, `/api` needing its token), with the parts that differ
//! set per test.

use gatehouse::internals::Specs;

use crate::tokens::{AUDIENCE, ISSUER};

/// Builds and checks a config document; panics with its problems.
pub fn specs(yaml: &str) -> Specs {
    gatehouse::internals::from_yaml(yaml)
        .unwrap_or_else(|e| panic!("test config does not load:\n{e}\n---\n{yaml}"))
}

/// Provider `corp` (issuer [`ISSUER`], audience [`AUDIENCE`], ES256, `sub`
/// into `x-user-id`) and the rule `/api` → a `corp` token. `jwks` is the
/// inside of the `jwks:` mapping (`uri: "..."`, `inline: '...'`, with any
/// cache settings).
#[derive(Debug, Clone)]
pub struct CorpConfig {
    jwks: String,
    limits: Option<String>,
    extra: String,
}

impl CorpConfig {
    pub fn new(jwks: impl Into<String>) -> Self {
        Self { jwks: jwks.into(), limits: None, extra: String::new() }
    }

    /// `limits:` as a flow mapping, e.g. `{ unknown_kid_wait: 5s }`.
    pub fn limits(mut self, limits: &str) -> Self {
        self.limits = Some(limits.to_owned());
        self
    }

    /// Top-level sections appended as they are.
    pub fn extra(mut self, yaml: &str) -> Self {
        self.extra.push_str(yaml);
        self.extra.push('\n');
        self
    }

    pub fn yaml(&self) -> String {
        let limits = self.limits.as_deref().map(|l| format!("limits: {l}\n")).unwrap_or_default();
        format!(
            r#"
providers:
  - name: corp
    issuer: {ISSUER}
    audiences: [{AUDIENCE}]
    algorithms: [ES256]
    jwks: {{ {jwks} }}
    claims_to_headers:
      - {{ claim: sub, header: x-user-id }}
rules:
  - match: {{ path_prefix: /api }}
    require: {{ providers: [corp] }}
{limits}{extra}"#,
            jwks = self.jwks,
            extra = self.extra,
        )
    }
}

/// Provider `corp` (as in [`CorpConfig`], keys inline) beside provider `as`:
/// opaque tokens of [`crate::AS_ISSUER`] introspected at `endpoint` as client
/// [`crate::idp::CLIENT_ID`] with the secret in `secret_file`, `sub` into
/// `x-user-id`; `settings` is added inside `introspection:` (e.g.
/// `cache_ttl: 1s, wait: 2s`) and `provider` inside the `as` provider (e.g.
/// `clock_skew: 0s`). Rules: `/api` takes either provider's token,
/// `/admin` an `as` token with scope `admin`.
pub fn introspection_config(
    corp: &crate::SigningKey,
    endpoint: &str,
    secret_file: &std::path::Path,
    settings: &str,
    provider: &str,
) -> String {
    let jwks = crate::inline_jwks(&[corp]);
    format!(
        r#"
providers:
  - name: corp
    issuer: {ISSUER}
    audiences: [{AUDIENCE}]
    algorithms: [ES256]
    jwks: {{ inline: '{jwks}' }}
    claims_to_headers: [{{ claim: sub, header: x-user-id }}]
  - name: as
    issuer: {as_issuer}
    audiences: [{AUDIENCE}]
    introspection: {{ endpoint: "{endpoint}", client_id: {client}, client_secret: {{ file: "{secret}" }}, {settings} }}
    claims_to_headers: [{{ claim: sub, header: x-user-id }}, {{ claim: client_id, header: x-client-id }}]
    {provider}
rules:
  - match: {{ path_prefix: /api }}
    require: {{ providers: [corp, as] }}
  - match: {{ path_prefix: /admin }}
    require: {{ providers: [as], scopes_all: [admin] }}
"#,
        as_issuer = crate::AS_ISSUER,
        client = crate::idp::CLIENT_ID,
        secret = secret_file.display(),
    )
}
