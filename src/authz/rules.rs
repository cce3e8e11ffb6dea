//! Route rules: which requests need which identity. Pure and first-match-wins;
//! an Envoy route can instead name its rule with the `gatehouse_rule`
//! context extension.

use std::sync::Arc;

use super::matcher::Matcher;
use super::policy::ProviderId;
use super::request::HttpRequest;
use super::require::Requirement;

/// Context extension key an Envoy route sets to pick a rule by name.
pub(crate) const RULE_EXTENSION: &str = "gatehouse_rule";

/// What a matched rule asks for.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    /// No token needed; identity headers are stripped.
    Anonymous,
    /// Verify a token if one is present; anonymous otherwise.
    Optional { providers: Vec<ProviderId> },
    /// A token verified by one of `providers` that satisfies `requirement`.
    Require { providers: Vec<ProviderId>, requirement: Requirement },
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    /// The rule's name, or `rules[i]`; used in logs and metrics.
    pub(crate) label: Arc<str>,
    /// The configured name, if any (what `gatehouse_rule` refers to).
    pub(crate) name: Option<String>,
    pub(crate) matcher: Matcher,
    pub(crate) action: Action,
}

/// Which rule applies to a request.
pub(crate) enum Selection<'p> {
    Rule(&'p Rule),
    NoMatch,
    /// `gatehouse_rule` names a rule that does not exist.
    UnknownRule,
}

impl Rule {
    /// Rule `index` of the config: labelled by its name, or `rules[index]`.
    pub(crate) fn new(index: usize, name: Option<String>, matcher: Matcher, action: Action) -> Self {
        let label = Arc::from(name.clone().unwrap_or_else(|| format!("rules[{index}]")));
        Rule { label, name, matcher, action }
    }

    /// A rule with a fixed label and no conditions (`default`, CORS preflight).
    pub(crate) fn synthetic(label: &str, action: Action) -> Self {
        Rule { label: Arc::from(label), name: None, matcher: Matcher::default(), action }
    }
}

/// Picks the rule: the one a route names, else the first whose matcher holds.
pub(crate) fn select<'p>(rules: &'p [Rule], request: &HttpRequest<'_>, path: &str) -> Selection<'p> {
    if let Some(name) = request.context_extensions.and_then(|ext| ext.get(RULE_EXTENSION)) {
        return match rules.iter().find(|r| r.name.as_deref() == Some(name.as_str())) {
            Some(rule) => Selection::Rule(rule),
            None => Selection::UnknownRule,
        };
    }
    match rules.iter().find(|r| r.matcher.matches(request, path)) {
        Some(rule) => Selection::Rule(rule),
        None => Selection::NoMatch,
    }
}

/// A CORS preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
pub(crate) fn is_cors_preflight(request: &HttpRequest<'_>) -> bool {
    request.method.eq_ignore_ascii_case("OPTIONS")
        && request.header_values("origin").next().is_some()
        && request.header_values("access-control-request-method").next().is_some()
}
