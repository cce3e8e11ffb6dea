//! Building a provider's opaque-credential specs (`introspection`,
//! `api_keys`) and its `token_types`, and the advice `check-config` gives
//! about them.

use std::path::PathBuf;
use std::time::Duration;

use super::credentials::{ClientAuthMethod, IntrospectionConfig};
use super::{Config, Problem, ProviderConfig, SecretSource};
use crate::keys::{self, ClientAuth, Endpoint, FetchSettings, IntrospectionSpec, Secret};

/// Longest `introspection.cache_ttl`, `negative_ttl` and `timeout`.
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
const MAX_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_WAIT: Duration = Duration::from_secs(10);

/// What a provider checks besides JWS signatures.
pub(super) struct Credentials {
    pub(super) introspection: Option<IntrospectionSpec>,
    pub(super) api_keys: Option<PathBuf>,
    /// Normalized `token_types`: lower-case, no `application/`.
    pub(super) token_types: Vec<String>,
}

pub(super) fn build_credentials(
    path: &str,
    provider: &ProviderConfig,
    problems: &mut Vec<Problem>,
) -> Credentials {
    if provider.api_keys.is_some() {
        let others = [
            ("jwks", provider.jwks.is_some()),
            ("hmac_secret", provider.hmac_secret.is_some()),
            ("introspection", provider.introspection.is_some()),
            ("token_sources", provider.token_sources.is_some()),
        ];
        for (key, set) in others {
            if set {
                problems.push(Problem::new(
                    format!("{path}.{key}"),
                    "an `api_keys` provider takes keys only (from `api_keys.header` or `Authorization: ApiKey`)",
                ));
            }
        }
    }
    if !provider.has_keys() {
        // Only a JWS has a payload to forward or can be a logout token.
        for (key, set) in [
            ("payload_header", provider.payload_header.is_some()),
            ("backchannel_logout", provider.backchannel_logout),
        ] {
            if set {
                problems.push(Problem::new(
                    format!("{path}.{key}"),
                    "applies to JWS tokens; this provider has no `jwks` or `hmac_secret`",
                ));
            }
        }
    }
    let introspection = provider
        .introspection
        .as_ref()
        .and_then(|config| introspection_spec(&format!("{path}.introspection"), provider, config, problems));
    let api_keys = provider.api_keys.as_ref().map(|config| {
        if !super::build::is_header_name(&config.header) {
            problems.push(Problem::new(format!("{path}.api_keys.header"), "not a valid HTTP header name"));
        }
        config.file.clone()
    });
    Credentials { introspection, api_keys, token_types: token_types(path, provider, problems) }
}

fn token_types(path: &str, provider: &ProviderConfig, problems: &mut Vec<Problem>) -> Vec<String> {
    if !provider.token_types.is_empty() && !provider.has_keys() {
        problems.push(Problem::new(
            format!("{path}.token_types"),
            "applies to JWS tokens; this provider has no `jwks` or `hmac_secret`",
        ));
    }
    let mut types = Vec::new();
    for (index, typ) in provider.token_types.iter().enumerate() {
        let lower = typ.trim().to_ascii_lowercase();
        let bare = lower.strip_prefix("application/").unwrap_or(&lower).to_owned();
        if bare.is_empty() || !bare.bytes().all(|b| b.is_ascii_graphic()) {
            problems.push(Problem::new(
                format!("{path}.token_types[{index}]"),
                "must be a media type like `at+jwt`",
            ));
        } else if !types.contains(&bare) {
            types.push(bare);
        }
    }
    types
}

