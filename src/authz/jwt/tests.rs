// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
use super::*;
use crate::keys::VerifyingKey;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const NOW: u64 = 1_700_000_000;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn sign(header: &str, payload: &str) -> String {
    crate::dev::testing::hs256_raw(SECRET, header, payload)
}

fn keys() -> KeySet {
    KeySet::new(vec![VerifyingKey::hmac(Some("k1".into()), SECRET, &[Algorithm::HS256]).unwrap()])
}

fn rules() -> Validation {
    Validation {
        issuer: "https://idp".into(),
        audiences: vec!["api".into()],
        algorithms: vec![Algorithm::HS256],
        clock_skew_secs: 60,
        max_lifetime_secs: None,
        require_expiration: true,
        token_types: Vec::new(),
    }
}

fn claims(extra: &str) -> String {
    format!(r#"{{"iss":"https://idp","aud":"api","sub":"alice","exp":{}{extra}}}"#, NOW + 300)
}

fn check(token: &str) -> Result<VerifiedToken, TokenError> {
    check_with(token, &rules())
}

fn check_with(token: &str, rules: &Validation) -> Result<VerifiedToken, TokenError> {
    parse(token, 8192)?.verify(&keys(), rules, NOW)
}

const HEADER: &str = r#"{"alg":"HS256","kid":"k1"}"#;

#[test]
fn a_good_token_verifies_and_keeps_its_claims() {
    let token = sign(HEADER, &claims(""));
    let verified = check(&token).unwrap();
    assert_eq!(verified.claims["sub"], "alice");
    assert_eq!(verified.origin, Origin::Signature(Algorithm::HS256));
    assert_eq!(verified.payload_b64, None, "kept only for a provider with payload_header");
}

#[test]
fn structural_problems() {
    let good = sign(HEADER, &claims(""));
    let cases: Vec<(String, TokenError)> = vec![
        ("a.b".into(), TokenError::Malformed),
        ("a.b.c.d".into(), TokenError::Malformed),
        ("a.b.c.d.e".into(), TokenError::Encrypted),
        (format!("{good}="), TokenError::Malformed),
        (good.replacen('.', "=.", 1), TokenError::Malformed),
        (format!(" {good}"), TokenError::Malformed),
        (format!("..{}", good.split('.').nth(2).unwrap()), TokenError::Malformed),
        (sign(r#"{"alg":"HS256","alg":"HS256"}"#, &claims("")), TokenError::Malformed),
        (sign(HEADER, &format!(r#"{{"sub":"a","sub":"b","exp":{}}}"#, NOW + 10)), TokenError::Malformed),
        (sign(r#"{"kid":"k1"}"#, &claims("")), TokenError::Malformed),
        (sign(r#"{"alg":"none"}"#, &claims("")), TokenError::AlgorithmNotAllowed),
        (sign(r#"{"alg":"nOnE"}"#, &claims("")), TokenError::AlgorithmNotAllowed),
        (sign(r#"{"alg":"HS256","crit":["exp"],"exp":1}"#, &claims("")), TokenError::UnsupportedHeader),
        (sign(r#"{"alg":"HS256","b64":false}"#, &claims("")), TokenError::UnsupportedHeader),
        (sign(r#"{"alg":"HS256","cty":"JWT"}"#, &claims("")), TokenError::UnsupportedHeader),
        (sign(HEADER, "[1,2]"), TokenError::Malformed),
        (sign(HEADER, "not json"), TokenError::Malformed),
    ];
    for (token, want) in cases {
        assert_eq!(check(&token).unwrap_err(), want, "{token}");
    }
    assert_eq!(parse(&good, 10).unwrap_err(), TokenError::TooLarge);
}

#[test]
fn signature_and_key_selection() {
    let good = sign(HEADER, &claims(""));
    let mut bad = good.clone();
    bad.pop();
    bad.push(if good.ends_with('A') { 'Q' } else { 'A' });
    assert!(matches!(check(&bad).unwrap_err(), TokenError::BadSignature | TokenError::Malformed));
    let tampered = format!(
        "{}.{}.{}",
        good.split('.').next().unwrap(),
        b64(claims(r#","admin":true"#).as_bytes()),
        good.split('.').nth(2).unwrap()
    );
    assert_eq!(check(&tampered).unwrap_err(), TokenError::BadSignature);
    assert_eq!(
        check(&sign(r#"{"alg":"HS256","kid":"other"}"#, &claims(""))).unwrap_err(),
        TokenError::UnknownKid
    );
    assert!(check(&sign(r#"{"alg":"HS256"}"#, &claims(""))).is_ok(), "no kid: every key of the alg is tried");
    assert_eq!(
        check(&sign(r#"{"alg":"RS256","kid":"k1"}"#, &claims(""))).unwrap_err(),
        TokenError::AlgorithmNotAllowed
    );
    let mut rs_allowed = rules();
    rs_allowed.algorithms.push(Algorithm::RS256);
    assert_eq!(
        check_with(&sign(r#"{"alg":"RS256","kid":"k1"}"#, &claims("")), &rs_allowed).unwrap_err(),
        TokenError::NoMatchingKey,
        "an HMAC key never verifies an RS256 token"
    );
    // Embedded keys are never used: the token still verifies against the configured key only.
    let embedded = sign(
        r#"{"alg":"HS256","kid":"k1","jku":"https://evil/jwks","jwk":{"kty":"oct","k":"AAAA"}}"#,
        &claims(""),
    );
    assert!(check(&embedded).is_ok());
}

#[test]
fn time_claims_with_leeway() {
    let at = |exp: i64, extra: &str| {
        sign(HEADER, &format!(r#"{{"iss":"https://idp","aud":"api","exp":{exp}{extra}}}"#))
    };
    let now = NOW as i64;
    assert!(check(&at(now + 1, "")).is_ok());
    assert!(check(&at(now - 59, "")).is_ok(), "within skew");
    assert_eq!(check(&at(now - 60, "")).unwrap_err(), TokenError::Expired);
    assert_eq!(check(&at(-5, "")).unwrap_err(), TokenError::Expired);
    assert!(check(&at(now + 10, &format!(r#","nbf":{}"#, now + 60))).is_ok());
    assert_eq!(
        check(&at(now + 10, &format!(r#","nbf":{}"#, now + 61))).unwrap_err(),
        TokenError::NotYetValid
    );
    assert_eq!(
        check(&at(now + 10, &format!(r#","iat":{}"#, now + 61))).unwrap_err(),
        TokenError::IssuedInFuture
    );
    assert!(check(&at(i64::MAX, "")).is_ok(), "far future is fine without max_lifetime");
    assert!(check(&at(now + 10, r#","exp2":1.5"#)).is_ok());
    assert_eq!(
        check(&sign(HEADER, &format!(r#"{{"iss":"https://idp","aud":"api","exp":"{}"}}"#, now + 10)))
            .unwrap_err(),
        TokenError::InvalidClaim
    );
    assert_eq!(
        check(&sign(HEADER, r#"{"iss":"https://idp","aud":"api"}"#)).unwrap_err(),
        TokenError::MissingExpiration
    );
    let mut lenient = rules();
    lenient.require_expiration = false;
    assert!(check_with(&sign(HEADER, r#"{"iss":"https://idp","aud":"api"}"#), &lenient).is_ok());
    let mut bounded = rules();
    bounded.max_lifetime_secs = Some(3600);
    assert!(check_with(&at(now + 3600, &format!(r#","iat":{now}"#)), &bounded).is_ok());
    assert_eq!(
        check_with(&at(now + 7200, &format!(r#","iat":{now}"#)), &bounded).unwrap_err(),
        TokenError::LifetimeTooLong
    );
    assert_eq!(check_with(&at(i64::MAX, ""), &bounded).unwrap_err(), TokenError::LifetimeTooLong);
}

#[test]
fn issuer_and_audience() {
    let with = |body: &str| sign(HEADER, &format!(r#"{{"exp":{}{body}}}"#, NOW + 100));
    assert_eq!(check(&with(r#","iss":"https://other","aud":"api""#)).unwrap_err(), TokenError::WrongIssuer);
    assert_eq!(check(&with(r#","aud":"api""#)).unwrap_err(), TokenError::WrongIssuer);
    assert_eq!(check(&with(r#","iss":["https://idp"],"aud":"api""#)).unwrap_err(), TokenError::InvalidClaim);
    assert_eq!(check(&with(r#","iss":"https://idp","aud":"web""#)).unwrap_err(), TokenError::WrongAudience);
    assert_eq!(check(&with(r#","iss":"https://idp""#)).unwrap_err(), TokenError::WrongAudience);
    assert!(check(&with(r#","iss":"https://idp","aud":["web","api"]"#)).is_ok());
    assert_eq!(check(&with(r#","iss":"https://idp","aud":5"#)).unwrap_err(), TokenError::InvalidClaim);
    assert_eq!(
        check(&with(r#","iss":"https://idp","aud":["api",5]"#)).unwrap_err(),
        TokenError::InvalidClaim
    );
    assert_eq!(
        check(&with(r#","iss":"https://idp","aud":"api","sub":7"#)).unwrap_err(),
        TokenError::InvalidClaim
    );
    let mut any_audience = rules();
    any_audience.audiences.clear();
    assert!(check_with(&with(r#","iss":"https://idp""#), &any_audience).is_ok());
}

#[test]
fn every_algorithm_verifies_through_parse_and_verify() {
    use crate::dev::{jwks_json, SigningKey};
    use crate::keys::parse_jwks;
    let rsa = SigningKey::generate(Algorithm::RS256, "rsa").unwrap().to_json();
    for alg in Algorithm::ALL {
        let key = match alg.family() {
            // One RSA key, relabelled per algorithm: RSA key generation is slow.
            crate::alg::KeyFamily::Rsa => {
                SigningKey::from_json(&rsa.replace("\"RS256\"", &format!("\"{alg}\""))).unwrap()
            }
            _ => SigningKey::generate(alg, format!("kid-{alg}")).unwrap(),
        };
        let keys = parse_jwks(jwks_json(&[&key]).as_bytes(), &[alg], 10).unwrap().set;
        let mut rules = rules();
        rules.algorithms = vec![alg];
        let body = serde_json::json!({"iss": "https://idp", "aud": "api", "sub": "alice", "exp": NOW + 60});
        let token = key.mint(&body).unwrap();
        let verified = parse(&token, 8192).unwrap().verify(&keys, &rules, NOW).unwrap();
        assert_eq!(verified.origin, Origin::Signature(alg));
        // The same token with another payload fails, and another key of the same kind never verifies it.
        let (head, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let forged = format!(
            "{head}.{}.{signature}",
            b64(br#"{"iss":"https://idp","aud":"api","sub":"root","exp":9999999999}"#)
        );
        assert_eq!(
            parse(&forged, 8192).unwrap().verify(&keys, &rules, NOW).unwrap_err(),
            TokenError::BadSignature,
            "{alg}"
        );
        rules.algorithms = Algorithm::ALL.iter().copied().filter(|a| *a != alg).collect();
        assert_eq!(
            parse(&token, 8192).unwrap().verify(&keys, &rules, NOW).unwrap_err(),
            TokenError::AlgorithmNotAllowed,
            "{alg}"
        );
    }
}
