//! `require:` blocks: what a verified token must carry, as a tree of
//! conditions (providers, scopes, claims, `any_of`, `all_of`).

use std::sync::Arc;

use regex::Regex;
use serde_json::Value;

use super::claims::Claims;
use super::identity::ClaimPath;
use super::policy::ProviderId;

/// A compiled requirement.
#[derive(Debug, Clone, Default)]
pub(crate) struct Requirement {
    providers: Vec<ProviderId>,
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
pub(crate) enum Unmet {
    /// Missing scopes; carries the scope string to announce (RFC 6750 §3).
    Scope(Arc<str>),
    /// A provider or claim condition failed.
    Forbidden,
}

/// One `require.claims[]` entry.
#[derive(Debug, Clone)]
pub(crate) struct ClaimCondition {
    path: ClaimPath,
    test: ClaimTest,
}

/// What a claim's value must satisfy.
#[derive(Debug, Clone)]
pub(crate) enum ClaimTest {
    Equals(Value),
    OneOf(Vec<Value>),
    Contains(Value),
    Prefix(String),
    Regex(Regex),
}

/// The parts of a `require:` block, validated, with provider names resolved
/// and every nested block already built.
#[derive(Debug, Clone, Default)]
pub(crate) struct RequirementParts {
    pub(crate) providers: Vec<ProviderId>,
    pub(crate) scopes_all: Vec<String>,
    pub(crate) scopes_any: Vec<String>,
    pub(crate) claims: Vec<ClaimCondition>,
    pub(crate) any_of: Vec<Requirement>,
    pub(crate) all_of: Vec<Requirement>,
}

impl Requirement {
    pub(crate) fn new(parts: RequirementParts) -> Self {
        let challenge = |scopes: &[String]| (!scopes.is_empty()).then(|| Arc::from(scopes.join(" ")));
        Self {
            scopes_all_challenge: challenge(&parts.scopes_all),
            scopes_any_challenge: challenge(&parts.scopes_any),
            providers: parts.providers,
            scopes_all: parts.scopes_all,
            scopes_any: parts.scopes_any,
            claims: parts.claims,
            any_of: parts.any_of,
            all_of: parts.all_of,
        }
    }

    /// Adds the top-level claims its conditions read, nested blocks included.
    pub(crate) fn read_claims<'r>(&'r self, names: &mut Vec<&'r str>) {
        names.extend(self.claims.iter().map(|c| c.path.first()));
        for nested in self.any_of.iter().chain(&self.all_of) {
            nested.read_claims(names);
        }
    }

    /// The top-level provider list: which providers may verify the token
    /// (empty: any). Nested lists only constrain which branch is satisfied.
    pub(crate) fn providers(&self) -> &[ProviderId] {
        &self.providers
    }

    /// Checks a token verified by `provider` with these claims.
    pub(crate) fn check(&self, provider: ProviderId, claims: &Claims) -> Result<(), Unmet> {
        if !self.providers.is_empty() && !self.providers.contains(&provider) {
            return Err(Unmet::Forbidden);
        }
        let granted = |wanted: &String| scopes(claims).any(|scope| scope == wanted);
        if !self.scopes_all.iter().all(granted) {
            return Err(Unmet::Scope(self.scopes_all_challenge.clone().unwrap_or_default()));
        }
        if !self.scopes_any.is_empty() && !self.scopes_any.iter().any(granted) {
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
/// array, and `scp` likewise (Azure AD, Okta). Read lazily: a Check
/// collects nothing.
pub(crate) fn scopes(claims: &Claims) -> impl Iterator<Item = &str> {
    ["scope", "scp"].into_iter().filter_map(|name| claims.get(name)).flat_map(|value| {
        let words = value.as_str().into_iter().flat_map(|text| text.split(' ')).filter(|s| !s.is_empty());
        words.chain(value.as_array().into_iter().flatten().filter_map(Value::as_str))
    })
}

impl ClaimCondition {
    pub(crate) fn new(path: ClaimPath, test: ClaimTest) -> Self {
        Self { path, test }
    }

    fn holds(&self, claims: &Claims) -> bool {
        let Some(value) = self.path.find(claims) else { return false };
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
mod tests;
