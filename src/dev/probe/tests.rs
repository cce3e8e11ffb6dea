// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
use super::*;

#[test]
fn headers_are_merged_like_envoy_does() {
    let args = RequestArgs {
        method: "POST".into(),
        path: "/x?y=1".into(),
        host: "h".into(),
        headers: vec!["X-A: 1".into(), "x-a: 2".into()],
        token: Some("t".into()),
        context: vec!["gatehouse_rule=admin".into()],
    };
    let request = build_request(&args).unwrap();
    let http = request.attributes.clone().unwrap().request.unwrap().http.unwrap();
    assert_eq!(http.headers["x-a"], "1,2");
    assert_eq!(http.headers["authorization"], "Bearer t");
    assert_eq!(http.path, "/x?y=1");
    assert_eq!(request.attributes.as_ref().unwrap().context_extensions["gatehouse_rule"], "admin");
    let bad = RequestArgs { headers: vec!["no colon".into()], ..args };
    assert!(build_request(&bad).is_err());
}
