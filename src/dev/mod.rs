//! Local development signing keys and token minting.
//!
//! gatehouse only ever *verifies* tokens. This module is the other half, so that a
//! demo, an integration test or a benchmark runs without an identity provider:
//! `keygen` writes a key pair, the service loads the public half as an ordinary
//! JWKS file, and `mint` signs tokens with the private half. Nothing here is on
//! the request path.
//!
//! Signing uses aws-lc-rs directly (the library the verifier uses) with key pairs
//! parsed once per [`SigningKey`]: jsonwebtoken's signer would re-parse the key on
//! every token and wants RSA keys as PKCS#1, which aws-lc-rs does not export.
//!
//! # Private-key file format
//!
//! `signing-key.json` is a JSON object of our own, deliberately not a JWK so it can
//! never be mistaken for (or published as) a key set:
//!
//! ```json
//! {"alg": "ES256", "kid": "dev-1", "pkcs8": "MIGHAgEAMBMGByqGSM49..."}
//! {"alg": "HS256", "kid": "dev-1", "secret": "q83vEjRWeJq8..."}
//! ```
//!
//! `pkcs8` (RS\*, PS\*, ES\*, EdDSA) is an unencrypted PKCS#8 v1 private key in DER,
//! `secret` (HS\*) the raw HMAC secret; both in standard padded base64, so
//! `jq -r .pkcs8 signing-key.json | base64 -d | openssl pkey -inform DER` reads it.
//! The file is written with mode 0600 but is not encrypted: development only. For
//! HS\* keys the "public" JWKS holds the same secret (`kty: oct`), as it must.

use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod api_key;
mod echo;
mod probe;
mod request;
#[cfg(test)]
pub(crate) mod testing;

pub(crate) use api_key::{run_api_key, ApiKeyArgs};
pub use echo::echo_router;
pub(crate) use echo::{run_echo, EchoArgs};
pub(crate) use probe::{build_request, render, run_check, CheckArgs, RequestArgs};
pub use request::CheckRequestBuilder;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
use aws_lc_rs::{hmac, rsa};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use serde_json::{Map, Value};

use crate::alg::{Algorithm, KeyFamily};
use crate::clock::unix_now;

/// Default `iss` of minted tokens; a demo provider config uses the same value.
pub const DEFAULT_ISSUER: &str = "https://gatehouse.local";

/// How long before now `--expired` tokens expired: well past any clock-skew
/// leeway a verifier is likely to grant, so the demo 401 is reliable.
const EXPIRED_AGO: Duration = Duration::from_secs(300);

