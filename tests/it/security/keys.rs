//! Keys come only from the provider's key set: hostile `kid` values, and
//! keys a token embeds (`jwk`, `x5c`) or points at (`jku`, `x5u`).

use super::*;

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
