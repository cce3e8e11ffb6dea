//! A rule's `match` (Envoy's `RouteMatch`, as jwt_authn reads it) as a
//! gatehouse `match:`. jwt_authn matches a path prefix as a plain string
//! prefix and gatehouse's `path_prefix` stops at segment boundaries, so a
//! prefix becomes an anchored `path_regex` that matches exactly what
//! jwt_authn's prefix does.

use super::input::Node;
use super::model::{HeaderMatch, HeaderTest, Match, Note};
use super::providers::unknown_field;
use super::ImportError;

/// A `match:` and what could not be carried over.
#[derive(Debug, Clone, Default)]
pub(crate) struct Matched {
    pub(crate) matcher: Match,
    pub(crate) notes: Vec<Note>,
    /// Conditions gatehouse cannot express, described; without them the
    /// rule matches more requests than jwt_authn's.
    pub(crate) dropped: Vec<String>,
}

const PATH_SPECIFIERS: [&str; 6] =
    ["prefix", "path", "safe_regex", "path_separated_prefix", "connect_matcher", "path_match_policy"];

/// `RouteMatch` fields jwt_authn itself never looks at.
const IGNORED_BY_JWT_AUTHN: [&str; 5] =
    ["runtime_fraction", "grpc", "tls_context", "dynamic_metadata", "filter_state"];

pub(crate) fn map_match(node: &Node<'_>) -> Result<Matched, ImportError> {
    node.object()?;
    let mut matched = Matched::default();
    let case_sensitive = node.get("case_sensitive").map(|c| c.boolean()).transpose()?.unwrap_or(true);
    path(node, case_sensitive, &mut matched)?;
    if let Some(headers) = node.get("headers") {
        for header in headers.items()? {
            match header_condition(&header)? {
                Ok(Condition::Header(condition)) => matched.matcher.headers.push(condition),
                Ok(Condition::Method(method)) => matched.matcher.methods.push(method),
                Err(why) => matched.dropped.push(format!("{}: {why}", header.path)),
            }
        }
    }
    if let Some(query) = node.get("query_parameters").filter(|q| q.items().is_ok_and(|i| !i.is_empty())) {
        matched.dropped.push(format!("{}: gatehouse rules do not match on the query string", query.path));
    }
    for field in IGNORED_BY_JWT_AUTHN {
        if let Some(ignored) = node.get(field) {
            matched
                .notes
                .push(Note::info(format!("{}: jwt_authn ignores it, and so does this rule", ignored.path)));
        }
    }
    let known: Vec<&str> = PATH_SPECIFIERS
        .iter()
        .chain(&IGNORED_BY_JWT_AUTHN)
        .chain(&["case_sensitive", "headers", "query_parameters"])
        .copied()
        .collect();
    matched.notes.extend(node.unknown_fields(&known).into_iter().map(unknown_field));
    Ok(matched)
}

