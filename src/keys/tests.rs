// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
use super::*;

#[test]
fn each_skipped_key_is_logged_once() {
    let log = SkipLog::default();
    let doc = br#"{"keys":[{"kid":"a","kty":"RSA","use":"enc"},{"kid":"b","kty":"foo"}]}"#;
    let skipped = parse_jwks(doc, &[Algorithm::RS256], 10).unwrap().skipped;
    assert_eq!(log.log("corp", &skipped), 2);
    assert_eq!(log.log("corp", &skipped), 0, "a refresh with the same keys logs nothing");
    let other = parse_jwks(br#"{"keys":[{"kid":"c","kty":"foo"}]}"#, &[Algorithm::RS256], 10).unwrap();
    assert_eq!(log.log("corp", &other.skipped), 1);
}
