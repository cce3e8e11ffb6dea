//! Attacks on JWT validation (RFC 8725, the JWT BCP, and the usual list of
//! JOSE library bugs) over real gRPC Check against an in-process gatehouse.
//!
//! Every attack must end in a deny with the right status (401 for a bad
//! token, 400 for an ambiguous credential) and, where it tells the story,
//! the right reason label (`CheckResponse.status.message`). Every test that
//! sends hostile input finishes by checking that a valid token still gets
//! an allow. Each hostile token is signed by the real key wherever possible,
//! so that the one defect under test is the only reason for the deny, and
//! each group has a control case showing the crafting helpers produce tokens
//! gatehouse accepts when nothing is wrong with them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::KeyPair as _;
use aws_lc_rs::{rsa, signature};
use base64::alphabet::URL_SAFE;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use gatehouse::internals::wire::{CheckRequest, CheckResponse};
use gatehouse_testkit::Algorithm;
use gatehouse_testkit::*;
use gatehouse_testkit::{jwks_json, unix_now, SigningKey};
use serde_json::{json, Value};

mod algorithms;
mod claims;
mod encoding;
mod keys;
mod requests;
mod spoofing;

const RS_ISS: &str = "https://rs.test";
const ES_ISS: &str = "https://es.test";
const HS_ISS: &str = "https://hs.test";
/// Same ES256 key as `es`, but `clock_skew: 0s`.
const STRICT_ISS: &str = "https://strict.test";
/// Same ES256 key as `es`, but `max_lifetime: 1h`.
const CAPPED_ISS: &str = "https://capped.test";
/// Same RSA key as `rs`, published without `alg`, algorithms not pinned.
const OPEN_ISS: &str = "https://open.test";
const AUD: &str = "api";
/// The `hs` provider's secret (32 bytes, as HS256 requires).
const HS_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

/// The P-256 group order n.
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xbc,
    0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

// === fixture ===

struct Fixture {
    /// The `rs` key as a raw key pair, to sign arbitrary signing inputs
    /// (segments that `SigningKey::sign_raw` would encode canonically).
    rs_pair: rsa::KeyPair,
    rs: SigningKey,
    es: SigningKey,
    hs: SigningKey,
    gatehouse: Gatehouse,
    _dir: tempfile::TempDir,
}

fn config(rs: &SigningKey, es: &SigningKey, secret_file: &std::path::Path) -> String {
    let rs_jwks = jwks_json(&[rs]).replace('\n', "");
    let es_jwks = jwks_json(&[es]).replace('\n', "");
    let mut open_jwk = rs.public_jwk();
    open_jwk.as_object_mut().unwrap().remove("alg");
    let open_jwks = json!({ "keys": [open_jwk] }).to_string();
    format!(
        r#"
providers:
  - name: rs
    issuer: {RS_ISS}
    audiences: [{AUD}]
    algorithms: [RS256]
    jwks: {{ inline: '{rs_jwks}' }}
    token_sources:
      - {{ header: authorization, prefix: "Bearer " }}
      - {{ query: access_token }}
    claims_to_headers:
      - {{ claim: sub, header: x-user-id }}
    payload_header: x-jwt-payload
  - name: es
    issuer: {ES_ISS}
    algorithms: [ES256]
    jwks: {{ inline: '{es_jwks}' }}
    claims_to_headers:
      - {{ claim: sub, header: x-user-id }}
  - name: hs
    issuer: {HS_ISS}
    algorithms: [HS256]
    hmac_secret: {{ file: {secret} }}
    claims_to_headers:
      - {{ claim: sub, header: x-service }}
  - name: strict
    issuer: {STRICT_ISS}
    algorithms: [ES256]
    clock_skew: 0s
    jwks: {{ inline: '{es_jwks}' }}
  - name: capped
    issuer: {CAPPED_ISS}
    algorithms: [ES256]
    max_lifetime: 1h
    jwks: {{ inline: '{es_jwks}' }}
  - name: open
    issuer: {OPEN_ISS}
    jwks: {{ inline: '{open_jwks}' }}
rules:
  - match: {{ path_prefix: /public }}
    allow: anonymous
  - match: {{ path_prefix: /rs }}
    require: {{ providers: [rs] }}
  - match: {{ path_prefix: /es }}
    require: {{ providers: [es] }}
  - match: {{ path_prefix: /hs }}
    require: {{ providers: [hs] }}
  - match: {{ path_prefix: /both }}
    require: {{ providers: [rs, hs] }}
  - match: {{ path_prefix: /strict }}
    require: {{ providers: [strict] }}
  - match: {{ path_prefix: /capped }}
    require: {{ providers: [capped] }}
  - match: {{ path_prefix: /open }}
    require: {{ providers: [open] }}
"#,
        secret = secret_file.display()
    )
}