fn introspection_spec(
    path: &str,
    provider: &ProviderConfig,
    config: &IntrospectionConfig,
    problems: &mut Vec<Problem>,
) -> Option<IntrospectionSpec> {
    let before = problems.len();
    let endpoint = match (&config.endpoint, config.discovery) {
        (Some(url), false) => {
            check_url(&format!("{path}.endpoint"), url, config.allow_http, problems);
            Some(Endpoint::Url(url.clone()))
        }
        (None, true) => {
            // Discovery runs against the issuer, which must then be a URL.
            check_url(&format!("{path}.discovery"), &provider.issuer, config.allow_http, problems);
            Some(Endpoint::Discovery { url: provider.issuer.clone(), issuer: provider.issuer.clone() })
        }
        _ => {
            problems.push(Problem::new(path, "set exactly one of `endpoint` and `discovery: true`"));
            None
        }
    };
    if config.client_id.is_empty() {
        problems.push(Problem::new(format!("{path}.client_id"), "must not be empty"));
    }
    let secret = client_secret(&format!("{path}.client_secret"), &config.client_secret, problems);
    check_timing(path, config, problems);
    if config.max_in_flight == 0 {
        problems.push(Problem::new(format!("{path}.max_in_flight"), "must be at least 1"));
    }
    if config.max_entries == 0 {
        problems.push(Problem::new(format!("{path}.max_entries"), "must be at least 1"));
    }
    if !(1024..=16 * 1024 * 1024).contains(&config.max_bytes) {
        problems.push(Problem::new(format!("{path}.max_bytes"), "must be between 1024 and 16777216"));
    }
    if problems.len() > before {
        return None;
    }
    Some(IntrospectionSpec {
        endpoint: endpoint?,
        client_id: config.client_id.clone(),
        client_secret: secret?,
        auth: match config.auth_method {
            ClientAuthMethod::ClientSecretBasic => ClientAuth::Basic,
            ClientAuthMethod::ClientSecretPost => ClientAuth::Post,
        },
        cache_ttl: config.cache_ttl,
        negative_ttl: config.negative_ttl,
        wait: config.wait,
        max_in_flight: config.max_in_flight,
        max_entries: config.max_entries,
        fetch: FetchSettings {
            timeout: config.timeout,
            max_bytes: config.max_bytes,
            allow_http: config.allow_http,
        },
    })
}

fn check_url(path: &str, url: &str, allow_http: bool, problems: &mut Vec<Problem>) {
    if let Err(error) = keys::check_url(url, allow_http) {
        problems.push(Problem::new(path, error.to_string()));
    }
}

fn check_timing(path: &str, config: &IntrospectionConfig, problems: &mut Vec<Problem>) {
    let mut within = |key: &str, value: Duration, min: Duration, max: Duration| {
        if value < min || value > max {
            problems.push(Problem::new(
                format!("{path}.{key}"),
                format!(
                    "must be between {} and {}",
                    humantime::format_duration(min),
                    humantime::format_duration(max)
                ),
            ));
        }
    };
    within("cache_ttl", config.cache_ttl, Duration::from_secs(1), MAX_TTL);
    within("negative_ttl", config.negative_ttl, Duration::ZERO, MAX_TTL);
    within("timeout", config.timeout, Duration::from_millis(1), MAX_TIMEOUT);
    within("wait", config.wait, Duration::from_millis(1), MAX_WAIT.min(config.timeout));
}

/// The client secret's source. An environment variable that is not set is
/// reported here, so that `check-config` finds it before a start does.
fn client_secret(path: &str, source: &SecretSource, problems: &mut Vec<Problem>) -> Option<Secret> {
    match (&source.env, &source.file) {
        (Some(name), None) => {
            if std::env::var_os(name).is_none_or(|value| value.is_empty()) {
                problems.push(Problem::new(
                    format!("{path}.env"),
                    format!("environment variable `{name}` is not set"),
                ));
            }
            Some(Secret::Env(name.clone()))
        }
        (None, Some(file)) => Some(Secret::File(file.clone())),
        _ => {
            problems.push(Problem::new(path, "set exactly one of `env` and `file`"));
            None
        }
    }
}

/// Advice for `check-config`: JWS providers with an audience and no
/// `token_types`, where an ID token for a client named like the API passes.
pub(super) fn notes(config: &Config) -> Vec<Problem> {
    config
        .providers
        .iter()
        .enumerate()
        .filter(|(_, p)| p.has_keys() && !p.audiences.is_empty() && p.token_types.is_empty())
        .map(|(index, _)| {
            Problem::new(
                format!("providers[{index}].token_types"),
                "not set: an ID token whose `aud` is one of `audiences` passes as an access token; \
                 if the issuer types its access tokens (RFC 9068 `at+jwt`), set `token_types: [at+jwt]`",
            )
        })
        .collect()
}