/// Everything that can go wrong generating, loading or using a development key.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("could not generate a {0} key")]
    KeyGeneration(Algorithm),
    #[error("signing with {0} failed")]
    Signing(Algorithm),
    #[error("invalid signing key file: {0}")]
    KeyFileJson(#[source] serde_json::Error),
    #[error("invalid signing key file: a {alg} key needs a `{member}` member")]
    KeyFileMember { alg: Algorithm, member: &'static str },
    #[error("invalid signing key file: `{member}` is not valid base64: {source}")]
    KeyFileBase64 { member: &'static str, source: base64::DecodeError },
    #[error("invalid signing key file: not a valid {alg} private key: {source}")]
    KeyRejected { alg: Algorithm, source: aws_lc_rs::error::KeyRejected },
    #[error("invalid signing key file: {alg} needs a secret of {min_len}+ bytes, not {len}")]
    SecretTooShort { alg: Algorithm, min_len: usize, len: usize },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("invalid --claim `{0}`: {1}")]
    Claim(String, &'static str),
    #[error("invalid `{0}`: write a header as `name: value`, a context extension as `key=value`")]
    Header(String),
    #[error("cannot reach gatehouse at {addr}: {source}")]
    Connect { addr: String, source: tonic::transport::Error },
    #[error("the Check to {addr} failed: {source}")]
    Rpc { addr: String, source: tonic::Status },
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("serving on {addr} failed: {source}")]
    Serve { addr: SocketAddr, source: std::io::Error },
    #[error("the system random number generator failed")]
    Random,
}

/// A private key (or HMAC secret) for one algorithm, ready to sign tokens.
pub struct SigningKey {
    alg: Algorithm,
    kid: String,
    signer: Signer,
    /// PKCS#8 DER, or the raw secret for HMAC: exactly what `to_json` writes.
    private: Vec<u8>,
}

enum Signer {
    Rsa(rsa::KeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    /// Boxed: an HMAC key is over a kilobyte, the others are pointers.
    Hmac(Box<hmac::Key>),
}

/// The on-disk private-key file; see the module doc.
#[derive(serde::Deserialize)]
struct KeyFile {
    alg: Algorithm,
    kid: String,
    pkcs8: Option<String>,
    secret: Option<String>,
}

// === impl SigningKey ===

impl SigningKey {
    /// A fresh key: RSA 2048 for RS*/PS*, P-256 for ES256, P-384 for ES384,
    /// Ed25519 for EdDSA and 64 random bytes (enough for HS512) for HS*.
    pub fn generate(alg: Algorithm, kid: impl Into<String>) -> Result<Self, DevError> {
        let private = match alg.family() {
            KeyFamily::Rsa => rsa::KeyPair::generate(rsa::KeySize::Rsa2048)
                .and_then(|pair| pair.as_der())
                .map(|der| der.as_ref().to_vec()),
            KeyFamily::Ec => EcdsaKeyPair::generate(ec_signing(alg))
                .and_then(|pair| pair.to_pkcs8v1())
                .map(|der| der.as_ref().to_vec()),
            KeyFamily::Okp => {
                Ed25519KeyPair::generate().and_then(|pair| pair.to_pkcs8v1()).map(|der| der.as_ref().to_vec())
            }
            KeyFamily::Hmac => {
                let mut secret = vec![0u8; 64];
                aws_lc_rs::rand::fill(&mut secret).map(|()| secret)
            }
        }
        .map_err(|_| DevError::KeyGeneration(alg))?;
        // Going through the serialized form keeps a single construction path,
        // so a generated key behaves exactly like one loaded from its file.
        Self::from_private(alg, kid.into(), private).map_err(|_| DevError::KeyGeneration(alg))
    }

    /// An HS256/384/512 key over a given secret, for fixtures that must
    /// match a secret configured elsewhere.
    pub fn from_secret(alg: Algorithm, kid: impl Into<String>, secret: &[u8]) -> Result<Self, DevError> {
        Self::from_private(alg, kid.into(), secret.to_vec())
    }

    fn from_private(alg: Algorithm, kid: String, private: Vec<u8>) -> Result<Self, DevError> {
        let rejected = |source| DevError::KeyRejected { alg, source };
        let signer = match alg.family() {
            KeyFamily::Rsa => Signer::Rsa(rsa::KeyPair::from_pkcs8(&private).map_err(rejected)?),
            KeyFamily::Ec => {
                Signer::Ec(EcdsaKeyPair::from_pkcs8(ec_signing(alg), &private).map_err(rejected)?)
            }
            KeyFamily::Okp => Signer::Ed(Ed25519KeyPair::from_pkcs8(&private).map_err(rejected)?),
            KeyFamily::Hmac => {
                // The verifier refuses secrets shorter than the hash (RFC 7518 §3.2);
                // failing here beats minting tokens that can never verify.
                let (digest, min_len) = hmac_params(alg);
                if private.len() < min_len {
                    return Err(DevError::SecretTooShort { alg, min_len, len: private.len() });
                }
                Signer::Hmac(Box::new(hmac::Key::new(digest, &private)))
            }
        };
        Ok(Self { alg, kid, signer, private })
    }

    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The JWK a verifier needs, with `kid`, `alg` and `use: sig`. For HS* keys
    /// this is the secret itself.
    pub fn public_jwk(&self) -> Value {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let members: Vec<(&str, String)> = match &self.signer {
            Signer::Rsa(pair) => {
                let public = pair.public_key();
                vec![
                    ("kty", "RSA".into()),
                    ("n", b64(public.modulus().big_endian_without_leading_zero())),
                    ("e", b64(public.exponent().big_endian_without_leading_zero())),
                ]
            }
            Signer::Ec(pair) => {
                // An uncompressed point: 0x04 || x || y, both coordinates the same length.
                let coordinates = pair.public_key().as_ref().get(1..).unwrap_or_default();
                let (x, y) = coordinates.split_at(coordinates.len() / 2);
                let crv = if self.alg == Algorithm::ES384 { "P-384" } else { "P-256" };
                vec![("kty", "EC".into()), ("crv", crv.into()), ("x", b64(x)), ("y", b64(y))]
            }
            Signer::Ed(pair) => {
                vec![("kty", "OKP".into()), ("crv", "Ed25519".into()), ("x", b64(pair.public_key().as_ref()))]
            }
            Signer::Hmac(_) => vec![("kty", "oct".into()), ("k", b64(&self.private))],
        };
        let mut jwk: Map<String, Value> =
            members.into_iter().map(|(k, v)| (k.to_owned(), v.into())).collect();
        jwk.insert("kid".into(), self.kid.clone().into());
        jwk.insert("alg".into(), self.alg.as_str().into());
        jwk.insert("use".into(), "sig".into());
        Value::Object(jwk)
    }

    /// The shared secret of an HS* key, for tests that sign tokens by other means.
    pub fn hmac_secret(&self) -> Option<&[u8]> {
        matches!(self.signer, Signer::Hmac(_)).then_some(self.private.as_slice())
    }

    /// The private-key file contents (format in the module doc).
    pub fn to_json(&self) -> String {
        let member = if self.alg.is_symmetric() { "secret" } else { "pkcs8" };
        let mut file = Map::new();
        file.insert("alg".into(), self.alg.as_str().into());
        file.insert("kid".into(), self.kid.clone().into());
        file.insert(member.into(), STANDARD.encode(&self.private).into());
        format!("{:#}", Value::Object(file))
    }

    /// Loads a key written by [`SigningKey::to_json`].
    pub fn from_json(text: &str) -> Result<Self, DevError> {
        let file: KeyFile = serde_json::from_str(text).map_err(DevError::KeyFileJson)?;
        let (member, encoded) =
            if file.alg.is_symmetric() { ("secret", file.secret) } else { ("pkcs8", file.pkcs8) };
        let encoded = encoded.ok_or(DevError::KeyFileMember { alg: file.alg, member })?;
        let private =
            STANDARD.decode(encoded.trim()).map_err(|source| DevError::KeyFileBase64 { member, source })?;
        Self::from_private(file.alg, file.kid, private)
    }

    /// A compact JWS over `header_json` and `payload_json` used byte for byte,
    /// so tests can craft headers a well-behaved issuer never would.
    pub fn sign_raw(&self, header_json: &[u8], payload_json: &[u8]) -> Result<String, DevError> {
        let signing_input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header_json), URL_SAFE_NO_PAD.encode(payload_json));
        let signature = self.signature(signing_input.as_bytes())?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    /// A JWT with header `{"alg":..,"typ":"JWT","kid":..}` and `claims` as payload.
    pub fn mint(&self, claims: &Value) -> Result<String, DevError> {
        // Written out rather than through a map, which would sort the members.
        let header =
            format!(r#"{{"alg":"{}","typ":"JWT","kid":{}}}"#, self.alg, Value::from(self.kid.as_str()));
        self.sign_raw(header.as_bytes(), claims.to_string().as_bytes())
    }

    fn signature(&self, message: &[u8]) -> Result<Vec<u8>, DevError> {
        let failed = |_| DevError::Signing(self.alg);
        match &self.signer {
            Signer::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(rsa_encoding(self.alg), &SystemRandom::new(), message, &mut signature)
                    .map_err(failed)?;
                Ok(signature)
            }
            Signer::Ec(pair) => {
                pair.sign(&SystemRandom::new(), message).map(|s| s.as_ref().to_vec()).map_err(failed)
            }
            Signer::Ed(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            Signer::Hmac(key) => Ok(hmac::sign(key, message).as_ref().to_vec()),
        }
    }
}

/// Never prints key material.
impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("alg", &self.alg).field("kid", &self.kid).finish_non_exhaustive()
    }
}

