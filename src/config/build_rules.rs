//! `rules[]` into compiled rules: exclusive actions, well-formed matchers,
//! regexes compiled (once, here), provider names resolved, valid scopes, and
//! no rule that can never be reached.

use std::collections::{HashMap, HashSet};

use super::build::is_header_name;
use super::{
    AllowMode, ClaimRequirementConfig, Config, DefaultAction, HeaderMatchConfig, MatchConfig, Problem,
    RequireConfig, RuleConfig,
};
use crate::authz::{
    anchored_regex, Action, ClaimCondition, ClaimPath, ClaimTest, HeaderCondition, HeaderTest, Matcher,
    MatcherParts, ProviderId, Requirement, RequirementParts, Rule,
};

/// Builds every rule; `providers` maps provider names to their ids.
pub(super) fn build_rules(
    rules: &[RuleConfig],
    providers: &HashMap<&str, ProviderId>,
    problems: &mut Vec<Problem>,
) -> Vec<Rule> {
    let mut rule_names = HashSet::new();
    let mut catch_all: Option<usize> = None;
    let mut built = Vec::with_capacity(rules.len());
    for (index, rule) in rules.iter().enumerate() {
        let path = format!("rules[{index}]");
        if let Some(name) = &rule.name {
            if name.is_empty() || !rule_names.insert(name.as_str()) {
                problems.push(Problem::new(
                    format!("{path}.name"),
                    format!("rule name `{name}` is empty or used twice"),
                ));
            }
        }
        match (&rule.allow, &rule.require) {
            (Some(_), Some(_)) => problems.push(Problem::new(&path, "set `allow` or `require`, not both")),
            (None, None) => {
                problems.push(Problem::new(&path, "set `allow: anonymous|optional` or a `require` block"))
            }
            _ => {}
        }
        let matcher = build_matcher(&format!("{path}.match"), &rule.matcher, problems);
        let action = match (&rule.allow, &rule.require) {
            (Some(AllowMode::Anonymous), None) => Some(Action::Anonymous),
            (Some(AllowMode::Optional), None) => Some(Action::Optional { providers: all(providers) }),
            (None, Some(require)) => {
                build_requirement(&format!("{path}.require"), require, providers, problems).map(
                    |requirement| {
                        let named = requirement.providers();
                        let ids = if named.is_empty() { all(providers) } else { named.to_vec() };
                        Action::Require { providers: ids, requirement }
                    },
                )
            }
            _ => None,
        };
        let Some(matcher) = matcher else { continue };
        // A rule with a name can still be chosen by an Envoy route
        // (`gatehouse_rule`), so only unnamed rules are unreachable.
        match catch_all {
            Some(first) if rule.name.is_none() => problems.push(Problem::new(
                &path,
                format!("unreachable: rules[{first}] before it matches every request"),
            )),
            None if matcher.is_catch_all() => catch_all = Some(index),
            _ => {}
        }
        if let Some(action) = action {
            built.push(Rule::new(index, rule.name.clone(), matcher, action));
        }
    }
    built
}

/// Every provider, in config order.
fn all(providers: &HashMap<&str, ProviderId>) -> Vec<ProviderId> {
    let mut ids: Vec<ProviderId> = providers.values().copied().collect();
    ids.sort_by_key(|id| id.0);
    ids
}

/// The rules gatehouse adds itself: `default: allow_anonymous` and the CORS preflight bypass.
pub(super) fn fallback_rules(config: &Config) -> (Option<Rule>, Option<Rule>) {
    let fallback = match config.default {
        DefaultAction::Deny => None,
        DefaultAction::AllowAnonymous => Some(Rule::synthetic("default", Action::Anonymous)),
    };
    let cors = config.bypass_cors_preflight.then(|| Rule::synthetic("cors_preflight", Action::Anonymous));
    (fallback, cors)
}