impl Fixture {
    async fn start() -> Fixture {
        let rs_pair = rsa::KeyPair::generate(rsa::KeySize::Rsa2048).unwrap();
        let pkcs8 = rs_pair.as_der().unwrap();
        let rs = SigningKey::from_json(
            &json!({"alg": "RS256", "kid": "rs-1", "pkcs8": STANDARD.encode(pkcs8.as_ref())}).to_string(),
        )
        .unwrap();
        let es = SigningKey::generate(Algorithm::ES256, "es-1").unwrap();
        let hs = SigningKey::from_json(
            &json!({"alg": "HS256", "kid": "hs-1", "secret": STANDARD.encode(HS_SECRET)}).to_string(),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("hs.secret");
        std::fs::write(&secret, [HS_SECRET, b"\n"].concat()).unwrap();
        let gatehouse = Gatehouse::start(&config(&rs, &es, &secret)).await;
        Fixture { rs_pair, rs, es, hs, gatehouse, _dir: dir }
    }

    /// A valid `rs` token for alice, `extra` merged over (null removes a claim).
    fn rs_token(&self, extra: Value) -> String {
        self.rs.mint(&claims(RS_ISS, extra)).unwrap()
    }

    /// A valid ES256 token for the provider with issuer `iss` (es, strict, capped).
    fn es_token(&self, iss: &str, extra: Value) -> String {
        self.es.mint(&claims(iss, extra)).unwrap()
    }

    fn hs_token(&self, extra: Value) -> String {
        self.hs.mint(&claims(HS_ISS, extra)).unwrap()
    }

    /// Signs exactly these header and payload bytes with the `rs` key.
    fn rs_raw(&self, header: &str, payload: &str) -> String {
        self.rs.sign_raw(header.as_bytes(), payload.as_bytes()).unwrap()
    }

    /// Signs an already encoded `header.payload` verbatim with the `rs` key,
    /// so non-canonical segments carry a signature that is genuinely valid.
    fn rs_sign_input(&self, signing_input: &str) -> String {
        let mut sig = vec![0; self.rs_pair.public_modulus_len()];
        self.rs_pair
            .sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), signing_input.as_bytes(), &mut sig)
            .unwrap();
        format!("{signing_input}.{}", b64(&sig))
    }

    async fn check(&mut self, request: CheckRequest) -> CheckResponse {
        self.gatehouse.check(request).await
    }

    /// `Authorization: Bearer <token>` to `path`.
    async fn bearer(&mut self, path: &str, token: &str) -> CheckResponse {
        let value = format!("Bearer {token}");
        self.gatehouse.check(request("GET", path, &[("authorization", &value)])).await
    }

    async fn expect_deny(&mut self, path: &str, token: &str, status: i32, reason: &str, label: &str) {
        let response = self.bearer(path, token).await;
        assert_deny(&response, status, reason, &format!("{label} (on {path})"));
    }

    async fn expect_allow(&mut self, path: &str, token: &str, label: &str) -> CheckResponse {
        let response = self.bearer(path, token).await;
        assert_eq!(
            response.status.as_ref().map(|s| s.code),
            Some(0),
            "{label} (on {path}): expected allow, got {response:?}"
        );
        response
    }

    /// The server still decides normally after hostile input.
    async fn assert_still_serving(&mut self) {
        let token = self.rs_token(json!({"jti": "after-the-attacks"}));
        let response = self.expect_allow("/rs/final", &token, "valid token after the attacks").await;
        assert_eq!(header(&ok(&response).headers, "x-user-id"), Some("alice"));
        let (status, _) = self.gatehouse.http_get("/healthz").await;
        assert_eq!(status, 200);
    }
}

// === helpers ===

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn b64_json(value: &Value) -> String {
    b64(value.to_string())
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}

/// Registered claims that pass every provider, `extra` merged over; a null
/// in `extra` removes that claim.
fn claims(iss: &str, extra: Value) -> Value {
    let mut merged = json!({ "iss": iss, "aud": AUD });
    merged.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    gatehouse_testkit::claims(merged)
}

fn segments(token: &str) -> Vec<&str> {
    token.split('.').collect()
}

fn reason(response: &CheckResponse) -> &str {
    response.status.as_ref().map(|s| s.message.as_str()).unwrap_or("")
}

fn assert_deny(response: &CheckResponse, status: i32, expected_reason: &str, label: &str) {
    let code = response.status.as_ref().map(|s| s.code).unwrap_or(0);
    assert_ne!(code, 0, "{label}: expected a deny, got {response:?}");
    let (http, _, _) = denied(response);
    assert_eq!((http, reason(response)), (status, expected_reason), "{label}");
}

