//! The request under decision, as plain borrowed data. `server::grpc` builds
//! it from a CheckRequest without copying header values.

use std::collections::HashMap;

use smallvec::SmallVec;

/// A request's header entries: a typical request's are kept inline.
pub(crate) type Headers<'a> = SmallVec<[(&'a str, &'a [u8]); 16]>;

/// The attributes of one HTTP request that a decision may look at.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest<'a> {
    pub method: &'a str,
    /// `Host` / `:authority`.
    pub host: &'a str,
    /// Request target as sent: path plus query string, not decoded.
    pub path: &'a str,
    /// Header entries in arrival order. Names compare case-insensitively.
    pub headers: Headers<'a>,
    /// Per-route hints from Envoy's `check_settings.context_extensions`.
    pub context_extensions: Option<&'a HashMap<String, String>>,
}

impl<'a> HttpRequest<'a> {
    /// Every value of header `name` (one per entry; a merged entry stays merged).
    pub fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a [u8]> + 's {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v)
    }

    /// The path without its query string.
    pub fn path_only(&self) -> &'a str {
        self.path.split_once('?').map_or(self.path, |(path, _)| path)
    }

    /// The raw query string, if any (without `?`, fragment cut off).
    pub fn query(&self) -> Option<&'a str> {
        let (_, query) = self.path.split_once('?')?;
        Some(query.split_once('#').map_or(query, |(q, _)| q))
    }
}

#[cfg(test)]
mod tests;
