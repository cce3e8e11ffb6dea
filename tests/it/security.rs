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
use aws_lc_rs::{hmac, rsa, signature};
use base64::alphabet::URL_SAFE;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use gatehouse::internals::wire::{CheckRequest, CheckResponse};
use gatehouse::internals::wire::{HeaderMap, HeaderValue};
use gatehouse_testkit::Algorithm;
use gatehouse_testkit::*;
use gatehouse_testkit::{jwks_json, unix_now, SigningKey};
use serde_json::{json, Value};

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
    let now = unix_now();
    let mut claims = json!({"iss": iss, "aud": AUD, "sub": "alice", "iat": now, "exp": now + 300});
    let map = claims.as_object_mut().unwrap();
    for (name, value) in extra.as_object().unwrap() {
        if value.is_null() {
            map.remove(name);
        } else {
            map.insert(name.clone(), value.clone());
        }
    }
    claims
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
    let input = format!("{}.{}", b64_json(header), b64_json(payload));
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
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
    let mut check = request("GET", path, headers);
    let http = check.attributes.as_mut().unwrap().request.as_mut().unwrap().http.as_mut().unwrap();
    http.header_map = Some(HeaderMap {
        headers: raw
            .iter()
            .map(|(k, v)| HeaderValue { key: (*k).to_owned(), value: String::new(), raw_value: v.to_vec() })
            .collect(),
    });
    check
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

// === alg: none ===

#[tokio::test]
async fn alg_none_in_every_spelling_is_refused() {
    let mut f = Fixture::start().await;
    let real_signature = segments(&f.rs_token(json!({})))[2].to_owned();
    for (path, iss) in
        [("/rs", RS_ISS), ("/es", ES_ISS), ("/hs", HS_ISS), ("/both", RS_ISS), ("/open", OPEN_ISS)]
    {
        let payload = b64_json(&claims(iss, json!({})));
        for alg in ["none", "None", "nOnE", "NONE", "", " none", "none "] {
            for header in [json!({"alg": alg}), json!({"alg": alg, "typ": "JWT", "kid": "rs-1"})] {
                let header = b64_json(&header);
                for signature in ["", "c2ln", real_signature.as_str()] {
                    let token = format!("{header}.{payload}.{signature}");
                    let label = format!("alg {alg:?} with signature {signature:.8?}");
                    f.expect_deny(path, &token, 401, "algorithm_not_allowed", &label).await;
                }
            }
        }
        // `alg` missing or not a string: not a JWS header at all.
        let not_a_string = [
            json!({"typ": "JWT"}),
            json!({"alg": null}),
            json!({"alg": 0}),
            json!({"alg": ["RS256"]}),
            json!({"alg": {"name": "none"}}),
            json!({}),
        ];
        for header in not_a_string {
            let label = format!("header {header}");
            for signature in ["", "c2ln"] {
                let token = format!("{}.{payload}.{signature}", b64_json(&header));
                f.expect_deny(path, &token, 401, "malformed_token", &label).await;
            }
        }
        // Unsecured JWS in its two-segment form.
        let token = format!("{}.{payload}", b64_json(&json!({"alg": "none"})));
        f.expect_deny(path, &token, 401, "malformed_token", "two segments").await;
    }
    f.assert_still_serving().await;
}

// === algorithm confusion ===

#[tokio::test]
async fn rs256_public_key_as_hmac_secret_is_refused() {
    let mut f = Fixture::start().await;
    let jwk = f.rs.public_jwk();
    let n = unb64(jwk["n"].as_str().unwrap());
    let e = unb64(jwk["e"].as_str().unwrap());
    let spki = rsa_spki(&n, &e);
    // The hand-built SPKI is byte for byte what the crypto library exports.
    assert_eq!(spki, f.rs_pair.public_key().as_der().unwrap().as_ref());
    let pkcs1 = rsa_pkcs1(&n, &e);
    let spki_pem = pem("PUBLIC KEY", &spki);
    let pkcs1_pem = pem("RSA PUBLIC KEY", &pkcs1);
    let secrets: Vec<(&str, Vec<u8>)> = vec![
        ("PEM SPKI", spki_pem.clone().into_bytes()),
        ("PEM SPKI without final newline", spki_pem.trim_end().as_bytes().to_vec()),
        ("PEM SPKI with CRLF", spki_pem.replace('\n', "\r\n").into_bytes()),
        ("PEM PKCS#1", pkcs1_pem.clone().into_bytes()),
        ("PEM PKCS#1 without final newline", pkcs1_pem.trim_end().as_bytes().to_vec()),
        ("DER SPKI", spki.clone()),
        ("DER PKCS#1", pkcs1.clone()),
        ("JWK JSON", jwk.to_string().into_bytes()),
        ("JWKS JSON as configured", jwks_json(&[&f.rs]).into_bytes()),
        ("raw modulus", n.clone()),
        ("modulus as base64url text", jwk["n"].as_str().unwrap().as_bytes().to_vec()),
    ];
    // Control: the HS256 helper does produce tokens gatehouse accepts.
    let control = hs256(HS_SECRET, &json!({"alg": "HS256"}), &claims(HS_ISS, json!({})));
    f.expect_allow("/hs", &control, "HS256 control").await;

    for (form, secret) in &secrets {
        for header in
            [json!({"alg": "HS256", "typ": "JWT", "kid": "rs-1"}), json!({"alg": "HS256", "typ": "JWT"})]
        {
            let label = format!("{form}, header {header}");
            // To the providers that own the public key: the algorithm is pinned.
            for (path, iss) in [("/rs", RS_ISS), ("/both", RS_ISS), ("/open", OPEN_ISS)] {
                let token = hs256(secret, &header, &claims(iss, json!({})));
                f.expect_deny(path, &token, 401, "algorithm_not_allowed", &label).await;
            }
            // Claiming the HMAC provider's issuer: its own secret is used, not the token's idea.
            for path in ["/hs", "/both"] {
                let token = hs256(secret, &header, &claims(HS_ISS, json!({})));
                f.expect_deny(path, &token, 401, "bad_signature", &label).await;
            }
        }
    }

    // The same with the ES256 provider's public key.
    let es_jwk = f.es.public_jwk();
    let x = unb64(es_jwk["x"].as_str().unwrap());
    let y = unb64(es_jwk["y"].as_str().unwrap());
    let point = [&[4u8][..], &x, &y].concat();
    let es_secrets: Vec<(&str, Vec<u8>)> = vec![
        ("EC point", point.clone()),
        ("EC x||y", [x.clone(), y.clone()].concat()),
        ("EC DER SPKI", ec_spki(&point)),
        ("EC PEM SPKI", pem("PUBLIC KEY", &ec_spki(&point)).into_bytes()),
        ("EC JWK JSON", es_jwk.to_string().into_bytes()),
    ];
    for (form, secret) in &es_secrets {
        let token = hs256(secret, &json!({"alg": "HS256", "kid": "es-1"}), &claims(ES_ISS, json!({})));
        f.expect_deny("/es", &token, 401, "algorithm_not_allowed", form).await;
    }
    f.assert_still_serving().await;
}

#[tokio::test]
async fn algorithm_swaps_within_and_across_families_are_refused() {
    let mut f = Fixture::start().await;
    let good = f.rs_token(json!({}));
    let parts = segments(&good);
    for alg in ["RS384", "RS512", "PS256", "ES256", "EdDSA", "HS256", "rs256", "RS256 ", "RS-256"] {
        let header = b64_json(&json!({"alg": alg, "typ": "JWT", "kid": "rs-1"}));
        let token = format!("{header}.{}.{}", parts[1], parts[2]);
        f.expect_deny("/rs", &token, 401, "algorithm_not_allowed", alg).await;
    }
    // An ES token relabelled for the RSA provider (its signature over other bytes).
    let es = f.es_token(RS_ISS, json!({}));
    f.expect_deny("/rs", &es, 401, "algorithm_not_allowed", "ES256 token with the RS issuer").await;
    f.assert_still_serving().await;
}

// === ES256 psychic signatures (CVE-2022-21449) and signature encodings ===

