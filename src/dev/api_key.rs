//! `gatehouse dev api-key`: a new random API key and the line of the
//! `api_keys.file` that accepts it (its SHA-256, never the key).

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

use super::DevError;

/// Random bytes in a key: 256 bits.
const KEY_BYTES: usize = 32;
/// Marks a gatehouse key in logs of other tools and in secret scanners.
const KEY_PREFIX: &str = "gh_";

/// Print a new API key and its entry for an `api_keys.file`.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub(crate) struct ApiKeyArgs {
    /// Subject (`sub`): who holds the key, e.g. a partner's client id.
    #[arg(long)]
    pub(crate) sub: String,
    /// Space-delimited scopes for the `scope` claim.
    #[arg(long)]
    pub(crate) scope: Option<String>,
}

/// A new key and its file entry.
pub(crate) struct NewApiKey {
    pub(crate) key: String,
    pub(crate) entry: String,
}

pub(crate) fn new_api_key(args: &ApiKeyArgs) -> Result<NewApiKey, DevError> {
    let mut bytes = [0u8; KEY_BYTES];
    SystemRandom::new().fill(&mut bytes).map_err(|_| DevError::Random)?;
    let key = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let mut claims = Map::new();
    claims.insert("sub".into(), Value::from(args.sub.as_str()));
    if let Some(scope) = &args.scope {
        claims.insert("scope".into(), Value::from(scope.as_str()));
    }
    // JSON is YAML: the claims go in as one flow mapping, quoted as needed.
    let entry =
        format!("- key_sha256: {}\n  claims: {}\n", crate::keys::key_sha256_hex(&key), Value::Object(claims));
    Ok(NewApiKey { key, entry })
}

/// Prints the key (once: it is not stored anywhere) and the entry.
pub(crate) fn run_api_key(args: &ApiKeyArgs) -> Result<String, DevError> {
    let NewApiKey { key, entry } = new_api_key(args)?;
    Ok(format!(
        "# the key (give it to the client; it is not stored anywhere):\n{key}\n\
         # its entry for the providers[].api_keys.file:\n{entry}"
    ))
}
