//! gatehouse's JWS verification against `jsonwebtoken` 12 (aws-lc-rs backend),
//! the measurement behind keeping the hand-written path (ARCHITECTURE.md).
//!
//! Per algorithm (RS256, ES256, EdDSA), one key and one realistic token (a
//! dozen claims), and two measured closures over the same token:
//!
//! - `gatehouse`: `parse_token(token, 8192)` + `verify(&keys, &validation,
//!   now)`, the key set parsed from the JWKS once, outside the loop (as
//!   gatehouse does once per JWKS load);
//! - `jsonwebtoken`: `decode::<Map<String, Value>>(token, &key, &validation)`,
//!   the `DecodingKey` built from the same JWK once, outside the loop, and a
//!   `Validation` set up equivalently: the algorithm pinned, `iss` and `aud`
//!   checked, `exp` required, `nbf` checked, 60 s leeway;
//! - `jsonwebtoken_wrapped`: what verifying with `jsonwebtoken` would cost
//!   with gatehouse's strictness kept around it: gatehouse's strict
//!   `parse_token` first (duplicate members, `crit`/`b64`/`cty`, canonical
//!   base64url, JWE), then `decode` with its claim checks off (its clock is
//!   the system's, not an injectable `now`), then gatehouse's `check_claims`
//!   on the claims `decode` returned.
//!
//! Both return the claims as a `serde_json::Map`. Run with
//! `cargo bench --bench verify_oracle`; medians are in
//! `target/criterion/verify_oracle_<alg>/<path>/new/estimates.json`. Under
//! `cargo test --all-targets` each closure runs once, so the fixtures are
//! checked with assertions that hold in both modes.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Map, Value};

use gatehouse::internals::{
    check_claims, parse_jwks, parse_token, KeySet, TokenError, Validation, DEFAULT_MAX_KEYS,
};
use gatehouse_testkit::{unix_now, Algorithm, SigningKey};

const ISSUER: &str = "https://idp.example.com";
const AUDIENCE: &str = "orders-api";
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// One key, its token, and both verifiers' keys and rules, all built once.
struct Fixture {
    alg: Algorithm,
    token: String,
    keys: KeySet,
    validation: Validation,
    jwt_key: jsonwebtoken::DecodingKey,
    jwt_validation: jsonwebtoken::Validation,
    /// Signature and algorithm only: claims are left to `check_claims`.
    jwt_signature_only: jsonwebtoken::Validation,
}

impl Fixture {
    fn new(alg: Algorithm, now: u64) -> Self {
        let key = SigningKey::generate(alg, format!("bench-{alg}")).expect("generate signing key");
        let claims = json!({
            "iss": ISSUER,
            "sub": "user-7f3c9a12",
            "aud": [AUDIENCE, "billing-api"],
            "azp": "web-frontend",
            "iat": now - 60,
            "nbf": now - 60,
            "exp": now + 3600,
            "jti": "5b1f0c2e-8d7a-4e3b-9a61-0c4d2f7e8b90",
            "scope": "openid profile email orders:read orders:write",
            "email": "alice@example.com",
            "email_verified": true,
            "org": { "id": "org-42", "name": "Example Corp" },
            "roles": ["buyer", "admin"],
        });
        let token = key.mint(&claims).expect("mint token");

        let jwks = json!({ "keys": [key.public_jwk()] }).to_string();
        let loaded = parse_jwks(jwks.as_bytes(), &[alg], DEFAULT_MAX_KEYS).expect("parse jwks");
        assert_eq!(loaded.set.len(), 1, "the bench JWKS must load its one key");
        let validation = Validation {
            issuer: ISSUER.to_owned(),
            audiences: vec![AUDIENCE.to_owned()],
            algorithms: vec![alg],
            clock_skew_secs: 60,
            max_lifetime_secs: None,
            require_expiration: true,
            token_types: Vec::new(),
        };

        // The same public JWK, as jsonwebtoken reads it.
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(key.public_jwk()).expect("jsonwebtoken reads the JWK");
        let jwt_key = jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("jsonwebtoken decoding key");
        let jwt_alg: jsonwebtoken::Algorithm =
            alg.as_str().parse().expect("jsonwebtoken knows the algorithm");
        let mut jwt_validation = jsonwebtoken::Validation::new(jwt_alg);
        jwt_validation.set_issuer(&[ISSUER]);
        jwt_validation.set_audience(&[AUDIENCE]);
        jwt_validation.set_required_spec_claims(&["exp"]);
        jwt_validation.validate_exp = true;
        jwt_validation.validate_nbf = true;
        jwt_validation.leeway = 60;
        let mut jwt_signature_only = jsonwebtoken::Validation::new(jwt_alg);
        jwt_signature_only.required_spec_claims.clear();
        jwt_signature_only.validate_exp = false;
        jwt_signature_only.validate_nbf = false;
        jwt_signature_only.validate_aud = false;

        let fixture =
            Self { alg, token, keys: loaded.set, validation, jwt_key, jwt_validation, jwt_signature_only };
        fixture.assert_both_accept(now, &claims);
        fixture
    }

