//! The allow side of a decision: which identity headers to set from verified
//! claims and which to strip, so that a client can never supply one.

use std::sync::Arc;

use serde_json::Value;
use smallvec::SmallVec;

use super::claims::Claims;
use super::decision::{Allow, CacheOutcome};
use super::jwt::VerifiedToken;
use super::policy::{Policy, Provider, ProviderId};
use super::rules::Rule;
use super::token::{Sources, TokenSource};

/// A claim named by a dotted path (`org.id`), split once when the config is
/// built: each segment walks into a nested object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClaimPath(Vec<String>);

impl ClaimPath {
    /// Splits `org.id` into `org`, `id`. Config validation has refused empty segments.
    pub(crate) fn parse(dotted: &str) -> Self {
        Self(dotted.split('.').map(str::to_owned).collect())
    }

    /// True when `dotted` names a claim: non-empty segments only.
    pub(crate) fn is_valid(dotted: &str) -> bool {
        !dotted.is_empty() && dotted.split('.').all(|segment| !segment.is_empty())
    }

    /// The value at this path, if every segment is there.
    /// The top-level claim it starts at.
    pub(crate) fn first(&self) -> &str {
        self.0.first().map_or("", String::as_str)
    }

    pub(crate) fn find<'c>(&self, claims: &'c Claims) -> Option<&'c Value> {
        let (first, rest) = self.0.split_first()?;
        rest.iter().try_fold(claims.get(first)?, |value, key| value.as_object()?.get(key))
    }
}

/// A token that verified, with every source it was found in.
pub(super) struct Authenticated<'p> {
    pub(super) provider: ProviderId,
    pub(super) token: Arc<VerifiedToken>,
    pub(super) sources: Sources<'p>,
    pub(super) cache: CacheOutcome,
}

/// Identity headers to set: (header, value).
pub(crate) type SetHeaders = Arc<[(Arc<str>, Arc<str>)]>;

/// Headers to strip; a request's few are kept inline.
pub(crate) type RemovedHeaders = SmallVec<[Arc<str>; 4]>;

/// What a verified token's Checks set and strip, rendered once when it is
/// verified (and cached with it): a hit shares these rather than rendering
/// its claims into header values again.
#[derive(Debug, Clone)]
pub struct TokenIdentity {
    /// Its provider's identity headers from its claims (and the payload
    /// header, if the provider forwards it).
    pub set: SetHeaders,
    /// Every other identity header of the policy: stripped, so a client
    /// cannot supply one.
    pub unset: Arc<[Arc<str>]>,
}

impl Default for TokenIdentity {
    fn default() -> Self {
        Self { set: Arc::new([]), unset: Arc::new([]) }
    }
}

/// Renders the identity headers `provider` sets from `token`'s claims.
pub(super) fn render_identity(policy: &Policy, provider: &Provider, token: &VerifiedToken) -> TokenIdentity {
    let mut set: Vec<(Arc<str>, Arc<str>)> = Vec::with_capacity(provider.claim_headers.len() + 1);
    for (path, header) in &provider.claim_headers {
        if let Some(value) = path.find(&token.claims).and_then(header_value) {
            set.push((header.clone(), Arc::from(value)));
        }
    }
    if let (Some(header), Some(payload)) = (&provider.payload_header, &token.payload_b64) {
        set.push((header.clone(), Arc::from(&**payload)));
    }
    let unset: Vec<Arc<str>> = policy.identity_headers.iter().filter(|h| !sets(&set, h)).cloned().collect();
    // Empty lists share the policy's: a cached token pays no allocation for them.
    TokenIdentity {
        set: if set.is_empty() { policy.no_identity.clone() } else { set.into() },
        unset: if unset.is_empty() { policy.no_unset.clone() } else { unset.into() },
    }
}

/// True when `set` sets header `name`.
fn sets(set: &[(Arc<str>, Arc<str>)], name: &str) -> bool {
    set.iter().any(|(header, _)| &**header == name)
}

/// Anonymous access: every identity header is stripped so none can be forged.
pub(super) fn anonymous(policy: &Policy, rule: &Rule) -> Allow {
    Allow {
        rule: rule.label.clone(),
        provider: None,
        set_headers: policy.no_identity.clone(),
        remove_headers: policy.identity_headers.iter().cloned().collect(),
        remove_query_params: Vec::new(),
        token: None,
        metadata: policy.metadata.clone(),
        cache: CacheOutcome::None,
    }
}

/// Authenticated access: set the token's identity headers, strip every other
/// identity header, and strip the token itself unless the provider forwards
/// it. Nothing is rendered here: the token carries its identity.
pub(super) fn authenticated(policy: &Policy, rule: &Rule, verified: Authenticated<'_>) -> Allow {
    let provider = policy.provider(verified.provider);
    let identity = &verified.token.identity;
    let mut remove_headers: RemovedHeaders = identity.unset.iter().cloned().collect();
    let mut remove_query_params = Vec::new();
    if !provider.forward_token {
        for source in verified.sources {
            match source {
                TokenSource::Header { name, .. }
                    if !sets(&identity.set, name) && !remove_headers.iter().any(|h| **h == **name) =>
                {
                    remove_headers.push(name.clone())
                }
                TokenSource::Query(param) => remove_query_params.push(Arc::from(param.as_str())),
                // A cookie shares its header with other cookies; it is left in place.
                _ => {}
            }
        }
    }
    Allow {
        rule: rule.label.clone(),
        provider: Some(provider.name.clone()),
        set_headers: identity.set.clone(),
        remove_headers,
        remove_query_params,
        token: Some(verified.token),
        metadata: policy.metadata.clone(),
        cache: verified.cache,
    }
}

/// A claim as a header value: strings as they are, numbers and booleans as
/// JSON text, arrays of scalars comma-joined, objects as compact JSON. A value
/// with control characters is dropped rather than forwarded (header injection).
fn header_value(value: &Value) -> Option<String> {
    let text = match value {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        Value::Array(items) if items.iter().all(|v| !v.is_array() && !v.is_object()) => {
            // One unsafe element drops the whole header: never a silently shortened list.
            let parts: Option<Vec<String>> = items.iter().map(header_value).collect();
            parts?.join(",")
        }
        other => other.to_string(),
    };
    let safe = text.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f));
    safe.then_some(text)
}