#[tokio::test]
async fn es256_psychic_and_misencoded_signatures_are_refused() {
    let mut f = Fixture::start().await;
    let good = f.es_token(ES_ISS, json!({}));
    f.expect_allow("/es", &good, "ES256 control").await;
    let parts = segments(&good);
    let valid = unb64(parts[2]);
    assert_eq!(valid.len(), 64);
    let (r, s) = valid.split_at(32);
    let mut one = [0u8; 32];
    one[31] = 1;
    let mut n_plus_one = P256_N;
    n_plus_one[31] += 1;
    let cat = |a: &[u8], b: &[u8]| [a, b].concat();
    let der_signature = der(0x30, &[der_uint(r), der_uint(s)].concat());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("r = s = 0", vec![0; 64]),
        ("r = 0, s = 1", cat(&[0; 32], &one)),
        ("r = 0, s valid", cat(&[0; 32], s)),
        ("r valid, s = 0", cat(r, &[0; 32])),
        ("r = s = n", cat(&P256_N, &P256_N)),
        ("r = n, s = 1", cat(&P256_N, &one)),
        ("r = 1, s = n", cat(&one, &P256_N)),
        ("r = n, s valid", cat(&P256_N, s)),
        ("r = n + 1, s = 1", cat(&n_plus_one, &one)),
        ("r = 1, s = n + 1", cat(&one, &n_plus_one)),
        ("all 0xff", vec![0xff; 64]),
        ("63 bytes (truncated)", valid[..63].to_vec()),
        ("65 bytes (trailing zero)", cat(&valid, &[0])),
        ("65 bytes (leading zero)", cat(&[0], &valid)),
        ("32 bytes (r only)", r.to_vec()),
        ("128 bytes (twice)", cat(&valid, &valid)),
        ("1 byte", vec![0]),
        ("DER (ASN.1) encoding of the valid signature", der_signature.clone()),
        ("DER with a trailing byte", cat(&der_signature, &[0])),
    ];
    for (label, signature) in cases {
        let token = format!("{}.{}.{}", parts[0], parts[1], b64(&signature));
        f.expect_deny("/es", &token, 401, "bad_signature", label).await;
    }
    // The zero signature on a fresh message too (the original exploit).
    let forged = format!(
        "{}.{}.{}",
        b64_json(&json!({"alg": "ES256", "kid": "es-1"})),
        b64_json(&claims(ES_ISS, json!({"sub": "admin"}))),
        b64([0u8; 64])
    );
    f.expect_deny("/es", &forged, 401, "bad_signature", "r = s = 0 over a forged payload").await;
    // The same forgery against the providers that share the key.
    for iss in [STRICT_ISS, CAPPED_ISS] {
        let path = if iss == STRICT_ISS { "/strict" } else { "/capped" };
        let forged = format!(
            "{}.{}.{}",
            b64_json(&json!({"alg": "ES256"})),
            b64_json(&claims(iss, json!({"sub": "admin"}))),
            b64([0u8; 64])
        );
        f.expect_deny(path, &forged, 401, "bad_signature", "psychic signature, no kid").await;
    }
    // An empty signature segment is not a signature at all.
    let token = format!("{}.{}.", parts[0], parts[1]);
    f.expect_deny("/es", &token, 401, "malformed_token", "empty signature").await;
    f.assert_still_serving().await;
}

/// (r, n - s) is the other valid ECDSA signature of the same message.
/// Accepting it is not a forgery (only the key holder can make either), but
/// it gives one set of claims two token spellings: pinned here so that a
/// change is noticed (anything keyed on the token string, such as the
/// verified-token cache or a deny-list, sees two tokens).
#[tokio::test]
async fn es256_mirror_signature_is_the_same_signature_spelled_twice() {
    let mut f = Fixture::start().await;
    let good = f.es_token(ES_ISS, json!({}));
    let parts = segments(&good);
    let valid = unb64(parts[2]);
    let (r, s) = valid.split_at(32);
    let mut n_minus_s = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let diff = i16::from(P256_N[i]) - i16::from(s[i]) - borrow;
        n_minus_s[i] = diff.rem_euclid(256) as u8;
        borrow = i16::from(diff < 0);
    }
    assert_eq!(borrow, 0, "s < n");
    let mirror = format!("{}.{}.{}", parts[0], parts[1], b64([r, &n_minus_s[..]].concat()));
    assert_ne!(mirror, good);
    f.expect_allow("/es", &mirror, "mirror signature (r, n - s)").await;
    f.assert_still_serving().await;
}

// === hostile kid values ===

#[tokio::test]
async fn hostile_kid_values_are_refused_and_the_server_keeps_serving() {
    let mut f = Fixture::start().await;
    let payload = claims(RS_ISS, json!({})).to_string();
    let string_kids: Vec<String> = vec![
        "../../etc/passwd".into(),
        "../../../../../../dev/null".into(),
        "/etc/passwd".into(),
        "file:///etc/passwd".into(),
        "' OR 1=1 --".into(),
        "rs-1' OR '1'='1".into(),
        "$(reboot)".into(),
        "`reboot`".into(),
        "rs-1; rm -rf /".into(),
        "".into(),
        " ".into(),
        "rs-1\u{0}".into(),
        "\u{0}rs-1".into(),
        "rs-1\u{0}evil".into(),
        "RS-1".into(),
        "rs-1 ".into(),
        "es-1".into(),
        "http://127.0.0.1:1/jwks.json".into(),
        "%s%s%s%n".into(),
        "\u{202e}1-sr".into(),
        "k".repeat(5 * 1024),
    ];
    for kid in &string_kids {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid}).to_string();
        let token = f.rs_raw(&header, &payload);
        let label = format!("kid {:.40?}", kid);
        f.expect_deny("/rs", &token, 401, "unknown_kid", &label).await;
    }
    // The same on the ES256 provider.
    for kid in ["../../etc/passwd", "' OR 1=1 --", "$(reboot)", ""] {
        let header = json!({"alg": "ES256", "kid": kid}).to_string();
        let token =
            f.es.sign_raw(header.as_bytes(), claims(ES_ISS, json!({})).to_string().as_bytes()).unwrap();
        f.expect_deny("/es", &token, 401, "unknown_kid", kid).await;
    }
    // 10 KB of kid: over the token size limit before anything is parsed.
    let header = json!({"alg": "RS256", "kid": "k".repeat(10 * 1024)}).to_string();
    let token = f.rs_raw(&header, &payload);
    f.expect_deny("/rs", &token, 401, "token_too_large", "10 KB kid").await;
    // Not a string: not a valid JOSE header.
    for kid in
        [json!(1), json!(-1), json!(1.5), json!(true), json!({"kid": "rs-1"}), json!(["rs-1"]), json!({})]
    {
        let header = json!({"alg": "RS256", "kid": kid}).to_string();
        let token = f.rs_raw(&header, &payload);
        f.expect_deny("/rs", &token, 401, "malformed_token", &format!("kid {kid}")).await;
    }
    // Raw NUL bytes and invalid UTF-8 in the header JSON itself.
    for header in
        [&b"{\"alg\":\"RS256\",\"kid\":\"rs-1\x00\"}"[..], b"{\"alg\":\"RS256\",\"kid\":\"\xff\xfe\"}"]
    {
        let token = f.rs.sign_raw(header, payload.as_bytes()).unwrap();
        f.expect_deny("/rs", &token, 401, "malformed_token", &String::from_utf8_lossy(header)).await;
    }
    f.assert_still_serving().await;
}

// === keys embedded in or referenced by the token ===

