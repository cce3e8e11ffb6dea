//! Route rules: which requests need which identity. Pure and first-match-wins;
//! an Envoy route can instead name its rule with the `gatehouse_rule`
//! context extension.

use std::sync::Arc;

use super::matcher::Matcher;
use super::policy::Provider;
use super::request::HttpRequest;
use super::require::Requirement;
use crate::config::{AllowMode, RuleConfig};

/// Context extension key an Envoy route sets to pick a rule by name.
pub const RULE_EXTENSION: &str = "gatehouse_rule";

/// What a matched rule asks for. Provider lists are indexes into the policy.
#[derive(Debug, Clone)]
pub enum Action {
    /// No token needed; identity headers are stripped.
    Anonymous,
    /// Verify a token if one is present; anonymous otherwise.
    Optional { providers: Vec<usize> },
    /// A token verified by one of `providers` that satisfies `requirement`.
    Require { providers: Vec<usize>, requirement: Requirement },
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule's name, or `rules[i]`; used in logs and metrics.
    pub label: Arc<str>,
    /// The configured name, if any (what `gatehouse_rule` refers to).
    pub name: Option<String>,
    pub matcher: Matcher,
    pub action: Action,
}

/// Which rule applies to a request.
pub enum Selection<'p> {
    Rule(&'p Rule),
    NoMatch,
    /// `gatehouse_rule` names a rule that does not exist.
    UnknownRule,
}

impl Rule {
    pub fn compile(index: usize, config: &RuleConfig, providers: &[Provider]) -> Result<Self, regex::Error> {
        let indexes = |names: &[Arc<str>]| -> Vec<usize> {
            (0..providers.len()).filter(|&i| names.is_empty() || names.contains(&providers[i].name)).collect()
        };
        let action = match (&config.allow, &config.require) {
            (Some(AllowMode::Anonymous), _) | (None, None) => Action::Anonymous,
            (Some(AllowMode::Optional), _) => Action::Optional { providers: indexes(&[]) },
            (None, Some(require)) => {
                let requirement = Requirement::compile(require)?;
                Action::Require { providers: indexes(requirement.providers()), requirement }
            }
        };
        Ok(Rule {
            label: Arc::from(config.name.clone().unwrap_or_else(|| format!("rules[{index}]"))),
            name: config.name.clone(),
            matcher: Matcher::compile(&config.matcher)?,
            action,
        })
    }

    /// A rule with a fixed label and no conditions (`default`, CORS preflight).
    pub fn synthetic(label: &str, action: Action) -> Self {
        Rule { label: Arc::from(label), name: None, matcher: Matcher::default(), action }
    }
}

/// Picks the rule: the one a route names, else the first whose matcher holds.
pub fn select<'p>(rules: &'p [Rule], request: &HttpRequest<'_>, path: &str) -> Selection<'p> {
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
pub fn is_cors_preflight(request: &HttpRequest<'_>) -> bool {
    request.method.eq_ignore_ascii_case("OPTIONS")
        && request.header_values("origin").next().is_some()
        && request.header_values("access-control-request-method").next().is_some()
}