/// JWS fixes ECDSA signatures as r || s, not ASN.1 DER, hence the FIXED variants.
fn ec_signing(alg: Algorithm) -> &'static sig::EcdsaSigningAlgorithm {
    match alg {
        Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
        _ => &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
    }
}

/// The hash and the shortest secret each HS algorithm accepts.
fn hmac_params(alg: Algorithm) -> (hmac::Algorithm, usize) {
    match alg {
        Algorithm::HS384 => (hmac::HMAC_SHA384, 48),
        Algorithm::HS512 => (hmac::HMAC_SHA512, 64),
        _ => (hmac::HMAC_SHA256, 32),
    }
}

/// PS* use a salt as long as the hash, as RFC 7518 §3.5 requires.
fn rsa_encoding(alg: Algorithm) -> &'static dyn sig::RsaEncoding {
    match alg {
        Algorithm::RS384 => &sig::RSA_PKCS1_SHA384,
        Algorithm::RS512 => &sig::RSA_PKCS1_SHA512,
        Algorithm::PS256 => &sig::RSA_PSS_SHA256,
        Algorithm::PS384 => &sig::RSA_PSS_SHA384,
        Algorithm::PS512 => &sig::RSA_PSS_SHA512,
        _ => &sig::RSA_PKCS1_SHA256,
    }
}

