//! Route rules: which requests need which identity. Matching is pure and
//! first-match-wins.

use std::sync::Arc;

use super::policy::Provider;
use super::request::HttpRequest;
use crate::config::{AllowMode, RuleConfig};

/// What a matched rule asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// No token needed; identity headers are stripped.
    Anonymous,
    /// A token verified by one of these providers (indexes into the policy).
    Require { providers: Vec<usize> },
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule's name, or `rules[i]`; used in logs and metrics.
    pub label: Arc<str>,
    path: Option<String>,
    path_prefix: Option<String>,
    pub action: Action,
}

impl Rule {
    pub fn compile(index: usize, config: &RuleConfig, providers: &[Provider]) -> Self {
        let action = match (&config.allow, &config.require) {
            (Some(AllowMode::Anonymous), _) | (None, None) => Action::Anonymous,
            (None, Some(require)) => {
                let named = |p: &Provider| {
                    require.providers.is_empty() || require.providers.iter().any(|n| *n == *p.name)
                };
                Action::Require {
                    providers: (0..providers.len()).filter(|&i| named(&providers[i])).collect(),
                }
            }
        };
        Rule {
            label: Arc::from(config.name.clone().unwrap_or_else(|| format!("rules[{index}]"))),
            path: config.matcher.path.clone(),
            path_prefix: config.matcher.path_prefix.as_deref().map(|p| p.trim_end_matches('/').to_owned()),
            action,
        }
    }

    /// The rule used for `default: allow_anonymous`.
    pub fn fallback(action: Action) -> Self {
        Rule { label: Arc::from("default"), path: None, path_prefix: None, action }
    }

    pub fn matches(&self, request: &HttpRequest<'_>) -> bool {
        let path = request.path_only();
        if self.path.as_deref().is_some_and(|exact| exact != path) {
            return false;
        }
        if let Some(prefix) = &self.path_prefix {
            return has_segment_prefix(path, prefix);
        }
        true
    }
}

/// `/api` matches `/api` and `/api/x` but not `/apix`; the prefix is stored
/// without a trailing slash, so `/` (stored empty) matches every path.
fn has_segment_prefix(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_respect_segment_boundaries() {
        let cases = [
            ("/api", "/api", true),
            ("/api/x", "/api", true),
            ("/apix", "/api", false),
            ("/ap", "/api", false),
            ("/anything", "", true),
            ("/", "", true),
            ("/api/", "/api", true),
        ];
        for (path, prefix, want) in cases {
            assert_eq!(has_segment_prefix(path, prefix), want, "{path} vs {prefix}");
        }
    }
}
