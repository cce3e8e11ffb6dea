//! `providers`: each jwt_authn `JwtProvider` as a gatehouse provider. The
//! key source is read in `keys`, the token locations and what goes upstream
//! in `locations`; this file holds the provider's identity (name, issuer,
//! audiences), its time rules and the fields gatehouse has no place for.

use std::collections::HashSet;
use std::time::Duration;

use super::input::Node;
use super::model::{Note, Provider};
use super::{keys, locations, ImportError};

/// A provider as mapped, with what the rules need to know of its input.
#[derive(Debug, Clone)]
pub(crate) struct Mapped {
    /// Its name in the jwt_authn config (rules refer to it by this).
    pub(crate) input: String,
    pub(crate) provider: Provider,
    /// Its audiences as jwt_authn compares them (see [`sanitize_audience`]).
    pub(crate) audiences: Vec<String>,
}

/// Fields of a `JwtProvider` gatehouse has no place for, and what that means.
const NO_EQUIVALENT: &[(&str, &str, bool)] = &[
    ("subjects", "gatehouse has no provider-wide check of `sub`; add a `claims` condition on `sub` to the rules that need it (until then, tokens with any subject pass)", true),
    ("payload_in_metadata", "gatehouse puts claims in the ext_authz filter's dynamic metadata (`dynamic_metadata.claims`, namespace envoy.filters.http.ext_authz), not under envoy.filters.http.jwt_authn: filters reading that metadata (RBAC, Lua, access logs) must read the new place", false),
    ("normalize_payload_in_metadata", "see payload_in_metadata: gatehouse's metadata carries claims as they are", false),
    ("header_in_metadata", "gatehouse does not put the JWS header in dynamic metadata", false),
    ("failed_status_in_metadata", "a gatehouse deny carries `decision` and `reason` in the ext_authz dynamic metadata instead", false),
    ("pad_forward_payload_header", "gatehouse sends the payload header without base64 padding", false),
    ("jwt_cache_config", "gatehouse caches verified tokens itself (`cache:`, on by default)", false),
    ("clear_route_cache", "set `clear_route_cache: true` on Envoy's ext_authz filter if routes match on the identity headers", false),
];

/// Fields this file or its helpers read.
const MAPPED: &[&str] = &[
    "issuer",
    "audiences",
    "remote_jwks",
    "local_jwks",
    "forward",
    "from_headers",
    "from_params",
    "from_cookies",
    "forward_payload_header",
    "claim_to_headers",
    "clock_skew_seconds",
    "max_lifetime",
    "require_expiration",
];

/// gatehouse refuses a larger `clock_skew`.
const MAX_CLOCK_SKEW_SECS: u64 = 3600;

/// `providers` (a map from name to `JwtProvider`), in document order.
pub(crate) fn map_providers(node: &Node<'_>) -> Result<Vec<Mapped>, ImportError> {
    let entries = node.entries()?;
    if entries.is_empty() {
        return Err(node.invalid("no provider: jwt_authn and gatehouse both need at least one"));
    }
    let mut taken = HashSet::new();
    let mut mapped = Vec::with_capacity(entries.len());
    for (input, provider) in entries {
        let name = unique_name(input, &mut taken);
        mapped.push(map_provider(input, &name, &provider)?);
    }
    Ok(mapped)
}

fn map_provider(input: &str, name: &str, node: &Node<'_>) -> Result<Mapped, ImportError> {
    node.object()?;
    let mut notes = Vec::new();
    if name != input {
        notes.push(Note::info(format!(
            "{}: named `{name}` here (gatehouse names use only a-z, 0-9, `-` and `_`)",
            node.path
        )));
    }
    let issuer = issuer(node, name, &mut notes)?;
    let (audiences, sanitized) = audiences(node, &mut notes)?;
    let (jwks, algorithms) = keys::jwks(node, name, &mut notes)?;
    let token_sources = locations::token_sources(node, &mut notes)?;
    let upstream = locations::upstream(node, &mut notes)?;
    let times = times(node, &mut notes)?;
    notes.extend(unread(node));
    let provider = Provider {
        name: name.to_owned(),
        notes,
        issuer,
        audiences,
        algorithms,
        jwks,
        token_sources,
        clock_skew: times.clock_skew,
        max_lifetime: times.max_lifetime,
        require_expiration: times.require_expiration,
        claims_to_headers: upstream.claims_to_headers,
        payload_header: upstream.payload_header,
        forward_token: upstream.forward_token,
    };
    Ok(Mapped { input: input.to_owned(), provider, audiences: sanitized })
}

/// A gatehouse provider name for a jwt_authn one: lower case, other
/// characters as `-`, made unique with a number.
fn unique_name(input: &str, taken: &mut HashSet<String>) -> String {
    let base: String = input
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' { c } else { '-' })
        .collect();
    let base = if base.is_empty() { "provider".to_owned() } else { base };
    let mut name = base.clone();
    let mut counter = 2;
    while !taken.insert(name.clone()) {
        name = format!("{base}-{counter}");
        counter += 1;
    }
    name
}

fn issuer(node: &Node<'_>, name: &str, notes: &mut Vec<Note>) -> Result<String, ImportError> {
    match node.get("issuer").map(|n| n.string().map(str::to_owned)).transpose()? {
        Some(issuer) if !issuer.is_empty() => Ok(issuer),
        _ => {
            notes.push(Note::decision(format!(
                "{}.issuer: not set, so jwt_authn accepts any `iss` from this provider's token locations; gatehouse needs the exact issuer: replace the placeholder below (until then every token of this provider is refused)",
                node.path
            )));
            Ok(format!("unset:{name}"))
        }
    }
}