/// A `match:` block; `None` after a problem.
pub(crate) fn build_matcher(
    path: &str,
    matcher: &MatchConfig,
    problems: &mut Vec<Problem>,
) -> Option<Matcher> {
    let before = problems.len();
    for (key, value) in [("path", &matcher.path), ("path_prefix", &matcher.path_prefix)] {
        if let Some(value) = value.as_deref() {
            check_rule_path(&format!("{path}.{key}"), value, problems);
        }
    }
    if let Some(host) = &matcher.host {
        let name = host.strip_prefix("*.").unwrap_or(host);
        let valid = !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            && !name.starts_with('.');
        if !valid {
            problems
                .push(Problem::new(format!("{path}.host"), "must be a host name or `*.` followed by one"));
        }
    }
    let path_regex = build_regex(&format!("{path}.path_regex"), matcher.path_regex.as_deref(), problems);
    for (i, method) in matcher.methods.iter().enumerate() {
        if !is_header_name(method) {
            problems.push(Problem::new(format!("{path}.methods[{i}]"), "not a valid HTTP method"));
        }
    }
    let headers: Vec<HeaderCondition> = (matcher.headers.iter().enumerate())
        .filter_map(|(i, header)| build_header_condition(&format!("{path}.headers[{i}]"), header, problems))
        .collect();
    (problems.len() == before).then(|| {
        Matcher::new(MatcherParts {
            host: matcher.host.as_deref(),
            path: matcher.path.as_deref(),
            path_prefix: matcher.path_prefix.as_deref(),
            path_regex: path_regex.flatten(),
            methods: &matcher.methods,
            headers,
        })
    })
}

/// Requests are matched after normalization; a rule path that is not itself
/// normalized could never match and would silently fall through.
fn check_rule_path(path: &str, value: &str, problems: &mut Vec<Problem>) {
    match crate::path::normalize(value, true) {
        _ if value.contains(['?', '#']) => problems.push(Problem::new(path, "must not contain `?` or `#`")),
        Ok(normalized) if normalized == value => {}
        Ok(normalized) => {
            problems.push(Problem::new(path, format!("is not in normalized form; write `{normalized}`")))
        }
        Err(_) => problems.push(Problem::new(path, "must be an absolute path like `/api`")),
    }
}

fn build_header_condition(
    path: &str,
    header: &HeaderMatchConfig,
    problems: &mut Vec<Problem>,
) -> Option<HeaderCondition> {
    let before = problems.len();
    if !is_header_name(&header.name) {
        problems.push(Problem::new(format!("{path}.name"), "not a valid HTTP header name"));
    }
    let set =
        [header.exact.is_some(), header.prefix.is_some(), header.regex.is_some(), header.present.is_some()];
    if set.iter().filter(|set| **set).count() != 1 {
        problems.push(Problem::new(path, "set exactly one of `exact`, `prefix`, `regex` and `present`"));
    }
    let regex = build_regex(&format!("{path}.regex"), header.regex.as_deref(), problems)?;
    let test = match (&header.exact, &header.prefix, regex, header.present) {
        (Some(exact), ..) => HeaderTest::Exact(exact.clone()),
        (_, Some(prefix), ..) => HeaderTest::Prefix(prefix.clone()),
        (_, _, Some(regex), _) => HeaderTest::Regex(regex),
        (.., present) => HeaderTest::Present(present.unwrap_or(true)),
    };
    (problems.len() == before).then(|| HeaderCondition::new(&header.name, test))
}

/// A `require:` block (and each nested one); `None` after a problem.
fn build_requirement(
    path: &str,
    require: &RequireConfig,
    providers: &HashMap<&str, ProviderId>,
    problems: &mut Vec<Problem>,
) -> Option<Requirement> {
    let before = problems.len();
    let mut ids = Vec::new();
    for (i, name) in require.providers.iter().enumerate() {
        match providers.get(name.as_str()) {
            Some(id) => ids.push(*id),
            None => problems
                .push(Problem::new(format!("{path}.providers[{i}]"), format!("unknown provider `{name}`"))),
        }
    }
    for (key, scopes) in [("scopes_all", &require.scopes_all), ("scopes_any", &require.scopes_any)] {
        for (i, scope) in scopes.iter().enumerate() {
            if !is_scope_token(scope) {
                problems
                    .push(Problem::new(format!("{path}.{key}[{i}]"), "not a valid scope (RFC 6749 §3.3)"));
            }
        }
    }
    let claims: Vec<ClaimCondition> = (require.claims.iter().enumerate())
        .filter_map(|(i, claim)| build_claim_condition(&format!("{path}.claims[{i}]"), claim, problems))
        .collect();
    let mut nested = |key: &str, list: &[RequireConfig]| -> Vec<Requirement> {
        (list.iter().enumerate())
            .filter_map(|(i, r)| build_requirement(&format!("{path}.{key}[{i}]"), r, providers, problems))
            .collect()
    };
    let any_of = nested("any_of", &require.any_of);
    let all_of = nested("all_of", &require.all_of);
    (problems.len() == before).then(|| {
        Requirement::new(RequirementParts {
            providers: ids,
            scopes_all: require.scopes_all.clone(),
            scopes_any: require.scopes_any.clone(),
            claims,
            any_of,
            all_of,
        })
    })
}

