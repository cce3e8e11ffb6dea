//! `require:` blocks: what a verified token must carry, as a tree of
//! conditions (providers, scopes, claims, `any_of`, `all_of`).

use std::sync::Arc;

use regex::Regex;
use serde_json::{Map, Value};

use super::claim_at;
use crate::config::{anchored_regex, ClaimRequirementConfig, RequireConfig};

/// A compiled requirement.
#[derive(Debug, Clone, Default)]
pub struct Requirement {
    providers: Vec<Arc<str>>,
    scopes_all: Vec<String>,
    scopes_any: Vec<String>,
    /// Space-joined scopes for the `WWW-Authenticate` `scope` attribute.
    scopes_all_challenge: Option<Arc<str>>,
    scopes_any_challenge: Option<Arc<str>>,
    claims: Vec<ClaimCondition>,
    any_of: Vec<Requirement>,
    all_of: Vec<Requirement>,
}

/// Why a verified token does not satisfy a requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unmet {
    /// Missing scopes; carries the scope string to announce (RFC 6750 §3).
    Scope(Arc<str>),
    /// A provider or claim condition failed.
    Forbidden,
}

#[derive(Debug, Clone)]
struct ClaimCondition {
    path: Vec<String>,
    test: ClaimTest,
}

#[derive(Debug, Clone)]
enum ClaimTest {
    Equals(Value),
    OneOf(Vec<Value>),
    Contains(Value),
    Prefix(String),
    Regex(Regex),
}

impl Requirement {
    pub fn compile(config: &RequireConfig) -> Result<Self, regex::Error> {
        let challenge = |scopes: &[String]| (!scopes.is_empty()).then(|| Arc::from(scopes.join(" ")));
        Ok(Self {
            providers: config.providers.iter().map(|p| Arc::from(p.as_str())).collect(),
            scopes_all: config.scopes_all.clone(),
            scopes_any: config.scopes_any.clone(),
            scopes_all_challenge: challenge(&config.scopes_all),
            scopes_any_challenge: challenge(&config.scopes_any),
            claims: config.claims.iter().map(ClaimCondition::compile).collect::<Result<_, _>>()?,
            any_of: config.any_of.iter().map(Requirement::compile).collect::<Result<_, _>>()?,
            all_of: config.all_of.iter().map(Requirement::compile).collect::<Result<_, _>>()?,
        })
    }

    /// The top-level provider list: which providers may verify the token
    /// (empty: any). Nested lists only constrain which branch is satisfied.
    pub fn providers(&self) -> &[Arc<str>] {
        &self.providers
    }

    /// Checks a token verified by `provider` with these claims.
    pub fn check(&self, provider: &str, claims: &Map<String, Value>) -> Result<(), Unmet> {
        if !self.providers.is_empty() && !self.providers.iter().any(|p| &**p == provider) {
            return Err(Unmet::Forbidden);
        }
        let granted = scopes(claims);
        if !self.scopes_all.iter().all(|s| granted.contains(&s.as_str())) {
            return Err(Unmet::Scope(self.scopes_all_challenge.clone().unwrap_or_default()));
        }
        if !self.scopes_any.is_empty() && !self.scopes_any.iter().any(|s| granted.contains(&s.as_str())) {
            return Err(Unmet::Scope(self.scopes_any_challenge.clone().unwrap_or_default()));
        }
        if !self.claims.iter().all(|c| c.holds(claims)) {
            return Err(Unmet::Forbidden);
        }
        for nested in &self.all_of {
            nested.check(provider, claims)?;
        }
        match self.any_of.iter().map(|r| r.check(provider, claims)).find(Result::is_ok) {
            Some(_) => Ok(()),
            None if self.any_of.is_empty() => Ok(()),
            // Report the first alternative's shortfall.
            None => self.any_of[0].check(provider, claims),
        }
    }
}

/// Granted scopes: `scope` as a space-delimited string (RFC 8693 §4.2) or an
/// array, and `scp` likewise (Azure AD, Okta).
pub fn scopes(claims: &Map<String, Value>) -> Vec<&str> {
    let mut granted = Vec::new();
    for name in ["scope", "scp"] {
        match claims.get(name) {
            Some(Value::String(text)) => granted.extend(text.split(' ').filter(|s| !s.is_empty())),
            Some(Value::Array(items)) => granted.extend(items.iter().filter_map(Value::as_str)),
            _ => {}
        }
    }
    granted
}

impl ClaimCondition {
    fn compile(config: &ClaimRequirementConfig) -> Result<Self, regex::Error> {
        let test = match (&config.equals, &config.one_of, &config.contains, &config.prefix, &config.regex) {
            (Some(value), ..) => ClaimTest::Equals(value.clone()),
            (_, Some(values), ..) => ClaimTest::OneOf(values.clone()),
            (_, _, Some(value), ..) => ClaimTest::Contains(value.clone()),
            (.., Some(prefix), _) => ClaimTest::Prefix(prefix.clone()),
            (.., Some(pattern)) => ClaimTest::Regex(anchored_regex(pattern)?),
            // Validation requires exactly one condition; an empty one never holds.
            _ => ClaimTest::OneOf(Vec::new()),
        };
        Ok(Self { path: config.claim.split('.').map(str::to_owned).collect(), test })
    }

    fn holds(&self, claims: &Map<String, Value>) -> bool {
        let Some(value) = claim_at(claims, &self.path) else { return false };
        match &self.test {
            ClaimTest::Equals(expected) => value == expected,
            ClaimTest::OneOf(options) => options.contains(value),
            ClaimTest::Contains(item) => match (value, item) {
                (Value::Array(items), _) => items.contains(item),
                (Value::String(words), Value::String(word)) => words.split(' ').any(|w| w == word),
                _ => false,
            },
            ClaimTest::Prefix(prefix) => value.as_str().is_some_and(|s| s.starts_with(prefix.as_str())),
            ClaimTest::Regex(re) => value.as_str().is_some_and(|s| re.is_match(s)),
        }
    }
}

#[cfg(test)]
#[path = "require_tests.rs"]
mod tests;
