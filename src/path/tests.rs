// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
use super::*;
use proptest::prelude::*;

use PathError::{EncodedSlash, Invalid};

struct Case {
    name: &'static str,
    raw: &'static str,
    allow_encoded_slashes: bool,
    want: Result<&'static str, PathError>,
}

const fn ok(name: &'static str, raw: &'static str, want: &'static str) -> Case {
    Case { name, raw, allow_encoded_slashes: false, want: Ok(want) }
}

const fn err(name: &'static str, raw: &'static str, want: PathError) -> Case {
    Case { name, raw, allow_encoded_slashes: false, want: Err(want) }
}

const fn allowed(name: &'static str, raw: &'static str, want: &'static str) -> Case {
    Case { name, raw, allow_encoded_slashes: true, want: Ok(want) }
}

const CASES: &[Case] = &[
    ok("root", "/", "/"),
    ok("plain", "/api/v1/users", "/api/v1/users"),
    ok("query cut", "/a/b?x=1&y=/../admin", "/a/b"),
    ok("fragment cut", "/a/b#frag", "/a/b"),
    ok("query then fragment", "/a?q#f", "/a"),
    ok("fragment holding a question mark", "/a#f?q", "/a"),
    ok("root with query", "/?x", "/"),
    ok("single dot", "/a/./b", "/a/b"),
    ok("double dot", "/a/../b", "/b"),
    ok("above the root", "/../../x", "/x"),
    ok("double slash", "/a//b", "/a/b"),
    ok("many slashes", "///a////b///", "/a/b/"),
    ok("escape the public prefix", "/public/../admin", "/admin"),
    ok("encoded dots", "/public/%2e%2e/admin", "/admin"),
    ok("uppercase encoded dots", "/public/%2E%2E/admin", "/admin"),
    ok("mixed encoded dots", "/public/.%2E/admin", "/admin"),
    err("// next to an encoded .. is ambiguous", "/public//%2e%2e/admin", PathError::Ambiguous),
    err("// next to .. is ambiguous", "/public//../admin", PathError::Ambiguous),
    ok("// with .. that both orders agree on", "/a//b/../c", "/a/c"),
    ok("encoded letter", "/%61dmin", "/admin"),
    ok("uppercase hex letter", "/%41dmin", "/Admin"),
    ok("unreserved marks decoded", "/%2D%5f%7E%2e", "/-_~."),
    ok("encoded digit", "/v%31", "/v1"),
    ok("reserved escape uppercased", "/a%3ab", "/a%3Ab"),
    ok("reserved escape kept", "/a%3Ab", "/a%3Ab"),
    ok("mixed case hex", "/a%3A%3a%2e%2E%7e", "/a%3A%3A..~"),
    ok("encoded percent not decoded twice", "/%252e%252e/admin", "/%252e%252e/admin"),
    ok("encoded control kept encoded", "/a%00b", "/a%00b"),
    ok("backslash dots", "/a\\..\\admin", "/admin"),
    ok("backslash separator", "/a\\b", "/a/b"),
    ok("trailing slash kept", "/a/b/", "/a/b/"),
    ok("trailing dot", "/a/b/.", "/a/b/"),
    ok("trailing double dot", "/a/b/..", "/a/"),
    ok("double dot to root", "/a/..", "/"),
    ok("dot at root", "/.", "/"),
    ok("double dot at root", "/..", "/"),
    ok("dots within a name", "/a/..b/c.", "/a/..b/c."),
    ok("three dots are a name", "/a/.../b", "/a/.../b"),
    ok("non-ascii kept", "/caf\u{e9}/../men\u{fc}", "/men\u{fc}"),
    err("encoded slash", "/a%2fb", EncodedSlash),
    err("uppercase encoded slash", "/a%2Fb", EncodedSlash),
    err("encoded backslash", "/a%5Cb", EncodedSlash),
    err("lowercase encoded backslash", "/a%5cb", EncodedSlash),
    allowed("encoded slash allowed", "/a%2fb", "/a%2Fb"),
    allowed("encoded backslash allowed", "/a%5cb/../c", "/c"),
    allowed("encoded slash is no separator", "/a%2F..%2Fadmin", "/a%2F..%2Fadmin"),
    err("lone percent", "/a%", Invalid),
    err("truncated escape", "/a%4", Invalid),
    err("truncated escape before query", "/a%4?x", Invalid),
    err("non-hex escape", "/a%zz", Invalid),
    err("half-hex escape", "/a%4g", Invalid),
    err("malformed beats encoded slash", "/%2f%zz", Invalid),
    err("nul", "/a\0b", Invalid),
    err("newline", "/a\nb", Invalid),
    err("carriage return", "/a\r", Invalid),
    err("tab", "/a\tb", Invalid),
    err("delete", "/a\x7f", Invalid),
    err("empty", "", Invalid),
    err("query only", "?x", Invalid),
    err("relative", "a/b", Invalid),
    err("asterisk form", "*", Invalid),
    err("absolute form", "http://host/admin", Invalid),
    err("dot relative", "../admin", Invalid),
];

