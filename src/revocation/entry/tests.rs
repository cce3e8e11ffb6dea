// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
use super::*;

const NOW: u64 = 1_700_000_000;

fn request(json: &str) -> RevocationRequest {
    serde_json::from_str(json).unwrap()
}

fn entry(json: &str) -> Result<Revocation, RequestError> {
    request(json).into_entry(NOW, Origin::Admin, |_, issued_before| issued_before + 3600)
}

#[test]
fn each_selector_and_its_default_expiry() {
    let jti = entry(r#"{"issuer":"i","jti":"t1"}"#).unwrap();
    assert_eq!(jti.selector, Selector::Jti { jti: "t1".into() });
    assert_eq!((jti.expires_at, jti.created_at), (NOW + 3600, NOW), "a token issued before now");
    let sub = entry(r#"{"issuer":"i","sub":"alice"}"#).unwrap();
    // Tokens stamped with this very second may predate the request: covered.
    assert_eq!(sub.selector, Selector::Sub { sub: "alice".into(), issued_before: NOW + 1 });
    let older = entry(r#"{"issuer":"i","sub":"alice","issued_before":1699999000}"#).unwrap();
    assert_eq!(older.expires_at, 1_699_999_000 + 3600, "counted from the cut-off");
    let everyone = entry(r#"{"issuer":"i","issued_before":1699999000,"expires_at":1700009999}"#).unwrap();
    assert_eq!(everyone.selector, Selector::Issuer { issued_before: 1_699_999_000 });
    assert_eq!(everyone.expires_at, 1_700_009_999, "given");
    let sid = entry(r#"{"issuer":"i","sid":"s"}"#).unwrap();
    assert_eq!(sid.selector.kind(), "sid");
}

#[test]
fn requests_that_name_no_keepable_revocation_are_refused() {
    for (json, error) in [
        (r#"{"issuer":"i"}"#, RequestError::Selector),
        (r#"{"issuer":"i","jti":"a","sub":"b"}"#, RequestError::Selector),
        (r#"{"issuer":"i","jti":"a","issued_before":1}"#, RequestError::IssuedBefore),
        (r#"{"issuer":"i","sid":"a","issued_before":1}"#, RequestError::IssuedBefore),
        (r#"{"issuer":"","jti":"a"}"#, RequestError::Length("issuer")),
        (r#"{"issuer":"i","jti":""}"#, RequestError::Length("jti")),
        (r#"{"issuer":"i","sub":"alice","issued_before":1700000100}"#, RequestError::FutureCutoff),
        (r#"{"issuer":"i","jti":"a","expires_at":1700000000}"#, RequestError::Expired),
        (r#"{"issuer":"i","issued_before":1600000000}"#, RequestError::Expired),
    ] {
        assert_eq!(entry(json), Err(error), "{json}");
    }
    let long = format!(r#"{{"issuer":"i","sub":"{}"}}"#, "x".repeat(MAX_VALUE_BYTES + 1));
    assert_eq!(entry(&long), Err(RequestError::Length("sub")));
    assert!(serde_json::from_str::<RevocationRequest>(r#"{"issuer":"i","jti":"a","nonce":1}"#).is_err());
}

#[test]
fn stored_entries_round_trip_as_json() {
    let stored = entry(r#"{"issuer":"i","sub":"alice"}"#).unwrap();
    let json = serde_json::to_string(&stored).unwrap();
    assert!(json.contains(r#""kind":"sub""#) && json.contains(r#""by":"admin""#), "{json}");
    assert_eq!(serde_json::from_str::<Revocation>(&json).unwrap(), stored);
}
