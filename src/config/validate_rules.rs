//! Semantic checks of `rules[]`: exclusive actions, well-formed matchers,
//! compilable regexes, known providers, valid scopes, and rules that can never
//! be reached.

use std::collections::HashSet;

use super::validate::{anchored_regex, is_header_name};
use super::{ClaimRequirementConfig, HeaderMatchConfig, MatchConfig, Problem, RequireConfig, RuleConfig};

pub(super) fn check_rules(rules: &[RuleConfig], providers: &HashSet<&str>, problems: &mut Vec<Problem>) {
    let mut rule_names = HashSet::new();
    let mut catch_all: Option<usize> = None;
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
        check_match(&format!("{path}.match"), &rule.matcher, problems);
        if let Some(require) = &rule.require {
            check_require(&format!("{path}.require"), require, providers, problems);
        }
        // A rule with a name can still be chosen by an Envoy route
        // (`gatehouse_rule`), so only unnamed rules are unreachable.
        match catch_all {
            Some(first) if rule.name.is_none() => problems.push(Problem::new(
                &path,
                format!("unreachable: rules[{first}] before it matches every request"),
            )),
            None if is_catch_all(&rule.matcher) => catch_all = Some(index),
            _ => {}
        }
    }
}

fn is_catch_all(matcher: &MatchConfig) -> bool {
    let prefix_all = matcher.path_prefix.as_deref().is_none_or(|p| p.trim_end_matches('/').is_empty());
    prefix_all
        && matcher.host.is_none()
        && matcher.path.is_none()
        && matcher.path_regex.is_none()
        && matcher.methods.is_empty()
        && matcher.headers.is_empty()
}

fn check_match(path: &str, matcher: &MatchConfig, problems: &mut Vec<Problem>) {
    for (key, value) in [("path", &matcher.path), ("path_prefix", &matcher.path_prefix)] {
        let Some(value) = value.as_deref() else { continue };
        // Requests are matched after normalization; a rule path that is not
        // itself normalized could never match and would silently fall through.
        match crate::authz::path::normalize(value, true) {
            _ if value.contains(['?', '#']) => {
                problems.push(Problem::new(format!("{path}.{key}"), "must not contain `?` or `#`"))
            }
            Ok(normalized) if normalized == value => {}
            Ok(normalized) => problems.push(Problem::new(
                format!("{path}.{key}"),
                format!("is not in normalized form; write `{normalized}`"),
            )),
            Err(_) => {
                problems.push(Problem::new(format!("{path}.{key}"), "must be an absolute path like `/api`"))
            }
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
    check_regex(&format!("{path}.path_regex"), matcher.path_regex.as_deref(), problems);
    for (i, method) in matcher.methods.iter().enumerate() {
        if !is_header_name(method) {
            problems.push(Problem::new(format!("{path}.methods[{i}]"), "not a valid HTTP method"));
        }
    }
    for (i, header) in matcher.headers.iter().enumerate() {
        check_header_match(&format!("{path}.headers[{i}]"), header, problems);
    }
}

fn check_header_match(path: &str, header: &HeaderMatchConfig, problems: &mut Vec<Problem>) {
    if !is_header_name(&header.name) {
        problems.push(Problem::new(format!("{path}.name"), "not a valid HTTP header name"));
    }
    let conditions =
        [header.exact.is_some(), header.prefix.is_some(), header.regex.is_some(), header.present.is_some()];
    if conditions.iter().filter(|set| **set).count() != 1 {
        problems.push(Problem::new(path, "set exactly one of `exact`, `prefix`, `regex` and `present`"));
    }
    check_regex(&format!("{path}.regex"), header.regex.as_deref(), problems);
}

fn check_require(
    path: &str,
    require: &RequireConfig,
    providers: &HashSet<&str>,
    problems: &mut Vec<Problem>,
) {
    for (i, name) in require.providers.iter().enumerate() {
        if !providers.contains(name.as_str()) {
            problems
                .push(Problem::new(format!("{path}.providers[{i}]"), format!("unknown provider `{name}`")));
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
    for (i, claim) in require.claims.iter().enumerate() {
        check_claim(&format!("{path}.claims[{i}]"), claim, problems);
    }
    for (key, nested) in [("any_of", &require.any_of), ("all_of", &require.all_of)] {
        for (i, requirement) in nested.iter().enumerate() {
            check_require(&format!("{path}.{key}[{i}]"), requirement, providers, problems);
        }
    }
}

fn check_claim(path: &str, claim: &ClaimRequirementConfig, problems: &mut Vec<Problem>) {
    if claim.claim.is_empty() || claim.claim.split('.').any(str::is_empty) {
        problems.push(Problem::new(
            format!("{path}.claim"),
            "must be a claim name or a dotted path like `org.id`",
        ));
    }
    let conditions = [
        claim.equals.is_some(),
        claim.one_of.is_some(),
        claim.contains.is_some(),
        claim.prefix.is_some(),
        claim.regex.is_some(),
    ];
    if conditions.iter().filter(|set| **set).count() != 1 {
        problems.push(Problem::new(
            path,
            "set exactly one of `equals`, `one_of`, `contains`, `prefix` and `regex`",
        ));
    }
    check_regex(&format!("{path}.regex"), claim.regex.as_deref(), problems);
}

fn check_regex(path: &str, pattern: Option<&str>, problems: &mut Vec<Problem>) {
    if let Some(Err(error)) = pattern.map(anchored_regex) {
        let first_line = error.to_string().lines().last().unwrap_or("invalid").trim().to_owned();
        problems.push(Problem::new(path, format!("invalid regex: {first_line}")));
    }
}

/// RFC 6749 §3.3 scope-token: one or more NQCHAR (no space, `"` or `\`).
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