#[test]
fn normalizes_table() {
    for case in CASES {
        let got = normalize(case.raw, case.allow_encoded_slashes);
        assert_eq!(got.as_deref().map_err(|e| *e), case.want, "{}: {:?}", case.name, case.raw);
    }
}

#[test]
fn unchanged_paths_borrow() {
    for raw in ["/", "/api/v1/users", "/a/b/", "/a/b?x=1", "/a%3Ab", "/caf\u{e9}"] {
        assert!(matches!(normalize(raw, false), Ok(Cow::Borrowed(_))), "{raw:?} allocated");
    }
    assert!(matches!(normalize("/a/../b", false), Ok(Cow::Owned(_))));
}

#[test]
fn errors_are_client_safe() {
    assert_eq!(EncodedSlash.to_string(), "request path contains an encoded slash or backslash");
    assert_eq!(Invalid.to_string(), "request path is malformed");
}

// Test-local reference pieces, written independently of the module (the
// RFC's buffer algorithm rather than a segment stack) so the properties below
// compare two implementations rather than one with itself.

fn reference_decode(path: &str) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < path.len() {
        let byte = path.as_bytes()[i];
        if byte == b'%' {
            let value = u8::from_str_radix(&path[i + 1..i + 3], 16).unwrap();
            if value.is_ascii_alphanumeric() || b"-._~".contains(&value) {
                out.push(value);
            } else {
                out.extend(format!("%{value:02X}").bytes());
            }
            i += 3;
        } else {
            out.push(if byte == b'\\' { b'/' } else { byte });
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// RFC 3986 §5.2.4 step by step, with its input and output buffers.
fn reference_remove_dots(path: &str) -> String {
    fn drop_last_segment(output: &mut String) {
        output.truncate(output.rfind('/').unwrap_or(0));
    }
    let mut input = path.to_owned();
    let mut output = String::new();
    while !input.is_empty() {
        if input.starts_with("../") || input.starts_with("./") {
            input.replace_range(..input.find('/').unwrap() + 1, "");
        } else if input.starts_with("/./") || input == "/." {
            input.replace_range(..2, "");
            if input.is_empty() {
                input.push('/');
            }
        } else if input.starts_with("/../") || input == "/.." {
            input.replace_range(..3, "");
            if input.is_empty() {
                input.push('/');
            }
            drop_last_segment(&mut output);
        } else if input == "." || input == ".." {
            input.clear();
        } else {
            let end = input[1..].find('/').map_or(input.len(), |i| i + 1);
            output.push_str(&input[..end]);
            input.replace_range(..end, "");
        }
    }
    output
}

fn reference_merge(path: &str) -> String {
    let mut out = path.to_owned();
    while out.contains("//") {
        out = out.replace("//", "/");
    }
    out
}

fn cut_query(raw: &str) -> &str {
    raw.split(['?', '#']).next().unwrap()
}

/// Envoy's order: `normalize_path` (decode, dots), then `merge_slashes`.
fn dots_then_merge(raw: &str) -> String {
    reference_merge(&reference_remove_dots(&reference_decode(cut_query(raw))))
}

/// The other order some servers use.
fn merge_then_dots(raw: &str) -> String {
    reference_remove_dots(&reference_merge(&reference_decode(cut_query(raw))))
}

fn under_admin(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

#[test]
fn the_two_orders_differ() {
    // Why the order matters: ours matches what Envoy forwards, not what a
    // merge-first server would make of the raw path. Safe only because Envoy
    // forwards its normalized path (see the module doc).
    // Such a path is refused, so no reader can reach a resource other than
    // the one the rules would have matched.
    let raw = "/public//../admin";
    assert_eq!(dots_then_merge(raw), "/public/admin");
    assert_eq!(merge_then_dots(raw), "/admin");
    assert!(under_admin(&merge_then_dots(raw)) && !under_admin(&dots_then_merge(raw)));
    assert_eq!(normalize(raw, false), Err(PathError::Ambiguous));
}

#[test]
fn references_agree_with_the_table() {
    for case in CASES.iter().filter(|c| !c.allow_encoded_slashes) {
        if let Ok(want) = case.want {
            assert_eq!(dots_then_merge(case.raw), want, "{}", case.name);
        }
    }
}

fn segment() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "a", "admin", "public", ".", "..", "", "%2e", "%2E%2e", "%61", "%41", "x%3ay", "\\",
    ])
}