fn build_claim_condition(
    path: &str,
    claim: &ClaimRequirementConfig,
    problems: &mut Vec<Problem>,
) -> Option<ClaimCondition> {
    let before = problems.len();
    if !ClaimPath::is_valid(&claim.claim) {
        problems.push(Problem::new(
            format!("{path}.claim"),
            "must be a claim name or a dotted path like `org.id`",
        ));
    }
    let set = [
        claim.equals.is_some(),
        claim.one_of.is_some(),
        claim.contains.is_some(),
        claim.prefix.is_some(),
        claim.regex.is_some(),
    ];
    if set.iter().filter(|set| **set).count() != 1 {
        problems.push(Problem::new(
            path,
            "set exactly one of `equals`, `one_of`, `contains`, `prefix` and `regex`",
        ));
    }
    let regex = build_regex(&format!("{path}.regex"), claim.regex.as_deref(), problems)?;
    let test = match (&claim.equals, &claim.one_of, &claim.contains, &claim.prefix, regex) {
        (Some(value), ..) => ClaimTest::Equals(value.clone()),
        (_, Some(values), ..) => ClaimTest::OneOf(values.clone()),
        (_, _, Some(value), ..) => ClaimTest::Contains(value.clone()),
        (.., Some(prefix), _) => ClaimTest::Prefix(prefix.clone()),
        (.., Some(regex)) => ClaimTest::Regex(regex),
        (None, None, None, None, None) => return None,
    };
    (problems.len() == before).then(|| ClaimCondition::new(ClaimPath::parse(&claim.claim), test))
}

/// The pattern compiled, `Some(None)` without one, `None` after a problem.
fn build_regex(
    path: &str,
    pattern: Option<&str>,
    problems: &mut Vec<Problem>,
) -> Option<Option<regex::Regex>> {
    match pattern.map(anchored_regex) {
        None => Some(None),
        Some(Ok(regex)) => Some(Some(regex)),
        Some(Err(error)) => {
            let first_line = error.to_string().lines().last().unwrap_or("invalid").trim().to_owned();
            problems.push(Problem::new(path, format!("invalid regex: {first_line}")));
            None
        }
    }
}

/// RFC 6749 §3.3 scope-token: one or more NQCHAR (no space, `"` or `\`).
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// Test support for the layers below: a matcher and a requirement from
/// YAML, built as a config would build them (provider `i` of `providers`
/// gets id `i`).
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub(crate) fn matcher(yaml: &str) -> Matcher {
        let config: MatchConfig = serde_yaml_ng::from_str(yaml).expect("a match block");
        let mut problems = Vec::new();
        build_matcher("match", &config, &mut problems).unwrap_or_else(|| panic!("{problems:?}"))
    }

    pub(crate) fn requirement(yaml: &str, providers: &[&str]) -> Requirement {
        let config: RequireConfig = serde_yaml_ng::from_str(yaml).expect("a require block");
        let ids = providers.iter().enumerate().map(|(i, name)| (*name, ProviderId(i))).collect();
        let mut problems = Vec::new();
        build_requirement("require", &config, &ids, &mut problems).unwrap_or_else(|| panic!("{problems:?}"))
    }
}

#[cfg(test)]
mod tests;
