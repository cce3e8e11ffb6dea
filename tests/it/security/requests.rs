//! The request around the token: two credentials, sizes past the limits,
//! and header tricks (duplicates, scheme spellings, odd bytes, header floods).

use super::*;

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
    let result = f.gatehouse.checker.client.check(check).await;
    let response = match result {
        Ok(response) => response.into_inner(),
        Err(status) => panic!("a 5 MiB CheckRequest must be a deny, not an RPC error: {status:?}"),
    };
    assert_decided(&response, &[(400, "headers_too_large")], false, "5 MiB of headers");
    f.assert_still_serving().await;
}