#[tokio::test]
async fn embedded_and_referenced_keys_are_never_trusted() {
    let mut f = Fixture::start().await;
    let canary = Canary::start().await;
    let attacker_rs = SigningKey::generate(Algorithm::RS256, "attacker-1").unwrap();
    let attacker_es = SigningKey::generate(Algorithm::ES256, "attacker-1").unwrap();
    let attacker_hs = SigningKey::generate(Algorithm::HS256, "attacker-1").unwrap();
    let attacker_jwk = attacker_rs.public_jwk();
    let attacker_spki =
        rsa_spki(&unb64(attacker_jwk["n"].as_str().unwrap()), &unb64(attacker_jwk["e"].as_str().unwrap()));
    let jku = canary.url("/jwks.json");
    let x5u = canary.url("/cert.pem");
    let references = [
        ("jku", json!({"jku": jku})),
        ("x5u", json!({"x5u": x5u})),
        ("jku + x5u", json!({"jku": jku, "x5u": x5u})),
        ("x5c", json!({"x5c": [STANDARD.encode(&attacker_spki)]})),
        ("jwk", json!({"jwk": attacker_jwk})),
        (
            "jwk + jku + x5c",
            json!({"jwk": attacker_jwk, "jku": jku, "x5c": [STANDARD.encode(&attacker_spki)]}),
        ),
    ];
    let payload = claims(RS_ISS, json!({"sub": "admin"})).to_string();
    for (what, members) in &references {
        for (kid, expected) in
            [(Some("attacker-1"), "unknown_kid"), (Some("rs-1"), "bad_signature"), (None, "bad_signature")]
        {
            let mut header = json!({"alg": "RS256", "typ": "JWT"});
            header.as_object_mut().unwrap().extend(members.as_object().unwrap().clone());
            if let Some(kid) = kid {
                header["kid"] = json!(kid);
            }
            let token = attacker_rs.sign_raw(header.to_string().as_bytes(), payload.as_bytes()).unwrap();
            f.expect_deny("/rs", &token, 401, expected, &format!("{what}, kid {kid:?}")).await;
        }
    }
    // ES256: the attacker's EC key in `jwk`, and a `jku`.
    let es_payload = claims(ES_ISS, json!({"sub": "admin"})).to_string();
    for (kid, expected) in
        [(Some("attacker-1"), "unknown_kid"), (Some("es-1"), "bad_signature"), (None, "bad_signature")]
    {
        let mut header = json!({"alg": "ES256", "jwk": attacker_es.public_jwk(), "jku": jku});
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        let token = attacker_es.sign_raw(header.to_string().as_bytes(), es_payload.as_bytes()).unwrap();
        f.expect_deny("/es", &token, 401, expected, &format!("ES256 jwk, kid {kid:?}")).await;
    }
    // HMAC: the attacker's own secret as an `oct` JWK. The configured secret
    // has no kid, so any kid falls back to it, and it still does not verify.
    let hs_payload = claims(HS_ISS, json!({"sub": "admin"})).to_string();
    for kid in [Some("attacker-1"), None] {
        let mut header = json!({"alg": "HS256", "jwk": attacker_hs.public_jwk(), "jku": jku});
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        let token = attacker_hs.sign_raw(header.to_string().as_bytes(), hs_payload.as_bytes()).unwrap();
        f.expect_deny("/hs", &token, 401, "bad_signature", &format!("oct jwk, kid {kid:?}")).await;
    }
    // A `jku` next to a token the real key signed changes nothing either way:
    // the header member is ignored, not obeyed (and not a reason to fail).
    let header = json!({"alg": "RS256", "kid": "rs-1", "jku": jku}).to_string();
    let honest = f.rs_raw(&header, &claims(RS_ISS, json!({})).to_string());
    f.expect_allow("/rs", &honest, "real key with an ignored jku").await;

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(canary.hits.load(Ordering::SeqCst), 0, "gatehouse connected to a URL named by a token");
    f.assert_still_serving().await;
}

// === header extensions, nested and encrypted tokens ===

#[tokio::test]
async fn crit_headers_are_refused() {
    let mut f = Fixture::start().await;
    let payload = claims(RS_ISS, json!({})).to_string();
    let headers = [
        json!({"alg": "RS256", "kid": "rs-1", "crit": ["exp"], "exp": unix_now() + 60}),
        json!({"alg": "RS256", "kid": "rs-1", "crit": []}),
        json!({"alg": "RS256", "kid": "rs-1", "crit": ["x-unknown"], "x-unknown": true}),
        json!({"alg": "RS256", "kid": "rs-1", "crit": ["x-unknown"]}),
        json!({"alg": "RS256", "kid": "rs-1", "crit": "exp"}),
        json!({"alg": "RS256", "kid": "rs-1", "crit": {"exp": 1}}),
        json!({"alg": "RS256", "kid": "rs-1", "crit": ["b64"], "b64": true}),
        json!({"alg": "none", "crit": ["exp"]}),
    ];
    for header in headers {
        let token = f.rs_raw(&header.to_string(), &payload);
        f.expect_deny("/rs", &token, 401, "unsupported_header", &header.to_string()).await;
    }
    f.assert_still_serving().await;
}

#[tokio::test]
async fn unencoded_payload_b64_false_is_refused() {
    let mut f = Fixture::start().await;
    let payload = claims(RS_ISS, json!({})).to_string();
    for header in [
        json!({"alg": "RS256", "kid": "rs-1", "b64": false, "crit": ["b64"]}),
        json!({"alg": "RS256", "kid": "rs-1", "b64": false}),
        json!({"alg": "RS256", "kid": "rs-1", "b64": true}),
        json!({"alg": "RS256", "kid": "rs-1", "b64": "false"}),
    ] {
        let token = f.rs_raw(&header.to_string(), &payload);
        f.expect_deny("/rs", &token, 401, "unsupported_header", &header.to_string()).await;
    }
    // RFC 7797 with a detached payload: the signature is over the raw payload.
    let header = json!({"alg": "RS256", "kid": "rs-1", "b64": false, "crit": ["b64"]});
    let header_b64 = b64_json(&header);
    let signed = f.rs_sign_input(&format!("{header_b64}.{payload}"));
    let signature = signed.rsplit('.').next().unwrap();
    let token = format!("{header_b64}..{signature}");
    f.expect_deny("/rs", &token, 401, "unsupported_header", "detached unencoded payload").await;
    f.assert_still_serving().await;
}

#[tokio::test]
async fn nested_jwts_are_refused() {
    let mut f = Fixture::start().await;
    let inner = f.rs_token(json!({"sub": "admin"}));
    let outer_claims = claims(RS_ISS, json!({})).to_string();
    // cty: JWT, whatever the payload.
    for cty in ["JWT", "jwt", "Jwt"] {
        let header = json!({"alg": "RS256", "kid": "rs-1", "cty": cty}).to_string();
        let nested = f.rs_raw(&header, &inner);
        f.expect_deny("/rs", &nested, 401, "unsupported_header", &format!("cty {cty}, nested")).await;
        let plain = f.rs_raw(&header, &outer_claims);
        f.expect_deny("/rs", &plain, 401, "unsupported_header", &format!("cty {cty}, claims")).await;
    }
    // A nested token without (or with another spelling of) cty: the payload
    // is not a JSON object, so it is not a claims set.
    for header in [
        json!({"alg": "RS256", "kid": "rs-1"}),
        json!({"alg": "RS256", "kid": "rs-1", "cty": "application/jwt"}),
    ] {
        let nested = f.rs_raw(&header.to_string(), &inner);
        f.expect_deny("/rs", &nested, 401, "malformed_token", &header.to_string()).await;
    }
    f.assert_still_serving().await;
}