/// `{"keys":[...]}` with the public JWK of each key, pretty-printed for humans.
pub fn jwks_json(keys: &[&SigningKey]) -> String {
    let keys: Vec<Value> = keys.iter().map(|key| key.public_jwk()).collect();
    format!("{:#}", serde_json::json!({ "keys": keys }))
}

// === CLI ===

/// Generate a development signing key and the JWKS that verifies it.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub(crate) struct KeygenArgs {
    /// Signature algorithm. RS*/PS* make an RSA 2048 key, ES256 a P-256 key, ES384 a
    /// P-384 key, EdDSA an Ed25519 key, HS* a 64-byte shared secret (which then also
    /// sits in jwks.json, as HMAC verification needs it).
    #[arg(long, default_value_t = Algorithm::ES256, value_parser = algorithm_parser())]
    pub(crate) alg: Algorithm,
    /// Key ID, written into the JWKS and into the header of every minted token.
    #[arg(long, default_value = "dev-1")]
    pub(crate) kid: String,
    /// Directory for jwks.json (public: point a provider's JWKS file at it) and
    /// signing-key.json (private, mode 0600). Created if missing; existing files are replaced.
    #[arg(long, value_name = "DIR")]
    pub(crate) out_dir: PathBuf,
}

/// Mint a signed JWT with a key made by `keygen`.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub(crate) struct MintArgs {
    /// Private key file written by `keygen` (signing-key.json).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// Subject (`sub`): who the token is about, e.g. a user ID.
    #[arg(long)]
    pub(crate) sub: Option<String>,
    /// Issuer (`iss`); must match the issuer configured for the provider.
    #[arg(long, default_value = DEFAULT_ISSUER)]
    pub(crate) iss: String,
    /// Audience (`aud`). Repeat for several: one is written as a string, several as an array.
    #[arg(long, value_name = "AUD")]
    pub(crate) aud: Vec<String>,
    /// Space-delimited scopes for the `scope` claim, e.g. "orders:read orders:write".
    #[arg(long)]
    pub(crate) scope: Option<String>,
    /// Lifetime: `exp` is `iat` plus this, e.g. 90s, 15m, 1h, 2days.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub(crate) ttl: Duration,
    /// Extra claim, repeatable. VALUE is JSON if it parses (42, true, ["a","b"]), else a
    /// string. A dotted KEY nests: org.id=7 gives {"org":{"id":7}}. Applied last, so it
    /// can override any claim above.
    #[arg(long, value_name = "KEY=VALUE")]
    pub(crate) claim: Vec<String>,
    /// Make the token valid only this long from now (`nbf`), to demo "not yet valid".
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub(crate) not_before_in: Option<Duration>,
    /// Mint a token that expired five minutes ago, to demo a rejected (401) request.
    #[arg(long)]
    pub(crate) expired: bool,
}

impl MintArgs {
    /// The arguments `mint --key FILE` would give, for tests that call [`run_mint`].
    #[cfg(test)]
    pub(crate) fn new(key: impl Into<PathBuf>) -> Self {
        Self {
            key: key.into(),
            sub: None,
            iss: DEFAULT_ISSUER.to_owned(),
            aud: Vec::new(),
            scope: None,
            ttl: Duration::from_secs(3600), // the `--ttl` default, "1h"
            claim: Vec::new(),
            not_before_in: None,
            expired: false,
        }
    }
}

/// Lists the names in `--help` and in the error for a bad one.
fn algorithm_parser() -> impl TypedValueParser<Value = Algorithm> {
    PossibleValuesParser::new(Algorithm::ALL.map(Algorithm::as_str)).try_map(|name| name.parse::<Algorithm>())
}

