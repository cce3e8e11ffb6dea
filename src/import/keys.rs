//! A provider's keys: `remote_jwks` as `jwks.uri` with its timing,
//! `local_jwks` as `jwks.file` or `jwks.inline`. An inline key set is read
//! the way gatehouse will read it, so that every key gatehouse would skip is
//! named (tokens signed with it would be refused).

use std::time::Duration;

use base64::Engine;

use super::input::Node;
use super::model::{Jwks, JwksSource, Note};
use super::providers::unknown_field;
use super::ImportError;
use crate::alg::Algorithm;

/// gatehouse's shortest `jwks.refresh_interval`.
const MIN_REFRESH: Duration = Duration::from_secs(1);
/// gatehouse's default `jwks.max_stale`; a longer refresh interval needs a longer one.
const DEFAULT_MAX_STALE: Duration = Duration::from_secs(24 * 3600);

/// The `jwks` block, and `algorithms` when the keys need other than the default.
pub(crate) fn jwks(
    node: &Node<'_>,
    name: &str,
    notes: &mut Vec<Note>,
) -> Result<(Jwks, Option<Vec<&'static str>>), ImportError> {
    match (node.get("remote_jwks"), node.get("local_jwks")) {
        (Some(remote), None) => Ok((remote_jwks(&remote, notes)?, None)),
        (None, Some(local)) => local_jwks(&local, name, notes),
        (Some(_), Some(_)) => Err(node.invalid("both `remote_jwks` and `local_jwks`: jwt_authn takes one")),
        (None, None) => Err(node.invalid("neither `remote_jwks` nor `local_jwks`: jwt_authn needs one")),
    }
}