/// The path specifier: exactly one of [`PATH_SPECIFIERS`].
fn path(node: &Node<'_>, case_sensitive: bool, matched: &mut Matched) -> Result<(), ImportError> {
    let set: Vec<(&str, Node<'_>)> =
        PATH_SPECIFIERS.iter().filter_map(|key| node.get(key).map(|value| (*key, value))).collect();
    let [(kind, value)] = set.as_slice() else {
        return Err(node.invalid(format!("expected exactly one of {}", PATH_SPECIFIERS.join(", "))));
    };
    let fold = if case_sensitive { "" } else { "(?i)" };
    let matcher = &mut matched.matcher;
    match *kind {
        "prefix" => plain_prefix(value, fold, matched)?,
        "path" => {
            let path = value.string()?;
            match case_sensitive && is_normalized(path) {
                true => matcher.path = Some(path.to_owned()),
                false => matcher.path_regex = Some(format!("{fold}{}", regex::escape(path))),
            }
        }
        "path_separated_prefix" => {
            let prefix = value.string()?;
            match case_sensitive && is_normalized(prefix) {
                true => matcher.path_prefix = Some(prefix.to_owned()),
                false => matcher.path_regex = Some(format!("{fold}{}(?:/.*)?", regex::escape(prefix))),
            }
        }
        "safe_regex" => {
            let regex = value.required("regex")?;
            let pattern = regex.string()?;
            // jwt_authn applies the regex to the whole path, case_sensitive or not.
            match crate::authz::anchored_regex(pattern) {
                Ok(_) => matcher.path_regex = Some(pattern.to_owned()),
                Err(error) => matched.dropped.push(format!(
                    "{}: not a regex gatehouse (Rust regex syntax) reads: {}",
                    regex.path,
                    error.to_string().lines().last().unwrap_or("invalid").trim()
                )),
            }
        }
        other => matched.dropped.push(format!("{}: gatehouse has no `{other}` condition", value.path)),
    }
    Ok(())
}

/// jwt_authn's `prefix`, a plain string prefix, as the regex that matches
/// the same paths (`/` matches every path, which `path_prefix` says plainly).
fn plain_prefix(value: &Node<'_>, fold: &str, matched: &mut Matched) -> Result<(), ImportError> {
    let prefix = value.string()?;
    if prefix.is_empty() || prefix == "/" {
        matched.matcher.path_prefix = Some("/".to_owned());
        return Ok(());
    }
    matched.matcher.path_regex = Some(format!("{fold}{}.*", regex::escape(prefix)));
    matched.notes.push(Note::info(format!(
        "{}: jwt_authn's prefix is a plain string prefix ({prefix:?} also matches {:?}), written as path_regex (gatehouse's path_prefix stops at `/`)",
        value.path,
        format!("{prefix}x")
    )));
    Ok(())
}

/// A rule path gatehouse accepts as `path`/`path_prefix`: in the normalized
/// form requests are matched in (otherwise it is written as a regex, which
/// matches as jwt_authn's string comparison does).
fn is_normalized(path: &str) -> bool {
    !path.contains(['?', '#']) && crate::path::normalize(path, true).is_ok_and(|normal| normal == path)
}

enum Condition {
    Header(HeaderMatch),
    Method(String),
}

/// One `headers[]` entry (Envoy's `HeaderMatcher`), or why it cannot be written.
fn header_condition(node: &Node<'_>) -> Result<Result<Condition, String>, ImportError> {
    let name = node.required("name")?.string()?.to_ascii_lowercase();
    let test = match value_test(node)? {
        Ok(test) => test,
        Err(why) => return Ok(Err(why)),
    };
    let flag = |key: &str| node.get(key).map(|f| f.boolean()).transpose();
    let test = match (test, flag("invert_match")?.unwrap_or(false)) {
        (HeaderTest::Present(present), inverted) => HeaderTest::Present(present != inverted),
        (_, true) => return Ok(Err("invert_match on a value condition has no gatehouse equivalent".into())),
        (test, false) => test,
    };
    if flag("treat_missing_header_as_empty")?.unwrap_or(false) {
        return Ok(Err("treat_missing_header_as_empty has no gatehouse equivalent".into()));
    }
    match (name.as_str(), test) {
        (":method", HeaderTest::Exact(method)) => Ok(Ok(Condition::Method(method))),
        (pseudo, _) if pseudo.starts_with(':') => {
            Ok(Err(format!("gatehouse header conditions cannot name the pseudo-header `{pseudo}`")))
        }
        (_, test) => Ok(Ok(Condition::Header(HeaderMatch { name, test }))),
    }
}

/// The value condition of a `HeaderMatcher` (presence when none is set).
fn value_test(node: &Node<'_>) -> Result<Result<HeaderTest, String>, ImportError> {
    let text = |key: &str| node.get(key).map(|v| v.string().map(str::to_owned)).transpose();
    if let Some(exact) = text("exact_match")? {
        return Ok(Ok(HeaderTest::Exact(exact)));
    }
    if let Some(prefix) = text("prefix_match")? {
        return Ok(Ok(HeaderTest::Prefix(prefix)));
    }
    if let Some(suffix) = text("suffix_match")? {
        return Ok(Ok(HeaderTest::Regex(format!(".*{}", regex::escape(&suffix)))));
    }
    if let Some(contains) = text("contains_match")? {
        return Ok(Ok(HeaderTest::Regex(format!(".*{}.*", regex::escape(&contains)))));
    }
    if let Some(regex) = node.get("safe_regex_match") {
        return Ok(checked_regex(regex.required("regex")?.string()?));
    }
    if let Some(present) = node.get("present_match") {
        return Ok(Ok(HeaderTest::Present(present.boolean()?)));
    }
    if node.get("range_match").is_some() {
        return Ok(Err("range_match has no gatehouse equivalent".into()));
    }
    match node.get("string_match") {
        Some(matcher) => string_match(&matcher),
        None => Ok(Ok(HeaderTest::Present(true))),
    }
}

/// A `StringMatcher`: exact and prefix as they are, the rest (and any
/// `ignore_case`) as an anchored regex.
fn string_match(node: &Node<'_>) -> Result<Result<HeaderTest, String>, ImportError> {
    let fold = node.get("ignore_case").map(|f| f.boolean()).transpose()?.unwrap_or(false);
    let text = |key: &str| node.get(key).map(|v| v.string().map(regex::escape)).transpose();
    let flags = if fold { "(?i)" } else { "" };
    let literal = |key: &str| node.get(key).map(|v| v.string().map(str::to_owned)).transpose();
    if !fold {
        if let Some(exact) = literal("exact")? {
            return Ok(Ok(HeaderTest::Exact(exact)));
        }
        if let Some(prefix) = literal("prefix")? {
            return Ok(Ok(HeaderTest::Prefix(prefix)));
        }
    }
    let pattern = if let Some(exact) = text("exact")? {
        format!("{flags}{exact}")
    } else if let Some(prefix) = text("prefix")? {
        format!("{flags}{prefix}.*")
    } else if let Some(suffix) = text("suffix")? {
        format!("{flags}.*{suffix}")
    } else if let Some(contains) = text("contains")? {
        format!("{flags}.*{contains}.*")
    } else if let Some(regex) = node.get("safe_regex") {
        // Envoy ignores ignore_case for a regex.
        return Ok(checked_regex(regex.required("regex")?.string()?));
    } else {
        return Ok(Err(format!("{}: no condition gatehouse can express", node.path)));
    };
    Ok(Ok(HeaderTest::Regex(pattern)))
}

fn checked_regex(pattern: &str) -> Result<HeaderTest, String> {
    match crate::authz::anchored_regex(pattern) {
        Ok(_) => Ok(HeaderTest::Regex(pattern.to_owned())),
        Err(_) => Err(format!("regex {pattern:?} is not one gatehouse (Rust regex syntax) reads")),
    }
}
