//! Request conditions of a rule (`match:`), compiled once. All conditions of
//! a matcher are ANDed; an empty matcher matches every request.

use regex::Regex;

use super::request::HttpRequest;
use crate::config::{anchored_regex, HeaderMatchConfig, MatchConfig};

/// A compiled `match:` block.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    host: Option<HostPattern>,
    path: Option<String>,
    /// Stored without a trailing slash: `/` becomes empty and matches every path.
    path_prefix: Option<String>,
    path_regex: Option<Regex>,
    /// Upper-cased.
    methods: Vec<String>,
    headers: Vec<HeaderCondition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Exact(String),
    /// `*.example.com`, stored as `.example.com`.
    Suffix(String),
}

#[derive(Debug, Clone)]
struct HeaderCondition {
    name: String,
    test: HeaderTest,
}

#[derive(Debug, Clone)]
enum HeaderTest {
    Exact(String),
    Prefix(String),
    Regex(Regex),
    Present(bool),
}

impl Matcher {
    /// Compiles a validated `match:` block (validation already compiled every regex once).
    pub fn compile(config: &MatchConfig) -> Result<Self, regex::Error> {
        let host = config.host.as_deref().map(|h| {
            let h = h.to_ascii_lowercase();
            match h.strip_prefix('*') {
                Some(suffix) => HostPattern::Suffix(suffix.to_owned()),
                None => HostPattern::Exact(h),
            }
        });
        Ok(Self {
            host,
            path: config.path.clone(),
            path_prefix: config.path_prefix.as_deref().map(|p| p.trim_end_matches('/').to_owned()),
            path_regex: config.path_regex.as_deref().map(anchored_regex).transpose()?,
            methods: config.methods.iter().map(|m| m.to_ascii_uppercase()).collect(),
            headers: config.headers.iter().map(HeaderCondition::compile).collect::<Result<_, _>>()?,
        })
    }

    /// True when the matcher has no condition at all: it catches every request.
    pub fn is_catch_all(&self) -> bool {
        self.host.is_none()
            && self.path.is_none()
            && self.path_prefix.as_deref().is_none_or(str::is_empty)
            && self.path_regex.is_none()
            && self.methods.is_empty()
            && self.headers.is_empty()
    }

    /// `path` is the normalized path without query string.
    pub fn matches(&self, request: &HttpRequest<'_>, path: &str) -> bool {
        self.host.as_ref().is_none_or(|pattern| host_matches(pattern, request.host))
            && self.path.as_deref().is_none_or(|exact| exact == path)
            && self.path_prefix.as_deref().is_none_or(|prefix| has_segment_prefix(path, prefix))
            && self.path_regex.as_ref().is_none_or(|re| re.is_match(path))
            && (self.methods.is_empty()
                || self.methods.iter().any(|m| m.eq_ignore_ascii_case(request.method)))
            && self.headers.iter().all(|condition| condition.holds(request))
    }
}

impl HeaderCondition {
    fn compile(config: &HeaderMatchConfig) -> Result<Self, regex::Error> {
        let test = match (&config.exact, &config.prefix, &config.regex, config.present) {
            (Some(exact), ..) => HeaderTest::Exact(exact.clone()),
            (_, Some(prefix), ..) => HeaderTest::Prefix(prefix.clone()),
            (_, _, Some(pattern), _) => HeaderTest::Regex(anchored_regex(pattern)?),
            (.., present) => HeaderTest::Present(present.unwrap_or(true)),
        };
        Ok(Self { name: config.name.to_ascii_lowercase(), test })
    }

    /// Any one value of the header satisfying the test is enough. With
    /// Envoy's merged `headers`, repeated headers arrive as one comma-joined value.
    fn holds(&self, request: &HttpRequest<'_>) -> bool {
        let mut values = request.header_values(&self.name);
        match &self.test {
            HeaderTest::Present(expected) => values.next().is_some() == *expected,
            test => values.filter_map(|v| std::str::from_utf8(v).ok()).any(|value| match test {
                HeaderTest::Exact(exact) => value == exact,
                HeaderTest::Prefix(prefix) => value.starts_with(prefix.as_str()),
                HeaderTest::Regex(re) => re.is_match(value),
                HeaderTest::Present(_) => true,
            }),
        }
    }
}

/// Case-insensitive, port ignored; `*.example.com` matches any subdomain
/// (at any depth) but not `example.com` itself.
fn host_matches(pattern: &HostPattern, host: &str) -> bool {
    // `api.example.com.` (fully qualified) names the same host.
    let host = strip_port(host).trim_end_matches('.');
    match pattern {
        HostPattern::Exact(exact) => host.eq_ignore_ascii_case(exact),
        HostPattern::Suffix(suffix) => {
            host.len() > suffix.len()
                && host.get(host.len() - suffix.len()..).is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
        }
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        // [v6]:port
        return host.split_once(']').map_or(host, |(addr, _)| &host[..addr.len() + 1]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// `/api` matches `/api` and `/api/x` but not `/apix`.
fn has_segment_prefix(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
#[path = "matcher_tests.rs"]
mod tests;
