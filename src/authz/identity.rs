//! The allow side of a decision: which identity headers to set from verified
//! claims and which to strip, so that a client can never supply one.

use std::sync::Arc;

use serde_json::Value;

use super::claims::Claims;
use super::decision::{Allow, CacheOutcome};
use super::jwt::VerifiedToken;
use super::policy::{Policy, ProviderId};
use super::rules::Rule;
use super::token::TokenSource;

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
    pub(super) sources: Vec<&'p TokenSource>,
    pub(super) cache: CacheOutcome,
}

/// Anonymous access: every identity header is stripped so none can be forged.
pub(super) fn anonymous(policy: &Policy, rule: &Rule) -> Allow {
    Allow {
        rule: rule.label.clone(),
        provider: None,
        set_headers: Vec::new(),
        remove_headers: policy.identity_headers.clone(),
        remove_query_params: Vec::new(),
        token: None,
        metadata: policy.metadata.clone(),
        cache: CacheOutcome::None,
    }
}

/// Authenticated access: set the provider's identity headers from verified
/// claims, strip every other identity header, and strip the token itself
/// unless the provider forwards it.
pub(super) fn authenticated(policy: &Policy, rule: &Rule, verified: Authenticated<'_>) -> Allow {
    let provider = policy.provider(verified.provider);
    let mut set_headers = Vec::with_capacity(provider.claim_headers.len() + 1);
    for (path, header) in &provider.claim_headers {
        if let Some(value) = path.find(&verified.token.claims).and_then(header_value) {
            set_headers.push((header.clone(), value));
        }
    }
    if let (Some(header), Some(payload)) = (&provider.payload_header, &verified.token.payload_b64) {
        set_headers.push((header.clone(), payload.to_string()));
    }
    let is_set = |name: &str| set_headers.iter().any(|(h, _)| &**h == name);
    let mut remove_headers: Vec<Arc<str>> =
        policy.identity_headers.iter().filter(|h| !is_set(h)).cloned().collect();
    let mut remove_query_params = Vec::new();
    if !provider.forward_token {
        for source in verified.sources {
            match source {
                TokenSource::Header { name, .. }
                    if !is_set(name) && !remove_headers.iter().any(|h| **h == **name) =>
                {
                    remove_headers.push(Arc::from(name.as_str()))
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
        set_headers,
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
