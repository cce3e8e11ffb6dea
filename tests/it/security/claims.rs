//! The claims: wrong types, time boundaries and extreme dates, and tokens of
//! another provider on pinned routes.

use super::*;

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