fn remote_jwks(node: &Node<'_>, notes: &mut Vec<Note>) -> Result<Jwks, ImportError> {
    let http_uri = node.required("http_uri")?;
    let uri_node = http_uri.required("uri")?;
    let uri = uri_node.string()?;
    let url = url::Url::parse(uri).map_err(|e| uri_node.invalid(format!("not a URL ({e})")))?;
    let mut jwks = Jwks { source: JwksSource::Uri(uri.to_owned()), ..Jwks::default() };
    match url.scheme() {
        "https" => {}
        "http" => jwks.allow_http = !is_loopback(&url),
        other => return Err(uri_node.invalid(format!("scheme `{other}`: expected http or https"))),
    }
    if let Some(cluster) = http_uri.get("cluster") {
        notes.push(Note::info(format!(
            "{}: gatehouse fetches the JWKS itself, not through Envoy cluster `{}`: it must reach the URL, and TLS follows the URL's scheme{}",
            cluster.path,
            cluster.string()?,
            if jwks.allow_http { " (plain http to a host other than loopback needs `allow_http: true`; if the cluster used TLS, write https and drop allow_http)" } else { "" }
        )));
    }
    jwks.timeout = http_uri.get("timeout").map(|t| t.duration()).transpose()?.filter(|t| !t.is_zero());
    if let Some(cache) = node.get("cache_duration") {
        let interval = cache.duration()?.max(MIN_REFRESH);
        jwks.refresh_interval = Some(interval);
        jwks.max_stale = (interval > DEFAULT_MAX_STALE).then_some(interval);
    }
    for (field, why) in [
        ("async_fetch", "gatehouse always fetches at start-up and refreshes in the background"),
        ("retry_policy", "gatehouse retries a failed fetch itself, backing off up to refresh_interval"),
    ] {
        if let Some(present) = node.get(field) {
            notes.push(Note::info(format!("{}: no equivalent; {why}", present.path)));
        }
    }
    let unknown =
        node.unknown_fields(&["http_uri", "cache_duration", "async_fetch", "retry_policy"]).into_iter();
    notes.extend(unknown.chain(http_uri.unknown_fields(&["uri", "cluster", "timeout"])).map(unknown_field));
    Ok(jwks)
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// `local_jwks`, a `DataSource`: exactly one of its fields.
fn local_jwks(
    node: &Node<'_>,
    name: &str,
    notes: &mut Vec<Note>,
) -> Result<(Jwks, Option<Vec<&'static str>>), ImportError> {
    const FIELDS: [&str; 4] = ["filename", "inline_string", "inline_bytes", "environment_variable"];
    let set: Vec<(&str, Node<'_>)> =
        FIELDS.iter().filter_map(|field| node.get(field).map(|source| (*field, source))).collect();
    let [(field, source)] = set.as_slice() else {
        return Err(node.invalid(format!("expected exactly one of {}", FIELDS.join(", "))));
    };
    notes.extend(node.unknown_fields(&FIELDS).into_iter().map(unknown_field));
    let jwks = |source| Jwks { source, ..Jwks::default() };
    match *field {
        "filename" => {
            notes.push(Note::info(format!(
                "{}: gatehouse reads the file at start-up and again whenever it changes; jwt_authn reads it once",
                source.path
            )));
            Ok((jwks(JwksSource::File(source.string()?.to_owned())), None))
        }
        "inline_bytes" => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(source.string()?)
                .map_err(|e| source.invalid(format!("not base64 ({e})")))?;
            let text = String::from_utf8(bytes).map_err(|_| source.invalid("not UTF-8 text"))?;
            Ok(inline(&text, source, name, notes))
        }
        "inline_string" => Ok(inline(source.string()?, source, name, notes)),
        _ => {
            notes.push(Note::decision(format!(
                "{}: gatehouse cannot read a JWKS from an environment variable: write the JWKS to a file and replace the placeholder path below (until then this provider's tokens are refused)",
                source.path
            )));
            Ok((jwks(placeholder(name)), None))
        }
    }
}

fn placeholder(name: &str) -> JwksSource {
    JwksSource::File(format!("/etc/gatehouse/{name}-jwks.json"))
}

/// An inline JWKS: compacted, and checked key by key as gatehouse will load it.
fn inline(
    text: &str,
    node: &Node<'_>,
    name: &str,
    notes: &mut Vec<Note>,
) -> (Jwks, Option<Vec<&'static str>>) {
    let document = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .filter(|doc| doc.get("keys").is_some_and(serde_json::Value::is_array));
    let Some(document) = document else {
        notes.push(Note::decision(format!(
            "{}: not a JWKS document (a JSON object with `keys`), so jwt_authn has no key for this provider; a placeholder file is written instead",
            node.path
        )));
        return (Jwks { source: placeholder(name), ..Jwks::default() }, None);
    };
    let compact = document.to_string();
    let (allowed, algorithms) = algorithms_for(&document);
    match crate::keys::parse_jwks(compact.as_bytes(), &allowed, crate::keys::DEFAULT_MAX_KEYS) {
        Ok(loaded) => {
            for skipped in loaded.skipped {
                notes.push(Note::decision(format!(
                    "{}: key {} is not used by gatehouse ({}); jwt_authn accepts tokens signed with it, gatehouse refuses them",
                    node.path,
                    skipped.kid.map_or_else(|| "without kid".to_owned(), |kid| format!("`{kid}`")),
                    skipped.reason
                )));
            }
            (Jwks { source: JwksSource::Inline(compact), ..Jwks::default() }, algorithms)
        }
        Err(error) => {
            notes.push(Note::decision(format!(
                "{}: gatehouse cannot load this JWKS ({error}); a placeholder file is written instead",
                node.path
            )));
            (Jwks { source: placeholder(name), ..Jwks::default() }, None)
        }
    }
}

/// An HMAC key set (only `oct` keys) needs `algorithms: [HS256, HS384,
/// HS512]`; anything else gatehouse's default, every asymmetric algorithm.
fn algorithms_for(document: &serde_json::Value) -> (Vec<Algorithm>, Option<Vec<&'static str>>) {
    let keys = document.get("keys").and_then(serde_json::Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let hmac_only = !keys.is_empty() && keys.iter().all(|key| key.get("kty").is_some_and(|kty| kty == "oct"));
    let allowed: Vec<Algorithm> =
        Algorithm::ALL.into_iter().filter(|alg| alg.is_symmetric() == hmac_only).collect();
    let names = hmac_only.then(|| allowed.iter().map(|alg| alg.as_str()).collect());
    (allowed, names)
}
