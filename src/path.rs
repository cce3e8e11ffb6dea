//! Normalizing the request path before route rules match on it.
//!
//! Rules are prefixes such as `/admin`; matching them against the raw request
//! target would let `/public/../admin` or `/public/%2e%2e/admin` take the
//! `/public` rule while the upstream serves `/admin`. So the path is first
//! normalized the way Envoy's HTTP connection manager does with
//! `normalize_path: true` and `merge_slashes: true`: the same string Envoy
//! forwards upstream, so the rule that decides is the rule for what is served.
//!
//! The steps, in Envoy's order (the order matters, see [`normalize`]):
//!
//! 1. cut the query and fragment; the path must start with `/`;
//! 2. refuse control bytes and malformed percent-escapes;
//! 3. refuse `%2F` / `%5C` (an upstream may decode them into separators the
//!    rules never saw), unless allowed, in which case they stay encoded;
//! 4. decode escapes of unreserved characters (RFC 3986 §2.3), keep the rest
//!    encoded with uppercase hex so equal paths compare equal;
//! 5. turn `\` into `/`, as Envoy's (Chromium's) canonicalizer does;
//! 6. remove `.` and `..` segments (RFC 3986 §5.2.4);
//! 7. merge runs of `/`.
//!
//! Differences from Envoy that cannot widen what a rule matches: malformed
//! escapes are refused (Envoy passes them on), kept escapes are uppercased
//! (Envoy keeps their case), and bytes Envoy would percent-encode (non-ASCII,
//! space, `<`, `>`...) are left as they are. None of these adds or removes a
//! separator or a dot segment.

use std::borrow::Cow;

/// Why a request path was refused. Messages are safe to show to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum PathError {
    #[error("request path contains an encoded slash or backslash")]
    EncodedSlash,
    #[error("request path is malformed")]
    Invalid,
    /// `//` and `..` together: readers that merge slashes before resolving
    /// dot segments reach another resource than Envoy's order does.
    #[error("request path is ambiguous")]
    Ambiguous,
}

/// The normalized path of a raw request target (`path[?query][#fragment]`),
/// without its query or fragment.
///
/// Dot segments are removed before slashes are merged, as Envoy does. The
/// orders differ on `/public//../admin` (`/public/admin` vs `/admin`); such a
/// path is refused as [`PathError::Ambiguous`], so an accepted result is what
/// every reading of the raw path gives, and a fixed point of either order.
///
/// Borrows from `raw` when nothing changes, the common case.
pub fn normalize(raw: &str, allow_encoded_slashes: bool) -> Result<Cow<'_, str>, PathError> {
    let end = raw.find(['?', '#']).unwrap_or(raw.len());
    let path = &raw[..end];
    // Covers the empty path, relative references and the asterisk form `*`.
    if !path.starts_with('/') {
        return Err(PathError::Invalid);
    }
    validate(path)?;
    let path = match decode(path, allow_encoded_slashes)? {
        Some(decoded) => Cow::Owned(decoded),
        None => Cow::Borrowed(path),
    };
    // Defence in depth for an Envoy without `normalize_path`/`merge_slashes`:
    // it forwards the raw path, and an upstream that merges slashes first
    // would serve another resource than the one the rules matched. Such paths
    // (`//` next to `..`) are refused rather than guessed at.
    let merged_first = path
        .contains("//")
        .then(|| apply(apply(path.clone(), merge_slashes), remove_dot_segments).into_owned());
    let normalized = apply(apply(path, remove_dot_segments), merge_slashes);
    if merged_first.is_some_and(|other| other != *normalized) {
        return Err(PathError::Ambiguous);
    }
    Ok(normalized)
}

/// Runs a rewriting step that returns `None` when it has nothing to change,
/// so an unchanged path keeps borrowing from the request.
fn apply<'a>(path: Cow<'a, str>, step: fn(&str) -> Option<String>) -> Cow<'a, str> {
    match step(&path) {
        Some(rewritten) => Cow::Owned(rewritten),
        None => path,
    }
}

