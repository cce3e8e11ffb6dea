// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
use axum::http::Request;

use super::*;

fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
    let mut builder = Request::builder().method("POST").uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(()).unwrap().into_parts().0
}

#[test]
fn each_front_door_has_its_fixed_path() {
    assert_eq!(door_of("/v1/check/nginx"), Some(FrontDoor::Nginx));
    assert_eq!(door_of("/v1/check/traefik"), Some(FrontDoor::Traefik));
    assert_eq!(door_of("/v1/check/envoy/api/x"), Some(FrontDoor::EnvoyHttp));
    assert_eq!(door_of("/v1/check/envoy"), Some(FrontDoor::EnvoyHttp));
    for other in ["/", "/v1/check/envoyx/a", "/v1/check/nginx/", "/v1/check/traefik/x", "/V1/check/nginx"] {
        assert_eq!(door_of(other), None, "{other}");
    }
}

#[test]
fn envoy_reads_method_path_and_host_from_the_request_itself() {
    let parts =
        parts("/v1/check/envoy/api/orders?page=2", &[("host", "shop.test"), ("x-original-uri", "/public")]);
    let original = original_request(FrontDoor::EnvoyHttp, &parts).unwrap();
    assert_eq!(original, Original { method: "POST", host: "shop.test", target: "/api/orders?page=2" });
    // Nothing after the prefix is no request target.
    let bare = parts_with_host("/v1/check/envoy");
    assert_eq!(original_request(FrontDoor::EnvoyHttp, &bare), Err(DenyReason::MalformedRequest));
}

fn parts_with_host(uri: &str) -> Parts {
    parts(uri, &[("host", "shop.test")])
}

#[test]
fn nginx_and_traefik_read_their_original_request_headers_only() {
    let nginx =
        [("x-original-method", "GET"), ("x-original-uri", "/admin?x=1"), ("x-original-host", "shop.test")];
    let parts = parts("/v1/check/nginx", &nginx);
    assert_eq!(
        original_request(FrontDoor::Nginx, &parts).unwrap(),
        Original { method: "GET", host: "shop.test", target: "/admin?x=1" }
    );
    let traefik = [
        ("x-forwarded-method", "DELETE"),
        ("x-forwarded-uri", "/orders/7"),
        ("x-forwarded-host", "shop.test:8443"),
        ("x-forwarded-proto", "https"),
    ];
    let parts = self::parts("/v1/check/traefik", &traefik);
    let original = original_request(FrontDoor::Traefik, &parts).unwrap();
    assert_eq!(original, Original { method: "DELETE", host: "shop.test:8443", target: "/orders/7" });
    // The decision sees the client's headers, not the door's own.
    let request = to_http_request(FrontDoor::Traefik, &parts, original);
    assert!(request.headers.is_empty(), "{:?}", request.headers);
}

#[test]
fn a_missing_repeated_or_malformed_original_header_is_a_400() {
    let good = [("x-original-method", "GET"), ("x-original-uri", "/a"), ("x-original-host", "shop.test")];
    for (name, bad) in [
        ("x-original-method", None),
        ("x-original-method", Some("G ET")),
        ("x-original-method", Some("")),
        ("x-original-uri", None),
        ("x-original-uri", Some("a/b")),
        ("x-original-uri", Some("http://evil.test/a")),
        ("x-original-uri", Some("/a b")),
        ("x-original-host", None),
        ("x-original-host", Some("shop.test/admin")),
    ] {
        let mut headers: Vec<(&str, &str)> = good.iter().filter(|(n, _)| *n != name).copied().collect();
        if let Some(bad) = bad {
            headers.push((name, bad));
        }
        let parts = parts("/v1/check/nginx", &headers);
        assert_eq!(
            original_request(FrontDoor::Nginx, &parts),
            Err(DenyReason::MalformedRequest),
            "{name}: {bad:?}"
        );
    }
    let mut twice = good.to_vec();
    twice.push(("x-original-uri", "/b"));
    assert_eq!(
        original_request(FrontDoor::Nginx, &parts("/v1/check/nginx", &twice)),
        Err(DenyReason::MalformedRequest)
    );
    let traefik = [
        ("x-forwarded-method", "GET"),
        ("x-forwarded-uri", "/a"),
        ("x-forwarded-host", "h"),
        ("x-forwarded-proto", "gopher"),
    ];
    assert_eq!(
        original_request(FrontDoor::Traefik, &parts("/v1/check/traefik", &traefik)),
        Err(DenyReason::MalformedRequest)
    );
}

fn deny(reason: DenyReason) -> Decision {
    Decision::deny(reason)
}

#[test]
fn nginx_gets_401_or_403_with_the_real_status_and_body_beside() {
    for (reason, sent, real) in [
        (DenyReason::MissingToken, 401, "401"),
        (DenyReason::NoMatchingRule, 403, "403"),
        (DenyReason::MalformedRequest, 403, "400"),
        (DenyReason::KeysUnavailable, 403, "503"),
    ] {
        let response = answer(FrontDoor::Nginx, &deny(reason));
        assert_eq!(response.status().as_u16(), sent, "{reason:?}");
        assert_eq!(response.headers()[NGINX_STATUS], real);
        assert_eq!(response.headers()[NGINX_BODY].to_str().unwrap(), reason.body());
        let direct = answer(FrontDoor::Traefik, &deny(reason));
        assert_eq!(direct.status().as_u16(), reason.http_status(), "other doors answer the status itself");
        assert!(direct.headers().get(NGINX_STATUS).is_none());
    }
    let challenge = answer(FrontDoor::EnvoyHttp, &deny(DenyReason::MissingToken));
    assert!(challenge.headers()[header::WWW_AUTHENTICATE].to_str().unwrap().starts_with("Bearer realm="));
}