/// A leading `/`, then segments joined by `/` or `//`, sometimes a query.
fn raw_path() -> impl Strategy<Value = String> {
    let parts = prop::collection::vec((segment(), prop::bool::ANY), 0..10);
    (parts, prop::option::of("[a-z=/.]{0,6}")).prop_map(|(parts, query)| {
        let mut raw = String::from("/");
        for (i, (segment, double)) in parts.into_iter().enumerate() {
            if i > 0 {
                raw.push_str(if double { "//" } else { "/" });
            }
            raw.push_str(segment);
        }
        if let Some(query) = query {
            raw.push('?');
            raw.push_str(&query);
        }
        raw
    })
}

/// Every `%` left starts an uppercase escape of a byte that must stay encoded.
fn escapes_canonical(path: &str) -> bool {
    path.match_indices('%').all(|(i, _)| {
        let hex = path.get(i + 1..i + 3).unwrap_or("");
        let must_stay = |v: u8| !(v.is_ascii_alphanumeric() || b"-._~".contains(&v));
        hex == hex.to_ascii_uppercase() && u8::from_str_radix(hex, 16).is_ok_and(must_stay)
    })
}

fn is_canonical(path: &str) -> bool {
    path.starts_with('/')
        && !path.contains("//")
        && !path.contains(['\\', '?', '#'])
        && !path.split('/').any(|s| s == "." || s == "..")
        && escapes_canonical(path)
}

proptest! {
    /// (a) Normalizing twice changes nothing.
    #[test]
    fn idempotent(raw in raw_path(), allow in prop::bool::ANY) {
        if let Ok(once) = normalize(&raw, allow) {
            let twice = normalize(&once, allow);
            prop_assert_eq!(twice.as_deref(), Ok(&*once));
        }
    }

    /// (b) No dot segment, `//`, backslash or decodable escape is left.
    #[test]
    fn output_is_canonical(raw in raw_path()) {
        if let Ok(normalized) = normalize(&raw, false) {
            prop_assert!(is_canonical(&normalized), "{:?} -> {:?}", raw, normalized);
        }
    }

    /// (c) Safety: an accepted path is what Envoy forwards (decode, remove
    /// dots, merge) AND what a merge-first reader makes of the raw path, so no
    /// reading of it reaches a resource the rules did not match; a refused
    /// path is exactly one where the two readings differ.
    #[test]
    fn matches_either_order_or_is_refused(raw in raw_path()) {
        match normalize(&raw, false) {
            Ok(normalized) => {
                prop_assert_eq!(&*normalized, dots_then_merge(&raw));
                prop_assert_eq!(&*normalized, merge_then_dots(&raw));
            }
            Err(error) => {
                prop_assert_eq!(error, PathError::Ambiguous);
                prop_assert_ne!(dots_then_merge(&raw), merge_then_dots(&raw));
            }
        }
    }

    /// (c') The output is a fixed point of both orders: an upstream that
    /// normalizes the forwarded path again, either way, serves what we matched.
    #[test]
    fn output_is_stable_under_either_order(raw in raw_path()) {
        if let Ok(normalized) = normalize(&raw, false) {
            prop_assert_eq!(dots_then_merge(&normalized), &*normalized);
            prop_assert_eq!(merge_then_dots(&normalized), &*normalized);
        }
    }

    /// (d) The orders only disagree on the raw path where a `..` meets an
    /// empty segment (`//..`): the one case the order decides.
    #[test]
    fn orders_differ_only_on_empty_segments_before_dots(raw in raw_path()) {
        if dots_then_merge(&raw) != merge_then_dots(&raw) {
            let decoded = reference_decode(cut_query(&raw));
            prop_assert!(decoded.contains("//") && decoded.split('/').any(|s| s == ".."), "{:?}", raw);
        }
    }

    /// Any input at all: no panic, and success means canonical and stable.
    #[test]
    fn arbitrary_input(raw in "\\PC{0,40}|/[ -~]{0,40}", allow in prop::bool::ANY) {
        if let Ok(once) = normalize(&raw, allow) {
            prop_assert!(is_canonical(&once), "{:?} -> {:?}", raw, once);
            let twice = normalize(&once, allow);
            prop_assert_eq!(twice.as_deref(), Ok(&*once));
        }
    }
}