/// `(spellings to list in gatehouse, audiences as jwt_authn compares them)`.
fn audiences(node: &Node<'_>, notes: &mut Vec<Note>) -> Result<(Vec<String>, Vec<String>), ImportError> {
    let Some(list) = node.get("audiences") else { return Ok((Vec::new(), Vec::new())) };
    let mut sanitized: Vec<String> = Vec::new();
    for audience in list.strings()? {
        let audience = sanitize_audience(audience);
        if audience.is_empty() {
            notes.push(Note::decision(format!(
                "{}: an empty audience is left out (gatehouse refuses one)",
                list.path
            )));
        } else if !sanitized.contains(&audience) {
            sanitized.push(audience);
        }
    }
    if !sanitized.is_empty() {
        notes.push(Note::info(format!(
            "{}: jwt_authn compares audiences without an `http://` or `https://` prefix and one trailing `/`, so every spelling it accepts is listed. A token for another audience is denied by both, with 403 by jwt_authn (\"Audiences in Jwt are not allowed\") and 401 by gatehouse",
            list.path
        )));
    }
    Ok((spellings(&sanitized), sanitized))
}

/// An audience as jwt_authn compares it: without one `http://` or
/// `https://` prefix and without one trailing `/`.
pub(crate) fn sanitize_audience(audience: &str) -> String {
    let rest =
        audience.strip_prefix("http://").or_else(|| audience.strip_prefix("https://")).unwrap_or(audience);
    rest.strip_suffix('/').unwrap_or(rest).to_owned()
}

/// Every audience string jwt_authn reads as one of `sanitized`.
pub(crate) fn spellings(sanitized: &[String]) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for audience in sanitized {
        for scheme in ["", "http://", "https://"] {
            for slash in ["", "/"] {
                let spelling = format!("{scheme}{audience}{slash}");
                if !all.contains(&spelling) {
                    all.push(spelling);
                }
            }
        }
    }
    all
}

struct Times {
    clock_skew: Option<Duration>,
    max_lifetime: Option<Duration>,
    require_expiration: bool,
}

fn times(node: &Node<'_>, notes: &mut Vec<Note>) -> Result<Times, ImportError> {
    let skew = node.get("clock_skew_seconds").map(|n| n.unsigned()).transpose()?.unwrap_or(0);
    // jwt_authn reads 0 as its default, 60 s, which is gatehouse's default too.
    let clock_skew = match skew {
        0 => None,
        secs if secs > MAX_CLOCK_SKEW_SECS => {
            notes.push(Note::decision(format!(
                "{}.clock_skew_seconds: {secs} s is more than gatehouse allows; 1h is written, so tokens within {secs} s of their `exp` or `nbf` but beyond 1h are refused",
                node.path
            )));
            Some(Duration::from_secs(MAX_CLOCK_SKEW_SECS))
        }
        secs => Some(Duration::from_secs(secs)),
    };
    let max_lifetime = node.get("max_lifetime").map(|n| n.duration()).transpose()?.filter(|d| !d.is_zero());
    if max_lifetime.is_some() {
        notes.push(Note::decision(format!(
            "{}.max_lifetime: jwt_authn bounds the time left until `exp` (exp - now); gatehouse bounds the whole lifetime (exp - iat): a token issued longer than max_lifetime ago that expires within it passes jwt_authn and is refused by gatehouse",
            node.path
        )));
    }
    let required = node.get("require_expiration").map(|n| n.boolean()).transpose()?.unwrap_or(false);
    if !required && max_lifetime.is_none() {
        notes.push(Note::info(format!(
            "{}.require_expiration: jwt_authn accepts tokens without `exp` unless it is true; gatehouse's default is true, so `false` is written out",
            node.path
        )));
    }
    // With max_lifetime, jwt_authn refuses a token without `exp`, as gatehouse does.
    Ok(Times { clock_skew, max_lifetime, require_expiration: required || max_lifetime.is_some() })
}

/// A note for every field that is not mapped.
fn unread(node: &Node<'_>) -> Vec<Note> {
    let known: Vec<&str> =
        MAPPED.iter().chain(NO_EQUIVALENT.iter().map(|(field, ..)| field)).copied().collect();
    let mut notes: Vec<Note> = NO_EQUIVALENT
        .iter()
        .filter_map(|(field, why, changes)| {
            let present = node.get(field).filter(is_set)?;
            let text = format!("{}: no equivalent; {why}", present.path);
            Some(if *changes { Note::decision(text) } else { Note::info(text) })
        })
        .collect();
    notes.extend(node.unknown_fields(&known).into_iter().map(unknown_field));
    notes
}

/// False, `""`, `[]` and `{}` are how proto JSON writes a field left at its default.
fn is_set(node: &Node<'_>) -> bool {
    match node.value {
        serde_json::Value::Bool(set) => *set,
        serde_json::Value::String(text) => !text.is_empty(),
        serde_json::Value::Array(items) => !items.is_empty(),
        serde_json::Value::Object(members) => !members.is_empty(),
        _ => true,
    }
}

/// A field this importer does not know: it may change a decision, so it counts as one.
pub(crate) fn unknown_field(path: String) -> Note {
    Note::decision(format!(
        "{path}: not a field this importer knows (or written in lowerCamelCase); it is not translated and may change decisions"
    ))
}