    fn gatehouse(&self, now: u64) -> Map<String, Value> {
        parse_token(&self.token, MAX_TOKEN_BYTES)
            .and_then(|mut t| t.verify(&self.keys, &self.validation, now))
            .expect("gatehouse verifies the bench token")
            .claims
            .to_map()
    }

    fn jsonwebtoken(&self) -> Map<String, Value> {
        jsonwebtoken::decode::<Map<String, Value>>(&self.token, &self.jwt_key, &self.jwt_validation)
            .expect("jsonwebtoken verifies the bench token")
            .claims
    }

    /// gatehouse's strict parse, then `jsonwebtoken` for the signature (and
    /// its own parse of the claims), then gatehouse's claim checks.
    fn wrapped(&self, now: u64) -> Result<Map<String, Value>, TokenError> {
        let token = parse_token(&self.token, MAX_TOKEN_BYTES)?;
        if !self.validation.algorithms.contains(&token.alg()) {
            return Err(TokenError::AlgorithmNotAllowed);
        }
        let claims =
            jsonwebtoken::decode::<Map<String, Value>>(&self.token, &self.jwt_key, &self.jwt_signature_only)
                .map_err(|_| TokenError::BadSignature)?
                .claims;
        check_claims(&claims, &self.validation, now)?;
        Ok(claims)
    }

    /// Both verifiers accept the token and read the same claims (the ones minted).
    fn assert_both_accept(&self, now: u64, claims: &Value) {
        let ours = self.gatehouse(now);
        assert_eq!(Some(&ours), claims.as_object(), "{}: gatehouse claims", self.alg);
        assert_eq!(self.jsonwebtoken(), ours, "{}: jsonwebtoken claims differ", self.alg);
        assert_eq!(self.wrapped(now), Ok(ours), "{}: wrapped jsonwebtoken claims differ", self.alg);
    }
}

fn verify_oracle(c: &mut Criterion) {
    let now = unix_now();
    for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        let fixture = Fixture::new(alg, now);
        let mut group = c.benchmark_group(format!("verify_oracle_{alg}"));
        let token = fixture.token.as_str();
        group.bench_function("gatehouse", |b| {
            b.iter(|| {
                parse_token(black_box(token), MAX_TOKEN_BYTES)
                    .and_then(|mut t| t.verify(&fixture.keys, &fixture.validation, black_box(now)))
            })
        });
        group.bench_function("jsonwebtoken", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<Map<String, Value>>(
                    black_box(token),
                    &fixture.jwt_key,
                    &fixture.jwt_validation,
                )
            })
        });
        group.bench_function("jsonwebtoken_wrapped", |b| b.iter(|| fixture.wrapped(black_box(now))));
        group.finish();
        // Still true after measuring (the closures' results are dropped unseen).
        fixture.assert_both_accept(now, &json!(fixture.gatehouse(now)));
    }
}

criterion_group!(benches, verify_oracle);
criterion_main!(benches);
