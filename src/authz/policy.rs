//! What decisions run against. `config` builds a [`PolicySpec`] (every
//! string split, every regex compiled, every name resolved to a
//! [`ProviderId`]); [`Policy::compile`] adds what only exists at run time,
//! the providers' key sources and the token cache, and cannot fail.

use std::sync::Arc;
use std::time::Duration;

use super::cache::{CacheMetrics, CacheMetricsHandle, CacheSettings, TokenCache};
use super::claims::KeptClaims;
use super::identity::ClaimPath;
use super::jwt::Validation;
use super::rules::{Action, Rule};
use super::token::TokenSource;
use crate::keys::{ApiKeys, Introspector, KeySource, ProviderKeys};
use crate::revocation::Revocations;

/// A provider's place in its policy: rules and cache entries name providers
/// by it. Only meaningful within the policy (or spec) that issued it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ProviderId(pub(crate) usize);

/// One trusted issuer, as `config` builds it: everything but its keys.
#[derive(Debug, Clone)]
pub(crate) struct ProviderSpec {
    pub(crate) name: Arc<str>,
    pub(crate) validation: Validation,
    pub(crate) token_sources: Vec<TokenSource>,
    /// Claim → upstream header (lower-case).
    pub(crate) claim_headers: Vec<(ClaimPath, Arc<str>)>,
    pub(crate) payload_header: Option<Arc<str>>,
    pub(crate) forward_token: bool,
    /// Its back-channel logout tokens are accepted.
    pub(crate) backchannel_logout: bool,
    /// It verifies JWS tokens (it has keys: a JWKS or an HMAC secret).
    pub(crate) jws: bool,
}

/// One trusted issuer, ready to verify.
pub(crate) struct Provider {
    pub(crate) id: ProviderId,
    pub(crate) name: Arc<str>,
    pub(crate) validation: Validation,
    pub(crate) token_sources: Vec<TokenSource>,
    pub(crate) claim_headers: Vec<(ClaimPath, Arc<str>)>,
    pub(crate) payload_header: Option<Arc<str>>,
    pub(crate) forward_token: bool,
    pub(crate) backchannel_logout: bool,
    pub(crate) jws: bool,
    pub(crate) keys: Arc<dyn KeySource>,
    /// Opaque tokens are introspected.
    pub(crate) introspection: Option<Arc<Introspector>>,
    /// API keys are looked up in its file.
    pub(crate) api_keys: Option<Arc<ApiKeys>>,
    /// The claims its verified tokens keep: what rules, its identity
    /// headers, dynamic metadata and the decision log read.
    pub(crate) kept_claims: KeptClaims,
}

/// What an allow's dynamic metadata carries beyond `decision`, `rule` and
/// `provider` (`dynamic_metadata`).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct MetadataSpec {
    /// Metadata key (the dotted path as written) → the claim.
    pub(crate) claims: Vec<(Arc<str>, ClaimPath)>,
    /// Every verified claim under `claims`.
    pub(crate) all_claims: bool,
}

/// Bounds on what one request makes gatehouse do (`limits`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) max_token_bytes: usize,
    /// Header entries and total header bytes a request may carry.
    pub(crate) max_headers: usize,
    pub(crate) max_header_bytes: usize,
    /// Longest a Check waits on an unknown-`kid` refresh.
    pub(crate) unknown_kid_wait: Duration,
    /// Checks that may wait on one at once.
    pub(crate) max_unknown_kid_waiters: usize,
}

/// Which rule decides a request: the configured rules and the ones
/// gatehouse adds, and how the path they match is read.
#[derive(Debug)]
pub(crate) struct Routing {
    pub(crate) rules: Vec<Rule>,
    /// The rule used when none matches (`default: allow_anonymous`), or `None` to deny.
    pub(crate) fallback: Option<Rule>,
    /// Set when `bypass_cors_preflight: true`: the rule preflights get.
    pub(crate) cors_preflight: Option<Rule>,
    pub(crate) allow_encoded_slashes: bool,
}

/// Everything a decision needs except the keys, as `config` builds it.
#[derive(Debug)]
pub(crate) struct PolicySpec {
    pub(crate) providers: Vec<ProviderSpec>,
    pub(crate) routing: Routing,
    pub(crate) limits: Limits,
    /// `None` when `cache.enabled: false`.
    pub(crate) cache: Option<CacheSettings>,
    pub(crate) metadata: MetadataSpec,
}

