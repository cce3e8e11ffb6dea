//! Where a provider's token is found (`from_headers`, `from_params`,
//! `from_cookies`, or jwt_authn's defaults) and what goes upstream after it
//! verifies (`forward`, `forward_payload_header`, `claim_to_headers`).

use super::input::Node;
use super::model::{Note, TokenSource};
use super::providers::unknown_field;
use super::ImportError;

/// The header jwt_authn reads when a provider names no location, and its scheme.
const DEFAULT_HEADER: (&str, &str) = ("authorization", "Bearer ");
/// The query parameter jwt_authn also reads then (RFC 6750 §2.3).
const DEFAULT_PARAM: &str = "access_token";

/// `token_sources`, in jwt_authn's order: headers, then parameters, then cookies.
pub(crate) fn token_sources(node: &Node<'_>, notes: &mut Vec<Note>) -> Result<Vec<TokenSource>, ImportError> {
    let mut sources = Vec::new();
    if let Some(headers) = node.get("from_headers") {
        for header in headers.items()? {
            sources.push(header_source(&header, notes)?);
        }
    }
    for (field, source) in [
        ("from_params", TokenSource::Query as fn(String) -> TokenSource),
        ("from_cookies", TokenSource::Cookie),
    ] {
        if let Some(names) = node.get(field) {
            sources.extend(names.strings()?.into_iter().map(|name| source(name.to_owned())));
        }
    }
    if sources.is_empty() {
        notes.push(Note::info(format!(
            "{}: no from_headers, from_params or from_cookies, so jwt_authn reads `Authorization: Bearer` and the `access_token` query parameter; both are listed",
            node.path
        )));
        let (name, prefix) = DEFAULT_HEADER;
        sources.push(TokenSource::Header { name: name.to_owned(), prefix: Some(prefix.to_owned()) });
        sources.push(TokenSource::Query(DEFAULT_PARAM.to_owned()));
    }
    Ok(sources)
}

/// One `from_headers[]` entry (`JwtHeader`).
fn header_source(node: &Node<'_>, notes: &mut Vec<Note>) -> Result<TokenSource, ImportError> {
    let name = node.required("name")?.string()?.to_owned();
    let prefix = node.get("value_prefix").map(|p| p.string()).transpose()?.unwrap_or_default();
    notes.extend(node.unknown_fields(&["name", "value_prefix"]).into_iter().map(unknown_field));
    if prefix.is_empty() {
        return Ok(TokenSource::Header { name, prefix: None });
    }
    // gatehouse reads `<scheme><spaces><token>`; jwt_authn skips to the first
    // base64url character after the prefix, so a prefix that does not end in
    // a space also reads `<prefix><token>`, which gatehouse refuses (400).
    if !prefix.ends_with(' ') {
        notes.push(Note::decision(format!(
            "{}.value_prefix: {prefix:?} does not end with a space: jwt_authn also takes a token written right after it (`{prefix}<token>`), gatehouse refuses that as malformed (400) and needs whitespace between the two",
            node.path
        )));
    }
    Ok(TokenSource::Header { name, prefix: Some(prefix.to_owned()) })
}

/// What goes upstream after a token verifies.
pub(crate) struct Upstream {
    pub(crate) claims_to_headers: Vec<(String, String)>,
    pub(crate) payload_header: Option<String>,
    pub(crate) forward_token: bool,
}

pub(crate) fn upstream(node: &Node<'_>, notes: &mut Vec<Note>) -> Result<Upstream, ImportError> {
    let mut claims_to_headers = Vec::new();
    if let Some(list) = node.get("claim_to_headers") {
        for entry in list.items()? {
            let claim = entry.required("claim_name")?.string()?.to_owned();
            let header = entry.required("header_name")?.string()?.to_owned();
            notes.extend(entry.unknown_fields(&["claim_name", "header_name"]).into_iter().map(unknown_field));
            claims_to_headers.push((claim, header));
        }
    }
    let payload_header =
        node.get("forward_payload_header").map(|h| h.string().map(str::to_owned)).transpose()?;
    let payload_header = payload_header.filter(|h| !h.is_empty());
    let forward_token = node.get("forward").map(|f| f.boolean()).transpose()?.unwrap_or(false);
    Ok(Upstream { claims_to_headers, payload_header, forward_token })
}
