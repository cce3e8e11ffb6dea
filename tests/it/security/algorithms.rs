//! Which algorithm verifies a token is never the token's choice: `alg: none`,
//! public keys used as HMAC secrets, swaps within and across families, and
//! ECDSA signatures that are not what they claim (CVE-2022-21449).

use super::*;

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