#[tokio::test]
async fn jwe_and_wrong_segment_counts_are_refused() {
    let mut f = Fixture::start().await;
    let jwe_header = b64_json(&json!({"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "rs-1"}));
    let dir_header = b64_json(&json!({"alg": "dir", "enc": "A128CBC-HS256"}));
    let none_header = b64_json(&json!({"alg": "none"}));
    let good = f.rs_token(json!({}));
    let parts = segments(&good);
    let encrypted = [
        "a.b.c.d.e".to_owned(),
        format!("{jwe_header}.{}.{}.{}.{}", b64([1u8; 256]), b64([2u8; 12]), b64([3u8; 64]), b64([4u8; 16])),
        format!("{dir_header}..{}.{}.{}", b64([2u8; 16]), b64([3u8; 64]), b64([4u8; 16])),
        format!("{none_header}.{}.{}.x.y", parts[1], parts[2]),
        format!("{good}.x.y"),
        "....".to_owned(),
    ];
    for token in &encrypted {
        f.expect_deny("/rs", token, 401, "encrypted_token", &format!("{token:.40}")).await;
    }
    let malformed = [
        format!("{good}.x"),
        format!("{good}.x.y.z"),
        format!("{}.{}", parts[0], parts[1]),
        parts[1].to_owned(),
        "..".to_owned(),
        ".".to_owned(),
        format!("{}..{}", parts[0], parts[2]),
        format!(".{}.{}", parts[1], parts[2]),
    ];
    for token in &malformed {
        f.expect_deny("/rs", token, 401, "malformed_token", &format!("{token:.40}")).await;
    }
    f.assert_still_serving().await;
}

// === duplicate JSON members ===

#[tokio::test]
async fn duplicate_json_members_are_refused() {
    let mut f = Fixture::start().await;
    let now = unix_now();
    let good_payload = claims(RS_ISS, json!({})).to_string();
    let good_header = r#"{"alg":"RS256","kid":"rs-1"}"#;
    f.expect_allow("/rs", &f.rs_raw(good_header, &good_payload), "control").await;
    let headers = [
        r#"{"alg":"RS256","alg":"none","kid":"rs-1"}"#,
        r#"{"alg":"none","alg":"RS256","kid":"rs-1"}"#,
        r#"{"alg":"RS256","alg":"RS256","kid":"rs-1"}"#,
        r#"{"alg":"RS256","kid":"rs-1","kid":"../../etc/passwd"}"#,
        r#"{"alg":"RS256","kid":"rs-1","\u0061lg":"none"}"#,
        r#"{"alg":"RS256","kid":"rs-1","crit":["x"],"crit":[]}"#,
        r#"{"alg":"RS256","kid":"rs-1","x":{"y":1,"y":2}}"#,
    ];
    for header in headers {
        let token = f.rs_raw(header, &good_payload);
        f.expect_deny("/rs", &token, 401, "malformed_token", header).await;
    }
    let payloads = [
        format!(r#"{{"iss":"{RS_ISS}","aud":"{AUD}","sub":"alice","sub":"admin","exp":{}}}"#, now + 300),
        format!(r#"{{"iss":"{RS_ISS}","aud":"{AUD}","sub":"alice","s\u0075b":"admin","exp":{}}}"#, now + 300),
        format!(
            r#"{{"iss":"{RS_ISS}","aud":"{AUD}","sub":"alice","exp":{},"exp":{}}}"#,
            now - 3600,
            now + 300
        ),
        format!(
            r#"{{"iss":"{RS_ISS}","aud":"{AUD}","sub":"alice","exp":{},"exp":{}}}"#,
            now + 300,
            now - 3600
        ),
        format!(r#"{{"iss":"{RS_ISS}","iss":"{HS_ISS}","aud":"{AUD}","sub":"alice","exp":{}}}"#, now + 300),
        format!(r#"{{"iss":"{RS_ISS}","aud":"{AUD}","aud":"other","sub":"alice","exp":{}}}"#, now + 300),
        format!(
            r#"{{"iss":"{RS_ISS}","aud":"{AUD}","sub":"alice","exp":{},"org":{{"id":1,"id":2}}}}"#,
            now + 300
        ),
        format!(
            r#"{{"iss":"{RS_ISS}","aud":"{AUD}","sub":"alice","exp":{},"roles":[{{"r":"a","r":"admin"}}]}}"#,
            now + 300
        ),
    ];
    for payload in &payloads {
        let token = f.rs_raw(good_header, payload);
        f.expect_deny("/rs", &token, 401, "malformed_token", payload).await;
    }
    // Not JSON objects, or JSON with trailing data.
    for payload in [
        "[]",
        "null",
        "\"alice\"",
        "1",
        "",
        "{",
        &format!("{good_payload} {{}}"),
        &format!("\u{feff}{good_payload}"),
    ] {
        let token = f.rs_raw(good_header, payload);
        f.expect_deny("/rs", &token, 401, "malformed_token", &format!("payload {payload:.30?}")).await;
    }
    f.assert_still_serving().await;
}

// === canonical base64url only ===

#[tokio::test]
async fn padded_segments_are_refused() {
    let mut f = Fixture::start().await;
    let header = header_with_trailing_bits_room("RS256", "rs-1");
    let mut payload_claims = claims(RS_ISS, json!({}));
    // A payload whose encoding also needs padding.
    let payload = (0..3)
        .map(|i| {
            payload_claims["p"] = json!("x".repeat(i));
            payload_claims.to_string()
        })
        .find(|p| p.len() % 3 != 0)
        .unwrap();
    let (h, p) = (b64(&header), b64(&payload));
    let control = f.rs_sign_input(&format!("{h}.{p}"));
    f.expect_allow("/rs", &control, "canonical control").await;

    let cases = [
        ("padded header", f.rs_sign_input(&format!("{}.{p}", padded(&h).unwrap()))),
        ("padded payload", f.rs_sign_input(&format!("{h}.{}", padded(&p).unwrap()))),
        ("padded signature", format!("{h}.{p}.{}", padded(segments(&control)[2]).unwrap())),
        ("one '=' on a segment that needs two", format!("{h}.{p}.{}=", segments(&control)[2])),
        ("over-padded header", f.rs_sign_input(&format!("{}==", padded(&h).unwrap()))),
    ];
    for (label, token) in &cases {
        f.expect_deny("/rs", token, 401, "malformed_token", label).await;
    }
    f.assert_still_serving().await;
}

#[tokio::test]
async fn standard_base64_alphabet_is_refused() {
    let mut f = Fixture::start().await;
    let header = r#"{"alg":"RS256","kid":"rs-1"}"#;
    // A payload whose base64url has both '-' and '_' ("~~~" and "???" aligned).
    let payload = (0..3)
        .map(|i| claims(RS_ISS, json!({"p": format!("{}~~~???", "x".repeat(i))})).to_string())
        .find(|p| {
            let encoded = b64(p);
            encoded.contains('-') && encoded.contains('_')
        })
        .unwrap();
    let (h, p) = (b64(header), b64(&payload));
    let standard = |s: &str| s.replace('-', "+").replace('_', "/");
    assert_eq!(
        STANDARD.decode(padded(&standard(&p)).unwrap_or_else(|| standard(&p))).unwrap(),
        payload.as_bytes()
    );
    let control = f.rs_sign_input(&format!("{h}.{p}"));
    f.expect_allow("/rs", &control, "canonical control").await;
    let token = f.rs_sign_input(&format!("{h}.{}", standard(&p)));
    f.expect_deny("/rs", &token, 401, "malformed_token", "payload with + and /").await;

    // A signature with '-' or '_' respelled: the same signature bytes. RSA
    // PKCS#1 v1.5 is deterministic, so vary the claims until one has them.
    let mut found = 0;
    for i in 0..64 {
        let token = f.rs_token(json!({"n": i}));
        let parts = segments(&token);
        if !parts[2].contains(['-', '_']) {
            continue;
        }
        let respelled = format!("{}.{}.{}", parts[0], parts[1], standard(parts[2]));
        f.expect_deny("/rs", &respelled, 401, "malformed_token", "signature with + and /").await;
        found += 1;
        if found == 3 {
            break;
        }
    }
    assert!(found > 0, "no signature with '-' or '_' in 64 tries");
    f.assert_still_serving().await;
}

#[tokio::test]
async fn whitespace_inside_a_token_is_refused() {
    let mut f = Fixture::start().await;
    let good = f.rs_token(json!({}));
    let middle = good.len() / 2;
    // Leading and trailing OWS around the credential is HTTP syntax, not part of it.
    f.expect_allow("/rs", &format!("{good} \t"), "trailing whitespace").await;
    // Inside the token it splits the credential in two: an invalid request.
    for ws in [" ", "\t", "\n", "\r\n", "\u{b}", "\u{c}"] {
        let token = format!("{}{ws}{}", &good[..middle], &good[middle..]);
        f.expect_deny("/rs", &token, 400, "multiple_tokens", &format!("{ws:?} inside")).await;
        let raw = format!("Bearer {token}");
        let response = f.check(raw_request("GET", "/rs", &[("authorization", raw.as_bytes())])).await;
        assert_deny(&response, 400, "multiple_tokens", &format!("{ws:?} inside, raw header"));
    }
    // Percent-encoded whitespace in the query source.
    for ws in ["%20", "%0A", "%0D%0A", "%09"] {
        let path = format!("/rs?access_token={}{ws}{}", &good[..middle], &good[middle..]);
        let response = f.check(request("GET", &path, &[])).await;
        assert_deny(&response, 400, "multiple_tokens", &format!("{ws} inside the query token"));
    }
    // `+` is not form-decoded to a space: it reaches the parser as a
    // non-base64url character and the token is malformed.
    let path = format!("/rs?access_token={}+{}", &good[..middle], &good[middle..]);
    let response = f.check(request("GET", &path, &[])).await;
    assert_deny(&response, 401, "malformed_token", "+ inside the query token");
    f.assert_still_serving().await;
}

#[tokio::test]
async fn non_zero_trailing_bits_are_refused() {
    let mut f = Fixture::start().await;
    let header = header_with_trailing_bits_room("RS256", "rs-1");
    let payload = (0..3)
        .map(|i| claims(RS_ISS, json!({"p": "x".repeat(i)})).to_string())
        .find(|p| p.len() % 3 != 0)
        .unwrap();
    let (h, p) = (b64(&header), b64(&payload));
    let control = f.rs_sign_input(&format!("{h}.{p}"));
    f.expect_allow("/rs", &control, "canonical control").await;
    let s = segments(&control)[2].to_owned();
    assert!(!s.len().is_multiple_of(4), "an RS256 signature (256 bytes) has unused bits");
    for mask in [1, 0b11, 0b1111] {
        let h2 = with_trailing_bits(&h, mask).unwrap();
        let p2 = with_trailing_bits(&p, mask).unwrap();
        let s2 = with_trailing_bits(&s, mask).unwrap();
        let cases = [
            ("header", f.rs_sign_input(&format!("{h2}.{p}"))),
            ("payload", f.rs_sign_input(&format!("{h}.{p2}"))),
            // The decoded signature is unchanged: a lax decoder would verify this.
            ("signature", format!("{h}.{p}.{s2}")),
        ];
        for (segment, token) in &cases {
            f.expect_deny(
                "/rs",
                token,
                401,
                "malformed_token",
                &format!("{segment}, trailing bits {mask:#b}"),
            )
            .await;
        }
    }
    // A segment of 4n+1 characters cannot be base64 at all.
    let cut = &s[..s.len() - s.len() % 4 + 1];
    assert_eq!(cut.len() % 4, 1);
    let token = format!("{h}.{p}.{cut}");
    f.expect_deny("/rs", &token, 401, "malformed_token", "4n+1 characters").await;
    f.assert_still_serving().await;
}

// === claim types ===

#[tokio::test]
async fn wrongly_typed_claims_are_refused() {
    let mut f = Fixture::start().await;
    let now = unix_now();
    let cases = [
        ("exp as string", json!({"exp": (now + 300).to_string()})),
        ("exp as bool", json!({"exp": true})),
        ("exp as array", json!({"exp": [now + 300]})),
        ("exp as object", json!({"exp": {"$date": now + 300}})),
        ("nbf as string", json!({"nbf": now.to_string()})),
        ("nbf as bool", json!({"nbf": false})),
        ("iat as string", json!({"iat": now.to_string()})),
        ("aud as number", json!({"aud": 1})),
        ("aud as bool", json!({"aud": true})),
        ("aud as object", json!({"aud": {"api": true}})),
        ("aud array with a number", json!({"aud": [AUD, 1]})),
        ("aud array with null", json!({"aud": [AUD, null]})),
        ("aud array with an array", json!({"aud": [[AUD]]})),
        ("sub as object", json!({"sub": {"id": "admin"}})),
        ("sub as number", json!({"sub": 0})),
        ("sub as array", json!({"sub": ["alice", "admin"]})),
    ];
    for (label, extra) in cases {
        let token = f.rs_token(extra);
        f.expect_deny("/rs", &token, 401, "invalid_claim", label).await;
    }
    // An explicit null is a claim with the wrong type, not an absent one.
    for name in ["exp", "nbf", "iat", "sub"] {
        let mut payload = claims(RS_ISS, json!({}));
        payload[name] = Value::Null;
        let token = f.rs.mint(&payload).unwrap();
        f.expect_deny("/rs", &token, 401, "invalid_claim", &format!("{name}: null")).await;
    }
    // A non-string `iss` cannot select a provider at all (provider choice
    // compares the string), so it is refused as the wrong issuer.
    for iss in [json!([RS_ISS]), json!({"iss": RS_ISS}), json!(1), Value::Null] {
        let mut payload = claims(RS_ISS, json!({}));
        payload["iss"] = iss.clone();
        let token = f.rs.mint(&payload).unwrap();
        f.expect_deny("/rs", &token, 401, "wrong_issuer", &format!("iss {iss}")).await;
    }
    f.assert_still_serving().await;
}

// === time ===

#[tokio::test]
async fn time_boundaries_with_the_default_clock_skew() {
    let mut f = Fixture::start().await;
    let skew = 60;
    let now = unix_now();
    let deny = [
        ("exp = now - skew - 1", json!({"exp": now - skew - 1}), "expired"),
        ("exp = now - skew", json!({"exp": now - skew}), "expired"),
        ("exp an hour ago", json!({"exp": now - 3600}), "expired"),
        ("nbf = now + skew + 5", json!({"nbf": now + skew + 5}), "not_yet_valid"),
        ("iat = now + skew + 5", json!({"iat": now + skew + 5}), "issued_in_future"),
        (
            "iat far in the future",
            json!({"iat": now + 10 * 365 * 86400, "exp": now + 11 * 365 * 86400}),
            "issued_in_future",
        ),
        ("no exp", json!({"exp": null}), "missing_expiration"),
    ];
    for (label, extra, expected) in deny {
        let token = f.rs_token(extra);
        f.expect_deny("/rs", &token, 401, expected, label).await;
    }
    let allow = [
        ("exp = now - skew + 5", json!({"exp": now - skew + 5})),
        ("nbf = now + skew - 5", json!({"nbf": now + skew - 5})),
        ("nbf = now + skew", json!({"nbf": now + skew})),
        ("iat = now + skew - 5", json!({"iat": now + skew - 5})),
    ];
    for (label, extra) in allow {
        let token = f.rs_token(extra);
        f.expect_allow("/rs", &token, label).await;
    }
    f.assert_still_serving().await;
}

#[tokio::test]
async fn time_boundaries_with_zero_clock_skew() {
    let mut f = Fixture::start().await;
    let now = unix_now();
    for (label, extra, expected) in [
        ("exp = now - 1", json!({"exp": now - 1}), "expired"),
        ("exp = now", json!({"exp": now}), "expired"),
        ("nbf = now + 5", json!({"nbf": now + 5}), "not_yet_valid"),
        ("iat = now + 5", json!({"iat": now + 5}), "issued_in_future"),
        // Inside the default provider's leeway, outside this one's.
        ("exp = now - 30", json!({"exp": now - 30}), "expired"),
        ("nbf = now + 30", json!({"nbf": now + 30}), "not_yet_valid"),
    ] {
        let token = f.es_token(STRICT_ISS, extra);
        f.expect_deny("/strict", &token, 401, expected, label).await;
    }
    for (label, extra) in [
        ("exp = now + 5", json!({"exp": now + 5})),
        ("nbf = now", json!({"nbf": now})),
        ("nbf = now - 5", json!({"nbf": now - 5})),
        ("iat = now", json!({"iat": now})),
    ] {
        let token = f.es_token(STRICT_ISS, extra);
        f.expect_allow("/strict", &token, label).await;
    }
    f.assert_still_serving().await;
}

#[tokio::test]
async fn extreme_numeric_dates_are_decided_without_panic() {
    let mut f = Fixture::start().await;
    let now = unix_now();
    let header = r#"{"alg":"RS256","kid":"rs-1"}"#;
    // Claims written as text, so numbers keep exactly the spelling under test.
    let with = |name: &str, value: &str| {
        let mut members = vec![
            format!(r#""iss":"{RS_ISS}""#),
            format!(r#""aud":"{AUD}""#),
            r#""sub":"alice""#.to_owned(),
            format!(r#""iat":{now}"#),
            format!(r#""exp":{}"#, now + 300),
        ];
        members.retain(|m| !m.starts_with(&format!("\"{name}\"")));
        members.push(format!(r#""{name}":{value}"#));
        format!("{{{}}}", members.join(","))
    };
    let huge_exp = [
        "1000000000000000000",
        "1e18",
        "1E+18",
        "18446744073709551615",
        "100000000000000000000000",
        "1.7976931348623157e308",
    ];
    for exp in huge_exp {
        let token = f.rs_raw(header, &with("exp", exp));
        f.expect_allow("/rs", &token, &format!("exp {exp} without max_lifetime")).await;
    }
    for exp in ["-1", "0", "-0", "-9223372036854775808", "-1e18", "-1.7976931348623157e308", "1.5", "5e-324"]
    {
        let token = f.rs_raw(header, &with("exp", exp));
        f.expect_deny("/rs", &token, 401, "expired", &format!("exp {exp}")).await;
    }
    // Beyond f64: not a number serde_json can hold, so the payload is refused.
    for (name, value) in
        [("exp", "1e400"), ("exp", "-1e400"), ("exp", "1e309"), ("nbf", "1e400"), ("iat", "-1e400")]
    {
        let token = f.rs_raw(header, &with(name, value));
        f.expect_deny("/rs", &token, 401, "malformed_token", &format!("{name} {value}")).await;
    }
    // Not JSON numbers at all.
    for (name, value) in [("exp", "NaN"), ("exp", "Infinity"), ("exp", "-Infinity"), ("exp", "0x7fffffff")] {
        let token = f.rs_raw(header, &with(name, value));
        f.expect_deny("/rs", &token, 401, "malformed_token", &format!("{name} {value} (bare)")).await;
    }
    for (name, value) in [
        ("exp", r#""NaN""#),
        ("exp", r#""Infinity""#),
        ("exp", r#""-Infinity""#),
        ("exp", r#""1e400""#),
        ("exp", r#""9999999999""#),
        ("nbf", r#""NaN""#),
        ("iat", r#""Infinity""#),
    ] {
        let token = f.rs_raw(header, &with(name, value));
        f.expect_deny("/rs", &token, 401, "invalid_claim", &format!("{name} {value}")).await;
    }
    for (name, value, expected) in [
        ("nbf", "1e18", "not_yet_valid"),
        ("nbf", "1.7976931348623157e308", "not_yet_valid"),
        ("iat", "1e18", "issued_in_future"),
        ("iat", "1.7976931348623157e308", "issued_in_future"),
    ] {
        let token = f.rs_raw(header, &with(name, value));
        f.expect_deny("/rs", &token, 401, expected, &format!("{name} {value}")).await;
    }
    for (name, value) in [("nbf", "-1e18"), ("iat", "-1e18"), ("nbf", "0"), ("iat", "0")] {
        let token = f.rs_raw(header, &with(name, value));
        f.expect_allow("/rs", &token, &format!("{name} {value}")).await;
    }

    // With `max_lifetime: 1h`, a far-away exp (or a long-ago iat) is too long a lifetime.
    f.expect_allow("/capped", &f.es_token(CAPPED_ISS, json!({})), "capped control").await;
    for (label, extra) in [
        ("exp 1e18", json!({"exp": 1e18})),
        ("exp f64::MAX", json!({"exp": f64::MAX})),
        ("exp u64::MAX", json!({"exp": u64::MAX})),
        ("exp 1e18, no iat", json!({"exp": 1e18, "iat": null})),
        ("exp in 2h", json!({"exp": now + 7200})),
        ("iat -1e18", json!({"iat": -1e18})),
        ("iat 0", json!({"iat": 0})),
    ] {
        let token = f.es_token(CAPPED_ISS, extra);
        f.expect_deny("/capped", &token, 401, "lifetime_too_long", label).await;
    }
    f.assert_still_serving().await;
}

// === provider pinning ===

#[tokio::test]
async fn tokens_of_another_provider_are_refused_on_pinned_routes() {
    let mut f = Fixture::start().await;
    let rs = f.rs_token(json!({}));
    let es = f.es_token(ES_ISS, json!({}));
    let hs = f.hs_token(json!({}));
    let strict = f.es_token(STRICT_ISS, json!({}));
    let capped = f.es_token(CAPPED_ISS, json!({}));
    let open = f.rs.mint(&claims(OPEN_ISS, json!({}))).unwrap();
    // Controls: each token on its own route.
    for (path, token) in [
        ("/rs", &rs),
        ("/es", &es),
        ("/hs", &hs),
        ("/strict", &strict),
        ("/capped", &capped),
        ("/open", &open),
        ("/both", &rs),
        ("/both", &hs),
    ] {
        f.expect_allow(path, token, "control").await;
    }
    let crossings = [
        ("/rs", &es, "es token"),
        ("/rs", &hs, "hs token"),
        ("/rs", &open, "same RSA key, other issuer"),
        ("/es", &rs, "rs token"),
        ("/es", &hs, "hs token"),
        ("/es", &strict, "same EC key, other issuer"),
        ("/hs", &rs, "rs token"),
        ("/hs", &es, "es token"),
        ("/both", &es, "es token"),
        ("/strict", &es, "same EC key, other issuer"),
        ("/strict", &capped, "same EC key, other issuer"),
        ("/capped", &strict, "same EC key, other issuer"),
        ("/open", &rs, "same RSA key, other issuer"),
    ];
    for (path, token, label) in crossings {
        f.expect_deny(path, token, 401, "wrong_issuer", label).await;
    }
    // Claiming the pinned provider's issuer does not help: its keys decide.
    let attacker = SigningKey::generate(Algorithm::ES256, "es-1").unwrap();
    let forged = attacker.mint(&claims(ES_ISS, json!({"sub": "admin"}))).unwrap();
    f.expect_deny("/es", &forged, 401, "bad_signature", "attacker key with the real kid").await;
    let relabelled = f.es.mint(&claims(RS_ISS, json!({}))).unwrap();
    f.expect_deny("/rs", &relabelled, 401, "algorithm_not_allowed", "es key claiming the rs issuer").await;
    let hs_as_rs = f.hs.mint(&claims(RS_ISS, json!({}))).unwrap();
    f.expect_deny("/both", &hs_as_rs, 401, "algorithm_not_allowed", "hs secret claiming the rs issuer").await;
    f.assert_still_serving().await;
}

// === more than one credential ===

#[tokio::test]
async fn header_and_query_credentials_must_agree() {
    let mut f = Fixture::start().await;
    let a = f.rs_token(json!({"jti": "a"}));
    let b = f.rs_token(json!({"jti": "b"}));
    let bearer_a = format!("Bearer {a}");
    for path in ["/rs", "/both"] {
        let response = f
            .check(request("GET", &format!("{path}?access_token={b}"), &[("authorization", &bearer_a)]))
            .await;
        assert_deny(&response, 400, "multiple_tokens", &format!("header a, query b on {path}"));
        let (_, _, deny) = denied(&response);
        assert!(header(&deny.headers, "www-authenticate").unwrap().contains("invalid_request"));
        // The other token is garbage: still two credentials.
        let response = f
            .check(request("GET", &format!("{path}?access_token=garbage"), &[("authorization", &bearer_a)]))
            .await;
        assert_deny(&response, 400, "multiple_tokens", &format!("header a, query garbage on {path}"));
    }
    for query in
        [format!("access_token={a}&access_token={b}"), format!("access_token={b}&x=1&access_token={a}")]
    {
        let response = f.check(request("GET", &format!("/rs?{query}"), &[])).await;
        assert_deny(&response, 400, "multiple_tokens", &query);
    }
    // The same credential in both places is one credential; both are stripped.
    let encoded = a.replace('.', "%2E");
    for query in [
        format!("access_token={a}"),
        format!("access_token={encoded}"),
        format!("access_token={a}&access_token={a}"),
    ] {
        let response =
            f.check(request("GET", &format!("/rs?{query}"), &[("authorization", &bearer_a)])).await;
        let allowed = ok(&response);
        assert!(allowed.headers_to_remove.iter().any(|h| h == "authorization"), "{allowed:?}");
        assert!(allowed.query_parameters_to_remove.iter().any(|q| q == "access_token"), "{allowed:?}");
    }
    // Query only.
    let response = f.check(request("GET", &format!("/rs?access_token={a}"), &[])).await;
    assert!(ok(&response).query_parameters_to_remove.iter().any(|q| q == "access_token"));
    f.assert_still_serving().await;
}

// === size limits ===

#[tokio::test]
async fn oversized_tokens_are_refused_before_parsing() {
    let mut f = Fixture::start().await;
    const LIMIT: usize = 8 * 1024;
    // Validly signed tokens just under and just over the limit.
    let base = f.rs_token(json!({"pad": ""})).len();
    let start = (LIMIT - base) * 3 / 4 - 8;
    let (mut largest_ok, mut smallest_over) = (None, None);
    for pad in start..start + 32 {
        let token = f.rs_token(json!({"pad": "x".repeat(pad)}));
        if token.len() <= LIMIT {
            largest_ok = Some(token);
        } else {
            smallest_over = Some(token);
            break;
        }
    }
    let (largest_ok, smallest_over) = (largest_ok.unwrap(), smallest_over.unwrap());
    assert!(largest_ok.len() > LIMIT - 4 && smallest_over.len() <= LIMIT + 4);
    f.expect_allow("/rs", &largest_ok, &format!("valid token of {} bytes", largest_ok.len())).await;
    f.expect_deny("/rs", &smallest_over, 401, "token_too_large", "valid token over the limit").await;
    // Garbage over the limit is refused by size, not by content: nothing was parsed.
    for token in [
        "a".repeat(LIMIT + 1),
        "a.b.c".repeat(2000),
        format!("{}.{}.{}", "=".repeat(5000), "+", "/".repeat(5000)),
    ] {
        f.expect_deny("/rs", &token, 401, "token_too_large", &format!("{} bytes of junk", token.len())).await;
    }
    let response = f.check(request("GET", &format!("/rs?access_token={}", smallest_over), &[])).await;
    assert_deny(&response, 401, "token_too_large", "oversized token in the query");
    f.assert_still_serving().await;
}

/// A deny with one of `denies`, or (if `may_allow`) an allow: the server decided.
fn assert_decided(response: &CheckResponse, denies: &[(i32, &str)], may_allow: bool, label: &str) {
    let code = response.status.as_ref().map(|s| s.code);
    assert!(code.is_some(), "{label}: no decision: {response:?}");
    if code == Some(0) {
        assert!(may_allow, "{label}: unexpected allow");
        ok(response);
        return;
    }
    let (status, _, _) = denied(response);
    assert!(
        denies.contains(&(status, reason(response))),
        "{label}: got {status} {}, expected one of {denies:?}",
        reason(response)
    );
}

#[tokio::test]
async fn a_megabyte_authorization_header_is_a_clean_deny() {
    let mut f = Fixture::start().await;
    // Refused as an oversized token, or earlier as oversized headers.
    let too_big = [(401, "token_too_large"), (400, "headers_too_large")];
    let megabyte = format!("Bearer {}", "a".repeat(1 << 20));
    let response = f.check(request("GET", "/rs", &[("authorization", &megabyte)])).await;
    assert_decided(&response, &too_big, false, "1 MB of token characters");
    let good = f.rs_token(json!({}));
    let parts = segments(&good);
    let jwt_shaped = format!("Bearer {}.{}.{}", parts[0], b64(vec![b'x'; 3 << 18]), parts[2]);
    let response = f.check(request("GET", "/rs", &[("authorization", &jwt_shaped)])).await;
    assert_decided(&response, &too_big, false, "1 MB JWT-shaped token");
    let response = f.check(raw_request("GET", "/rs", &[("authorization", megabyte.as_bytes())])).await;
    assert_decided(&response, &too_big, false, "1 MB raw header");
    // A megabyte of something that is not a token at all.
    let junk = format!("Bearer {}", "\u{fffd}".repeat(1 << 18));
    let response = f.check(request("GET", "/rs", &[("authorization", &junk)])).await;
    assert_decided(
        &response,
        &[(400, "multiple_tokens"), (400, "headers_too_large")],
        false,
        "1 MB non-ASCII",
    );
    // A megabyte in another header next to a valid token.
    let bearer = format!("Bearer {good}");
    let filler = "f".repeat(1 << 20);
    let response = f.check(request("GET", "/rs", &[("authorization", &bearer), ("x-filler", &filler)])).await;
    assert_decided(&response, &[(400, "headers_too_large")], true, "1 MB filler header");
    f.assert_still_serving().await;
}

// === header tricks ===

#[tokio::test]
async fn duplicate_authorization_headers_are_ambiguous() {
    let mut f = Fixture::start().await;
    let a = format!("Bearer {}", f.rs_token(json!({"jti": "a"})));
    let b = format!("Bearer {}", f.rs_token(json!({"jti": "b"})));
    let cases: Vec<(&str, CheckRequest)> = vec![
        ("merged a,b", request("GET", "/rs", &[("authorization", &a), ("authorization", &b)])),
        ("merged a, b", request_exact_names("/rs", &[("authorization", &format!("{a}, {b}"))])),
        // A comma means Envoy merged two values: refused even when both are equal.
        ("merged a,a", request("GET", "/rs", &[("authorization", &a), ("authorization", &a)])),
        ("merged a,garbage", request("GET", "/rs", &[("authorization", &a), ("authorization", "Bearer x")])),
        ("two words", request("GET", "/rs", &[("authorization", &format!("{a} {b}"))])),
        (
            "exact names Authorization + authorization",
            request_exact_names("/rs", &[("Authorization", &a), ("authorization", &b)]),
        ),
        (
            "exact names AUTHORIZATION + authorization",
            request_exact_names("/rs", &[("AUTHORIZATION", &a), ("authorization", &b)]),
        ),
        (
            "raw a + b",
            raw_request("GET", "/rs", &[("authorization", a.as_bytes()), ("authorization", b.as_bytes())]),
        ),
        (
            "raw Authorization + authorization",
            raw_request("GET", "/rs", &[("Authorization", a.as_bytes()), ("authorization", b.as_bytes())]),
        ),
        (
            "raw a + garbage",
            raw_request("GET", "/rs", &[("authorization", a.as_bytes()), ("authorization", b"Bearer x")]),
        ),
        (
            "headers a + header_map b",
            request_both_maps("/rs", &[("authorization", &a)], &[("authorization", b.as_bytes())]),
        ),
        (
            "headers a + header_map B",
            request_both_maps("/rs", &[("authorization", &a)], &[("AUTHORIZATION", b.as_bytes())]),
        ),
        ("a + b on /both", request("GET", "/both", &[("authorization", &a), ("authorization", &b)])),
    ];
    for (label, check) in cases {
        let response = f.check(check).await;
        assert_deny(&response, 400, "multiple_tokens", label);
    }
    // The same credential twice in separate entries is one credential.
    let same = [
        (
            "raw a + a",
            raw_request("GET", "/rs", &[("authorization", a.as_bytes()), ("Authorization", a.as_bytes())]),
        ),
        (
            "headers a + header_map a",
            request_both_maps("/rs", &[("authorization", &a)], &[("authorization", a.as_bytes())]),
        ),
        (
            "raw a + bearer a",
            raw_request(
                "GET",
                "/rs",
                &[
                    ("authorization", a.as_bytes()),
                    ("authorization", a.replacen("Bearer", "bearer", 1).as_bytes()),
                ],
            ),
        ),
    ];
    for (label, check) in same {
        let response = f.check(check).await;
        assert_eq!(response.status.as_ref().map(|s| s.code), Some(0), "{label}: {response:?}");
    }
    f.assert_still_serving().await;
}

#[tokio::test]
async fn bearer_scheme_spellings() {
    let mut f = Fixture::start().await;
    let token = f.rs_token(json!({}));
    for value in [
        format!("Bearer {token}"),
        format!("bearer {token}"),
        format!("BEARER {token}"),
        format!("bEaReR {token}"),
        format!("Bearer     {token}"),
        format!("Bearer\t{token}"),
        format!("Bearer \t {token}"),
        format!("  Bearer {token}  "),
        format!("\tBearer {token}\t"),
    ] {
        let response = f.check(request("GET", "/rs", &[("authorization", &value)])).await;
        assert_eq!(response.status.as_ref().map(|s| s.code), Some(0), "{value:.20?}: {response:?}");
    }
    // No bearer credential at all: 401 with the bare challenge.
    for value in [
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "Bearer\t".to_owned(),
        "bearer    ".to_owned(),
        String::new(),
        "Basic dXNlcjpwYXNz".to_owned(),
        format!("Basic {token}"),
        format!("Token {token}"),
        format!("JWT {token}"),
        format!("DPoP {token}"),
        token.clone(),
    ] {
        let response = f.check(request("GET", "/rs", &[("authorization", &value)])).await;
        assert_deny(&response, 401, "missing_token", &format!("{value:.24?}"));
        let (_, _, deny) = denied(&response);
        assert_eq!(header(&deny.headers, "www-authenticate"), Some("Bearer realm=\"gatehouse\""));
    }
    // Starts like a bearer credential but is not one, or names the scheme in a
    // joined list: refused (400), never ignored, since an upstream might read
    // a token out of it that gatehouse did not check.
    for value in [
        format!("Bearer{token}"),
        format!("Bearer:{token}"),
        format!("Bearer-{token}"),
        format!("Bearer\u{a0}{token}"),
        format!("Basic dXNlcjpwYXNz, Bearer {token}"),
    ] {
        let response = f.check(request("GET", "/rs", &[("authorization", &value)])).await;
        assert_deny(&response, 400, "multiple_tokens", &format!("{value:.24?}"));
    }
    // Other headers named like the token header do not count.
    for name in ["authorization ", "x-authorization", "proxy-authorization", "authorisation"] {
        let value = format!("Bearer {token}");
        let response = f.check(raw_request("GET", "/rs", &[(name, value.as_bytes())])).await;
        assert_deny(&response, 401, "missing_token", name);
    }
    f.assert_still_serving().await;
}

#[tokio::test]
async fn non_ascii_and_control_bytes_in_headers_are_a_clean_deny() {
    let mut f = Fixture::start().await;
    let token = f.rs_token(json!({}));
    for value in [
        "Bearer tökén".to_owned(),
        format!("Bearer {token}é"),
        format!("Bearer é{token}"),
        format!("Bearer {token}\u{0}"),
        format!("Bearer {token}\u{7f}"),
        format!("Bearer {token}\u{200b}"),
        format!("Bearer {}", token.replace('.', "\u{2024}")),
    ] {
        let response = f.check(request("GET", "/rs", &[("authorization", &value)])).await;
        assert_deny(
            &response,
            400,
            "multiple_tokens",
            &format!("{:?}", value.chars().rev().take(3).collect::<String>()),
        );
    }
    let raw_values: Vec<Vec<u8>> = vec![
        b"Bearer \xff\xfe".to_vec(),
        b"Bearer \xff".to_vec(),
        [b"Bearer ", token.as_bytes(), b"\xff"].concat(),
        [b"Bearer ", token.as_bytes(), b"\x00"].concat(),
        [b"Bearer \x00", token.as_bytes()].concat(),
        [b"\xffBearer ", token.as_bytes()].concat(),
        [b"B\xe9arer ", token.as_bytes()].concat(),
        [b"Bearer ", token.as_bytes(), b"\xc0\x80"].concat(),
        [b"Bearer ", token.as_bytes(), b"\r\nX-User-Id: admin"].concat(),
    ];
    for value in &raw_values {
        let response = f.check(raw_request("GET", "/rs", &[("authorization", value)])).await;
        assert_deny(
            &response,
            400,
            "multiple_tokens",
            &format!("raw {:?}", String::from_utf8_lossy(&value[value.len().saturating_sub(12)..])),
        );
    }
    // Hostile bytes in a header gatehouse does not read change nothing.
    let bearer = format!("Bearer {token}");
    let response = f
        .check(raw_request(
            "GET",
            "/rs",
            &[("x-junk", b"\xff\xfe\x00\r\n"), ("authorization", bearer.as_bytes()), ("x-\u{e9}", b"\x80")],
        ))
        .await;
    assert_eq!(header(&ok(&response).headers, "x-user-id"), Some("alice"));
    // A non-ASCII header name is not the token header.
    let response = f.check(raw_request("GET", "/rs", &[("authorizatión", bearer.as_bytes())])).await;
    assert_deny(&response, 401, "missing_token", "non-ASCII header name");
    f.assert_still_serving().await;
}

#[tokio::test]
async fn ten_thousand_headers_are_decided() {
    let mut f = Fixture::start().await;
    let bearer = format!("Bearer {}", f.rs_token(json!({})));
    let names: Vec<String> = (0..10_000).map(|i| format!("x-junk-{i:05}")).collect();
    let mut headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    headers.push(("authorization", &bearer));
    let response = f.check(request("GET", "/rs", &headers)).await;
    assert_decided(&response, &[(400, "headers_too_large")], true, "10,000 distinct headers");

    let raw: Vec<(&str, &[u8])> = names
        .iter()
        .map(|n| (n.as_str(), b"v".as_slice()))
        .chain([("authorization", bearer.as_bytes())])
        .collect();
    let response = f.check(raw_request("GET", "/rs", &raw)).await;
    assert_decided(&response, &[(400, "headers_too_large")], true, "10,000 raw headers");

    // Copies of a credential: an ES256 token is short enough for 10,000 of
    // them to fit one gRPC message (see `check_requests_over_the_grpc_limit...`).
    let es = format!("Bearer {}", f.es_token(ES_ISS, json!({})));
    let same: Vec<(&str, &[u8])> = (0..10_000).map(|_| ("authorization", es.as_bytes())).collect();
    let response = f.check(raw_request("GET", "/es", &same)).await;
    assert_decided(&response, &[(400, "headers_too_large")], true, "10,000 copies of the token");

    let other = format!("Bearer {}", f.es_token(ES_ISS, json!({"jti": "other"})));
    let mixed: Vec<(&str, &[u8])> = (0..10_000)
        .map(|i| ("authorization", if i == 9_999 { other.as_bytes() } else { es.as_bytes() }))
        .collect();
    let response = f.check(raw_request("GET", "/es", &mixed)).await;
    assert_decided(
        &response,
        &[(400, "multiple_tokens"), (400, "headers_too_large")],
        false,
        "a different last copy",
    );

    let spoofed: Vec<(&str, &[u8])> = (0..10_000)
        .map(|_| ("X-User-Id", b"admin".as_slice()))
        .chain([("authorization", bearer.as_bytes())])
        .collect();
    let response = f.check(raw_request("GET", "/rs", &spoofed)).await;
    assert_decided(&response, &[(400, "headers_too_large")], true, "10,000 spoofed identity headers");
    if response.status.as_ref().is_some_and(|s| s.code == 0) {
        assert_eq!(header(&ok(&response).headers, "x-user-id"), Some("alice"));
    }
    f.assert_still_serving().await;
}

/// A CheckRequest larger than the gRPC server's decoding limit (tonic's
/// default, 4 MiB) is refused by the transport before gatehouse sees it: an
/// RPC error, which Envoy turns into an allow under `failure_mode_allow: true`.
/// SECURITY.md promises a deny for every malformed input, never an RPC error.
#[tokio::test]
async fn check_requests_over_the_grpc_message_limit_are_denied_not_errors() {
    let mut f = Fixture::start().await;
    let bearer = format!("Bearer {}", f.rs_token(json!({})));
    let filler = "f".repeat(5 << 20);
    let check = request("GET", "/rs", &[("authorization", &bearer), ("x-filler", &filler)]);
    let result = f.gatehouse.client.check(check).await;
    let response = match result {
        Ok(response) => response.into_inner(),
        Err(status) => panic!("a 5 MiB CheckRequest must be a deny, not an RPC error: {status:?}"),
    };
    assert_decided(&response, &[(400, "headers_too_large")], false, "5 MiB of headers");
    f.assert_still_serving().await;
}

// === identity header spoofing ===

const SPOOFED: [(&str, &str); 7] = [
    ("X-User-Id", "admin"),
    ("X-USER-ID", "root"),
    ("x-user-id", "mallory"),
    ("x-User-ID", "eve"),
    ("X-Jwt-Payload", "eyJzdWIiOiJhZG1pbiJ9"),
    ("X-SERVICE", "billing"),
    ("x-Service", "payroll"),
];
const IDENTITY: [&str; 3] = ["x-user-id", "x-jwt-payload", "x-service"];

/// The same spoofed headers through each way Envoy may deliver them.
fn spoofing_requests(path: &str, extra: &[(&str, &str)]) -> Vec<(&'static str, CheckRequest)> {
    let mut exact: Vec<(&str, &str)> = SPOOFED.to_vec();
    exact.extend_from_slice(extra);
    let raw: Vec<(&str, &[u8])> = exact.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
    let lower: Vec<(&str, &str)> =
        SPOOFED.iter().map(|(k, v)| (*k, *v)).chain(extra.iter().copied()).collect();
    vec![
        ("headers map, lower-cased and merged", request("GET", path, &lower)),
        ("headers map, names as sent", request_exact_names(path, &exact)),
        ("raw header_map", raw_request("GET", path, &raw)),
        (
            "both maps",
            request_both_maps(
                path,
                extra,
                &SPOOFED.iter().map(|(k, v)| (*k, v.as_bytes())).collect::<Vec<_>>(),
            ),
        ),
    ]
}

#[tokio::test]
async fn identity_headers_are_stripped_on_anonymous_routes_in_every_casing() {
    let mut f = Fixture::start().await;
    let bearer = format!("Bearer {}", f.rs_token(json!({"sub": "alice"})));
    let with_token = [("authorization", bearer.as_str())];
    let with_garbage = [("authorization", "Bearer garbage")];
    for extra in [&[][..], &with_token[..], &with_garbage[..]] {
        for (how, check) in spoofing_requests("/public/info", extra) {
            let response = f.check(check).await;
            let allowed = ok(&response);
            assert!(allowed.headers.is_empty(), "{how}: nothing is set on an anonymous allow: {allowed:?}");
            for name in IDENTITY {
                assert!(
                    allowed.headers_to_remove.iter().any(|h| h == name),
                    "{how}: {name} not removed: {allowed:?}"
                );
            }
            for removed in &allowed.headers_to_remove {
                assert_eq!(removed, &removed.to_ascii_lowercase(), "{how}: removal names are lower-case");
            }
        }
    }
    f.assert_still_serving().await;
}

#[tokio::test]
async fn identity_headers_are_overwritten_on_authenticated_routes() {
    let mut f = Fixture::start().await;
    let rs = f.rs_token(json!({"sub": "alice"}));
    let bearer = format!("Bearer {rs}");
    for (how, check) in spoofing_requests("/rs/me", &[("authorization", bearer.as_str())]) {
        let response = f.check(check).await;
        let allowed = ok(&response);
        assert_overwrites(allowed);
        assert_eq!(header(&allowed.headers, "x-user-id"), Some("alice"), "{how}");
        assert_eq!(header(&allowed.headers, "x-jwt-payload"), Some(segments(&rs)[1]), "{how}");
        assert!(allowed.headers_to_remove.iter().any(|h| h == "x-service"), "{how}: {allowed:?}");
        assert!(allowed.headers_to_remove.iter().any(|h| h == "authorization"), "{how}: {allowed:?}");
        assert!(!allowed.headers_to_remove.iter().any(|h| h == "x-user-id"), "{how}: set, not removed");
        for option in &allowed.headers {
            let set = option.header.as_ref().unwrap();
            assert_eq!(set.key, set.key.to_ascii_lowercase(), "{how}");
            assert!(!SPOOFED.iter().any(|(_, v)| *v == set.value), "{how}: a spoofed value was forwarded");
        }
    }
    let hs = format!("Bearer {}", f.hs_token(json!({"sub": "svc-orders"})));
    for (how, check) in spoofing_requests("/hs/jobs", &[("authorization", hs.as_str())]) {
        let response = f.check(check).await;
        let allowed = ok(&response);
        assert_overwrites(allowed);
        assert_eq!(header(&allowed.headers, "x-service"), Some("svc-orders"), "{how}");
        for name in ["x-user-id", "x-jwt-payload"] {
            assert!(allowed.headers_to_remove.iter().any(|h| h == name), "{how}: {name} not removed");
        }
    }
    // A claim that would inject a header is dropped, and then the client's
    // copy of that identity header is removed rather than kept.
    let injecting = format!("Bearer {}", f.rs_token(json!({"sub": "alice\r\nx-admin: true"})));
    for (how, check) in spoofing_requests("/rs/me", &[("authorization", injecting.as_str())]) {
        let response = f.check(check).await;
        let allowed = ok(&response);
        assert_eq!(header(&allowed.headers, "x-user-id"), None, "{how}");
        assert!(allowed.headers_to_remove.iter().any(|h| h == "x-user-id"), "{how}: spoofed copy kept");
    }
    f.assert_still_serving().await;
}
