//! Identity headers a client sends itself never reach the upstream.

use super::*;

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