/// Refuses control bytes (header smuggling, log injection) and `%` not
/// followed by two hex digits (readers disagree on what those mean).
fn validate(path: &str) -> Result<(), PathError> {
    let bytes = path.as_bytes();
    for (i, &byte) in bytes.iter().enumerate() {
        if byte < 0x20 || byte == 0x7f {
            return Err(PathError::Invalid);
        }
        if byte == b'%' && escape_at(bytes, i).is_none() {
            return Err(PathError::Invalid);
        }
    }
    Ok(())
}

/// The byte encoded by the escape starting at `bytes[i]` (a `%`).
fn escape_at(bytes: &[u8], i: usize) -> Option<u8> {
    match *bytes.get(i + 1..i + 3)? {
        [high, low] => Some((hex_digit(high)? << 4) | hex_digit(low)?),
        _ => None,
    }
}

fn hex_digit(byte: u8) -> Option<u8> {
    char::from(byte).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Steps 3 to 5: decodes unreserved escapes, canonicalizes the others and
/// turns `\` into `/`. `None` when the path is already in that form.
fn decode(path: &str, allow_encoded_slashes: bool) -> Result<Option<String>, PathError> {
    if !path.bytes().any(|b| b == b'%' || b == b'\\') {
        return Ok(None);
    }
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    // Runs between escapes are copied as slices; every cut is at an ASCII
    // byte, so each slice is whole UTF-8 and non-ASCII passes through intact.
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                out.push_str(&path[copied..i]);
                out.push('/');
                i += 1;
            }
            b'%' => {
                out.push_str(&path[copied..i]);
                let value = escape_at(bytes, i).ok_or(PathError::Invalid)?;
                push_escaped(&mut out, value, allow_encoded_slashes)?;
                i += 3;
            }
            _ => {
                i += 1;
                continue;
            }
        }
        copied = i;
    }
    out.push_str(&path[copied..]);
    Ok((out != path).then_some(out))
}

/// Appends one decoded escape: unreserved characters as themselves (they
/// mean the same either way, RFC 3986 §6.2.2.2), anything else re-encoded.
fn push_escaped(out: &mut String, value: u8, allow_encoded_slashes: bool) -> Result<(), PathError> {
    let c = char::from(value);
    if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~') {
        out.push(c);
        return Ok(());
    }
    // Kept encoded, so never a separator here; but an upstream that decodes
    // it would see a path the rules did not.
    if (c == '/' || c == '\\') && !allow_encoded_slashes {
        return Err(PathError::EncodedSlash);
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(value >> 4)]));
    out.push(char::from(HEX[usize::from(value & 0xf)]));
    Ok(())
}

fn is_dot_segment(segment: &str) -> bool {
    segment == "." || segment == ".."
}

/// RFC 3986 §5.2.4 on an absolute path, segment by segment: `.` goes, `..`
/// also takes the segment before it (never climbing above the root), and a
/// path ending in either keeps a trailing slash (`/a/b/.` is the directory
/// `/a/b/`). Empty segments count, so `/a//..` is `/a/`, as in Envoy.
fn remove_dot_segments(path: &str) -> Option<String> {
    let rest = path.strip_prefix('/')?;
    if !rest.split('/').any(is_dot_segment) {
        return None;
    }
    let mut kept: Vec<&str> = Vec::new();
    let mut ends_in_dot = false;
    for segment in rest.split('/') {
        ends_in_dot = is_dot_segment(segment);
        match segment {
            "." => {}
            ".." => {
                kept.pop();
            }
            _ => kept.push(segment),
        }
    }
    let mut out = String::with_capacity(path.len());
    for segment in &kept {
        out.push('/');
        out.push_str(segment);
    }
    // Also the root when everything was removed (`/a/..` is `/`).
    if ends_in_dot {
        out.push('/');
    }
    Some(out)
}

/// Collapses each run of `/` into one, as Envoy's `merge_slashes` does.
fn merge_slashes(path: &str) -> Option<String> {
    if !path.contains("//") {
        return None;
    }
    let mut out = String::with_capacity(path.len());
    let mut after_slash = false;
    for c in path.chars() {
        if !(c == '/' && after_slash) {
            out.push(c);
        }
        after_slash = c == '/';
    }
    Some(out)
}

#[cfg(test)]
mod tests;