/// An HS256 JWS over these header/payload bytes with `secret` as the key.
fn hs256(secret: &[u8], header: &Value, payload: &Value) -> String {
    let key = SigningKey::from_secret(Algorithm::HS256, "hs", secret).unwrap();
    key.sign_raw(header.to_string().as_bytes(), payload.to_string().as_bytes()).unwrap()
}

/// A request whose `headers` map keeps the names exactly as given (Envoy
/// lower-cases them, but a hostile or buggy client of the API need not).
fn request_exact_names(path: &str, headers: &[(&str, &str)]) -> CheckRequest {
    let mut check = request("GET", path, &[]);
    let http = check.attributes.as_mut().unwrap().request.as_mut().unwrap().http.as_mut().unwrap();
    for (name, value) in headers {
        http.headers.insert((*name).to_owned(), (*value).to_owned());
    }
    check
}

/// A request with both the merged `headers` map and a raw `header_map`.
fn request_both_maps(path: &str, headers: &[(&str, &str)], raw: &[(&str, &[u8])]) -> CheckRequest {
    let builder = CheckRequestBuilder::new("GET", path).headers(headers);
    raw.iter().fold(builder, |b, (name, value)| b.raw_header(name, value)).build()
}

// --- DER, just enough for public keys and ECDSA signatures ---

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// A non-negative INTEGER.
fn der_uint(big_endian: &[u8]) -> Vec<u8> {
    let first = big_endian.iter().position(|b| *b != 0).unwrap_or(big_endian.len().saturating_sub(1));
    let mut content = big_endian[first..].to_vec();
    if content.first().is_none_or(|b| b & 0x80 != 0) {
        content.insert(0, 0);
    }
    der(0x02, &content)
}

/// PKCS#1 RSAPublicKey.
fn rsa_pkcs1(n: &[u8], e: &[u8]) -> Vec<u8> {
    der(0x30, &[der_uint(n), der_uint(e)].concat())
}

/// SubjectPublicKeyInfo around a PKCS#1 key.
fn rsa_spki(n: &[u8], e: &[u8]) -> Vec<u8> {
    let rsa_encryption = [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];
    let bit_string = der(0x03, &[&[0u8][..], &rsa_pkcs1(n, e)].concat());
    der(0x30, &[der(0x30, &rsa_encryption), bit_string].concat())
}

/// SubjectPublicKeyInfo of a P-256 point.
fn ec_spki(point: &[u8]) -> Vec<u8> {
    let algorithm = [
        0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, // id-ecPublicKey
        0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, // prime256v1
    ];
    der(0x30, &[der(0x30, &algorithm), der(0x03, &[&[0u8][..], point].concat())].concat())
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> =
        body.as_bytes().chunks(64).map(|chunk| std::str::from_utf8(chunk).unwrap()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

// --- base64url spellings ---

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Decodes like a lax library would: padding optional, trailing bits ignored.
const LAX: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// The same bytes as `segment`, spelled with the unused low bits of the
/// last character selected by `mask` set. `None` if the segment has no unused bits.
fn with_trailing_bits(segment: &str, mask: usize) -> Option<String> {
    let unused_mask = match segment.len() % 4 {
        2 => 0b1111,
        3 => 0b11,
        _ => return None,
    };
    let last = *segment.as_bytes().last()?;
    let index = ALPHABET.iter().position(|c| *c == last)?;
    assert_eq!(index & unused_mask, 0, "a canonical segment has zero trailing bits");
    let spelled =
        format!("{}{}", &segment[..segment.len() - 1], ALPHABET[index | (mask & unused_mask)] as char);
    assert_eq!(LAX.decode(&spelled).unwrap(), unb64(segment), "same bytes, other spelling");
    Some(spelled)
}

fn padded(segment: &str) -> Option<String> {
    match segment.len() % 4 {
        2 => Some(format!("{segment}==")),
        3 => Some(format!("{segment}=")),
        _ => None,
    }
}

/// A header JSON whose base64url segment has unused trailing bits (length
/// not a multiple of three), padded with insignificant whitespace.
fn header_with_trailing_bits_room(alg: &str, kid: &str) -> String {
    (0..3)
        .map(|spaces| format!(r#"{{"alg":"{alg}","kid":"{kid}"{}}}"#, " ".repeat(spaces)))
        .find(|json| json.len() % 3 == 1)
        .unwrap()
}

/// A TCP listener that counts connections: proves nothing is fetched.
struct Canary {
    addr: std::net::SocketAddr,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Canary {
    async fn start() -> Canary {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(socket);
            }
        });
        Canary { addr, hits, task }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Canary {
    fn drop(&mut self) {
        self.task.abort();
    }
}