/// Writes `DIR/jwks.json` and `DIR/signing-key.json` and says what to do next.
pub(crate) fn run_keygen(args: &KeygenArgs) -> Result<(), DevError> {
    let key = SigningKey::generate(args.alg, args.kid.clone())?;
    fs::create_dir_all(&args.out_dir)
        .map_err(|source| DevError::Io { path: args.out_dir.clone(), source })?;
    let jwks_path = args.out_dir.join("jwks.json");
    let key_path = args.out_dir.join("signing-key.json");
    write_file(&jwks_path, &jwks_json(&[&key]), false)?;
    write_file(&key_path, &key.to_json(), true)?;
    println!("public JWKS:  {}", jwks_path.display());
    println!("signing key:  {}", key_path.display());
    println!("next: gatehouse dev mint --key {} --sub alice --aud <audience>", key_path.display());
    Ok(())
}

/// Signs a token with the claims `args` describe; the caller prints it.
pub(crate) fn run_mint(args: &MintArgs) -> Result<String, DevError> {
    let text =
        fs::read_to_string(&args.key).map_err(|source| DevError::Io { path: args.key.clone(), source })?;
    let key = SigningKey::from_json(&text)?;
    key.mint(&build_claims(args, unix_now())?)
}

fn write_file(path: &Path, contents: &str, private: bool) -> Result<(), DevError> {
    let failed = |source| DevError::Io { path: path.to_owned(), source };
    let mut file = fs::File::create(path).map_err(failed)?;
    // Restrict before writing, so the secret is never readable by others, even
    // when replacing a file a previous run left with looser permissions.
    if private {
        owner_only(&file).map_err(failed)?;
    }
    file.write_all(format!("{contents}\n").as_bytes()).map_err(failed)
}

#[cfg(unix)]
fn owner_only(file: &fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn owner_only(_file: &fs::File) -> std::io::Result<()> {
    Ok(())
}

fn build_claims(args: &MintArgs, now: u64) -> Result<Value, DevError> {
    let ttl = args.ttl.as_secs();
    // An expired token keeps its full lifetime, just shifted into the past.
    let exp = if args.expired { now.saturating_sub(EXPIRED_AGO.as_secs()) } else { now.saturating_add(ttl) };
    let mut claims = Map::new();
    claims.insert("iss".into(), args.iss.clone().into());
    if let Some(sub) = &args.sub {
        claims.insert("sub".into(), sub.clone().into());
    }
    match args.aud.as_slice() {
        [] => None,
        [one] => claims.insert("aud".into(), one.as_str().into()),
        many => claims.insert("aud".into(), many.into()),
    };
    if let Some(scope) = &args.scope {
        claims.insert("scope".into(), scope.clone().into());
    }
    claims.insert("iat".into(), exp.saturating_sub(ttl).into());
    claims.insert("exp".into(), exp.into());
    if let Some(delay) = args.not_before_in {
        claims.insert("nbf".into(), now.saturating_add(delay.as_secs()).into());
    }
    // A unique ID, so two tokens minted in the same second still differ.
    claims.insert("jti".into(), URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>()).into());
    for spec in &args.claim {
        set_claim(&mut claims, spec)?;
    }
    Ok(Value::Object(claims))
}

/// Applies one `KEY=VALUE`, creating (or merging into) objects along a dotted KEY.
fn set_claim(claims: &mut Map<String, Value>, spec: &str) -> Result<(), DevError> {
    let bad = |why: &'static str| DevError::Claim(spec.to_owned(), why);
    let (key, raw) = spec.split_once('=').ok_or_else(|| bad("expected KEY=VALUE"))?;
    let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()));
    let mut path: Vec<&str> = key.split('.').collect();
    if path.iter().any(|segment| segment.is_empty()) {
        return Err(bad("KEY has an empty name or dotted segment"));
    }
    let last = path.pop().unwrap_or_default();
    let mut target = claims;
    for segment in path {
        target = target
            .entry(segment)
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .ok_or_else(|| bad("a dotted KEY runs through a claim that is not an object"))?;
    }
    target.insert(last.to_owned(), value);
    Ok(())
}

#[cfg(test)]
mod tests;
