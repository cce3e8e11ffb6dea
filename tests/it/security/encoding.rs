//! One token, one spelling: header extensions gatehouse does not implement,
//! nested and encrypted tokens, duplicate JSON members, non-canonical base64url.

use super::*;

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
