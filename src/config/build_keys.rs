//! Building a provider's JWS key source: exactly one of `jwks` and
//! `hmac_secret` (or neither, for a provider of opaque credentials only),
//! with algorithms that fit it and, for a remote JWKS, its timing.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::{JwksConfig, Problem, ProviderConfig};
use crate::alg::Algorithm;
use crate::keys::{self, KeyLocation, Location, RemoteSpec, Secret};

/// Upper bound of `jwks.max_stale` ("forever" in practice; the cache cannot hold longer).
const MAX_STALE_LIMIT: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Exactly one key source, and algorithms that fit it: an HMAC provider never
/// accepts an asymmetric algorithm and a JWKS provider never an HMAC one unless
/// its keys are local (`file`/`inline`), never fetched over the network.
pub(super) fn key_location(
    path: &str,
    provider: &ProviderConfig,
    problems: &mut Vec<Problem>,
) -> Option<KeyLocation> {
    let algorithms = provider.algorithms.as_deref();
    if let Some(algs) = algorithms {
        check_algorithms(&format!("{path}.algorithms"), algs, problems);
    }
    let symmetric = algorithms.is_some_and(|algs| algs.iter().any(|a| a.is_symmetric()));
    match (&provider.jwks, &provider.hmac_secret) {
        (Some(_), Some(_)) => {
            problems.push(Problem::new(path, "set only one of `jwks` and `hmac_secret`"));
            None
        }
        (None, None) if provider.introspection.is_some() || provider.api_keys.is_some() => {
            if provider.algorithms.is_some() {
                problems.push(Problem::new(
                    format!("{path}.algorithms"),
                    "applies to JWS tokens; this provider has no `jwks` or `hmac_secret`",
                ));
            }
            Some(KeyLocation::None)
        }
        (None, None) => {
            problems
                .push(Problem::new(path, "set one of `jwks`, `hmac_secret`, `introspection` and `api_keys`"));
            None
        }
        (Some(jwks), None) => {
            if symmetric && jwks.is_remote() {
                problems.push(Problem::new(
                    format!("{path}.algorithms"),
                    "HMAC algorithms need a local secret (`hmac_secret`, or a `file`/`inline` JWKS), never a remote JWKS",
                ));
            }
            jwks_location(&format!("{path}.jwks"), provider, jwks, problems)
        }
        (None, Some(secret)) => {
            if algorithms.is_some_and(|algs| algs.iter().any(|a| !a.is_symmetric())) {
                problems.push(Problem::new(
                    format!("{path}.algorithms"),
                    "an `hmac_secret` provider only accepts HS256/384/512",
                ));
            }
            match (&secret.env, &secret.file) {
                (Some(name), None) => Some(KeyLocation::HmacSecret(Secret::Env(name.clone()))),
                (None, Some(file)) => Some(KeyLocation::HmacSecret(Secret::File(file.clone()))),
                _ => {
                    problems.push(Problem::new(
                        format!("{path}.hmac_secret"),
                        "set exactly one of `env` and `file`",
                    ));
                    None
                }
            }
        }
    }
}

fn check_algorithms(path: &str, algs: &[Algorithm], problems: &mut Vec<Problem>) {
    if algs.is_empty() {
        problems.push(Problem::new(path, "must list at least one algorithm (omit it for the default)"));
    }
    if algs.iter().collect::<HashSet<_>>().len() != algs.len() {
        problems.push(Problem::new(path, "lists an algorithm twice"));
    }
    if algs.iter().any(|a| a.is_symmetric()) && algs.iter().any(|a| !a.is_symmetric()) {
        problems.push(Problem::new(path, "mixes HMAC (HS*) and asymmetric algorithms; use two providers"));
    }
}

fn jwks_location(
    path: &str,
    provider: &ProviderConfig,
    jwks: &JwksConfig,
    problems: &mut Vec<Problem>,
) -> Option<KeyLocation> {
    let remote = remote_timing(path, jwks, problems);
    for (key, value) in [("uri", &jwks.uri), ("discovery", &jwks.discovery)] {
        if let Some(Err(message)) = value.as_deref().map(|url| keys::check_url(url, jwks.allow_http)) {
            problems.push(Problem::new(format!("{path}.{key}"), message.to_string()));
        }
    }
    let location = match (&jwks.uri, &jwks.discovery, &jwks.file, &jwks.inline) {
        (Some(uri), None, None, None) => Location::Uri(uri.clone()),
        (None, Some(url), None, None) => {
            Location::Discovery { url: url.clone(), issuer: provider.issuer.clone() }
        }
        (None, None, Some(file), None) => return Some(KeyLocation::File(file.clone())),
        (None, None, None, Some(document)) => {
            let allowed = provider.effective_algorithms();
            return match keys::parse_inline(&provider.name, document, &allowed) {
                Ok(set) => Some(KeyLocation::Inline { document: document.clone(), keys: Arc::new(set) }),
                Err(error) => {
                    problems.push(Problem::new(format!("{path}.inline"), error.to_string()));
                    None
                }
            };
        }
        _ => {
            problems.push(Problem::new(path, "set exactly one of `uri`, `discovery`, `file` and `inline`"));
            return None;
        }
    };
    remote.map(|(refresh_interval, min_refresh_interval)| {
        KeyLocation::Remote(RemoteSpec {
            location,
            refresh_interval,
            min_refresh_interval,
            max_stale: jwks.max_stale,
            startup_timeout: jwks.startup_timeout,
            fetch: keys::FetchSettings {
                timeout: jwks.timeout,
                max_bytes: jwks.max_bytes,
                allow_http: jwks.allow_http,
            },
        })
    })
}

/// The refresh settings of a JWKS, checked: `(refresh_interval, min_refresh_interval)`.
fn remote_timing(path: &str, jwks: &JwksConfig, problems: &mut Vec<Problem>) -> Option<(Duration, Duration)> {
    let before = problems.len();
    let mut at_least = |key: &str, value: Duration, min: Duration| {
        if value < min {
            problems.push(Problem::new(
                format!("{path}.{key}"),
                format!("must be at least {}", humantime::format_duration(min)),
            ));
        }
    };
    at_least("refresh_interval", jwks.refresh_interval, Duration::from_secs(1));
    let min_refresh = jwks.effective_min_refresh_interval();
    at_least("min_refresh_interval", min_refresh, Duration::from_secs(1));
    at_least("timeout", jwks.timeout, Duration::from_millis(1));
    at_least("max_stale", jwks.max_stale, jwks.refresh_interval);
    if jwks.max_stale > MAX_STALE_LIMIT {
        problems.push(Problem::new(format!("{path}.max_stale"), "must be at most 100y"));
    }
    if min_refresh > jwks.refresh_interval {
        problems
            .push(Problem::new(format!("{path}.min_refresh_interval"), "must not exceed `refresh_interval`"));
    }
    if !(1024..=64 * 1024 * 1024).contains(&jwks.max_bytes) {
        problems.push(Problem::new(format!("{path}.max_bytes"), "must be between 1024 and 67108864"));
    }
    (problems.len() == before).then_some((jwks.refresh_interval, min_refresh))
}
