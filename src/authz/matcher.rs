//! Request conditions of a rule (`match:`), compiled once. All conditions of
//! a matcher are ANDed; an empty matcher matches every request.

use regex::Regex;

use super::request::HttpRequest;

/// A compiled `match:` block.
#[derive(Debug, Clone, Default)]
pub(crate) struct Matcher {
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

/// One `match.headers[]` entry.
#[derive(Debug, Clone)]
pub(crate) struct HeaderCondition {
    name: String,
    test: HeaderTest,
}

/// What a header's value must satisfy.
#[derive(Debug, Clone)]
pub(crate) enum HeaderTest {
    Exact(String),
    Prefix(String),
    Regex(Regex),
    Present(bool),
}

/// The parts of a `match:` block, validated: a host name or `*.` wildcard,
/// normalized paths, compiled regexes, method names.
#[derive(Debug, Clone, Default)]
pub(crate) struct MatcherParts<'a> {
    pub(crate) host: Option<&'a str>,
    pub(crate) path: Option<&'a str>,
    pub(crate) path_prefix: Option<&'a str>,
    pub(crate) path_regex: Option<Regex>,
    pub(crate) methods: &'a [String],
    pub(crate) headers: Vec<HeaderCondition>,
}

impl Matcher {
    pub(crate) fn new(parts: MatcherParts<'_>) -> Self {
        let host = parts.host.map(|h| {
            let h = h.to_ascii_lowercase();
            match h.strip_prefix('*') {
                Some(suffix) => HostPattern::Suffix(suffix.to_owned()),
                None => HostPattern::Exact(h),
            }
        });
        Self {
            host,
            path: parts.path.map(str::to_owned),
            path_prefix: parts.path_prefix.map(|p| p.trim_end_matches('/').to_owned()),
            path_regex: parts.path_regex,
            methods: parts.methods.iter().map(|m| m.to_ascii_uppercase()).collect(),
            headers: parts.headers,
        }
    }

    /// The request headers its conditions read.
    pub(crate) fn header_names(&self) -> impl Iterator<Item = &str> {
        self.headers.iter().map(|condition| condition.name.as_str())
    }

    /// True when the matcher has no condition at all: it catches every request.
    pub(crate) fn is_catch_all(&self) -> bool {
        self.host.is_none()
            && self.path.is_none()
            && self.path_prefix.as_deref().is_none_or(str::is_empty)
            && self.path_regex.is_none()
            && self.methods.is_empty()
            && self.headers.is_empty()
    }

    /// `path` is the normalized path without query string.
    pub(crate) fn matches(&self, request: &HttpRequest<'_>, path: &str) -> bool {
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
    pub(crate) fn new(name: &str, test: HeaderTest) -> Self {
        Self { name: name.to_ascii_lowercase(), test }
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

/// Compiles a user regex anchored at both ends, with a bounded program size
/// so a hostile or careless pattern cannot blow up memory.
pub(crate) fn anchored_regex(pattern: &str) -> Result<Regex, regex::Error> {
    let build =
        |text: &str| regex::RegexBuilder::new(text).size_limit(1 << 20).dfa_size_limit(1 << 20).build();
    // The pattern must be valid on its own: `a)|(b` would otherwise close our
    // group early and leave the `b` branch unanchored.
    build(pattern)?;
    build(&format!("^(?:{pattern})$"))
}

#[cfg(test)]
mod tests;
