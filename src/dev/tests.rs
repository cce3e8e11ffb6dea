// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
use super::*;
use crate::keys::parse_jwks;
use clap::{CommandFactory, Parser};
use serde_json::json;

#[derive(Parser)]
struct KeygenCli {
    #[command(flatten)]
    args: KeygenArgs,
}

#[derive(Parser)]
struct MintCli {
    #[command(flatten)]
    args: MintArgs,
}

fn decode_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Verifies `token` against `jwks` the way the service does, and checks that
/// a flipped payload byte breaks it.
fn assert_verifies(token: &str, jwks: &str, alg: Algorithm) {
    let loaded = parse_jwks(jwks.as_bytes(), &[alg], 100).unwrap();
    assert!(loaded.skipped.is_empty(), "{alg}: {:?}", loaded.skipped);
    let verifier = loaded.set.keys().next().unwrap();
    let (input, signature) = token.rsplit_once('.').unwrap();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    assert!(verifier.verify(alg, input.as_bytes(), &signature).is_ok(), "{alg} did not verify");
    let mut tampered = input.as_bytes().to_vec();
    *tampered.last_mut().unwrap() ^= 1;
    assert!(verifier.verify(alg, &tampered, &signature).is_err(), "{alg} accepted a changed payload");
}

fn with_alg(key: &SigningKey, alg: Algorithm) -> SigningKey {
    let mut file: Value = serde_json::from_str(&key.to_json()).unwrap();
    file["alg"] = alg.as_str().into();
    SigningKey::from_json(&file.to_string()).unwrap()
}

#[test]
fn every_algorithm_mints_tokens_the_verifier_accepts() {
    // One RSA key serves all six RS/PS algorithms: 2048-bit generation is slow in debug builds.
    let rsa = SigningKey::generate(Algorithm::RS256, "rsa").unwrap();
    for alg in Algorithm::ALL {
        let key = match alg.family() {
            KeyFamily::Rsa => with_alg(&rsa, alg),
            _ => SigningKey::generate(alg, format!("kid-{alg}")).unwrap(),
        };
        assert_eq!(key.alg(), alg);
        let token = key.mint(&json!({"sub": "alice"})).unwrap();
        let header = decode_part(&token, 0);
        assert_eq!(header, json!({"alg": alg.as_str(), "typ": "JWT", "kid": key.kid()}));
        assert_eq!(decode_part(&token, 1), json!({"sub": "alice"}));
        assert_verifies(&token, &jwks_json(&[&key]), alg);
        assert_eq!(key.public_jwk()["use"], "sig");
        assert_eq!(key.hmac_secret().is_some(), alg.is_symmetric());
    }
}

#[test]
fn keys_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SigningKey>();
}

#[test]
fn key_file_round_trip_signs_for_the_original_jwks() {
    for alg in [Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA, Algorithm::HS512] {
        let key = SigningKey::generate(alg, "dev-1").unwrap();
        let file = key.to_json();
        let member = if alg.is_symmetric() { "secret" } else { "pkcs8" };
        assert!(serde_json::from_str::<Value>(&file).unwrap()[member].is_string(), "{file}");
        let loaded = SigningKey::from_json(&file).unwrap();
        assert_eq!((loaded.alg(), loaded.kid()), (alg, "dev-1"));
        assert_eq!(loaded.public_jwk(), key.public_jwk());
        let token = loaded.sign_raw(br#"{"alg":"odd"}"#, b"not json").unwrap();
        assert_verifies(&token, &jwks_json(&[&key]), alg);
    }
}

#[test]
fn bad_key_files_are_refused() {
    let p256 = SigningKey::generate(Algorithm::ES256, "k").unwrap().to_json();
    type Expected = fn(&DevError) -> bool;
    let cases: [(String, Expected); 7] = [
        // wrong curve for the algorithm, wrong key type
        (p256.replace("ES256", "ES384"), |e| matches!(e, DevError::KeyRejected { .. })),
        (p256.replace("ES256", "EdDSA"), |e| matches!(e, DevError::KeyRejected { .. })),
        // unsupported algorithm, not JSON
        (p256.replace("ES256", "none"), |e| matches!(e, DevError::KeyFileJson(_))),
        ("not json".to_owned(), |e| matches!(e, DevError::KeyFileJson(_))),
        (p256.replace("pkcs8", "secret"), |e| matches!(e, DevError::KeyFileMember { member: "pkcs8", .. })),
        (r#"{"alg":"HS256","kid":"k","secret":"c2hvcnQ="}"#.to_owned(), |e| {
            matches!(e, DevError::SecretTooShort { min_len: 32, len: 5, .. })
        }),
        (r#"{"alg":"HS256","kid":"k","secret":"!!"}"#.to_owned(), |e| {
            matches!(e, DevError::KeyFileBase64 { member: "secret", .. })
        }),
    ];
    for (case, expected) in cases {
        let error = SigningKey::from_json(&case).expect_err(&case);
        assert!(expected(&error), "{case}: {error}");
        assert!(error.to_string().starts_with("invalid signing key file"), "{error}");
    }
}