impl PolicySpec {
    /// The request headers its decisions read, lower-case, each once: the
    /// providers' token headers (and `cookie` for a cookie source), the rules'
    /// header conditions, and a CORS preflight's when preflights bypass.
    /// Envoy's ext_authz `allowed_headers` must pass at least these.
    pub(crate) fn headers_read(&self) -> Vec<String> {
        let mut names: Vec<&str> = Vec::new();
        for source in self.providers.iter().flat_map(|p| &p.token_sources) {
            match source {
                TokenSource::Header { name, .. } => names.push(name),
                TokenSource::Cookie(_) => names.push("cookie"),
                TokenSource::Query(_) => {}
            }
        }
        let routing = &self.routing;
        for rule in routing.rules.iter().chain(&routing.fallback) {
            names.extend(rule.matcher.header_names());
        }
        if routing.cors_preflight.is_some() {
            names.extend(["origin", "access-control-request-method"]);
        }
        let mut unique: Vec<String> = Vec::with_capacity(names.len());
        for name in names {
            if !unique.iter().any(|known| known == name) {
                unique.push(name.to_owned());
            }
        }
        unique
    }

    /// Makes the token cache report to the process's registered metrics.
    pub(crate) fn report_cache_to(&mut self, metrics: &Arc<CacheMetrics>) {
        if let Some(cache) = &mut self.cache {
            cache.metrics = CacheMetricsHandle(metrics.clone());
        }
    }
}

/// Everything a decision needs.
pub struct Policy {
    pub(crate) providers: Vec<Provider>,
    pub(crate) routing: Routing,
    pub(crate) limits: Limits,
    /// Verified tokens, when `cache.enabled`.
    pub(crate) token_cache: Option<TokenCache>,
    /// Every header any provider may inject: stripped whenever gatehouse does
    /// not set it itself, so a client can never supply one.
    pub(crate) identity_headers: Vec<Arc<str>>,
    /// The empty header lists anonymous allows and tokens without identity
    /// headers share.
    pub(crate) no_identity: super::identity::SetHeaders,
    pub(crate) no_unset: Arc<[Arc<str>]>,
    /// Shared by every allow this policy gives.
    pub(crate) metadata: Arc<MetadataSpec>,
    /// Revocations every authenticated allow is checked against, when configured.
    pub(crate) revocations: Option<Arc<Revocations>>,
}

impl Policy {
    /// Joins a spec with its providers' credential sources, index-aligned
    /// with `spec.providers` (`config` built both lists from the same
    /// providers), and the revocations in force, if any.
    pub(crate) fn compile(
        spec: PolicySpec,
        keys: Vec<ProviderKeys>,
        revocations: Option<Arc<Revocations>>,
    ) -> Self {
        debug_assert_eq!(spec.providers.len(), keys.len(), "one key source per provider");
        let policy_reads = claims_read(&spec.routing, &spec.metadata);
        let providers: Vec<Provider> = spec
            .providers
            .into_iter()
            .zip(keys)
            .enumerate()
            .map(|(index, (p, keys))| Provider {
                kept_claims: match &policy_reads {
                    None => KeptClaims::All,
                    Some(names) => KeptClaims::named(
                        names.iter().copied().chain(p.claim_headers.iter().map(|(path, _)| path.first())),
                    ),
                },
                id: ProviderId(index),
                name: p.name,
                validation: p.validation,
                token_sources: p.token_sources,
                claim_headers: p.claim_headers,
                payload_header: p.payload_header,
                forward_token: p.forward_token,
                backchannel_logout: p.backchannel_logout,
                jws: p.jws,
                keys: keys.jws,
                introspection: keys.introspection,
                api_keys: keys.api_keys,
            })
            .collect();
        let mut identity_headers: Vec<Arc<str>> = Vec::new();
        for provider in &providers {
            let headers = provider.claim_headers.iter().map(|(_, h)| h).chain(&provider.payload_header);
            for header in headers {
                if !identity_headers.contains(header) {
                    identity_headers.push(header.clone());
                }
            }
        }
        Policy {
            providers,
            routing: spec.routing,
            limits: spec.limits,
            token_cache: spec.cache.map(TokenCache::new),
            identity_headers,
            no_identity: Arc::new([]),
            no_unset: Arc::new([]),
            metadata: Arc::new(spec.metadata),
            revocations,
        }
    }

    /// The provider with this id (issued by this policy's spec).
    pub(crate) fn provider(&self, id: ProviderId) -> &Provider {
        &self.providers[id.0]
    }

    /// Every provider, in config order.
    pub(crate) fn providers(&self) -> &[Provider] {
        &self.providers
    }

    /// The provider with this name.
    pub(crate) fn provider_named(&self, name: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| &*p.name == name)
    }
}

/// The top-level claims the rules and the dynamic metadata read, or `None`
/// when the metadata carries every claim.
fn claims_read<'s>(routing: &'s Routing, metadata: &'s MetadataSpec) -> Option<Vec<&'s str>> {
    if metadata.all_claims {
        return None;
    }
    let mut names: Vec<&str> = metadata.claims.iter().map(|(_, path)| path.first()).collect();
    let rules = routing.rules.iter().chain(&routing.fallback).chain(&routing.cors_preflight);
    for rule in rules {
        if let Action::Require { requirement, .. } = &rule.action {
            requirement.read_claims(&mut names);
        }
    }
    Some(names)
}
