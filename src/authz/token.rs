//! Finding the bearer token in a request.
//!
//! A request that carries more than one different credential is refused
//! (RFC 6750 §3.1 `invalid_request`) rather than having one picked for it:
//! picking lets a client smuggle a second token past whatever read the first.

use std::borrow::Cow;
use std::sync::Arc;

use smallvec::{smallvec, SmallVec};

use super::request::HttpRequest;

/// One place a token may be (`token_sources[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenSource {
    /// A header, optionally after an auth scheme such as `Bearer`.
    Header {
        name: Arc<str>,
        scheme: Option<String>,
    },
    Cookie(String),
    Query(String),
}

/// The sources a credential was found in: one or two, kept inline.
pub(crate) type Sources<'a> = SmallVec<[&'a TokenSource; 2]>;

/// The result of looking in every source.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Extraction<'s, 'a> {
    /// No source has a token.
    Missing,
    /// One credential, and every source that carries it (first one first).
    Found { token: Cow<'a, str>, sources: Sources<'s> },
    /// More than one different credential, or a malformed one.
    Ambiguous,
}

impl TokenSource {
    /// A header source; `prefix` is the scheme before the token (`Bearer `),
    /// matched case-insensitively and without its surrounding spaces.
    pub(crate) fn header(name: &str, prefix: Option<&str>) -> Self {
        let scheme = prefix.map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        TokenSource::Header { name: Arc::from(name.to_ascii_lowercase()), scheme }
    }

    /// Every token this source sees in the request; `Err` if one is malformed.
    fn collect<'a>(
        &self,
        request: &HttpRequest<'a>,
        out: &mut SmallVec<[Cow<'a, str>; 2]>,
    ) -> Result<(), ()> {
        match self {
            TokenSource::Header { name, scheme } => {
                for value in request.header_values(name) {
                    if let Some(token) = from_header_value(value, scheme.as_deref())? {
                        out.push(Cow::Borrowed(token));
                    }
                }
            }
            TokenSource::Cookie(cookie) => {
                for value in request.header_values("cookie") {
                    let text = std::str::from_utf8(value).map_err(|_| ())?;
                    for pair in text.split(';') {
                        if let Some((name, token)) = pair.trim().split_once('=') {
                            if name == cookie {
                                out.push(Cow::Borrowed(checked(token.trim_matches('"'))?));
                            }
                        }
                    }
                }
            }
            TokenSource::Query(param) => {
                for pair in request.query().into_iter().flat_map(|q| q.split('&')) {
                    let (name, token) = pair.split_once('=').unwrap_or((pair, ""));
                    if name == param {
                        out.push(percent_decode(token)?);
                    }
                }
            }
        }
        Ok(())
    }
}

/// `scheme` is matched case-insensitively (RFC 9110 §11.1) and must be
/// followed by at least one SP/HTAB and the token. A value in another scheme
/// (e.g. Basic), or the bare scheme, carries no token and is ignored.
///
/// Anything else that starts with the scheme is malformed (`Err`): no
/// separator (`Bearer<t>`, `Bearer:<t>`, a no-break space), or the scheme
/// inside a comma-joined list (`Basic x, Bearer <t>`: Envoy joins repeated
/// headers with `,`). Ignoring such a value would let a client pass
/// gatehouse on a credential from another source while an upstream reads
/// its own from this one.
fn from_header_value<'a>(value: &'a [u8], scheme: Option<&str>) -> Result<Option<&'a str>, ()> {
    let text = std::str::from_utf8(value).map_err(|_| ())?.trim_matches(is_space);
    let Some(scheme) = scheme else {
        return if text.is_empty() { Ok(None) } else { checked(text).map(Some) };
    };
    if text.contains(',') {
        let names_scheme =
            text.split(',').any(|part| starts_with_scheme(part.trim_start_matches(is_space), scheme));
        return if names_scheme { Err(()) } else { Ok(None) };
    }
    if !starts_with_scheme(text, scheme) {
        return Ok(None);
    }
    match &text[scheme.len()..] {
        "" => Ok(None),
        rest if rest.starts_with(is_space) => checked(rest.trim_start_matches(is_space)).map(Some),
        _ => Err(()),
    }
}

fn is_space(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// True when `text` begins with `scheme`, compared case-insensitively.
fn starts_with_scheme(text: &str, scheme: &str) -> bool {
    text.as_bytes().get(..scheme.len()).is_some_and(|head| head.eq_ignore_ascii_case(scheme.as_bytes()))
}

/// A token is a single token68-like word: no separators, no spaces, no commas
/// (a comma means Envoy merged two header values into one).
fn checked(token: &str) -> Result<&str, ()> {
    let valid = !token.is_empty()
        && token.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'+' | b'/' | b'=')
        });
    if valid {
        Ok(token)
    } else {
        Err(())
    }
}

fn percent_decode(value: &str) -> Result<Cow<'_, str>, ()> {
    if !value.contains('%') {
        return checked(value).map(Cow::Borrowed);
    }
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value.get(i + 1..i + 3).ok_or(())?;
            decoded.push(u8::from_str_radix(hex, 16).map_err(|_| ())?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    let text = String::from_utf8(decoded).map_err(|_| ())?;
    checked(&text)?;
    Ok(Cow::Owned(text))
}

/// Looks in every source, in order.
pub(crate) fn extract<'s, 'a>(sources: &'s [TokenSource], request: &HttpRequest<'a>) -> Extraction<'s, 'a> {
    let mut found: Option<(Cow<'a, str>, Sources<'s>)> = None;
    let mut seen: SmallVec<[Cow<'a, str>; 2]> = SmallVec::new();
    for source in sources {
        seen.clear();
        if source.collect(request, &mut seen).is_err() {
            return Extraction::Ambiguous;
        }
        for token in seen.drain(..) {
            match &mut found {
                Some((first, _)) if *first != token => return Extraction::Ambiguous,
                Some((_, carriers)) if !carriers.contains(&source) => carriers.push(source),
                Some(_) => {}
                None => found = Some((token, smallvec![source])),
            }
        }
    }
    match found {
        Some((token, sources)) => Extraction::Found { token, sources },
        None => Extraction::Missing,
    }
}

#[cfg(test)]
mod tests;