#[test]
fn claims_from_mint_arguments() {
    let mut args = MintArgs::new("unused");
    args.sub = Some("alice".into());
    args.aud = vec!["api".into()];
    args.scope = Some("orders:read orders:write".into());
    args.not_before_in = Some(Duration::from_secs(30));
    args.claim =
        ["org.id=7", "org.name=acme", "admin=true", "note=a=b", "roles=[\"x\"]"].map(String::from).to_vec();
    let claims = build_claims(&args, 1_000_000).unwrap();
    assert_eq!(claims["iss"], DEFAULT_ISSUER);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], "api");
    assert_eq!(claims["scope"], "orders:read orders:write");
    assert_eq!((claims["iat"].as_u64(), claims["exp"].as_u64()), (Some(1_000_000), Some(1_003_600)));
    assert_eq!(claims["nbf"], 1_000_030);
    assert_eq!(claims["org"], json!({"id": 7, "name": "acme"}));
    assert_eq!(
        (&claims["admin"], &claims["note"], &claims["roles"]),
        (&json!(true), &json!("a=b"), &json!(["x"]))
    );
    assert!(claims["jti"].as_str().is_some_and(|jti| jti.len() >= 20));
    assert_ne!(claims["jti"], build_claims(&args, 1_000_000).unwrap()["jti"]);

    args.aud.push("admin".into());
    args.expired = true;
    let claims = build_claims(&args, 1_000_000).unwrap();
    assert_eq!(claims["aud"], json!(["api", "admin"]));
    let (iat, exp) = (claims["iat"].as_u64().unwrap(), claims["exp"].as_u64().unwrap());
    assert!(exp < 1_000_000 - 60 && exp - iat == 3600, "iat {iat} exp {exp}");
}

#[test]
fn malformed_claims_are_refused() {
    for bad in ["novalue", "=1", "a..b=1", "org.=1", "iss.host=x"] {
        let mut args = MintArgs::new("unused");
        args.claim = vec![bad.to_owned()];
        assert!(matches!(build_claims(&args, 0), Err(DevError::Claim(..))), "{bad}");
    }
}

#[test]
fn clap_defaults_match_and_values_parse() {
    KeygenCli::command().debug_assert();
    MintCli::command().debug_assert();
    assert_eq!(MintCli::try_parse_from(["mint", "--key", "k.json"]).unwrap().args, MintArgs::new("k.json"));
    let line = "mint --key k --aud a --aud b --ttl 15m --claim x=1 --expired";
    let args = MintCli::try_parse_from(line.split(' ')).unwrap().args;
    assert_eq!((args.aud.len(), args.ttl, args.expired), (2, Duration::from_secs(900), true));
    let keygen = KeygenCli::try_parse_from(["keygen", "--out-dir", "d"]).unwrap().args;
    assert_eq!((keygen.alg, keygen.kid.as_str()), (Algorithm::ES256, "dev-1"));
    assert!(KeygenCli::try_parse_from(["keygen", "--out-dir", "d", "--alg", "none"]).is_err());
    assert!(MintCli::try_parse_from(["mint", "--key", "k", "--ttl", "soon"]).is_err());
}

#[test]
fn keygen_then_mint_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("keys");
    run_keygen(&KeygenArgs { alg: Algorithm::EdDSA, kid: "demo".into(), out_dir: out_dir.clone() }).unwrap();
    let key_path = out_dir.join("signing-key.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(&key_path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let mut args = MintArgs::new(&key_path);
    args.sub = Some("bob".into());
    let token = run_mint(&args).unwrap();
    let jwks = fs::read_to_string(out_dir.join("jwks.json")).unwrap();
    assert_verifies(&token, &jwks, Algorithm::EdDSA);
    assert_eq!(decode_part(&token, 1)["sub"], "bob");
    assert_eq!(decode_part(&token, 0)["kid"], "demo");
    assert!(matches!(run_mint(&MintArgs::new(dir.path().join("missing"))), Err(DevError::Io { .. })));
}
