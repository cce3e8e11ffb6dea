//! The compiled, immutable form of a [`Config`] that decisions run against.
//! Compiling does all string work up front (lower-casing header names,
//! splitting claim paths) so that the Check path only compares.

use std::sync::Arc;

use super::jwt::Validation;
use super::rules::{Action, Rule};
use super::token::TokenSource;
use crate::config::{Config, DefaultAction, ProviderConfig};
use crate::keys::KeySource;

/// One trusted issuer, ready to verify.
pub struct Provider {
    pub name: Arc<str>,
    pub validation: Validation,
    pub token_sources: Vec<TokenSource>,
    /// Claim path (split on dots) → header.
    pub claim_headers: Vec<(Vec<String>, Arc<str>)>,
    pub payload_header: Option<Arc<str>>,
    pub forward_token: bool,
    pub keys: Arc<dyn KeySource>,
}

/// What an allow's dynamic metadata carries beyond `decision`, `rule` and
/// `provider` (from `dynamic_metadata`).
#[derive(Debug, Default, PartialEq)]
pub struct MetadataSpec {
    /// Metadata key (the dotted path as written) → claim path split on dots.
    pub claims: Vec<(Arc<str>, Vec<String>)>,
    /// Every verified claim under `claims`.
    pub all_claims: bool,
}

impl MetadataSpec {
    fn compile(config: &crate::config::DynamicMetadataConfig) -> Self {
        Self {
            claims: config
                .claims
                .iter()
                .map(|c| (Arc::from(c.as_str()), c.split('.').map(str::to_owned).collect()))
                .collect(),
            all_claims: config.all_claims,
        }
    }
}

/// Everything a decision needs.
pub struct Policy {
    pub providers: Vec<Provider>,
    pub rules: Vec<Rule>,
    /// The rule used when none matches (`default: allow_anonymous`), or `None` to deny.
    pub fallback: Option<Rule>,
    /// Set when `bypass_cors_preflight: true`: the rule preflights get.
    pub cors_preflight: Option<Rule>,
    pub allow_encoded_slashes: bool,
    /// Log every decision at `info` rather than `debug`.
    pub decision_log: bool,
    /// Verified tokens, when `cache.enabled`.
    pub token_cache: Option<super::cache::TokenCache>,
    pub max_token_bytes: usize,
    /// Header entries and total header bytes a request may carry.
    pub max_headers: usize,
    pub max_header_bytes: usize,
    /// Longest a Check waits on an unknown-`kid` refresh (`limits.unknown_kid_wait`).
    pub unknown_kid_wait: std::time::Duration,
    /// Checks that may wait on one at once (the effective `limits.max_unknown_kid_waiters`).
    pub max_unknown_kid_waiters: usize,
    /// Every header any provider may inject: stripped whenever gatehouse does
    /// not set it itself, so a client can never supply one.
    pub identity_headers: Vec<Arc<str>>,
    /// Shared by every allow this policy gives.
    pub metadata: Arc<MetadataSpec>,
}

impl Policy {
    /// Compiles a validated config. `key_sources` is index-aligned with
    /// `config.providers`.
    pub fn compile(config: &Config, key_sources: Vec<Arc<dyn KeySource>>) -> Result<Self, regex::Error> {
        let providers: Vec<Provider> =
            config.providers.iter().zip(key_sources).map(|(p, keys)| compile_provider(p, keys)).collect();
        let mut identity_headers: Vec<Arc<str>> = Vec::new();
        for provider in &providers {
            let headers = provider.claim_headers.iter().map(|(_, h)| h).chain(&provider.payload_header);
            for header in headers {
                if !identity_headers.contains(header) {
                    identity_headers.push(header.clone());
                }
            }
        }
        let rules = config
            .rules
            .iter()
            .enumerate()
            .map(|(i, rule)| Rule::compile(i, rule, &providers))
            .collect::<Result<_, _>>()?;
        let fallback = match config.default {
            DefaultAction::Deny => None,
            DefaultAction::AllowAnonymous => Some(Rule::synthetic("default", Action::Anonymous)),
        };
        let cors_preflight =
            config.bypass_cors_preflight.then(|| Rule::synthetic("cors_preflight", Action::Anonymous));
        Ok(Policy {
            providers,
            rules,
            fallback,
            cors_preflight,
            allow_encoded_slashes: config.allow_encoded_slashes,
            decision_log: config.decision_log,
            token_cache: super::cache::TokenCache::new(&config.cache, config.dynamic_metadata.all_claims),
            max_token_bytes: config.limits.max_token_bytes,
            max_headers: config.limits.max_headers,
            max_header_bytes: config.limits.max_header_bytes,
            unknown_kid_wait: config.limits.unknown_kid_wait,
            max_unknown_kid_waiters: config.limits.unknown_kid_waiters(),
            identity_headers,
            metadata: Arc::new(MetadataSpec::compile(&config.dynamic_metadata)),
        })
    }

    /// The provider index with this name.
    pub fn provider_index(&self, name: &str) -> Option<usize> {
        self.providers.iter().position(|p| &*p.name == name)
    }
}

fn compile_provider(config: &ProviderConfig, keys: Arc<dyn KeySource>) -> Provider {
    let validation = Validation {
        issuer: config.issuer.clone(),
        audiences: config.audiences.clone(),
        algorithms: config.effective_algorithms(),
        clock_skew_secs: config.clock_skew.as_secs(),
        max_lifetime_secs: config.max_lifetime.map(|d| d.as_secs()),
        require_expiration: config.require_expiration,
    };
    let lower = |h: &str| -> Arc<str> { Arc::from(h.to_ascii_lowercase()) };
    Provider {
        name: Arc::from(config.name.as_str()),
        validation,
        token_sources: config.token_sources.iter().filter_map(TokenSource::from_config).collect(),
        claim_headers: config
            .claims_to_headers
            .iter()
            .map(|m| (m.claim.split('.').map(str::to_owned).collect(), lower(&m.header)))
            .collect(),
        payload_header: config.payload_header.as_deref().map(lower),
        forward_token: config.forward_token,
        keys,
    }
}
